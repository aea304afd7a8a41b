// What a node IS, read in one pass for drift and doctor: a constant number of child
// processes whatever the cluster size (`ip -j route`, `iptables-save`, `ip -j -d addr`,
// `supervisorctl status`; `iptables-legacy-save` only when iptables-save warns that the legacy
// backend holds tables too), ONE etcd range read, and plain file reads (subnet.env,
// flanneld.sh, the persisted rules, the certs, and per network namespace
// /proc/sys/net/ipv4/ip_forward, the rp_filter switches and /proc/net/arp, the neighbour
// state of the next hops). Nothing here changes the node.

import { EtcdError, parseV2Error, v2Request, withV3 } from './etcd.ts';
import type { Interface } from '../model/interfaces.ts';
import { legacyTablesPresent, parseIptablesSave, type Ruleset } from '../model/iptables.ts';
import { readNetworkState, type NetworkState, type StoreTarget } from './network-store.ts';
import type { EtcdApi } from '../model/lease.ts';
import type { Route } from '../model/routes.ts';
import type { FdbEntry, Neighbour } from '../model/vxlan.ts';
import { readFdb, readLinks, readNeighbours, readNetnsLinks, readRoutes } from './iproute.ts';
import type { ProgramStatus } from '../model/supervisor.ts';
import type { Host } from './host.ts';
import { programStatus } from './supervisord.ts';

/** How much of flanneld's (up to 64 MB) log doctor reads. */
const LOG_TAIL_BYTES = 256 * 1024;
/** A node file drift reads (subnet.env, a cert, the persisted rules) is small; larger is not it. */
const MAX_FILE_BYTES = 4 << 20;

export interface ObservePaths {
  readonly subnetEnv: string;
  readonly flanneldSh: string;
  readonly supervisorConf: string;
  readonly persist: string;
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  readonly logFile: string;
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string; readonly kind?: string };

export interface NodeObservation {
  readonly at: Date;
  readonly etcd: Outcome<NetworkState>;
  readonly routes: Outcome<Route[]>;
  readonly iptablesSave: Outcome<string>;
  readonly ruleset: Outcome<Ruleset>;
  /**
   * the legacy backend's rules, read (`iptables-legacy-save`) only when iptables-save (nft)
   * warned that legacy tables exist: the kernel runs both, and each save shows only its own
   */
  readonly legacy?: { readonly save: Outcome<string>; readonly ruleset: Outcome<Ruleset> };
  readonly ifaces: Outcome<Interface[]>;
  readonly supervisor: Outcome<ProgramStatus | undefined>;
  readonly healthz: Outcome<{ status: number; body: string }>;
  readonly files: {
    readonly subnetEnv?: string;
    readonly flanneldSh?: string;
    readonly persisted?: string;
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly keyMode?: number;
    readonly ipForward?: string;
    /** /proc/net/arp: the IPv4 neighbour table with each entry's device and flags (no process) */
    readonly arp?: string;
    /** net.ipv4.conf.<dev>.rp_filter for `all` and every link that is not a veth */
    readonly rpFilter?: Readonly<Record<string, string>>;
  };
  /** neighbour and fdb entries of flannel.<VNI>, read only when such a vxlan device exists */
  readonly vxlan?: {
    readonly dev: string;
    readonly neighbours: Outcome<Neighbour[]>;
    readonly fdb: Outcome<FdbEntry[]>;
  };
  /** child processes this observation started */
  readonly processes: number;
}

const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
const fail = (e: unknown): Outcome<never> => ({
  ok: false,
  error: e instanceof Error ? e.message : String(e),
  ...(e instanceof EtcdError && { kind: e.kind }),
});
async function attempt<T>(f: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return ok(await f());
  } catch (e) {
    return fail(e);
  }
}
/** GET http://127.0.0.1:PORT/healthz on the node, with a short deadline (curl where no direct request). */
export async function probeHealthz(
  host: Host,
  port: number,
  timeoutMs = 2000,
): Promise<{ status: number; body: string }> {
  if (host.localRequest) {
    try {
      return await host.localRequest({ port, method: 'GET', path: '/healthz', timeoutMs });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTSUP') return healthzByCurl(host, port, timeoutMs);
      throw new Error(
        code === 'ECONNREFUSED'
          ? `healthz on 127.0.0.1:${port}: connection refused (flanneld not running, or --healthz-port not set)`
          : code === 'ETIMEDOUT'
            ? `healthz on 127.0.0.1:${port}: no answer within ${timeoutMs} ms`
            : `healthz on 127.0.0.1:${port}: ${(e as Error).message}`,
      );
    }
  }
  return healthzByCurl(host, port, timeoutMs);
}

