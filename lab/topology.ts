// The lab's network as data (pure: options in, plan out). lab.ts applies it; nothing here
// touches the host. A network is a Segment, its hosts and the routers between segments; adding
// one means adding data here, not new code paths.
//
// Default plan = the runbook's cluster:
//   segment l2   10.4.0.0/16, a bridge in its own namespace, every host on it as eth0
//   hdss7-12     10.4.7.12   etcd member
//   hdss7-21/22  10.4.7.2X   etcd members, nodes: docker0 172.7.2X.1/24, one pod 172.7.2X.2
//   hdss7-200    10.4.7.200  cert host: sshd, /opt/certs, the release tarball over HTTP
//   gateway      10.4.0.1/16 + 192.0.2.1/24 (no NAT), outside host 192.0.2.10
// With `segments: 2` (for vxlan: host-gw cannot cross a router) the plan adds:
//   segment l2b  10.5.0.0/16, its own bridge namespace
//   router       10.4.0.254/16 on l2, 10.5.0.1/16 on l2b, default via the gateway; every l2
//                host routes 10.5.0.0/16 via 10.4.0.254 (the gateway too, for the outside)
//   hdss7-31..   10.5.7.3X   nodes on l2b (default via 10.5.0.1): docker0 172.7.3X.1/24, a pod
// With `control: true` (the remote mode, lab.ts) the plan adds:
//   control      10.4.7.10   the operator's control host on l2: it drives the nodes over ssh

import { join } from 'node:path';
import { invalid } from '../lib/core/errors.ts';

export interface TopologyOptions {
  /** unique per run: every namespace, /etc/netns dir and the labdir carry it */
  readonly prefix: string;
  /** the labdir: every host's root lives in it */
  readonly dir: string;
  /** number of nodes (default 2); node i is hdss7-(21+i) */
  readonly nodes?: number;
  /** load the iptables-services REJECT rules on nodes (default true, as on CentOS) */
  readonly rejectRules?: boolean;
  /** 1 (default): one L2 segment, as the runbook's. 2: a second segment behind a router, with remote nodes */
  readonly segments?: 1 | 2;
  /** nodes on the second segment (segments: 2; default 1, at most 9): node i is hdss7-(31+i), 10.5.7.(31+i) */
  readonly remoteNodes?: number;
  /** a control host namespace on l2 (10.4.7.10), for the remote mode (default false) */
  readonly control?: boolean;
}

/** One L2 network: a bridge in a namespace of its own (never in the root namespace). */
export interface Segment {
  readonly name: string;
  readonly netns: string;
  readonly bridge: string;
  readonly cidr: string;
  /** the gateway's address on it */
  readonly gateway: string;
}

export interface HostSpec {
  /** host name, e.g. hdss7-21 */
  readonly name: string;
  /** short tag, e.g. h21 (namespace suffix, bridge port name) */
  readonly short: string;
  readonly netns: string;
  readonly ip: string;
  /** address with the segment prefix, e.g. 10.4.7.21/16 */
  readonly cidr: string;
  readonly segment: string;
  /** the host's filesystem root: <labdir>/<name> */
  readonly root: string;
  readonly etcd: boolean;
  readonly certHost: boolean;
  readonly node?: NodeSpec;
}

export interface NodeSpec {
  /** e.g. 172.7.21.0/24 */
  readonly subnet: string;
  /** docker0, e.g. 172.7.21.1 */
  readonly bridgeIp: string;
  readonly pod: { readonly netns: string; readonly ip: string };
  /** supervisord program name, the runbook's flanneld-7-21 */
  readonly program: string;
  /** the node's veth end on docker0 */
  readonly podPort: string;
}

/** One address on one interface of a namespace. */
export interface AddrSpec {
  readonly dev: string;
  readonly cidr: string;
}

export interface RouteSpec {
  readonly dst: string;
  readonly via: string;
}

