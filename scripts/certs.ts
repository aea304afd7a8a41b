#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// certs: runbook step 2, on every node. Copies ca.pem, client.pem AND client-key.pem (the
// runbook forgets the key that flanneld.sh needs) from the cert host (scp) or a directory,
// checks the set before using it — client cert chains to ca.pem, key matches cert, dates
// valid (warning under 30 days), usable for client auth — and installs it with the key 0600.
// A bad set is refused and the old files stay. Idempotent: same files, right modes -> nothing to do.
// Exit: 0 installed / nothing to do, 2 bad input or bad set (nothing changed), 3 copy failed.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { certSetOk, checkCertSet } from '../lib/certs.ts';
import { invalid, UsageError } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags, rooted } from '../lib/flags.ts';
import { applyPlan, copy, formatPlan, makeDir, run, type Action } from '../lib/plan.ts';
import { zxRunner, type Command, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, note, report, runScript } from '../lib/script.ts';

export const flags = defineFlags({
  ...commonFlags,
  cafile: etcdFlags.cafile,
  certfile: etcdFlags.certfile,
  keyfile: etcdFlags.keyfile,
  from: {
    type: 'string',
    placeholder: 'SRC',
    help: 'where the set is: USER@HOST:/opt/certs (scp) or a local directory',
    example: 'root@hdss7-200:/opt/certs',
  },
  identity: { type: 'string', placeholder: 'FILE', help: 'ssh private key for scp (-i)' },
  'known-hosts': {
    type: 'string',
    placeholder: 'FILE',
    help: "ssh known_hosts to check the cert host's key against (host keys are always checked)",
  },
});

const info = {
  name: 'certs',
  summary:
    'Runbook step 2: copy ca.pem, client.pem and client-key.pem, check the set, install it with the key readable by root only.',
  example: 'scripts/certs.ts --from root@hdss7-200:/opt/certs --identity ~/.ssh/id_ed25519',
  perNode: false,
};

const NAMES = ['ca.pem', 'client.pem', 'client-key.pem'] as const;

