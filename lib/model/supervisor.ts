// supervisord, the runbook's process manager:
//   parseSupervisorStatus  - reads `supervisorctl status` (which exits 0 even for BACKOFF, so
//                            the state word is the only trustworthy answer)
//   renderSupervisordConf  - a whole supervisord.conf for one node (lab hosts, README)
// Checked against Debian's supervisor 4.2.5 (see tests/unit/supervisor.test.ts).

import { invalid, OutputError, RuntimeError } from '../core/errors.ts';
import { rooted } from '../core/paths.ts';

/** supervisord's process states (supervisor/states.py). */
export const PROCESS_STATES = [
  'STOPPED',
  'STARTING',
  'RUNNING',
  'BACKOFF',
  'STOPPING',
  'EXITED',
  'FATAL',
  'UNKNOWN',
] as const;
export type ProcessState = (typeof PROCESS_STATES)[number];

export interface ProgramStatus {
  /** `name`, or `group:name` for grouped programs */
  readonly program: string;
  readonly state: ProcessState;
  readonly pid?: number;
  readonly uptimeSeconds?: number;
  /** the rest of the line: `pid 123, uptime 0:00:31`, `Exited too quickly (...)`, `Not started` */
  readonly detail: string;
}

/** States in which the program is up or on its way up. BACKOFF is not: it is crash-looping. */
export function isUp(state: ProcessState): boolean {
  return state === 'RUNNING' || state === 'STARTING';
}

/** States in which supervisord is (re)starting the program: its last run may have just died. */
export function isRestarting(state: ProcessState | undefined): boolean {
  return state === 'STARTING' || state === 'BACKOFF';
}

// Lines supervisorctl prints instead of a status table (supervisorctl.py: upcheck and main).
const DOWN = [
  { re: /^(\S+) no such file$/, why: 'supervisord is not running (its socket does not exist)' },
  { re: /^(\S+) refused connection$/, why: 'supervisord is not running (its socket refused the connection)' },
];

/** `1 day, 2:03:04` / `0:00:31` (Python's timedelta) -> seconds. */
function parseUptime(text: string): number | undefined {
  const m = /^(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1] ?? 0) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

/**
 * `supervisorctl status` output -> one entry per program. Throws RuntimeError when
 * supervisorctl could not reach supervisord (the output is then a single error line), and
 * UsageError for a line that is neither (e.g. the output of another command).
 * Lines `name: ERROR (no such process)` (asking for an unknown program) give state UNKNOWN.
 */
export function parseSupervisorStatus(stdout: string): ProgramStatus[] {
  const out: ProgramStatus[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trimEnd();
    if (line.trim() === '') continue;
    for (const d of DOWN) {
      const m = d.re.exec(line.trim());
      if (m)
        throw new RuntimeError(
          `supervisorctl status: ${d.why}: ${m[1]}; start it (supervisord -c CONF) or check [supervisorctl] serverurl`,
        );
    }
    if (/^(error|Error):|^Sorry, /.test(line)) {
      throw new RuntimeError(`supervisorctl status: ${line.trim()}`);
    }
    const missing = /^(\S+): ERROR \((no such process|no such group)\)$/.exec(line);
    if (missing) {
      out.push({ program: missing[1]!, state: 'UNKNOWN', detail: missing[2]! });
      continue;
    }
    // supervisorctl pads the name to at least 33 columns and the state to 10; names hold no
    // blanks, so blanks separate the three fields
    const m = /^(\S+)\s+([A-Z]+)(?:\s+(.*))?$/.exec(line);
    if (!m || !(PROCESS_STATES as readonly string[]).includes(m[2]!)) {
      throw new OutputError(
        `supervisorctl status: line ${JSON.stringify(line)}: expected "NAME STATE DETAIL", e.g. "flanneld-7-21   RUNNING   pid 123, uptime 0:00:31"`,
      );
    }
    const state = m[2] as ProcessState;
    const detail = (m[3] ?? '').trim();
    const run = /^pid (\d+), uptime (.+)$/.exec(detail);
    out.push({
      program: m[1]!,
      state,
      ...(run && { pid: Number(run[1]) }),
      ...(run && parseUptime(run[2]!) !== undefined && { uptimeSeconds: parseUptime(run[2]!)! }),
      detail,
    });
  }
  return out;
}