export interface NetnsSpec {
  readonly netns: string;
  readonly role: 'segment' | 'host' | 'pod' | 'gateway' | 'outside' | 'router' | 'control';
  /** the lab host it stands for, when it is one (gets /etc/netns/<ns>/hosts) */
  readonly hostname?: string;
  readonly bridges: readonly { readonly dev: string; readonly cidr?: string }[];
  readonly addrs: readonly AddrSpec[];
  readonly routes: readonly RouteSpec[];
  /** net.ipv4.ip_forward=1 */
  readonly forward: boolean;
}

/** A veth pair created directly inside its two namespaces: nothing appears in the root one. */
export interface VethSpec {
  readonly a: { readonly netns: string; readonly ifname: string };
  readonly b: { readonly netns: string; readonly ifname: string; readonly master?: string };
}

export interface Topology {
  readonly prefix: string;
  readonly dir: string;
  readonly rejectRules: boolean;
  readonly segments: readonly Segment[];
  readonly hosts: readonly HostSpec[];
  readonly gateway: { readonly netns: string; readonly outsideIp: string };
  /** the router between l2 and l2b (segments: 2): its address on each, in segment order */
  readonly router?: { readonly netns: string; readonly ips: readonly string[] };
  /** the control host (control: true): on l2, no node, no etcd; the ssh client of the remote mode */
  readonly control?: { readonly name: string; readonly netns: string; readonly ip: string };
  readonly outside: { readonly netns: string; readonly ip: string; readonly port: number };
  /** TCP port of the whoami servers (outside host and pods) */
  readonly whoamiPort: number;
  readonly namespaces: readonly NetnsSpec[];
  readonly veths: readonly VethSpec[];
  /** flannel's Network, from the runbook */
  readonly network: string;
}

export const PREFIX_RE = /^[a-z][a-z0-9]{1,11}$/;
/** Prefixes the lab makes up itself: `frb` + 4 hex. cleanupLeftovers() only looks at these. */
export const AUTO_PREFIX_RE = /^frb[0-9a-f]{4}$/;
export const MAX_NODES = 20;

export const WHOAMI_PORT = 7777;
export const FLANNEL_VERSION = 'v0.11.0';
/** The release tarball's file name for a flannel version. */
export function tarballName(version: string): string {
  return `flannel-${version}-linux-amd64.tar.gz`;
}
/** The release's path on github.com (coreos/flannel until v0.13, flannel-io/flannel after); the cert host serves it there. */
export function tarballUrlPath(version: string): string {
  const repo = /^v0\.([0-9]|1[0-3])\./.test(version) ? 'coreos/flannel' : 'flannel-io/flannel';
  return `/${repo}/releases/download/${version}/${tarballName(version)}`;
}
export const TARBALL_NAME = tarballName(FLANNEL_VERSION);
export const TARBALL_URL_PATH = tarballUrlPath(FLANNEL_VERSION);
export const MAX_REMOTE_NODES = 9;
/** the cert host's HTTP port */
export const HTTP_PORT = 8080;
export const POD_NETWORK = '172.7.0.0/16';

/** Namespace name of a lab object: `<prefix>-<tag>`. */
export function netnsName(prefix: string, tag: string): string {
  return `${prefix}-${tag}`;
}

