// `npm run build`: what runs on the nodes, in dist/.
//   dist/<script>.mjs     every scripts/*.ts bundled with what it imports, first line
//                         `#!/usr/bin/env -S node --max-semi-space-size=16`, executable;
//   dist/zx.mjs           zx, which the step scripts load when they first run a command (the
//                         cron path's spawn engine never does);
//   dist/etcd3-stack.cjs  the etcd v3 client stack (lib/host/etcd3-stack.ts: etcd3, grpc-js,
//                         protobufjs, cockatiel) in one file, with etcd's protocol precompiled
//                         (build/etcd3-proto.ts). The scripts load it only when they speak v3
//                         (build/stack-loader.ts, with V8's code cache etcd3-stack.cjs.cache,
//                         which the first v3 run writes beside it): a v2 cron run never reads
//                         it, a v3 run reads one file instead of ~200 modules, parses no .proto
//                         and, from its second run, compiles little (README: Benchmark).
// dist/ stands alone: copied anywhere with Node 20, it needs no node_modules (tests/ns/operator).
// Idempotent: the same sources give the same files. Exit 0, or 1 with esbuild's errors.

import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { etcd3ProtoPlugin } from './etcd3-proto.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STACK_SOURCE = join(ROOT, 'lib', 'host', 'etcd3-stack.ts');
export const STACK_BUNDLE = 'etcd3-stack.cjs';
const STACK_LOADER = join(ROOT, 'build', 'stack-loader.ts');
const HASHBANG = '#!/usr/bin/env -S node --max-semi-space-size=16';

/** In the scripts' bundles, the v3 stack is loaded from the file beside them (build/stack-loader.ts). */
function stackBeside(): Plugin {
  return {
    name: 'etcd3-stack-beside',
    setup(b) {
      b.onResolve({ filter: /[\\/]etcd3-stack\.ts$/ }, (args) =>
        resolve(args.resolveDir, args.path) === STACK_SOURCE ? { path: STACK_LOADER } : undefined,
      );
    },
  };
}

/**
 * The v3 client stack as one CommonJS file (grpc-js and protobufjs are CommonJS and require
 * Node built-ins), which stack-loader.ts compiles through vm.Script to use V8's code cache.
 */
export async function buildStack(outdir: string): Promise<void> {
  await build({
    entryPoints: [STACK_SOURCE],
    outfile: join(outdir, STACK_BUNDLE),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // grpc-js requires proto-loader only for channelz and ORCA, servers' features etcd3 never turns on
    external: ['@grpc/proto-loader'],
    minify: process.env.FRB_NO_MINIFY !== '1',
    plugins: [etcd3ProtoPlugin()],
    // protobufjs looks for optional modules with a direct eval (`inquire`); Long is handed to it
    logOverride: { 'direct-eval': 'silent' },
    logLevel: 'warning',
  });
}

/** zx, bundled apart (dist/zx.mjs): the step scripts load it when they first run a command. */
export const ZX_BUNDLE = 'zx.mjs';

function zxBeside(): Plugin {
  return {
    name: 'zx-beside',
    setup(b) {
      // `import('zx')` in lib/host/local.ts: from a bundle, the zx.mjs beside it
      b.onResolve({ filter: /^zx$/ }, () => ({ path: `./${ZX_BUNDLE}`, external: true }));
    },
  };
}

export async function buildZx(outdir: string): Promise<void> {
  await build({
    stdin: { contents: "export * from 'zx';", resolveDir: ROOT, loader: 'js' },
    outfile: join(outdir, ZX_BUNDLE),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // zx's own bundle requires node's builtins through require(): give the ESM file a require
    banner: {
      js: "import { createRequire as __frbRequire } from 'node:module'; const require = __frbRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

export async function buildScripts(outdir: string): Promise<string[]> {
  const entries = (await readdir(join(ROOT, 'scripts')))
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => join(ROOT, 'scripts', f));
  await build({
    entryPoints: entries,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['etcd3', 'cockatiel'],
    plugins: [stackBeside(), zxBeside()],
    logLevel: 'warning',
  });
  const outs = entries.map((e) => join(outdir, `${basename(e, '.ts')}.mjs`));
  for (const out of outs) {
    const text = await readFile(out, 'utf8');
    // the scripts' `#!/bin/sh` polyglot line (README: running from a checkout) becomes node's
    const body = text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text;
    await writeFile(out, `${HASHBANG}\n${body}`);
    await chmod(out, 0o755);
  }
  return outs;
}

export async function buildDist(outdir = join(ROOT, 'dist')): Promise<void> {
  await Promise.all([buildScripts(outdir), buildStack(outdir), buildZx(outdir)]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await buildDist(process.argv[2] ? resolve(process.argv[2]) : undefined);
  } catch (e) {
    // esbuild has printed its errors already
    if (!(e as { errors?: unknown[] }).errors) process.stderr.write(`build: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
