// The bundled v3 client stack (build/bundle.ts, build/grpc-lean.ts, build/stack-load.ts): the
// lean package definition gives etcd3 what @grpc/proto-loader gives it, method by method and
// byte for byte; the bundle built from these sources needs no .proto beside it, loads with and
// then from its V8 code cache, and talks to a real etcd (loopback) with lease IDs above 2^53
// intact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { buildStack, STACK_BUNDLE } from '../../build/bundle.ts';
import { etcd3ProtoFile, etcd3ProtoJson } from '../../build/etcd3-proto.ts';
import { camelCase, leanPackageDefinition, type LeanMethod } from '../../build/grpc-lean.ts';
import { loadStack } from '../../build/stack-load.ts';
import { hasEtcd, startEtcd, stopEtcd, type Etcd } from '../support/etcd.ts';

// etcd3's options (node_modules/etcd3/lib/connection-pool.js)
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const BIG_ID = '7587862345934719235'; // a real lease ID: more than 2^53

type Definition = Record<string, Record<string, LeanMethod>>;

/** loadStack in a fresh node: in this one, V8's in-process compile cache would answer instead of the file. */
function loadInAnotherNode(file: string): { fromCache: boolean; etcd3: string } {
  const code = `import { loadStack } from ${JSON.stringify(new URL('../../build/stack-load.ts', import.meta.url).href)};
const s = loadStack(process.argv[1]);
console.log(JSON.stringify({ fromCache: s.fromCache, etcd3: typeof s.exports.Etcd3 }));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, file], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

describe('etcd3 stack: the lean package definition', () => {
  const lean = leanPackageDefinition(etcd3ProtoJson() as never, OPTIONS) as Definition;
  const full = loadSync(etcd3ProtoFile(), OPTIONS) as unknown as Record<string, unknown>;
  const services = Object.keys(full).filter((k) => !('format' in (full[k] as object)));
  const method = (def: Record<string, unknown>, svc: string, m: string) => (def[svc] as Record<string, LeanMethod>)[m]!;

  test('the same services, methods, paths, stream flags and camelCase aliases as proto-loader', () => {
    assert.deepEqual(Object.keys(lean).sort(), services.sort());
    assert.ok(services.includes('etcdserverpb.KV') && services.includes('etcdserverpb.Lease'));
    for (const svc of services) {
      const names = Object.keys(full[svc] as object).sort();
      assert.deepEqual(Object.keys(lean[svc]!).sort(), names, svc);
      for (const m of names) {
        const a = method(lean, svc, m);
        const b = method(full, svc, m);
        assert.deepEqual(
          [a.path, a.requestStream, a.responseStream, a.originalName],
          [b.path, b.requestStream, b.responseStream, b.originalName],
          `${svc}.${m}`,
        );
      }
    }
  });

  test('camelCase is lodash.camelCase on method names (HashKV -> hashKv)', () => {
    assert.deepEqual(['Range', 'HashKV', 'LeaseTimeToLive', 'MoveLeader'].map(camelCase), [
      'range',
      'hashKv',
      'leaseTimeToLive',
      'moveLeader',
    ]);
  });

  const cases: [string, string, object, object][] = [
    [
      'etcdserverpb.KV',
      'Range',
      {
        key: Buffer.from('/coreos.com/network/'),
        range_end: Buffer.from('/coreos.com/network0'),
        min_mod_revision: '42',
        count_only: false,
      },
      {
        header: { cluster_id: '6955225715196037193', member_id: '2477715953590790293', revision: '43', raft_term: '2' },
        kvs: [
          {
            key: Buffer.from('/coreos.com/network/subnets/172.7.21.0-24'),
            value: Buffer.from('{"PublicIP":"10.4.7.21","BackendType":"host-gw"}'),
            create_revision: '9',
            mod_revision: '43',
            version: '3',
            lease: BIG_ID,
          },
        ],
        more: false,
        count: '5002',
      },
    ],
    ['etcdserverpb.Lease', 'LeaseGrant', { TTL: '600', ID: '0' }, { ID: BIG_ID, TTL: '600', error: '' }],
    ['etcdserverpb.Lease', 'LeaseKeepAlive', { ID: BIG_ID }, { ID: BIG_ID, TTL: '599' }],
    [
      'etcdserverpb.KV',
      'Txn',
      {
        compare: [{ key: Buffer.from('/k'), result: 'EQUAL', target: 'MOD', mod_revision: '7' }],
        success: [{ request_put: { key: Buffer.from('/k'), value: Buffer.from('v'), lease: BIG_ID } }],
        failure: [{ request_range: { key: Buffer.from('/k') } }],
      },
      { succeeded: true, responses: [{ response_put: { header: { revision: '8' } } }] },
    ],
  ];
  for (const [svc, m, request, response] of cases) {
    test(`${svc}.${m}: requests serialize to the same bytes, responses read back the same (int64 as exact strings)`, () => {
      const a = method(lean, svc, m);
      const b = method(full, svc, m);
      assert.deepEqual(Buffer.from(a.requestSerialize(request)), Buffer.from(b.requestSerialize(request)));
      const bytes = b.responseSerialize(response);
      assert.deepEqual(a.responseDeserialize(bytes), b.responseDeserialize(bytes));
      assert.deepEqual(
        a.requestDeserialize(b.requestSerialize(request)),
        b.requestDeserialize(b.requestSerialize(request)),
      );
    });
  }
  test('a lease ID above 2^53 survives a round trip exactly', () => {
    const a = method(lean, 'etcdserverpb.Lease', 'LeaseGrant');
    assert.equal((a.responseDeserialize(a.responseSerialize({ ID: BIG_ID, TTL: '600' })) as { ID: string }).ID, BIG_ID);
  });
});

describe('etcd3 stack: the bundle', {
  skip: hasEtcd ? false : 'etcd not installed (apt-get install etcd-server)',
}, () => {
  let dir: string;
  let etcd: Etcd;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frb-stack-'));
    await buildStack(dir);
    etcd = await startEtcd(join(dir, 'etcd'), false);
  });
  after(async () => {
    await stopEtcd(etcd);
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads no .proto and loads no proto-loader: etcd protocol is inside', () => {
    const text = readFileSync(join(dir, STACK_BUNDLE), 'utf8');
    assert.doesNotMatch(text, /rpc\.proto`/);
    assert.match(text, /etcdserverpb/);
  });

  test('talks to etcd: put, range with min_mod_revision, a lease granted and looked up by its exact ID', async () => {
    const stack = loadStack(join(dir, STACK_BUNDLE));
    assert.equal(stack.fromCache, false);
    const { Etcd3, noop } = stack.exports;
    const c = new Etcd3({
      hosts: [etcd.url.replace('http://', '')],
      faultHandling: { host: () => noop, global: noop },
    });
    try {
      const put = await c.put('/stack/a').value('1').exec();
      await c.put('/stack/b').value('2');
      const since = await c
        .getAll()
        .prefix('/stack/')
        .minModRevision(Number(put.header.revision) + 1)
        .exec();
      assert.deepEqual([since.count, since.kvs.map((k) => k.key.toString())], ['2', ['/stack/b']]);
      const grant = await c.leaseClient.leaseGrant({ TTL: 60 });
      const ttl = await c.leaseClient.leaseTimeToLive({ ID: grant.ID });
      assert.equal(ttl.ID, grant.ID);
      assert.ok(Number(ttl.TTL) > 0, `TTL ${ttl.TTL}`);
    } finally {
      c.close();
    }
    // the code cache, written after the first call, is taken by the next run
    assert.equal(stack.saveCodeCache(), true);
    assert.deepEqual(loadInAnotherNode(join(dir, STACK_BUNDLE)), { fromCache: true, etcd3: 'function' });
  });

  test('a damaged code cache is refused by V8 and the stack compiles as without one', () => {
    writeFileSync(join(dir, `${STACK_BUNDLE}.cache`), 'not a code cache');
    assert.deepEqual(loadInAnotherNode(join(dir, STACK_BUNDLE)), { fromCache: false, etcd3: 'function' });
  });
});
