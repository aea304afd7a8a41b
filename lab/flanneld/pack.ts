// Builds the lab's flannel release tarball: the same name and the same three flat entries as
// the real flannel-v0.11.0-linux-amd64.tar.gz, with the stand-in (or a real binary) as flanneld.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

/** Absolute path of the flanneld stand-in script. */
export const STANDIN_PATH = join(here, 'flanneld.mjs');
const MK_DOCKER_OPTS_PATH = join(here, 'mk-docker-opts.sh');
const README_PATH = join(here, 'README.md');

export async function packFlannelTarball(
  outDir: string,
  opts: { version?: string; flanneldBin?: string } = {},
): Promise<{ path: string; sha256: string }> {
  const version = opts.version ?? 'v0.11.0';
  const out = resolve(outDir, `flannel-${version}-linux-amd64.tar.gz`);
  await mkdir(resolve(outDir), { recursive: true });
  const stage = await mkdtemp(join(tmpdir(), 'flannel-pack-'));
  try {
    await copyFile(opts.flanneldBin ?? STANDIN_PATH, join(stage, 'flanneld'));
    await copyFile(MK_DOCKER_OPTS_PATH, join(stage, 'mk-docker-opts.sh'));
    await copyFile(README_PATH, join(stage, 'README.md'));
    await chmod(join(stage, 'flanneld'), 0o755);
    await chmod(join(stage, 'mk-docker-opts.sh'), 0o755);
    await chmod(join(stage, 'README.md'), 0o644);
    // Fixed owner, order, mtime and no gzip name/time: the same inputs give the same sha256.
    await run('tar', [
      '--create', '--file', out, '--directory', stage,
      '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1548115200', '--sort=name',
      '--use-compress-program=gzip -n',
      'flanneld', 'mk-docker-opts.sh', 'README.md',
    ]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  const sha256 = createHash('sha256').update(await readFile(out)).digest('hex');
  return { path: out, sha256 };
}
