// Runbook step 2, certs: ca.pem, client.pem AND client-key.pem (the runbook forgets the key),
// fetched into a private staging directory, checked as a set (model/certs.ts), then installed
// with the key readable by root only. A set that fails the checks is refused and the installed
// files stay.
//   parseSource(text)            -> USER@HOST:/DIR (scp) or a directory
//   fetchCommand(...)            -> the one scp/cp that fetches the set
//   planCertsInstall(set, seen)  -> the copies that make the installed files the set (pure)

import { basename, join } from 'node:path';
import { shellQuote, type Command } from '../core/command.ts';
import { invalid } from '../core/errors.ts';
import { copy, type Action, type DoneWhen } from '../core/plan.ts';

export const CERT_NAMES = ['ca.pem', 'client.pem', 'client-key.pem'] as const;

export type CertSource = { kind: 'remote'; host: string; dir: string } | { kind: 'dir'; dir: string };

export function parseSource(text: string): CertSource {
  const m = /^((?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+):(\/\S*)$/.exec(text);
  if (m) return { kind: 'remote', host: m[1]!, dir: m[2]!.replace(/\/+$/, '') || '/' };
  if (/^[^/]*:/.test(text))
    throw invalid('--from', text, 'a remote source is USER@HOST:/ABSOLUTE/DIR', 'root@hdss7-200:/opt/certs');
  return { kind: 'dir', dir: text };
}

/** scp (host key checked, BatchMode) or cp of the three files into `staging`. */
export function fetchCommand(
  src: CertSource,
  staging: string,
  ssh: { identity?: string; knownHosts?: string } = {},
): Command {
  if (src.kind === 'dir')
    return {
      argv: ['cp', ...CERT_NAMES.map((n) => join(src.dir, n)), `${staging}/`],
      why: `take the set from ${src.dir}`,
      readOnly: true,
      okStatus: [1],
    };
  return {
    argv: [
      'scp',
      '-q',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=5',
      ...(ssh.identity ? ['-i', ssh.identity] : []),
      ...(ssh.knownHosts ? ['-o', `UserKnownHostsFile=${ssh.knownHosts}`] : []),
      ...CERT_NAMES.map((n) => `${src.host}:${src.dir}/${n}`),
      `${staging}/`,
    ],
    why: `fetch the set from ${src.host} into a private staging dir`,
    // only the private staging dir is written: an observation, also under --dry-run
    readOnly: true,
    okStatus: [1, 255],
    timeoutMs: 60_000,
  };
}

export interface InstalledCert {
  readonly to: string;
  readonly pem?: string;
  readonly mode?: number;
}

/** The copies from staging that make each installed file the fetched one, at its mode. */
export function planCertsInstall(
  staging: string,
  fetched: Readonly<Record<(typeof CERT_NAMES)[number], string>>,
  installed: Readonly<Record<(typeof CERT_NAMES)[number], InstalledCert>>,
): Action[] {
  const actions: Action[] = [];
  for (const name of CERT_NAMES) {
    const cur = installed[name];
    const mode = name === 'client-key.pem' ? 0o600 : 0o644;
    if (cur.pem === fetched[name] && cur.mode === mode) continue;
    const verb = cur.pem === undefined ? 'install' : cur.pem === fetched[name] ? 'fix the mode of' : 'replace';
    actions.push(
      copy(
        join(staging, name),
        cur.to,
        `${verb} ${basename(cur.to)}${mode === 0o600 ? ' (0600: root only)' : ''}`,
        mode,
      ),
    );
  }
  return actions;
}

// ------------------------------------------------------------------ the printed form (--dry-run)

/** The shell variable the pasted script keeps its staging dir in, and the line that makes it. */
export const STAGING_VAR = '"$d"';
export const STAGING_DIR_LINE = 'd=$(mktemp -d /tmp/flannel-certs-XXXXXXXXXX)';

/**
 * The checks certs makes before installing, as openssl 1.0.2 (CentOS 7) and later run them:
 * the client certificate chains to ca.pem, is valid now, and client-key.pem is its key. The
 * clientAuth usage check is certs' own (openssl 1.0.2 has no -ext): the printed script leaves
 * it out and says so.
 */
export function certCheckCommands(dir: string): Command[] {
  const f = (n: string) => `${dir}/${n}`;
  return [
    {
      argv: [],
      why: 'the client certificate chains to ca.pem',
      printAs: `openssl verify -CAfile ${f('ca.pem')} ${f('client.pem')}`,
    },
    {
      argv: [],
      why: 'it is valid now',
      printAs: `openssl x509 -noout -checkend 0 -in ${f('client.pem')}`,
    },
    {
      argv: [],
      why: 'client-key.pem is the key of client.pem\nleft out here: the clientAuth usage check (scripts/certs.ts makes it)',
      printAs: `[ "$(openssl x509 -noout -pubkey -in ${f('client.pem')})" = "$(openssl pkey -pubout -in ${f('client-key.pem')} 2>/dev/null || openssl rsa -pubout -in ${f('client-key.pem')} 2>/dev/null)" ]`,
    },
  ];
}

/**
 * The pasted script's "already done?" once the set is fetched and checked: each installed file
 * holds the fetched bytes at its mode. Then it drops the staging dir and says nothing to do.
 */
export function certsDoneCommand(dir: string, dest: Readonly<Record<(typeof CERT_NAMES)[number], string>>): Command {
  const q = shellQuote;
  const same = CERT_NAMES.map((n) => {
    const mode = n === 'client-key.pem' ? '600' : '644';
    return `cmp -s ${dir}/${n} ${q(dest[n])} && [ "$(stat -c %a ${q(dest[n])})" = ${mode} ]`;
  });
  const says = `certs: nothing to do (${Object.values(dest).join(', ')} already hold this set)`;
  return {
    argv: [],
    why: 'already done? (the installed files hold this set, at their modes)',
    printAs: `if ${same.join(' && ')}; then rm -rf ${dir}; echo ${q(says)}; exit 0; fi`,
  };
}

/** The recorded plan with this run's staging path written as the pasted script's "$d". */
export function withStaging(recording: { script(done?: DoneWhen): string; actions: Action[] }, staging: string) {
  return {
    ...recording,
    actions: recording.actions,
    script: (done?: DoneWhen) => recording.script(done).replaceAll(`${staging}/`, '"$d"/').replaceAll(staging, '"$d"'),
  };
}
