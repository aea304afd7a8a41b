// One flag vocabulary for every script:
//   parseFlags       - argv -> typed values over minimist, every mistake a one-line UsageError
//   commonFlags, etcdFlags, nodeFlags - the shared flag groups (a script spreads the ones it takes)
//   formatHelp       - the text of --help
// What the flags mean for a run (flags over the cluster file over defaults) is cli/settings.ts.

import minimist from 'minimist';
import { invalid, UsageError } from '../core/errors.ts';
import { DEFAULT_ETCD_PREFIX, DEFAULT_STATUS_PREFIX } from '../core/validate.ts';
import { nearestName } from '../core/nearest.ts';
import { DEFAULT_CERTS } from '../model/cluster.ts';

export type FlagType = 'string' | 'boolean' | 'number' | 'list';

export interface FlagSpec {
  readonly type: FlagType;
  /** one line for --help */
  readonly help: string;
  readonly default?: string | number | boolean | readonly string[];
  /** the value's name in --help, e.g. FILE */
  readonly placeholder?: string;
  /** a one-letter short form, e.g. h for -h */
  readonly alias?: string;
  /** allowed values of a string flag */
  readonly choices?: readonly string[];
  /** bounds of a number flag (integers only) */
  readonly min?: number;
  readonly max?: number;
  /** shown in errors and --help */
  readonly example?: string;
  /** when neither the flag nor the cluster file gives it, the node file it is taken from (--help says so) */
  readonly fromNode?: string;
}

export type FlagsSpec = { readonly [name: string]: FlagSpec };

type ValueOf<F extends FlagSpec> = F['type'] extends 'boolean'
  ? boolean
  : F['type'] extends 'number'
    ? number
    : F['type'] extends 'list'
      ? string[]
      : string;

/** Booleans are always set (default false); others are undefined unless given or defaulted. */
export type FlagValues<S extends FlagsSpec> = {
  -readonly [K in keyof S]: S[K] extends { type: 'boolean' }
    ? boolean
    : S[K] extends { default: unknown }
      ? ValueOf<S[K]>
      : ValueOf<S[K]> | undefined;
};

export interface ParsedFlags<S extends FlagsSpec> {
  readonly values: FlagValues<S>;
  /** the flags given on the command line (not defaulted): they override the cluster file */
  readonly explicit: ReadonlySet<string>;
  readonly positionals: readonly string[];
  /** --version as a switch (or install's --version without a value): print the toolkit's version */
  readonly versionAsked: boolean;
}

/** Keeps the literal types of a spec so parseFlags can type its values. */
export function defineFlags<const S extends FlagsSpec>(spec: S): S {
  return spec;
}

// ---------------------------------------------------------------------------------------------
// the shared groups

export const commonFlags = defineFlags({
  root: {
    type: 'string',
    default: '/',
    placeholder: 'DIR',
    help: 'treat DIR as / for every host file (a lab host, a chroot)',
    example: '/tmp/lab/hdss7-21',
  },
  'dry-run': {
    type: 'boolean',
    help: 'print the commands as a shell script instead of running them (a second paste changes nothing)',
  },
  check: {
    type: 'boolean',
    help: 'say what would change, change nothing; exit 1 when something would (as ansible --check)',
  },
  diff: {
    type: 'boolean',
    help: "with --dry-run or --check: each file's change and each command's input, line by line",
  },
  json: { type: 'boolean', help: 'print the result as JSON on stdout' },
  cluster: {
    type: 'string',
    placeholder: 'FILE',
    help: 'the cluster file (JSON) that holds every value',
    example: '/etc/flannel-runbook/cluster.json',
  },
  node: {
    type: 'string',
    placeholder: 'NAME',
    help: "this host's node in the cluster file (default: the node whose publicIp is local)",
    example: 'hdss7-21',
  },
  ssh: {
    type: 'string',
    placeholder: '[USER@]HOST[:PORT]',
    help: "run the step on that node over ssh: its commands and files are the node's (one multiplexed connection, host keys checked)",
    example: 'root@10.4.7.21',
  },
  'ssh-config': {
    type: 'string',
    placeholder: 'FILE',
    help: 'the OpenSSH client config for --ssh (ssh -F: identity, known hosts, jump hosts, ports)',
    example: '~/.ssh/flannel-nodes.conf',
  },
  quiet: {
    type: 'boolean',
    alias: 'q',
    help: 'nothing on stdout unless something is wrong (the exit code says the rest); warnings and errors still on stderr',
  },
  help: { type: 'boolean', alias: 'h', help: 'show this help' },
  version: { type: 'boolean', help: "print the toolkit's version and exit" },
});

