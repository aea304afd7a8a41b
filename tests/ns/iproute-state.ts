// A small flannel node's kernel state in throw-away network namespaces, read twice: by this
// machine's iproute2 (JSON) and by the CentOS 7 iproute2 4.11 in tests/fixtures/el7-tools
// (text). Shared by tests/fixtures/iproute-text/capture.ts (which saves the answers as
// fixtures) and tests/ns/iproute-text.test.ts (which compares them live).
//
// Namespaces are named `frbip<pid>x<random>-<role>`: the pid of the process that made them,
// so leftovers of a crashed run (its pid gone) can be told from another run's live state.
// Nothing here touches the root namespace: every command runs under `ip -n NS` or
// `ip netns exec NS`.

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { addNetns, deleteNetns, execIn, ipBatch, listNetns } from '../../lab/netns.ts';
import { processStartTime } from '../../lab/proc.ts';

/** The 4.11 binaries (test tools only: the toolkit never ships or needs them). */
export const EL7_IP = fileURLToPath(new URL('../fixtures/el7-tools/bin/ip', import.meta.url));
export const EL7_BRIDGE = fileURLToPath(new URL('../fixtures/el7-tools/bin/bridge', import.meta.url));

const NAME_RE = /^frbip(\d+)x[0-9a-f]+-(node|peer|pod)$/;

export interface IprouteState {
  /** hdss7-21 as flanneld (vxlan + DirectRouting) and dockerd leave it */
  readonly node: string;
  /** the other end of the node's eth0 (hdss7-22's side of the L2 segment) */
  readonly peer: string;
  /** a pod: the far end of one of docker0's veth ports */
  readonly pod: string;
  /** the docker0 port whose peer is in `pod` */
  readonly port: string;
}

/** `frbip<pid>x<hex>`: unique per run, and the pid tells a crashed run's leftovers apart. */
export function newPrefix(): string {
  return `frbip${process.pid}x${randomBytes(3).toString('hex')}`;
}

/**
 * Deletes namespaces named like ours whose creating process is gone. Another run's live
 * state (its pid alive) and anything not matching the pattern are left alone.
 */
export async function removeLeftovers(): Promise<string[]> {
  const gone: string[] = [];
  for (const ns of await listNetns()) {
    const m = NAME_RE.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    if (processStartTime(pid) !== undefined) continue; // its run is still going
    await deleteNetns(ns);
    gone.push(ns);
  }
  return gone;
}

/**
 * Builds the state. `created(ns)` is called the moment each namespace exists, before anything
 * is put in it, so the caller's teardown covers a build that fails halfway.
 */
