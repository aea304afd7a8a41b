// The bench's remote phase (issue 12): a lab in the remote mode (createLab({ remote: true }):
// nodes reached over ssh from a control host, their sshd sessions without Node.js and with
// iproute2 4.11), the runbook run over ssh by scripts/runbook.ts, then, on one node:
//   local drift: run on the node itself. A remote-mode node has no Node.js only inside its
//     sshd's mount namespace (remote.ts); its network namespace with this machine's files
//     has it, so "local" is drift started in the node's namespace on the same node state,
//     with iproute2 4.11 first in PATH (the tools its ssh sessions have; a row without it too);
//   remote drift, cold: one drift process from the control host with --ssh (ssh -G, the
//     master's handshake, the workers, then the checks);
//   remote drift, warm: drift's main called again and again in ONE process (warm-drift.ts),
//     which keeps its SshHost as runbook.ts and --all-nodes do; runs 2+ are the warm figures,
//     against local drift timed the same way (the same driver in the node's namespace);
//   drift --all-nodes over every node from the control host, with drift's default --parallel
//     (and with every node at once), against the cold one-node figure.
// The request log of the warm runs (every command sent over ssh, the lock's session; locally
// every process and direct request) says where the time goes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LabNode } from '../lab.ts';
import { EL7_BIN } from '../remote.ts';
import { writeClusterFile } from '../runbook-steps.ts';
import { figure, type Figure, type Timing } from './stats.ts';
import type { CpuRow, RemoteResults, RemoteRow, RequestSummary } from './targets.ts';
import type { WarmOutput, WarmRun } from './warm-drift.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const TSX = join(HERE, '..', '..', 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const DRIVER = join(HERE, 'warm-drift.ts');
/** nodes of the remote phase's lab (issue 12: "over 10 lab nodes") */
export const REMOTE_NODES = 10;

/** One command for measure.sh (run.ts's Job). */
export interface RemoteJob {
  readonly label: string;
  readonly argv: readonly string[];
  readonly setup?: string;
  readonly okStatus?: readonly number[];
}

export interface RemoteBenchContext {
  /** a lab built with remote: true whose runbook (runbookRemote) has run */
  readonly lab: Lab;
  /** the cluster file runbookRemote wrote (nodes with "ssh" and "root") */
  readonly cluster: string;
  /** this run's copy of dist/ */
  readonly dist: string;
  readonly scratch: string;
  readonly runs: number;
  readonly warmup: number;
  readonly log: (line: string) => void;
  /** measure.sh inside `netns` (run.ts's Bench.measure) */
  measure(
    netns: string,
    jobs: readonly RemoteJob[],
    o?: { runs?: number; warmup?: number; timeoutMs?: number },
  ): Promise<Map<string, Timing>>;
  /** waits for a quiet machine (run.ts's Bench.settle) */
  settle(): Promise<number>;
}

/** The union of [start, end) intervals: ms with at least one in flight, and the most at once. */
export function busyOf(iv: readonly { startMs: number; endMs: number }[]): { busyMs: number; maxInFlight: number } {
  const ev = iv.flatMap((x) => [
    { t: x.startMs, d: 1 },
    { t: x.endMs, d: -1 },
  ]);
  ev.sort((a, b) => a.t - b.t || a.d - b.d);
  let depth = 0;
  let max = 0;
  let busy = 0;
  let since = 0;
  for (const e of ev) {
    if (depth > 0) busy += e.t - since;
    depth += e.d;
    max = Math.max(max, depth);
    since = e.t;
  }
  return { busyMs: busy, maxInFlight: max };
}

/** The warm runs' requests, per run. */
export function summarise(runs: readonly WarmRun[]): RequestSummary {
  const by = new Map<string, { count: number; ms: number; waitMs: number }>();
  for (const r of runs)
    for (const q of r.requests) {
      const k = `${q.via} ${q.what}`;
      const e = by.get(k) ?? { count: 0, ms: 0, waitMs: 0 };
      e.count++;
      e.ms += q.endMs - q.startMs;
      e.waitMs += (q.gotWorkerMs ?? q.startMs) - q.startMs;
      by.set(k, e);
    }
  const n = Math.max(1, runs.length);
  const busy = runs.map((r) => busyOf(r.requests));
  const mid = [...runs].sort((a, b) => a.ms - b.ms)[runs.length >> 1];
  return {
    runs: runs.length,
    perRun: figure(runs.map((r) => r.requests.length)).median,
    byWhat: [...by]
      .map(([what, e]) => ({ what, count: e.count / n, ms: e.ms / n, waitMs: e.waitMs / n }))
      .sort((a, b) => b.ms - a.ms),
    timeline: [...(mid?.requests ?? [])].sort((a, b) => a.startMs - b.startMs),
    busyMs: figure(busy.map((b) => b.busyMs)).median,
    runMs: figure(runs.map((r) => r.ms)).median,
    maxInFlight: Math.max(0, ...busy.map((b) => b.maxInFlight)),
  };
}

