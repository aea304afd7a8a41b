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

import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { commonFlags, defineFlags, rooted } from '../lib/flags.ts';
import { invalid, UsageError, CommandError } from '../lib/errors.ts';
import { applyPlan, describeAction, formatPlan } from '../lib/plan.ts';
import {
  checkTarballEntries,
  parseSha256,
  parseVersion,
  planInstall,
  planRollback,
  readReleaseState,
  releasePaths,
  releaseUrl,
  sha256File,
} from '../lib/release.ts';
import { zxRunner, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, report, runScript } from '../lib/script.ts';

export const flags = defineFlags({
  ...commonFlags,
  version: {
    type: 'string',
    placeholder: 'TAG',
    help: "flannel release to install (default: the cluster file's flannelVersion, else v0.11.0)",
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
};

export async function main(argv: string[], runner: Runner = zxRunner): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f } = loaded;
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
  const state = await readReleaseState(layout);

  if (v.rollback) {
    const actions = planRollback(layout, state);
    if (s.dryRun) {
      process.stdout.write(formatPlan(actions));
      return 0;
    }
    await applyPlan(actions, runner);
    report(s, { changed: true, rollback: true, to: state.previous }, [
      `rolled back: ${rooted(s.root, '/opt/flannel')} -> ${state.previous}`,
    ]);
    return 0;
  }

  let source: { kind: 'url'; url: string } | { kind: 'file'; path: string };
  if (v.tarball) {
    // a local tarball is checked whole before anything changes: bad input exits 2
    if (!existsSync(v.tarball))
      throw invalid('--tarball', v.tarball, 'no such file', './flannel-v0.11.0-linux-amd64.tar.gz');
    if (sha256) {
      const actual = await sha256File(v.tarball);
      if (actual !== sha256)
        throw invalid(
          '--tarball',
          v.tarball,
          `its sha256 is ${actual}, not ${sha256} as --sha256 says; nothing changed`,
          'check the file or the checksum',
        );
    }
    const listing = await zxRunner({ argv: ['tar', '-tzf', v.tarball], why: 'list the tarball', okStatus: [1, 2] });
    if (listing.status !== 0)
      throw invalid(
        '--tarball',
        v.tarball,
        `is not a readable .tar.gz (${listing.stderr.trim().split('\n')[0]}); nothing changed`,
        'flannel-v0.11.0-linux-amd64.tar.gz',
      );
    checkTarballEntries(listing.stdout, '--tarball');
    source = { kind: 'file', path: v.tarball };
  } else {
    const url = v.url ?? releaseUrl(version);
    if (!/^(https?|file):\/\/\S+$/.test(url))
      throw invalid('--url', url, 'must be an http(s) or file URL', releaseUrl(version));
    source = { kind: 'url', url };
  }

  const actions = planInstall({ layout, source, sha256 }, state);
  if (actions.length === 0) {
    report(
      s,
      { changed: false, version, link: releasePaths(layout).link },
      [`install: nothing to do (${releasePaths(layout).link} -> flannel-${version})`],
      false,
    );
    return 0;
  }
  if (s.dryRun) {
    process.stdout.write(formatPlan(actions));
    return 0;
  }
  const done: string[] = [];
  try {
    await applyPlan(actions, runner, (a) => done.push(describeAction(a)));
  } catch (err) {
    // leave nothing half-made: the staging dir and the download go; the live link was not touched
    const p = releasePaths(layout);
    await rm(p.staging, { recursive: true, force: true });
    await rm(p.download, { force: true });
    if (err instanceof CommandError && err.argv.some((a) => a.includes('sha256sum -c'))) {
      throw new CommandError(
        err.argv,
        err.status,
        err.stderr,
        `the downloaded tarball does not match --sha256 ${sha256}; nothing changed`,
      );
    }
    throw err;
  }
  report(s, { changed: true, version, actions: done }, [
    ...done,
    `installed: ${releasePaths(layout).link} -> flannel-${version}`,
  ]);
  return 0;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
