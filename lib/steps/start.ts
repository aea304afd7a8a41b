// Runbook step 4, start: flanneld as a supervised service on one node. Where its files go, the
// plan that writes them and tells supervisord (planStart, pure), the checks before starting it,
// what "up" means, and the wait until it is (waitUntilUp).
// "Up" is NOT healthz (it answers before flanneld has a config or a lease, docs/flannel-facts.md,
// healthz): it is the program RUNNING (after startsecs), this node's lease in etcd with our
// public IP and subnet, and subnet.env equal to that lease.

import { posix } from 'node:path';
import { invalid, RuntimeError, UsageError } from '../core/errors.ts';
import {
  renderFlanneldSh,
  renderSupervisorIni,
  renderSystemdUnit,
  type FlanneldSettings,
  type ProgramSettings,
} from '../model/flanneld-files.ts';
import type { Ip4, Ip4Net } from '../core/ip4.ts';
import type { Lease } from '../model/lease.ts';
import { backendMtu, parseNetworkConfig, subnetFitsConfig, type NetworkConfig } from '../model/netconfig.ts';
import { createHash } from 'node:crypto';
import { shellLine, shellQuote, type Command } from '../core/command.ts';
import { makeDir, run, write, type Action, type DoneWhen } from '../core/plan.ts';
import { formatSubnetEnv, parseSubnetEnv, type SubnetEnv } from '../model/subnet-env.ts';
import type { Host } from '../host/host.ts';
import { programStatus } from '../host/supervisord.ts';
import { readAddresses } from '../host/iproute.ts';
import { readNetworkState, type StoreTarget } from '../host/network-store.ts';
import { explainLog, formatExplained } from '../model/flanneld-log.ts';
import { findInterface } from '../model/interfaces.ts';
import { isUp, supervisorctlArgv, type ProgramStatus } from '../model/supervisor.ts';
import { rooted } from '../core/paths.ts';

export const FLANNEL_DIR = '/opt/flannel';

/** Every host path the start step touches, under --root. */
export function servicePaths(root: string, opts: { supervisorConf?: string; program: string }) {
  const r = (p: string) => rooted(root, p);
  return {
    flannelDir: r(FLANNEL_DIR),
    subnetEnv: r(`${FLANNEL_DIR}/subnet.env`),
    flanneldSh: r(`${FLANNEL_DIR}/flanneld.sh`),
    ini: r('/etc/supervisord.d/flannel.ini'),
    supervisorConf: r(opts.supervisorConf ?? '/etc/supervisord.conf'),
    logDir: r('/data/logs/flanneld'),
    logFile: r('/data/logs/flanneld/flanneld.stdout.log'),
    unit: r(`/etc/systemd/system/${opts.program}.service`),
  };
}
export type ServicePaths = ReturnType<typeof servicePaths>;

/** A TLS file as flanneld.sh names it: `./cert/ca.pem` inside /opt/flannel (as the runbook), else absolute under --root. */
export function launcherPath(root: string, hostPath: string): string {
  const rel = posix.relative(FLANNEL_DIR, hostPath);
  if (!rel.startsWith('..') && !posix.isAbsolute(rel)) return `./${rel}`;
  return rooted(root, hostPath);
}

export interface StartInput {
  readonly root: string;
  readonly program: string;
  readonly publicIp: Ip4;
  readonly subnet: Ip4Net;
  readonly network: Ip4Net;
  readonly iface: string;
  readonly mtu: number;
  readonly endpoints: readonly string[];
  /** host paths (unrooted), absent for plain-http etcd */
  readonly tls?: { cafile: string; certfile: string; keyfile: string };
  readonly etcdPrefix: string;
  readonly healthzPort: number;
  readonly startSecs: number;
  readonly manager: 'supervisor' | 'systemd';
  readonly paths: ServicePaths;
}

export interface RenderedFiles {
  readonly subnetEnv: string;
  readonly flanneldSh: string;
  readonly ini: string;
  readonly unit: string;
  readonly expectedEnv: SubnetEnv;
}

