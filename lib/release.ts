// The flannel release on a node: /opt/flannel-<version> directories and the /opt/flannel link.
// planInstall() is pure: from the observed install it returns the actions that download,
// verify, unpack into a staging directory, carry the node's own files over, and switch the
// link atomically. The current install is untouched until the final rename of the link.

import { invalid } from './errors.ts';
import { copy, link, makeDir, run, type Action } from './plan.ts';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const DEFAULT_RELEASE_URL =
  'https://github.com/coreos/flannel/releases/download/{version}/flannel-{version}-linux-amd64.tar.gz';

/** Files a node adds to its release directory; an upgrade carries them to the new one. */
export const NODE_FILES = [
  'subnet.env',
  'flanneld.sh',
  'cert/ca.pem',
  'cert/client.pem',
  'cert/client-key.pem',
] as const;

export function parseVersion(text: string, field = '--version'): string {
  if (!/^v\d+\.\d+\.\d+$/.test(text ?? ''))
    throw invalid(field, text, 'must be a flannel release tag vMAJOR.MINOR.PATCH', 'v0.11.0');
  return text;
}

export function parseSha256(text: string, field = '--sha256'): string {
  const hex = (text ?? '').trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw invalid(
      field,
      text,
      'must be 64 hex digits (sha256sum of the tarball)',
      'e.g. from `sha256sum flannel-v0.11.0-linux-amd64.tar.gz`',
    );
  return hex;
}

export function releaseUrl(version: string, template = DEFAULT_RELEASE_URL): string {
  return template.replaceAll('{version}', version);
}

/** What is on disk now, observed by the script (paths already under --root). */
export interface ReleaseState {
  /** `/opt/flannel`: a link (with its target, made absolute), a real directory, or missing */
  readonly current: { kind: 'link'; target: string } | { kind: 'dir' } | { kind: 'missing' };
  /** does `/opt/flannel-<version>/flanneld` exist */
  readonly versionInstalled: boolean;
  /** sha256 recorded in `/opt/flannel-<version>/.sha256`, if any */
  readonly recordedSha256?: string;
  /** `/opt/flannel.previous` link target (made absolute), if any */
  readonly previous?: string;
  /** node files present in the current release directory (relative names) */
  readonly nodeFiles: readonly string[];
}

export interface ReleaseLayout {
  /** e.g. `<root>/opt` */
  readonly optDir: string;
  readonly version: string;
}

export const releasePaths = (l: ReleaseLayout) => ({
  link: join(l.optDir, 'flannel'),
  previous: join(l.optDir, 'flannel.previous'),
  versionDir: join(l.optDir, `flannel-${l.version}`),
  staging: join(l.optDir, `.flannel-${l.version}.partial`),
  download: join(l.optDir, `.flannel-${l.version}-linux-amd64.tar.gz.partial`),
});

export interface InstallInput {
  readonly layout: ReleaseLayout;
  /** where the tarball comes from: a URL (curl) or a local file */
  readonly source: { kind: 'url'; url: string } | { kind: 'file'; path: string };
  readonly sha256?: string;
}

/**
 * Actions that make `<opt>/flannel` point at a complete `<opt>/flannel-<version>`.
 * Empty when it already does (idempotent). Throws a usage error for states we will not
 * guess about (a real directory where the link should be, a different recorded checksum).
 */
export function planInstall(input: InstallInput, state: ReleaseState): Action[] {
  const p = releasePaths(input.layout);
  const { version } = input.layout;
  if (state.current.kind === 'dir') {
    throw invalid(
      p.link,
      'a directory',
      'must be a link to a release directory; move it aside (mv /opt/flannel /opt/flannel.old) and run install again',
      `${p.link} -> ${p.versionDir}`,
    );
  }
  if (state.versionInstalled && input.sha256 && state.recordedSha256 && state.recordedSha256 !== input.sha256) {
    throw invalid(
      '--sha256',
      input.sha256,
      `differs from the sha256 recorded when ${p.versionDir} was installed (${state.recordedSha256}); remove that directory to reinstall`,
      state.recordedSha256,
    );
  }
  const linked = state.current.kind === 'link' && normalize(state.current.target) === normalize(p.versionDir);
  if (state.versionInstalled && linked) return [];

  const actions: Action[] = [];
  if (!state.versionInstalled) {
    actions.push(makeDir(input.layout.optDir, 'releases live here'));
    actions.push(
      run({ argv: ['rm', '-rf', p.staging, p.download], why: 'clear what an interrupted install may have left' }),
    );
    if (input.source.kind === 'url') {
      actions.push(
        run({
          argv: ['curl', '-fsSL', '--retry', '2', '--connect-timeout', '10', '-o', p.download, input.source.url],
          why: `download flannel ${version}`,
        }),
      );
    } else {
      actions.push(copy(input.source.path, p.download, `use the local tarball ${input.source.path}`));
    }
    if (input.sha256) {
      actions.push(
        run({
          argv: ['sh', '-c', 'echo "$1  $2" | sha256sum -c --quiet -', 'sh', input.sha256, p.download],
          why: 'refuse a tarball whose sha256 is not the one given',
        }),
      );
    }
    actions.push(
      makeDir(p.staging, 'unpack into a staging directory: the live install stays untouched until the link switch'),
    );
    actions.push(
      run({
        argv: ['tar', '-xzf', p.download, '-C', p.staging, '--no-same-owner'],
        why: 'unpack the release (flat: flanneld, mk-docker-opts.sh, README.md)',
      }),
    );
    actions.push(
      run({
        argv: ['test', '-x', join(p.staging, 'flanneld')],
        why: 'a release without an executable flanneld is not one',
      }),
    );
    actions.push(
      run({
        argv: ['sh', '-c', 'sha256sum "$1" | cut -d" " -f1 > "$2"', 'sh', p.download, join(p.staging, '.sha256')],
        why: 'record the tarball checksum next to the release',
      }),
    );
    actions.push(makeDir(join(p.staging, 'cert'), 'flanneld.sh reads ./cert/{ca,client,client-key}.pem'));
    actions.push(
      run({
        argv: ['mv', '-T', p.staging, p.versionDir],
        why: `the release is complete: move it into place as ${p.versionDir}`,
      }),
    );
    actions.push(run({ argv: ['rm', '-f', p.download], why: 'the tarball is no longer needed' }));
  } else {
    actions.push(makeDir(join(p.versionDir, 'cert'), 'flanneld.sh reads ./cert/{ca,client,client-key}.pem'));
  }
  // carry the node's own files over, so flanneld finds them right after the switch
  if (state.current.kind === 'link' && !linked) {
    for (const f of state.nodeFiles) {
      actions.push(
        copy(
          join(state.current.target, f),
          join(p.versionDir, f),
          `carry ${f} over from ${state.current.target}`,
          f.endsWith('key.pem') ? 0o600 : f.endsWith('.sh') ? 0o755 : 0o644,
        ),
      );
    }
    actions.push(
      link(
        linkTarget(input.layout.optDir, state.current.target),
        p.previous,
        'remember the previous release for --rollback',
      ),
    );
  }
  actions.push(
    link(
      linkTarget(input.layout.optDir, p.versionDir),
      p.link,
      `switch ${p.link} to ${version} atomically (a new link renamed over the old one)`,
    ),
  );
  return actions;
}