export const etcdFlags = defineFlags({
  endpoints: {
    type: 'list',
    placeholder: 'URLS',
    help: 'etcd client URLs, comma-separated',
    example: 'https://10.4.7.12:2379,https://10.4.7.21:2379',
    fromNode: 'flanneld.sh',
  },
  cafile: {
    type: 'string',
    default: DEFAULT_CERTS.cafile,
    placeholder: 'FILE',
    help: 'CA that signed the etcd server certificates',
    fromNode: 'flanneld.sh',
  },
  certfile: {
    type: 'string',
    default: DEFAULT_CERTS.certfile,
    placeholder: 'FILE',
    help: 'etcd client certificate',
    fromNode: 'flanneld.sh',
  },
  keyfile: {
    type: 'string',
    default: DEFAULT_CERTS.keyfile,
    placeholder: 'FILE',
    help: 'etcd client key, readable by root only',
    fromNode: 'flanneld.sh',
  },
  'etcd-prefix': {
    type: 'string',
    default: DEFAULT_ETCD_PREFIX,
    placeholder: 'KEY',
    help: 'etcd key prefix of the flannel network',
    fromNode: 'flanneld.sh',
  },
  'etcd-api': {
    type: 'string',
    default: 'auto',
    choices: ['v2', 'v3', 'auto'],
    placeholder: 'API',
    help: "etcd API; auto: v2 for flannel < v0.18.0, v3 after, by the cluster file's flannelVersion, else the installed release (/opt/flannel -> flannel-vX.Y.Z)",
  },
});

/** One REJECT policy for snat-fix, drift and doctor (the cluster file's "reject" sets it for all). */
export const rejectFlags = defineFlags({
  reject: {
    type: 'string',
    choices: ['drop', 'keep'],
    placeholder: 'POLICY',
    help: 'iptables-services\' catch-all REJECT rules in INPUT and FORWARD: drop (the runbook deletes them; the default) or keep; else the cluster file\'s "reject"',
    example: 'drop',
  },
});

/** drift --publish's results in etcd: drift writes them, fleet shows them, verify-ping reads the pods they name. */
export const statusFlags = defineFlags({
  'status-prefix': {
    type: 'string',
    default: DEFAULT_STATUS_PREFIX,
    placeholder: 'KEY',
    help: 'etcd prefix of the results drift --publish writes (one key per node)',
  },
});

export const nodeFlags = defineFlags({
  'public-ip': {
    type: 'string',
    placeholder: 'IP',
    help: "this node's address on the shared L2 network",
    example: '10.4.7.21',
    fromNode: 'flanneld.sh',
  },
  subnet: {
    type: 'string',
    placeholder: 'CIDR',
    help: "this node's flannel subnet: the lease 172.7.21.0/24 or its FLANNEL_SUBNET form 172.7.21.1/24",
    example: '172.7.21.0/24',
    fromNode: 'subnet.env',
  },
  iface: {
    type: 'string',
    placeholder: 'NAME',
    help: 'interface that carries the public IP',
    example: 'eth0',
    fromNode: 'flanneld.sh',
  },
  network: {
    type: 'string',
    placeholder: 'CIDR',
    help: 'the flannel (pod) network',
    example: '172.7.0.0/16',
    fromNode: 'subnet.env',
  },
  bridge: {
    type: 'string',
    default: 'docker0',
    placeholder: 'NAME',
    help: 'docker bridge whose bip is the node subnet',
  },
  'healthz-port': {
    type: 'number',
    default: 2401,
    min: 1,
    max: 65535,
    placeholder: 'PORT',
    help: 'flanneld healthz port',
    fromNode: 'flanneld.sh',
  },
});