export function planTopology(opts: TopologyOptions): Topology {
  const { prefix, dir } = opts;
  if (!PREFIX_RE.test(prefix))
    throw invalid('prefix', prefix, 'must be a lowercase letter then 1-11 lowercase letters or digits', 'frb1a2b');
  const nodes = opts.nodes ?? 2;
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > MAX_NODES) {
    throw invalid('nodes', nodes, `must be an integer 2-${MAX_NODES}`, '2');
  }
  const segmentCount = opts.segments ?? 1;
  if (segmentCount !== 1 && segmentCount !== 2) throw invalid('segments', segmentCount, 'must be 1 or 2', '2');
  const remoteNodes = segmentCount === 2 ? (opts.remoteNodes ?? 1) : (opts.remoteNodes ?? 0);
  if (segmentCount === 1 && remoteNodes !== 0)
    throw invalid('remoteNodes', remoteNodes, 'needs segments: 2 (remote nodes live on the second segment)', '1');
  if (!Number.isInteger(remoteNodes) || remoteNodes < segmentCount - 1 || remoteNodes > MAX_REMOTE_NODES) {
    throw invalid('remoteNodes', remoteNodes, `must be an integer 1-${MAX_REMOTE_NODES}`, '1');
  }
  const ns = (tag: string) => netnsName(prefix, tag);
  const segment: Segment = { name: 'l2', netns: ns('l2'), bridge: 'br0', cidr: '10.4.0.0/16', gateway: '10.4.0.1' };
  // the second segment's hosts leave through the router, whose address is their gateway
  const remote: Segment | undefined =
    segmentCount === 2
      ? { name: 'l2b', netns: ns('l2b'), bridge: 'br0', cidr: '10.5.0.0/16', gateway: '10.5.0.1' }
      : undefined;
  const router = remote ? { netns: ns('rtr'), ips: ['10.4.0.254', remote.gateway] } : undefined;
  const segLen = (seg: Segment) => seg.cidr.split('/')[1]!;

  const host = (
    last: number,
    extra: { etcd?: boolean; certHost?: boolean; node?: NodeSpec; segment?: Segment },
  ): HostSpec => {
    const name = `hdss7-${last}`;
    const seg = extra.segment ?? segment;
    const ip = `${seg.cidr.split('.').slice(0, 2).join('.')}.7.${last}`;
    return {
      name,
      short: `h${last}`,
      netns: ns(`h${last}`),
      ip,
      cidr: `${ip}/${segLen(seg)}`,
      segment: seg.name,
      root: join(dir, name),
      etcd: extra.etcd ?? false,
      certHost: extra.certHost ?? false,
      ...(extra.node && { node: extra.node }),
    };
  };
  const nodeSpec = (last: number): NodeSpec => ({
    subnet: `172.7.${last}.0/24`,
    bridgeIp: `172.7.${last}.1`,
    pod: { netns: ns(`p${last}`), ip: `172.7.${last}.2` },
    program: `flanneld-7-${last}`,
    podPort: `veth${last}`,
  });

  const hosts: HostSpec[] = [host(12, { etcd: true })];
  for (let i = 0; i < nodes; i++) hosts.push(host(21 + i, { etcd: i < 2, node: nodeSpec(21 + i) }));
  hosts.push(host(200, { certHost: true }));
  if (remote)
    for (let i = 0; i < remoteNodes; i++) hosts.push(host(31 + i, { node: nodeSpec(31 + i), segment: remote }));

  const gateway = { netns: ns('gw'), outsideIp: '192.0.2.1' };
  const outside = { netns: ns('out'), ip: '192.0.2.10', port: WHOAMI_PORT };
  // l2 hosts (and the gateway, for the outside's replies) reach l2b through the router
  const toRemote: RouteSpec[] = remote && router ? [{ dst: remote.cidr, via: router.ips[0]! }] : [];

  const namespaces: NetnsSpec[] = [
    {
      netns: segment.netns,
      role: 'segment',
      bridges: [{ dev: segment.bridge }],
      addrs: [],
      routes: [],
      forward: false,
    },
    {
      netns: gateway.netns,
      role: 'gateway',
      bridges: [],
      addrs: [
        { dev: 'eth0', cidr: `${segment.gateway}/${segLen(segment)}` },
        { dev: 'eth1', cidr: `${gateway.outsideIp}/24` },
      ],
      routes: toRemote,
      forward: true,
    },
    {
      netns: outside.netns,
      role: 'outside',
      bridges: [],
      addrs: [{ dev: 'eth0', cidr: `${outside.ip}/24` }],
      routes: [{ dst: 'default', via: gateway.outsideIp }],
      forward: false,
    },
  ];
  const veths: VethSpec[] = [
    { a: { netns: gateway.netns, ifname: 'eth0' }, b: { netns: segment.netns, ifname: 'gw', master: segment.bridge } },
    { a: { netns: outside.netns, ifname: 'eth0' }, b: { netns: gateway.netns, ifname: 'eth1' } },
  ];
  if (remote && router) {
    namespaces.push(
      {
        netns: remote.netns,
        role: 'segment',
        bridges: [{ dev: remote.bridge }],
        addrs: [],
        routes: [],
        forward: false,
      },
      {
        netns: router.netns,
        role: 'router',
        bridges: [],
        addrs: [
          { dev: 'eth0', cidr: `${router.ips[0]}/${segLen(segment)}` },
          { dev: 'eth1', cidr: `${router.ips[1]}/${segLen(remote)}` },
        ],
        routes: [{ dst: 'default', via: segment.gateway }],
        forward: true,
      },
    );
    veths.push(
      {
        a: { netns: router.netns, ifname: 'eth0' },
        b: { netns: segment.netns, ifname: 'rtr', master: segment.bridge },
      },
      { a: { netns: router.netns, ifname: 'eth1' }, b: { netns: remote.netns, ifname: 'rtr', master: remote.bridge } },
    );
  }
  const control = opts.control ? { name: 'control', netns: ns('ctl'), ip: '10.4.7.10' } : undefined;
  if (control) {
    namespaces.push({
      netns: control.netns,
      role: 'control',
      hostname: control.name,
      bridges: [],
      addrs: [{ dev: 'eth0', cidr: `${control.ip}/${segLen(segment)}` }],
      routes: [{ dst: 'default', via: segment.gateway }, ...toRemote],
      forward: false,
    });
    veths.push({
      a: { netns: control.netns, ifname: 'eth0' },
      b: { netns: segment.netns, ifname: 'ctl', master: segment.bridge },
    });
  }
  for (const h of hosts) {
    const n = h.node;
    const seg = h.segment === segment.name ? segment : remote!;
    namespaces.push({
      netns: h.netns,
      role: 'host',
      hostname: h.name,
      bridges: n ? [{ dev: 'docker0', cidr: `${n.bridgeIp}/24` }] : [],
      addrs: [{ dev: 'eth0', cidr: h.cidr }],
      routes: [{ dst: 'default', via: seg.gateway }, ...(seg === segment ? toRemote : [])],
      forward: n !== undefined,
    });
    veths.push({ a: { netns: h.netns, ifname: 'eth0' }, b: { netns: seg.netns, ifname: h.short, master: seg.bridge } });
    if (n) {
      namespaces.push({
        netns: n.pod.netns,
        role: 'pod',
        bridges: [],
        addrs: [{ dev: 'eth0', cidr: `${n.pod.ip}/24` }],
        routes: [{ dst: 'default', via: n.bridgeIp }],
        forward: false,
      });
      veths.push({
        a: { netns: n.pod.netns, ifname: 'eth0' },
        b: { netns: h.netns, ifname: n.podPort, master: 'docker0' },
      });
    }
  }
  return {
    prefix,
    dir,
    rejectRules: opts.rejectRules ?? true,
    segments: remote ? [segment, remote] : [segment],
    hosts,
    gateway,
    ...(router && { router }),
    ...(control && { control }),
    outside,
    whoamiPort: WHOAMI_PORT,
    namespaces,
    veths,
    network: POD_NETWORK,
  };
}

