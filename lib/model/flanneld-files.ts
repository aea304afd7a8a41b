// The three files a node runs flanneld from, rendered from settings (pure: settings in, text out):
//   renderFlanneldSh     - /opt/flannel/flanneld.sh, the runbook's launcher (flag order kept)
//   renderSupervisorIni  - /etc/supervisord.d/flannel.ini, the runbook's [program:...] block
//   renderSystemdUnit    - flanneld.service, for hosts that run systemd instead of supervisord
// and the way back: parseFlanneldSh() reads the flags a launcher passes, so a drift check can
// compare them with flanneldFlags() through compareFlanneldFlags().
// For the runbook's inputs the first two are byte for byte the runbook's files
// (tests/fixtures/flanneld-files/*.golden).

import { posix } from 'node:path';
import { invalid, UsageError } from '../core/errors.ts';
import { Ip4 } from '../core/ip4.ts';
import { shellQuote } from '../core/command.ts';

import {
  absolutePath,
  checkEndpoint,
  checkEtcdPrefix,
  checkIfaceName,
  checkPort,
  checkProgramName,
  DEFAULT_ETCD_PREFIX,
  noControl,
  nonEmpty,
} from '../core/validate.ts';

export interface FlanneldSettings {
  readonly publicIp: Ip4 | string;
  readonly endpoints: readonly string[];
  /** TLS files as flanneld sees them (the runbook's are relative to /opt/flannel); omit for http */
  readonly keyfile?: string;
  readonly certfile?: string;
  readonly cafile?: string;
  readonly iface: string;
  readonly subnetFile: string;
  readonly healthzPort: number;
  /** written only when not the default /coreos.com/network */
  readonly etcdPrefix?: string;
  /** written only when true (flanneld's default is false) */
  readonly ipMasq?: boolean;
  /** more flanneld flags, e.g. ["--v=2"]; may not repeat a flag the settings already set */
  readonly extraArgs?: readonly string[];
  /** the binary, default ./flanneld (relative: the program's directory is /opt/flannel) */
  readonly flanneldBin?: string;
  /**
   * `exec ./flanneld`: the runbook's script has no exec, so supervisord's stop signal reaches
   * /bin/sh, not flanneld, and can leave flanneld running orphaned. Default false only to
   * reproduce the runbook; new installs should set it.
   */
  readonly exec?: boolean;
}

export interface ProgramSettings {
  /** supervisord program name, e.g. flanneld-7-21 (see programNameFor) */
  readonly program: string;
  /** absolute path of the launcher, e.g. /opt/flannel/flanneld.sh */
  readonly command: string;
  /** absolute working directory, e.g. /opt/flannel */
  readonly directory: string;
  /** absolute path of the log, e.g. /data/logs/flanneld/flanneld.stdout.log */
  readonly logFile: string;
  /** seconds a start must last to count (runbook: 30); the lab uses less */
  readonly startSecs?: number;
  /** runbook: root */
  readonly user?: string;
}

/** One flag as flanneld sees it: `--iface=eth0` -> { name: 'iface', value: 'eth0' }. */
export interface FlanneldFlag {
  readonly name: string;
  /** boolean flags are 'true' / 'false' */
  readonly value: string;
}

/** Boolean flags of flanneld v0.11.0 (and glog's): they never take the next word as value. */
const BOOL_FLAGS = new Set([
  'ip-masq',
  'help',
  'version',
  'kube-subnet-mgr',
  'iptables-forward-rules',
  'logtostderr',
  'alsologtostderr',
]);

/**
 * flanneld v0.11.0 defaults, so that an absent flag compares equal to its default
 * (`--etcd-prefix=/coreos.com/network` written out is not drift).
 */
export const FLANNELD_DEFAULTS: Readonly<Record<string, string>> = {
  'etcd-endpoints': 'http://127.0.0.1:4001,http://127.0.0.1:2379',
  'etcd-prefix': DEFAULT_ETCD_PREFIX,
  'subnet-file': '/run/flannel/subnet.env',
  'ip-masq': 'false',
  'iptables-forward-rules': 'true',
  'iptables-resync': '5',
  'subnet-lease-renew-margin': '60',
  'healthz-ip': '0.0.0.0',
  'healthz-port': '0',
  'kube-subnet-mgr': 'false',
};

// ---------------------------------------------------------------------------------------------
// flanneld.sh

/**
 * The flags flanneld gets, in the runbook's order: public-ip, etcd-endpoints, [etcd-prefix],
 * etcd-keyfile, etcd-certfile, etcd-cafile, iface, subnet-file, healthz-port, [ip-masq], extras.
 */
