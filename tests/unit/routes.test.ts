// lib/routes.ts: parse, plan, diff and batch. Fixtures are the real daemon's `ip -j route`
// output, cut byte-exact from the observed v0.11.0 and v0.20.2 runs (docs/flannel-facts.md, fixtures) (h21's and
// h22's sections of NN-*-routes.txt; the file name keeps the NN).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { OutputError } from '../../lib/core/errors.ts';
import {
  diffRoutes,
  formatIpBatch,
  formatRoute,
  parseIpRoute,
  planDirectRoutingRoutes,
  planHostGwRoutes,
  planRouteCommands,
  planVxlanRoutes,
  routeEqual,
  routeKey,
  type PeerLease,
  type Route,
} from '../../lib/model/routes.ts';

const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url), 'utf8');
const net = (s: string) => Ip4Net.parse(s);
const ip = (s: string) => Ip4.parse(s);
const NETWORK = net('172.7.0.0/16');
const lease = (subnet: string, publicIp: string, backendType?: string): PeerLease => ({
  subnet: net(subnet),
  publicIp: ip(publicIp),
  ...(backendType ? { backendType } : {}),
});
const H21 = { publicIp: ip('10.4.7.21'), iface: 'eth0' };
const LEASES = [lease('172.7.21.0/24', '10.4.7.21', 'host-gw'), lease('172.7.22.0/24', '10.4.7.22', 'host-gw')];
const words = (rs: readonly Route[]) => rs.map(formatRoute);