/** flanneld's flags for this node, as start writes them into flanneld.sh (and drift expects them). */
export function launcherSettings(
  i: Pick<StartInput, 'root' | 'publicIp' | 'endpoints' | 'tls' | 'iface' | 'healthzPort' | 'etcdPrefix'>,
): FlanneldSettings {
  return {
    publicIp: i.publicIp,
    endpoints: i.endpoints,
    ...(i.tls && {
      keyfile: launcherPath(i.root, i.tls.keyfile),
      certfile: launcherPath(i.root, i.tls.certfile),
      cafile: launcherPath(i.root, i.tls.cafile),
    }),
    iface: i.iface,
    subnetFile: './subnet.env',
    healthzPort: i.healthzPort,
    etcdPrefix: i.etcdPrefix,
    // exec: supervisord's stop signal must reach flanneld, not a /bin/sh that leaves it orphaned
    exec: true,
  };
}

export function renderServiceFiles(i: StartInput): RenderedFiles {
  const expectedEnv: SubnetEnv = {
    network: i.network.network(),
    subnet: i.subnet.gatewayForm(),
    mtu: i.mtu,
    ipMasq: false,
  };
  const program: ProgramSettings = {
    program: i.program,
    command: i.paths.flanneldSh,
    directory: i.paths.flannelDir,
    logFile: i.paths.logFile,
    startSecs: i.startSecs,
  };
  return {
    expectedEnv,
    subnetEnv: formatSubnetEnv(expectedEnv),
    flanneldSh: renderFlanneldSh(launcherSettings(i)),
    ini: renderSupervisorIni(program),
    unit: renderSystemdUnit(program),
  };
}

export interface ObservedService {
  /** current contents, undefined when the file is missing */
  readonly subnetEnv?: string;
  readonly flanneldSh?: string;
  readonly ini?: string;
  readonly unit?: string;
  readonly logDirExists: boolean;
  /** supervisorctl status of our program (undefined: not known to supervisord yet) */
  readonly status?: ProgramStatus;
}

/**
 * Files to write and the one supervisor command that makes it take effect:
 * a changed ini -> `update` (adds or restarts the program); other files changed while it
 * runs -> `restart`; not running -> `start` (or `update` when supervisord has not loaded it).
 */
export function planStart(i: StartInput, files: RenderedFiles, seen: ObservedService): Action[] {
  const a: Action[] = [];
  const p = i.paths;
  if (!seen.logDirExists) a.push(makeDir(p.logDir, "flanneld's log (supervisord's stdout_logfile) goes here"));
  const envChanged = seen.subnetEnv !== files.subnetEnv;
  const shChanged = seen.flanneldSh !== files.flanneldSh;
  if (envChanged)
    a.push(
      write(
        p.subnetEnv,
        files.subnetEnv,
        `subnet.env names ${i.subnet}, the subnet docker0 already uses, so flanneld reclaims it`,
      ),
    );
  if (shChanged)
    a.push(write(p.flanneldSh, files.flanneldSh, `flanneld's flags for ${i.publicIp} on ${i.iface}`, 0o755));
  const ctl = (args: [string, string?], why: string) =>
    run({ argv: supervisorctlArgv(p.supervisorConf, args[0], args[1]), why });
  if (i.manager === 'systemd') {
    const unitChanged = seen.unit !== files.unit;
    if (unitChanged) a.push(write(p.unit, files.unit, `systemd unit for ${i.program}`));
    if (unitChanged) a.push(run({ argv: ['systemctl', 'daemon-reload'], why: 'systemd reads the new unit' }));
    if (unitChanged || envChanged || shChanged)
      a.push(run({ argv: ['systemctl', 'enable', '--now', `${i.program}.service`], why: 'start it now and at boot' }));
    if (!unitChanged && (envChanged || shChanged))
      a.push(
        run({
          argv: ['systemctl', 'restart', `${i.program}.service`],
          why: 'flanneld reads its flags and subnet.env only at start',
        }),
      );
    return a;
  }
  const iniChanged = seen.ini !== files.ini;
  if (iniChanged) a.push(write(p.ini, files.ini, `supervisord program ${i.program}`));
  const running = seen.status && isUp(seen.status.state);
  if (iniChanged || !seen.status || seen.status.state === 'UNKNOWN') {
    a.push(
      ctl(
        ['update'],
        iniChanged
          ? `load ${i.program} into supervisord (starts it, or restarts it with the new settings)`
          : `supervisord does not know ${i.program} yet`,
      ),
    );
  } else if (envChanged || shChanged) {
    a.push(ctl(['restart', i.program], 'flanneld reads its flags and subnet.env only at start'));
  } else if (!running) {
    a.push(ctl(['start', i.program], `${i.program} is ${seen.status.state}`));
  }
  return a;
}

