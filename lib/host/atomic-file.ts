// Replacing a file so that nothing is lost and nothing is exposed (host/host.ts, writeFile):
//   1. an exclusive temp file in the target's directory: O_CREAT|O_EXCL|O_NOFOLLOW, an
//      unpredictable name, created at the final mode (a key is 0600 before a byte is written);
//   2. the bytes written by this process (never a shell redirect), fsync'ed, the size checked
//      against what was meant (a full disk fails here, not later);
//   3. rename over the target, then fsync the directory so the rename survives a crash.
// On any error the temp file is removed and the old file stays. A temp file left by a kill
// (SIGKILL cannot be caught) is named `.<name>.frb-tmp-<hex>` and removed by the next write of
// that file; its content is never read.

import { constants, unlinkSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { RuntimeError } from '../core/errors.ts';

const TEMP_MARK = '.frb-tmp-';
/** Temp files being written now: removed if the process is told to stop (SIGTERM, SIGINT). */
const inFlight = new Set<string>();
let handlersInstalled = false;

function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanup = (signal: NodeJS.Signals) => {
    for (const t of inFlight) {
      try {
        unlinkSync(t); // sync: a signal handler must finish before the process ends
      } catch {
        /* already gone */
      }
    }
    process.removeListener('SIGTERM', cleanup);
    process.removeListener('SIGINT', cleanup);
    process.kill(process.pid, signal);
  };
  process.once('SIGTERM', cleanup);
  process.once('SIGINT', cleanup);
}

/** `cannot write /etc/sysconfig/iptables: ENOSPC (no space left on device); the old file is kept` */
export function writeError(path: string, err: unknown, kept: boolean): RuntimeError {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? 'EIO';
  const text = (e?.message ?? String(err)).replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return new RuntimeError(`cannot write ${path}: ${code} (${text})${kept ? '; the old file is kept' : ''}`);
}

/** Remove temp files a killed run left beside `path` (regular files only, never followed). */
async function removeLeftovers(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(`.${base}${TEMP_MARK}`)) continue;
    const p = join(dir, n);
    const st = await lstat(p).catch(() => undefined);
    if (st?.isFile()) await unlink(p).catch(() => undefined);
  }
}

export async function writeFileAtomic(path: string, content: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  const base = basename(path);
  const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
  const existing = await lstat(path).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new RuntimeError(`cannot write ${path}: EISDIR (it is a directory); nothing was changed`);
  }
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw writeError(path, e, existing !== undefined);
  }
  await removeLeftovers(dir, base);
  installSignalCleanup();
  const tmp = join(dir, `.${base}${TEMP_MARK}${randomBytes(8).toString('hex')}`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  inFlight.add(tmp);
  try {
    fh = await open(tmp, flags, mode & 0o7777);
    // the umask narrowed the mode at open; set exactly what was asked, still before any byte
    await fh.chmod(mode & 0o7777);
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off);
      if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
      off += bytesWritten;
    }
    await fh.sync();
    const st = await fh.stat();
    if (st.size !== data.length) {
      throw Object.assign(new Error(`wrote ${st.size} of ${data.length} bytes`), { code: 'EIO' });
    }
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    inFlight.delete(tmp);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    inFlight.delete(tmp);
    throw writeError(path, e, existing !== undefined);
  }
  // the rename is durable only once the directory is
  const dh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  await dh?.sync().catch(() => undefined);
  await dh?.close().catch(() => undefined);
}
