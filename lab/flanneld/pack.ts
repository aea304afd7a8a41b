// Builds the lab's flannel release tarball: the same name and the same three flat entries as
// the real flannel-<version>-linux-amd64.tar.gz, with the stand-in (or a real binary) as flanneld.
// The stand-in is one file for both flanneld versions it plays: packing it as v0.20.2 rewrites
// its VERSION line, which switches it to the etcd v3 API and v0.20.2's behaviour.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

/** Absolute path of the flanneld stand-in script (as v0.11.0: etcd v2). */
export const STANDIN_PATH = join(here, 'flanneld.mjs');
const MK_DOCKER_OPTS_PATH = join(here, 'mk-docker-opts.sh');
const README_PATH = join(here, 'README.md');

/** The flanneld versions the stand-in plays: v0.11.0 (etcd v2) and v0.20.2 (etcd v3). */
export const STANDIN_VERSIONS = ['v0.11.0', 'v0.20.2'] as const;
export type StandinVersion = (typeof STANDIN_VERSIONS)[number];

const VERSION_LINE = "const VERSION = 'v0.11.0';";

/** The stand-in's source as `version`: the same file with its VERSION line rewritten. */
export async function standinSource(version: string = 'v0.11.0'): Promise<string> {
  if (!(STANDIN_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(
      `version ${JSON.stringify(version)}: the stand-in plays ${STANDIN_VERSIONS.join(' and ')} only (e.g. v0.20.2); pack a real flanneld with flanneldBin for others`,
    );
  }
  const src = await readFile(STANDIN_PATH, 'utf8');
  const at = src.indexOf(VERSION_LINE);
  if (at < 0 || src.indexOf(VERSION_LINE, at + 1) >= 0)
    throw new Error(`${STANDIN_PATH}: expected exactly one line ${VERSION_LINE}`);
  return src.replace(VERSION_LINE, `const VERSION = '${version}';`);
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
