import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../lib/core/errors.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import {
  BACKEND_TYPES,
  backendMtu,
  diffNetworkConfig,
  formatNetworkConfig,
  parseNetworkConfig,
  subnetFitsConfig,
  subnetsOf,
  type NetworkConfig,
} from '../../lib/model/netconfig.ts';
import { parseSubnetEnv } from '../../lib/model/subnet-env.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/** The config value stored in a real `GET /v2/keys/coreos.com/network?recursive=true` body. */
function v2Config(name: string): string {
  const doc = JSON.parse(fixture(name));
  const node = (doc.node.nodes as { key: string; value: string }[]).find((n) => n.key === '/coreos.com/network/config');
  return node!.value;
}

/** The config value in a real `etcdctl get --prefix -w json` body (keys and values base64). */
function v3Config(name: string): string {
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const kvs = JSON.parse(fixture(name)).kvs as { key: string; value: string }[];
  return b64(kvs.find((kv) => b64(kv.key) === '/coreos.com/network/config')!.value);
}

// The runbook's step 3 configs, verbatim (docs/runbook.md, 3. etcd config).
const RUNBOOK_HOSTGW = '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}';
const RUNBOOK_VXLAN = '{"Network": "172.7.0.0/16", "Backend": {"Type": "VxLAN"}}';
const RUNBOOK_VXLAN_DR = '{"Network": "172.7.0.0/16", "Backend": {"Type": "VxLAN", "Directrouting": true}}';

/** Rejected with a one-line UsageError that names the field and quotes the value. */
function assertRejects(text: string, field: string, value: string, rule?: RegExp) {
  assert.throws(
    () => parseNetworkConfig(text),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
      assert.ok(err.message.startsWith(field), `field "${field}" not first in: ${err.message}`);
      assert.ok(err.message.includes(value), `value ${value} not in: ${err.message}`);
      assert.ok(!err.message.includes('\n'), 'one line');
      if (rule) assert.match(err.message, rule);
      return true;
    },
  );
}

