// LocalHost: the Host on this machine (host/host.ts). Two engines run commands, with one
// contract (argv and stdin untouched, the same errors, a timeout that kills the process group):
//   'zx'    - zx's $ (the step scripts: the project's shell layer);
//   'spawn' - node:child_process directly, without loading zx: the cron path (drift every
//             minute on every node) pays for every millisecond of start-up.
// Every change (a command not marked readOnly, a write, a rename, ...) is traced
// (host/trace.ts) before it is made.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Command, Result } from '../core/command.ts';
import { CommandError, commandName, RuntimeError, TimeoutError } from '../core/errors.ts';
import { writeError, writeFileAtomic } from './atomic-file.ts';
import {
  timeoutOf,
  writeCommandOutput,
  type Change,
  type FileInfo,
  type Host,
  type LocalRequest,
  type TempDir,
} from './host.ts';
import { takeLock, type Lock } from './lock.ts';
import { makeLockedTempDir } from './temp-dir.ts';
import { traceChange } from './trace.ts';

export type Engine = 'zx' | 'spawn';

/** The status bash (zx) gives a program it cannot find, and what spawn() says for it. */
const NOT_FOUND = 127;

function notFound(cmd: Command): CommandError {
  return new CommandError(
    cmd.argv,
    NOT_FOUND,
    '',
    `${cmd.argv[0]} not found in PATH (${process.env.PATH ?? ''}); install it, or run with a PATH that has it`,
  );
}

function settle(cmd: Command, r: Result): Result {
  if (r.status === 0 || (cmd.okStatus ?? []).includes(r.status)) return r;
  if (r.status === NOT_FOUND && /command not found|No such file or directory/.test(r.stderr)) throw notFound(cmd);
  throw new CommandError(cmd.argv, r.status, r.stderr.trim() ? r.stderr : r.stdout); // supervisorctl says its errors on stdout
}

/** What only a local caller can give a command: its environment, directory, an abort. */
export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** aborting kills the command's process group; the run rejects as "aborted" */
  readonly signal?: AbortSignal;
  /** stdin as bytes, instead of the command's text `input` (an SSH Host's file writes) */
  readonly stdin?: Uint8Array;
}

/** How long a killed command's pipes may stay open before its timeout is reported anyway. */
const PIPE_GRACE_MS = 1000;

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * node:child_process, no shell; the child leads its own process group, so a timeout (or an
 * abort) kills it all, and whatever it left running in its group when it exits goes too.
 */
export function spawnExec(cmd: Command, opts: SpawnOptions = {}): Promise<Result> {
  const timeoutMs = timeoutOf(cmd);
  if (opts.signal?.aborted)
    return Promise.reject(new CommandError(cmd.argv, null, '', `${commandName(cmd.argv)}: aborted`));
  const input = opts.stdin ?? cmd.input;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.argv[0]!, cmd.argv.slice(1), {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
      ...(opts.env && { env: opts.env }),
      ...(opts.cwd !== undefined && { cwd: opts.cwd }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // Its pipes may be held open from outside its group (an ssh ControlMaster holds a mux
      // client's stdio until the remote end closes): the kill is the answer, do not wait on them.
      grace = setTimeout(() => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener('abort', onAbort);
        for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
        reject(new TimeoutError(cmd.argv, timeoutMs));
      }, PIPE_GRACE_MS);
    }, timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup(child.pid);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? notFound(cmd) : new CommandError(cmd.argv, null, e.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(grace);
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      killGroup(child.pid); // what the command left in its group goes with it
      if (timedOut) return reject(new TimeoutError(cmd.argv, timeoutMs));
      if (aborted) return reject(new CommandError(cmd.argv, null, '', `${commandName(cmd.argv)}: aborted`));
      const status = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      try {
        resolve(
          settle(cmd, {
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            status,
          }),
        );
      } catch (e) {
        reject(e);
      }
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a command that exits without reading: its status tells
      child.stdin.end(input);
    }
  });
}

/** zx's $ (bash, each argv word quoted by zx), detached so the timeout kills the whole group. */
export async function zxExec(cmd: Command): Promise<Result> {
  // Debian's bash sources ~/.bashrc when SHLVL is unset (as under cron): keep it set.
  process.env.SHLVL ??= '1';
  const { $ } = await import('zx');
  const timeoutMs = timeoutOf(cmd);
  const proc = $({ input: cmd.input, nothrow: true, quiet: true, verbose: false, detached: true })`${cmd.argv}`;
  let timedOut = false;
  // zx's kill() walks the process tree and signals the group (detached: its own group)
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL').catch(() => undefined);
  }, timeoutMs);
  const out = await proc.finally(() => clearTimeout(timer));
  if (timedOut) throw new TimeoutError(cmd.argv, timeoutMs);
  return settle(cmd, { stdout: out.stdout, stderr: out.stderr, status: out.exitCode ?? 128 });
}

function info(st: Awaited<ReturnType<typeof lstat>>): FileInfo {
  const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  return { type, mode: Number(st.mode) & 0o7777, size: Number(st.size), uid: Number(st.uid) };
}

const missing = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

/**
 * The sbin directories the node's tools live in (iptables-save, ip, sysctl), added at the end
 * of a PATH that lacks them: cron runs jobs with PATH=/usr/bin:/bin, and a drift run
 * from a cron line without a PATH= line would find no iptables-save. A PATH that has them is
 * kept as it is, in its order.
 */