// ---------------------------------------------------------------------------------------------
// parsing

function flagExample(name: string, f: FlagSpec): string {
  if (f.type === 'boolean') return `--${name}`;
  const v =
    f.example ??
    (f.choices ? f.choices[0] : undefined) ??
    (f.default !== undefined ? String(f.default) : (f.placeholder ?? 'VALUE'));
  return `--${name} ${v}`;
}

export interface ParseOptions {
  /** how many positional arguments the script takes (default 0) */
  readonly positionals?: number;
}

/**
 * Parses argv against a spec. Rejected, each as a UsageError: unknown flags, a flag given
 * twice, a string/number flag without a value, a bad number or choice, unexpected arguments.
 * Forms: `--name value`, `--name=value`, `--flag`, `--no-flag`, `-h`; `--` ends the flags.
 * A boolean followed by the word true/false takes it (as minimist does).
 */
/**
 * argv without the named flags (and their values): a fleet run hands each node the rest.
 * argv has been through parseFlags already, so every word is known.
 */
export function withoutFlags(argv: readonly string[], spec: FlagsSpec, names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const m = /^--(?:no-)?([^=]+)(=.*)?$/.exec(word);
    const name = m?.[1];
    if (!m || name === undefined || !names.includes(name)) {
      out.push(word);
      continue;
    }
    const f = spec[name];
    if (m[2] !== undefined) continue;
    if (f?.type === 'boolean') {
      if (/^(true|false)$/.test(argv[i + 1] ?? '')) i++;
    } else i++;
  }
  return out;
}

