// In the bundles (dist/*.mjs) this module stands for lib/host/etcd3-stack.ts (build/bundle.ts):
// withV3's `import('./etcd3-stack.ts')` runs it, which loads dist/etcd3-stack.cjs beside the
// bundle with its code cache (build/stack-load.ts) and writes the cache when there was none.

import { fileURLToPath } from 'node:url';
import { loadStack } from './stack-load.ts';

const loaded = loadStack(fileURLToPath(new URL('./etcd3-stack.cjs', import.meta.url)));
// at the end of the run (the scripts end with process.exit: synchronous work only), when the
// first call has compiled what the next runs will need
if (!loaded.fromCache) process.once('exit', () => loaded.saveCodeCache());

export const { Etcd3, noop } = loaded.exports;
