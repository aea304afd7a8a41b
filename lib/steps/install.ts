// Runbook step 1, install: the flannel release in /opt/flannel-<version> and /opt/flannel
// pointing at it. planInstall() is pure: from the observed install it returns the actions that
// download, verify, unpack into a staging directory, carry the node's own files over, and
// switch the link atomically. The current install is untouched until the final rename of the
// link. readReleaseState() observes through the Host.

import { resolve, join, relative } from 'node:path';
import { invalid } from '../core/errors.ts';
import { shellQuote } from '../core/command.ts';
import { capture, copy, link, makeDir, move, remove, run, type Action, type DoneWhen } from '../core/plan.ts';
import type { Host } from '../host/host.ts';
import { checkTarballEntries, NODE_FILES } from '../model/release.ts';

/** What is on disk now, observed by the script (paths already under --root). */
export interface ReleaseState {
  /** `/opt/flannel`: a link (with its target, made absolute), a real directory, or missing */
  readonly current: { kind: 'link'; target: string } | { kind: 'dir' } | { kind: 'missing' };
  /** `/opt/flannel-<version>/flanneld` is there: a non-empty, executable file */
  readonly versionInstalled: boolean;
  /** `/opt/flannel-<version>` exists (with a broken or missing flanneld when not versionInstalled) */
  readonly versionDirExists?: boolean;
  /** sha256 recorded in `/opt/flannel-<version>/.sha256`, if any */
  readonly recordedSha256?: string;
  /** `/opt/flannel.previous` link target (made absolute), if any */
  readonly previous?: string;
  /** node files present in the current release directory (relative names) */
  readonly nodeFiles: readonly string[];
  /** node files in a broken `/opt/flannel-<version>` (kept when it is replaced) */
  readonly brokenDirFiles?: readonly string[];
}

/** A node file's mode: the key root's only, the launcher executable. */
const fileMode = (f: string) => (f.endsWith('key.pem') ? 0o600 : f.endsWith('.sh') ? 0o755 : 0o644);

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
  if (state.versionInstalled && input.sha256 && state.recordedSha256 !== input.sha256) {
    // never offer the recorded hash as the example: the point is to check it, not to copy it
    throw invalid(
      '--sha256',
      input.sha256,
      state.recordedSha256
        ? `differs from the sha256 recorded when ${p.versionDir} was installed (${state.recordedSha256}): the installed release is not the tarball you named; move ${p.versionDir} aside and install again to replace it`
        : `cannot be checked: ${p.versionDir} was installed without a recorded checksum (${join(p.versionDir, '.sha256')}); move it aside and install again to have it verified`,
      `the sha256sum of a trusted copy of flannel-${version}-linux-amd64.tar.gz`,
    );
  }
  const linked = state.current.kind === 'link' && normalize(state.current.target) === normalize(p.versionDir);
  if (state.versionInstalled && linked) return [];

  const actions: Action[] = [];
  if (!state.versionInstalled) {
    actions.push(makeDir(input.layout.optDir, 'releases live here'));
    actions.push(remove(p.staging, 'clear what an interrupted install may have left', true));
    actions.push(remove(p.download, 'clear what an interrupted install may have left'));
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
      capture(
        {
          // the hash alone (sha256sum prints "HASH  FILE"): a pipe into this process, no redirect
          argv: ['sh', '-c', 'sha256sum "$1" | cut -d" " -f1', 'sh', p.download],
          why: 'the tarball checksum',
          readOnly: true,
          timeoutMs: 120_000,
        },
        join(p.staging, '.sha256'),
        'record the tarball checksum next to the release',
        { mode: 0o644, expect: '\n' },
      ),
    );
    actions.push(makeDir(join(p.staging, 'cert'), 'flanneld.sh reads ./cert/{ca,client,client-key}.pem'));
    if (state.versionDirExists) {
      // a release dir whose flanneld is missing or not executable: replaced whole, its node files kept
      const broken = join(input.layout.optDir, `.flannel-${version}.replaced`);
      for (const f of state.brokenDirFiles ?? [])
        actions.push(copy(join(p.versionDir, f), join(p.staging, f), `keep ${f} from the broken release`, fileMode(f)));
      actions.push(remove(broken, 'clear what an interrupted replacement may have left', true));
      actions.push(move(p.versionDir, broken, `${p.versionDir}/flanneld is missing or not executable: set it aside`));
      actions.push(move(p.staging, p.versionDir, `the release is complete: move it into place as ${p.versionDir}`));
      actions.push(remove(broken, 'the broken release is no longer needed', true));
    } else {
      actions.push(move(p.staging, p.versionDir, `the release is complete: move it into place as ${p.versionDir}`));
    }
    actions.push(remove(p.download, 'the tarball is no longer needed'));
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
          fileMode(f),
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