export const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export function withSystemDirs(path: string | undefined): string {
  const have = (path ?? '').split(':').filter(Boolean);
  return [...have, ...SYSTEM_DIRS.filter((d) => !have.includes(d))].join(':');
}

export class LocalHost implements Host {
  readonly name = 'localhost';
  constructor(private readonly engine: Engine = 'zx') {
    // the commands it runs find the node's tools under cron's PATH too
    process.env.PATH = withSystemDirs(process.env.PATH);
  }

  run(cmd: Command): Promise<Result> {
    if (!cmd.readOnly) traceChange('run', cmd.argv.slice(0, 3).join(' '));
    return this.engine === 'zx' ? zxExec(cmd) : spawnExec(cmd);
  }

  async readFile(path: string, opts: { maxBytes?: number } = {}): Promise<string | undefined> {
    try {
      if (opts.maxBytes !== undefined) {
        const st = await stat(path);
        if (st.size > opts.maxBytes) {
          throw new RuntimeError(`${path} is ${st.size} bytes; more than the ${opts.maxBytes} such a file can be`);
        }
      }
      return await readFile(path, 'utf8');
    } catch (e) {
      if (missing(e)) return undefined;
      if (e instanceof RuntimeError) throw e;
      throw new RuntimeError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }

  async readTail(path: string, maxBytes: number): Promise<string | undefined> {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(path, constants.O_RDONLY);
    } catch (e) {
      if (missing(e)) return undefined;
      throw new RuntimeError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
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

  async stat(path: string): Promise<FileInfo | undefined> {
    return stat(path).then(info, () => undefined);
  }

  async lstat(path: string): Promise<FileInfo | undefined> {
    return lstat(path).then(info, () => undefined);
  }

  async readlink(path: string): Promise<string | undefined> {
    return readlink(path).catch(() => undefined);
  }

  async listDir(path: string): Promise<string[] | undefined> {
    return readdir(path).then(
      (n) => n.sort(),
      () => undefined,
    );
  }

  async mkdir(path: string, opts: Change & { mode: number }): Promise<void> {
    traceChange('mkdir', path);
    try {
      await mkdir(path, { recursive: true, mode: opts.mode });
    } catch (e) {
      throw writeError(path, e, false);
    }
  }

  async writeFile(path: string, content: string | Uint8Array, opts: Change & { mode: number }): Promise<void> {
    traceChange('write', path);
    await writeFileAtomic(path, content, opts.mode);
  }

  async copyFile(from: string, to: string, opts: Change & { mode: number }): Promise<void> {
    traceChange('copy', `${from} -> ${to}`);
    let data: Buffer;
    try {
      data = await readFile(from);
    } catch (e) {
      throw new RuntimeError(`cannot read ${from}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
    await writeFileAtomic(to, data, opts.mode);
  }

  writeOutput(cmd: Command, path: string, opts: Change & { mode: number; expect: string }): Promise<void> {
    return writeCommandOutput(this, cmd, path, opts);
  }

  async rename(from: string, to: string, _opts?: Change): Promise<void> {
    traceChange('rename', `${from} -> ${to}`);
    try {
      await rename(from, to);
    } catch (e) {
      throw new RuntimeError(`cannot move ${from} to ${to}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }

  async symlink(target: string, path: string, _opts?: Change): Promise<void> {
    traceChange('link', `${path} -> ${target}`);
    // an unpredictable temp name: a planted link of that name cannot be there already
    const tmp = join(
      dirname(path),
      `.${path.slice(path.lastIndexOf('/') + 1)}.frb-link-${randomBytes(6).toString('hex')}`,
    );
    try {
      await symlink(target, tmp);
      await rename(tmp, path); // rename(2) replaces the old link atomically, never follows it
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new RuntimeError(`cannot point ${path} at ${target}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }

  async remove(path: string, opts: Change & { recursive?: boolean } = {}): Promise<void> {
    traceChange('remove', path);
    await rm(path, { force: true, recursive: opts.recursive ?? false });
  }

  makeTempDir(parent: string, prefix: string): Promise<TempDir> {
    // mkdtemp(3) (0700, unpredictable), locked while in use; a killed run's are removed (temp-dir.ts)
    return makeLockedTempDir(parent, prefix);
  }

  lock(path: string): Promise<Lock> {
    return takeLock(path);
  }

  localRequest(req: LocalRequest): Promise<{ status: number; body: string }> {
    const where = req.socketPath ?? `127.0.0.1:${req.port}`;
    return new Promise((resolve, reject) => {
      const r = http.request(
        {
          ...(req.socketPath ? { socketPath: req.socketPath } : { host: '127.0.0.1', port: req.port }),
          path: req.path,
          method: req.method,
          agent: false,
          timeout: req.timeoutMs,
          headers:
            req.body === undefined
              ? {}
              : { 'content-type': req.contentType ?? 'text/plain', 'content-length': Buffer.byteLength(req.body) },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      r.on('timeout', () =>
        r.destroy(Object.assign(new Error(`no answer within ${req.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      r.on('error', (e: NodeJS.ErrnoException) =>
        reject(Object.assign(new Error(`${where}: ${e.code ?? e.message}`), { code: e.code })),
      );
      r.end(req.body);
    });
  }
}