/** The etcd members, in the runbook's endpoint order (hdss7-12, hdss7-21, hdss7-22). */
export function etcdMembers(t: Topology): HostSpec[] {
  return t.hosts.filter((h) => h.etcd);
}

/** etcd member name, as in the runbook's cluster: etcd-server-7-21. */
export function etcdName(h: HostSpec): string {
  return `etcd-server-${h.name.replace(/^hdss/, '')}`;
}

/** The hosts a namespace resolves by name (/etc/netns/<ns>/hosts). */
export function renderHostsFile(t: Topology): string {
  const width = Math.max(...t.hosts.map((h) => h.ip.length));
  return `${[
    "# flannel-runbook lab: the runbook cluster's names",
    '127.0.0.1 localhost',
    '::1 localhost ip6-localhost ip6-loopback',
    ...t.hosts.map((h) => `${h.ip.padEnd(width)} ${h.name}`),
  ].join('\n')}\n`;
}

/**
 * /etc/nsswitch.conf for lab hosts: the machine's, with host names from files only. The lab
 * has no DNS server; without this, every IPv6 lookup of a lab name goes to the machine's
 * nameserver, unreachable from the lab, and waits for the resolver timeout (5 s).
 */
export function renderNsswitch(system: string): string {
  const lines = system.split('\n').filter((l) => !/^\s*hosts\s*:/.test(l));
  return `${['# flannel-runbook lab: names from /etc/hosts only (the lab has no DNS)', 'hosts: files', ...lines].join('\n').trimEnd()}\n`;
}

