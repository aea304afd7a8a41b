// What a node IS, read in one pass for drift and doctor: a constant number of child
// processes whatever the cluster size (`ip -j route`, `iptables-save`, `ip -j -d addr`,
// `supervisorctl status`), ONE etcd range read, and plain file reads (subnet.env,
// flanneld.sh, the persisted rules, the certs, /proc/sys/net/ipv4/ip_forward, which is per
// network namespace). Nothing here changes the node.

import { open, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import { EtcdError, parseV2Error, v2Request, withV3 } from './etcd.ts';
import { ipAddrCommand, parseIpAddr, type Interface } from './interfaces.ts';
import { parseIptablesSave, type Ruleset } from './iptables.ts';
import { readNetworkState, type NetworkState, type StoreTarget } from './network-store.ts';
import type { EtcdApi } from './lease.ts';
import { parseIpRoute, type Route } from './routes.ts';
import { parseFdb, parseNeighbours, type FdbEntry, type Neighbour } from './vxlan.ts';
import { spawnRunner, type Runner } from './runner.ts';
import {
  parseProcessInfoResponse,
  parseSupervisorStatus,
  processInfoRequest,
  supervisorSocketOf,
  type ProgramStatus,
} from './supervisor.ts';

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
const readText = (p: string) => readFile(p, 'utf8').catch(() => undefined);

/** GET http://127.0.0.1:PORT/healthz with a short deadline. */
export function probeHealthz(port: number, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`healthz on 127.0.0.1:${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'ECONNREFUSED'
            ? `healthz on 127.0.0.1:${port}: connection refused (flanneld not running, or --healthz-port not set)`
            : e.message,
        ),
      ),
    );
  });
}

/** POST one XML-RPC call to supervisord's unix socket. */
function xmlRpc(socketPath: string, body: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        path: '/RPC2',
        method: 'POST',
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`supervisord answered HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`supervisord socket ${socketPath}: no answer within ${timeoutMs} ms`)),
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`supervisord not answering on ${socketPath} (${e.code ?? e.message}): is supervisord running?`)),
    );
    req.end(body);
  });
}

/**
 * The program's state: over supervisord's own XML-RPC socket (no process started), or, when
 * the conf names no unix socket we can use, through `supervisorctl status` (one process).
 */
export async function programStatus(
  conf: string,
  program: string,
  run: Runner = spawnRunner,
): Promise<{ status: ProgramStatus | undefined; processes: number }> {
  const text = await readText(conf);
  if (text === undefined) throw new Error(`supervisord config ${conf} not found: is supervisord installed?`);
  const socket = supervisorSocketOf(text, conf);
  if (socket)
    return {
      status: parseProcessInfoResponse(program, await xmlRpc(socket, processInfoRequest(program))),
      processes: 0,
    };
  const out = await run({
    argv: ['supervisorctl', '-c', conf, 'status', program],
    why: 'flanneld state',
    okStatus: [1, 2, 3, 4],
  });
  return { status: parseSupervisorStatus(out.stdout).find((s) => s.program === program), processes: 1 };
}

