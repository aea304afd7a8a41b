import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../lib/core/errors.ts';
import { Ip4Net } from '../../lib/core/ip4.ts';
import { parseV2Tree } from '../../lib/model/lease.ts';
import { backendMtu, parseNetworkConfig } from '../../lib/model/netconfig.ts';
import { formatSubnetEnv, parseSubnetEnv, subnetEnvFromLease, type SubnetEnv } from '../../lib/model/subnet-env.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const NET = Ip4Net.parse('172.7.0.0/16');
const RUNBOOK_ENV =
  'FLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET=172.7.21.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n';

const show = (e: SubnetEnv) => [e.network.toString(), e.subnet.toString(), e.mtu, e.ipMasq].join(' ');

function assertRejects(text: string, field: string, value: string, rule?: RegExp) {
  assert.throws(
    () => parseSubnetEnv(text),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
      assert.ok(err.message.includes(field), `field "${field}" not in: ${err.message}`);
      assert.ok(err.message.includes(value), `value ${value} not in: ${err.message}`);
      assert.ok(!err.message.includes('\n'), 'one line');
      if (rule) assert.match(err.message, rule);
      return true;
    },
  );
}

describe('subnet-env', () => {
  describe('parseSubnetEnv on the files real flanneld wrote', () => {
    const table: [string, string][] = [
      ['v0.11.0/22-hostgw-nomasq-subnet-h21.env', '172.7.0.0/16 172.7.21.1/24 1500 false'],
      ['v0.11.0/22-hostgw-nomasq-subnet-h22.env', '172.7.0.0/16 172.7.22.1/24 1500 false'],
      ['v0.11.0/31-hostgw-ipmasq-subnet-h21.env', '172.7.0.0/16 172.7.21.1/24 1500 true'],
      ['v0.11.0/61-vxlan-subnet-h21.env', '172.7.0.0/16 172.7.21.1/24 1450 false'],
      ['v0.11.0/41-copied-subnetenv-h22.env', '172.7.0.0/16 172.7.21.1/24 1500 false'],
      ['v0.20.2/12-hostgw-nomasq-subnet-h21.env', '172.7.0.0/16 172.7.21.1/24 1500 false'],
      ['v0.20.2/41-vxlan-subnet-h22.env', '172.7.0.0/16 172.7.22.1/24 1450 false'],
    ];
    for (const [name, want] of table) {
      test(`${name}: ${want}`, () => assert.equal(show(parseSubnetEnv(fixture(name))), want));
    }
  });

  describe('formatSubnetEnv', () => {
    test('byte-identical to what flanneld wrote, for every observed file', () => {
      for (const name of [
        'v0.11.0/22-hostgw-nomasq-subnet-h21.env',
        'v0.11.0/31-hostgw-ipmasq-subnet-h21.env',
        'v0.11.0/61-vxlan-subnet-h21.env',
        'v0.20.2/12-hostgw-nomasq-subnet-h21.env',
        'v0.20.2/41-vxlan-subnet-h22.env',
      ]) {
        const text = fixture(name);
        assert.equal(formatSubnetEnv(parseSubnetEnv(text)), text, name);
      }
    });
    test("the runbook's hand-written file, four lines in flannel's order with a trailing newline", () => {
      const env = { network: NET, subnet: Ip4Net.parse('172.7.21.1/24'), mtu: 1500, ipMasq: false };
      assert.equal(formatSubnetEnv(env), RUNBOOK_ENV);
    });
    test('refuses to write a file flanneld would not have written', () => {
      assert.throws(
        () => formatSubnetEnv({ network: NET, subnet: Ip4Net.parse('172.8.21.1/24'), mtu: 1500, ipMasq: false }),
        /^UsageError: FLANNEL_SUBNET "172.8.21.1\/24": must be a subnet inside FLANNEL_NETWORK 172.7.0.0\/16/,
      );
      assert.throws(
        () => formatSubnetEnv({ network: NET, subnet: Ip4Net.parse('172.7.21.1/24'), mtu: 0, ipMasq: false }),
        /FLANNEL_MTU 0: must be a whole number 68-65535/,
      );
      assert.throws(
        () =>
          formatSubnetEnv({
            network: Ip4Net.parse('172.7.1.0/16'),
            subnet: Ip4Net.parse('172.7.21.1/24'),
            mtu: 1500,
            ipMasq: false,
          }),
        /FLANNEL_NETWORK "172.7.1.0\/16": host bits are set/,
      );
    });
  });

  describe('subnetEnvFromLease', () => {
    test("from the real leases and config: each node's file as flanneld wrote it (22-hostgw)", () => {
      const tree = parseV2Tree(fixture('v0.11.0/22-hostgw-nomasq-etcd.json'));
      const cfg = parseNetworkConfig(tree.config!);
      const mtu = backendMtu(cfg.backend, 1500);
      const [h21, h22] = tree.leases.map((l) => formatSubnetEnv(subnetEnvFromLease(cfg.network, l, mtu, false)));
      assert.equal(h21, fixture('v0.11.0/22-hostgw-nomasq-subnet-h21.env'));
      assert.equal(h22, fixture('v0.11.0/22-hostgw-nomasq-subnet-h22.env'));
    });
    test('vxlan: MTU 1450 and the same first-host subnet (61-vxlan)', () => {
      const tree = parseV2Tree(fixture('v0.11.0/61-vxlan-etcd.json'));
      const cfg = parseNetworkConfig(tree.config!);
      const env = subnetEnvFromLease(cfg.network, tree.leases[0]!, backendMtu(cfg.backend, 1500), false);
      assert.equal(formatSubnetEnv(env), fixture('v0.11.0/61-vxlan-subnet-h21.env'));
    });
    test('takes a bare subnet too; refuses a lease outside the network', () => {
      assert.equal(
        show(subnetEnvFromLease(NET, Ip4Net.parse('172.7.22.0/24'), 1450, true)),
        '172.7.0.0/16 172.7.22.1/24 1450 true',
      );
      assert.throws(
        () => subnetEnvFromLease(NET, Ip4Net.parse('10.4.7.0/24'), 1500, false),
        /FLANNEL_SUBNET "10.4.7.1\/24": must be a subnet inside/,
      );
    });
  });

  describe('tolerates what is harmless', () => {
    test('blank lines, comments, quotes, and the IPv6 keys of newer releases', () => {
      const text =
        '# written by hand for hdss7-21\n\nFLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET="172.7.21.1/24"\nFLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:15::1/64\nFLANNEL_MTU=\'1500\'\nFLANNEL_IPMASQ=false\n\n';
      assert.equal(show(parseSubnetEnv(text)), '172.7.0.0/16 172.7.21.1/24 1500 false');
    });
    test('no trailing newline; keys in another order', () => {
      assert.equal(
        show(
          parseSubnetEnv(
            'FLANNEL_IPMASQ=true\nFLANNEL_MTU=1450\nFLANNEL_SUBNET=172.7.22.1/24\nFLANNEL_NETWORK=172.7.0.0/16',
          ),
        ),
        '172.7.0.0/16 172.7.22.1/24 1450 true',
      );
    });
  });

  describe('refuses, one line naming the key and the value', () => {
    const lines = (over: Record<string, string | null>) =>
      Object.entries({
        FLANNEL_NETWORK: '172.7.0.0/16',
        FLANNEL_SUBNET: '172.7.21.1/24',
        FLANNEL_MTU: '1500',
        FLANNEL_IPMASQ: 'false',
        ...over,
      })
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}=${v}\n`)
        .join('');
    const bad: [string, string, string, string, RegExp?][] = [
      // name                          text                                             field              value
      [
        'missing FLANNEL_SUBNET',
        lines({ FLANNEL_SUBNET: null }),
        'FLANNEL_SUBNET is missing',
        'e.g. FLANNEL_SUBNET=172.7.21.1/24',
      ],
      ['missing FLANNEL_IPMASQ', lines({ FLANNEL_IPMASQ: null }), 'FLANNEL_IPMASQ is missing', 'subnet.env'],
      ['empty file', '', 'FLANNEL_NETWORK is missing', 'subnet.env'],
      ['a key twice', `${RUNBOOK_ENV}FLANNEL_MTU=1450\n`, 'FLANNEL_MTU', '"1450"', /set twice \(lines 3 and 5\)/],
      ['MTU not a number', lines({ FLANNEL_MTU: '1500x' }), 'FLANNEL_MTU', '"1500x"', /whole number 68-65535/],
      ['MTU too small', lines({ FLANNEL_MTU: '50' }), 'FLANNEL_MTU', '50', /68-65535/],
      ['MTU too large', lines({ FLANNEL_MTU: '70000' }), 'FLANNEL_MTU', '70000', /68-65535/],
      ['MTU empty', lines({ FLANNEL_MTU: '' }), 'FLANNEL_MTU', '""', /whole number/],
      ['MTU with a leading zero', lines({ FLANNEL_MTU: '01500' }), 'FLANNEL_MTU', '"01500"', /leading zeros/],
      ['IPMASQ True', lines({ FLANNEL_IPMASQ: 'True' }), 'FLANNEL_IPMASQ', '"True"', /true or false \(lowercase\)/],
      ['IPMASQ 1', lines({ FLANNEL_IPMASQ: '1' }), 'FLANNEL_IPMASQ', '"1"'],
      [
        'subnet outside the network',
        lines({ FLANNEL_SUBNET: '172.8.21.1/24' }),
        'FLANNEL_SUBNET',
        '"172.8.21.1/24"',
        /inside FLANNEL_NETWORK 172.7.0.0\/16.*e\.g\. 172\.7\.1\.1\/24/,
      ],
      [
        'subnet as large as the network',
        lines({ FLANNEL_SUBNET: '172.7.21.1/16' }),
        'FLANNEL_SUBNET',
        '"172.7.21.1/16"',
        /longer prefix/,
      ],
      [
        'subnet in network form',
        lines({ FLANNEL_SUBNET: '172.7.21.0/24' }),
        'FLANNEL_SUBNET',
        '"172.7.21.0/24"',
        /host address.*e\.g\. 172\.7\.21\.1\/24/,
      ],
      [
        'subnet broadcast address',
        lines({ FLANNEL_SUBNET: '172.7.21.255/24' }),
        'FLANNEL_SUBNET',
        '"172.7.21.255/24"',
        /host address/,
      ],
      ['subnet not a CIDR', lines({ FLANNEL_SUBNET: '172.7.21.1' }), 'FLANNEL_SUBNET', '"172.7.21.1"', /CIDR/],
      [
        'network with host bits',
        lines({ FLANNEL_NETWORK: '172.7.21.0/16' }),
        'FLANNEL_NETWORK',
        '"172.7.21.0/16"',
        /host bits are set/,
      ],
      [
        'network prefix 33',
        lines({ FLANNEL_NETWORK: '172.7.0.0/33' }),
        'FLANNEL_NETWORK',
        '"172.7.0.0/33"',
        /prefix must be 0-32/,
      ],
      [
        'Windows line endings',
        RUNBOOK_ENV.replaceAll('\n', '\r\n'),
        'subnet.env line 1',
        '"FLANNEL_NETWORK=172.7.0.0/16\\r"',
        /carriage return/,
      ],
      [
        'spaces around =',
        RUNBOOK_ENV.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU = 1500'),
        'subnet.env line 3',
        '"FLANNEL_MTU = 1500"',
        /KEY=VALUE/,
      ],
      [
        'export prefix',
        RUNBOOK_ENV.replace('FLANNEL_MTU=1500', 'export FLANNEL_MTU=1500'),
        'subnet.env line 3',
        '"export FLANNEL_MTU=1500"',
        /KEY=VALUE/,
      ],
      ['a line without =', `${RUNBOOK_ENV}FLANNEL_IPMASQ\n`, 'subnet.env line 5', '"FLANNEL_IPMASQ"', /KEY=VALUE/],
      [
        'a foreign variable',
        `${RUNBOOK_ENV}DOCKER_OPTS=--bip=172.7.21.1/24\n`,
        'subnet.env line 5',
        '"DOCKER_OPTS=--bip=172.7.21.1/24"',
        /flanneld rewrites this file/,
      ],
    ];
    for (const [name, text, field, value, rule] of bad) {
      test(`${name}: ${field} ${value}`, () => assertRejects(text, field, value, rule));
    }
    test("the file name is the caller's", () => {
      assert.throws(() => parseSubnetEnv('', '/opt/flannel/subnet.env'), {
        message: '/opt/flannel/subnet.env: FLANNEL_NETWORK is missing, e.g. FLANNEL_NETWORK=172.7.0.0/16',
      });
    });
  });
});