export function flanneldFlags(s: FlanneldSettings): FlanneldFlag[] {
  const publicIp = Ip4.parse(String(s.publicIp), 'publicIp').toString();
  if (!Array.isArray(s.endpoints) || s.endpoints.length === 0) {
    throw invalid('endpoints', s.endpoints ?? null, 'must list at least one etcd URL', 'https://10.4.7.12:2379');
  }
  const endpoints = s.endpoints.map((e, i) => checkEndpoint(`endpoints[${i}]`, e));
  if (new Set(endpoints).size !== endpoints.length) {
    throw invalid(
      'endpoints',
      endpoints.join(','),
      'lists the same URL twice',
      'https://10.4.7.12:2379,https://10.4.7.21:2379',
    );
  }
  if ((s.keyfile === undefined) !== (s.certfile === undefined)) {
    throw new UsageError(
      'keyfile/certfile: give both or neither (a client certificate needs its key), e.g. keyfile ./cert/client-key.pem with certfile ./cert/client.pem',
    );
  }
  const flags: FlanneldFlag[] = [
    { name: 'public-ip', value: publicIp },
    { name: 'etcd-endpoints', value: endpoints.join(',') },
  ];
  if (s.etcdPrefix !== undefined && checkEtcdPrefix('etcdPrefix', s.etcdPrefix) !== DEFAULT_ETCD_PREFIX) {
    flags.push({ name: 'etcd-prefix', value: s.etcdPrefix });
  }
  if (s.keyfile !== undefined)
    flags.push({ name: 'etcd-keyfile', value: nonEmpty('keyfile', s.keyfile, './cert/client-key.pem') });
  if (s.certfile !== undefined)
    flags.push({ name: 'etcd-certfile', value: nonEmpty('certfile', s.certfile, './cert/client.pem') });
  if (s.cafile !== undefined) flags.push({ name: 'etcd-cafile', value: nonEmpty('cafile', s.cafile, './cert/ca.pem') });
  flags.push({ name: 'iface', value: checkIfaceName('iface', s.iface) });
  flags.push({ name: 'subnet-file', value: nonEmpty('subnetFile', s.subnetFile, './subnet.env') });
  flags.push({ name: 'healthz-port', value: String(checkPort('healthzPort', s.healthzPort)) });
  if (s.ipMasq !== undefined && typeof s.ipMasq !== 'boolean') {
    throw invalid('ipMasq', s.ipMasq, 'must be true or false', 'true');
  }
  if (s.ipMasq) flags.push({ name: 'ip-masq', value: 'true' });

  const extra = parseFlagWords(
    (s.extraArgs ?? []).map((a, i) => {
      if (typeof a !== 'string') throw invalid(`extraArgs[${i}]`, a, 'must be a string', '--v=2');
      noControl(`extraArgs[${i}]`, a, '--v=2');
      return a;
    }),
  );
  if (extra.args.length > 0) {
    throw invalid('extraArgs', extra.args[0], 'must be flags (--name=value); flanneld takes no arguments', '--v=2');
  }
  const set = new Set(flags.map((f) => f.name));
  for (const f of extra.flags) {
    // 'iface' may repeat in flanneld (several candidate interfaces); the rest would silently
    // override what the settings say
    if (set.has(f.name) && f.name !== 'iface') {
      throw invalid(
        'extraArgs',
        `--${f.name}=${f.value}`,
        `--${f.name} is already set from the settings; change the setting instead`,
        '--v=2',
      );
    }
    flags.push(f);
  }
  return flags;
}

function flagWord(f: FlanneldFlag): string {
  if (BOOL_FLAGS.has(f.name) && f.value === 'true') return `--${f.name}`;
  return `--${f.name}=${shellQuote(f.value)}`;
}

/**
 * /opt/flannel/flanneld.sh. Values are shell-quoted only when they need it, so the runbook's
 * values come out unquoted, exactly as the runbook wrote them.
 */