export interface SupervisordConfSettings {
  /** the node's filesystem root (--root): every path below is inside it; default / */
  readonly root?: string;
  /** program files to include; default /etc/supervisord.d/*.ini (the runbook's directory) */
  readonly includeGlob?: string;
  /** control socket; default /run/supervisor.sock */
  readonly socket?: string;
  /** default /run/supervisord.pid */
  readonly pidfile?: string;
  /** supervisord's own log; default /var/log/supervisor/supervisord.log */
  readonly logfile?: string;
}

// sun_path is 108 bytes with its NUL: a longer socket path fails only when supervisord binds
const MAX_SOCKET_PATH = 107;

function confPath(field: string, value: string, example: string): string {
  if (!value.startsWith('/')) throw invalid(field, value, 'must be an absolute path', example);
  // [include] files is split on blanks; control characters would end the line
  if (/[\s\u0000-\u001f;#]/.test(value)) {
    throw invalid(
      field,
      value,
      'must not contain blanks, control characters, ";" or "#" in a supervisord conf',
      example,
    );
  }
  return value.replaceAll('%', '%%');
}

/** The socket and the files of one supervisord, with the root applied (the paths callers use). */
export function supervisordPaths(s: SupervisordConfSettings = {}) {
  const root = s.root ?? '/';
  return {
    includeGlob: rooted(root, s.includeGlob ?? '/etc/supervisord.d/*.ini'),
    socket: rooted(root, s.socket ?? '/run/supervisor.sock'),
    pidfile: rooted(root, s.pidfile ?? '/run/supervisord.pid'),
    logfile: rooted(root, s.logfile ?? '/var/log/supervisor/supervisord.log'),
  };
}

/**
 * A supervisord.conf for one node. The [rpcinterface:supervisor] section is what lets
 * supervisorctl talk to it at all; [include] is where the runbook's flannel.ini goes.
 */
export function renderSupervisordConf(s: SupervisordConfSettings = {}): string {
  const p = supervisordPaths(s);
  if (!p.includeGlob.endsWith('.ini') && !p.includeGlob.endsWith('.conf')) {
    throw invalid('includeGlob', p.includeGlob, 'must name .ini or .conf files', '/etc/supervisord.d/*.ini');
  }
  if (Buffer.byteLength(p.socket) > MAX_SOCKET_PATH) {
    throw invalid(
      'socket',
      p.socket,
      `a unix socket path must be at most ${MAX_SOCKET_PATH} bytes; use a shorter root or socket`,
      '/run/supervisor.sock',
    );
  }
  const socket = confPath('socket', p.socket, '/run/supervisor.sock');
  const logfile = confPath('logfile', p.logfile, '/var/log/supervisor/supervisord.log');
  const childlogdir = logfile.slice(0, logfile.lastIndexOf('/')) || '/';
  return `${[
    '; supervisord for flanneld, rendered by flannel-runbook',
    '[unix_http_server]',
    `file=${socket}`,
    // root only: whoever can write the socket can run any command as root
    'chmod=0700',
    '',
    '[supervisord]',
    `pidfile=${confPath('pidfile', p.pidfile, '/run/supervisord.pid')}`,
    `logfile=${logfile}`,
    `childlogdir=${childlogdir}`,
    '',
    '[rpcinterface:supervisor]',
    'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
    '',
    '[supervisorctl]',
    `serverurl=unix://${socket}`,
    '',
    '[include]',
    `files = ${confPath('includeGlob', p.includeGlob, '/etc/supervisord.d/*.ini')}`,
  ].join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// status over supervisord's XML-RPC socket (what supervisorctl itself speaks), without
// starting a Python process: the drift check runs every minute on every node.

/**
 * The unix socket supervisorctl would use: `[supervisorctl] serverurl=unix://...`, else
 * `[unix_http_server] file=`. `%(here)s` is the conf's directory. undefined when the conf
 * uses an inet server or a username (then supervisorctl is asked instead).
 */
export function supervisorSocketOf(confText: string, confPath: string): string | undefined {
  const here = confPath.replace(/\/[^/]*$/, '') || '/';
  let section = '';
  const values: Record<string, Record<string, string>> = {};
  for (const raw of confText.split('\n')) {
    const line = raw.replace(/\s[;#].*$/, '').trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.trim();
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line);
    if (kv) {
      values[section] ??= {};
      values[section][kv[1]!.trim()] = kv[2]!.trim().replaceAll('%(here)s', here).replaceAll('%%', '%');
    }
  }
  const ctl = values.supervisorctl ?? {};
  if (ctl.username || values.unix_http_server?.username) return undefined;
  if (ctl.serverurl) return ctl.serverurl.startsWith('unix://') ? ctl.serverurl.slice('unix://'.length) : undefined;
  return values.unix_http_server?.file;
}

const xmlEscape = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);

export function processInfoRequest(program: string): string {
  return `<?xml version="1.0"?><methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value><string>${xmlEscape(program)}</string></value></param></params></methodCall>`;
}

/**
 * supervisor.getProcessInfo's answer -> ProgramStatus (undefined for BAD_NAME: not loaded).
 * Only the members we read are parsed: statename, pid, description, now - start.
 */
export function parseProcessInfoResponse(program: string, xml: string): ProgramStatus | undefined {
  const fault = /<name>faultString<\/name>\s*<value>(?:<string>)?([^<]*)/.exec(xml);
  if (/<fault>/.test(xml)) {
    if (/BAD_NAME/.test(fault?.[1] ?? '')) return undefined;
    throw new RuntimeError(`supervisord: getProcessInfo(${program}): ${fault?.[1] ?? 'fault'}`);
  }
  const member = (name: string) =>
    new RegExp(`<name>${name}</name>\\s*<value>\\s*(?:<(?:string|int|i4)>)?([^<]*)`).exec(xml)?.[1];
  const state = member('statename');
  if (!state || !(PROCESS_STATES as readonly string[]).includes(state))
    throw new RuntimeError(`supervisord: getProcessInfo(${program}): no statename in the answer`);
  const pid = Number(member('pid') ?? 0);
  const now = Number(member('now') ?? 0);
  const start = Number(member('start') ?? 0);
  const detail = (member('description') ?? '').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
  return {
    program,
    state: state as ProcessState,
    ...(pid > 0 && { pid }),
    ...(state === 'RUNNING' && now >= start && start > 0 && { uptimeSeconds: now - start }),
    detail,
  };
}

/** The one place a supervisorctl command line is built: `supervisorctl -c CONF VERB [PROGRAM]`. */
export function supervisorctlArgv(conf: string, verb: string, program?: string): string[] {
  return ['supervisorctl', '-c', conf, verb, ...(program === undefined ? [] : [program])];
}

/**
 * The [program:NAME] of an ini whose command runs `launcher` (the runbook's flannel.ini runs
 * /opt/flannel/flanneld.sh), undefined when none does. Only what start and the runbook write is
 * read: `[program:NAME]` headers and `command=` lines.
 */
export function programRunning(iniText: string, launcher: string): string | undefined {
  let program: string | undefined;
  for (const raw of iniText.split('\n')) {
    const line = raw.replace(/\s[;#].*$/, '').trim();
    const sec = /^\[program:([^\]]+)\]$/.exec(line);
    if (sec) {
      program = sec[1]!.trim();
      continue;
    }
    if (/^\[/.test(line)) program = undefined;
    const cmd = /^command\s*=\s*(.*)$/.exec(line);
    if (program && cmd) {
      const word = cmd[1]!
        .trim()
        .replace(/^['"]|['"]$/g, '')
        .split(/\s+/)[0];
      if (word === launcher) return program;
    }
  }
  return undefined;
}
