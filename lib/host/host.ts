// The Host: the one door through which the toolkit touches a node. Every command it runs and
// every file it reads or writes on the node goes through one of these methods, so that
//   - LocalHost (host/local.ts) does it on this machine, each command with a timeout and its
//     whole process group killed when the timeout passes;
//   - RecordingHost (host/recording.ts) observes through another Host but records every change
//     instead of making it: --dry-run prints what it recorded, unit tests assert on it;
//   - SshHost (host/ssh.ts) does it on a remote node, over one OpenSSH connection.
// Paths are host paths as the node sees them (already under --root). A change names why it is
// made; the recording Host prints that as the `# why` line.

import type { Command, Result } from '../core/command.ts';
import { RuntimeError } from '../core/errors.ts';
import type { Lock } from './lock.ts';

/** How long a command may run when it does not say (README: "Timeouts"). */
export const DEFAULT_TIMEOUT_MS = {
  /** an observation: ip, iptables-save, supervisorctl status */
  read: 10_000,
  /** a change: ip -batch, iptables-restore, supervisorctl update */
  change: 60_000,
} as const;

export function timeoutOf(cmd: Command): number {
  return cmd.timeoutMs ?? (cmd.readOnly ? DEFAULT_TIMEOUT_MS.read : DEFAULT_TIMEOUT_MS.change);
}

export interface FileInfo {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  /** permission bits (mode & 0o7777) */
  readonly mode: number;
  readonly size: number;
  readonly uid: number;
}

export interface Change {
  /** one line on why; the recording Host prints it as `# why` */
  readonly why?: string;
}

export interface Host {
  /** where it acts, for messages: `localhost`, `root@10.4.7.21` */
  readonly name: string;

  /**
   * Run argv (no shell) with its stdin. Resolves with the output when the status is 0 or one of
   * `okStatus`; rejects with CommandError otherwise, and with TimeoutError (the process group
   * killed) when it runs past its timeout. A missing program is a CommandError saying so.
   */
  run(cmd: Command): Promise<Result>;

  /** The file's text; undefined when it does not exist. Larger than `maxBytes`: a RuntimeError. */
  readFile(path: string, opts?: { maxBytes?: number }): Promise<string | undefined>;
  /** The last `maxBytes` of a (log) file, from its first whole line; undefined when missing. */
  readTail(path: string, maxBytes: number): Promise<string | undefined>;
  /** stat(2), following links; undefined when nothing is there. */
  stat(path: string): Promise<FileInfo | undefined>;
  /** lstat(2): a link is a link. */
  lstat(path: string): Promise<FileInfo | undefined>;
  readlink(path: string): Promise<string | undefined>;
  /** Names in a directory (sorted); undefined when it is not there. */
  listDir(path: string): Promise<string[] | undefined>;

  /** mkdir -p, new directories at `mode`. */
  mkdir(path: string, opts: Change & { mode: number }): Promise<void>;
  /**
   * Replace a file atomically: an exclusive temp file (unpredictable name, no link followed) in
   * the same directory, created at `mode` before a byte is written, written, flushed to disk
   * and its size checked, then renamed over the old one. On any error the old file stays and
   * the temp file is removed: a RuntimeError names the file and the errno.
   */
  writeFile(path: string, content: string | Uint8Array, opts: Change & { mode: number }): Promise<void>;
  /** writeFile() with another file's bytes (a key is never held in a printed plan). */
  copyFile(from: string, to: string, opts: Change & { mode: number }): Promise<void>;
  /**
   * Run a read-only command and write its stdout to `path` as writeFile() does: the bytes come
   * through this process, never a shell redirect. Output without `expect` in it is refused.
   */
  writeOutput(cmd: Command, path: string, opts: Change & { mode: number; expect: string }): Promise<void>;
  /** rename(2); `to` is replaced when it is a file or a link (never followed). */
  rename(from: string, to: string, opts?: Change): Promise<void>;
  /** Point `path` at `target`: a new link renamed over the old one (atomic, never followed). */
  symlink(target: string, path: string, opts?: Change): Promise<void>;
  /** rm -f (-r with `recursive`). */
  remove(path: string, opts?: Change & { recursive?: boolean }): Promise<void>;
  /**
   * Scratch space: a new private (0700) directory under `parent` with an unpredictable name
   * (mkdtemp), for material a step must look at before it decides (the certs it fetched). It is
   * not a change to the node: a recording Host makes it too, and `remove()` deletes it whole.
   */
  makeTempDir(parent: string, prefix: string): Promise<TempDir>;

  /**
   * Take the lock at `path` without waiting (host/lock.ts: a kernel lock that dies with its
   * process). `{ held: true }` when another run holds it. Not a change to the node.
   */
  lock(path: string): Promise<Lock>;

  /**
   * An HTTP request to the node's own 127.0.0.1 or a unix socket, without a child process
   * where it can (an SSH Host asks a unix socket through the node's python). Absent, or an
   * error with code ENOTSUP for a request it cannot make: callers then use a command.
   */
  localRequest?(req: LocalRequest): Promise<{ status: number; body: string }>;
}

/** An HTTP request to a service on the node itself (flanneld's healthz, supervisord's socket). */
export interface LocalRequest {
  /** TCP port on 127.0.0.1, or a unix socket path */
  readonly port?: number;
  readonly socketPath?: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  readonly timeoutMs: number;
}

export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/**
 * writeOutput as every Host does it: the command's stdout, checked for `expect` (a save that
 * printed nothing useful never replaces the file), then written atomically.
 */
export async function writeCommandOutput(
  host: Host,
  cmd: Command,
  path: string,
  opts: Change & { mode: number; expect: string },
): Promise<void> {
  const out = await host.run({ ...cmd, readOnly: true });
  if (!out.stdout.includes(opts.expect)) {
    throw new RuntimeError(
      `${cmd.argv[0]} printed no ${JSON.stringify(opts.expect)} (${out.stdout.length} bytes); ${path} was not replaced`,
    );
  }
  await host.writeFile(path, out.stdout, opts);
}
