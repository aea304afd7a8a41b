#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// start: runbook step 4, on every node. Writes subnet.env (atomically), flanneld.sh, the
// supervisord program ini (program flanneld-7-21 for hdss7-21) and the log dir; tells
// supervisord (`supervisorctl update`); then waits until flanneld is really up: RUNNING
// (after startsecs), its lease in etcd with this node's IP and subnet, subnet.env matching.
// healthz alone proves nothing (it answers before flanneld has a lease). On timeout it
// prints the tail of flanneld's log with what the known error lines mean.
// Refuses to start when the subnet is leased to another node's IP (flanneld would take it over).
// Idempotent: same files and flanneld up -> nothing to do.
// Exit: 0 up / nothing to do, 2 bad input (nothing changed), 3 flanneld did not come up / command failed.

import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { ExitCode, invalid, UsageError } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags, required } from '../lib/flags.ts';
import {
  checkStartPreconditions,
  planStart,
  readiness,
  renderServiceFiles,
  servicePaths,
  type StartInput,
} from '../lib/flanneld-service.ts';
import { programNameFor, checkProgramName } from '../lib/flanneld-files.ts';
import { explainLog, formatExplained } from '../lib/flanneld-log.ts';
import { findInterface, ipAddrCommand, parseIpAddr } from '../lib/interfaces.ts';
import { backendMtu, parseNetworkConfig } from '../lib/netconfig.ts';
import { connectionFor, readNetworkState, storeTarget, type StoreTarget } from '../lib/network-store.ts';
import { applyPlan, describeAction, formatPlan } from '../lib/plan.ts';
import { zxRunner, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, note, report, runScript } from '../lib/script.ts';
import { parseSubnetEnv, type SubnetEnv } from '../lib/subnet-env.ts';
import type { ProgramStatus } from '../lib/supervisor.ts';
import { programStatus } from '../lib/node-observe.ts';
import type { Lease } from '../lib/lease.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  'public-ip': nodeFlags['public-ip'],
  subnet: nodeFlags.subnet,
  iface: nodeFlags.iface,
  network: nodeFlags.network,
  'healthz-port': nodeFlags['healthz-port'],
  program: {
    type: 'string',
    placeholder: 'NAME',
    help: 'supervisord program name (default: from the node name, hdss7-21 -> flanneld-7-21; else flanneld)',
  },
  'supervisor-conf': {
    type: 'string',
    default: '/etc/supervisord.conf',
    placeholder: 'FILE',
    help: "supervisord's config, passed to every supervisorctl -c (under --root)",
  },
  supervisor: {
    type: 'string',
    default: 'supervisord',
    choices: ['supervisord', 'systemd'],
    placeholder: 'KIND',
    help: 'what runs flanneld: supervisord (the runbook) or a systemd unit',
  },
  startsecs: {
    type: 'number',
    default: 30,
    min: 0,
    max: 3600,
    placeholder: 'S',
    help: "supervisord's startsecs: RUNNING only after flanneld lasted this long (the runbook's 30)",
  },
  timeout: {
    type: 'number',
    default: 120,
    min: 1,
    max: 3600,
    placeholder: 'S',
    help: 'how long to wait for flanneld to be up',
  },
  'no-wait': { type: 'boolean', help: 'write and start, but do not wait for flanneld to be up' },
});

const info = {
  name: 'start',
  summary:
    'Runbook step 4: write subnet.env, flanneld.sh and the supervisord program, start flanneld, wait until its lease is in etcd.',
  example:
    'scripts/start.ts --public-ip 10.4.7.21 --subnet 172.7.21.0/24 --iface eth0 --network 172.7.0.0/16 --endpoints https://10.4.7.12:2379,https://10.4.7.21:2379,https://10.4.7.22:2379',
  perNode: true,
};

