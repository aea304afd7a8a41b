// The bench's warm-connection driver (issue 12): drift's own main, called RUNS + 1 times in ONE
// process, as runbook.ts and drift --all-nodes call a step: the Host each run gets is the
// process's (lib/cli/script.ts caches one SshHost per destination; closeRemoteHosts ends it,
// as runScript does). The first run opens the connection (ssh -G, the master, the workers);
// the later ones are the warm figures. Run inside a lab namespace (the control host for --ssh,
// the node's for a local run):
//
//   node --import tsx lab/bench/warm-drift.ts OUT RUNS -- DRIFT_ARGS...
//
// Writes OUT (JSON): per run its wall ms, drift's exit, and the requests it made: over ssh
// every command sent to the node (SshHost's one funnel, its private exec: a worker request or
// a session of its own) and every lock session; locally every process drift started and every
// direct request (supervisord's socket, /healthz). Drift's stdout (--quiet: nothing when in
// sync) goes to this process's stdout. Exit 0, 2 usage, 3 a run threw.

import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { closeRemoteHosts } from '../../lib/cli/script.ts';
import { LocalHost } from '../../lib/host/local.ts';
import { REMOTE, SshHost } from '../../lib/host/ssh.ts';
import { main } from '../../scripts/drift.ts';

/** One request a drift run made, times in ms from the run's start. */
export interface WarmRequest {
  /** `ssh:cmd` a command over a worker or session, `ssh:lock` the lock's own session, `local:run` a process, `local:request` a direct request */
  readonly via: 'ssh:cmd' | 'ssh:lock' | 'local:run' | 'local:request';
  /** the program (`ip`, `curl`), or the node-side script's name (`sh:readFile`) */
  readonly what: string;
  /** its first argument(s): the file read, the path stat'ed */
  readonly detail: string;
  readonly startMs: number;
  /** over ssh: when it got a worker session (the wait before is the queue for one of the 4) */
  readonly gotWorkerMs?: number;
  readonly endMs: number;
}

export interface WarmRun {
  readonly ms: number;
  readonly exit: number;
  readonly requests: readonly WarmRequest[];
}

export interface WarmOutput {
  readonly runs: readonly WarmRun[];
  readonly argv: readonly string[];
}

const SCRIPT_NAMES = new Map<string, string>(Object.entries(REMOTE).map(([k, v]) => [v, k]));

/** What a request ran: the program, or which of SshHost's node-side scripts. */
export function requestName(argv: readonly string[]): string {
  if (argv[0] === 'sh' && argv[1] === '-c') {
    const script = argv[2] ?? '';
    return `sh:${SCRIPT_NAMES.get(script) ?? script.split(/\s/)[1] ?? '?'}`;
  }
  return (argv[0] ?? '?').split('/').at(-1)!;
}

/** What a request ran it on: the path or the arguments, short. */
export function requestDetail(argv: readonly string[]): string {
  const args = argv[0] === 'sh' && argv[1] === '-c' ? argv.slice(4) : argv.slice(1);
  const paths = args.filter((a) => a.startsWith('/'));
  return (paths.length ? paths.join(' ') : args.join(' ')).replaceAll('\n', '\\n').slice(0, 120);
}

let requests: WarmRequest[] = [];
let runStart = 0;
/** the request in progress in this async context (SshHost's exec -> its private worker()) */
const current = new AsyncLocalStorage<{ gotWorkerMs?: number }>();

type AnyFn = (...a: unknown[]) => Promise<unknown>;
/** Wraps proto[method] to record each call (the original still does the work). */
function record(
  proto: object,
  method: string,
  via: WarmRequest['via'],
  name: (args: unknown[]) => { what: string; detail: string },
): void {
  const p = proto as Record<string, AnyFn>;
  const orig = p[method];
  if (typeof orig !== 'function') return;
  p[method] = async function (this: unknown, ...args: unknown[]) {
    const startMs = performance.now() - runStart;
    const ctx: { gotWorkerMs?: number } = {};
    try {
      return await current.run(ctx, () => orig.apply(this, args));
    } finally {
      requests.push({ via, ...name(args), startMs, ...ctx, endMs: performance.now() - runStart });
    }
  };
}

/** Marks when SshHost's private worker() hands the request a session. */
function markWorker(proto: object): void {
  const p = proto as Record<string, AnyFn>;
  const orig = p.worker;
  if (typeof orig !== 'function') return;
  p.worker = async function (this: unknown, ...args: unknown[]) {
    const w = await orig.apply(this, args);
    const ctx = current.getStore();
    if (ctx) ctx.gotWorkerMs = performance.now() - runStart;
    return w;
  };
}

async function driver(argv: readonly string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const [out, runsText] = argv;
  const runs = Number(runsText);
  if (dash !== 2 || out === undefined || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write('usage: warm-drift.ts OUT RUNS -- DRIFT_ARGS...\n');
    return 2;
  }
  const args = argv.slice(dash + 1);
  const cmd = (argv: string[]) => ({ what: requestName(argv), detail: requestDetail(argv) });
  record(SshHost.prototype, 'exec', 'ssh:cmd', (a) => cmd(a[0] as string[]));
  markWorker(SshHost.prototype);
  record(SshHost.prototype, 'lock', 'ssh:lock', (a) => ({ what: 'lock', detail: String(a[0]) }));
  record(LocalHost.prototype, 'run', 'local:run', (a) => cmd((a[0] as { argv: string[] }).argv));
  record(LocalHost.prototype, 'localRequest', 'local:request', (a) => {
    const r = a[0] as { path: string; port?: number; socketPath?: string };
    return { what: r.path, detail: r.socketPath ?? `127.0.0.1:${r.port}` };
  });
  // one LocalHost for the process, as runScript makes (drift's cron path: the spawn engine)
  const base = new LocalHost('spawn');
  const done: WarmRun[] = [];
  let code = 0;
  try {
    for (let i = 0; i <= runs; i++) {
      requests = [];
      runStart = performance.now();
      const exit = await main([...args], base);
      done.push({ ms: performance.now() - runStart, exit, requests });
    }
  } catch (e) {
    process.stderr.write(`warm-drift: run ${done.length + 1}: ${(e as Error).stack ?? e}\n`);
    code = 3;
  } finally {
    await closeRemoteHosts();
  }
  writeFileSync(out, `${JSON.stringify({ runs: done, argv: args } satisfies WarmOutput)}\n`);
  return code;
}

process.env.SHLVL ??= '1';
const code = await driver(process.argv.slice(2));
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
