// Scratch directories on this machine (host.ts, makeTempDir): mkdtemp(3), so 0700 with an
// unpredictable name, and a kernel lock (lock.ts) held on a file inside for as long as the run
// uses it. A run killed with SIGKILL cannot remove its directory (certs: the set it fetched,
// the private key among it): the next makeTempDir with the same prefix removes every such
// directory of ours whose lock no process holds, without reading what is in it. A directory is
// made as `.<prefix>XXXXXX`, locked, and only then renamed to `<prefix>XXXXXX` (the lock goes
// with it): another run never sees one of ours unlocked between its creation and its lock
// (two runs at once did: one removed the other's). A `.<prefix>` one left by a kill in that
// instant goes once it is older than a minute. A directory is removed the same way in reverse:
// renamed to `.<prefix>XXXXXX.gone` first, then emptied. A sweep that listed it a moment before
// finds nothing under the old name, and it opens a lock file without creating it: CI saw a
// sweep recreate the lock file of a directory its owner was emptying (ENOTEMPTY on rmdir).

import { lstat, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { TempDir } from './host.ts';
import { takeLock } from './lock.ts';

const LOCK_FILE = '.in-use.lock';
const YOUNG_MS = 60_000;

export async function makeLockedTempDir(parent: string, prefix: string): Promise<TempDir> {
  await mkdir(parent, { recursive: true, mode: 0o755 });
  await removeLeftovers(parent, prefix);
  const making = await mkdtemp(join(parent, `.${prefix}`));
  let lock: Awaited<ReturnType<typeof takeLock>>;
  let path: string;
  try {
    lock = await takeLock(join(making, LOCK_FILE), { countOverlaps: false });
    path = join(parent, `${prefix}${basename(making).slice(prefix.length + 1)}`);
    await rename(making, path);
  } catch (e) {
    await rm(making, { recursive: true, force: true });
    throw e;
  }
  return {
    path,
    remove: async () => {
      await removeDir(parent, prefix, path);
      if (!lock.held) await lock.release();
    },
  };
}

/** Take `dir` out of every sweep's sight (a hidden name), then remove it. */
async function removeDir(parent: string, prefix: string, dir: string): Promise<void> {
  const gone = join(parent, `.${prefix}${basename(dir).slice(prefix.length)}.gone`);
  const moved = await rename(dir, gone).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
  if (moved) await rm(gone, { recursive: true, force: true });
}

/** Remove the directories `<parent>/<prefix>*` that killed runs left (ours, not in use). */
async function removeLeftovers(parent: string, prefix: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  const uid = process.getuid?.();
  for (const name of names) {
    const making = name.startsWith(`.${prefix}`);
    if (!making && !name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory() || st.uid !== uid) continue;
    if (making) {
      if (Date.now() - st.mtimeMs > YOUNG_MS) await rm(dir, { recursive: true, force: true });
      continue;
    }
    const lockFile = await lstat(join(dir, LOCK_FILE)).catch(() => undefined);
    if (!lockFile) {
      if (Date.now() - st.mtimeMs > YOUNG_MS) await removeDir(parent, prefix, dir);
      continue;
    }
    if (!lockFile.isFile()) continue;
    const lock = await takeLock(join(dir, LOCK_FILE), { countOverlaps: false, create: false }).catch(() => undefined);
    if (!lock || lock.held) continue; // another run is using it, or is removing it
    await removeDir(parent, prefix, dir);
    await lock.release();
  }
}
