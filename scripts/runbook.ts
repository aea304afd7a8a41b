#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// runbook: the six steps for every node of the cluster file, in the runbook's order
// (lib/steps/runbook.ts): install and certs on each node, etcd-config once, start node after
// node, snat-fix, verify-ping across the cluster. Each node is reached over ssh where the
// cluster file gives one ("ssh"), else here (under its "root"). One line per node and step as
// it goes, a table at the end; it stops at the first failure, naming the node, the step and
// why, and exits with that step's code. A second run does nothing and says so.
// --dry-run prints every step's script, node by node. --nodes and --steps choose subsets.

import { exitCodeOf, UsageError } from '../lib/core/errors.ts';
import { formatTable } from '../lib/core/table.ts';
import { commonFlags, defineFlags, rejectFlags } from '../lib/cli/flags.ts';
import { captureOutput, note, print } from '../lib/cli/output.ts';
import { checkSshConfig, helpOrVersion, isEntryPoint, readClusterFile, runScript } from '../lib/cli/script.ts';
import { parseFlags } from '../lib/cli/flags.ts';
import type { Host } from '../lib/host/host.ts';
import { planRunbook, type RunbookStep, type StepCall } from '../lib/steps/runbook.ts';
import { main as install } from './install.ts';
import { main as certs } from './certs.ts';
import { main as etcdConfig } from './etcd-config.ts';
import { main as start } from './start.ts';
import { main as snatFix } from './snat-fix.ts';
import { main as verifyPing } from './verify-ping.ts';

const STEP_MAIN: Record<RunbookStep, (argv: string[], host: Host) => Promise<number>> = {
  install,
  certs,
  'etcd-config': etcdConfig,
  start,
  'snat-fix': snatFix,
  'verify-ping': verifyPing,
};

export const flags = defineFlags({
  cluster: commonFlags.cluster,
  nodes: { type: 'list', placeholder: 'NAMES', help: 'only these nodes (default: all, in the file order)' },
  steps: {
    type: 'list',
    placeholder: 'STEPS',
    help: 'only these steps: install, certs, etcd-config, start, snat-fix, verify-ping',
    example: 'install,certs',
  },
  url: { type: 'string', placeholder: 'URL', help: 'install: the release tarball (else "runbook".url)' },
  tarball: {
    type: 'string',
    placeholder: 'FILE',
    help: 'install: a tarball on each node (else "runbook".tarball)',
  },
  sha256: { type: 'string', placeholder: 'HEX', help: 'install: its sha256 (else "runbook".sha256)' },
  from: {
    type: 'string',
    placeholder: 'SRC',
    help: 'certs: USER@HOST:DIR (scp, run on each node) or a directory on the node (else "runbook".from)',
  },
  identity: { type: 'string', placeholder: 'FILE', help: "certs: the node's ssh key for that scp" },
  'known-hosts': { type: 'string', placeholder: 'FILE', help: "certs: the node's known_hosts for that scp" },
  ...rejectFlags,
  'drop-reject': { type: 'boolean', help: 'snat-fix: the same as --reject drop' },
  startsecs: {
    type: 'number',
    min: 1,
    max: 3600,
    placeholder: 'S',
    help: "start: supervisord's startsecs (the runbook's 30)",
  },
  timeout: { type: 'number', min: 1, max: 3600, placeholder: 'S', help: 'start: how long to wait for flanneld' },
  'ssh-config': commonFlags['ssh-config'],
  'dry-run': commonFlags['dry-run'],
  json: commonFlags.json,
  quiet: commonFlags.quiet,
  help: commonFlags.help,
  version: commonFlags.version,
});

const info = {
  name: 'runbook',
  summary: 'The runbook for every node of the cluster file: install, certs, etcd-config, start, snat-fix, verify-ping.',
  example: 'scripts/runbook.ts --cluster /etc/flannel-runbook/cluster.json --ssh-config ~/.ssh/flannel-nodes.conf',
};

interface StepResult {
  readonly node: string;
  readonly step: RunbookStep;
  readonly exit: number;
  readonly changed: boolean;
  readonly seconds: number;
  /** the step's own line when it failed */
  readonly error?: string;
}

