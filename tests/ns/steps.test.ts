// The runbook's six step scripts, one at a time, on a lab of their own (root only): for each
// step its effect on the node (links, files, keys, routes, rules, packets), its --dry-run
// (prints runnable shell, changes nothing), its idempotency (a second run says "nothing to
// do" and applies no change: FLANNEL_RUNBOOK_TRACE stays empty), and its bad inputs (exit 2
// with one line, the node's files, routes, rules and etcd keys exactly as before).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, runStep, writeClusterFile, type StepName } from '../../lab/runbook-steps.ts';
import { whoami } from '../../lab/verify.ts';
import { nodeState, etcdKeys } from './node-state.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

let lab: Lab;
let cluster: string;
let scratch: string;
let h21: LabNode;
let h22: LabNode;

/** Run a step with a fresh trace file; returns its result and the changes it applied. */
/** The lab's release tarball copied onto the node (under its root); its path as the node names it. */
function nodeTarball(node: LabNode): string {
  const path = '/tmp/flannel-v0.11.0-linux-amd64.tar.gz';
  mkdirSync(join(node.root, 'tmp'), { recursive: true });
  cpSync(lab.tarball.path, join(node.root, path));
  return path;
}

async function step(node: LabNode, name: StepName, args: string[]) {
  const trace = join(scratch, `trace-${Math.random().toString(16).slice(2)}`);
  const r = await runStep(lab, node, name, args, { env: { ...process.env, FLANNEL_RUNBOOK_TRACE: trace } });
  const changes = existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { ...r, changes };
}

