// lib/host/etcd-cache: drift's v3 cache. The pure parts (what a min_mod_revision answer means
// for the cached snapshot, the file's format and why a file is not trusted), the cache on a
// memory host, and against a real etcd (loopback, no TLS): readNetworkState asks only for what
// changed and still sees every added, changed and deleted lease; --publish keeps one lease.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyDelta,
  CACHE_FORMAT,
  EtcdCache,
  formatCache,
  parseCache,
  snapshotOf,
  type V3Snapshot,
} from '../../lib/host/etcd-cache.ts';
import { withV3 } from '../../lib/host/etcd.ts';
import { readNetworkState, type StoreTarget } from '../../lib/host/network-store.ts';
import { publishReport } from '../../lib/host/status-store.ts';
import { MemoryHost } from '../support/memory-host.ts';
import { hasEtcd, startEtcd, stopEtcd, type Etcd } from '../support/etcd.ts';

const P = '/coreos.com/network';
const ID = { endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379'], prefix: P };
const lease = (n: number, ip = `10.4.7.${n}`) => `{"PublicIP":"${ip}","BackendType":"host-gw"}`;
const kv = (n: number, rev: string, ip?: string) => ({
  key: `${P}/subnets/172.7.${n}.0-24`,
  value: lease(n, ip),
  modRevision: rev,
});
const SNAP: V3Snapshot = {
  clusterId: '6955225715196037193',
  revision: '40',
  kvs: [{ key: `${P}/config`, value: '{"Network":"172.7.0.0/16"}', modRevision: '2' }, kv(21, '30'), kv(22, '31')],
};
const answer = (count: number, kvs: V3Snapshot['kvs'], revision = '50', clusterId = SNAP.clusterId) => ({
  clusterId,
  revision,
  count,
  kvs,
});

describe('etcd-cache: what a min_mod_revision answer means', () => {
  test('nothing changed under the prefix (the revision moved elsewhere): unchanged, the cache stays as it is', () => {
    assert.deepEqual(applyDelta(SNAP, answer(3, [])), { kind: 'unchanged' });
  });

  test('a lease changed: the snapshot with that lease replaced, at the new revision', () => {
    const out = applyDelta(SNAP, answer(3, [kv(22, '45', '10.4.7.99')]));
    assert.equal(out.kind, 'delta');
    if (out.kind !== 'delta') return;
    assert.equal(out.changed, 1);
    assert.equal(out.snapshot.revision, '50');
    assert.deepEqual(
      out.snapshot.kvs.map((k) => [k.key.slice(P.length), k.modRevision]),
      [
        ['/config', '2'],
        ['/subnets/172.7.21.0-24', '30'],
        ['/subnets/172.7.22.0-24', '45'],
      ],
    );
    assert.match(out.snapshot.kvs[2]!.value!, /10\.4\.7\.99/);
  });

  test('a lease added: the count grew by exactly the new keys, so nothing was deleted', () => {
    const out = applyDelta(SNAP, answer(4, [kv(23, '46')]));
    assert.equal(out.kind, 'delta');
    assert.equal(out.kind === 'delta' && out.snapshot.kvs.length, 4);
  });

  test('a lease deleted, even with another added in its place (same count): a full read', () => {
    assert.deepEqual(applyDelta(SNAP, answer(2, [])), {
      kind: 'full-read',
      why: '1 key(s) deleted since revision 40',
    });
    assert.equal(applyDelta(SNAP, answer(3, [kv(23, '46')])).kind, 'full-read');
  });

  test('another cluster, a revision that went back, or a count no history explains: a full read', () => {
    assert.match((applyDelta(SNAP, answer(3, [], '50', '1')) as { why: string }).why, /another etcd cluster/);
    assert.match((applyDelta(SNAP, answer(3, [], '39')) as { why: string }).why, /restored from a backup/);
    assert.match((applyDelta(SNAP, answer(9, [])) as { why: string }).why, /more than the cache/);
  });
});

describe('etcd-cache: the file', () => {
  const text = formatCache(ID, { snapshot: SNAP, publishLease: { id: '7587862345934719235', ttl: 600 } });

  test('round trip: what is written is what is read back, for the same etcd and prefix', () => {
    const got = parseCache(text, { ...ID, endpoints: [...ID.endpoints].reverse() });
    assert.deepEqual(got, {
      content: { clusterId: SNAP.clusterId, snapshot: SNAP, publishLease: { id: '7587862345934719235', ttl: 600 } },
    });
    const doc = JSON.parse(text);
    assert.equal(doc.format, CACHE_FORMAT);
    assert.equal(doc.count, 3);
    assert.match(doc.digest, /^sha256:[0-9a-f]{64}$/);
  });

  test('foreign, damaged or edited files are ignored, each with its reason', () => {
    const doc = JSON.parse(text);
    const edited = (f: (d: Record<string, unknown>) => void) => {
      const d = structuredClone(doc);
      f(d);
      return JSON.stringify(d);
    };
    const cases: [string, RegExp][] = [
      [text.slice(0, 100), /not JSON/],
      ['{"leases":[]}', /not a flannel-runbook\/etcd-cache\/1 file/],
      [
        edited((d) => {
          d.prefix = '/other';
        }),
        /another etcd or prefix/,
      ],
      [
        edited((d) => {
          d.endpoints = ['https://10.9.9.9:2379'];
        }),
        /another etcd or prefix/,
      ],
      [
        edited((d) => {
          (d.kvs as string[][])[1]![1] = lease(21, '10.4.7.66');
        }),
        /digest does not match/,
      ],
      [
        edited((d) => {
          d.count = 2;
        }),
        /wrong kind/,
      ],
      [
        edited((d) => {
          (d.kvs as string[][])[1]![0] = '/elsewhere/subnets/x';
        }),
        /wrong kind/,
      ],
    ];
    for (const [t, re] of cases) {
      const got = parseCache(t, ID);
      assert.ok('ignored' in got && re.test(got.ignored), `${t.slice(0, 60)}: ${JSON.stringify(got)}`);
    }
  });
});

describe('etcd-cache: on a host', () => {
  const path = '/var/lib/flannel-runbook/etcd-cache.json';

  test('no file, a link, a file others may write: not used, with the reason', async () => {
    const h = new MemoryHost();
    assert.equal((await EtcdCache.open(h, path, ID)).ignored, 'no cache file yet');
    h.put(path, formatCache(ID, { snapshot: SNAP }), 0o666);
    assert.match((await EtcdCache.open(h, path, ID)).ignored!, /writable by others/);
    h.files.delete(path);
    await h.symlink('/tmp/elsewhere', path);
    assert.match((await EtcdCache.open(h, path, ID)).ignored!, /not a regular file/);
  });

  test('a read is written back 0600, its directory made; an unchanged read writes nothing', async () => {
    const h = new MemoryHost();
    const c = await EtcdCache.open(h, path, ID);
    c.recordRead({ kind: 'full', keys: 3, revision: '40', why: 'no cache file yet' }, SNAP);
    assert.equal(await c.save(h), true);
    assert.equal(h.files.get(path)!.mode, 0o600);
    const again = await EtcdCache.open(h, path, ID);
    assert.deepEqual(again.snapshot, SNAP);
    again.recordRead({ kind: 'unchanged', keys: 3, revision: '50' });
    assert.equal(await again.save(h), false);
  });

  test('--no-cache: the snapshot is not used, the publish lease still is', async () => {
    const h = new MemoryHost().put(
      path,
      formatCache(ID, { snapshot: SNAP, publishLease: { id: '42', ttl: 600 } }),
      0o600,
    );
    const c = await EtcdCache.open(h, path, ID, false);
    assert.equal(c.snapshot, undefined);
    assert.equal(c.ignored, '--no-cache');
    assert.deepEqual(c.cachedPublishLease(), { lease: { id: '42', ttl: 600 }, clusterId: SNAP.clusterId });
  });

  test('a snapshot from another cluster drops the lease granted by the old one', async () => {
    const h = new MemoryHost().put(
      path,
      formatCache(ID, { snapshot: SNAP, publishLease: { id: '42', ttl: 600 } }),
      0o600,
    );
    const c = await EtcdCache.open(h, path, ID);
    c.recordRead(
      { kind: 'full', keys: 0, revision: '5', why: 'another etcd cluster answered' },
      snapshotOf(answer(0, [], '5', '77')),
    );
    assert.equal(c.cachedPublishLease(), undefined);
  });
});

describe('etcd-cache: against etcd', {
  skip: hasEtcd ? false : 'etcd not installed (apt-get install etcd-server)',
}, () => {
  let dir: string;
  let etcd: Etcd;
  let target: (cache?: EtcdCache) => StoreTarget;
  const path = '/var/lib/flannel-runbook/etcd-cache.json';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frb-cache-'));
    etcd = await startEtcd(join(dir, 'etcd'), false);
    target = (cache) => ({ conn: { endpoints: [etcd.url] }, tls: {}, api: 'v3', prefix: P, ...(cache && { cache }) });
    await withV3({ endpoints: [etcd.url] }, {}, async (c) => {
      await c.put(`${P}/config`).value('{"Network":"172.7.0.0/16","Backend":{"Type":"host-gw"}}');
      for (const n of [21, 22, 23]) await c.put(`${P}/subnets/172.7.${n}.0-24`).value(lease(n));
    });
  });
  after(async () => {
    await stopEtcd(etcd);
    rmSync(dir, { recursive: true, force: true });
  });

  const h = new MemoryHost();
  const run = async () => {
    const cache = await EtcdCache.open(h, path, { endpoints: [etcd.url], prefix: P });
    const state = await readNetworkState(target(cache));
    await cache.save(h);
    return { state, read: cache.lastRead!, ips: state.leases.map((l) => l.publicIp.toString()).sort() };
  };
  const put = (n: number, ip: string) =>
    withV3({ endpoints: [etcd.url] }, {}, (c) => c.put(`${P}/subnets/172.7.${n}.0-24`).value(lease(n, ip)).exec());
  const del = (n: number) =>
    withV3({ endpoints: [etcd.url] }, {}, (c) => c.delete().key(`${P}/subnets/172.7.${n}.0-24`).exec());

  test('the first run reads everything; the next, with nothing changed, learns it from the count alone', async () => {
    const first = await run();
    assert.equal(first.read.kind, 'full');
    assert.deepEqual(first.ips, ['10.4.7.21', '10.4.7.22', '10.4.7.23']);
    const second = await run();
    assert.equal(second.read.kind, 'unchanged');
    assert.deepEqual(second.ips, first.ips);
    assert.equal(second.state.config, first.state.config);
    assert.equal(second.state.configVersion, first.state.configVersion);
  });

  test('a lease changed and a lease added are read as the change alone; the state equals a full read', async () => {
    await put(22, '10.4.7.99');
    await put(24, '10.4.7.24');
    const r = await run();
    assert.deepEqual([r.read.kind, r.read.kind === 'delta' && r.read.changed], ['delta', 2]);
    assert.deepEqual(r.ips, ['10.4.7.21', '10.4.7.23', '10.4.7.24', '10.4.7.99']);
    const full = await readNetworkState(target());
    assert.deepEqual(r.state, full);
  });

  test('a lease deleted is seen: the count says so and the run reads everything', async () => {
    await del(23);
    const r = await run();
    assert.equal(r.read.kind, 'full');
    assert.match(r.read.kind === 'full' ? r.read.why : '', /1 key\(s\) deleted/);
    assert.deepEqual(r.ips, ['10.4.7.21', '10.4.7.24', '10.4.7.99']);
  });

  test('--publish: one lease granted, then kept alive run after run; a new one when the TTL changes or it is gone', async () => {
    const cache = await EtcdCache.open(h, path, { endpoints: [etcd.url], prefix: P });
    const report = { node: 'hdss7-21', publicIp: '10.4.7.21', at: '', exit: 0, durationMs: 1, problems: [], checks: 1 };
    const t = target(cache);
    const a = await publishReport(t, '/flannel-runbook/status', report, 600);
    const b = await publishReport(t, '/flannel-runbook/status', report, 600);
    assert.deepEqual([a.lease?.granted, b.lease?.granted, b.lease?.id], [true, false, a.lease?.id]);
    const leases = await withV3({ endpoints: [etcd.url] }, {}, (c) => c.leaseClient.leaseLeases({}));
    assert.equal(leases.leases.length, 1);
    const c = await publishReport(t, '/flannel-runbook/status', report, 300);
    assert.equal(c.lease?.granted, true);
    await withV3({ endpoints: [etcd.url] }, {}, (x) => x.leaseClient.leaseRevoke({ ID: c.lease!.id }));
    const d = await publishReport(t, '/flannel-runbook/status', report, 300);
    assert.equal(d.lease?.granted, true);
    assert.notEqual(d.lease?.id, c.lease?.id);
    await cache.save(h);
    assert.equal(
      (await EtcdCache.open(h, path, { endpoints: [etcd.url], prefix: P })).cachedPublishLease()?.lease.id,
      d.lease?.id,
    );
  });
});