/** curl 7.29 (CentOS 7): -s -m, the status code written after the body. */
async function healthzByCurl(host: Host, port: number, timeoutMs: number): Promise<{ status: number; body: string }> {
  const out = await host.run({
    argv: [
      'curl',
      '-s',
      '-m',
      String(Math.ceil(timeoutMs / 1000)),
      '-w',
      '\n%{http_code}',
      `http://127.0.0.1:${port}/healthz`,
    ],
    why: 'flanneld healthz',
    readOnly: true,
    okStatus: [7, 28],
  });
  if (out.status === 7)
    throw new Error(
      `healthz on 127.0.0.1:${port}: connection refused (flanneld not running, or --healthz-port not set)`,
    );
  if (out.status === 28) throw new Error(`healthz on 127.0.0.1:${port}: no answer within ${timeoutMs} ms`);
  const nl = out.stdout.lastIndexOf('\n');
  return { status: Number(out.stdout.slice(nl + 1)), body: out.stdout.slice(0, Math.max(0, nl)) };
}

export async function observeNode(o: {
  readonly store: StoreTarget;
  readonly paths: ObservePaths;
  readonly program: string;
  readonly healthzPort: number;
  readonly host: Host;
  /** an etcd answer from earlier in this run, to reuse instead of reading again */
  readonly etcd?: Outcome<NetworkState>;
}): Promise<NodeObservation> {
  const host = o.host;
  const run = (argv: string[], why: string) => host.run({ argv, why, readOnly: true });
  const readText = (path: string) => host.readFile(path, { maxBytes: MAX_FILE_BYTES }).catch(() => undefined);
  const p = o.paths;
  const [etcd, routes, saveOut, ifaces, supOut, healthz, files] = await Promise.all([
    // after --fix the first answer is reused: a fix never writes etcd, and one read per run is the budget
    o.etcd ? Promise.resolve(o.etcd) : attempt(() => readNetworkState(o.store)),
    attempt(() => readRoutes(host)),
    attempt(() => run(['iptables-save'], 'rules')),
    // all links (not -4): docker0's veth ports carry no IPv4 address, and their MTU matters
    attempt(() => readLinks(host)),
    attempt(() => programStatus(host, p.supervisorConf, o.program)),
    attempt(() => probeHealthz(host, o.healthzPort)),
    (async () => {
      const [subnetEnv, flanneldSh, persisted, ca, cert, key, ipForward, keyStat, arp] = await Promise.all([
        readText(p.subnetEnv),
        readText(p.flanneldSh),
        readText(p.persist),
        readText(p.cafile),
        readText(p.certfile),
        readText(p.keyfile),
        readText('/proc/sys/net/ipv4/ip_forward'),
        host.stat(p.keyfile).catch(() => undefined),
        readText('/proc/net/arp'),
      ]);
      return {
        subnetEnv,
        flanneldSh,
        persisted,
        ca,
        cert,
        key,
        ipForward: ipForward?.trim(),
        ...(arp !== undefined && { arp }),
        ...(keyStat && { keyMode: keyStat.mode & 0o777 }),
      };
    })(),
  ]);
  const iptablesSave = saveOut.ok ? ok(saveOut.value.stdout) : saveOut;
  const ruleset = iptablesSave.ok ? await attempt(async () => parseIptablesSave(iptablesSave.value)) : iptablesSave;
  // one more process, only when iptables-nft says the legacy backend holds tables too
  let legacy: NodeObservation['legacy'];
  if (saveOut.ok && legacyTablesPresent(`${saveOut.value.stderr}\n${saveOut.value.stdout}`)) {
    const out = await attempt(() => run(['iptables-legacy-save'], 'the legacy backend rules (the kernel runs both)'));
    const save: Outcome<string> = out.ok ? ok(out.value.stdout) : out;
    legacy = { save, ruleset: save.ok ? await attempt(async () => parseIptablesSave(save.value)) : save };
  }
  // rp_filter: per network namespace and per link; veths (the pods' ends) are left out
  const rpDevs = ['all', ...(ifaces.ok ? ifaces.value.filter((i) => i.kind !== 'veth').map((i) => i.name) : [])];
  const rpValues = await Promise.all(rpDevs.map((d) => readText(`/proc/sys/net/ipv4/conf/${d}/rp_filter`)));
  const rpFilter: Record<string, string> = {};
  rpDevs.forEach((d, i) => {
    const v = rpValues[i]?.trim();
    if (v !== undefined) rpFilter[d] = v;
  });
  const supervisor: Outcome<ProgramStatus | undefined> = supOut.ok ? ok(supOut.value.status) : supOut;
  // vxlan: the per-peer neighbour and fdb entries (two more processes, still none per peer)
  const vdev = ifaces.ok ? ifaces.value.find((i) => i.kind === 'vxlan' && /^flannel\.\d+$/.test(i.name)) : undefined;
  let vxlan: NodeObservation['vxlan'];
  if (vdev) {
    const [n, f] = await Promise.all([
      attempt(() => readNeighbours(host, vdev.name)),
      attempt(() => readFdb(host, vdev.name)),
    ]);
    vxlan = { dev: vdev.name, neighbours: n, fdb: f };
  }
  return {
    at: new Date(),
    etcd,
    routes,
    iptablesSave,
    ruleset,
    ifaces,
    supervisor,
    healthz,
    files: { ...files, ...(Object.keys(rpFilter).length && { rpFilter }) },
    ...(legacy && { legacy }),
    ...(vxlan && { vxlan }),
    processes: 3 + (supOut.ok ? supOut.value.processes : 1) + (vxlan ? 2 : 0) + (legacy ? 1 : 0),
  };
}

