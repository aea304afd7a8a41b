// Runbook step 2, certs: ca.pem, client.pem AND client-key.pem (the runbook forgets the key),
// fetched into a private staging directory, checked as a set (model/certs.ts), then installed
// with the key readable by root only. A set that fails the checks is refused and the installed
// files stay.
//   parseSource(text)            -> USER@HOST:/DIR (scp) or a directory
//   fetchCommand(...)            -> the one scp/cp that fetches the set
//   planCertsInstall(set, seen)  -> the copies that make the installed files the set (pure)

import { basename, join } from 'node:path';
import { shellQuote, type Command } from '../core/command.ts';
import { invalid, RuntimeError, UsageError } from '../core/errors.ts';
import { rooted } from '../core/paths.ts';
import { certSetOk, checkCertSet, type Finding as CertFinding } from '../model/certs.ts';
import { MAX_PEM_BYTES } from '../host/etcd.ts';
import type { Host } from '../host/host.ts';
import { copy, type Action, type DoneWhen } from '../core/plan.ts';

export const CERT_NAMES = ['ca.pem', 'client.pem', 'client-key.pem'] as const;

export type CertSource = { kind: 'remote'; host: string; dir: string } | { kind: 'dir'; dir: string };

export function parseSource(text: string): CertSource {
  const m = /^((?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+):(\/\S*)$/.exec(text);
  // scp's legacy protocol (OpenSSH < 9, CentOS 7's) hands the remote path to the remote shell
  if (m && !/^[A-Za-z0-9._/+@,=-]+$/.test(m[2]!))
    throw invalid(
      '--from',
      text,
      "the remote directory must be letters, digits and . _ / + @ , = - (an older scp hands it to the remote host's shell)",
      'root@hdss7-200:/opt/certs',
    );
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
      // no -q: it silences ssh too, and "Host key verification failed." is the line that says why
      // (scp shows no progress meter when its output is not a terminal)
      'scp',
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

/** ssh's words for "the connection itself failed", not the copy. */
const SSH_FAILURES = [
  /Host key verification failed\./,
  /Permission denied \(/,
  /Could not resolve hostname/,
  /Connection (refused|timed out)/,
  /No route to host/,
  /Network is unreachable/,
];

/**
 * Why the fetch failed, as one line: ssh's own line when ssh could not connect (exit 3: the
 * host, its key or the network, with the fix), else what the copy said (exit 2: the source).
 */
export function fetchFailure(
  from: string,
  src: CertSource,
  stderr: string,
  ssh: { identity?: string; knownHosts?: string } = {},
): RuntimeError | UsageError {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !/^@+$/.test(l));
  const said = lines.find((l) => SSH_FAILURES.some((re) => re.test(l)));
  if (src.kind === 'remote' && said) {
    const name = src.host.replace(/^.*@/, '');
    const kh = ssh.knownHosts ?? '~/.ssh/known_hosts';
    const changed = lines.some((l) => /HAS CHANGED/.test(l));
    const fix = !/Host key/.test(said)
      ? /Permission denied/.test(said)
        ? `the key ${ssh.identity ?? "(ssh's default)"} is not accepted for ${src.host}; give the right --identity`
        : `${name} cannot be reached over ssh`
      : changed
        ? `the key ${name} offered is not the one in ${kh}; if the change is expected (check its fingerprint with the host's owner), remove the old key (ssh-keygen -R ${name} -f ${kh}) and add the new one`
        : `${kh} has no key for ${name}; add it once its fingerprint is checked (ssh-keyscan ${name} >> ${kh})`;
    return new RuntimeError(`--from ${from}: ssh said "${said}": ${fix}; nothing changed`);
  }
  const why = lines.slice(-2).join(' | ');
  return invalid(
    '--from',
    from,
    `could not copy ${CERT_NAMES.join(', ')} (${why}); nothing changed`,
    'root@hdss7-200:/opt/certs',
  );
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

/**
 * --from and the ssh files, checked before anything is fetched: a directory on the node is a
 * host path (under --root), USER@HOST:DIR is scp's; --identity and --known-hosts are files.
 */
export async function resolveSource(
  host: Host,
  root: string,
  from: string | undefined,
  ssh: { readonly identity?: string | undefined; readonly knownHosts?: string | undefined },
): Promise<CertSource> {
  if (!from)
    throw new UsageError('--from: required; where the set is, e.g. --from root@hdss7-200:/opt/certs or --from ./certs');
  const parsed = parseSource(from);
  const src = parsed.kind === 'dir' ? { ...parsed, dir: rooted(root, parsed.dir) } : parsed;
  if (src.kind === 'dir' && !(await host.stat(src.dir))) throw invalid('--from', from, 'no such directory', './certs');
  for (const [flag, file, example] of [
    ['--identity', ssh.identity, '~/.ssh/id_ed25519'],
    ['--known-hosts', ssh.knownHosts, '~/.ssh/known_hosts'],
  ] as const) {
    if (file === undefined) continue;
    const st = await host.stat(file);
    if (!st) throw invalid(flag, file, 'no such file', example);
    if (st.type !== 'file')
      throw invalid(flag, file, `is a ${st.type === 'dir' ? 'directory' : st.type}, not a file`, example);
  }
  return src;
}

/** The fetched set, read and judged: a file over MAX_PEM_BYTES or a set that cannot work is refused by name. */
export async function readStagedSet(
  host: Host,
  staging: string,
  from: string,
): Promise<{ set: Record<(typeof CERT_NAMES)[number], string>; findings: CertFinding[] }> {
  // a PEM file is a few KB: a bigger one is refused by name, not read
  for (const n of CERT_NAMES) {
    const size = (await host.stat(join(staging, n)))?.size ?? 0;
    if (size > MAX_PEM_BYTES)
      throw new UsageError(
        `--from ${from}: ${n} is ${size} bytes; a PEM file is at most ${MAX_PEM_BYTES}: not installed, nothing changed`,
      );
  }
  const read = async (n: string) => (await host.readFile(join(staging, n), { maxBytes: MAX_PEM_BYTES })) ?? '';
  const set = {
    'ca.pem': await read('ca.pem'),
    'client.pem': await read('client.pem'),
    'client-key.pem': await read('client-key.pem'),
  };
  const findings = checkCertSet({
    caPem: set['ca.pem'],
    certPem: set['client.pem'],
    keyPem: set['client-key.pem'],
    now: new Date(),
    files: { ca: `${from}/ca.pem`, cert: `${from}/client.pem`, key: `${from}/client-key.pem` },
  });
  if (!certSetOk(findings)) {
    const bad = findings.filter((x) => x.level === 'error').map((b) => b.message);
    throw new UsageError(`the set from ${from} is refused; the installed files stay: ${bad.join('; ')}`);
  }
  return { set, findings };
}
