// `npm run lab`: builds the lab, runs the runbook in it, prints a verification table, tears
// everything down. Preconditions: root, the Debian packages of lab/setup.sh.
// Not idempotent by nature (every run builds a fresh lab with a fresh prefix); `down` is.
// Exit codes: 0 every row ok / 1 a verification row failed / 2 usage error /
//             3 the lab or the runbook failed / 130 interrupted (nothing is left behind).
//
// The run is a list of steps (RUN_STEPS): building, the runbook (the toolkit's six step
// scripts; `--by-hand`: the runbook as written), verifying. Ctrl-C or SIGTERM at any point
// aborts the current step and tears the lab down; so does any failure, unless --keep.

import minimist from 'minimist';
import { pathToFileURL } from 'node:url';
import { exitCodeOf, ExitCode, UsageError, invalid } from '../lib/core/errors.ts';
import { cleanupLeftovers, createLab, describeNamespaces, destroyLab, listLabs, type Lab } from './lab.ts';
import { MAX_NODES, PREFIX_RE } from './topology.ts';
import { formatVerifyTable, rowOk, verifyLab, type VerifyRow } from './verify.ts';
import { runbookByHand } from './runbook-by-hand.ts';
import { runbookRemote, runbookWithScripts } from './runbook-steps.ts';

const USAGE = `usage: npm run lab -- [options]      build the runbook's cluster, run the runbook, verify, tear down
       npm run lab -- down [PREFIX]    remove labs left up with --keep (and crashed runs' leftovers)

options:
  --nodes N               nodes hdss7-21 .. hdss7-(20+N), 2-${MAX_NODES} (default 2)
  --keep                  leave the lab up and print how to enter each host
  --no-reject             build the nodes without the iptables-services REJECT rules
  --by-hand               run the runbook as written (etcdctl, hand-written files) instead of the toolkit's scripts
  --remote                run scripts/runbook.ts from a control host over ssh, on nodes without Node.js and with iproute2 4.11
  --flannel-tarball FILE  serve this release tarball (a real flannel-v0.11.0-linux-amd64.tar.gz)
  --flanneld BIN          pack this flanneld binary (a real one) instead of the lab's stand-in
  --help                  this text

exit codes: 0 ok, 1 a verification failed, 2 usage error, 3 the lab or the runbook failed, 130 interrupted`;

export interface CliOptions {
  readonly nodes: number;
  readonly keep: boolean;
  readonly rejectRules: boolean;
  readonly flannelTarball?: string;
  readonly flanneldBin?: string;
  /** run the runbook as written (by hand) instead of with the toolkit's scripts */
  readonly byHand?: boolean;
  /** the remote mode: scripts/runbook.ts from a control host over ssh */
  readonly remote?: boolean;
}

/** What the steps share. */
export interface StepContext {
  readonly opts: CliOptions;
  readonly signal: AbortSignal;
  /** progress lines (stderr) */
  readonly log: (line: string) => void;
  lab?: Lab;
  rows?: VerifyRow[];
}

export interface Step {
  readonly name: string;
  run(ctx: StepContext): Promise<void>;
}

function needLab(ctx: StepContext): Lab {
  if (!ctx.lab) throw new Error('no lab: the build step did not run');
  return ctx.lab;
}

export const BUILD_STEP: Step = {
  name: 'build the lab',
  async run(ctx) {
    ctx.lab = await createLab({
      nodes: ctx.opts.nodes,
      rejectRules: ctx.opts.rejectRules,
      ...(ctx.opts.remote && { remote: true }),
      ...(ctx.opts.flanneldBin !== undefined && { flanneldBin: ctx.opts.flanneldBin }),
      ...(ctx.opts.flannelTarball !== undefined && { flannelTarball: ctx.opts.flannelTarball }),
      log: (l) => ctx.log(`    ${l}`),
      signal: ctx.signal,
    });
    ctx.log(`    lab ${ctx.lab.prefix} in ${ctx.lab.dir}`);
  },
};