// ------------------------------------------------------------------ doctor's extra probes
// Read only, like observeNode; run by doctor after it, and only what the findings need.

/** A link with its MTU, bridge master and kind: what `ip -d addr show` gives (host/iproute.ts readLinks). */
export type Link = Pick<Interface, 'name' | 'mtu' | 'master' | 'kind'>;

/** The config key in one key space (v2 keys API or v3), undefined when absent there. */
export async function readConfigIn(store: StoreTarget, api: EtcdApi): Promise<string | undefined> {
  const key = `${store.prefix}/config`;
  if (api === 'v2') {
    const res = await v2Request(store.conn, store.tls, 'GET', key);
    if (res.status === 200) return (JSON.parse(res.body) as { node?: { value?: string } }).node?.value;
    if (parseV2Error(res.body)?.errorCode === 100) return undefined;
    throw new EtcdError(
      'http',
      res.endpoint,
      `etcd ${res.endpoint}: GET ${key} answered ${res.status}: ${res.body.slice(0, 200)}`,
    );
  }
  return withV3(store.conn, store.tls, async (client) => (await client.get(key).string()) ?? undefined);
}

/** A bounded probe of one peer: does its address (and, for vxlan, its VTEP through the tunnel) answer? */
export interface PeerProbe {
  readonly subnet: string;
  readonly publicIp: string;
  /** `ping -c1 -W1 PUBLICIP` on the underlay */
  readonly underlay: boolean;
  /**
   * vxlan: `ping -c1 -W1 SUBNET.0` through flannel.<VNI>, which travels as a VXLAN UDP datagram to
   * PUBLICIP:8472 and back: the UDP probe of the peer's VXLAN port (a bare UDP packet proves
   * nothing, the vxlan socket answers none)
   */
  readonly tunnel?: boolean;
}

export interface DoctorProbes {
  /** the config key in the key space flannel does NOT read (probed only when flannel's has none, or v2 is off) */
  readonly otherKeySpace?: Outcome<{ readonly api: EtcdApi; readonly config?: string }>;
  /** `.../config` keys holding a network config under another prefix (looked for only when neither key space has ours) */
  readonly otherPrefixes?: Outcome<readonly OtherPrefixConfig[]>;
  readonly logFile: string;
  /** the tail of flanneld's log, supervisord's rotated files before it (oldest first) */
  readonly log: Outcome<string>;
  /** the rotated files that were read (`FILE.1` ...), newest first */
  readonly rotated?: readonly string[];
  /** peers probed (at most MAX_PEER_PROBES, in parallel, 1 s each) */
  readonly peers?: readonly PeerProbe[];
  /** /proc/net/arp read again after the peer probes (they make the kernel resolve the next hops) */
  readonly arpAfter?: string;
  /** who listens on the healthz port, when flanneld is not up but something answers or its last run died on the port */
  readonly portOwner?: { readonly port: number; readonly pid?: number; readonly process?: string };
  /** every link of this host, with MTU and bridge master */
  readonly links: Outcome<Link[]>;
  /** the links inside each --pod-netns */
  readonly pods: readonly { readonly netns: string; readonly links: Outcome<Link[]> }[];
  /** the kernel release (/proc/sys/kernel/osrelease): which kernel bugs apply */
  readonly kernel?: string;
  /** child processes these probes started */
  readonly processes: number;
}

/** How many peers doctor pings (each probe is `ping -c1 -W1`, all at once): enough to tell a pattern. */
const MAX_PEER_PROBES = 8;
/** supervisord keeps stdout_logfile_backups=4 rotated files: FILE.1 (newest) .. FILE.4 */
const ROTATED = 4;

