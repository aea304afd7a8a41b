// drift's etcd cache on a lab (root only), through the cron path (dist/drift.mjs) against the
// lab's 3-member TLS etcd: a lease added, changed or removed since the last run is seen on the
// next run, in v3 (asked as "what changed since") and v2 (always read whole); the cache holds
// the leases and never the TLS key or certificates; a damaged or foreign cache file is ignored
// and rewritten; --no-cache reads everything; --publish keeps one v3 lease run after run.
// The leases live under their own prefix (/cachetest/network, both key spaces), so the lab's
// flanneld never sees them.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, runbookWithScripts, writeClusterFile } from '../../lab/runbook-steps.ts';
import { formatCache } from '../../lib/host/etcd-cache.ts';

process.env.SHLVL ??= '1';
const DIST = fileURLToPath(new URL('../../dist/drift.mjs', import.meta.url));
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;
const PREFIX = '/cachetest/network';
const CONFIG = '{"Network":"172.7.0.0/16","Backend":{"Type":"host-gw"}}';
const leaseValue = (ip: string) => `{"PublicIP":"${ip}","BackendType":"host-gw"}`;

interface DriftJson {
  exit: number;
  checks: { id: string; status: string; reason: string }[];
  etcdRead: { kind: string; keys?: number; changed?: number; revision?: string; why?: string };
}

let lab: Lab;
let cluster: string;
let h21: LabNode;
let cachePath: string;

async function drift(api: 'v2' | 'v3', extra: string[] = []): Promise<DriftJson> {
  const r = await lab.exec(
    h21.netns,
    ['node', DIST, ...nodeArgs(cluster, h21), '--etcd-api', api, '--etcd-prefix', PREFIX, '--json', ...extra],
    { okStatus: [1, 3], timeoutMs: 60_000 },
  );
  try {
    return JSON.parse(r.stdout) as DriftJson;
  } catch {
    throw new Error(`drift (${api}) exit ${r.status}: ${r.stderr}`);
  }
}
const reason = (j: DriftJson, id: string) => j.checks.find((c) => c.id === id)?.reason ?? '';
/** what etcd.reachable says: `etcd answered (v3 API, 3 leases)` */
const leaseCount = (j: DriftJson) => Number(/(\d+) leases\)/.exec(reason(j, 'etcd.reachable'))?.[1]);

const v3 = {
  put: (key: string, value: string) => lab.etcdctl(['put', `${PREFIX}/${key}`, value]),
  del: (key: string) => lab.etcdctl(['del', `${PREFIX}/${key}`]),
};
const v2 = {
  put: (key: string, value: string) => lab.etcdctl(['set', `${PREFIX}/${key}`, value], { api: 2 }),
  del: (key: string) => lab.etcdctl(['rm', `${PREFIX}/${key}`], { api: 2 }),
};

