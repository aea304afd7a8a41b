// What a node IS, read in one pass for drift and doctor: a constant number of child
// processes whatever the cluster size (`ip -j route`, `iptables-save`, `ip -j -d addr`,
// `supervisorctl status`), ONE etcd range read, and plain file reads (subnet.env,
// flanneld.sh, the persisted rules, the certs, /proc/sys/net/ipv4/ip_forward, which is per
// network namespace). Nothing here changes the node.

import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import { EtcdError } from './etcd.ts';
import { ipAddrCommand, parseIpAddr, type Interface } from './interfaces.ts';
import { parseIptablesSave, type Ruleset } from './iptables.ts';
import { readNetworkState, type NetworkState, type StoreTarget } from './network-store.ts';
import { parseIpRoute, type Route } from './routes.ts';
import { zxRunner, type Runner } from './runner.ts';
import { parseSupervisorStatus, type ProgramStatus } from './supervisor.ts';

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

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string; readonly kind?: string };

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
export function probeHealthz(port: number, timeoutMs = 1000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`healthz on 127.0.0.1:${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'ECONNREFUSED' ? `healthz on 127.0.0.1:${port}: connection refused (flanneld not running, or --healthz-port not set)` : e.message)));
  });
}

export async function observeNode(o: {
  readonly store: StoreTarget;
  readonly paths: ObservePaths;
  readonly program: string;
  readonly healthzPort: number;
  readonly runner?: Runner;
}): Promise<NodeObservation> {
  const run = o.runner ?? zxRunner;
  const p = o.paths;
  const [etcd, routesOut, saveOut, addrOut, supOut, healthz, files] = await Promise.all([
    attempt(() => readNetworkState(o.store)),
    attempt(() => run({ argv: ['ip', '-j', 'route', 'show'], why: 'routes' })),
    attempt(() => run({ argv: ['iptables-save'], why: 'rules' })),
    attempt(() => run({ ...ipAddrCommand, argv: ['ip', '-j', '-d', '-4', 'addr', 'show'] })),
    attempt(() => run({ argv: ['supervisorctl', '-c', p.supervisorConf, 'status', o.program], why: 'flanneld state', okStatus: [1, 2, 3, 4] })),
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
      return { subnetEnv, flanneldSh, persisted, ca, cert, key, ipForward: ipForward?.trim(), ...(keyStat && { keyMode: keyStat.mode & 0o777 }) };
    })(),
  ]);
  const routes = routesOut.ok ? await attempt(async () => parseIpRoute(routesOut.value.stdout)) : routesOut;
  const iptablesSave = saveOut.ok ? ok(saveOut.value.stdout) : saveOut;
  const ruleset = iptablesSave.ok ? await attempt(async () => parseIptablesSave(iptablesSave.value)) : iptablesSave;
  const ifaces = addrOut.ok ? await attempt(async () => parseIpAddr(addrOut.value.stdout)) : addrOut;
  let supervisor: Outcome<ProgramStatus | undefined>;
  if (!supOut.ok) supervisor = supOut;
  else {
    const text = `${supOut.value.stdout}${supOut.value.stderr}`;
    supervisor = /refused connection|no such file|SHUTDOWN_STATE/i.test(text) && !/^\S+\s+(RUNNING|STARTING|BACKOFF|STOPPED|STOPPING|EXITED|FATAL)/m.test(supOut.value.stdout)
      ? { ok: false, error: `supervisord not answering: ${text.trim().split('\n')[0]}` }
      : await attempt(async () => parseSupervisorStatus(supOut.value.stdout).find((s) => s.program === o.program));
  }
  return { at: new Date(), etcd, routes, iptablesSave, ruleset, ifaces, supervisor, healthz, files, processes: 4 };
}