/** The log's tail, and when that is short, the rotated files before it, within one budget. */
async function readLogAcrossRotation(host: Host, file: string, budget: number) {
  const tail = await host.readTail(file, budget);
  if (tail === undefined) throw new Error(`${file}: no such file`);
  const parts = [tail];
  const rotated: string[] = [];
  let left = budget - Buffer.byteLength(tail);
  for (let i = 1; i <= ROTATED && left > 4096; i++) {
    const older = await host.readTail(`${file}.${i}`, left).catch(() => undefined);
    if (older === undefined) break;
    rotated.push(`${file}.${i}`);
    parts.unshift(older.endsWith('\n') ? older : `${older}\n`);
    left -= Buffer.byteLength(older);
  }
  return { text: parts.join(''), rotated };
}

/** `.../config` keys with a `Network` anywhere in the key space (a config written under another prefix). */
/** A network config under another prefix, and how many leases live beside it (a cluster that runs there). */
export interface OtherPrefixConfig {
  readonly key: string;
  readonly api: EtcdApi;
  readonly config: string;
  /** keys under the same prefix's subnets/ */
  readonly leases: number;
}

async function findConfigs(store: StoreTarget): Promise<OtherPrefixConfig[]> {
  const own = `${store.prefix}/config`;
  const isConfig = (key: string, value: string | undefined): value is string =>
    key !== own && key.endsWith('/config') && value !== undefined && /"network"\s*:/i.test(value);
  const dirOf = (key: string) => key.slice(0, -'/config'.length);
  if (store.api === 'v2') {
    const res = await v2Request(store.conn, store.tls, 'GET', '/', { recursive: true });
    if (res.status !== 200) return [];
    type N = { key?: string; value?: string; nodes?: N[]; dir?: boolean };
    const configs: { key: string; config: string }[] = [];
    const subnets = new Map<string, number>();
    const walk = (n: N) => {
      if (n.key && !n.dir && isConfig(n.key, n.value)) configs.push({ key: n.key, config: n.value! });
      for (const c of n.nodes ?? []) {
        // leases are many and never a config: counted, not walked
        if (c.key?.endsWith('/subnets')) subnets.set(c.key.slice(0, -'/subnets'.length), c.nodes?.length ?? 0);
        else walk(c);
      }
    };
    walk((JSON.parse(res.body) as { node: N }).node);
    return configs.map((x) => ({ ...x, api: store.api, leases: subnets.get(dirOf(x.key)) ?? 0 }));
  }
  return withV3(store.conn, store.tls, async (client) => {
    const all = await client.getAll().prefix('/').strings();
    const keys = Object.keys(all);
    return Object.entries(all).flatMap(([k, v]) =>
      isConfig(k, v)
        ? [
            {
              key: k,
              api: store.api,
              config: v,
              leases: keys.filter((x) => x.startsWith(`${dirOf(k)}/subnets/`)).length,
            },
          ]
        : [],
    );
  });
}

/** doctor's probes beyond observeNode: the other key space, flanneld's log, links and pods' MTUs, peers. */
export async function observeDoctorProbes(o: {
  readonly store: StoreTarget;
  readonly obs: NodeObservation;
  readonly logFile: string;
  readonly podNetns?: readonly string[];
  readonly host: Host;
  /** this node, to probe its peers (absent: no peer probes) */
  readonly node?: { readonly publicIp: string; readonly iface: string; readonly healthzPort: number };
}): Promise<DoctorProbes> {
  const host = o.host;
  const e = o.obs.etcd;
  const other: EtcdApi = o.store.api === 'v2' ? 'v3' : 'v2';
  const wantOther = (e.ok && e.value.config === undefined) || (!e.ok && e.kind === 'v2-disabled');
  const pods = o.podNetns ?? [];
  const [otherKeySpace, log, hostLinks, podLinks, kernel] = await Promise.all([
    wantOther
      ? attempt(async () => ({ api: other, config: await readConfigIn({ ...o.store, api: other }, other) }))
      : Promise.resolve(undefined),
    attempt(() => readLogAcrossRotation(host, o.logFile, LOG_TAIL_BYTES)),
    // the host's links were read by observeNode already (all families, with master)
    Promise.resolve(o.obs.ifaces),
    Promise.all(
      pods.map(async (netns) => ({
        netns,
        // the node's own ip in there: the same JSON-or-text answer as its links
        links: await attempt(() => readNetnsLinks(host, netns)),
      })),
    ),
    host.readFile('/proc/sys/kernel/osrelease', { maxBytes: 256 }).catch(() => undefined),
  ]);
  // the config nowhere in either key space: maybe under another prefix (one range read, only then)
  const otherPrefixes =
    e.ok && e.value.config === undefined && otherKeySpace?.ok && otherKeySpace.value.config === undefined
      ? await attempt(() => findConfigs(o.store))
      : undefined;
  const peerProbes = o.node ? await probePeers(host, o.obs, o.node) : undefined;
  const owner = o.node ? await healthzPortOwner(host, o.obs, log, o.node.healthzPort) : undefined;
  return {
    ...(otherKeySpace && { otherKeySpace }),
    ...(otherPrefixes && { otherPrefixes }),
    logFile: o.logFile,
    log: log.ok ? ok(log.value.text) : log,
    ...(log.ok && log.value.rotated.length && { rotated: log.value.rotated }),
    links: hostLinks,
    pods: podLinks,
    ...(peerProbes && { peers: peerProbes.peers, arpAfter: peerProbes.arp }),
    ...(owner && { portOwner: owner.owner }),
    ...(kernel?.trim() && { kernel: kernel.trim() }),
    processes: pods.length + (peerProbes?.processes ?? 0) + (owner ? 1 : 0),
  };
}