export async function buildIprouteState(prefix: string, created: (ns: string) => void): Promise<IprouteState> {
  const s: IprouteState = { node: `${prefix}-node`, peer: `${prefix}-peer`, pod: `${prefix}-pod`, port: 'veth3f2a' };
  for (const ns of [s.node, s.peer, s.pod]) {
    await addNetns(ns);
    created(ns);
  }
  // No IPv6 DAD: addresses are final at once, so the two reads see the same flags.
  for (const ns of [s.node, s.peer, s.pod]) {
    await execIn(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']);
  }
  await ipBatch(s.node, [
    'link set lo up',
    // the L2 segment 10.4.0.0/16: eth0 here, eth0 in the peer namespace
    `link add eth0 address 52:54:00:04:07:21 type veth peer name eth0 address 52:54:00:04:07:22 netns ${s.peer}`,
    'addr add 10.4.7.21/16 dev eth0',
    'addr add 10.4.7.121/16 dev eth0',
    'link set eth0 up',
    // flannel.1 as flanneld v0.11 makes it (VtepMAC fixed so the fixtures are stable)
    'link add flannel.1 address 72:af:40:82:41:23 type vxlan id 1 local 10.4.7.21 dev eth0 dstport 8472 nolearning',
    'link set flannel.1 mtu 1450',
    'addr add 172.7.21.0/32 dev flannel.1',
    'link set flannel.1 up',
    // docker0 with two veth ports: one to a pod namespace, one whose peer stays here, down
    'link add docker0 address 02:42:ac:07:15:01 type bridge',
    'link set docker0 mtu 1450',
    'addr add 172.7.21.1/24 dev docker0',
    'link set docker0 up',
    `link add ${s.port} address 6e:1d:3f:2a:00:01 mtu 1450 type veth peer name eth0 address 02:42:ac:07:15:02 mtu 1450 netns ${s.pod}`,
    `link set ${s.port} master docker0`,
    `link set ${s.port} up`,
    'link add veth9c1b address 6e:1d:9c:1b:00:01 type veth peer name veth9c1b-p address 6e:1d:9c:1b:00:02',
    'link set veth9c1b master docker0',
    'link set veth9c1b up',
    // a link without carrier and an address on it: its connected route is `linkdown`
    'link add lnk0 address 6e:1d:00:00:00:01 type veth peer name lnk1 address 6e:1d:00:00:00:02',
    'link set lnk0 alias "to the storage network"',
    'addr add 192.168.99.1/24 dev lnk0',
    'addr add 192.168.98.1 peer 192.168.98.2/32 dev lnk0',
    'addr add 192.168.97.1/24 dev lnk0 label lnk0:tmp valid_lft 3600 preferred_lft 1800',
    'link set lnk0 up',
    // routes: host-gw / DirectRouting peer, vxlan peer (onlink), default routes with metrics
    'route add default via 10.4.0.1 dev eth0 proto dhcp metric 100',
    'route add default via 10.4.0.2 dev eth0 metric 200',
    'route add 10.5.0.0/16 via 10.4.7.254 dev eth0 proto static metric 100',
    'route add 172.7.22.0/24 via 10.4.7.22 dev eth0',
    'route add 172.7.23.0/24 via 172.7.23.0 dev flannel.1 onlink',
    'route add 172.7.24.0/24 via 10.4.7.24 dev eth0 metric 50',
    'route add 10.4.7.99 dev eth0 scope link',
    'route add 10.94.0.0/16 via 10.4.7.254 dev eth0 src 10.4.7.21 mtu lock 1400 advmss 1360',
    'route add 10.96.0.0/16 proto static nexthop via 10.4.7.22 dev eth0 weight 1 nexthop via 10.4.7.254 dev eth0 weight 2',
    'route add blackhole 172.7.99.0/24',
    'route add unreachable 10.99.0.0/16',
    'route add prohibit 10.98.0.0/16',
    'route add throw 10.97.0.0/16 metric 7',
    'route add 10.93.0.0/16 via 10.4.7.254 dev eth0 table 100',
    // the vxlan peer 172.7.23.0/24 on 10.5.7.23: PERMANENT neighbour and fdb entry, as flanneld
    'neigh add 172.7.23.0 lladdr 5a:3f:40:67:88:d9 dev flannel.1 nud permanent',
    'neigh add 172.7.25.0 lladdr 5a:3f:40:67:88:da dev flannel.1 nud stale',
    'neigh add 172.7.26.0 dev flannel.1 nud incomplete',
    'neigh add fe80::5a3f:40ff:fe67:88d9 lladdr 5a:3f:40:67:88:d9 dev flannel.1 nud permanent',
  ]);
  await execIn(s.node, ['bridge', '-batch', '-'], {
    input: [
      'fdb add 5a:3f:40:67:88:d9 dev flannel.1 dst 10.5.7.23 self permanent',
      'fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.5.7.24 self permanent',
      'fdb append 00:00:00:00:00:00 dev flannel.1 dst 10.5.7.25 port 4789 vni 2 self permanent',
      'fdb add 5a:3f:40:67:88:db dev flannel.1 dst 10.5.7.26 self static',
      'fdb add 5a:3f:40:67:88:dc dev flannel.1 dst 10.5.7.27 via eth0 self',
      '',
    ].join('\n'),
  });
  await ipBatch(s.peer, ['link set lo up', 'addr add 10.4.7.22/16 dev eth0', 'link set eth0 up']);
  await ipBatch(s.pod, [
    'link set lo up',
    'addr add 172.7.21.2/24 dev eth0',
    'link set eth0 up',
    'route add default via 172.7.21.1 dev eth0',
  ]);
  return s;
}

export async function destroyIprouteState(namespaces: readonly string[]): Promise<void> {
  for (const ns of namespaces) {
    if (!NAME_RE.test(ns)) throw new Error(`not a namespace of this test: ${ns}`);
    await deleteNetns(ns);
  }
}

/** One observation: the modern tools' JSON and the 4.11 tools' text, run back to back. */
export interface CapturePair {
  /** fixture base name: `<name>.json` and `<name>.txt` */
  readonly name: string;
  readonly netns: string;
  readonly json: readonly string[];
  readonly text: readonly string[];
}

export function capturePairs(s: IprouteState): CapturePair[] {
  const n = s.node;
  return [
    { name: 'route', netns: n, json: ['ip', '-j', 'route', 'show'], text: [EL7_IP, 'route', 'show'] },
    {
      name: 'route-table-all',
      netns: n,
      json: ['ip', '-j', 'route', 'show', 'table', 'all'],
      text: [EL7_IP, 'route', 'show', 'table', 'all'],
    },
    { name: 'addr-d', netns: n, json: ['ip', '-j', '-d', 'addr', 'show'], text: [EL7_IP, '-d', 'addr', 'show'] },
    { name: 'addr-4', netns: n, json: ['ip', '-j', '-4', 'addr', 'show'], text: [EL7_IP, '-4', 'addr', 'show'] },
    {
      name: 'addr-d-4',
      netns: n,
      json: ['ip', '-j', '-d', '-4', 'addr', 'show'],
      text: [EL7_IP, '-d', '-4', 'addr', 'show'],
    },
    {
      name: 'pod-addr-d',
      netns: s.pod,
      json: ['ip', '-j', '-d', 'addr', 'show'],
      text: [EL7_IP, '-d', 'addr', 'show'],
    },
    {
      name: 'neigh',
      netns: n,
      json: ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'],
      text: [EL7_IP, 'neigh', 'show', 'dev', 'flannel.1'],
    },
    {
      name: 'fdb',
      netns: n,
      json: ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'],
      text: [EL7_BRIDGE, 'fdb', 'show', 'dev', 'flannel.1'],
    },
    {
      name: 'fdb-port',
      netns: n,
      json: ['bridge', '-j', 'fdb', 'show', 'dev', s.port],
      text: [EL7_BRIDGE, 'fdb', 'show', 'dev', s.port],
    },
  ];
}

export interface Captured {
  readonly json: string;
  readonly text: string;
}

export async function capture(p: CapturePair): Promise<Captured> {
  const json = (await execIn(p.netns, p.json)).stdout;
  const text = (await execIn(p.netns, p.text)).stdout;
  return { json, text };
}

/** What each tool answers when asked for JSON (for the detection tests). */
export async function captureJsonProbes(s: IprouteState): Promise<Record<string, unknown>> {
  const probe = async (argv: readonly string[]) => {
    const r = await execIn(s.node, argv, { okStatus: [255, 1] });
    return { argv: argv.map((a) => a.replace(/^.*\/el7-tools\/bin\//, 'el7-tools/bin/')), ...r };
  };
  return {
    el7IpJsonRoute: await probe([EL7_IP, '-j', 'route', 'show']),
    el7IpJsonAddr: await probe([EL7_IP, '-j', '-d', 'addr', 'show']),
    el7BridgeJsonFdb: await probe([EL7_BRIDGE, '-j', 'fdb', 'show', 'dev', 'flannel.1']),
    modernIpJsonRoute: await probe(['ip', '-j', 'route', 'show']),
  };
}