describe('drift: the etcd cache', { skip: notRoot }, () => {
  before(async () => {
    // the cron path is the bundle, v3 stack included: build it from these very sources
    execFileSync('npm', ['run', '--silent', 'build'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: 'ignore',
    });
    lab = await createLab({});
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab);
    h21 = lab.nodes[0]!;
    cachePath = join(h21.root, 'var/lib/flannel-runbook/etcd-cache.json');
    // the lab's two nodes as leases (their routes are in place), in both key spaces
    for (const api of [v2, v3]) {
      await api.put('config', CONFIG);
      for (const n of lab.nodes) await api.put(`subnets/${n.subnet.replace('/', '-')}`, leaseValue(n.ip));
    }
  });
  after(async () => {
    await lab?.destroy();
  });

  test('v3: the first run reads everything and writes the cache (0600, no key material); the next asks only what changed', async () => {
    const first = await drift('v3');
    assert.deepEqual([first.etcdRead.kind, first.etcdRead.keys, first.etcdRead.why], ['full', 3, 'no cache file yet']);
    assert.equal(leaseCount(first), 2);
    assert.equal(statSync(cachePath).mode & 0o777, 0o600);
    const text = readFileSync(cachePath, 'utf8');
    assert.match(text, /"PublicIP\\":\\"10\.4\.7\.22\\"/);
    // nothing of the TLS files drift read: not the key, not the certificates
    const certDir = join(h21.root, 'opt/flannel/cert');
    for (const f of ['client-key.pem', 'client.pem', 'ca.pem']) {
      const pemLines = readFileSync(join(certDir, f), 'utf8')
        .split('\n')
        .filter((l) => l.length > 40 && !l.startsWith('-----'));
      assert.ok(pemLines.length > 0, f);
      for (const l of pemLines) assert.ok(!text.includes(l), `the cache holds a line of ${f}`);
    }
    assert.doesNotMatch(text, /PRIVATE KEY|CERTIFICATE|client-key/);
    const second = await drift('v3');
    assert.equal(second.etcdRead.kind, 'unchanged');
    assert.equal(leaseCount(second), 2);
    assert.equal(second.exit, first.exit);
    // the same verdicts; the same words where etcd's answer is the input (flanneld's uptime moves on)
    const said = (j: DriftJson) =>
      j.checks.map((c) => [c.id, c.status, /^(etcd|lease|routes)\./.test(c.id) ? c.reason : '']);
    assert.deepEqual(said(second), said(first));
  });

  test('v3: a lease added, then changed, then removed: each seen on the next run', async () => {
    await v3.put('subnets/172.7.99.0-24', leaseValue('10.4.7.99'));
    const added = await drift('v3');
    assert.deepEqual([added.etcdRead.kind, added.etcdRead.changed, leaseCount(added)], ['delta', 1, 3]);
    assert.match(reason(added, 'routes.peers'), /172\.7\.99\.0\/24 via 10\.4\.7\.99 dev eth0: no route for lease/);

    await v3.put('subnets/172.7.99.0-24', leaseValue('10.4.7.98'));
    const changed = await drift('v3');
    assert.deepEqual([changed.etcdRead.kind, leaseCount(changed)], ['delta', 3]);
    assert.match(reason(changed, 'routes.peers'), /172\.7\.99\.0\/24 via 10\.4\.7\.98/);
    assert.doesNotMatch(reason(changed, 'routes.peers'), /10\.4\.7\.99/);

    await v3.del('subnets/172.7.99.0-24');
    const removed = await drift('v3');
    assert.equal(removed.etcdRead.kind, 'full');
    assert.match(removed.etcdRead.why ?? '', /1 key\(s\) deleted/);
    assert.equal(leaseCount(removed), 2);
    assert.doesNotMatch(reason(removed, 'routes.peers'), /172\.7\.99/);
  });

  test('v2: a lease added, changed and removed is seen on the next run (v2 has no conditional read: always whole)', async () => {
    const base = await drift('v2');
    assert.deepEqual([base.etcdRead.kind, leaseCount(base)], ['full', 2]);
    assert.match(base.etcdRead.why ?? '', /v2 has no conditional read/);
    await v2.put('subnets/172.7.99.0-24', leaseValue('10.4.7.99'));
    const added = await drift('v2');
    assert.equal(leaseCount(added), 3);
    assert.match(reason(added, 'routes.peers'), /172\.7\.99\.0\/24 via 10\.4\.7\.99/);
    await v2.put('subnets/172.7.99.0-24', leaseValue('10.4.7.98'));
    assert.match(reason(await drift('v2'), 'routes.peers'), /172\.7\.99\.0\/24 via 10\.4\.7\.98/);
    await v2.del('subnets/172.7.99.0-24');
    const removed = await drift('v2');
    assert.equal(leaseCount(removed), 2);
    assert.doesNotMatch(reason(removed, 'routes.peers'), /172\.7\.99/);
  });

  test('a damaged, a foreign and a hand-edited cache file are ignored and rewritten, never believed', async () => {
    await drift('v3');
    const good = readFileSync(cachePath, 'utf8');
    const doc = JSON.parse(good);
    // a lease that is not in etcd, put in by hand (the digest no longer matches)
    doc.kvs.push([`${PREFIX}/subnets/172.7.77.0-24`, leaseValue('10.4.7.77'), doc.revision]);
    doc.count += 1;
    const cases: [string, RegExp][] = [
      [good.slice(0, good.length / 2), /not JSON/],
      ['{"someone":"else"}\n', /not a flannel-runbook\/etcd-cache\/1 file/],
      [
        formatCache(
          { endpoints: ['https://10.9.9.9:2379'], prefix: PREFIX },
          { snapshot: { clusterId: '1', revision: '1', kvs: [] } },
        ),
        /another etcd or prefix/,
      ],
      [JSON.stringify(doc), /digest does not match/],
    ];
    for (const [text, why] of cases) {
      writeFileSync(cachePath, text, { mode: 0o600 });
      const j = await drift('v3');
      assert.equal(j.etcdRead.kind, 'full', text.slice(0, 60));
      assert.match(j.etcdRead.why ?? '', why);
      assert.equal(leaseCount(j), 2);
      assert.doesNotMatch(reason(j, 'routes.peers'), /172\.7\.77/);
      // rewritten: the next run trusts it again
      assert.equal((await drift('v3')).etcdRead.kind, 'unchanged');
    }
  });

  test('--no-cache reads everything even when the cache is good', async () => {
    assert.equal((await drift('v3')).etcdRead.kind, 'unchanged');
    const j = await drift('v3', ['--no-cache']);
    assert.deepEqual([j.etcdRead.kind, j.etcdRead.why], ['full', '--no-cache']);
  });

  test('--publish (v3): the first run grants one lease, the next ones keep it alive: no new lease, one report key', async () => {
    const leases = async () =>
      (await lab.etcdctl(['lease', 'list'])).stdout
        .split('\n')
        .slice(1)
        .filter((l) => l.trim() !== '');
    const before = await leases();
    for (let i = 0; i < 3; i++) await drift('v3', ['--publish']);
    const after = await leases();
    const added = after.filter((l) => !before.includes(l));
    assert.equal(added.length, 1, `leases granted by 3 runs: ${added.join(', ')}`);
    // etcdctl's JSON has the lease ID as a number above 2^53: read it as text
    const status = (await lab.etcdctl(['get', '--prefix', '/flannel-runbook/status/', '-w', 'json'])).stdout;
    assert.equal(status.match(/"key":/g)?.length, 1, status);
    assert.match(status, /"version":3\b/);
    assert.equal(BigInt(/"lease":(\d+)/.exec(status)![1]!).toString(16), added[0]);
  });
});