describe('netconfig', () => {
  describe('parseNetworkConfig on the configs real flanneld ran with', () => {
    const cases: [string, string, string, Partial<NetworkConfig['backend']>][] = [
      ['v0.11.0/22-hostgw-nomasq-etcd.json', v2Config('v0.11.0/22-hostgw-nomasq-etcd.json'), 'host-gw', {}],
      [
        'v0.11.0/61-vxlan-etcd.json',
        v2Config('v0.11.0/61-vxlan-etcd.json'),
        'vxlan',
        { vni: 1, port: 8472, directRouting: false, gbp: false },
      ],
      [
        'v0.11.0/71-vxlan-dr-etcd.json',
        v2Config('v0.11.0/71-vxlan-dr-etcd.json'),
        'vxlan',
        { vni: 1, port: 8472, directRouting: true },
      ],
      ['v0.20.2/12-hostgw-nomasq-etcd-v3.json', v3Config('v0.20.2/12-hostgw-nomasq-etcd-v3.json'), 'host-gw', {}],
      [
        'v0.20.2/41-vxlan-etcd-v3.json',
        v3Config('v0.20.2/41-vxlan-etcd-v3.json'),
        'vxlan',
        { vni: 1, directRouting: false },
      ],
      [
        'v0.20.2/30-v2only-config-v2.json',
        JSON.parse(fixture('v0.20.2/30-v2only-config-v2.json')).node.value,
        'host-gw',
        {},
      ],
    ];
    for (const [name, text, type, opts] of cases) {
      test(`${name}: 172.7.0.0/16, /24 per node, ${type}`, () => {
        const cfg = parseNetworkConfig(text);
        assert.equal(cfg.network.toString(), '172.7.0.0/16');
        assert.equal(cfg.subnetLen, 24);
        // flanneld v0.20.2 logged "Picking subnet in range 172.7.1.0 ... 172.7.255.0"
        assert.equal(cfg.subnetMin.toString(), '172.7.1.0');
        assert.equal(cfg.subnetMax.toString(), '172.7.255.0');
        assert.equal(cfg.backend.type, type);
        for (const [k, v] of Object.entries(opts)) assert.equal(cfg.backend[k as keyof typeof opts], v, k);
        assert.deepEqual(cfg.notes, []);
      });
    }
  });

  describe('the runbook spellings work as in real flannel (Go matches keys case-insensitively)', () => {
    test('"Type": "VxLAN" is the vxlan backend (GetBackend lowercases the type)', () => {
      const cfg = parseNetworkConfig(RUNBOOK_VXLAN);
      assert.equal(cfg.backend.type, 'vxlan');
      assert.equal(cfg.backend.directRouting, false);
    });
    test('"Directrouting": true turns DirectRouting on', () => {
      const cfg = parseNetworkConfig(RUNBOOK_VXLAN_DR);
      assert.equal(cfg.backend.type, 'vxlan');
      assert.equal(cfg.backend.directRouting, true);
      assert.deepEqual(cfg.notes, []);
    });
    test('every top-level key folds too, and the last of two spellings wins', () => {
      const cfg = parseNetworkConfig(
        '{"network": "10.0.0.0/8", "NETWORK": "172.7.0.0/16", "subnetlen": 26, "BACKEND": {"TYPE": "Host-GW"}}',
      );
      assert.equal(cfg.network.toString(), '172.7.0.0/16');
      assert.equal(cfg.subnetLen, 26);
      assert.equal(cfg.backend.type, 'host-gw');
    });
  });

  describe('defaults, as subnet/config.go computes them', () => {
    const table: [string, number, string, string][] = [
      // config                                                  SubnetLen SubnetMin      SubnetMax
      ['{"Network": "172.7.0.0/16"}', 24, '172.7.1.0', '172.7.255.0'],
      ['{"Network": "10.0.0.0/8"}', 24, '10.0.1.0', '10.255.255.0'],
      ['{"Network": "10.0.0.0/22"}', 24, '10.0.1.0', '10.0.3.0'],
      ['{"Network": "10.0.0.0/23"}', 25, '10.0.0.128', '10.0.1.128'],
      ['{"Network": "10.0.0.0/28"}', 30, '10.0.0.4', '10.0.0.12'],
      ['{"Network": "172.7.0.0/16", "SubnetLen": 26}', 26, '172.7.0.64', '172.7.255.192'],
      ['{"Network": "172.7.0.0/16", "SubnetLen": 0}', 24, '172.7.1.0', '172.7.255.0'],
      [
        '{"Network": "172.7.0.0/16", "SubnetMin": "172.7.21.0", "SubnetMax": "172.7.22.0"}',
        24,
        '172.7.21.0',
        '172.7.22.0',
      ],
      ['{"Network": "172.7.0.0/16", "SubnetMin": "0.0.0.0", "SubnetMax": null}', 24, '172.7.1.0', '172.7.255.0'],
    ];
    for (const [text, len, min, max] of table) {
      test(`${text} -> /${len}, ${min} ... ${max}`, () => {
        const cfg = parseNetworkConfig(text);
        assert.equal(cfg.subnetLen, len);
        assert.equal(cfg.subnetMin.toString(), min);
        assert.equal(cfg.subnetMax.toString(), max);
      });
    }

    test('no Backend means udp (flannel code; its docs say vxlan), with a note', () => {
      const cfg = parseNetworkConfig('{"Network": "172.7.0.0/16"}');
      assert.equal(cfg.backend.type, 'udp');
      assert.equal(cfg.backend.port, 8285);
      assert.match(cfg.notes.join('\n'), /Backend is missing: flannel uses udp/);
    });

    test('vxlan defaults: VNI 1, Port 8472 (0 and absent both mean the kernel default)', () => {
      for (const text of [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}',
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "Port": 0, "VNI": null}}',
      ]) {
        const b = parseNetworkConfig(text).backend;
        assert.deepEqual(
          [b.vni, b.port, b.gbp, b.learning, b.directRouting, b.mtu],
          [1, 8472, false, false, false, undefined],
        );
      }
      const b = parseNetworkConfig(
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789, "GBP": true}}',
      ).backend;
      assert.deepEqual([b.vni, b.port, b.gbp], [4096, 4789, true]);
    });
  });

  describe('notes: what flannel accepts silently', () => {
    const table: [string, RegExp][] = [
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw", "DirectRouting": true}}',
        /Backend.DirectRouting: not a host-gw option, flannel ignores it/,
      ],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRoutng": true}}',
        /Backend.DirectRoutng: not a vxlan option/,
      ],
      [
        '{"Netwrk": "10.0.0.0/8", "Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}',
        /Netwrk: unknown key, flannel ignores it/,
      ],
      ['{"Network": "172.7.1.0/16", "Backend": {"Type": "host-gw"}}', /host bits set, flannel uses 172.7.0.0\/16/],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "MTU": 1400}}',
        /Backend.MTU: flannel v0.11.0 ignores it/,
      ],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "Learning": true}}',
        /Backend.Learning: flannel v0.11.0 ignores it/,
      ],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "wireguard"}}', /flannel v0.11.0 has no wireguard backend/],
      [
        '{"Network": "172.7.0.0/16", "EnableIPv6": true, "Backend": {"Type": "host-gw"}}',
        /EnableIPv6: flannel v0.11.0 does not read it/,
      ],
    ];
    for (const [text, note] of table) {
      test(`${text}: ${note.source}`, () => {
        assert.match(parseNetworkConfig(text).notes.join('\n'), note);
      });
    }
    test('the masked network is the one used', () => {
      assert.equal(
        parseNetworkConfig('{"Network": "172.7.1.0/16", "Backend": {"Type": "host-gw"}}').network.toString(),
        '172.7.0.0/16',
      );
    });
    test('options of backends we do not model pass through untouched, without notes', () => {
      const cfg = parseNetworkConfig(
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "aws-vpc", "RouteTableID": "rtb-1"}}',
      );
      assert.deepEqual(cfg.backend.options, { RouteTableID: 'rtb-1' });
      assert.deepEqual(cfg.notes, []);
    });
  });

  describe('refuses what flanneld refuses, one line naming the field and the value', () => {
    const bad: [string, string, string, RegExp?][] = [
      // text                                                                   field           value
      ['{"Network": "172.7.0.0/16",}', 'network config', '{"Network": "172.7.0.0/16",}', /not valid JSON/],
      ['["172.7.0.0/16"]', 'network config', '["172.7.0.0/16"]', /must be a JSON object/],
      ['{"Backend": {"Type": "host-gw"}}', 'Network', 'is missing', /e\.g\. "Network": "172\.7\.0\.0\/16"/],
      ['{"Network": "172.7.0.0/33"}', 'Network', '"172.7.0.0/33"', /prefix must be 0-32, e\.g\. 172\.7\.0\.0\/16$/],
      ['{"Network": "fd00::/8"}', 'Network', '"fd00::/8"', /not an IPv4 address/],
      ['{"Network": 17}', 'Network', '17', /must be a CIDR string/],
      ['{"Network": "172.7.0.0"}', 'Network', '"172.7.0.0"', /address\/prefix/],
      ['{"Network": "172.7.0.0/29"}', 'Network', '"172.7.0.0/29"', /too small.*\/28/],
      ['{"Network": "0.0.0.0/0"}', 'Network', '"0.0.0.0/0"', /whole IPv4 space/],
      ['{"Network": "172.7.0.0/16", "SubnetLen": 31}', 'SubnetLen', '31', /SubnetLen must be less than \/31/],
      ['{"Network": "172.7.0.0/16", "SubnetLen": 17}', 'SubnetLen', '17', /at least 18.*four subnets/],
      ['{"Network": "172.7.0.0/16", "SubnetLen": "24"}', 'SubnetLen', '"24"', /whole number/],
      ['{"Network": "172.7.0.0/16", "SubnetLen": -1}', 'SubnetLen', '-1', /whole number/],
      [
        '{"Network": "172.7.0.0/16", "SubnetMin": "192.168.1.0"}',
        'SubnetMin',
        '"192.168.1.0"',
        /SubnetMin is not in the range of the Network/,
      ],
      [
        '{"Network": "172.7.0.0/16", "SubnetMax": "10.4.7.0"}',
        'SubnetMax',
        '"10.4.7.0"',
        /SubnetMax is not in the range of the Network/,
      ],
      [
        '{"Network": "172.7.0.0/16", "SubnetMin": "172.7.5.5"}',
        'SubnetMin',
        '"172.7.5.5"',
        /SubnetMin is not on a SubnetLen boundary.*e\.g\. 172\.7\.5\.0/,
      ],
      [
        '{"Network": "172.7.0.0/16", "SubnetMax": "172.7.250.128"}',
        'SubnetMax',
        '"172.7.250.128"',
        /SubnetMax is not on a SubnetLen boundary/,
      ],
      ['{"Network": "172.7.0.0/16", "SubnetMin": "172.7.9"}', 'SubnetMin', '"172.7.9"', /IPv4 address/],
      [
        '{"Network": "172.7.0.0/16", "SubnetMin": "172.7.9.0", "SubnetMax": "172.7.3.0"}',
        'SubnetMax',
        '"172.7.3.0"',
        /below SubnetMin 172\.7\.9\.0/,
      ],
      ['{"Network": "172.7.0.0/16", "Backend": "host-gw"}', 'Backend', '"host-gw"', /must be an object/],
      ['{"Network": "172.7.0.0/16", "Backend": null}', 'Backend', 'null', /must be an object/],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "hostgw"}}',
        'Backend.Type',
        '"hostgw"',
        /unknown backend type; flannel knows .*host-gw.*vxlan/,
      ],
      ['{"Network": "172.7.0.0/16", "Backend": {}}', 'Backend.Type', '""', /unknown backend type/],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": " host-gw"}}',
        'Backend.Type',
        '" host-gw"',
        /unknown backend type/,
      ],
      ['{"Network": "172.7.0.0/16", "Backend": {"type": 1}}', 'Backend.type', '1', /must be a string/],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": "true"}}',
        'Backend.DirectRouting',
        '"true"',
        /JSON boolean, not a string/,
      ],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "GBP": 1}}', 'Backend.GBP', '1', /true or false/],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": "1"}}', 'Backend.VNI', '"1"', /whole number/],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": -1}}', 'Backend.VNI', '-1', /0-16777215/],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "Port": 70000}}', 'Backend.Port', '70000', /0-65535/],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "MTU": 20}}', 'Backend.MTU', '20', /68-65535/],
      ['{"Network": "172.7.0.0/16", "Backend": {"Type": "udp", "Port": 1.5}}', 'Backend.Port', '1.5', /whole number/],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "ipip", "DirectRouting": "yes"}}',
        'Backend.DirectRouting',
        '"yes"',
        /true or false/,
      ],
    ];
    for (const [text, field, value, rule] of bad) {
      test(`${text} -> ${field} ${value}`, () => assertRejects(text, field, value, rule));
    }
    test('the field is named as it was written', () => {
      assertRejects('{"network": "172.7.0.0/33"}', 'network', '"172.7.0.0/33"');
      assertRejects(
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "Directrouting": "true"}}',
        'Backend.Directrouting',
        '"true"',
      );
    });
    test('a long config is shortened in the message', () => {
      const text = `{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}, ${'"x": 1, '.repeat(30)}`;
      assert.throws(
        () => parseNetworkConfig(text),
        (err: Error) => err.message.length < 300 && /\.\.\.: is not valid JSON/.test(err.message),
      );
    });
    test("the list of known types is flannel's", () => {
      assert.deepEqual(
        [...BACKEND_TYPES],
        [
          'ali-vpc',
          'alloc',
          'aws-vpc',
          'extension',
          'gce',
          'host-gw',
          'ipip',
          'ipsec',
          'tencent-vpc',
          'udp',
          'vxlan',
          'wireguard',
        ],
      );
    });
  });

  describe('formatNetworkConfig', () => {
    test('golden: the runbook host-gw config, byte for byte', () => {
      assert.equal(formatNetworkConfig(parseNetworkConfig(RUNBOOK_HOSTGW)), RUNBOOK_HOSTGW);
      assert.equal(formatNetworkConfig({ network: '172.7.0.0/16', backend: { type: 'host-gw' } }), RUNBOOK_HOSTGW);
      // and what the lab stored in etcd for real flanneld (22-hostgw-nomasq-etcd)
      assert.equal(
        formatNetworkConfig({ network: Ip4Net.parse('172.7.0.0/16'), backend: { type: 'host-gw' } }),
        v2Config('v0.11.0/22-hostgw-nomasq-etcd.json'),
      );
    });
    test("the runbook VxLAN spellings come out in flannel's, as the lab wrote them to real flanneld", () => {
      assert.equal(formatNetworkConfig(parseNetworkConfig(RUNBOOK_VXLAN)), v2Config('v0.11.0/61-vxlan-etcd.json'));
      assert.equal(
        formatNetworkConfig(parseNetworkConfig(RUNBOOK_VXLAN_DR)),
        v2Config('v0.11.0/71-vxlan-dr-etcd.json'),
      );
      assert.equal(
        v2Config('v0.11.0/71-vxlan-dr-etcd.json'),
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}',
      );
    });
    const table: [Parameters<typeof formatNetworkConfig>[0], string][] = [
      [
        { network: '172.7.0.0/16', subnetLen: 24, subnetMin: '172.7.1.0', backend: { type: 'host-gw' } },
        RUNBOOK_HOSTGW,
      ],
      [
        { network: '172.7.0.0/16', subnetLen: 26, backend: { type: 'host-gw' } },
        '{"Network": "172.7.0.0/16", "SubnetLen": 26, "Backend": {"Type": "host-gw"}}',
      ],
      [
        {
          network: '172.7.0.0/16',
          subnetMin: Ip4.parse('172.7.20.0'),
          subnetMax: '172.7.30.0',
          backend: { type: 'host-gw' },
        },
        '{"Network": "172.7.0.0/16", "SubnetMin": "172.7.20.0", "SubnetMax": "172.7.30.0", "Backend": {"Type": "host-gw"}}',
      ],
      [
        { network: '172.7.0.0/16', backend: { type: 'vxlan', vni: 1, port: 0, gbp: false, directRouting: true } },
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}',
      ],
      [
        { network: '172.7.0.0/16', backend: { type: 'VXLAN', vni: 2, port: 4789 } },
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": 2, "Port": 4789}}',
      ],
      [{ network: '172.7.0.0/16' }, '{"Network": "172.7.0.0/16", "Backend": {"Type": "udp"}}'],
      [
        { network: '172.7.0.0/16', backend: { type: 'aws-vpc', options: { RouteTableID: 'rtb-1' } } },
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "aws-vpc", "RouteTableID": "rtb-1"}}',
      ],
    ];
    for (const [spec, want] of table) {
      test(`writes ${want}`, () => assert.equal(formatNetworkConfig(spec), want));
    }
    test("refuses a spec flanneld would refuse, with the parser's message", () => {
      assert.throws(
        () => formatNetworkConfig({ network: '172.7.0.0/16', subnetLen: 31, backend: { type: 'host-gw' } }),
        /^UsageError: SubnetLen 31:/,
      );
      assert.throws(
        () => formatNetworkConfig({ network: '172.7.0.0/16', backend: { type: 'hostgw' } }),
        /Backend.Type "hostgw": unknown backend type/,
      );
    });
    test('round trip: parse(format(cfg)) has the same effect as cfg', () => {
      for (const text of [
        RUNBOOK_HOSTGW,
        RUNBOOK_VXLAN_DR,
        '{"Network": "10.0.0.0/23", "SubnetMin": "10.0.0.128", "Backend": {"Type": "vxlan", "VNI": 7}}',
      ]) {
        const cfg = parseNetworkConfig(text);
        assert.deepEqual(diffNetworkConfig(cfg, formatNetworkConfig(cfg)), []);
      }
    });
  });

  describe('diffNetworkConfig', () => {
    test('equivalent configs: spacing, key case, type case, explicit defaults', () => {
      const same = [
        '{"network":"172.7.0.0/16","backend":{"type":"HOST-GW"}}',
        '{"Network": "172.7.0.0/16", "SubnetLen": 24, "SubnetMin": "172.7.1.0", "SubnetMax": "172.7.255.0", "Backend": {"Type": "host-gw"}}',
        '{\n  "Network": "172.7.0.0/16",\n  "Backend": {\n    "Type": "host-gw"\n  }\n}',
      ];
      for (const other of same) assert.deepEqual(diffNetworkConfig(RUNBOOK_HOSTGW, other), [], other);
      assert.deepEqual(
        diffNetworkConfig(
          RUNBOOK_VXLAN,
          '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472, "DirectRouting": false}}',
        ),
        [],
      );
    });
    const table: [string, string, string[]][] = [
      [RUNBOOK_HOSTGW, RUNBOOK_VXLAN, ['Backend.Type: have host-gw, want vxlan']],
      [
        RUNBOOK_HOSTGW,
        RUNBOOK_VXLAN_DR,
        ['Backend.Type: have host-gw, want vxlan', 'Backend.DirectRouting: have (unset), want true'],
      ],
      [RUNBOOK_VXLAN_DR, RUNBOOK_VXLAN, ['Backend.DirectRouting: have true, want false']],
      [
        RUNBOOK_VXLAN,
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4096}}',
        ['Backend.VNI: have 1, want 4096'],
      ],
      [
        RUNBOOK_HOSTGW,
        '{"Network": "172.8.0.0/16", "SubnetLen": 26, "Backend": {"Type": "host-gw"}}',
        [
          'Network: have 172.7.0.0/16, want 172.8.0.0/16',
          'SubnetLen: have 24, want 26',
          'SubnetMin: have 172.7.1.0, want 172.8.0.64',
          'SubnetMax: have 172.7.255.0, want 172.8.255.192',
        ],
      ],
      ['{"Network": "172.7.0.0/16"}', RUNBOOK_HOSTGW, ['Backend.Type: have udp, want host-gw']],
      [
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "aws-vpc", "RouteTableID": "rtb-1"}}',
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "aws-vpc", "routetableid": "rtb-2"}}',
        ['Backend.routetableid: have "rtb-1", want "rtb-2"'],
      ],
    ];
    for (const [a, b, want] of table) {
      test(`${a} -> ${b}`, () => assert.deepEqual(diffNetworkConfig(a, b), want));
    }
  });

  describe('backendMtu', () => {
    const mtu = (text: string, iface = 1500, opts = {}) =>
      backendMtu(parseNetworkConfig(`{"Network": "172.7.0.0/16", "Backend": ${text}}`).backend, iface, opts);
    test('host-gw keeps the interface MTU: the FLANNEL_MTU real flanneld wrote (22-hostgw)', () => {
      assert.equal(mtu('{"Type": "host-gw"}'), parseSubnetEnv(fixture('v0.11.0/22-hostgw-nomasq-subnet-h21.env')).mtu);
      assert.equal(mtu('{"Type": "host-gw"}'), 1500);
    });
    test('vxlan takes 50: 1450 as real flanneld wrote (61-vxlan, v0.20.2 41-vxlan)', () => {
      assert.equal(mtu('{"Type": "vxlan"}'), parseSubnetEnv(fixture('v0.11.0/61-vxlan-subnet-h21.env')).mtu);
      assert.equal(
        mtu('{"Type": "VxLAN", "Directrouting": true}'),
        parseSubnetEnv(fixture('v0.20.2/41-vxlan-subnet-h22.env')).mtu,
      );
    });
    const table: [string, number, number, object?][] = [
      ['{"Type": "udp"}', 1500, 1472],
      ['{"Type": "ipip"}', 1500, 1480],
      ['{"Type": "ipsec", "PSK": "x"}', 1500, 1423],
      ['{"Type": "ipsec", "UDPEncap": true}', 1500, 1415],
      ['{"Type": "wireguard"}', 1500, 1420],
      ['{"Type": "aws-vpc"}', 9001, 9001],
      ['{"Type": "vxlan"}', 9000, 8950],
      ['{"Type": "vxlan", "MTU": 1400}', 1500, 1450],
      ['{"Type": "vxlan", "MTU": 1400}', 1500, 1350, { honourMtuOption: true }],
    ];
    for (const [backend, iface, want, opts] of table) {
      test(`${backend} on ${iface}${opts ? ' (MTU option honoured)' : ''} -> ${want}`, () =>
        assert.equal(mtu(backend, iface, opts), want));
    }
  });

  describe('subnetsOf and subnetFitsConfig', () => {
    const cfg = parseNetworkConfig(RUNBOOK_HOSTGW);
    test('a /16 with /24 leases offers 255 subnets, 172.7.1.0/24 to 172.7.255.0/24', () => {
      const range = subnetsOf(cfg);
      assert.equal(range.count, 255);
      assert.equal(range.first.toString(), '172.7.1.0/24');
      assert.equal(range.last.toString(), '172.7.255.0/24');
      const it = range[Symbol.iterator]();
      assert.deepEqual([it.next().value, it.next().value].map(String), ['172.7.1.0/24', '172.7.2.0/24']);
      assert.equal([...range].length, 255);
    });
    test('the count follows SubnetMin/SubnetMax', () => {
      const small = parseNetworkConfig(
        '{"Network": "172.7.0.0/16", "SubnetMin": "172.7.21.0", "SubnetMax": "172.7.22.0", "Backend": {"Type": "host-gw"}}',
      );
      assert.deepEqual([...subnetsOf(small)].map(String), ['172.7.21.0/24', '172.7.22.0/24']);
      assert.equal(subnetsOf(parseNetworkConfig('{"Network": "10.0.0.0/8"}')).count, 65535);
    });
    test("the runbook's node subnets fit; the skipped first one, other lengths and outsiders do not", () => {
      const fits = (s: string) => subnetFitsConfig(cfg, Ip4Net.parse(s));
      assert.equal(fits('172.7.21.0/24'), true);
      assert.equal(fits('172.7.22.0/24'), true);
      // subnet.env form is accepted: flannel masks FLANNEL_SUBNET before comparing
      assert.equal(fits('172.7.21.1/24'), true);
      assert.equal(fits('172.7.0.0/24'), false);
      assert.equal(fits('172.7.21.0/25'), false);
      assert.equal(fits('172.8.21.0/24'), false);
      assert.equal(subnetsOf(cfg).includes(Ip4Net.parse('172.7.21.0/24')), true);
      assert.equal(subnetsOf(cfg).includes(Ip4Net.parse('172.7.21.1/24')), false);
    });
  });
});