/** The runbook, run by the toolkit's own step scripts inside the lab (--by-hand: as written). */
export const RUNBOOK_STEPS: Step[] = [
  {
    name: "runbook with the toolkit's scripts: install, certs, etcd-config, start, snat-fix, verify-ping",
    run: async (ctx) => {
      if (ctx.opts.byHand) {
        await runbookByHand(needLab(ctx), { log: (l) => ctx.log(`    ${l}`) });
        return;
      }
      if (ctx.opts.remote) {
        const { result, seconds } = await runbookRemote(needLab(ctx));
        for (const l of `${result.stderr}${result.stdout}`.trimEnd().split('\n')) ctx.log(`    ${l}`);
        if (result.status !== 0)
          throw new Error(`scripts/runbook.ts over ssh exited ${result.status} after ${seconds.toFixed(1)} s`);
        return;
      }
      await runbookWithScripts(needLab(ctx), { log: (l) => ctx.log(`    ${l}`) });
    },
  },
];

export const VERIFY_STEP: Step = {
  name: 'verify: host-gw routes, TTLs, source addresses',
  async run(ctx) {
    ctx.rows = await verifyLab(needLab(ctx));
  },
};

export const RUN_STEPS: readonly Step[] = [BUILD_STEP, ...RUNBOOK_STEPS, VERIFY_STEP];