async function linkOrDir(host: Host, path: string): Promise<ReleaseState['current']> {
  const st = await host.lstat(path);
  if (!st) return { kind: 'missing' };
  if (st.type === 'symlink')
    return { kind: 'link', target: resolve(resolve(path, '..'), (await host.readlink(path)) ?? '') };
  return { kind: 'dir' };
}

/** Read what is installed under `<optDir>` (files only; no commands). */
export async function readReleaseState(host: Host, layout: ReleaseLayout): Promise<ReleaseState> {
  const p = releasePaths(layout);
  const current = await linkOrDir(host, p.link);
  const prev = await linkOrDir(host, p.previous);
  const exists = async (f: string) => (await host.lstat(f)) !== undefined;
  // `.sha256` holds sha256sum's line: the hash first
  const recorded =
    ((await host.readFile(join(p.versionDir, '.sha256')).catch(() => '')) ?? '').trim().split(/\s+/)[0] ?? '';
  const bin = await host.stat(join(p.versionDir, 'flanneld'));
  const dirSt = await host.stat(p.versionDir);
  const brokenFiles: string[] = [];
  if (dirSt?.type === 'dir') for (const f of NODE_FILES) if (await exists(join(p.versionDir, f))) brokenFiles.push(f);
  const nodeFiles: string[] = [];
  if (current.kind === 'link') for (const f of NODE_FILES) if (await exists(join(current.target, f))) nodeFiles.push(f);
  return {
    current,
    versionInstalled: bin?.type === 'file' && bin.size > 0 && (bin.mode & 0o111) !== 0,
    versionDirExists: dirSt?.type === 'dir',
    ...(dirSt?.type === 'dir' && { brokenDirFiles: brokenFiles }),
    ...(recorded ? { recordedSha256: recorded } : {}),
    ...(prev.kind === 'link' ? { previous: prev.target } : {}),
    nodeFiles,
  };
}

/** sha256 of a file on the node (sha256sum: coreutils on every runbook host). */
export async function sha256File(host: Host, path: string): Promise<string> {
  const out = await host.run({
    argv: ['sha256sum', path],
    why: 'the tarball checksum',
    readOnly: true,
    timeoutMs: 120_000,
  });
  return out.stdout.trim().split(/\s+/)[0] ?? '';
}

/** A local tarball is checked whole before anything changes: missing, wrong sha256, not a release: exit 2. */
export async function checkLocalTarball(host: Host, path: string, sha256?: string, shown = path): Promise<void> {
  // messages name the file as the operator did (the node's path, not the one under --root)
  if (!(await host.stat(path)))
    throw invalid('--tarball', shown, 'no such file', './flannel-v0.11.0-linux-amd64.tar.gz');
  if (sha256) {
    const actual = await sha256File(host, path);
    if (actual !== sha256)
      throw invalid('--tarball', shown, `its sha256 is ${actual}, not ${sha256} as --sha256 says; nothing changed`);
  }
  const listing = await host.run({
    argv: ['tar', '-tzf', path],
    why: 'list the tarball',
    okStatus: [1, 2],
    readOnly: true,
  });
  if (listing.status !== 0)
    throw invalid(
      '--tarball',
      shown,
      `is not a readable .tar.gz (${listing.stderr.trim().split('\n')[0]}); nothing changed`,
      'flannel-v0.11.0-linux-amd64.tar.gz',
    );
  checkTarballEntries(listing.stdout, '--tarball');
}

/** The test a pasted install script starts with: the release is there and the link points at it. */
export function installDone(layout: ReleaseLayout): DoneWhen {
  const p = releasePaths(layout);
  const target = linkTarget(layout.optDir, p.versionDir);
  return {
    test: `[ -x ${shellQuote(join(p.versionDir, 'flanneld'))} ] && [ "$(readlink -- ${shellQuote(p.link)})" = ${shellQuote(target)} ]`,
    say: `install: nothing to do (${p.link} -> ${target})`,
  };
}