export function parseFlags<const S extends FlagsSpec>(
  argv: readonly string[],
  spec: S,
  opts: ParseOptions = {},
): ParsedFlags<S> {
  const byAlias = new Map<string, string>();
  for (const [name, f] of Object.entries(spec)) if (f.alias) byAlias.set(f.alias, name);

  // First pass: check every word and rewrite it as `--name=value` / `--name` / `--no-name`,
  // so minimist below has nothing left to guess (it would take `--public-ip --iface` as an
  // empty IP, and turn a repeated flag into an array).
  const canonical: string[] = [];
  const positionals: string[] = [];
  const explicit = new Set<string>();
  let versionAsked = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      if (eq >= 0) value = word.slice(eq + 1);
    } else {
      const short = word.slice(1);
      const long = byAlias.get(short);
      if (!long) throw new UsageError(`unknown flag ${word}; see --help`);
      name = long;
    }
    let negated = false;
    if (!(name in spec) && name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const f = spec[name];
    if (!f || !Object.hasOwn(spec, name)) {
      const near = nearestName(name, Object.keys(spec));
      throw new UsageError(`unknown flag --${name}; ${near ? `did you mean --${near}? ` : ''}see --help`);
    }
    if (explicit.has(name)) throw new UsageError(`--${name}: given twice; give it once, e.g. ${flagExample(name, f)}`);
    explicit.add(name);
    if (f.type === 'boolean') {
      if (negated && value !== undefined) throw new UsageError(`--no-${name}: takes no value, e.g. --no-${name}`);
      if (value === undefined && /^(true|false)$/.test(argv[i + 1] ?? '')) value = argv[++i];
      if (value !== undefined && value !== 'true' && value !== 'false') {
        throw invalid(`--${name}`, value, 'a switch is true or false', `--${name}`);
      }
      const on = negated ? false : value !== 'false';
      // --name=true, not --name: minimist would read a flag named no-wait as the negation of wait
      canonical.push(`--${name}=${on}`);
      continue;
    }
    if (value === undefined && name === 'version') {
      // install's --version TAG is the flannel release; --version alone is the toolkit's, as everywhere
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) {
        versionAsked = true;
        explicit.delete(name);
        continue;
      }
    }
    if (value === undefined) {
      const next = argv[i + 1];
      // `--timeout -5` is a value out of range, not a missing one
      const negative = f.type === 'number' && /^-\d/.test(next ?? '');
      if (next === undefined || (next.startsWith('-') && next !== '-' && !negative)) {
        throw new UsageError(`--${name}: needs a value, e.g. ${flagExample(name, f)}`);
      }
      value = next;
      i++;
    }
    canonical.push(`--${name}=${value}`);
  }

  const max = opts.positionals ?? 0;
  if (positionals.length > max) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[max])}${max === 0 ? ': this script takes only flags' : `: at most ${max}`}; see --help`,
    );
  }

  const names = Object.keys(spec);
  const raw = minimist(canonical, {
    string: names.filter((n) => spec[n]!.type !== 'boolean'),
    boolean: names.filter((n) => spec[n]!.type === 'boolean'),
  });

  const values: Record<string, unknown> = {};
  for (const name of names) {
    const f = spec[name]!;
    if (!explicit.has(name)) {
      values[name] =
        f.type === 'boolean' ? (f.default ?? false) : Array.isArray(f.default) ? [...f.default] : f.default;
      continue;
    }
    values[name] = convert(name, f, raw[name]);
  }
  if (spec.version?.type === 'boolean' && values.version === true) versionAsked = true;
  return { values: values as FlagValues<S>, explicit, positionals, versionAsked };
}

function convert(name: string, f: FlagSpec, v: unknown): unknown {
  const field = `--${name}`;
  if (f.type === 'boolean') return v === true;
  const text = String(v);
  if (f.type === 'number') {
    const lo = f.min ?? 0;
    const hi = f.max ?? Number.MAX_SAFE_INTEGER;
    // digits only: Number() would take "0x10", "1e3", " 12" and ""
    if (!/^\d{1,15}$/.test(text) || Number(text) < lo || Number(text) > hi) {
      throw invalid(field, text, `must be an integer ${lo}-${hi}`, f.example ?? String(f.default ?? lo));
    }
    return Number(text);
  }
  if (f.type === 'list') {
    const items = text.split(',').map((s) => s.trim());
    if (items.some((s) => s === ''))
      throw invalid(field, text, 'is a comma-separated list without empty items', f.example);
    return items;
  }
  if (text === '')
    throw invalid(
      field,
      text,
      'must not be empty',
      f.example ?? (f.default !== undefined ? String(f.default) : undefined),
    );
  if (f.choices && !f.choices.includes(text)) {
    throw invalid(field, text, `must be one of ${f.choices.join(', ')}`, f.choices[0]);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// --help

/** The text of --help: usage line, summary, one line per flag (with its default), an example. */
export function formatHelp(name: string, summary: string, spec: FlagsSpec, example: string): string {
  const rows = Object.entries(spec).map(([flag, f]) => {
    const short = f.alias ? `-${f.alias}, ` : '    ';
    const left = `${short}--${flag}${f.type === 'boolean' ? '' : ` ${f.placeholder ?? (f.type === 'number' ? 'N' : 'VALUE')}`}`;
    const extras: string[] = [];
    if (f.choices) extras.push(`one of ${f.choices.join(', ')}`);
    if (f.fromNode) extras.push(`default: from ${f.fromNode} when no flag or cluster file gives it`);
    if (f.default !== undefined && f.type !== 'boolean') {
      extras.push(
        `${f.fromNode ? 'else ' : 'default '}${Array.isArray(f.default) ? f.default.join(',') : String(f.default)}`,
      );
    }
    return [left, `${f.help}${extras.length ? ` (${extras.join('; ')})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    `usage: ${name} [flags]`,
    '',
    summary.trim(),
    '',
    'flags:',
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`),
    '',
    'example:',
    `  ${example}`,
    '',
  ].join('\n');
}
