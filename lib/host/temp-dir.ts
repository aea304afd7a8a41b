// Scratch directories on this machine (host.ts, makeTempDir): mkdtemp(3), so 0700 with an
// unpredictable name, and a kernel lock (lock.ts) held on a file inside for as long as the run
// uses it. A run killed with SIGKILL cannot remove its directory (certs: the set it fetched,
// the private key among it): the next makeTempDir with the same prefix removes every such
// directory of ours whose lock no process holds, without reading what is in it. One with no
// lock file is being made at this instant (or was left by a kill in that instant): it goes
// only once it is older than a minute.

import { lstat, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TempDir } from './host.ts';
import { takeLock } from './lock.ts';

const LOCK_FILE = '.in-use.lock';
const YOUNG_MS = 60_000;

export async function makeLockedTempDir(parent: string, prefix: string): Promise<TempDir> {
  await mkdir(parent, { recursive: true, mode: 0o755 });
  await removeLeftovers(parent, prefix);
  const path = await mkdtemp(join(parent, prefix));
  let lock: Awaited<ReturnType<typeof takeLock>>;
  try {
    lock = await takeLock(join(path, LOCK_FILE), { countOverlaps: false });
  } catch (e) {
    await rm(path, { recursive: true, force: true });
    throw e;
  }
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      if (!lock.held) await lock.release();
    },
  };
}

/** Remove the directories `<parent>/<prefix>*` that killed runs left (ours, not in use). */
async function removeLeftovers(parent: string, prefix: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(parent, name);
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory() || st.uid !== uid) continue;
    const lockFile = await lstat(join(dir, LOCK_FILE)).catch(() => undefined);
    if (!lockFile) {
      if (Date.now() - st.mtimeMs > YOUNG_MS) await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (!lockFile.isFile()) continue;
    const lock = await takeLock(join(dir, LOCK_FILE), { countOverlaps: false }).catch(() => undefined);
    if (!lock || lock.held) continue; // another run is using it
    await rm(dir, { recursive: true, force: true });
    await lock.release();
  }
}
