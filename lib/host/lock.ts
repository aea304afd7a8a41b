// The lock that keeps two drift runs on one node from overlapping: a kernel lock, flock(2) on
// an open file, so it dies with the process that holds it (a killed run leaves no stale lock,
// and no PID is guessed). Node has no flock(); util-linux's `flock -n 3` locks the open file
// description this process passes it as fd 3 and exits: the lock stays with that description,
// which this process keeps open until it releases (or ends).

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RuntimeError } from '../core/errors.ts';

const BUSY = 75; // flock -E: the status for "held by another process"
const LOCK_TIMEOUT_MS = 5000;

/**
 * The lock, taken, with how many runs found it held so far (each overlap appends one line to
 * `<path>.overlaps`: O_APPEND, so two overlapping runs never lose a count); or held elsewhere.
 */
export type Lock =
  | { readonly held: false; readonly overlaps: number; release(): Promise<void> }
  | { readonly held: true };

/**
 * Take the lock at `path` without waiting: `{ held: true }` when another run holds it.
 * `countOverlaps: false`: no `.overlaps` file is read or written (a lock that is not drift's).
 * `create: false`: only an existing lock file is opened (ENOENT is a RuntimeError), and its
 * directory is not made: a sweep of another run's directory must never add a file to it.
 */
export async function takeLock(path: string, opts: { countOverlaps?: boolean; create?: boolean } = {}): Promise<Lock> {
  const counting = opts.countOverlaps ?? true;
  const create = opts.create ?? true;
  if (create) {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
      throw new RuntimeError(`cannot create the lock's directory ${dirname(path)}: ${e.code ?? e.message}`);
    });
  }
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW | (create ? constants.O_CREAT : 0), 0o644);
  } catch (e) {
    throw new RuntimeError(`cannot open the lock file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const status = await new Promise<number>((resolve, reject) => {
    const child = spawn('flock', ['-n', '-E', String(BUSY), '3'], { stdio: ['ignore', 'ignore', 'pipe', fh.fd] });
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), LOCK_TIMEOUT_MS);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new RuntimeError(
          e.code === 'ENOENT'
            ? `flock not found in PATH (${process.env.PATH ?? ''}); it is util-linux's, install util-linux`
            : `flock: ${e.message}`,
        ),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 || code === BUSY) resolve(code);
      else reject(new RuntimeError(`flock on ${path} exited ${code}${err ? `: ${err.trim()}` : ''}`));
    });
  }).catch(async (e) => {
    await fh.close();
    throw e;
  });
  if (status === BUSY) {
    await fh.close();
    if (counting) await countOverlap(`${path}.overlaps`);
    return { held: true };
  }
  if (!counting) return { held: false, overlaps: 0, release: () => fh.close() };
  const overlaps = await open(`${path}.overlaps`, constants.O_RDONLY | constants.O_NOFOLLOW).then(
    async (h) => {
      const text = await h.readFile('utf8');
      await h.close();
      return text.split('\n').filter(Boolean).length;
    },
    () => 0,
  );
  return { held: false, overlaps, release: () => fh.close() };
}

async function countOverlap(path: string): Promise<void> {
  const h = await open(
    path,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o644,
  ).catch(() => undefined);
  await h?.write(`${new Date().toISOString()}\n`);
  await h?.close();
}