export function parseSource(
  text: string,
): { kind: 'remote'; host: string; dir: string } | { kind: 'dir'; dir: string } {
  const m = /^((?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+):(\/\S*)$/.exec(text);
  if (m) return { kind: 'remote', host: m[1]!, dir: m[2]!.replace(/\/+$/, '') || '/' };
  if (/^[^/]*:/.test(text))
    throw invalid('--from', text, 'a remote source is USER@HOST:/ABSOLUTE/DIR', 'root@hdss7-200:/opt/certs');
  return { kind: 'dir', dir: text };
}

export async function main(argv: string[], runner: Runner = zxRunner): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f } = loaded;
  if (!f.values.from)
    throw new UsageError('--from: required; where the set is, e.g. --from root@hdss7-200:/opt/certs or --from ./certs');
  const src = parseSource(f.values.from);
  if (src.kind === 'dir' && !existsSync(src.dir)) throw invalid('--from', src.dir, 'no such directory', './certs');
  if (f.values.identity && !existsSync(f.values.identity))
    throw invalid('--identity', f.values.identity, 'no such file', '~/.ssh/id_ed25519');
  if (f.values['known-hosts'] && !existsSync(f.values['known-hosts']))
    throw invalid('--known-hosts', f.values['known-hosts'], 'no such file', '~/.ssh/known_hosts');
  const dest = {
    ca: rooted(s.root, s.etcd.cafile),
    cert: rooted(s.root, s.etcd.certfile),
    key: rooted(s.root, s.etcd.keyfile),
  };

  // fetch into a private staging dir (0700): reading the source changes nothing on this host
  const staging = await mkdtemp(join(tmpdir(), 'flannel-certs-'));
  try {
    const fetch: Command =
      src.kind === 'remote'
        ? {
            argv: [
              'scp',
              '-q',
              '-o',
              'BatchMode=yes',
              '-o',
              'ConnectTimeout=5',
              ...(f.values.identity ? ['-i', f.values.identity] : []),
              ...(f.values['known-hosts'] ? ['-o', `UserKnownHostsFile=${f.values['known-hosts']}`] : []),
              ...NAMES.map((n) => `${src.host}:${src.dir}/${n}`),
              `${staging}/`,
            ],
            why: `fetch the set from ${src.host} into a private staging dir`,
          }
        : { argv: ['cp', ...NAMES.map((n) => join(src.dir, n)), `${staging}/`], why: `take the set from ${src.dir}` };
    const fetched = await zxRunner({ ...fetch, okStatus: [1, 255] });
    if (fetched.status !== 0) {
      const why = fetched.stderr.trim().split('\n').slice(-2).join(' | ');
      throw invalid(
        '--from',
        f.values.from,
        `could not copy ${NAMES.join(', ')} (${why}); nothing changed`,
        'root@hdss7-200:/opt/certs',
      );
    }
    const [caPem, certPem, keyPem] = await Promise.all(NAMES.map((n) => readFile(join(staging, n), 'utf8')));
    const findings = checkCertSet({
      caPem: caPem!,
      certPem: certPem!,
      keyPem: keyPem!,
      now: new Date(),
      files: {
        ca: `${f.values.from}/ca.pem`,
        cert: `${f.values.from}/client.pem`,
        key: `${f.values.from}/client-key.pem`,
      },
    });
    const bad = findings.filter((x) => x.level === 'error');
    if (!certSetOk(findings)) {
      throw new UsageError(
        `the set from ${f.values.from} is refused; the installed files stay: ${bad.map((b) => b.message).join('; ')}`,
      );
    }
    for (const w of findings.filter((x) => x.level === 'warn')) note(`certs: warning: ${w.message}`);

    // plan: install only what differs (content or mode)
    const pairs = [
      { name: 'ca.pem', to: dest.ca, mode: 0o644, pem: caPem! },
      { name: 'client.pem', to: dest.cert, mode: 0o644, pem: certPem! },
      { name: 'client-key.pem', to: dest.key, mode: 0o600, pem: keyPem! },
    ];
    const actions: Action[] = [];
    for (const p of pairs) {
      const cur = await readFile(p.to, 'utf8').catch(() => undefined);
      const mode = cur === undefined ? undefined : (await stat(p.to)).mode & 0o777;
      if (cur === p.pem && mode === p.mode) continue;
      actions.push(
        copy(
          join(staging, p.name),
          p.to,
          `${cur === undefined ? 'install' : cur === p.pem ? 'fix the mode of' : 'replace'} ${basename(p.to)}${p.mode === 0o600 ? ' (0600: root only)' : ''}`,
          p.mode,
        ),
      );
    }
    const summary = findings.filter((x) => x.level === 'ok').map((x) => x.message);
    if (actions.length === 0) {
      report(
        s,
        { changed: false, files: Object.values(dest), checks: findings },
        [`certs: nothing to do (${Object.values(dest).join(', ')} already hold this set)`],
        false,
      );
      return 0;
    }
    if (s.dryRun) {
      const dirs = [...new Set(pairs.map((p) => dirname(p.to)))].filter(
        (d) => !existsSync(d) || !statSync(d).isDirectory(),
      );
      const script: Action[] = [
        makeDir(staging, 'a private staging dir for the set', 0o700),
        run(fetch),
        ...dirs.map((d) => makeDir(d, 'the cert dir')),
        ...actions,
        run({ argv: ['rm', '-rf', staging], why: 'the staging copy is no longer needed' }),
      ];
      process.stdout.write(formatPlan(script));
      for (const line of summary) note(`# checked: ${line}`);
      return 0;
    }
    await applyPlan(actions, runner);
    report(s, { changed: true, files: Object.values(dest), checks: findings }, [
      ...actions.map((a) => (a.kind === 'copy' ? `${a.why}: ${a.to}` : '')),
      ...summary.map((l) => `checked: ${l}`),
    ]);
    return 0;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
