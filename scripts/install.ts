#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// install: runbook step 1, on every node. Puts flannel <version> in /opt/flannel-<version>
// and points /opt/flannel at it, atomically; keeps the previous release for --rollback.
// Download (default: the GitHub release) or a local --tarball; --sha256 verified and recorded.
// The release is unpacked in a staging dir and moved into place whole, so a corrupt or
// mismatched tarball leaves the current install untouched. Node files (subnet.env,
// flanneld.sh, cert/*) are carried over to the new release before the link switches.
// Idempotent: installed and linked -> nothing to do.
// Exit: 0 done / nothing to do, 2 bad input (nothing changed), 3 a command failed.

import { CommandError, UsageError } from '../lib/core/errors.ts';
import { rooted } from '../lib/core/paths.ts';
import { parseSha256, parseVersion, releaseUrl } from '../lib/model/release.ts';
import { commonFlags, defineFlags } from '../lib/cli/flags.ts';
import { note, printPlanned, report } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { applyPlan } from '../lib/host/apply.ts';
import type { Host } from '../lib/host/host.ts';
import {
  checkLocalTarball,
  installDone,
  planInstall,
  planRollback,
  readReleaseState,
  releasePaths,
  type InstallInput,
} from '../lib/steps/install.ts';
import { invalid } from '../lib/core/errors.ts';

export const flags = defineFlags({
  ...commonFlags,
  version: {
    type: 'string',
    placeholder: 'TAG',
    help: "flannel release to install (default: the cluster file's flannelVersion, else v0.11.0); --version alone prints the toolkit's version, as on every script",
    example: 'v0.11.0',
  },
  url: {
    type: 'string',
    placeholder: 'URL',
    help: 'download the tarball from URL (default: the GitHub release of --version)',
    example: 'http://10.4.7.200:8080/flannel-v0.11.0-linux-amd64.tar.gz',
  },
  tarball: {
    type: 'string',
    placeholder: 'FILE',
    help: 'use a local tarball instead of downloading (offline / mirror)',
    example: './flannel-v0.11.0-linux-amd64.tar.gz',
  },
  sha256: {
    type: 'string',
    placeholder: 'HEX',
    help: 'expected sha256 of the tarball (flannel releases publish none: take it from a trusted copy)',
  },
  rollback: { type: 'boolean', help: 'switch /opt/flannel back to the previous release' },
});

const info = {
  name: 'install',
  summary:
    'Runbook step 1: install a flannel release into /opt/flannel-<version> and switch /opt/flannel to it atomically.',
  example: 'scripts/install.ts --version v0.11.0 --sha256 <hex>   # or: --tarball ./flannel-v0.11.0-linux-amd64.tar.gz',
  perNode: false,
  nodeFiles: false,
};

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, host, recording } = loaded;
  const v = f.values;
  const version = parseVersion(v.version ?? s.flannelVersion);
  if (v.url && v.tarball)
    throw new UsageError(
      '--url and --tarball: give one of them (--tarball for a local file), e.g. --tarball ./flannel-v0.11.0-linux-amd64.tar.gz',
    );
  if (v.rollback && (v.url || v.tarball || v.sha256 || v.version))
    throw new UsageError(
      '--rollback: takes no --version/--url/--tarball/--sha256; it switches back to the recorded previous release',
    );
  const sha256 = v.sha256 === undefined ? undefined : parseSha256(v.sha256);
  const layout = { optDir: rooted(s.root, '/opt'), version };
  const state = await readReleaseState(host, layout);
  const p = releasePaths(layout);

  if (v.rollback) {
    await applyPlan(planRollback(layout, state), host);
    if (recording) return printPlanned(s, recording, base);
    report(s, { changed: true, rollback: true, to: state.previous }, [`rolled back: ${p.link} -> ${state.previous}`]);
    return 0;
  }

  let source: InstallInput['source'];
  if (v.tarball) {
    // an absolute --tarball is a host path (under --root); a relative one is where the operator stands
    const tarball = rooted(s.root, v.tarball);
    await checkLocalTarball(host, tarball, sha256, v.tarball);
    source = { kind: 'file', path: tarball };
  } else {
    const url = v.url ?? releaseUrl(version);
    if (!/^(https?|file):\/\/\S+$/.test(url))
      throw invalid('--url', url, 'must be an http(s) or file URL', releaseUrl(version));
    source = { kind: 'url', url };
  }

  const actions = planInstall({ layout, source, ...(sha256 && { sha256 }) }, state);
  if (actions.length === 0) {
    if (!sha256)
      note(
        `install: warning: nothing verified ${p.versionDir} (no --sha256): give the tarball's checksum from a trusted copy and install compares it with the one recorded there`,
      );
    report(s, { changed: false, version, link: p.link }, [`install: nothing to do (${p.link} -> flannel-${version})`]);
    return 0;
  }
  let done: string[];
  try {
    done = await applyPlan(actions, host);
  } catch (err) {
    // leave nothing half-made: the staging dir and the download go; the live link was not touched
    await host.remove(p.staging, { recursive: true, why: 'leave nothing half-made' });
    await host.remove(p.download, { why: 'leave nothing half-made' });
    const cause = (err as { cause?: unknown }).cause ?? err;
    if (cause instanceof CommandError && cause.argv.some((a) => a.includes('sha256sum -c'))) {
      throw new CommandError(
        cause.argv,
        cause.status,
        cause.stderr,
        `the downloaded tarball does not match --sha256 ${sha256}; nothing changed`,
      );
    }
    throw err;
  }
  if (!sha256)
    note(
      'install: warning: nothing verified the tarball (no --sha256); flannel publishes no checksums: take one from a trusted copy',
    );
  if (recording) return printPlanned(s, recording, base, installDone(layout));
  report(s, { changed: true, version, actions: done }, [...done, `installed: ${p.link} -> flannel-${version}`]);
  return 0;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