/** Actions that swap `/opt/flannel` back to the previous release (and remember the one left). */
export function planRollback(layout: Pick<ReleaseLayout, 'optDir'>, state: ReleaseState): Action[] {
  const p = releasePaths({ ...layout, version: 'x' });
  if (!state.previous)
    throw invalid(
      '--rollback',
      `${p.previous}`,
      'no previous release is recorded (install has switched versions only once, or never)',
      `${p.previous} -> /opt/flannel-v0.10.0`,
    );
  if (state.current.kind !== 'link')
    throw invalid(p.link, state.current.kind, 'must be a link to roll back', `${p.link} -> /opt/flannel-v0.11.0`);
  return [
    link(
      linkTarget(layout.optDir, state.current.target),
      p.previous,
      `remember ${state.current.target} so a second --rollback undoes this one`,
    ),
    link(linkTarget(layout.optDir, state.previous), p.link, `switch ${p.link} back to ${state.previous}`),
  ];
}

const normalize = (p: string) => p.replace(/\/+$/, '');

/**
 * Links point at their sibling by a relative name (`flannel -> flannel-v0.11.0`): the same
 * link is right on the host and under --root, and survives moving /opt.
 */
function linkTarget(optDir: string, absolute: string): string {
  const rel = relative(optDir, normalize(absolute));
  return rel.startsWith('..') || rel === '' ? absolute : rel;
}

// ---------------------------------------------------------------- observe

async function linkOrDir(path: string): Promise<ReleaseState['current']> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return { kind: 'missing' };
  if (st.isSymbolicLink()) return { kind: 'link', target: resolve(resolve(path, '..'), await readlink(path)) };
  return { kind: 'dir' };
}

/** Read what is installed under `<optDir>` (files only; no commands). */
export async function readReleaseState(layout: ReleaseLayout): Promise<ReleaseState> {
  const p = releasePaths(layout);
  const current = await linkOrDir(p.link);
  const prev = await linkOrDir(p.previous);
  const exists = async (f: string) => Boolean(await lstat(f).catch(() => undefined));
  const recorded = (await readFile(join(p.versionDir, '.sha256'), 'utf8').catch(() => '')).trim();
  const nodeFiles: string[] = [];
  if (current.kind === 'link') for (const f of NODE_FILES) if (await exists(join(current.target, f))) nodeFiles.push(f);
  return {
    current,
    versionInstalled: await exists(join(p.versionDir, 'flanneld')),
    ...(recorded ? { recordedSha256: recorded } : {}),
    ...(prev.kind === 'link' ? { previous: prev.target } : {}),
    nodeFiles,
  };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Check a release tarball's entry list (`tar -tzf`): flat, with an executable-to-be
 * `flanneld`, nothing absolute or climbing out with `..`.
 */
export function checkTarballEntries(listing: string, field: string): void {
  const entries = listing
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const bad = entries.find((e) => e.startsWith('/') || e.split('/').includes('..'));
  if (bad) throw invalid(field, bad, 'a release tarball entry must stay inside the release directory', 'flanneld');
  if (!entries.some((e) => e.replace(/^\.\//, '') === 'flanneld')) {
    throw invalid(
      field,
      entries.slice(0, 4).join(' '),
      'holds no flanneld at its top level: not a flannel release tarball',
      'flannel-v0.11.0-linux-amd64.tar.gz (flanneld, mk-docker-opts.sh, README.md)',
    );
  }
}