/** One step call in-process, its output captured: its exit, whether it changed anything, why it failed. */
async function runCall(call: StepCall, host: Host, dryRun: boolean) {
  const t0 = performance.now();
  const argv = [...call.argv, dryRun ? '--dry-run' : '--json'];
  const out = await captureOutput(async () => {
    try {
      return await STEP_MAIN[call.step](argv, host);
    } catch (e) {
      return { thrown: e };
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  const thrown = typeof out.value === 'object' ? out.value.thrown : undefined;
  const exit = thrown !== undefined ? exitCodeOf(thrown) : (out.value as number);
  let changed = false;
  if (!dryRun && exit === 0) {
    try {
      changed = Boolean((JSON.parse(out.stdout) as { changed?: boolean }).changed);
    } catch {
      changed = false; // verify-ping prints its table: it changes nothing
    }
  }
  const why =
    thrown !== undefined
      ? (thrown as Error).message.split('\n')[0]
      : (out.stderr.trim().split('\n').at(-1) ?? out.stdout.trim().split('\n').at(-1));
  const result: StepResult = {
    node: call.node,
    step: call.step,
    exit,
    changed,
    seconds,
    ...(exit !== 0 && { error: why || `exit ${exit}` }),
  };
  return { result, stdout: out.stdout, stderr: out.stderr };
}

/** A step's cell: FAILED (exit N), changed, nothing to do; verify-ping (read-only) is ok. */
function verdictOf(r: StepResult): string {
  if (r.exit !== 0) return `FAILED (exit ${r.exit})`;
  if (r.step === 'verify-ping') return 'ok';
  return r.changed ? 'changed' : 'nothing to do';
}

export async function main(argv: string[], host: Host): Promise<number> {
  const f = parseFlags(argv, flags);
  const v = f.values;
  if (helpOrVersion(f, flags, info)) return 0;
  if (v.cluster === undefined)
    throw new UsageError('--cluster: required; the nodes to run the runbook on, e.g. --cluster cluster.json');
  if (v['drop-reject'] && v.reject === 'keep')
    throw new UsageError('--drop-reject and --reject keep: give one of them, e.g. --reject keep');
  if (v.url !== undefined && v.tarball !== undefined)
    throw new UsageError('--url and --tarball: give one of them, e.g. --url https://10.4.7.200/flannel.tar.gz');
  const sshConfig = checkSshConfig(v['ssh-config']);
  const cluster = readClusterFile(v.cluster);
  const reject = v['drop-reject'] ? 'drop' : (v.reject as 'drop' | 'keep' | undefined);
  const calls = planRunbook(cluster, {
    clusterFile: v.cluster,
    ...(v.nodes && { nodes: v.nodes }),
    ...(v.steps && { steps: v.steps }),
    inputs: {
      ...(v.url !== undefined && { url: v.url }),
      ...(v.tarball !== undefined && { tarball: v.tarball }),
      ...(v.sha256 !== undefined && { sha256: v.sha256 }),
      ...(v.from !== undefined && { from: v.from }),
      ...(v.identity !== undefined && { identity: v.identity }),
      ...(v['known-hosts'] !== undefined && { knownHosts: v['known-hosts'] }),
    },
    ...(reject && { reject }),
    ...(sshConfig && { sshConfig }),
    ...(v.startsecs !== undefined && { startsecs: v.startsecs }),
    ...(v.timeout !== undefined && { timeout: v.timeout }),
  });

  const dryRun = v['dry-run'];
  const results: StepResult[] = [];
  let exit = 0;
  for (const call of calls) {
    const { result, stdout, stderr } = await runCall(call, host, dryRun);
    results.push(result);
    if (dryRun) {
      // every step's script, node by node; a step that cannot be planned says why and the rest go on
      print(`# ---- ${call.node}: ${call.step} ----\n`);
      if (result.exit === 0) print(stdout.endsWith('\n') || stdout === '' ? stdout : `${stdout}\n`);
      else {
        print(`# cannot plan ${call.step} on ${call.node} (exit ${result.exit}): ${result.error}\n`);
        print('# (a step that needs the ones above done first can be planned once they are)\n');
        exit = exit || result.exit;
      }
      continue;
    }
    const verdict = verdictOf(result);
    if (!v.quiet || result.exit !== 0)
      note(`runbook: ${call.node} ${call.step}: ${verdict} (${result.seconds.toFixed(1)} s)`);
    if (result.exit !== 0) {
      if (stderr.trim() && !v.json) note(stderr.trimEnd());
      note(`runbook: stopped at ${call.step} on ${call.node}: ${result.error}`);
      exit = result.exit;
      break;
    }
  }
  if (dryRun) return exit;
  const changed = results.some((r) => r.changed);
  if (v.json) {
    print(`${JSON.stringify({ exit, changed, steps: results }, null, 2)}\n`);
    return exit;
  }
  if (v.quiet && exit === 0 && !changed) return 0;
  const rows = results.map((r) => [r.node, r.step, verdictOf(r), `${r.seconds.toFixed(1)} s`]);
  print(`${formatTable(['NODE', 'STEP', 'RESULT', 'TIME'], rows).join('\n')}\n`);
  if (exit === 0)
    print(
      changed
        ? `runbook: done (${results.filter((r) => r.changed).length} of ${results.length} steps changed something)\n`
        : 'runbook: nothing to do (every step on every node was already done)\n',
    );
  return exit;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
