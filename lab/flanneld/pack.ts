// Builds the lab's flannel release tarball: the same name and the same three flat entries as
// the real flannel-<version>-linux-amd64.tar.gz, with the stand-in (or a real binary) as flanneld.
// The stand-in's source is the TypeScript under src/; packing bundles it with esbuild into one
// script (src/main.ts and what it imports, nothing else), the version it plays chosen at bundle
// time: STANDIN_VERSION = 'v0.20.2' switches it to the etcd v3 API and v0.20.2's behaviour.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

/** The stand-in's entry point: it exports nothing, so the bundle is a plain script. */
const STANDIN_ENTRY = join(here, 'src', 'main.ts');
/** Where standinPath() keeps the bundles it writes (git-ignored; safe to delete between runs). */
const BUILD_DIR = join(here, '.build');
const MK_DOCKER_OPTS_PATH = join(here, 'mk-docker-opts.sh');
const README_PATH = join(here, 'README.md');

/** The flanneld versions the stand-in plays: v0.11.0 (etcd v2) and v0.20.2 (etcd v3). */
export const STANDIN_VERSIONS = ['v0.11.0', 'v0.20.2'] as const;
export type StandinVersion = (typeof STANDIN_VERSIONS)[number];

function standinVersion(version: string): StandinVersion {
  if (!(STANDIN_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(
      `version ${JSON.stringify(version)}: the stand-in plays ${STANDIN_VERSIONS.join(' and ')} only (e.g. v0.20.2); pack a real flanneld with flanneldBin for others`,
    );
  }
  return version as StandinVersion;
}

/**
 * esbuild: src/main.ts and its imports as one ESM file for Node 20, the Node built-ins the only
 * thing left outside (and only as import() calls, so the file also runs as CommonJS), `version`
 * put in by `define`. Paths in the output are relative to lab/flanneld: the same sources give
 * the same bytes wherever the build runs.
 */
async function bundleStandin(version: StandinVersion): Promise<string> {
  const result = await build({
    entryPoints: [STANDIN_ENTRY],
    absWorkingDir: here,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    charset: 'utf8',
    legalComments: 'none',
    logLevel: 'silent',
    define: { STANDIN_VERSION: JSON.stringify(version) },
    banner: { js: '#!/usr/bin/env node' },
  });
  const out = result.outputFiles[0];
  if (!out || result.outputFiles.length !== 1) throw new Error(`${STANDIN_ENTRY}: esbuild gave no single output file`);
  const outside = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('src/'));
  if (outside.length > 0)
    throw new Error(`the stand-in must not depend on anything outside src/: ${outside.join(', ')}`);
  for (const o of Object.values(result.metafile.outputs)) {
    const bad = o.imports.filter((i) => !i.path.startsWith('node:') || i.kind !== 'dynamic-import');
    if (bad.length > 0 || o.exports.length > 0)
      throw new Error(
        `the stand-in's bundle must be a plain script (Node built-ins through import() only): ${[...bad.map((i) => `${i.kind} ${i.path}`), ...o.exports.map((e) => `export ${e}`)].join(', ')}`,
      );
  }
  return out.text;
}

const bundles = new Map<StandinVersion, Promise<string>>();

/** The stand-in as one script playing `version` (bundled once per process and version). */
export function standinSource(version: string = 'v0.11.0'): Promise<string> {
  const v = standinVersion(version);
  let text = bundles.get(v);
  if (!text) {
    text = bundleStandin(v);
    bundles.set(v, text);
    text.catch(() => bundles.delete(v));
  }
  return text;
}

/**
 * The path of an executable bundle of the stand-in playing `version`, for running it directly
 * (`node <path> --etcd-endpoints=...`). Kept in lab/flanneld/.build/ under a name with the
 * bundle's hash, written to a temporary name and renamed: processes that build at the same time
 * write the same bytes, and no one ever sees a half-written file.
 */
export async function standinPath(version: string = 'v0.11.0'): Promise<string> {
  const text = await standinSource(version);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const path = join(BUILD_DIR, `flanneld-${version}-${hash}.mjs`);
  if (!existsSync(path)) {
    await mkdir(BUILD_DIR, { recursive: true });
    const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, text, { mode: 0o755 });
    await chmod(temp, 0o755);
    await rename(temp, path);
  }
  return path;
}

/** Writes an executable stand-in playing `version` to `dest` (tests run it like the tarball's ./flanneld). */
export async function writeStandin(dest: string, version: string = 'v0.11.0'): Promise<string> {
  await writeFile(dest, await standinSource(version), { mode: 0o755 });
  await chmod(dest, 0o755);
  return dest;
}

/**
 * `flannel-<version>-linux-amd64.tar.gz` in outDir. With the stand-in, `version` picks what it
 * plays (v0.11.0, the default, or v0.20.2); with `flanneldBin` it only names the tarball.
 */
export async function packFlannelTarball(
  outDir: string,
  opts: { version?: string; flanneldBin?: string } = {},
): Promise<{ path: string; sha256: string }> {
  const version = opts.version ?? 'v0.11.0';
  const out = resolve(outDir, `flannel-${version}-linux-amd64.tar.gz`);
  const standin = opts.flanneldBin ? undefined : await standinSource(version);
  await mkdir(resolve(outDir), { recursive: true });
  const stage = await mkdtemp(join(tmpdir(), 'flannel-pack-'));
  try {
    if (standin === undefined) await copyFile(opts.flanneldBin!, join(stage, 'flanneld'));
    else await writeFile(join(stage, 'flanneld'), standin);
    await copyFile(MK_DOCKER_OPTS_PATH, join(stage, 'mk-docker-opts.sh'));
    await copyFile(README_PATH, join(stage, 'README.md'));
    await chmod(join(stage, 'flanneld'), 0o755);
    await chmod(join(stage, 'mk-docker-opts.sh'), 0o755);
    await chmod(join(stage, 'README.md'), 0o644);
    // Fixed owner, order, mtime and no gzip name/time: the same inputs give the same sha256.
    await run('tar', [
      '--create',
      '--file',
      out,
      '--directory',
      stage,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@1548115200',
      '--sort=name',
      '--use-compress-program=gzip -n',
      'flanneld',
      'mk-docker-opts.sh',
      'README.md',
    ]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  const sha256 = createHash('sha256')
    .update(await readFile(out))
    .digest('hex');
  return { path: out, sha256 };
}