describe('routes', () => {
  describe('parseIpRoute on the real daemon output', () => {
    const cases: { file: string; want: string[] }[] = [
      {
        file: 'v0.11.0/22-hostgw-nomasq-route.json',
        want: [
          '10.4.0.0/16 dev eth0 proto kernel scope link',
          '172.7.21.0/24 dev docker0 proto kernel scope link',
          '172.7.22.0/24 via 10.4.7.22 dev eth0',
        ],
      },
      {
        file: 'v0.11.0/22-hostgw-nomasq-route-h22.json',
        want: [
          '10.4.0.0/16 dev eth0 proto kernel scope link',
          '172.7.21.0/24 via 10.4.7.21 dev eth0',
          '172.7.22.0/24 dev docker0 proto kernel scope link',
        ],
      },
      {
        file: 'v0.11.0/61-vxlan-route.json',
        want: [
          '10.4.0.0/16 dev eth0 proto kernel scope link',
          '172.7.21.0/24 dev docker0 proto kernel scope link',
          '172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink',
        ],
      },
      {
        file: 'v0.20.2/12-hostgw-nomasq-route.json',
        want: [
          '10.4.0.0/16 dev eth0 proto kernel scope link',
          '172.7.21.0/24 dev docker0 proto kernel scope link',
          '172.7.22.0/24 via 10.4.7.22 dev eth0',
        ],
      },
      {
        file: 'v0.20.2/41-vxlan-route.json',
        want: [
          '10.4.0.0/16 dev eth0 proto kernel scope link',
          '172.7.21.0/24 dev docker0 proto kernel scope link',
          '172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink',
        ],
      },
    ];
    for (const c of cases) {
      test(`reads ${c.file} as the daemon's routes`, () => {
        assert.deepEqual(words(parseIpRoute(fixture(c.file))), c.want);
      });
    }

    test('keeps the fields of a host-gw route and marks onlink from flags', () => {
      const [, , hostgw] = parseIpRoute(fixture('v0.11.0/22-hostgw-nomasq-route.json'));
      assert.equal(hostgw!.dst.toString(), '172.7.22.0/24');
      assert.equal(hostgw!.via?.toString(), '10.4.7.22');
      assert.equal(hostgw!.dev, 'eth0');
      assert.equal(hostgw!.onlink, undefined);
      const [, , vxlan] = parseIpRoute(fixture('v0.11.0/61-vxlan-route.json'));
      assert.equal(vxlan!.onlink, true);
    });
  });

  describe('parseIpRoute on `show table all` shapes', () => {
    // Captured from iproute2 6.1 in a throwaway namespace (default, metric, table 100,
    // local/broadcast, deviceless types, a multipath default, an IPv6 local route).
    const all = JSON.stringify([
      { dst: '172.7.94.0/24', gateway: '10.4.7.94', dev: 'veth0', table: '100', flags: [] },
      { dst: 'default', gateway: '10.4.0.1', dev: 'veth0', flags: [] },
      { dst: '172.7.95.0/24', gateway: '10.4.7.95', dev: 'veth0', protocol: 'static', metric: 100, flags: [] },
      { type: 'unreachable', dst: '172.7.99.0/24', flags: [] },
      { type: 'blackhole', dst: '172.7.98.0/24', flags: [] },
      {
        type: 'local',
        dst: '127.0.0.1',
        dev: 'lo',
        table: 'local',
        protocol: 'kernel',
        scope: 'host',
        prefsrc: '127.0.0.1',
        flags: [],
      },
      {
        type: 'broadcast',
        dst: '10.4.255.255',
        dev: 'veth0',
        table: 'local',
        protocol: 'kernel',
        scope: 'link',
        prefsrc: '10.4.7.21',
        flags: [],
      },
      {
        dst: 'default',
        flags: [],
        nexthops: [
          { gateway: '10.4.0.1', dev: 'veth0', weight: 1, flags: [] },
          { gateway: '10.5.0.1', dev: 'veth1', weight: 1, flags: [] },
        ],
      },
      {
        type: 'local',
        dst: '::1',
        dev: 'lo',
        table: 'local',
        protocol: 'kernel',
        metric: 0,
        flags: [],
        pref: 'medium',
      },
    ]);
    test('reads every IPv4 shape and skips IPv6 entries', () => {
      assert.deepEqual(words(parseIpRoute(all)), [
        '172.7.94.0/24 via 10.4.7.94 dev veth0 table 100',
        'default via 10.4.0.1 dev veth0',
        '172.7.95.0/24 via 10.4.7.95 dev veth0 proto static metric 100',
        'unreachable 172.7.99.0/24',
        'blackhole 172.7.98.0/24',
        'local 127.0.0.1 dev lo table local proto kernel scope host',
        'broadcast 10.4.255.255 dev veth0 table local proto kernel scope link',
        'default nexthop via 10.4.0.1 dev veth0 nexthop via 10.5.0.1 dev veth1',
      ]);
    });
    test('reads "default" as 0.0.0.0/0 and a bare address as a /32', () => {
      const rs = parseIpRoute(all);
      assert.equal(rs[1]!.dst.toString(), '0.0.0.0/0');
      assert.equal(rs[5]!.dst.toString(), '127.0.0.1/32');
      assert.equal(rs[3]!.dev, '');
    });
    test('reads an empty table', () => {
      assert.deepEqual(parseIpRoute('[]\n'), []);
    });
  });

  describe('parseIpRoute rejects bad output with one line naming the problem', () => {
    const cases: { name: string; input: string; message: string }[] = [
      {
        name: 'text output instead of JSON',
        input: '172.7.22.0/24 via 10.4.7.22 dev eth0\n',
        message: /^ip -j route "172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0": not JSON \(.*\), e\.g\. \[/.source,
      },
      { name: 'empty output', input: '', message: /^ip -j route "\(empty\)": not JSON/.source },
      {
        name: 'an object instead of an array',
        input: '{"dst":"default"}',
        message: /^ip -j route "\{\\"dst\\":\\"default\\"\}": must be a JSON array of routes, e\.g\. /.source,
      },
      {
        name: 'an entry that is not an object',
        input: '["default"]',
        message: /^ip -j route\[0\] "default": each route must be a JSON object/.source,
      },
      {
        name: 'a route without dst',
        input: '[{"gateway":"10.4.7.22","dev":"eth0"}]',
        message: /^ip -j route\[0\]\.dst "missing": every route needs a "dst" string, e\.g\. "172\.7\.22\.0\/24"$/
          .source,
      },
      {
        name: 'a unicast route without dev',
        input: '[{"dst":"10.4.0.0/16","protocol":"kernel"},{"dst":"172.7.22.0/24","gateway":"10.4.7.22"}]',
        message: /^ip -j route\[0\]\.dev "missing": the unicast route to 10\.4\.0\.0\/16 needs a "dev", e\.g\. /.source,
      },
      {
        name: 'a bad dst prefix',
        input: '[{"dst":"172.7.22.0/33","dev":"eth0"}]',
        message: /^ip -j route\[0\]\.dst "172\.7\.22\.0\/33": prefix must be 0-32/.source,
      },
      {
        name: 'a gateway that is not IPv4',
        input: '[{"dst":"172.7.22.0/24","gateway":"fe80::1","dev":"eth0"}]',
        message: /^ip -j route\[0\]\.gateway "fe80::1": gateway must be an IPv4 address/.source,
      },
      {
        name: 'flags that are not a list of words',
        input: '[{"dst":"172.7.22.0/24","dev":"eth0","flags":"onlink"}]',
        message: /^ip -j route\[0\]\.flags "onlink": must be an array of strings, e\.g\. \["onlink"\]$/.source,
      },
      {
        name: 'a next hop without dev',
        input: '[{"dst":"default","nexthops":[{"gateway":"10.4.0.1"}]}]',
        message: /^ip -j route\[0\]\.nexthops\[0\]\.dev .*: every next hop needs a "dev"/.source,
      },
    ];
    for (const c of cases) {
      test(`rejects ${c.name}`, () => {
        assert.throws(
          () => parseIpRoute(c.input),
          (e: unknown) => {
            assert.ok(e instanceof OutputError, 'unreadable output is exit 3, not a usage error');
            assert.match(e.message, new RegExp(c.message));
            assert.ok(!e.message.includes('\n'), 'one line');
            return true;
          },
        );
      });
    }
  });

  describe('routeKey and routeEqual', () => {
    const base: Route = { dst: net('172.7.22.0/24'), via: ip('10.4.7.22'), dev: 'eth0' };
    test('identity is the destination network, host bits ignored', () => {
      assert.equal(routeKey(base), '172.7.22.0/24');
      assert.equal(routeKey({ dst: net('172.7.22.9/24') }), '172.7.22.0/24');
    });
    const cases: { name: string; other: Route; equal: boolean }[] = [
      { name: 'the same route with proto and scope', other: { ...base, proto: 'boot', scope: 'global' }, equal: true },
      { name: 'the same route with a metric', other: { ...base, metric: 100 }, equal: true },
      { name: 'another gateway', other: { ...base, via: ip('10.4.7.99') }, equal: false },
      { name: 'another device', other: { ...base, dev: 'eth1' }, equal: false },
      { name: 'onlink set', other: { ...base, onlink: true }, equal: false },
      { name: 'no gateway', other: { dst: base.dst, dev: 'eth0' }, equal: false },
      { name: 'another prefix', other: { ...base, dst: net('172.7.22.0/25') }, equal: false },
    ];
    for (const c of cases) {
      test(`${c.equal ? 'equals' : 'differs from'} ${c.name}`, () => {
        assert.equal(routeEqual(base, c.other), c.equal);
        assert.equal(routeEqual(c.other, base), c.equal);
      });
    }
  });

  describe('planners', () => {
    test('host-gw: one route per other node, none for our own lease', () => {
      assert.deepEqual(words(planHostGwRoutes(LEASES, H21)), ['172.7.22.0/24 via 10.4.7.22 dev eth0']);
      assert.deepEqual(words(planHostGwRoutes(LEASES, { publicIp: ip('10.4.7.22'), iface: 'ens33' })), [
        '172.7.21.0/24 via 10.4.7.21 dev ens33',
      ]);
    });
    test('host-gw: matches what flanneld v0.11.0 installed on h21 and h22', () => {
      for (const [file, self] of [
        ['v0.11.0/22-hostgw-nomasq-route.json', H21],
        ['v0.11.0/22-hostgw-nomasq-route-h22.json', { publicIp: ip('10.4.7.22'), iface: 'eth0' }],
      ] as const) {
        const diff = diffRoutes(planHostGwRoutes(LEASES, self), parseIpRoute(fixture(file)), NETWORK);
        assert.deepEqual(planRouteCommands(diff), [], file);
      }
    });
    test('host-gw: skips leases of another backend (flannel: "Ignoring non-host-gw subnet")', () => {
      const leases = [...LEASES, lease('172.7.23.0/24', '10.4.7.23', 'vxlan'), lease('172.7.24.0/24', '10.4.7.24')];
      assert.deepEqual(words(planHostGwRoutes(leases, H21)), [
        '172.7.22.0/24 via 10.4.7.22 dev eth0',
        '172.7.24.0/24 via 10.4.7.24 dev eth0',
      ]);
    });
    test('host-gw: no peers, no routes', () => {
      assert.deepEqual(planHostGwRoutes([LEASES[0]!], H21), []);
      assert.deepEqual(planHostGwRoutes([], H21), []);
    });
    test('vxlan: via the subnet address on flannel.VNI, onlink, as flanneld installed it', () => {
      const leases = [lease('172.7.21.0/24', '10.4.7.21', 'vxlan'), lease('172.7.22.0/24', '10.4.7.22', 'vxlan')];
      assert.deepEqual(words(planVxlanRoutes(leases, H21, { vni: 1 })), [
        '172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink',
      ]);
      assert.deepEqual(words(planVxlanRoutes(leases, H21, { vni: 4096 })), [
        '172.7.22.0/24 via 172.7.22.0 dev flannel.4096 onlink',
      ]);
      const diff = diffRoutes(
        planVxlanRoutes(leases, H21, { vni: 1 }),
        parseIpRoute(fixture('v0.11.0/61-vxlan-route.json')),
        NETWORK,
      );
      assert.deepEqual(planRouteCommands(diff), []);
    });
    test('DirectRouting: same-L2 peers host-gw style, the others over flannel.VNI', () => {
      const leases = [
        lease('172.7.21.0/24', '10.4.7.21', 'vxlan'),
        lease('172.7.22.0/24', '10.4.7.22', 'vxlan'),
        lease('172.7.30.0/24', '192.168.9.30', 'vxlan'),
        lease('172.7.31.0/24', '10.4.7.31', 'host-gw'),
      ];
      const sameL2 = (p: Ip4) => net('10.4.0.0/16').contains(p);
      assert.deepEqual(words(planDirectRoutingRoutes(leases, H21, sameL2)), [
        '172.7.22.0/24 via 10.4.7.22 dev eth0',
        '172.7.30.0/24 via 172.7.30.0 dev flannel.1 onlink',
      ]);
      assert.deepEqual(words(planDirectRoutingRoutes(leases, { ...H21, vni: 7 }, () => false)), [
        '172.7.22.0/24 via 172.7.22.0 dev flannel.7 onlink',
        '172.7.30.0/24 via 172.7.30.0 dev flannel.7 onlink',
      ]);
      const diff = diffRoutes(
        planDirectRoutingRoutes(leases.slice(0, 2), H21, sameL2),
        parseIpRoute(fixture('v0.11.0/71-vxlan-dr-route.json')),
        NETWORK,
      );
      assert.deepEqual(planRouteCommands(diff), []);
    });
  });

  describe('diffRoutes', () => {
    const kernel = (dst: string, dev: string): Route => ({ dst: net(dst), dev, proto: 'kernel', scope: 'link' });
    const gw = (dst: string, via: string, dev = 'eth0', extra: Partial<Route> = {}): Route => ({
      dst: net(dst),
      via: ip(via),
      dev,
      ...extra,
    });
    const BASE = [kernel('10.4.0.0/16', 'eth0'), kernel('172.7.21.0/24', 'docker0'), gw('0.0.0.0/0', '10.4.0.1')];
    const desired = [gw('172.7.22.0/24', '10.4.7.22'), gw('172.7.23.0/24', '10.4.7.23')];
    const show = (d: ReturnType<typeof diffRoutes>) => ({
      add: d.add.map((r) => `${formatRoute(r)} # ${r.why}`),
      replace: d.replace.map((c) => `${formatRoute(c.from)} -> ${formatRoute(c.to)} # ${c.why}`),
      remove: d.remove.map((r) => `${formatRoute(r)} # ${r.why}`),
      conflicts: d.conflicts.map((c) => c.why),
    });
    const none = { add: [], replace: [], remove: [], conflicts: [] };
    const cases: { name: string; actual: Route[]; own?: string; want: Partial<ReturnType<typeof show>> }[] = [
      {
        name: 'adds the missing routes with the lease in the why',
        actual: BASE,
        want: {
          add: [
            '172.7.22.0/24 via 10.4.7.22 dev eth0 # no route for lease 172.7.22.0/24 (10.4.7.22)',
            '172.7.23.0/24 via 10.4.7.23 dev eth0 # no route for lease 172.7.23.0/24 (10.4.7.23)',
          ],
        },
      },
      {
        name: 'is empty when the kernel already matches (proto boot does not count)',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '10.4.7.22', 'eth0', { proto: 'boot', scope: 'global' }),
          gw('172.7.23.0/24', '10.4.7.23'),
        ],
        want: {},
      },
      {
        name: 'replaces a route via the wrong gateway',
        actual: [...BASE, gw('172.7.22.0/24', '10.4.7.99'), gw('172.7.23.0/24', '10.4.7.23')],
        want: {
          replace: [
            '172.7.22.0/24 via 10.4.7.99 dev eth0 -> 172.7.22.0/24 via 10.4.7.22 dev eth0 # route via 10.4.7.99 but the lease says 10.4.7.22',
          ],
        },
      },
      {
        name: 'replaces a vxlan route left over from a backend switch',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '172.7.22.0', 'flannel.1', { onlink: true }),
          gw('172.7.23.0/24', '10.4.7.23'),
        ],
        want: {
          replace: [
            '172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink -> 172.7.22.0/24 via 10.4.7.22 dev eth0 # route is "172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink" but the lease needs "172.7.22.0/24 via 10.4.7.22 dev eth0"',
          ],
        },
      },
      {
        name: 'removes a stale gateway route inside the network',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '10.4.7.22'),
          gw('172.7.23.0/24', '10.4.7.23'),
          gw('172.7.99.0/24', '10.4.7.99'),
        ],
        want: { remove: ['172.7.99.0/24 via 10.4.7.99 dev eth0 # no lease for 172.7.99.0/24: stale'] },
      },
      {
        name: 'removes a stale onlink vxlan route inside the network',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '10.4.7.22'),
          gw('172.7.23.0/24', '10.4.7.23'),
          gw('172.7.30.0/24', '172.7.30.0', 'flannel.1', { onlink: true }),
        ],
        want: { remove: ['172.7.30.0/24 via 172.7.30.0 dev flannel.1 onlink # no lease for 172.7.30.0/24: stale'] },
      },
      {
        name: 'never removes kernel link routes, the default route, or routes outside the network',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '10.4.7.22'),
          gw('172.7.23.0/24', '10.4.7.23'),
          kernel('172.7.50.0/24', 'cni0'),
          gw('10.9.0.0/16', '10.4.0.1'),
          gw('172.0.0.0/8', '10.4.0.1'),
          { dst: net('172.7.98.0/24'), dev: '', type: 'blackhole' },
          gw('172.7.97.0/24', '10.4.7.97', 'eth0', { table: '100' }),
          { type: 'local', dst: net('172.7.21.1/32'), dev: 'docker0', table: 'local', proto: 'kernel', scope: 'host' },
        ],
        want: {},
      },
      {
        name: 'leaves our own subnet alone even with a stale gateway route there',
        actual: [
          kernel('10.4.0.0/16', 'eth0'),
          gw('172.7.21.0/24', '10.4.7.99'),
          gw('172.7.22.0/24', '10.4.7.22'),
          gw('172.7.23.0/24', '10.4.7.23'),
        ],
        own: '172.7.21.0/24',
        want: {},
      },
      {
        name: 'removes a duplicate route with another metric to a wanted destination',
        actual: [
          ...BASE,
          gw('172.7.22.0/24', '10.4.7.22'),
          gw('172.7.22.0/24', '10.4.7.98', 'eth0', { metric: 100 }),
          gw('172.7.23.0/24', '10.4.7.23'),
        ],
        want: {
          remove: ['172.7.22.0/24 via 10.4.7.98 dev eth0 metric 100 # second route for 172.7.22.0/24: duplicate'],
        },
      },
      {
        name: 'does not replace a route the toolkit does not own: reports a conflict',
        actual: [...BASE, kernel('172.7.22.0/24', 'cni0'), gw('172.7.23.0/24', '10.4.7.23')],
        want: {
          conflicts: [
            '"172.7.22.0/24 dev cni0 proto kernel scope link" is in the way and is not a route the toolkit owns: not replaced',
          ],
        },
      },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const d = diffRoutes(desired, c.actual, NETWORK, c.own ? { ownSubnet: net(c.own) } : {});
        assert.deepEqual(show(d), { ...none, ...c.want });
      });
    }

    test('refuses to route our own subnet away when a lease for it names another node', () => {
      const d = diffRoutes([gw('172.7.21.0/24', '10.4.7.22')], BASE, NETWORK, { ownSubnet: net('172.7.21.0/24') });
      assert.deepEqual(show(d), {
        ...none,
        conflicts: ["172.7.21.0/24 overlaps this node's own subnet 172.7.21.0/24: not routed away via 10.4.7.22"],
      });
    });

    test('rejects two desired routes for one destination', () => {
      assert.throws(
        () => diffRoutes([gw('172.7.22.0/24', '10.4.7.22'), gw('172.7.22.0/24', '10.4.7.23')], [], NETWORK),
        /^OutputError: desired routes "172\.7\.22\.0\/24": two routes for one destination/,
      );
    });
  });

  describe('formatIpBatch and planRouteCommands', () => {
    const gw = (dst: string, via: string, dev = 'eth0', extra: Partial<Route> = {}): Route => ({
      dst: net(dst),
      via: ip(via),
      dev,
      ...extra,
    });
    test('is one ip -batch payload: replace for add and replace, del last', () => {
      const actual = [
        gw('172.7.22.0/24', '10.4.7.99', 'eth0', { metric: 100 }),
        gw('172.7.30.0/24', '172.7.30.0', 'flannel.1', { onlink: true }),
        gw('172.7.31.0/24', '10.4.7.31', 'eth0', { metric: 50 }),
      ];
      const desired = [
        gw('172.7.22.0/24', '10.4.7.22'),
        gw('172.7.23.0/24', '172.7.23.0', 'flannel.1', { onlink: true }),
      ];
      const diff = diffRoutes(desired, actual, NETWORK);
      const payload = [
        'route replace 172.7.23.0/24 via 172.7.23.0 dev flannel.1 onlink',
        'route replace 172.7.22.0/24 via 10.4.7.22 dev eth0 metric 100',
        'route del 172.7.30.0/24 via 172.7.30.0 dev flannel.1 onlink',
        'route del 172.7.31.0/24 via 10.4.7.31 dev eth0 metric 50',
        '',
      ].join('\n');
      assert.equal(formatIpBatch(diff), payload);
      assert.deepEqual(planRouteCommands(diff), [
        {
          argv: ['ip', '-batch', '-'],
          input: payload,
          why: "make the kernel's flannel routes match the leases (add 1, replace 1, remove 2 stale)",
        },
      ]);
    });
    test('the runbook node: one route to add', () => {
      const diff = diffRoutes(planHostGwRoutes(LEASES, H21), [], NETWORK);
      assert.deepEqual(planRouteCommands(diff), [
        {
          argv: ['ip', '-batch', '-'],
          input: 'route replace 172.7.22.0/24 via 10.4.7.22 dev eth0\n',
          why: "make the kernel's flannel routes match the leases (add 1)",
        },
      ]);
    });
    test('nothing to do: empty payload and no command, even with conflicts', () => {
      const diff = diffRoutes([gw('172.7.21.0/24', '10.4.7.22')], [], NETWORK, { ownSubnet: net('172.7.21.0/24') });
      assert.equal(diff.conflicts.length, 1);
      assert.equal(formatIpBatch(diff), '');
      assert.deepEqual(planRouteCommands(diff), []);
    });
  });
});
