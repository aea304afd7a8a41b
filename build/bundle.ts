// `npm run build`: what runs on the nodes, in dist/.
//   dist/<script>.mjs     every scripts/*.ts bundled with what it imports (zx stays a package),
//                         first line `#!/usr/bin/env -S node --max-semi-space-size=16`, executable;
//   dist/etcd3-stack.mjs  the etcd v3 client stack (lib/host/etcd3-stack.ts: etcd3, grpc-js,
//                         protobufjs, cockatiel) in one file, with etcd's protocol precompiled
//                         (build/etcd3-proto.ts). The scripts import it only when they speak v3:
//                         a v2 cron run never reads it, a v3 run reads one file instead of
//                         ~200 modules and parses no .proto (README: Benchmark).
// Idempotent: the same sources give the same files. Exit 0, or 1 with esbuild's errors.

import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { etcd3ProtoPlugin } from './etcd3-proto.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STACK_SOURCE = join(ROOT, 'lib', 'host', 'etcd3-stack.ts');
export const STACK_BUNDLE = 'etcd3-stack.mjs';
const HASHBANG = '#!/usr/bin/env -S node --max-semi-space-size=16';

/** In the scripts' bundles, the v3 stack is the file beside them, loaded when first imported. */
function stackBeside(): Plugin {
  return {
    name: 'etcd3-stack-beside',
    setup(b) {
      b.onResolve({ filter: /[\\/]etcd3-stack\.ts$/ }, (args) =>
        resolve(args.resolveDir, args.path) === STACK_SOURCE
          ? { path: `./${STACK_BUNDLE}`, external: true }
          : undefined,
      );
    },
  };
}

/**
 * The v3 client stack as one ES module. Not CommonJS: importing a CommonJS file from ESM makes
 * Node scan all of it for its export names first (150 ms for this one). Its CommonJS parts
 * (grpc-js, protobufjs) require Node built-ins, through a require made for the file.
 */
export async function buildStack(outdir: string): Promise<void> {
  await build({
    entryPoints: [STACK_SOURCE],
    outfile: join(outdir, STACK_BUNDLE),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: {
      js: "import { createRequire as __stackRequire } from 'node:module'; const require = __stackRequire(import.meta.url);",
    },
    // grpc-js requires proto-loader only for channelz and ORCA, servers' features etcd3 never turns on
    external: ['@grpc/proto-loader'],
    minify: process.env.FRB_NO_MINIFY !== '1',
    plugins: [etcd3ProtoPlugin()],
    // protobufjs looks for optional modules with a direct eval (`inquire`); Long is handed to it
    logOverride: { 'direct-eval': 'silent' },
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
    external: ['etcd3', 'cockatiel', 'zx'],
    plugins: [stackBeside()],
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
  await Promise.all([buildScripts(outdir), buildStack(outdir)]);
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