/** flanneld's state in supervisord; supervisord not answering is a precondition failure (exit 2). */
async function programState(conf: string, program: string): Promise<ProgramStatus | undefined> {
  try {
    return (await programStatus(conf, program)).status;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}; start supervisord first (systemctl start supervisord)`);
  }
}

export async function main(argv: string[], runner: Runner = zxRunner): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f, node } = loaded;
  const v = f.values;
  const publicIp = required(s.node.publicIp, '--public-ip', '10.4.7.21');
  const subnet = required(s.node.subnet, '--subnet', '172.7.21.0/24');
  const iface = required(s.node.iface, '--iface', 'eth0');
  const program = checkProgramName(
    '--program',
    v.program ?? node?.program ?? (s.node.name ? programNameFor(s.node.name) : 'flanneld'),
  );
  const conn = connectionFor(s);
  const target: StoreTarget = storeTarget(conn, s.etcd.api, s.etcd.prefix);
  const paths = servicePaths(s.root, { supervisorConf: v['supervisor-conf'], program });
  const manager = v.supervisor === 'systemd' ? 'systemd' : 'supervisor';
  if (manager === 'supervisor' && !existsSync(paths.supervisorConf)) {
    throw invalid(
      '--supervisor-conf',
      paths.supervisorConf,
      'no such file; is supervisord installed? (yum/apt install supervisor)',
      '/etc/supervisord.conf',
    );
  }

  // observe: the interface, etcd (config + leases in one read), the files, supervisord
  const ifaces = parseIpAddr((await zxRunner(ipAddrCommand)).stdout);
  const dev = findInterface(ifaces, iface);
  if (!dev)
    throw invalid(
      '--iface',
      iface,
      `no such interface on this host (have: ${ifaces.map((i) => i.name).join(', ')})`,
      'eth0',
    );
  if (!dev.addrs.some((a) => a.ip.equals(publicIp))) {
    throw invalid(
      '--public-ip',
      publicIp.toString(),
      `is not an address of ${iface} (${dev.addrs.join(', ') || 'none'}); host-gw routes point at it, so it must be`,
      dev.addrs[0]?.ip.toString() ?? '10.4.7.21',
    );
  }
  const state = await readNetworkState(target);
  const config = state.config === undefined ? undefined : parseNetworkConfig(state.config);
  const network = s.network ?? config?.network;
  if (s.network && config && !s.network.equals(config.network)) {
    throw invalid(
      '--network',
      s.network.toString(),
      `differs from the Network in etcd (${config.network})`,
      config.network.toString(),
    );
  }
  checkStartPreconditions({ publicIp, subnet }, config, state.leases, s.etcd.api);
  const input: StartInput = {
    root: s.root,
    program,
    publicIp,
    subnet,
    network: network!,
    iface,
    mtu: backendMtu(config!.backend, dev.mtu),
    endpoints: conn.endpoints,
    ...(conn.cafile && { tls: { cafile: s.etcd.cafile, certfile: s.etcd.certfile, keyfile: s.etcd.keyfile } }),
    etcdPrefix: s.etcd.prefix,
    healthzPort: s.healthzPort,
    startSecs: v.startsecs,
    manager,
    paths,
  };
  const files = renderServiceFiles(input);
  const read = (p: string) => readFile(p, 'utf8').catch(() => undefined);
  const status = manager === 'supervisor' ? await programState(paths.supervisorConf, program) : undefined;
  const actions = planStart(input, files, {
    subnetEnv: await read(paths.subnetEnv),
    flanneldSh: await read(paths.flanneldSh),
    ini: await read(paths.ini),
    unit: await read(paths.unit),
    logDirExists: existsSync(paths.logDir),
    status,
  });

  if (s.dryRun) {
    process.stdout.write(formatPlan(actions));
    return 0;
  }
  const done: string[] = [];
  await applyPlan(actions, runner, (a) => done.push(describeAction(a)));
  if (v['no-wait'] || manager === 'systemd') {
    report(s, { changed: actions.length > 0, actions: done }, actions.length ? done : ['start: nothing to do']);
    return 0;
  }

  // wait until up: RUNNING, lease, subnet.env (one etcd read per second)
  const deadline = Date.now() + v.timeout * 1000;
  const t0 = Date.now();
  let last = '';
  const tty = process.stderr.isTTY && !s.quiet;
  for (;;) {
    const st = await programState(paths.supervisorConf, program).catch(() => undefined);
    const leases: Lease[] | undefined = await readNetworkState(target).then(
      (x) => x.leases,
      () => undefined,
    );
    const envText = await read(paths.subnetEnv);
    let env: SubnetEnv | undefined;
    try {
      env = envText === undefined ? undefined : parseSubnetEnv(envText, paths.subnetEnv);
    } catch {
      env = undefined;
    }
    const r = readiness({ publicIp, subnet }, st, leases, env, files.expectedEnv);
    const secs = Math.round((Date.now() - t0) / 1000);
    const line = `start: waiting for ${program}: supervisor ${r.supervisor}; lease ${r.lease}; subnet.env ${r.subnetEnv}`;
    if (tty) process.stderr.write(`\r${line} [${secs}s]\x1b[K`);
    else if (line !== last && !s.quiet) note(line);
    last = line;
    if (r.ready) {
      if (tty) process.stderr.write('\n');
      const lines = actions.length
        ? [...done, `start: ${program} is up after ${secs}s: lease ${subnet} -> ${publicIp}`]
        : [`start: nothing to do (${program} RUNNING, lease ${subnet} -> ${publicIp}, subnet.env matches)`];
      report(
        s,
        { changed: actions.length > 0, actions: done, program, lease: subnet.toString(), seconds: secs },
        lines,
        actions.length > 0,
      );
      return 0;
    }
    if (Date.now() > deadline) {
      if (tty) process.stderr.write('\n');
      const log = (await read(paths.logFile)) ?? '';
      const tail = log.split('\n').slice(-25).join('\n');
      const explained = explainLog(tail);
      process.stderr.write(
        `start: ${program} is not up after ${v.timeout}s (supervisor ${r.supervisor}; lease ${r.lease}; subnet.env ${r.subnetEnv})\n` +
          `--- last lines of ${paths.logFile}:\n${tail || '(empty)'}\n` +
          (explained.length ? `--- what they mean:\n${formatExplained(explained)}\n` : ''),
      );
      return ExitCode.Runtime;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