export async function observeNode(o: {
  readonly store: StoreTarget;
  readonly paths: ObservePaths;
  readonly program: string;
  readonly healthzPort: number;
  readonly runner?: Runner;
  /** an etcd answer from earlier in this run, to reuse instead of reading again */
  readonly etcd?: Outcome<NetworkState>;
}): Promise<NodeObservation> {
  const run = o.runner ?? spawnRunner;
  const p = o.paths;
  const [etcd, routesOut, saveOut, addrOut, supOut, healthz, files] = await Promise.all([
    // after --fix the first answer is reused: a fix never writes etcd, and one read per run is the budget
    o.etcd ? Promise.resolve(o.etcd) : attempt(() => readNetworkState(o.store)),
    attempt(() => run({ argv: ['ip', '-j', 'route', 'show'], why: 'routes' })),
    attempt(() => run({ argv: ['iptables-save'], why: 'rules' })),
    // all links (not -4): docker0's veth ports carry no IPv4 address, and their MTU matters
    attempt(() => run({ ...ipAddrCommand, argv: ['ip', '-j', '-d', 'addr', 'show'] })),
    attempt(() => programStatus(p.supervisorConf, o.program, run)),
    attempt(() => probeHealthz(o.healthzPort)),
    (async () => {
      const [subnetEnv, flanneldSh, persisted, ca, cert, key, ipForward, keyStat] = await Promise.all([
        readText(p.subnetEnv),
        readText(p.flanneldSh),
        readText(p.persist),
        readText(p.cafile),
        readText(p.certfile),
        readText(p.keyfile),
        readText('/proc/sys/net/ipv4/ip_forward'),
        stat(p.keyfile).catch(() => undefined),
      ]);
      return {
        subnetEnv,
        flanneldSh,
        persisted,
        ca,
        cert,
        key,
        ipForward: ipForward?.trim(),
        ...(keyStat && { keyMode: keyStat.mode & 0o777 }),
      };
    })(),
  ]);
  const routes = routesOut.ok ? await attempt(async () => parseIpRoute(routesOut.value.stdout)) : routesOut;
  const iptablesSave = saveOut.ok ? ok(saveOut.value.stdout) : saveOut;
  const ruleset = iptablesSave.ok ? await attempt(async () => parseIptablesSave(iptablesSave.value)) : iptablesSave;
  const ifaces = addrOut.ok ? await attempt(async () => parseIpAddr(addrOut.value.stdout)) : addrOut;
  const supervisor: Outcome<ProgramStatus | undefined> = supOut.ok ? ok(supOut.value.status) : supOut;
  // vxlan: the per-peer neighbour and fdb entries (two more processes, still none per peer)
  const vdev = ifaces.ok ? ifaces.value.find((i) => i.kind === 'vxlan' && /^flannel\.\d+$/.test(i.name)) : undefined;
  let vxlan: NodeObservation['vxlan'];
  if (vdev) {
    const [n, f] = await Promise.all([
      attempt(async () =>
        parseNeighbours(
          (await run({ argv: ['ip', '-j', 'neigh', 'show', 'dev', vdev.name], why: 'vxlan neighbours' })).stdout,
        ),
      ),
      attempt(async () =>
        parseFdb((await run({ argv: ['bridge', '-j', 'fdb', 'show', 'dev', vdev.name], why: 'vxlan fdb' })).stdout),
      ),
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
    files,
    ...(vxlan && { vxlan }),
    processes: 3 + (supOut.ok ? supOut.value.processes : 1) + (vxlan ? 2 : 0),
  };
}

// ------------------------------------------------------------------ doctor's extra probes
// Read only, like observeNode; run by doctor after it, and only what the findings need.

/** A link with its MTU, bridge master and kind: what `ip -j -d addr show` gives (parseIpAddr). */
export type Link = Pick<Interface, 'name' | 'mtu' | 'master' | 'kind'>;

/** The last `maxBytes` of a (possibly 64 MB) log file, from its first whole line. */
export async function readLogTail(path: string, maxBytes = 256 * 1024): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    await fh.close();
  }
}

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

export interface DoctorProbes {
  /** the config key in the key space flannel does NOT read (probed only when flannel's has none, or v2 is off) */
  readonly otherKeySpace?: Outcome<{ readonly api: EtcdApi; readonly config?: string }>;
  readonly logFile: string;
  /** the tail of flanneld's log */
  readonly log: Outcome<string>;
  /** every link of this host, with MTU and bridge master */
  readonly links: Outcome<Link[]>;
  /** the links inside each --pod-netns */
  readonly pods: readonly { readonly netns: string; readonly links: Outcome<Link[]> }[];
  /** child processes these probes started */
  readonly processes: number;
}

/** doctor's probes beyond observeNode: the other key space, flanneld's log, links and pods' MTUs. */
export async function observeDoctorProbes(o: {
  readonly store: StoreTarget;
  readonly obs: NodeObservation;
  readonly logFile: string;
  readonly podNetns?: readonly string[];
  readonly runner: Runner;
}): Promise<DoctorProbes> {
  const run = o.runner;
  const e = o.obs.etcd;
  const other: EtcdApi = o.store.api === 'v2' ? 'v3' : 'v2';
  const wantOther = (e.ok && e.value.config === undefined) || (!e.ok && e.kind === 'v2-disabled');
  const links = (argv: string[]) =>
    attempt(async () => parseIpAddr((await run({ argv, why: 'links and their MTUs' })).stdout));
  const pods = o.podNetns ?? [];
  const [otherKeySpace, log, hostLinks, podLinks] = await Promise.all([
    wantOther
      ? attempt(async () => ({ api: other, config: await readConfigIn({ ...o.store, api: other }, other) }))
      : Promise.resolve(undefined),
    attempt(() => readLogTail(o.logFile)),
    // the host's links were read by observeNode already (all families, with master)
    Promise.resolve(o.obs.ifaces),
    Promise.all(
      pods.map(async (netns) => ({
        netns,
        links: await links(['ip', 'netns', 'exec', netns, 'ip', '-j', '-d', 'addr', 'show']),
      })),
    ),
  ]);
  return {
    ...(otherKeySpace && { otherKeySpace }),
    logFile: o.logFile,
    log,
    links: hostLinks,
    pods: podLinks,
    processes: pods.length,
  };
}
