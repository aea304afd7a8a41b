// How the bundles load the v3 client stack (build/stack-loader.ts stands for
// lib/host/etcd3-stack.ts in them): dist/etcd3-stack.cjs, compiled with V8's code cache when
// there is one. Compiling that file (and the functions its
// first call runs) is a third of what the stack costs a v3 cron run; with the cache it is
// mostly skipped. The cache is etcd3-stack.cjs.cache beside the bundle, written once, at the
// end of the first run that finds none (or one V8 rejects: another node, another build), so
// it is made by the very node binary and flags the cron runs with. V8 checks the cache against
// the source and itself and falls back to compiling; a cache that cannot be written costs
// only that time. It is code, kept with the code: as trusted as dist/ itself.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import vm from 'node:vm';
import type * as Stack from '../lib/host/etcd3-stack.ts';

export interface LoadedStack {
  readonly exports: typeof Stack;
  /** whether V8 took the code cache (false: none, or rejected) */
  readonly fromCache: boolean;
  /** write the code cache for the next runs (after the stack's first call: its functions are compiled then) */
  saveCodeCache(): boolean;
}

/** Load a CommonJS bundle at `file` with the code cache at `${file}.cache` when V8 accepts it. */
export function loadStack(file: string): LoadedStack {
  const cacheFile = `${file}.cache`;
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), {
    filename: file,
    ...(cachedData && { cachedData }),
  });
  const module = { exports: {} as typeof Stack };
  (script.runInThisContext() as (...a: unknown[]) => void)(
    module.exports,
    createRequire(file),
    module,
    file,
    dirname(file),
  );
  const fromCache = cachedData !== undefined && !script.cachedDataRejected;
  return {
    exports: module.exports,
    fromCache,
    saveCodeCache() {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData(), { mode: 0o644 });
        renameSync(tmp, cacheFile);
        return true;
      } catch {
        return false;
      }
    },
  };
}