/** Bad input: exit 2, one line on stderr naming the problem, and the node exactly as before. */
async function refuses(node: LabNode, name: StepName, args: string[], says: RegExp) {
  const before = await nodeState(lab, node);
  const r = await step(node, name, args);
  assert.equal(r.status, 2, `${name} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
  assert.match(lines[0]!, says);
  assert.deepEqual(r.changes, []);
  assert.deepEqual(await nodeState(lab, node), before, `${name} changed the node on bad input`);
}

/** --dry-run: exit 0, a `set -e` script on stdout, nothing applied, node unchanged. */
async function dryRun(node: LabNode, name: StepName, args: string[], prints: RegExp) {
  const before = await nodeState(lab, node);
  const r = await step(node, name, [...args, '--dry-run']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^set -e\n# /);
  assert.match(r.stdout, prints);
  assert.deepEqual(r.changes, []);
  assert.deepEqual(await nodeState(lab, node), before);
  return r.stdout;
}

/** A second run: exit 0, says nothing to do, applies nothing. */
async function idempotent(node: LabNode, name: StepName, args: string[]) {
  const before = await nodeState(lab, node);
  const r = await step(node, name, args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /nothing to do/);
  assert.deepEqual(r.changes, []);
  assert.deepEqual(await nodeState(lab, node), before);
}

describe('runbook steps', { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    cluster = writeClusterFile(lab);
    scratch = mkdtempSync(join(tmpdir(), `${lab.prefix}-steps-`));
    [h21, h22] = lab.nodes as [LabNode, LabNode];
  });
  after(async () => {
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  const args = (n: LabNode) => nodeArgs(cluster, n);

  describe('install', () => {
    test('--dry-run prints the download, checksum, unpack and link switch, and changes nothing', async () => {
      await dryRun(
        h21,
        'install',
        [...args(h21), '--url', lab.tarball.url, '--sha256', lab.tarball.sha256],
        /curl -fsSL[\s\S]*sha256sum -c[\s\S]*tar -xzf[\s\S]*mv -T \S+flannel\.new \S+\/opt\/flannel\n/,
      );
    });

    test('bad input exits 2 with one line and changes nothing', async () => {
      const a = args(h21);
      // a local --tarball is a path on the node: under its --root
      const garbage = '/tmp/garbage.tar.gz';
      mkdirSync(join(h21.root, 'tmp'), { recursive: true });
      writeFileSync(join(h21.root, garbage), 'not a tarball');
      const release = nodeTarball(h21);
      await refuses(
        h21,
        'install',
        [...a, '--version', '0.11.0'],
        /--version "0\.11\.0": must be a flannel release tag/,
      );
      await refuses(
        h21,
        'install',
        [...a, '--url', 'ftp://10.4.7.200/x.tar.gz'],
        /--url .*: must be an http\(s\) or file URL/,
      );
      await refuses(h21, 'install', [...a, '--tarball', '/nonexistent.tar.gz'], /--tarball .*: no such file/);
      await refuses(h21, 'install', [...a, '--tarball', garbage], /--tarball .*: is not a readable \.tar\.gz/);
      await refuses(
        h21,
        'install',
        [...a, '--tarball', release, '--sha256', 'f'.repeat(64)],
        /its sha256 is [0-9a-f]{64}, not f{64}/,
      );
      await refuses(
        h21,
        'install',
        [...a, '--tarball', release, '--url', lab.tarball.url],
        /--url and --tarball: give one of them/,
      );
      await refuses(h21, 'install', [...a, '--sha256', 'abc'], /--sha256 "abc": must be 64 hex digits/);
      rmSync(join(h21.root, garbage));
      rmSync(join(h21.root, release));
      await refuses(h21, 'install', [...a, '--bogus'], /unknown flag --bogus/);
    });

    test('downloads from hdss7-200, verifies and records the sha256, and links /opt/flannel atomically', async () => {
      for (const n of [h21, h22]) {
        const r = await step(n, 'install', [...args(n), '--url', lab.tarball.url, '--sha256', lab.tarball.sha256]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(readlinkSync(join(n.root, 'opt/flannel')), 'flannel-v0.11.0');
        assert.ok(statSync(join(n.root, 'opt/flannel-v0.11.0/flanneld')).mode & 0o100);
        assert.ok(statSync(join(n.root, 'opt/flannel-v0.11.0/cert')).isDirectory());
        assert.equal(readFileSync(join(n.root, 'opt/flannel-v0.11.0/.sha256'), 'utf8').trim(), lab.tarball.sha256);
        assert.ok(r.changes.length > 0);
      }
    });

    test('a second run changes nothing and says so', async () => {
      await idempotent(h21, 'install', [...args(h21), '--url', lab.tarball.url, '--sha256', lab.tarball.sha256]);
    });

    test('a corrupt download leaves the current install untouched', async () => {
      const before = await nodeState(lab, h21);
      const r = await step(h21, 'install', [
        ...args(h21),
        '--version',
        'v0.12.0',
        '--url',
        `${lab.tarball.url}.missing`,
      ]);
      assert.equal(r.status, 3, r.stderr);
      assert.deepEqual(await nodeState(lab, h21), before);
    });

    test('an upgrade keeps the previous release, and --rollback switches back', async () => {
      const r = await step(h21, 'install', [...args(h21), '--version', 'v0.12.0', '--tarball', nodeTarball(h21)]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readlinkSync(join(h21.root, 'opt/flannel')), 'flannel-v0.12.0');
      assert.equal(readlinkSync(join(h21.root, 'opt/flannel.previous')), 'flannel-v0.11.0');
      const back = await step(h21, 'install', [...args(h21), '--rollback']);
      assert.equal(back.status, 0, back.stderr);
      assert.equal(readlinkSync(join(h21.root, 'opt/flannel')), 'flannel-v0.11.0');
      rmSync(join(h21.root, 'opt/flannel-v0.12.0'), { recursive: true });
      rmSync(join(h21.root, 'opt/flannel.previous'));
    });
  });

  describe('certs', () => {
    const from = () => [
      '--from',
      `root@hdss7-200:/opt/certs`,
      '--identity',
      lab.certHost.identity,
      '--known-hosts',
      lab.certHost.knownHosts,
    ];

    test('--dry-run prints the scp and the installs, and changes nothing', async () => {
      await dryRun(
        h21,
        'certs',
        [...args(h21), ...from()],
        /scp -o BatchMode=yes[\s\S]*chmod 0600 "\$t"\ncat \S+client-key\.pem >"\$t"/,
      );
    });

    test('bad input or a bad certificate set exits 2 and leaves the old files', async () => {
      const a = args(h21);
      // --from DIR is a directory on the node: under its --root
      const mismatched = '/tmp/mismatched-certs';
      cpSync(lab.certHost.certsPath, join(h21.root, mismatched), { recursive: true });
      // a valid key, but not the client certificate's
      writeFileSync(
        join(h21.root, mismatched, 'client-key.pem'),
        generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
          .privateKey.export({ type: 'pkcs8', format: 'pem' })
          .toString(),
      );
      await refuses(h21, 'certs', [...a], /--from: required/);
      await refuses(
        h21,
        'certs',
        [...a, '--from', 'hdss7-200:opt/certs'],
        /--from "hdss7-200:opt\/certs": a remote source is USER@HOST:\/ABSOLUTE\/DIR/,
      );
      await refuses(
        h21,
        'certs',
        [...a, '--from', '/nonexistent/certs'],
        /--from "\/nonexistent\/certs": no such directory/,
      );
      await refuses(
        h21,
        'certs',
        [...a, '--from', mismatched],
        /refused; the installed files stay: .*is not the key of/,
      );
      await refuses(
        h21,
        'certs',
        [...a, ...from().slice(0, 2), '--identity', '/nonexistent/key'],
        /--identity "\/nonexistent\/key": no such file/,
      );
      await refuses(
        h21,
        'certs',
        [
          ...a,
          '--from',
          'root@hdss7-200:/opt/nothing-here',
          '--identity',
          lab.certHost.identity,
          '--known-hosts',
          lab.certHost.knownHosts,
        ],
        /could not copy ca\.pem, client\.pem, client-key\.pem/,
      );
      rmSync(join(h21.root, mismatched), { recursive: true });
    });

    test('copies all three files over scp, byte for byte, with the key 0600', async () => {
      for (const n of [h21, h22]) {
        const r = await step(n, 'certs', [...args(n), ...from()]);
        assert.equal(r.status, 0, r.stderr);
        for (const f of ['ca.pem', 'client.pem', 'client-key.pem']) {
          assert.deepEqual(
            readFileSync(join(n.root, 'opt/flannel/cert', f)),
            readFileSync(join(lab.certHost.certsPath, f)),
            f,
          );
        }
        assert.equal(statSync(join(n.root, 'opt/flannel/cert/client-key.pem')).mode & 0o777, 0o600);
        assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
      }
    });

    test('a second run changes nothing and says so', async () => {
      await idempotent(h21, 'certs', [...args(h21), ...from()]);
    });
  });

  describe('etcd-config', () => {
    test('--dry-run prints the compare-and-swap PUT through v2, and changes nothing', async () => {
      await dryRun(
        h21,
        'etcd-config',
        ['--cluster', cluster, '--root', h21.root],
        /for ep in https:\/\/10\.4\.7\.12:2379 \S+ \S+; do\n {2}code=\$\(curl -sS --cacert \S+ca\.pem --cert \S+client\.pem --key \S+client-key\.pem -o \/dev\/null -w '%\{http_code\}' -X PUT --data-urlencode 'value=[^']+' "\$ep"'\/v2\/keys\/coreos\.com\/network\/config\?prevExist=false'\)/,
      );
    });

    test('bad input exits 2 with one line and writes nothing', async () => {
      const a = ['--root', h21.root, '--endpoints', lab.etcd.endpoints.join(',')];
      await refuses(
        h21,
        'etcd-config',
        [...a, '--network', '172.7.0.0/33', '--backend', 'host-gw'],
        /--network "172\.7\.0\.0\/33": prefix must be 0-32/,
      );
      await refuses(
        h21,
        'etcd-config',
        [...a, '--network', '172.7.0.0/16', '--backend', 'foo'],
        /Backend\.Type "foo": unknown backend type/,
      );
      await refuses(
        h21,
        'etcd-config',
        [...a, '--network', '172.7.0.0/16', '--backend', 'host-gw', '--direct-routing'],
        /--direct-routing true: applies to the vxlan backend/,
      );
      await refuses(
        h21,
        'etcd-config',
        [...a, '--network', '172.7.0.0/16', '--backend', 'host-gw', '--subnet-len', '31'],
        /--subnet-len "31": must be an integer 1-30/,
      );
      await refuses(
        h21,
        'etcd-config',
        ['--root', h21.root, '--endpoints', '10.4.7.12:2379', '--network', '172.7.0.0/16', '--backend', 'host-gw'],
        /--endpoints/,
      );
      await refuses(
        h21,
        'etcd-config',
        [...a, '--network', '172.7.0.0/16', '--backend', 'host-gw', '--etcd-api', 'v4'],
        /--etcd-api "v4": must be one of v2, v3, auto/,
      );
      await refuses(h21, 'etcd-config', [...a, '--backend', 'host-gw'], /--network: required/);
      await refuses(h21, 'etcd-config', [...a, '--network', '172.7.0.0/30', '--backend', 'host-gw'], /Network/);
    });

    test("writes the runbook's config through v2 (flannel v0.11 reads only v2), not v3", async () => {
      const r = await step(h21, 'etcd-config', ['--cluster', cluster, '--root', h21.root]);
      assert.equal(r.status, 0, r.stderr);
      const v2 = await lab.etcdctl(['get', '/coreos.com/network/config'], { api: 2 });
      assert.equal(v2.stdout.trim(), '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');
      const v3 = await lab.etcdctl(['get', '/coreos.com/network/config']);
      assert.equal(v3.stdout.trim(), '');
      assert.deepEqual(r.changes.length, 1);
    });

    test('a second run changes nothing and says so', async () => {
      await idempotent(h21, 'etcd-config', ['--cluster', cluster, '--root', h21.root]);
    });

    test('a different config is not replaced without --force (exit 1, says what differs)', async () => {
      const keys = await etcdKeys(lab);
      const r = await step(h21, 'etcd-config', [
        '--cluster',
        cluster,
        '--root',
        h21.root,
        '--network',
        '172.7.0.0/16',
        '--backend',
        'vxlan',
      ]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /Backend\.Type: have host-gw, want vxlan/);
      assert.equal(await etcdKeys(lab), keys);
    });

    test("through v3 (flannel >= v0.18) with the runbook's VxLAN/Directrouting spelling: written as vxlan/DirectRouting, invisible to v2", async () => {
      const a = [
        '--cluster',
        cluster,
        '--root',
        h21.root,
        '--etcd-api',
        'v3',
        '--etcd-prefix',
        '/v3test/network',
        '--network',
        '172.7.0.0/16',
        '--backend',
        'VxLAN',
        '--direct-routing',
        // the lab's flannel is v0.11 (v2): a v3 write is refused without --force
        '--force',
      ];
      const r = await step(h21, 'etcd-config', a);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        (await lab.etcdctl(['get', '--print-value-only', '/v3test/network/config'])).stdout.trim(),
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}',
      );
      assert.equal((await lab.etcdctl(['get', '/v3test/network/config'], { api: 2, okStatus: [4] })).status, 4);
      const again = await step(h21, 'etcd-config', a);
      assert.match(again.stdout, /nothing to do/);
      assert.deepEqual(again.changes, []);
      const dry = await step(h21, 'etcd-config', [...a.slice(0, 8), '--backend', 'host-gw', '--force', '--dry-run']);
      assert.match(
        dry.stdout,
        /etcdctl --endpoints=\S+ --cacert=\S+ca\.pem --cert=\S+client\.pem --key=\S+client-key\.pem txn <<'FLANNEL_RUNBOOK_EOF'\nmod\("\/v3test\/network\/config"\) = "\d+"\n\nput \/v3test\/network\/config /,
      );
    });

    test('--migrate v2-to-v3 copies the v2 config (not the leases) for an upgrade', async () => {
      const r = await step(h21, 'etcd-config', ['--cluster', cluster, '--root', h21.root, '--migrate', 'v2-to-v3']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /copied from the v2 key space/);
      assert.equal(
        (await lab.etcdctl(['get', '--print-value-only', '/coreos.com/network/config'])).stdout.trim(),
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}',
      );
      assert.equal(
        (await lab.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets'])).stdout.trim(),
        '',
      );
      await lab.etcdctl(['del', '/coreos.com/network/config']); // the lab's flannel is v0.11: v2 only
    });

    test('a wrong CA is a clear TLS error naming --cafile within seconds (exit 3)', async () => {
      const t0 = Date.now();
      const r = await step(h21, 'etcd-config', [
        '--cluster',
        cluster,
        '--root',
        h21.root,
        '--cafile',
        '/opt/flannel/cert/client.pem',
      ]);
      assert.equal(r.status, 3);
      assert.match(r.stderr, /TLS: the server's certificate is not trusted by --cafile \S+client\.pem/);
      assert.ok(Date.now() - t0 < 20_000); // not a hang: a 3 s attempt and a start-up under load
    });

    test('etcd unreachable is a clear error within seconds, not a hang', async () => {
      const t0 = Date.now();
      const r = await step(h21, 'etcd-config', [
        '--cluster',
        cluster,
        '--root',
        h21.root,
        '--endpoints',
        'https://10.4.7.99:2379',
      ]);
      assert.equal(r.status, 3);
      assert.match(r.stderr, /etcd https:\/\/10\.4\.7\.99:2379: (unreachable|no answer)/);
      assert.ok(Date.now() - t0 < 20_000); // not a hang: a 3 s attempt and a start-up under load
    });
  });

  describe('start', () => {
    test('--dry-run prints subnet.env, flanneld.sh, the program ini and supervisorctl update, and changes nothing', async () => {
      const out = await dryRun(
        h21,
        'start',
        args(h21),
        /FLANNEL_SUBNET=172\.7\.21\.1\/24[\s\S]*exec \.\/flanneld[\s\S]*\[program:flanneld-7-21\][\s\S]*supervisorctl -c \S+etc\/supervisord\.conf update/,
      );
      assert.match(out, /--etcd-cafile=\.\/cert\/ca\.pem/);
    });

    test('bad input exits 2 with one line and changes nothing', async () => {
      const a = args(h21);
      await refuses(h21, 'start', [...a, '--iface', 'eth9'], /--iface "eth9": no such interface on this host/);
      await refuses(
        h21,
        'start',
        [...a, '--public-ip', '10.4.7.99'],
        /--public-ip "10\.4\.7\.99": is not an address of eth0/,
      );
      await refuses(
        h21,
        'start',
        [...a, '--subnet', '10.9.0.0/24'],
        /--subnet "10\.9\.0\.0\/24": must lie inside the network/,
      );
      await refuses(
        h21,
        'start',
        [...a, '--supervisor-conf', '/etc/nonexistent.conf'],
        /--supervisor-conf .*: no such file/,
      );
      await refuses(h21, 'start', [...a, '--public-ip', '10.4.7'], /--public-ip "10\.4\.7": must be an IPv4 address/);
      await refuses(h21, 'start', [...a, '--startsecs', 'soon'], /--startsecs "soon": must be an integer/);
    });

    test('starts flanneld under supervisord on both nodes and waits until RUNNING (startsecs=30), leased and subnet.env right', async () => {
      const [a, b] = await Promise.all([step(h21, 'start', args(h21)), step(h22, 'start', args(h22))]);
      for (const [n, r] of [
        [h21, a],
        [h22, b],
      ] as const) {
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`${n.program} is up after (\\d+)s`));
        const secs = Number(/is up after (\d+)s/.exec(r.stdout)![1]);
        assert.ok(secs >= 29, `RUNNING only after startsecs=30, got ${secs}s`);
        const st = await lab.supervisorctl(n, ['status', n.program], { okStatus: [3] });
        assert.match(st.stdout, /RUNNING/);
        assert.equal(
          readFileSync(join(n.root, 'opt/flannel/subnet.env'), 'utf8'),
          `FLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET=${n.bridgeIp}/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`,
        );
      }
      const leases = JSON.parse(
        (await lab.etcdctl(['get', '/coreos.com/network/subnets/172.7.22.0-24'], { api: 2 })).stdout,
      );
      assert.deepEqual(leases, { PublicIP: '10.4.7.22', BackendType: 'host-gw' });
      const routes = JSON.parse((await lab.exec(h21.netns, ['ip', '-j', 'route', 'show', '172.7.22.0/24'])).stdout);
      assert.deepEqual(
        routes.map((r: { gateway: string; dev: string }) => [r.gateway, r.dev]),
        [['10.4.7.22', 'eth0']],
      );
    });

    test('a second run changes nothing and says so', async () => {
      await idempotent(h21, 'start', args(h21));
    });

    test('refuses a subnet leased to another node (flanneld would take the live lease over)', async () => {
      await refuses(
        h21,
        'start',
        [...args(h21), '--subnet', '172.7.22.0/24'],
        /--subnet "172\.7\.22\.0\/24": is leased to 10\.4\.7\.22/,
      );
    });
  });

  describe('snat-fix', () => {
    test('--dry-run prints one iptables-restore transaction, insert before delete, and changes nothing', async () => {
      await dryRun(
        h21,
        'snat-fix',
        [...args(h21), '--drop-reject'],
        /iptables-restore --noflush <<'FLANNEL_RUNBOOK_EOF'\n\*nat\n-I POSTROUTING 1 -s 172\.7\.21\.0\/24 ! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE\n-D POSTROUTING -s 172\.7\.21\.0\/24 ! -o docker0 -j MASQUERADE\nCOMMIT\n\*filter\n-D INPUT -j REJECT/,
      );
    });

    test('without --node the node is the one whose public IP is local (hdss7-22 here)', async () => {
      const r = await step(h22, 'snat-fix', ['--cluster', cluster, '--root', h22.root, '--dry-run']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /-I POSTROUTING 1 -s 172\.7\.22\.0\/24 ! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
      const elsewhere = await runStep(lab, lab.certHost, 'snat-fix', [
        '--cluster',
        cluster,
        '--root',
        lab.certHost.root,
        '--dry-run',
      ]);
      assert.equal(elsewhere.status, 2);
      assert.match(
        elsewhere.stderr,
        /--node: not given, and no node's publicIp is an address of this host \(local IPv4: .*10\.4\.7\.200/,
      );
    });

    test('bad input exits 2 with one line and changes nothing', async () => {
      const a = args(h21);
      await refuses(
        h21,
        'snat-fix',
        [...a, '--subnet', '172.7.21.0/33'],
        /--subnet "172\.7\.21\.0\/33": prefix must be 0-32/,
      );
      await refuses(h21, 'snat-fix', [...a, '--network', '172.7.0.0'], /--network "172\.7\.0\.0": must be a CIDR/);
      await refuses(
        h21,
        'snat-fix',
        [...a, '--subnet', '10.1.0.0/24'],
        /--subnet "10\.1\.0\.0\/24": must lie inside the network/,
      );
      await refuses(h21, 'snat-fix', [...a, '--bridge', 'this-name-is-too-long'], /--bridge/);
      await refuses(h21, 'snat-fix', [...a, '--drop-reject=maybe'], /--drop-reject "maybe"/);
      await refuses(
        h21,
        'snat-fix',
        [...a, '--subnet', '172.7.21.5/24'],
        /--subnet "172\.7\.21\.5\/24": host bits are set/,
      );
    });

    test("replaces Docker's rule, drops REJECT only with --drop-reject, persists the rules", async () => {
      for (const n of [h21, h22]) {
        const r = await step(n, 'snat-fix', [...args(n), '--drop-reject']);
        assert.equal(r.status, 0, r.stderr);
        const save = (await lab.exec(n.netns, ['iptables-save'])).stdout;
        assert.match(
          save,
          new RegExp(
            `-A POSTROUTING -s ${n.subnet.replace(/\./g, '\\.').replace('/', '\\/')} ! -d 172\\.7\\.0\\.0\\/16 ! -o docker0 -j MASQUERADE`,
          ),
        );
        assert.doesNotMatch(
          save,
          new RegExp(
            `-A POSTROUTING -s ${n.subnet.replace(/\./g, '\\.').replace('/', '\\/')} ! -o docker0 -j MASQUERADE`,
          ),
        );
        assert.doesNotMatch(save, /REJECT/);
        const persisted = readFileSync(join(n.root, 'etc/sysconfig/iptables'), 'utf8');
        assert.match(persisted, /! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
      }
    });

    test('a second run changes nothing and says so', async () => {
      await idempotent(h21, 'snat-fix', [...args(h21), '--drop-reject']);
    });

    test("pods see each other's own address; the outside sees the node address", async () => {
      assert.equal(await whoami(lab, h21.pod.netns, h22.pod.ip, lab.whoamiPort), h21.pod.ip);
      assert.equal(await whoami(lab, h21.pod.netns, lab.outside.ip, lab.outside.port), h21.ip);
    });
  });

  describe('verify-ping', () => {
    test('routes match the leases and the remote pod answers with ttl=63', async () => {
      // the TTL is ping's: fping (when installed) reports none
      const r = await step(h21, 'verify-ping', [...args(h21), '--targets', h22.pod.ip, '--prober', 'ping', '--json']);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.ok, true);
      assert.deepEqual(
        j.rows.map((x: { target: string; route: string; ttl: number; ok: boolean }) => [
          x.target,
          x.route,
          x.ttl,
          x.ok,
        ]),
        [[h22.pod.ip, '172.7.22.0/24 via 10.4.7.22 dev eth0', 63, true]],
      );
    });

    test("without --targets it pings every other lease's docker0", async () => {
      const r = await step(h22, 'verify-ping', args(h22));
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /172\.7\.21\.1\s+10\.4\.7\.21\s+172\.7\.21\.0\/24 via 10\.4\.7\.21 dev eth0\s+0%/);
    });

    test('a target that does not answer fails its row and the run (exit 1)', async () => {
      const r = await step(h21, 'verify-ping', [
        ...args(h21),
        '--targets',
        `${h22.pod.ip},172.7.22.99`,
        '--count',
        '1',
      ]);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /172\.7\.22\.99 .* FAIL: no reply/);
      assert.match(r.stdout, new RegExp(`${h22.pod.ip.replace(/\./g, '\\.')} .* ok`));
    });

    test('bad input exits 2 with one line and changes nothing', async () => {
      const a = args(h21);
      await refuses(
        h21,
        'verify-ping',
        [...a, '--targets', '172.7.22'],
        /--targets "172\.7\.22": must be an IPv4 address/,
      );
      await refuses(h21, 'verify-ping', [...a, '--count', '0'], /--count "0": must be an integer 1-100/);
      await refuses(h21, 'verify-ping', [...a, '--iface', 'eth9'], /--iface "eth9": no such interface/);
      await refuses(h21, 'verify-ping', [...a, '--concurrency', 'many'], /--concurrency "many"/);
      await refuses(
        h21,
        'verify-ping',
        ['--cluster', cluster, '--root', h21.root, '--node', 'hdss7-99'],
        /--node "hdss7-99": no such node in the cluster file/,
      );
    });
  });
});
