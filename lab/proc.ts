// Processes for the lab: run a command to completion (run), start a long-lived daemon
// detached from us (startDaemon) and stop it again (stopDaemon), and tell whether a recorded
// PID is still the same process (pidAlive: PID plus start time, so a reused PID is never
// mistaken for ours).
// Every child runs in its own process group: a Ctrl-C on the terminal reaches only the lab's
// own process, which then tears down in order instead of leaving half-killed daemons.

import { spawn } from 'node:child_process';
import { spawnExec } from '../lib/host/local.ts';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { RuntimeError } from '../lib/core/errors.ts';

export interface RunOptions {
  /** written to stdin, which is then closed */
  readonly input?: string;
  /** kill the command's process group after this long (default 30 s) */
  readonly timeoutMs?: number;
  /** exit statuses that are answers, not failures (`iptables -C` = 1: absent) */
  readonly okStatus?: readonly number[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** aborting kills the command and rejects */
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Runs argv (no shell) and collects its output: the toolkit's own runner (host/local.ts,
 * spawnExec), with the lab's environment, directory and abort. Rejects with CommandError when
 * the status is neither 0 nor in okStatus, or when `signal` aborts it; TimeoutError (a
 * CommandError's sibling, exit 3) when it times out.
 */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (argv[0] === undefined) return Promise.reject(new RuntimeError('run: empty argv'));
  return spawnExec(
    {
      argv,
      input: opts.input ?? '',
      why: 'lab',
      ...(opts.okStatus && { okStatus: opts.okStatus }),
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    },
    {
      ...(opts.env && { env: opts.env }),
      ...(opts.cwd !== undefined && { cwd: opts.cwd }),
      ...(opts.signal && { signal: opts.signal }),
    },
  );
}

/** A process we started, identified beyond its PID (PIDs are reused). */
export interface ProcessId {
  readonly pid: number;
  /** field 22 of /proc/PID/stat: clock ticks after boot at which it started */
  readonly startTime: number;
}

/** Start time of a live PID, or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold blanks and parentheses: count from its last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field 22 is rest[19]
    if (rest[0] === 'Z') return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

/** Whether `id` still names the very process that was recorded (same PID, same start time). */
export function pidAlive(id: ProcessId): boolean {
  return processStartTime(id.pid) === id.startTime;
}

export interface Daemon extends ProcessId {
  readonly argv: readonly string[];
  readonly logFile: string;
  /** set when the daemon has exited (status or signal), while we still run */
  exited?: string;
}

/**
 * Starts a long-lived process detached from us (own process group, not waited for), stdout
 * and stderr appended to logFile. It outlives us if we exit (`npm run lab -- --keep`).
 */
export function startDaemon(
  argv: readonly string[],
  logFile: string,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Daemon {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new RuntimeError('startDaemon: empty argv');
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(cmd, args, {
      stdio: ['ignore', fd, fd],
      detached: true,
      env: opts.env ?? process.env,
      ...(opts.cwd !== undefined && { cwd: opts.cwd }),
    });
    if (child.pid === undefined) throw new RuntimeError(`${argv.join(' ')}: could not start`);
    const startTime = processStartTime(child.pid) ?? -1;
    const daemon: Daemon = { pid: child.pid, startTime, argv, logFile };
    child.on('exit', (code, sig) => {
      daemon.exited = sig ? `killed by ${sig}` : `exited ${code}`;
    });
    child.on('error', (e) => {
      daemon.exited = e.message;
    });
    child.unref();
    return daemon;
  } finally {
    closeSync(fd);
  }
}

/**
 * Stops a daemon we started: SIGTERM to its process group, SIGKILL after `timeoutMs`; resolves
 * once the recorded process is gone (PID and start time, so a reused PID is not waited for).
 */
export async function stopDaemon(d: ProcessId, timeoutMs = 10_000): Promise<void> {
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-d.pid, sig);
    } catch {
      try {
        process.kill(d.pid, sig);
      } catch {
        // gone
      }
    }
  };
  if (!pidAlive(d)) return;
  signalGroup('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(d)) {
    if (Date.now() > deadline) {
      signalGroup('SIGKILL');
      await sleep(50);
      if (Date.now() > deadline + 5000) throw new RuntimeError(`process ${d.pid} did not stop`);
    } else {
      await sleep(20);
    }
  }
}

/**
 * Like Promise.all, but waits for every promise to settle before rejecting with the first
 * error: when one branch of a build fails, no sibling is still creating things while the
 * teardown runs.
 */
export async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Resolves after ms, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RuntimeError('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RuntimeError('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined; rejects with
 * `what` and the last probe error after timeoutMs.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; everyMs?: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new RuntimeError(`${what}: aborted`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const tail = last instanceof Error ? `: ${last.message}` : '';
      throw new RuntimeError(`${what}: not ready after ${opts.timeoutMs} ms${tail}`);
    }
    await sleep(opts.everyMs ?? 100, opts.signal);
  }
}