function parse(
  argv: readonly string[],
): { cmd: 'run'; opts: CliOptions } | { cmd: 'down'; prefix?: string } | { cmd: 'help' } {
  const a = minimist([...argv], {
    string: ['nodes', 'flannel-tarball', 'flanneld'],
    boolean: ['keep', 'reject', 'help', 'by-hand', 'remote'],
    default: { reject: true },
    alias: { h: 'help' },
    unknown: (arg) => {
      if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}; see --help`);
      return true;
    },
  });
  if (a.help) return { cmd: 'help' };
  const [cmd, ...rest] = a._.map(String);
  if (cmd === 'down') {
    if (rest.length > 1) throw new UsageError('down takes at most one PREFIX, e.g. npm run lab -- down frb1a2b');
    if (rest[0] !== undefined && !PREFIX_RE.test(rest[0]))
      throw invalid('PREFIX', rest[0], 'must be a lab prefix', 'frb1a2b');
    return rest[0] !== undefined ? { cmd: 'down', prefix: rest[0] } : { cmd: 'down' };
  }
  if (cmd !== undefined)
    throw new UsageError(`unknown command ${JSON.stringify(cmd)}: the only command is down; see --help`);
  const nodesText = a.nodes ?? '2';
  const nodes = Number(nodesText);
  if (!/^\d+$/.test(nodesText) || nodes < 2 || nodes > MAX_NODES)
    throw invalid('--nodes', nodesText, `must be an integer 2-${MAX_NODES}`, '--nodes 3');
  for (const f of ['flannel-tarball', 'flanneld'] as const) {
    if (a[f] !== undefined && (a[f] === '' || Array.isArray(a[f])))
      throw invalid(
        `--${f}`,
        a[f],
        'must be one file path',
        `--${f} /tmp/${f === 'flanneld' ? 'flanneld' : 'flannel-v0.11.0-linux-amd64.tar.gz'}`,
      );
  }
  if (a.remote && a['by-hand'])
    throw new UsageError('--remote and --by-hand exclude each other: --remote runs the toolkit');
  if (a['flannel-tarball'] !== undefined && a.flanneld !== undefined) {
    throw new UsageError('--flannel-tarball and --flanneld exclude each other: the tarball already holds a flanneld');
  }
  return {
    cmd: 'run',
    opts: {
      nodes,
      keep: Boolean(a.keep),
      rejectRules: a.reject !== false,
      byHand: Boolean(a['by-hand']),
      remote: Boolean(a.remote),
      ...(a['flannel-tarball'] !== undefined && { flannelTarball: String(a['flannel-tarball']) }),
      ...(a.flanneld !== undefined && { flanneldBin: String(a.flanneld) }),
    },
  };
}

const secs = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(2)}s`;

function keptInstructions(lab: Lab): string {
  const ns = describeNamespaces(lab);
  const w = Math.max(...ns.map((n) => n.what.length));
  return [
    `lab ${lab.prefix} is up. Enter a host:`,
    ...ns.map((n) => `  ${n.what.padEnd(w)}  ip netns exec ${n.netns} bash`),
    `labdir: ${lab.dir}   (each host's root: ${lab.dir}/<host>, e.g. ${lab.nodes[0]!.root})`,
    `etcd:   ip netns exec ${lab.hosts['hdss7-12']!.netns} etcdctl --endpoints ${lab.etcd.endpoints.join(',')} --cacert ${lab.etcd.cafile} --cert ${lab.etcd.certfile} --key ${lab.etcd.keyfile} endpoint health`,
    `supervisorctl: ip netns exec ${lab.nodes[0]!.netns} supervisorctl -c ${lab.nodes[0]!.supervisordConf} status`,
    `remove it: npm run lab -- down ${lab.prefix}`,
  ].join('\n');
}

async function down(prefix: string | undefined, log: (l: string) => void): Promise<number> {
  if (prefix !== undefined) {
    await destroyLab(prefix, { log });
    return ExitCode.Ok;
  }
  const labs = listLabs();
  const busy = labs.filter((l) => l.ownerAlive);
  for (const l of busy) log(`lab ${l.prefix} belongs to running process ${l.state.owner.pid}: left alone`);
  const removed = await cleanupLeftovers({ includeKept: true, log });
  // kept labs with a prefix of one's own choosing (createLab({prefix})) are removed by name only
  for (const l of labs)
    if (!l.ownerAlive && l.state.kept && !removed.includes(l.prefix)) {
      await destroyLab(l.prefix, { log });
      removed.push(l.prefix);
    }
  if (removed.length === 0) log('no lab to remove');
  return ExitCode.Ok;
}

/** Runs the CLI; returns the exit code (never calls process.exit). */
export async function main(argv: readonly string[]): Promise<number> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    log(`lab: ${(e as Error).message}`);
    return exitCodeOf(e);
  }
  if (parsed.cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.Ok;
  }
  if (process.getuid?.() !== 0) {
    log('lab: must run as root (network namespaces, iptables, mounts)');
    return ExitCode.Usage;
  }
  if (parsed.cmd === 'down') {
    try {
      return await down(parsed.prefix, log);
    } catch (e) {
      log(`lab: ${(e as Error).message}`);
      return exitCodeOf(e);
    }
  }

  // `npm run lab | tee log` and Ctrl-C: tee dies too; a write to its closed pipe must not kill
  // us before the teardown is done
  for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
  const ac = new AbortController();
  let interrupted: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted === undefined) {
      interrupted = sig;
      log(`\nlab: ${sig}: stopping, tearing everything down...`);
      ac.abort();
    } else {
      log(`lab: ${sig} again: still tearing down, please wait`);
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  const ctx: StepContext = { opts: parsed.opts, signal: ac.signal, log };
  let code: number = ExitCode.Ok;
  const tAll = performance.now();
  try {
    const left = await cleanupLeftovers({ log });
    if (left.length) log(`lab: removed leftovers of crashed runs: ${left.join(', ')}`);
    for (const [i, step] of RUN_STEPS.entries()) {
      if (ac.signal.aborted) break;
      const t0 = performance.now();
      log(`[${i + 1}/${RUN_STEPS.length}] ${step.name}`);
      await step.run(ctx);
      log(`[${i + 1}/${RUN_STEPS.length}] ${step.name}: done in ${secs(t0)}`);
    }
    if (ctx.rows && !ac.signal.aborted) {
      process.stdout.write(`\n${formatVerifyTable(ctx.rows)}`);
      const bad = ctx.rows.filter((r) => !rowOk(r));
      if (bad.length) {
        log(`lab: ${bad.length} of ${ctx.rows.length} rows failed; logs: ${ctx.lab!.dir}/<host>/data/logs`);
        code = ExitCode.Drift;
      }
    }
  } catch (e) {
    if (interrupted === undefined) {
      log(`lab: ${(e as Error).message}`);
      code = exitCodeOf(e);
    } else if (!ctx.lab) {
      log('lab: the build was stopped; what it had built is removed');
    }
  } finally {
    if (interrupted !== undefined) code = 130;
    const lab = ctx.lab;
    if (lab && parsed.opts.keep && interrupted === undefined) {
      lab.keep();
      process.stdout.write(`\n${keptInstructions(lab)}\n`);
    } else if (lab) {
      const t0 = performance.now();
      await lab.destroy();
      log(`lab: torn down in ${secs(t0)}`);
    }
    for (const s of signals) process.off(s, onSignal);
  }
  log(`lab: ${code === 0 ? 'ok' : `exit ${code}`} (${secs(tAll)})`);
  return code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.env.SHLVL ??= '1';
  process.exitCode = await main(process.argv.slice(2));
}
