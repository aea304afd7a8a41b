// lib/etcd against a real etcd (Debian etcd-server) on loopback ports: one with the v2 API
// on, one without (as etcd 3.4 runs by default). TLS cases run in the namespace lab tests.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EtcdError,
  classifyError,
  parseV2Error,
  v2PutCommand,
  v2Put,
  v2Request,
  v3GetPrefix,
  withV3,
  loadTls,
  MAX_PEM_BYTES,
} from '../../lib/host/etcd.ts';
import { checkEndpoints } from '../../lib/core/validate.ts';
import { MemoryHost } from '../support/memory-host.ts';
import { UsageError } from '../../lib/core/errors.ts';
import { freePort, hasEtcd, startEtcd, type Etcd } from '../support/etcd.ts';

describe('etcd (pure parts)', () => {
  test('checkEndpoints takes a list of http(s) URLs and refuses the rest, a member given twice too', () => {
    assert.deepEqual(checkEndpoints('--endpoints', 'https://10.4.7.12:2379, https://10.4.7.21:2379'.split(',')), [
      'https://10.4.7.12:2379',
      'https://10.4.7.21:2379',
    ]);
    const bad: [string, RegExp][] = [
      ['10.4.7.12:2379', /must start with http:\/\/ or https:\/\//],
      ['ftp://10.4.7.12:2379', /scheme must be http or https/],
      ['https://10.4.7.12:2379/v2/keys', /must be only scheme, host and port/],
      ['not a url', /one URL, without commas or spaces/],
      ['https://10.4.7.12:2379,https://10.4.7.12:2379', /is listed twice/],
    ];
    assert.throws(() => checkEndpoints('--endpoints', []), /needs at least one URL/);
    for (const [text, re] of bad) {
      assert.throws(
        () => checkEndpoints('--endpoints', text.split(',')),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && e.message.startsWith('--endpoints'),
      );
    }
  });

  test('classifyError names the TLS file that is wrong', () => {
    const conn = {
      endpoints: ['https://10.4.7.12:2379'],
      cafile: '/opt/flannel/cert/ca.pem',
      certfile: '/opt/flannel/cert/client.pem',
    };
    const ep = conn.endpoints[0]!;
    const ca = classifyError(
      Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      ep,
      conn,
    );
    assert.equal(ca.kind, 'tls-ca');
    assert.match(ca.message, /--cafile \/opt\/flannel\/cert\/ca\.pem/);
    const client = classifyError(
      Object.assign(new Error('tlsv1 alert bad certificate'), { code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' }),
      ep,
      conn,
    );
    assert.equal(client.kind, 'tls-client-cert');
    assert.match(client.message, /client\.pem/);
    const scheme = classifyError(Object.assign(new Error('wrong version number'), { code: 'EPROTO' }), ep, conn);
    assert.equal(scheme.kind, 'tls-scheme');
    assert.equal(classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), ep, conn).kind, 'unreachable');
  });

  test('parseV2Error reads the errorCode body and ignores anything else', () => {
    assert.deepEqual(parseV2Error('{"errorCode":100,"message":"Key not found","cause":"/coreos.com","index":3}'), {
      errorCode: 100,
      message: 'Key not found',
      cause: '/coreos.com',
      index: 3,
    });
    assert.equal(parseV2Error('404 page not found'), undefined);
    assert.equal(parseV2Error('{"action":"get"}'), undefined);
  });

  test('v2PutCommand is the curl equal of the PUT, with file paths and never key contents', () => {
    const cmd = v2PutCommand(
      {
        endpoints: ['https://10.4.7.12:2379'],
        cafile: '/c/ca.pem',
        certfile: '/c/client.pem',
        keyfile: '/c/client-key.pem',
      },
      '/coreos.com/network/config',
      '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}',
      { prevExist: false },
      'create the network config',
    );
    assert.deepEqual(cmd.argv, [
      'curl',
      '-sS',
      '--fail-with-body',
      '--cacert',
      '/c/ca.pem',
      '--cert',
      '/c/client.pem',
      '--key',
      '/c/client-key.pem',
      '-X',
      'PUT',
      'https://10.4.7.12:2379/v2/keys/coreos.com/network/config?prevExist=false',
      '--data-urlencode',
      'value={"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}',
    ]);
  });

  test('loadTls names the flag whose file cannot be read, or is too large to be a PEM file', async () => {
    await assert.rejects(
      loadTls(new MemoryHost(), { endpoints: ['https://x:1'], cafile: '/nonexistent/ca.pem' }),
      /--cafile "\/nonexistent\/ca\.pem": cannot read \(ENOENT\)/,
    );
    const big = new MemoryHost({ '/ca.pem': 'x'.repeat(MAX_PEM_BYTES + 1) });
    await assert.rejects(
      loadTls(big, { endpoints: ['https://x:1'], cafile: '/ca.pem' }),
      /--cafile "\/ca\.pem": is \d+ bytes/,
    );
  });
});

describe('etcd (real etcd on loopback)', {
  skip: hasEtcd ? false : 'etcd is not installed (apt-get install etcd-server)',
}, () => {
  let dir: string;
  let v2on: Etcd;
  let v2off: Etcd;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frb-etcd-'));
    [v2on, v2off] = await Promise.all([startEtcd(join(dir, 'on'), true), startEtcd(join(dir, 'off'), false)]);
  });
  after(() => {
    for (const e of [v2on, v2off]) e?.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('v2Put creates once with prevExist=false; a second create loses the compare-and-swap', async () => {
    const conn = { endpoints: [v2on.url] };
    const key = '/coreos.com/network/config';
    await v2Put(conn, {}, key, '{"Network": "172.7.0.0/16"}', { prevExist: false });
    await assert.rejects(
      v2Put(conn, {}, key, '{"Network": "10.0.0.0/8"}', { prevExist: false }),
      (e: unknown) => e instanceof EtcdError && e.kind === 'compare-failed',
    );
    await assert.rejects(
      v2Put(conn, {}, key, 'x', { prevValue: 'not what is there' }),
      (e: unknown) => e instanceof EtcdError && e.kind === 'compare-failed',
    );
    const got = await v2Request(conn, {}, 'GET', key);
    assert.equal(JSON.parse(got.body).node.value, '{"Network": "172.7.0.0/16"}');
    assert.ok((got.etcdIndex ?? 0) > 0);
  });

  test('a missing key is a 404 with errorCode 100', async () => {
    const got = await v2Request({ endpoints: [v2on.url] }, {}, 'GET', '/nope');
    assert.equal(got.status, 404);
    assert.equal(parseV2Error(got.body)?.errorCode, 100);
  });

  test('the v2 API switched off is named as such', async () => {
    await assert.rejects(
      v2Request({ endpoints: [v2off.url] }, {}, 'GET', '/coreos.com/network'),
      (e: unknown) => e instanceof EtcdError && e.kind === 'v2-disabled' && /--enable-v2=true/.test(e.message),
    );
  });

  test('a dead endpoint is skipped for the next one; all dead is "unreachable" within the deadline', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const got = await v2Request({ endpoints: [dead, v2on.url] }, {}, 'GET', '/nope');
    assert.equal(got.endpoint, v2on.url);
    const t0 = Date.now();
    await assert.rejects(
      v2Request({ endpoints: [dead], timeoutMs: 1000 }, {}, 'GET', '/x'),
      (e: unknown) => e instanceof EtcdError && e.kind === 'unreachable',
    );
    assert.ok(Date.now() - t0 < 2000);
  });

  test('v3: one range read returns every key under the prefix; v2 keys are not in it', async () => {
    const conn = { endpoints: [v2off.url] };
    await withV3(conn, {}, async (c) => {
      await c.put('/coreos.com/network/config').value('{"Network": "172.7.0.0/16"}');
      await c
        .put('/coreos.com/network/subnets/172.7.21.0-24')
        .value('{"PublicIP":"10.4.7.21","BackendType":"host-gw"}');
    });
    const kvs = await v3GetPrefix(conn, {}, '/coreos.com/network/');
    assert.deepEqual(kvs.map((k) => k.key).sort(), [
      '/coreos.com/network/config',
      '/coreos.com/network/subnets/172.7.21.0-24',
    ]);
    const onlyV2 = await v3GetPrefix({ endpoints: [v2on.url] }, {}, '/coreos.com/network/');
    assert.deepEqual(onlyV2, []);
  });
});