const wall = (t: Timing) => t.wallMs;

/** Busy seconds of every core so far (/proc/stat, USER_HZ 100). */
function machineBusyS(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0);
  return (f.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** GNU time's `-f '%e %U %S'` line (after a "Command exited with non-zero status" line, if any). */
export function parseTimeLine(text: string): { wallS: number; cpuS: number } {
  const last = text.trim().split('\n').at(-1) ?? '';
  const [e, u, s] = last.trim().split(/\s+/).map(Number);
  return { wallS: e ?? NaN, cpuS: (u ?? NaN) + (s ?? NaN) };
}

export async function remotePhase(ctx: RemoteBenchContext): Promise<Omit<RemoteResults, 'setupSeconds'>> {
  const { lab, log } = ctx;
  const remote = lab.remote;
  if (!remote) throw new Error('remote phase: the lab was built without remote: true');
  const node = lab.nodes[0] as LabNode;
  const control = remote.control.netns;
  const drift = join(ctx.dist, 'drift.mjs');
  // the node's own view: each node with its "root", no "ssh" (drift checks where it runs)
  const onNode = writeClusterFile(lab, { roots: true, file: 'cluster-on-node.json' });
  const el7Path = `PATH=${EL7_BIN.replace(/\/$/, '')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  const viaSsh = ['--ssh', remote.destination(node), '--ssh-config', remote.sshConfig];
  const localArgs = ['--cluster', onNode, '--node', node.name, '--quiet'];
  const remoteArgs = ['--cluster', ctx.cluster, '--node', node.name, ...viaSsh, '--quiet'];
  const allArgs = ['--cluster', ctx.cluster, '--all-nodes', '--ssh-config', remote.sshConfig, '--quiet'];

  const help = (await lab.exec(control, ['node', drift, '--help'])).stdout;
  const parallelDefault = Number(/--parallel .*\(default (\d+)\)/.exec(help)?.[1] ?? 'NaN');

  // what drift says first: every node checked over ssh, and the node on itself
  const first = await lab.exec(control, ['node', drift, ...allArgs.filter((a) => a !== '--quiet'), '--json'], {
    okStatus: [0, 1, 3],
    timeoutMs: 180_000,
  });
  const doc = JSON.parse(first.stdout) as {
    nodes: { node: string; exit: number; error?: string; checks?: { id: string; status: string; reason: string }[] }[];
  };
  const nodeExits = doc.nodes.map((n) => ({ node: n.node, exit: n.exit }));
  for (const n of doc.nodes)
    if (n.exit !== 0)
      log(
        `    drift --all-nodes: ${n.node} exit ${n.exit}: ${
          n.error ??
          (n.checks ?? [])
            .filter((c) => c.status !== 'ok')
            .map((c) => `${c.id}: ${c.reason}`)
            .join('; ')
            .slice(0, 300)
        }`,
      );
  if (doc.nodes.some((n) => n.exit > 1))
    throw new Error(`drift --all-nodes could not check every node: ${JSON.stringify(nodeExits)}`);
  const localState = await lab.exec(node.netns, ['env', el7Path, 'node', drift, ...localArgs.slice(0, -1), '--json'], {
    okStatus: [1],
    timeoutMs: 60_000,
  });
  const localExit = (JSON.parse(localState.stdout) as { exit: number }).exit;
  log(
    `    drift --all-nodes: exits ${nodeExits.map((n) => n.exit).join(' ')}; ${node.name} checked on itself: exit ${localExit}`,
  );

  const rows: RemoteRow[] = [];
  const ok = [0, 1];
  // local drift as a process (the cron path), in the node's namespace
  log(`    local drift on ${node.name} (node dist/drift.mjs in its namespace)`);
  const lt = await ctx.measure(node.netns, [
    { label: 'local-el7', argv: ['env', el7Path, 'node', drift, ...localArgs], okStatus: ok },
    { label: 'local-debian', argv: ['node', drift, ...localArgs], okStatus: ok },
  ]);
  rows.push(
    {
      id: 'local.process',
      what: `node dist/drift.mjs --cluster cluster-on-node.json --node ${node.name} --quiet`,
      where: `${node.name}'s namespace, measure.sh`,
      wallMs: wall(lt.get('local-el7')!),
      exits: lt.get('local-el7')!.statuses,
      note: "iproute2 4.11 first in PATH (the node's tools, as its ssh sessions have them); Node.js of this machine (remote-mode nodes lack it only in their sshd's mount namespace)",
    },
    {
      id: 'local.process.debian-ip',
      what: 'the same',
      where: `${node.name}'s namespace, measure.sh`,
      wallMs: wall(lt.get('local-debian')!),
      exits: lt.get('local-debian')!.statuses,
      note: "this machine's iproute2 (ip -j)",
    },
  );

  // remote, each a process from the control host, side by side
  log(
    `    from the control host: drift --ssh (cold), drift --all-nodes (--parallel ${parallelDefault} and ${lab.nodes.length}), ssh true`,
  );
  const rt = await ctx.measure(
    control,
    [
      { label: 'remote-cold', argv: ['node', drift, ...remoteArgs], okStatus: ok },
      { label: 'all-nodes', argv: ['node', drift, ...allArgs], okStatus: ok },
      {
        label: 'all-nodes-parallel',
        argv: ['node', drift, ...allArgs, '--parallel', String(lab.nodes.length)],
        okStatus: ok,
      },
      { label: 'ssh-true', argv: ['ssh', '-F', remote.sshConfig, remote.destination(node), 'true'] },
    ],
    { timeoutMs: 900_000 },
  );
  rows.push(
    {
      id: 'remote.cold',
      what: `node dist/drift.mjs --cluster cluster.json --node ${node.name} --ssh ${remote.destination(node)} --ssh-config ssh_config --quiet`,
      where: 'control host, measure.sh',
      wallMs: wall(rt.get('remote-cold')!),
      exits: rt.get('remote-cold')!.statuses,
      note: 'a process: node start, ssh -G, the master (handshake), the workers, the checks, ssh -O exit',
    },
    {
      id: 'all-nodes',
      what: `node dist/drift.mjs --cluster cluster.json --all-nodes --ssh-config ssh_config --quiet (--parallel ${parallelDefault}, the default)`,
      where: 'control host, measure.sh',
      wallMs: wall(rt.get('all-nodes')!),
      exits: rt.get('all-nodes')!.statuses,
      note: `${lab.nodes.length} nodes, at most ${parallelDefault} at once`,
    },
    {
      id: 'all-nodes.parallel',
      what: `the same with --parallel ${lab.nodes.length}`,
      where: 'control host, measure.sh',
      wallMs: wall(rt.get('all-nodes-parallel')!),
      exits: rt.get('all-nodes-parallel')!.statuses,
      note: 'every node at once',
    },
    {
      id: 'ssh.true',
      what: `ssh -F ssh_config ${remote.destination(node)} true`,
      where: 'control host, measure.sh',
      wallMs: wall(rt.get('ssh-true')!),
      exits: rt.get('ssh-true')!.statuses,
      note: "one connection of its own (handshake, a session, no master): what a cold run's connection costs at least",
    },
  );

  // warm: drift's main again and again in one process; local and remote drivers alternate
  const warmRuns = Math.max(ctx.runs, 10);
  const warmRounds = 2;
  const warm = {
    local: [] as WarmRun[],
    remote: [] as WarmRun[],
    firstLocal: [] as number[],
    firstRemote: [] as number[],
  };
  for (let round = 0; round < warmRounds; round++) {
    for (const side of ['local', 'remote'] as const) {
      await ctx.settle();
      const out = join(ctx.scratch, `warm-${side}-${round}.json`);
      const argv =
        side === 'local'
          ? ['env', el7Path, 'node', '--import', TSX, DRIVER, out, String(warmRuns), '--', ...localArgs]
          : ['node', '--import', TSX, DRIVER, out, String(warmRuns), '--', ...remoteArgs];
      const r = await lab.exec(side === 'local' ? node.netns : control, argv, {
        timeoutMs: 600_000,
        okStatus: [0, 3],
      });
      const got = JSON.parse(readFileSync(out, 'utf8')) as WarmOutput;
      if (r.status !== 0 || got.runs.length !== warmRuns + 1)
        throw new Error(`warm-drift (${side}): exit ${r.status}, ${got.runs.length} runs: ${r.stderr.slice(-1500)}`);
      const bad = got.runs.find((x) => !ok.includes(x.exit));
      if (bad) throw new Error(`warm-drift (${side}): a run exited ${bad.exit}: ${r.stdout.slice(-1000)}`);
      warm[side].push(...got.runs.slice(1));
      (side === 'local' ? warm.firstLocal : warm.firstRemote).push(got.runs[0]!.ms);
      log(
        `    warm ${side} round ${round + 1}: first ${got.runs[0]!.ms.toFixed(0)} ms, then median ${figure(got.runs.slice(1).map((x) => x.ms)).median.toFixed(0)} ms`,
      );
    }
  }
  // where the CPU goes: one run each under GNU time, with --json for each node's own duration
  const cpu: CpuRow[] = [];
  const cpuRun = async (what: string, netns: string, argv: readonly string[]) => {
    await ctx.settle();
    const tf = join(ctx.scratch, `cpu-${cpu.length}`);
    const m0 = machineBusyS();
    const r = await lab.exec(netns, ['/usr/bin/time', '-f', '%e %U %S', '-o', tf, ...argv], {
      okStatus: ok,
      timeoutMs: 180_000,
    });
    const machineCpuS = machineBusyS() - m0;
    const j = JSON.parse(r.stdout) as {
      node?: string;
      durationMs?: number;
      nodes?: { node: string; durationMs: number }[];
    };
    const nodeMs = (j.nodes ?? [{ node: j.node ?? '?', durationMs: j.durationMs ?? NaN }]).map((n) => ({
      node: n.node,
      ms: n.durationMs,
    }));
    cpu.push({ what, ...parseTimeLine(readFileSync(tf, 'utf8')), machineCpuS, nodeMs });
  };
  const json = (args: readonly string[]) => [...args.filter((a) => a !== '--quiet'), '--json'];
  await cpuRun(`local drift on ${node.name}`, node.netns, ['env', el7Path, 'node', drift, ...json(localArgs)]);
  await cpuRun(`drift --ssh ${remote.destination(node)} (one node, cold)`, control, [
    'node',
    drift,
    ...json(remoteArgs),
  ]);
  await cpuRun(`drift --all-nodes (--parallel ${parallelDefault})`, control, ['node', drift, ...json(allArgs)]);
  for (const c of cpu)
    log(
      `    cpu: ${c.what}: ${c.wallS.toFixed(2)} s wall, ${c.cpuS.toFixed(2)} s CPU (with its ssh), machine ${c.machineCpuS.toFixed(2)} s`,
    );

  const fig = (runs: readonly WarmRun[]): Figure => figure(runs.map((x) => x.ms));
  const exits = (runs: readonly WarmRun[]) => [...new Set(runs.map((x) => x.exit))];
  const perProcess = `${warmRounds} processes x runs 2-${warmRuns + 1}`;
  rows.push(
    {
      id: 'local.warm',
      what: `drift's main(${localArgs.map((a) => (a === onNode ? 'cluster-on-node.json' : a)).join(' ')}) again in one process`,
      where: `${node.name}'s namespace, lab/bench/warm-drift.ts (performance.now() around main)`,
      wallMs: fig(warm.local),
      exits: exits(warm.local),
      note: `${perProcess}; iproute2 4.11 first in PATH; no process start in the figure`,
    },
    {
      id: 'remote.first',
      what: `drift's main(--ssh ${remote.destination(node)} ...): the process's first run`,
      where: 'control host, lab/bench/warm-drift.ts',
      wallMs: figure(warm.firstRemote),
      exits: [],
      note: 'opens the connection (ssh -G, the master, the workers); modules already loaded',
    },
    {
      id: 'remote.warm',
      what: `drift's main(--cluster cluster.json --node ${node.name} --ssh ${remote.destination(node)} --ssh-config ssh_config --quiet) again in one process`,
      where: 'control host, lab/bench/warm-drift.ts',
      wallMs: fig(warm.remote),
      exits: exits(warm.remote),
      note: `${perProcess}: the process's SshHost kept (script.ts's cache), its master and workers up`,
    },
  );
  return {
    nodes: lab.nodes.length,
    prefix: lab.prefix,
    node: node.name,
    runs: ctx.runs,
    warmup: ctx.warmup,
    warmRuns,
    warmRounds,
    parallelDefault,
    rows,
    requests: { remote: summarise(warm.remote), local: summarise(warm.local) },
    nodeExits,
    cpu,
  };
}