const ping = (host: Host, ip: string, iface?: string) =>
  host
    .run({
      argv: ['ping', '-c1', '-W1', '-n', '-q', ...(iface ? ['-I', iface] : []), ip],
      why: 'is the peer there',
      readOnly: true,
      timeoutMs: 3000,
      okStatus: [1, 2],
    })
    .then(
      (r) => r.status === 0,
      () => false,
    );

/**
 * Ping up to MAX_PEER_PROBES peers on the underlay (which also makes the kernel resolve their
 * ARP entries) and, for vxlan peers routed through flannel.<VNI>, their VTEP address through
 * the tunnel; then /proc/net/arp again. Peers whose next hop answered ARP and whose tunnel is
 * not used are left alone.
 */
async function probePeers(
  host: Host,
  obs: NodeObservation,
  node: { readonly publicIp: string; readonly iface: string },
): Promise<{ peers: PeerProbe[]; arp?: string; processes: number } | undefined> {
  if (!obs.etcd.ok || !obs.ifaces.ok || !obs.routes.ok) return undefined;
  const dev = obs.ifaces.value.find((i) => i.name === node.iface);
  if (!dev) return undefined;
  const routes = obs.routes.value;
  const peers = obs.etcd.value.leases
    .filter((l) => l.publicIp.toString() !== node.publicIp && dev.addrs.some((a) => a.contains(l.publicIp)))
    .slice(0, MAX_PEER_PROBES);
  if (peers.length === 0) return undefined;
  let processes = 0;
  const probed = await Promise.all(
    peers.map(async (l) => {
      const viaTunnel = routes.some((r) => r.dst.equals(l.subnet.network()) && /^flannel\.\d+$/.test(r.dev));
      processes += viaTunnel ? 2 : 1;
      const [underlay, tunnel] = await Promise.all([
        ping(host, l.publicIp.toString(), node.iface),
        viaTunnel ? ping(host, l.subnet.network().ip.toString()) : Promise.resolve(undefined),
      ]);
      return {
        subnet: l.subnet.toString(),
        publicIp: l.publicIp.toString(),
        underlay,
        ...(tunnel !== undefined && { tunnel }),
      };
    }),
  );
  const arp = await host.readFile('/proc/net/arp', { maxBytes: MAX_FILE_BYTES }).catch(() => undefined);
  return { peers: probed, ...(arp !== undefined && { arp }), processes };
}

/** `ss -Hltnp sport = :PORT` when flanneld is down but the port is not free (an orphaned flanneld). */
async function healthzPortOwner(
  host: Host,
  obs: NodeObservation,
  log: Outcome<{ text: string }>,
  port: number,
): Promise<{ owner: NonNullable<DoctorProbes['portOwner']> } | undefined> {
  const st = obs.supervisor.ok ? obs.supervisor.value?.state : undefined;
  const down = st !== undefined && st !== 'RUNNING';
  const busy = log.ok && /bind: address already in use/.test(log.value.text.slice(-20_000));
  if (!down || !(busy || (obs.healthz.ok && obs.healthz.value.status === 200))) return undefined;
  const out = await host
    .run({ argv: ['ss', '-Hltnp', `sport = :${port}`], why: 'who holds the healthz port', readOnly: true })
    .catch(() => undefined);
  const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(out?.stdout ?? '');
  return { owner: { port, ...(m && { process: m[1]!, pid: Number(m[2]) }) } };
}