export function renderFlanneldSh(s: FlanneldSettings): string {
  const bin = nonEmpty('flanneldBin', s.flanneldBin ?? './flanneld', './flanneld');
  const words = flanneldFlags(s).map(flagWord);
  const head = `${s.exec ? 'exec ' : ''}${shellQuote(bin)}`;
  return `${['#!/bin/sh', [head, ...words.map((w) => `  ${w}`)].join(' \\\n')].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// supervisord ini

/** supervisord expands %(name)s in values: a literal % is written %%. */
function iniValue(field: string, value: string, example: string): string {
  noControl(field, value, example);
  // configparser strips surrounding blanks and treats " ;" / " #" as the start of a comment
  if (value !== value.trim() || /\s[;#]/.test(value)) {
    throw invalid(field, value, 'must not start or end with blanks nor contain " ;" or " #" (ini comment)', example);
  }
  return value.replaceAll('%', '%%');
}

function programFields(s: ProgramSettings) {
  const program = checkProgramName('program', s.program);
  const command = absolutePath('command', s.command, '/opt/flannel/flanneld.sh');
  const directory = absolutePath('directory', s.directory, '/opt/flannel');
  const logFile = absolutePath('logFile', s.logFile, '/data/logs/flanneld/flanneld.stdout.log');
  const startSecs = s.startSecs ?? 30;
  if (!Number.isInteger(startSecs) || startSecs < 0 || startSecs > 3600) {
    throw invalid('startSecs', startSecs, 'must be an integer 0-3600', '30');
  }
  const user = s.user ?? 'root';
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw invalid('user', user, 'must be a user name', 'root');
  return { program, command, directory, logFile, startSecs, user };
}

/**
 * /etc/supervisord.d/flannel.ini. Every line but the five values is the runbook's: why each
 * setting is what it is belongs to the runbook; the toolkit's job is to fill in the node.
 */
export function renderSupervisorIni(s: ProgramSettings): string {
  const f = programFields(s);
  // supervisord splits `command` like a shell (shlex), so a path with blanks needs quotes
  const command = iniValue('command', shellQuote(f.command), '/opt/flannel/flanneld.sh');
  return `${[
    `[program:${f.program}]`,
    `command=${command}`,
    'numprocs=1',
    `directory=${iniValue('directory', f.directory, '/opt/flannel')}`,
    'autostart=true',
    'autorestart=true',
    `startsecs=${f.startSecs}`,
    'startretries=3',
    // flanneld exits 2 on SIGQUIT (Go's goroutine dump), which is how supervisord stops it
    'exitcodes=0,2',
    'stopsignal=QUIT',
    'stopwaitsecs=10',
    `user=${f.user}`,
    'redirect_stderr=true',
    `stdout_logfile=${iniValue('logFile', f.logFile, '/data/logs/flanneld/flanneld.stdout.log')}`,
    'stdout_logfile_maxbytes=64MB',
    'stdout_logfile_backups=4',
    'stdout_capture_maxbytes=1MB',
    'stdout_events_enabled=false',
  ].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// systemd unit

function systemdPath(field: string, value: string, example: string): string {
  // systemd splits ExecStart on blanks and expands $VAR and %x: keep paths to plain words
  if (/[\s"'\\$;]/.test(value)) {
    throw invalid(field, value, 'must not contain blanks, quotes, "\\", "$" or ";" in a systemd unit', example);
  }
  return value.replaceAll('%', '%%');
}

/**
 * flanneld.service, the alternative to supervisord on systemd hosts. It starts the same
 * flanneld.sh, so both ways run the very same flags. The log goes to the same file
 * (`append:` needs systemd >= 240) so the doctor reads one place either way.
 */
export function renderSystemdUnit(s: ProgramSettings): string {
  const f = programFields(s);
  return `${[
    '[Unit]',
    `Description=flannel overlay network agent (${f.program})`,
    'Documentation=https://github.com/flannel-io/flannel',
    // flanneld needs the public interface up and etcd reachable; etcd.service is only an
    // ordering hint (harmless when etcd runs elsewhere)
    'Wants=network-online.target',
    'After=network-online.target etcd.service',
    '',
    '[Service]',
    'Type=simple',
    `User=${f.user}`,
    `WorkingDirectory=${systemdPath('directory', f.directory, '/opt/flannel')}`,
    `ExecStart=${systemdPath('command', f.command, '/opt/flannel/flanneld.sh')}`,
    'Restart=on-failure',
    'RestartSec=5',
    // the runbook's exitcodes=0,2: exit 2 is flanneld stopping on a signal, not a failure
    'SuccessExitStatus=2',
    `StandardOutput=append:${systemdPath('logFile', f.logFile, '/data/logs/flanneld/flanneld.stdout.log')}`,
    'StandardError=inherit',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// program names

/**
 * The supervisord program for a node. The runbook names hosts `<site letters><digits>-<digits>`
 * (hdss7-21) and its program `flanneld-7-21`: for names of exactly that shape the leading
 * letters are dropped. Any other name is kept whole (`node-a` -> `flanneld-node-a`,
 * `k8s-node1` -> `flanneld-k8s-node1`), so distinct names always give distinct programs
 * within one naming scheme. Only the first DNS label counts (hdss7-21.host.com -> 7-21).
 */
export function programNameFor(nodeName: string): string {
  const label = nonEmpty('node name', nodeName, 'hdss7-21').split('.')[0]!;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,54}$/.test(label)) {
    throw invalid(
      'node name',
      nodeName,
      'must start with a letter or digit and hold only A-Z a-z 0-9 _ - (and dots)',
      'hdss7-21',
    );
  }
  const m = /^[A-Za-z]+(\d+(?:-\d+)+)$/.exec(label);
  return `flanneld-${m ? m[1] : label}`;
}

// ---------------------------------------------------------------------------------------------
// parsing a flanneld.sh back

export interface ParsedLauncher {
  /** the binary word, e.g. ./flanneld */
  readonly command: string;
  /** whether the script execs flanneld (replaces the shell) */
  readonly exec: boolean;
  readonly flags: FlanneldFlag[];
  /** words after the flags (Go's flag package stops at the first non-flag) */
  readonly args: string[];
}

/**
 * Splits shell text into simple commands of words: quotes, backslash escapes, line
 * continuations and comments as sh reads them. Expansions ($X, $(...)) are kept as text:
 * a launcher that uses them cannot be compared statically anyway.
 */
function shellCommands(text: string): string[][] {
  const cmds: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCmd = () => {
    endWord();
    if (words.length) cmds.push(words);
    words = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const n = text[i + 1];
      i++;
      if (n === '\n' || n === undefined) continue;
      word += n;
      inWord = true;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`flanneld.sh: unterminated single quote at offset ${i}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= text.length) throw new UsageError('flanneld.sh: unterminated double quote');
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\' && '$`"\\\n'.includes(text[i + 1] ?? '')) {
          if (text[i + 1] !== '\n') word += text[i + 1];
          i++;
        } else word += d;
      }
    } else if (c === '#' && !inWord) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '\n' || c === ';' || c === '&' || c === '|') {
      endCmd();
    } else if (c === ' ' || c === '\t' || c === '\r') {
      endWord();
    } else {
      word += c;
      inWord = true;
    }
  }
  endCmd();
  return cmds;
}

/** Go's flag package over words: -x / --x, -x=v, -x v (not for booleans), `--` ends flags. */
function parseFlagWords(words: readonly string[]): { flags: FlanneldFlag[]; args: string[] } {
  const flags: FlanneldFlag[] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break;
    const body = w.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === '' || name.startsWith('-')) throw invalid('flag', w, 'is not a flag', '--iface=eth0');
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (BOOL_FLAGS.has(name)) value = 'true';
    else if (i + 1 < words.length && !words[i + 1]!.startsWith('-')) value = words[++i]!;
    else value = 'true';
    if (BOOL_FLAGS.has(name)) {
      // Go's strconv.ParseBool spellings
      if (/^(1|t|T|TRUE|true|True)$/.test(value)) value = 'true';
      else if (/^(0|f|F|FALSE|false|False)$/.test(value)) value = 'false';
    }
    flags.push({ name, value });
  }
  return { flags, args: words.slice(i) };
}

/** The flags a flanneld.sh passes: the first command that runs a binary named flanneld. */
export function parseFlanneldSh(text: string): ParsedLauncher {
  for (const cmd of shellCommands(text)) {
    let i = 0;
    let exec = false;
    // leading VAR=value assignments and `exec` come before the binary
    while (i < cmd.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(cmd[i]!)) i++;
    if (cmd[i] === 'exec') {
      exec = true;
      i++;
    }
    const bin = cmd[i];
    if (bin === undefined || posix.basename(bin) !== 'flanneld') continue;
    const { flags, args } = parseFlagWords(cmd.slice(i + 1));
    return { command: bin, exec, flags, args };
  }
  throw new UsageError(
    'flanneld.sh: no command runs flanneld (expected a line like "./flanneld --public-ip=10.4.7.21 ..."), e.g. the output of renderFlanneldSh',
  );
}

export interface FlagDifference {
  readonly name: string;
  /** undefined: should not be there */
  readonly expected?: string;
  /** undefined: missing */
  readonly actual?: string;
}

function flagTable(flags: readonly FlanneldFlag[]): Map<string, string> {
  const t = new Map<string, string>();
  for (const f of flags) {
    // a repeated flag (iface) is an ordered list; the last one wins for the others, as in Go
    t.set(f.name, f.name === 'iface' && t.has(f.name) ? `${t.get(f.name)},${f.value}` : f.value);
  }
  return t;
}

/**
 * What differs between the flags we would write and the flags a launcher passes, ignoring
 * order, and taking an absent flag as flanneld's default (see FLANNELD_DEFAULTS).
 */
export function compareFlanneldFlags(
  expected: readonly FlanneldFlag[],
  actual: readonly FlanneldFlag[],
): FlagDifference[] {
  const e = flagTable(expected);
  const a = flagTable(actual);
  const names = [...new Set([...e.keys(), ...a.keys()])];
  const out: FlagDifference[] = [];
  for (const name of names) {
    const ev = e.get(name) ?? FLANNELD_DEFAULTS[name];
    const av = a.get(name) ?? FLANNELD_DEFAULTS[name];
    if (ev !== av)
      out.push({ name, ...(ev !== undefined && { expected: ev }), ...(av !== undefined && { actual: av }) });
  }
  return out;
}