/**
 * Refuse to start when flanneld would silently do the wrong thing (docs/flannel-facts.md, lease choice):
 * - our subnet leased to another node's IP: flanneld would take that live lease over;
 * - our IP already holding another subnet: flanneld would reuse it and ignore subnet.env;
 * - no config, or our subnet outside what the config allows: it would wait, or pick a random subnet.
 */
export function checkStartPreconditions(
  i: Pick<StartInput, 'publicIp' | 'subnet'>,
  config: NetworkConfig | undefined,
  leases: readonly Lease[],
  api: string,
): void {
  if (!config) {
    throw new UsageError(
      `no network config in etcd (${api} API): flanneld would wait forever; write it first (scripts/etcd-config.ts --network ... --backend host-gw)`,
    );
  }
  if (!subnetFitsConfig(config, i.subnet)) {
    throw invalid(
      '--subnet',
      i.subnet.toString(),
      `does not fit the network config (Network ${config.network}, SubnetLen ${config.subnetLen}, SubnetMin ${config.subnetMin}, SubnetMax ${config.subnetMax}); flanneld would pick a random subnet`,
      `${config.subnetMin}/${config.subnetLen}`,
    );
  }
  const holder = leases.find((l) => l.subnet.equals(i.subnet) && !l.publicIp.equals(i.publicIp));
  if (holder) {
    throw invalid(
      '--subnet',
      i.subnet.toString(),
      `is leased to ${holder.publicIp} (${holder.key}); flanneld would silently take that live lease over. Pick this node's own subnet, or delete the stale lease if that node is gone`,
      '172.7.21.0/24',
    );
  }
  const own = leases.find((l) => l.publicIp.equals(i.publicIp) && !l.subnet.equals(i.subnet));
  if (own) {
    throw invalid(
      '--subnet',
      i.subnet.toString(),
      `but ${i.publicIp} already holds ${own.subnet} (${own.key}); flanneld would reuse that lease and rewrite subnet.env, so docker0 would not match. Use --subnet ${own.subnet}, or delete that lease first`,
      own.subnet.toString(),
    );
  }
}

export interface Readiness {
  readonly ready: boolean;
  readonly supervisor: string;
  readonly lease: string;
  readonly subnetEnv: string;
}

/** Is flanneld up, as the operator means it? Each part says what it saw. */
export function readiness(
  i: Pick<StartInput, 'publicIp' | 'subnet'>,
  status: ProgramStatus | undefined,
  leases: readonly Lease[] | undefined,
  env: SubnetEnv | undefined,
  expectedEnv: SubnetEnv,
): Readiness {
  const sup = status
    ? status.state === 'RUNNING'
      ? 'RUNNING'
      : `${status.state}${status.detail ? ` (${status.detail})` : ''}`
    : 'not loaded';
  const mine = leases?.find((l) => l.publicIp.equals(i.publicIp));
  const lease =
    leases === undefined
      ? 'etcd not answering'
      : !mine
        ? 'no lease yet'
        : mine.subnet.equals(i.subnet)
          ? `${mine.subnet} ok`
          : `holds ${mine.subnet}, not ${i.subnet}`;
  const envOk = Boolean(
    env?.subnet.identical(expectedEnv.subnet) && env.network.equals(expectedEnv.network) && env.mtu === expectedEnv.mtu,
  );
  const envText = env === undefined ? 'unreadable' : envOk ? 'matches' : `says ${env.subnet} mtu ${env.mtu}`;
  return {
    ready: status?.state === 'RUNNING' && Boolean(mine?.subnet.equals(i.subnet)) && envOk,
    supervisor: sup,
    lease,
    subnetEnv: envText,
  };
}

// ------------------------------------------------------------------ observe and wait

export interface WaitProgress {
  readonly seconds: number;
  readonly timeoutSeconds: number;
  readonly state: Readiness;
}

