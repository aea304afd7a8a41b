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

import { ExitCode, RuntimeError, UsageError } from '../lib/core/errors.ts';
import { checkProgramName } from '../lib/core/validate.ts';
import { programNameFor } from '../lib/model/flanneld-files.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags } from '../lib/cli/flags.ts';
import { printErr, printPlanned, report } from '../lib/cli/output.ts';
import { applyAndWait } from '../lib/cli/start-run.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { connectionFor, hostFile, required } from '../lib/cli/settings.ts';
import { applyPlan } from '../lib/host/apply.ts';
import type { Host } from '../lib/host/host.ts';
import { storeTarget } from '../lib/host/network-store.ts';
import { notUpReport, observeStart, planStart, servicePaths, startDone, waitCommand } from '../lib/steps/start.ts';

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
    help: 'supervisord program name (else the cluster node name, hdss7-21 -> flanneld-7-21; else flanneld); a running program is never renamed',
    fromNode: 'the supervisord ini that runs /opt/flannel/flanneld.sh',
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
  rename: {
    type: 'boolean',
    help: 'let --program (or the cluster file) rename the program that runs flanneld.sh now (supervisord stops the old one)',
  },
});

const info = {
  name: 'start',
  summary:
    'Runbook step 4: write subnet.env, flanneld.sh and the supervisord program, start flanneld, wait until its lease is in etcd.',
  example:
    'scripts/start.ts --public-ip 10.4.7.21 --subnet 172.7.21.0/24 --iface eth0 --network 172.7.0.0/16 --endpoints https://10.4.7.12:2379,https://10.4.7.21:2379,https://10.4.7.22:2379',
  perNode: true,
};

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, node, host, recording } = loaded;
  const v = f.values;
  const publicIp = required(s.node.publicIp, '--public-ip', '10.4.7.21', s.looked);
  const subnet = required(s.node.subnet, '--subnet', '172.7.21.0/24', s.looked);
  const iface = required(s.node.iface, '--iface', 'eth0', s.looked);
  const program = checkProgramName(
    '--program',
    v.program ?? node?.program ?? s.node.program ?? (s.node.name ? programNameFor(s.node.name) : 'flanneld'),
  );
  const had = s.installedProgram;
  if (had && had.name !== program && !v.rename) {
    const from = v.program ? '--program' : node?.program ? 'the cluster file' : 'the default';
    throw new UsageError(
      `start: ${had.file} runs flanneld.sh as [program:${had.name}], and ${from} names it ${program}: supervisord would stop ${had.name} and start ${program}; nothing changed. Give --program ${had.name} to keep the name, or --rename to rename it`,
    );
  }
  await hostFile(host, s.root, '--supervisor-conf', v['supervisor-conf'], '/etc/supervisord.conf');
  const conn = connectionFor(s);
  const store = await storeTarget(host, conn, s.etcd.api, s.etcd.prefix, { checkTls: true });
  const { input, files, seen } = await observeStart(host, store, {
    root: s.root,
    program,
    publicIp,
    subnet,
    iface,
    ...(s.network && { network: s.network }),
    endpoints: conn.endpoints,
    ...(conn.cafile && { tls: { cafile: s.etcd.cafile, certfile: s.etcd.certfile, keyfile: s.etcd.keyfile } }),
    etcdPrefix: s.etcd.prefix,
    healthzPort: s.healthzPort,
    startSecs: v.startsecs,
    manager: v.supervisor === 'systemd' ? 'systemd' : 'supervisor',
    paths: servicePaths(s.root, { supervisorConf: v['supervisor-conf'], program }),
  });
  const actions = planStart(input, files, seen);
  if (recording) {
    await applyPlan(actions, host);
    if (actions.length && !v['no-wait'] && input.manager === 'supervisor')
      await recording.run(waitCommand(input, files.expectedEnv, v.timeout));
    return printPlanned(s, recording, base, startDone(input, files));
  }

  const run = await applyAndWait({
    host,
    actions,
    input,
    expectedEnv: files.expectedEnv,
    store,
    timeoutS: v.timeout,
    noWait: v['no-wait'],
    quiet: s.quiet,
  });
  const { done, ctlFailed, wait: r } = run;
  if (!r) {
    if (ctlFailed) throw new RuntimeError(`start: ${ctlFailed}`);
    report(s, { changed: actions.length > 0, actions: done }, actions.length ? [...done] : ['start: nothing to do']);
    return 0;
  }
  const secs = Math.round(r.seconds);
  if (r.up && !ctlFailed) {
    const lines = actions.length
      ? [`start: ${program} is up after ${secs}s: lease ${subnet} -> ${publicIp}`]
      : [`start: nothing to do (${program} RUNNING, lease ${subnet} -> ${publicIp}, subnet.env matches)`];
    report(s, { changed: actions.length > 0, actions: done, program, lease: subnet.toString(), seconds: secs }, lines);
    return 0;
  }
  const log = (await host.readTail(input.paths.logFile, 64 * 1024)) ?? '';
  printErr(notUpReport(input, r.seconds, r.state, log, ctlFailed));
  return ExitCode.Runtime;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
