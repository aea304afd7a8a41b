import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { RuntimeError, UsageError } from '../../lib/core/errors.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import {
  formatLeaseValue,
  leaseKey,
  parseLeaseKey,
  parseLeaseValue,
  parseV2Tree,
  parseV3Kvs,
  type Lease,
  type V3Kv,
} from '../../lib/model/lease.ts';
import { DEFAULT_ETCD_PREFIX } from '../../lib/core/validate.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/**
 * The kvs of a real `etcdctl get --prefix -w json` body, decoded, each with the remaining TTL
 * that `etcdctl lease timetolive --keys -w json` reported for the lease holding it. Matched by
 * key, not by lease id: the ids exceed 2^53 and JSON.parse rounds them together.
 */
function v3Fixture(kvsFile: string, ttlFile?: string): V3Kv[] {
  const ttlByKey = new Map<string, number>();
  for (const line of ttlFile ? fixture(ttlFile).split('\n').filter(Boolean) : []) {
    const grant = JSON.parse(line) as { ttl: number; keys: string[] | null };
    for (const k of grant.keys ?? []) ttlByKey.set(b64(k), grant.ttl);
  }
  const kvs = (JSON.parse(fixture(kvsFile)).kvs ?? []) as { key: string; value: string }[];
  return kvs.map((kv) => {
    const key = b64(kv.key);
    const ttl = ttlByKey.get(key);
    return { key, value: b64(kv.value), ...(ttl !== undefined && { ttl }) };
  });
}

/** The lease values exactly as stored, from a v2 body. */
function v2Values(name: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (n: { key: string; value?: string; nodes?: unknown[] }) => {
    if (n.value !== undefined && n.key.includes('/subnets/')) out.set(n.key, n.value);
    for (const c of n.nodes ?? []) walk(c as typeof n);
  };
  walk(JSON.parse(fixture(name)).node);
  return out;
}

const summary = (l: Lease) =>
  [l.subnet.toString(), l.publicIp.toString(), l.backendType, l.vtepMac ?? '-', l.ttl ?? '-'].join(' ');