/**
 * Poll until flanneld is up (Readiness.ready) or `timeoutSeconds` pass: supervisord's state,
 * the leases (one etcd read a second) and subnet.env. `onProgress` hears every poll.
 */
export async function waitUntilUp(o: {
  readonly host: Host;
  readonly input: Pick<StartInput, 'publicIp' | 'subnet' | 'program' | 'paths'>;
  readonly expectedEnv: SubnetEnv;
  readonly readLeases: () => Promise<readonly Lease[]>;
  readonly timeoutSeconds: number;
  readonly onProgress?: (p: WaitProgress) => void;
  /** when the wait began (Date.now()): the elapsed time counts from the change, not the poll */
  readonly since?: number;
  /** stop at once on a state that will not come up by itself (FATAL, a spawn error) */
  readonly stopWhenFailed?: boolean;
}): Promise<{ up: boolean; seconds: number; state: Readiness }> {
  const t0 = o.since ?? Date.now();
  const p = o.input.paths;
  for (;;) {
    const st = await programStatus(o.host, p.supervisorConf, o.input.program).then(
      (x) => x.status,
      () => undefined,
    );
    const leases = await o.readLeases().catch(() => undefined);
    const envText = await o.host.readFile(p.subnetEnv).catch(() => undefined);
    let env: SubnetEnv | undefined;
    try {
      env = envText === undefined ? undefined : parseSubnetEnv(envText, p.subnetEnv);
    } catch {
      env = undefined;
    }
    const state = readiness(o.input, st, leases, env, o.expectedEnv);
    const seconds = (Date.now() - t0) / 1000;
    o.onProgress?.({ seconds, timeoutSeconds: o.timeoutSeconds, state });
    if (state.ready) return { up: true, seconds, state };
    if (seconds >= o.timeoutSeconds) return { up: false, seconds, state };
    if (o.stopWhenFailed && (st?.state === 'FATAL' || st?.state === 'EXITED')) return { up: false, seconds, state };
    await new Promise((res) => setTimeout(res, 1000));
  }
}

// ------------------------------------------------------------------ observe before planning

/** What start is asked to do, before it has looked at the node. */
export type StartRequest = Omit<StartInput, 'mtu' | 'network'> & { readonly network?: Ip4Net };

/**
 * Look at the node and etcd before planning: supervisord's config, the interface and that the
 * public IP is on it, the config and the leases (one etcd read), the files and the program's
 * state. Anything that would make flanneld do the wrong thing is refused here (exit 2), before
 * a change.
 */
export async function observeStart(
  host: Host,
  store: StoreTarget,
  req: StartRequest,
): Promise<{ input: StartInput; files: RenderedFiles; seen: ObservedService }> {
  const p = req.paths;
  if (req.manager === 'supervisor' && !(await host.stat(p.supervisorConf))) {
    throw invalid(
      '--supervisor-conf',
      p.supervisorConf,
      'no such file; is supervisord installed? (yum/apt install supervisor)',
      '/etc/supervisord.conf',
    );
  }
  const ifaces = await readAddresses(host);
  const dev = findInterface(ifaces, req.iface);
  if (!dev)
    throw invalid(
      '--iface',
      req.iface,
      `no such interface on this host (have: ${ifaces.map((i) => i.name).join(', ')})`,
      'eth0',
    );
  if (!dev.addrs.some((a) => a.ip.equals(req.publicIp))) {
    throw invalid(
      '--public-ip',
      req.publicIp.toString(),
      `is not an address of ${req.iface} (${dev.addrs.join(', ') || 'none'}); host-gw routes point at it, so it must be`,
      dev.addrs[0]?.ip.toString() ?? '10.4.7.21',
    );
  }
  const state = await readNetworkState(store);
  const config = state.config === undefined ? undefined : parseNetworkConfig(state.config);
  if (req.network && config && !req.network.equals(config.network)) {
    throw invalid(
      '--network',
      req.network.toString(),
      `differs from the Network in etcd (${config.network})`,
      config.network.toString(),
    );
  }
  checkStartPreconditions(req, config, state.leases, store.api);
  const input: StartInput = {
    ...req,
    network: req.network ?? config!.network,
    mtu: backendMtu(config!.backend, dev.mtu),
  };
  const status =
    req.manager === 'supervisor'
      ? await programStatus(host, p.supervisorConf, req.program).then(
          (x) => x.status,
          (e: Error) => {
            // not the operator's input: a daemon that is down is a runtime failure, as drift says (exit 3)
            throw new RuntimeError(`${e.message}; start supervisord first (systemctl start supervisord)`);
          },
        )
      : undefined;
  const seen: ObservedService = {
    subnetEnv: await host.readFile(p.subnetEnv),
    flanneldSh: await host.readFile(p.flanneldSh),
    ini: await host.readFile(p.ini),
    unit: await host.readFile(p.unit),
    logDirExists: (await host.stat(p.logDir))?.type === 'dir',
    ...(status && { status }),
  };
  return { input, files: renderServiceFiles(input), seen };
}

