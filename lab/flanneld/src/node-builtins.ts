// Node's built-in modules, loaded with import() rather than import statements: the bundle then
// holds no import or export statement and also runs where Node takes the extensionless
// `flanneld` for CommonJS (a "type": "commonjs" package.json above it, or a Node 20 older than
// 20.19 without module syntax detection). The real flanneld is a static Go binary that runs
// wherever it is put; so must the stand-in. Set once by loadModules(), before main() runs.
import type * as ChildProcessModule from 'node:child_process';
import type * as FsModule from 'node:fs';
import type * as HttpModule from 'node:http';
import type * as HttpsModule from 'node:https';

export let http: typeof HttpModule;
export let https: typeof HttpsModule;
export let execFile: typeof ChildProcessModule.execFile;
export let fs: typeof FsModule;

export async function loadModules(): Promise<void> {
  const [h, hs, cp, f] = await Promise.all([
    import('node:http'),
    import('node:https'),
    import('node:child_process'),
    import('node:fs'),
  ]);
  http = h.default;
  https = hs.default;
  execFile = cp.default.execFile;
  fs = f.default;
}