function assertRejects(fn: () => unknown, field: string, value: string, rule?: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    assert.ok(err.message.includes(field), `field "${field}" not in: ${err.message}`);
    assert.ok(err.message.includes(value), `value ${value} not in: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    if (rule) assert.match(err.message, rule);
    return true;
  });
}

const KEY21 = '/coreos.com/network/subnets/172.7.21.0-24';

describe('lease', () => {
  describe('lease keys', () => {
    test('leaseKey writes the subnet with - for /, under <prefix>/subnets', () => {
      assert.equal(leaseKey(DEFAULT_ETCD_PREFIX, Ip4Net.parse('172.7.21.0/24')), KEY21);
      assert.equal(leaseKey('/coreos.com/network/', Ip4Net.parse('172.7.21.1/24')), KEY21);
      assert.equal(leaseKey('/lab/net', Ip4Net.parse('10.0.0.128/25')), '/lab/net/subnets/10.0.0.128-25');
    });
    test('parseLeaseKey reads it back', () => {
      assert.equal(parseLeaseKey(KEY21).toString(), '172.7.21.0/24');
      assert.equal(parseLeaseKey('/lab/net/subnets/10.0.0.128-25', '/lab/net').toString(), '10.0.0.128/25');
    });
    const bad: [string, string, RegExp][] = [
      [
        '/coreos.com/network/config',
        '"/coreos.com/network/config"',
        /must be \/coreos.com\/network\/subnets\/ADDR-PREFIX/,
      ],
      ['/other/subnets/172.7.21.0-24', '"/other/subnets/172.7.21.0-24"', /must be \/coreos.com\/network\/subnets/],
      ['/coreos.com/network/subnets/172.7.21.5-24', '"172.7.21.5-24"', /host bits are set/],
      ['/coreos.com/network/subnets/172.7.21.0_24', '"172.7.21.0_24"', /ADDR-PREFIX/],
    ];
    for (const [key, value, rule] of bad) {
      test(`refuses the key ${key}`, () => assertRejects(() => parseLeaseKey(key), 'lease key', value, rule));
    }
  });

  describe('parseV2Tree on real etcd v2 answers', () => {
    test('22-hostgw-nomasq: the config and both host-gw leases with ttl and expiration', () => {
      const tree = parseV2Tree(fixture('v0.11.0/22-hostgw-nomasq-etcd.json'));
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 host-gw - 86390',
        '172.7.22.0/24 10.4.7.22 host-gw - 86390',
      ]);
      assert.deepEqual(tree.invalid, []);
      const [h21] = tree.leases;
      assert.equal(h21!.key, KEY21);
      assert.equal(h21!.api, 'v2');
      assert.equal(h21!.expiration!.toISOString(), '2026-11-27T12:18:58.278Z');
      assert.equal(h21!.vni, undefined);
    });
    test('31-hostgw-ipmasq: same shape, other index and times', () => {
      const tree = parseV2Tree(fixture('v0.11.0/31-hostgw-ipmasq-etcd.json'));
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 host-gw - 86393',
        '172.7.22.0/24 10.4.7.22 host-gw - 86393',
      ]);
    });
    test('61-vxlan: each lease carries its VTEP MAC', () => {
      const tree = parseV2Tree(fixture('v0.11.0/61-vxlan-etcd.json'));
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}');
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 vxlan 72:af:40:82:41:23 86386',
        '172.7.22.0/24 10.4.7.22 vxlan 5a:3f:40:67:88:d9 86386',
      ]);
    });
    test('71-vxlan-dr: DirectRouting lives in the config; the leases look as without it', () => {
      const tree = parseV2Tree(fixture('v0.11.0/71-vxlan-dr-etcd.json'));
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}');
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 vxlan 72:af:40:82:41:23 86394',
        '172.7.22.0/24 10.4.7.22 vxlan 5a:3f:40:67:88:d9 86394',
      ]);
    });
    test('27-lease-expiry: an update answer (node + prevNode) yields the new node, ttl 15', () => {
      const tree = parseV2Tree(fixture('v0.11.0/27-hostgw-lease-expiry-ttl15-update.json'));
      assert.deepEqual(tree.leases.map(summary), ['172.7.22.0/24 10.4.7.22 host-gw - 15']);
      assert.equal(tree.leases[0]!.expiration!.toISOString(), '2026-11-26T12:21:02.269Z');
    });
    test("27-lease-expiry: a get of .../subnets alone has no config; the expired lease is gone; order is etcd's", () => {
      const after = parseV2Tree(fixture('v0.11.0/27-hostgw-lease-expiry-after.json'));
      assert.equal(after.config, undefined);
      assert.deepEqual(after.leases.map(summary), ['172.7.21.0/24 10.4.7.21 host-gw - 86269']);
      const restarted = parseV2Tree(fixture('v0.11.0/27-hostgw-lease-expiry-restarted.json'));
      assert.deepEqual(restarted.leases.map(summary), [
        '172.7.22.0/24 10.4.7.22 host-gw - 86397',
        '172.7.21.0/24 10.4.7.21 host-gw - 86264',
      ]);
    });
    test("41-copied-subnetenv: h21's subnet now held by h22's address (the silent takeover)", () => {
      const tree = parseV2Tree(fixture('v0.11.0/41-copied-subnetenv-subnets.json'));
      assert.deepEqual(tree.leases.map(summary), ['172.7.21.0/24 10.4.7.22 host-gw - 86397']);
    });
    test('53-tls-hostgw: the subnets dir read over TLS', () => {
      assert.equal(parseV2Tree(fixture('v0.11.0/53-tls-hostgw-subnets.json')).leases.length, 2);
    });
    test('v0.20.2 30-v2only: a config written with v2 only, no leases', () => {
      const tree = parseV2Tree(fixture('v0.20.2/30-v2only-config-v2.json'));
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');
      assert.deepEqual(tree.leases, []);
    });
    test('10-v3only: v2 "Key not found" (errorCode 100) is an empty tree, not an error', () => {
      assert.deepEqual(parseV2Tree(fixture('v0.11.0/10-v3only-v2-key-not-found.json')), { leases: [], invalid: [] });
    });
    test('v0.20.2 00-baseline: etcd without --enable-v2 answers `404 page not found`: a RuntimeError that says so', () => {
      assert.throws(
        () => parseV2Tree(fixture('v0.20.2/00-baseline-v2-disabled.txt')),
        (err: unknown) => {
          assert.ok(err instanceof RuntimeError);
          assert.match(err.message, /not JSON \("404 page not found"\).*--enable-v2=true/);
          return true;
        },
      );
    });
    test('another v2 error code is a RuntimeError carrying code, message and cause', () => {
      const body = fixture('v0.11.0/10-v3only-v2-key-not-found.json')
        .replace('"errorCode":100', '"errorCode":110')
        .replace('Key not found', 'The request requires user authentication');
      assert.throws(() => parseV2Tree(body), {
        name: 'RuntimeError',
        message: 'etcd v2 error 110: The request requires user authentication (/coreos.com)',
      });
    });
    test('a bad entry is reported in invalid, the other leases still parse', () => {
      const real = fixture('v0.11.0/22-hostgw-nomasq-etcd.json');
      const broken = real
        .replace(
          '{\\"PublicIP\\":\\"10.4.7.22\\",\\"BackendType\\":\\"host-gw\\"}',
          '{\\"PublicIP\\":\\"10.4.7.300\\",\\"BackendType\\":\\"host-gw\\"}',
        )
        .replace('/coreos.com/network/subnets/172.7.21.0-24', '/coreos.com/network/subnets/172.7.21.5-24');
      assert.notEqual(broken, real);
      const tree = parseV2Tree(broken);
      assert.equal(tree.leases.length, 0);
      assert.deepEqual(
        tree.invalid.map((i) => i.key),
        ['/coreos.com/network/subnets/172.7.21.5-24', '/coreos.com/network/subnets/172.7.22.0-24'],
      );
      assert.match(tree.invalid[0]!.reason, /lease key "172.7.21.5-24": host bits are set/);
      assert.match(tree.invalid[1]!.reason, /PublicIP "10.4.7.300": must be an IPv4 address/);
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');
      const oneBad = parseV2Tree(
        real.replace('{\\"PublicIP\\":\\"10.4.7.22\\",\\"BackendType\\":\\"host-gw\\"}', 'not json'),
      );
      assert.deepEqual(oneBad.leases.map(summary), ['172.7.21.0/24 10.4.7.21 host-gw - 86390']);
      assert.equal(oneBad.invalid.length, 1);
    });
    test('a prefix other than the default reads only its own keys', () => {
      const tree = parseV2Tree(fixture('v0.11.0/22-hostgw-nomasq-etcd.json'), '/lab/network');
      assert.deepEqual(tree, { leases: [], invalid: [] });
    });
  });

  describe('parseV3Kvs on real etcd v3 answers (flannel v0.20.2)', () => {
    test("12-hostgw-nomasq: config and leases, TTL from each key's lease grant", () => {
      const tree = parseV3Kvs(
        v3Fixture('v0.20.2/12-hostgw-nomasq-etcd-v3.json', 'v0.20.2/12-hostgw-nomasq-lease-timetolive.jsonl'),
      );
      assert.equal(tree.config, '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 host-gw - 86390',
        '172.7.22.0/24 10.4.7.22 host-gw - 86393',
      ]);
      assert.ok(tree.leases.every((l) => l.api === 'v3' && l.expiration === undefined));
      assert.deepEqual(tree.invalid, []);
    });
    test('41-vxlan: BackendData with VNI and VtepMAC, PublicIPv6 null ignored', () => {
      const tree = parseV3Kvs(v3Fixture('v0.20.2/41-vxlan-etcd-v3.json', 'v0.20.2/41-vxlan-lease-timetolive.jsonl'));
      assert.deepEqual(tree.leases.map(summary), [
        '172.7.21.0/24 10.4.7.21 vxlan e6:93:e6:b0:53:db 86393',
        '172.7.22.0/24 10.4.7.22 vxlan e6:15:6e:8f:65:ac 86393',
      ]);
      assert.deepEqual(
        tree.leases.map((l) => l.vni),
        [1, 1],
      );
    });
    test('without TTLs looked up, ttl is absent', () => {
      const tree = parseV3Kvs(v3Fixture('v0.20.2/12-hostgw-nomasq-etcd-v3.json'));
      assert.ok(tree.leases.every((l) => l.ttl === undefined));
    });
    test('00-baseline: an empty store (no kvs at all) is an empty tree', () => {
      assert.deepEqual(parseV3Kvs(v3Fixture('v0.20.2/00-baseline-etcd-v3-empty.json')), { leases: [], invalid: [] });
      assert.deepEqual(parseV3Kvs(undefined), { leases: [], invalid: [] });
    });
    test('a bad kv is reported in invalid, the rest still parse', () => {
      const kvs = v3Fixture('v0.20.2/41-vxlan-etcd-v3.json');
      const broken = kvs.map((kv) =>
        kv.key.endsWith('172.7.22.0-24')
          ? { ...kv, value: kv.value.replace('"VtepMAC":"e6:15:6e:8f:65:ac"', '"VtepMAC":"e6:15:6e"') }
          : kv,
      );
      const tree = parseV3Kvs(broken);
      assert.deepEqual(
        tree.leases.map((l) => l.subnet.toString()),
        ['172.7.21.0/24'],
      );
      assert.deepEqual(
        tree.invalid.map((i) => i.key),
        ['/coreos.com/network/subnets/172.7.22.0-24'],
      );
      assert.match(tree.invalid[0]!.reason, /BackendData.VtepMAC "e6:15:6e": must be a MAC address/);
    });
  });

  describe('formatLeaseValue', () => {
    test('byte-identical to every value flanneld v0.11.0 wrote (v2 fixtures)', () => {
      for (const name of [
        '22-hostgw-nomasq-etcd.json',
        '31-hostgw-ipmasq-etcd.json',
        '61-vxlan-etcd.json',
        '71-vxlan-dr-etcd.json',
        '41-copied-subnetenv-subnets.json',
      ]) {
        const stored = v2Values(`v0.11.0/${name}`);
        const tree = parseV2Tree(fixture(`v0.11.0/${name}`));
        assert.ok(tree.leases.length > 0);
        for (const lease of tree.leases)
          assert.equal(formatLeaseValue(lease), stored.get(lease.key), `${name} ${lease.key}`);
      }
    });
    test('byte-identical to every value flanneld v0.20.2 wrote (v3 fixtures; v3 leases default to the v0.20 form)', () => {
      for (const name of ['12-hostgw-nomasq-etcd-v3.json', '41-vxlan-etcd-v3.json']) {
        const kvs = v3Fixture(`v0.20.2/${name}`);
        for (const lease of parseV3Kvs(kvs).leases)
          assert.equal(formatLeaseValue(lease), kvs.find((kv) => kv.key === lease.key)!.value);
      }
    });
    test('either form on request, whatever API the lease came from', () => {
      const lease = { publicIp: Ip4.parse('10.4.7.21'), backendType: 'host-gw' };
      assert.equal(formatLeaseValue(lease), '{"PublicIP":"10.4.7.21","BackendType":"host-gw"}');
      assert.equal(
        formatLeaseValue(lease, 'v0.20'),
        '{"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"host-gw"}',
      );
      const vx = { publicIp: Ip4.parse('10.4.7.21'), backendType: 'vxlan', vtepMac: '72:af:40:82:41:23' };
      assert.equal(
        formatLeaseValue(vx, 'v0.11'),
        '{"PublicIP":"10.4.7.21","BackendType":"vxlan","BackendData":{"VtepMAC":"72:af:40:82:41:23"}}',
      );
      assert.equal(
        formatLeaseValue(vx, 'v0.20'),
        '{"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"72:af:40:82:41:23"}}',
      );
      assert.equal(
        formatLeaseValue({
          publicIp: Ip4.parse('10.4.7.21'),
          backendType: 'wireguard',
          backendData: { PublicKey: 'k=' },
        }),
        '{"PublicIP":"10.4.7.21","BackendType":"wireguard","BackendData":{"PublicKey":"k="}}',
      );
    });
    test('a vxlan lease without VtepMAC cannot be written', () => {
      assert.throws(
        () => formatLeaseValue({ publicIp: Ip4.parse('10.4.7.21'), backendType: 'vxlan' }),
        /vxlan lease needs its VtepMAC/,
      );
    });
  });

  describe('parseLeaseValue', () => {
    test("field names fold like Go's json.Unmarshal; a MAC is normalised to flannel's form", () => {
      const l = parseLeaseValue(
        '{"publicip":"10.4.7.21","backendtype":"vxlan","backenddata":{"vtepmac":"72-AF-40-82-41-23"}}',
        KEY21,
      );
      assert.deepEqual(summary(l), '172.7.21.0/24 10.4.7.21 vxlan 72:af:40:82:41:23 -');
    });
    test("no BackendType is kept as '' (flannel holds the subnet but routes nothing to it)", () => {
      assert.equal(
        parseLeaseValue('{"PublicIP":"10.4.7.30"}', '/coreos.com/network/subnets/172.7.30.0-24', 'v3').backendType,
        '',
      );
    });
    const bad: [string, string, string, string, RegExp?][] = [
      // value                                                        key     field                     value shown
      ['{"PublicIP":"10.4.7.21",', KEY21, `lease ${KEY21}`, '{"PublicIP":"10.4.7.21",', /not valid JSON/],
      ['["10.4.7.21"]', KEY21, `lease ${KEY21}`, '["10.4.7.21"]', /must be a JSON object/],
      ['{"BackendType":"host-gw"}', KEY21, `lease ${KEY21}: PublicIP`, 'is missing'],
      ['{"PublicIP":null,"BackendType":"host-gw"}', KEY21, `lease ${KEY21}: PublicIP`, 'is missing'],
      [
        '{"PublicIP":"10.4.7.300","BackendType":"host-gw"}',
        KEY21,
        `lease ${KEY21} PublicIP`,
        '"10.4.7.300"',
        /IPv4 address/,
      ],
      ['{"PublicIP":167118101,"BackendType":"host-gw"}', KEY21, `lease ${KEY21} PublicIP`, '167118101'],
      ['{"PublicIP":"10.4.7.21","BackendType":7}', KEY21, `lease ${KEY21} BackendType`, '7', /must be a string/],
      ['{"PublicIP":"10.4.7.21","BackendType":"vxlan"}', KEY21, 'BackendData.VtepMAC', 'is missing'],
      [
        '{"PublicIP":"10.4.7.21","BackendType":"vxlan","BackendData":{"VtepMAC":"72:af:40:82:41"}}',
        KEY21,
        'BackendData.VtepMAC',
        '"72:af:40:82:41"',
        /MAC address/,
      ],
      [
        '{"PublicIP":"10.4.7.21","BackendType":"vxlan","BackendData":{"VNI":"1","VtepMAC":"72:af:40:82:41:23"}}',
        KEY21,
        'BackendData.VNI',
        '"1"',
      ],
      [
        '{"PublicIP":"10.4.7.21","BackendType":"host-gw"}',
        '/coreos.com/network/config',
        'lease key',
        '"/coreos.com/network/config"',
      ],
      [
        '{"PublicIP":"10.4.7.21","BackendType":"host-gw"}',
        '/coreos.com/network/subnets/172.7.21.0-99',
        'lease key',
        '"172.7.21.0-99"',
        /prefix must be 0-32/,
      ],
    ];
    for (const [value, key, field, shown, rule] of bad) {
      test(`refuses ${value} at ${key.split('/').pop()}: ${field} ${shown}`, () =>
        assertRejects(() => parseLeaseValue(value, key), field, shown, rule));
    }
  });
});