/** What start prints when flanneld is not up in time: the state, the log's tail and what its lines mean. */
export function notUpReport(
  input: Pick<StartInput, 'program' | 'paths'>,
  seconds: number,
  r: Readiness,
  log: string,
  /** what supervisorctl said when it was told to start the program, when that failed */
  supervisorctl?: string,
): string {
  const tail = log.split('\n').slice(-25).join('\n');
  const explained = explainLog(tail);
  return (
    `start: ${input.program} is not up after ${Math.round(seconds)}s (supervisor ${r.supervisor}; lease ${r.lease}; subnet.env ${r.subnetEnv})\n` +
    (supervisorctl ? `--- supervisorctl said: ${supervisorctl}\n` : '') +
    `--- last lines of ${input.paths.logFile}:\n${tail || '(empty)'}\n` +
    (explained.length ? `--- what they mean:\n${formatExplained(explained)}\n` : '')
  );
}

// ------------------------------------------------------------------ the printed form (--dry-run)

const sha256Of = (text: string) => createHash('sha256').update(text).digest('hex');

/** A pasted start script's "already done?": the three files as start renders them, and the program RUNNING. */
export function startDone(input: StartInput, files: RenderedFiles): DoneWhen {
  const p = input.paths;
  const sums = [
    [files.subnetEnv, p.subnetEnv],
    [files.flanneldSh, p.flanneldSh],
    ...(input.manager === 'supervisor' ? [[files.ini, p.ini]] : [[files.unit, p.unit]]),
  ]
    .map(([content, path]) => `${sha256Of(content!)}  ${path}`)
    .join('\\n');
  const running =
    input.manager === 'supervisor'
      ? `${shellLine(supervisorctlArgv(p.supervisorConf, 'status', input.program))} | grep -q RUNNING`
      : `systemctl is-active --quiet ${shellQuote(`${input.program}.service`)}`;
  return {
    test: `printf '${sums}\\n' | sha256sum -c --status 2>/dev/null && ${running}`,
    say: `start: nothing to do (${input.program} RUNNING, its files as start writes them)`,
  };
}

/**
 * The wait start makes after telling supervisord, as shell: until the program is RUNNING and
 * subnet.env names the lease, at most `timeoutS`. It leaves out the lease check in etcd that
 * start makes (it needs the etcd client's TLS files and a JSON parser).
 */
export function waitCommand(input: StartInput, expectedEnv: SubnetEnv, timeoutS: number): Command {
  const p = input.paths;
  const status = shellLine(supervisorctlArgv(p.supervisorConf, 'status', input.program));
  return {
    argv: [],
    why: `wait until ${input.program} is RUNNING and subnet.env names ${input.subnet} (at most ${timeoutS} s)\nleft out here: the lease check in etcd that start makes`,
    printAs: [
      'i=0',
      `until ${status} | grep -q RUNNING && grep -qx ${shellQuote(`FLANNEL_SUBNET=${expectedEnv.subnet}`)} ${shellQuote(p.subnetEnv)}; do`,
      `  i=$((i + 1)); [ "$i" -le ${timeoutS} ] || { echo ${shellQuote(`${input.program} is not up after ${timeoutS}s; see ${p.logFile}`)} >&2; exit 3; }`,
      '  sleep 1',
      'done',
    ].join('\n'),
  };
}