/** /etc/resolv.conf for lab hosts: no nameserver the lab could not reach. */
export const LAB_RESOLV_CONF =
  '# flannel-runbook lab: no DNS server (names come from /etc/hosts)\noptions timeout:1 attempts:1\n';

/**
 * The firewall a CentOS 7 node with Docker and iptables-services has, as one
 * iptables-restore payload: Docker's masquerade of its bridge, and iptables-services'
 * default INPUT rules, plus the etcd ports its admin must have opened for etcd to work.
 * The two REJECT rules are what the runbook's snat-fix removes.
 */
export function renderNodeFirewall(h: HostSpec, opts: { rejectRules: boolean }): string {
  const n = h.node;
  if (!n) throw invalid('host', h.name, 'is not a node (no docker0)', 'hdss7-21');
  const etcdPorts = h.etcd ? [2379, 2380] : [];
  return `${[
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    // dockerd (--ip-masq=true, the default): everything from the bridge that leaves it
    `-A POSTROUTING -s ${n.subnet} ! -o docker0 -j MASQUERADE`,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    // /etc/sysconfig/iptables as iptables-services installs it
    '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
    '-A INPUT -p icmp -j ACCEPT',
    '-A INPUT -i lo -j ACCEPT',
    '-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT',
    // opened by hand for etcd (clients 2379, peers 2380)
    ...etcdPorts.map((p) => `-A INPUT -p tcp -m state --state NEW -m tcp --dport ${p} -j ACCEPT`),
    ...(opts.rejectRules
      ? [
          '-A INPUT -j REJECT --reject-with icmp-host-prohibited',
          '-A FORWARD -j REJECT --reject-with icmp-host-prohibited',
        ]
      : []),
    'COMMIT',
  ].join('\n')}\n`;
}

/**
 * `ip -batch` lines that set up one namespace once its veth ends exist: loopback, bridges
 * (before their ports), addresses, ports up and enslaved, routes.
 */
export function planNetnsBatch(spec: NetnsSpec, veths: readonly VethSpec[]): string[] {
  const lines = ['link set lo up'];
  for (const b of spec.bridges) {
    lines.push(`link add ${b.dev} type bridge`);
    if (b.cidr) lines.push(`addr add ${b.cidr} dev ${b.dev}`);
    lines.push(`link set ${b.dev} up`);
  }
  for (const v of veths) {
    if (v.a.netns === spec.netns) lines.push(`link set ${v.a.ifname} up`);
    if (v.b.netns === spec.netns) {
      if (v.b.master) lines.push(`link set ${v.b.ifname} master ${v.b.master}`);
      lines.push(`link set ${v.b.ifname} up`);
    }
  }
  for (const a of spec.addrs) lines.push(`addr add ${a.cidr} dev ${a.dev}`);
  for (const r of spec.routes) lines.push(`route replace ${r.dst} via ${r.via}`);
  return lines;
}

/** The `ip -batch` lines (run from the root namespace) that create every veth pair inside its namespaces. */
export function planVethBatch(veths: readonly VethSpec[]): string[] {
  return veths.map(
    (v) => `link add ${v.a.ifname} netns ${v.a.netns} type veth peer name ${v.b.ifname} netns ${v.b.netns}`,
  );
}
