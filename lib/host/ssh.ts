// SshHost: the Host on a remote node (host/host.ts), through OpenSSH, for nodes that cannot
// run the toolkit (CentOS 7: glibc 2.17, no Node 20). The node needs sshd and the tools the
// runbook already uses; everything else stays on the control host.
//   - One connection per node per run: a ControlMaster whose socket lives in a private (0700,
//     mkdtemp) directory of this process, so no other user can ride it. Opened on first use
//     (`ssh -f -N`), closed by close() (`ssh -O exit`) or, if the process ends without it, on
//     exit; ControlPersist (30 s) ends a master whose process was killed.
//   - Never a prompt (BatchMode=yes); host keys always checked: StrictHostKeyChecking=yes
//     unless the ssh config (`ssh -F FILE`, else the user's) says otherwise, as `ssh -G`
//     reports it. ConnectTimeout 5 s unless the config sets one: an unreachable node is a
//     RuntimeError naming it and ssh's own last line (`Host key verification failed.`).
//   - A command runs on the node as argv, every word quoted for the remote shell, its stdin
//     passed through. It runs under `timeout -s KILL` on the node, with the local timeout:
//     killing the local ssh (its process group, as LocalHost does) ends only its channel, and
//     sshd leaves a command that reads nothing running. A marker after the command's stderr
//     tells its exit status from ssh's own 255 (iproute2 4.11 exits 255 too).
//   - At most 8 sessions at once over the master: sshd's MaxSessions is 10 by default, and a
//     held lock keeps one.
//   - Files: small POSIX sh scripts (REMOTE below) on the node, written for CentOS 7's
//     coreutils 8.22 and bash 4.2: `stat -c` / `stat -L -c` with %f %s %u, `tail -c`,
//     `find -printf`, `mktemp`, `dd oflag=nofollow conv=nocreat,fsync status=none` (8.20+),
//     `mv -f -T`. writeFile sends the bytes over ssh's stdin into an exclusive temp file
//     (mktemp: O_EXCL, unpredictable) in the target's directory, chmod'ed to the final mode
//     before a byte is written, fsync'ed by dd, its size compared, then renamed over the
//     target; on any error the temp file goes and the old file stays. The directory itself is
//     not fsync'ed (coreutils 8.22 has no `sync FILE`): the rename is as durable as the
//     filesystem's journal makes it. copyFile copies on the node: a key never crosses the wire.
//   - lock(): flock(1) on the node, held by a session that lasts until release() (or until this
//     process dies and its ssh with it): a run from the control host and a cron run on the node
//     exclude each other. One control host alone would not need it.
//   - localRequest() for a unix socket (supervisord's): the HTTP request sent through the
//     node's own python (python3, python or python2, `-S`: supervisord is a python program, so
//     one is there), about 20 ms where supervisorctl's start is 200+. No python, or a TCP port
//     (healthz): an ENOTSUP error, and the callers use supervisorctl and curl on the node.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Command, type Result, shellLine } from '../core/command.ts';
import { CommandError, commandName, invalid, RuntimeError, TimeoutError } from '../core/errors.ts';
import { checkSshDestination, formatSshDestination, type SshDestination } from '../core/validate.ts';
import {
  timeoutOf,
  writeCommandOutput,
  type Change,
  type FileInfo,
  type Host,
  type LocalRequest,
  type TempDir,
} from './host.ts';
import { spawnExec } from './local.ts';
import type { Lock } from './lock.ts';
import { traceChange } from './trace.ts';

export { checkSshDestination, formatSshDestination, type SshDestination };

export const DEFAULT_CONNECT_TIMEOUT_SEC = 5;
/** How long a master outlives its last client: long enough between a run's commands, short after a crash. */
export const CONTROL_PERSIST_SEC = 30;
/** Sessions at once over one master (sshd's MaxSessions default is 10; a held lock keeps one). */
export const MAX_SESSIONS = 8;
/** Printed after the remote command's stderr with its status: ssh's own failures have none. */
export const EXIT_MARK = '__frb_exit__';
/** Every status is an answer to spawnExec: SshHost settles them itself. */
const ANY_STATUS = Array.from({ length: 256 }, (_, i) => i);

/**
 * The node-side scripts, each run as `sh -c SCRIPT sh ARGS...` (arguments never spliced into
 * the script). Exit 10: not there; 11: too large; 12: a directory; 14: no such source file.
 */
export const REMOTE = {
  /** $1 timeout in seconds, then the argv; sbin on the PATH (an ssh session's PATH may lack it) */
  run: `t=$1; shift; PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH; timeout -s KILL "$t" "$@"; s=$?; printf '\\n${EXIT_MARK} %d\\n' "$s" >&2; exit "$s"`,
  /** $1 file, $2 the largest size allowed (empty: any) */
  readFile: [
    'f=$1 max=$2',
    '[ -e "$f" ] || exit 10',
    'if [ -n "$max" ]; then',
    '  s=$(stat -L -c %s -- "$f") || exit 1',
    '  if [ "$s" -gt "$max" ]; then echo "$s"; exit 11; fi',
    'fi',
    'exec cat -- "$f"',
  ].join('\n'),
  /** $1 file, $2 bytes: its size on the first line, then its last bytes */
  readTail: [
    'f=$1 n=$2',
    '[ -e "$f" ] || exit 10',
    's=$(stat -L -c %s -- "$f") || exit 1',
    'echo "$s"',
    'exec tail -c "$n" -- "$f"',
  ].join('\n'),
  /** $1 directory: NUL-terminated names */
  listDir: ['[ -d "$1" ] || exit 10', `exec find -H "$1" -mindepth 1 -maxdepth 1 -printf '%f\\0'`].join('\n'),
  /** $1 target, $2 octal mode, $3 source file or - for stdin, $4 the size stdin brings */
  write: [
    'p=$1 mode=$2 src=$3 size=$4',
    'd=$(dirname -- "$p") && b=$(basename -- "$p") || exit 1',
    'if [ -d "$p" ] && [ ! -L "$p" ]; then echo "$p: is a directory" >&2; exit 12; fi',
    'if [ -e "$p" ] || [ -L "$p" ]; then echo existed; fi',
    'if [ "$src" != - ]; then',
    '  [ -f "$src" ] || { echo "$src: no such file" >&2; exit 14; }',
    '  size=$(stat -L -c %s -- "$src") || exit 1',
    'fi',
    'mkdir -p -- "$d" || exit 1',
    // what a killed run left beside this file (regular files only, never followed)
    'for f in "$d/.$b.frb-tmp-"*; do',
    '  if [ -f "$f" ] && [ ! -L "$f" ]; then rm -f -- "$f"; fi',
    'done',
    't=$(mktemp -- "$d/.$b.frb-tmp-XXXXXXXXXXXXXXXX") || exit 1',
    `trap 'rm -f -- "$t"' EXIT`,
    "trap 'exit 129' HUP INT TERM PIPE",
    'chmod "$mode" -- "$t" || exit 1',
    'if [ "$src" = - ]; then',
    '  dd of="$t" bs=65536 oflag=nofollow conv=nocreat,fsync status=none || exit 1',
    'else',
    '  dd if="$src" of="$t" bs=65536 oflag=nofollow conv=nocreat,fsync status=none || exit 1',
    'fi',
    'n=$(stat -c %s -- "$t") || exit 1',
    'if [ "$n" != "$size" ]; then echo "wrote $n of $size bytes" >&2; exit 1; fi',
    'mv -f -T -- "$t" "$p" || exit 1',
    'trap - EXIT',
  ].join('\n'),
  /** $1 target, $2 link: a new link under an unpredictable name, renamed over the old one */
  symlink: [
    'target=$1 p=$2',
    'd=$(dirname -- "$p") && b=$(basename -- "$p") || exit 1',
    't=$(mktemp -u -- "$d/.$b.frb-link-XXXXXXXXXXXX") || exit 1',
    // ln -s without -f fails on anything already there: a planted name is never followed
    'ln -s -- "$target" "$t" || exit 1',
    'mv -f -T -- "$t" "$p" || { rm -f -- "$t"; exit 1; }',
  ].join('\n'),
  /** $1 parent, $2 prefix */
  makeTempDir: ['mkdir -p -- "$1" || exit 1', 'exec mktemp -d -- "$1/$2XXXXXX"'].join('\n'),
  /** $1 lock file: `locked N` (N overlaps so far) then held until stdin ends, or `busy` */
  lock: [
    'p=$1',
    'mkdir -p -- "$(dirname -- "$p")" || exit 1',
    'if [ -L "$p" ]; then echo "$p is a symbolic link" >&2; exit 1; fi',
    'exec 9>>"$p" || exit 1',
    'if flock -n 9; then',
    '  n=0',
    '  if [ -f "$p.overlaps" ]; then n=$(grep -c . -- "$p.overlaps"); fi',
    '  echo "locked $n"',
    '  exec cat >/dev/null',
    'fi',
    'date -u +%Y-%m-%dT%H:%M:%SZ >>"$p.overlaps"',
    'echo busy',
  ].join('\n'),
} as const;

/** One shell line for the remote shell: `sh -c SCRIPT sh ARGS...`, every word quoted. */
export function remoteScript(script: string, args: readonly string[]): string[] {
  return ['sh', '-c', script, 'sh', ...args];
}

/** The line ssh sends for a command: argv under `timeout -s KILL`, its status marked on stderr. */
export function remoteLine(argv: readonly string[], timeoutSec: number): string {
  return shellLine(remoteScript(REMOTE.run, [String(timeoutSec), ...argv]));
}

/** The remote status the marker carries, and the command's own stderr; no marker: ssh failed. */
export function splitExit(stderr: string): { status?: number; stderr: string } {
  const m = new RegExp(`\\n${EXIT_MARK} (\\d+)\\n$`).exec(stderr);
  if (!m) return { stderr };
  return { status: Number(m[1]), stderr: stderr.slice(0, m.index) };
}

/** ssh's last line, the one that says why (`Host key verification failed.`). */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.replace(/\r$/, '').trim())
      .find(Boolean) ?? ''
  );
}

/** `ssh -G`'s dump: lowercase keys, the first value line of each. */
export function parseSshConfigDump(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf(' ');
    if (i <= 0) continue;
    const key = line.slice(0, i).toLowerCase();
    if (!m.has(key)) m.set(key, line.slice(i + 1).trim());
  }
  return m;
}

/** Everything an ssh command line of one Host is made of. */
export interface SshInvocation {
  /** how ssh is started: ['ssh'], or a prefix such as the lab's `ip netns exec NS ssh` */
  readonly ssh: readonly string[];
  readonly configFile?: string;
  readonly destination: SshDestination;
  readonly controlPath: string;
  /** `ssh -G`'s answer for this destination */
  readonly effective: ReadonlyMap<string, string>;
  readonly connectTimeoutSec: number;
  readonly persistSec: number;
}

/** The options every connection of a Host carries; what the ssh config sets itself is left to it. */
export function sshOptions(inv: SshInvocation): string[] {
  const o = (kv: string) => ['-o', kv];
  const said = (key: string, unset: string) => (inv.effective.get(key) ?? unset) !== unset;
  const strict = inv.effective.get('stricthostkeychecking') ?? 'ask';
  const d = inv.destination;
  return [
    ...(inv.configFile !== undefined ? ['-F', inv.configFile] : []),
    ...o('BatchMode=yes'),
    // "ask" is what ssh says when nothing set it: make it "yes" (under BatchMode "ask" refuses
    // an unknown key too, but a config that says "accept-new" or "no" is the user's choice)
    ...(strict === 'ask' ? o('StrictHostKeyChecking=yes') : []),
    ...(said('connecttimeout', 'none') ? [] : o(`ConnectTimeout=${inv.connectTimeoutSec}`)),
    ...(said('serveraliveinterval', '0') ? [] : [...o('ServerAliveInterval=5'), ...o('ServerAliveCountMax=3')]),
    ...o(`ControlPath=${inv.controlPath}`),
    ...o(`ControlPersist=${inv.persistSec}`),
    ...(d.user !== undefined ? ['-l', d.user] : []),
    ...(d.port !== undefined ? ['-p', String(d.port)] : []),
  ];
}

/** `ssh -G`: what the config makes of this destination (no connection). */
export function configDumpArgv(o: Pick<SshInvocation, 'ssh' | 'configFile' | 'destination'>): string[] {
  const d = o.destination;
  return [
    ...o.ssh,
    ...(o.configFile !== undefined ? ['-F', o.configFile] : []),
    ...(d.user !== undefined ? ['-l', d.user] : []),
    ...(d.port !== undefined ? ['-p', String(d.port)] : []),
    '-T',
    '-G',
    '--',
    d.host,
  ];
}

/** The master: authenticates, backgrounds itself (-f) and serves the control socket. */
export function masterArgv(inv: SshInvocation): string[] {
  return [...inv.ssh, ...sshOptions(inv), '-o', 'ControlMaster=yes', '-N', '-f', '-T', '--', inv.destination.host];
}

/** One session over the master (or, if it died, a connection of its own that becomes the master). */
export function sessionArgv(inv: SshInvocation, line: string): string[] {
  return [...inv.ssh, ...sshOptions(inv), '-o', 'ControlMaster=auto', '-T', '--', inv.destination.host, line];
}

/** `ssh -O exit`: the master ends. */
export function exitArgv(inv: SshInvocation): string[] {
  return [...inv.ssh, ...sshOptions(inv), '-O', 'exit', '--', inv.destination.host];
}

export interface SshHostOptions {
  /** `[USER@]HOST[:PORT]`, or already checked */
  readonly destination: string | SshDestination;
  /** an OpenSSH client config (`ssh -F`): identities, known hosts, jump hosts, ports */
  readonly configFile?: string;
  /** the cluster file's name for the node, for messages */
  readonly node?: string;
  /** ConnectTimeout when the config sets none (default 5) */
  readonly connectTimeoutSec?: number;
  /** ControlPersist (default 30) */
  readonly persistSec?: number;
  /** how ssh is started (default ['ssh']) */
  readonly ssh?: readonly string[];
}

/** Sessions at once over one master. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async use<T>(f: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await f();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** Hosts with a master up: ended when the process exits without close(). */
const open = new Set<SshHost>();
let exitHook = false;
function onExit(): void {
  for (const h of open) h.closeNow();
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

function fileInfo(out: string): FileInfo | undefined {
  const [mode, size, uid] = out.trim().split(' ');
  const m = Number.parseInt(mode ?? '', 16);
  if (!Number.isFinite(m)) return undefined;
  const fmt = m & 0o170000;
  const type = fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'dir' : fmt === 0o120000 ? 'symlink' : 'other';
  return { type, mode: m & 0o7777, size: Number(size), uid: Number(uid) };
}

// ---------------------------------------------------------------------------------------------
// reads and stats made in the same turn go to the node as ONE request (drift reads a dozen files
// at once: one round trip instead of a dozen)

/**
 * Triples `KIND PATH MAX` (R: read, at most MAX bytes when MAX is not empty; S: stat; L:
 * lstat). One line each, in order: `R 0 <base64>`, `R 10` missing, `R 11 SIZE` too large,
 * `R 1 <base64 of the error>`; `S 0 MODE SIZE UID` or `S 1` (and L alike).
 */
export const BATCH_SCRIPT = [
  // no temp files: base64 -w0 reads the file itself (coreutils 8.22 has -w); two processes a file
  'while [ $# -ge 3 ]; do',
  '  k=$1 f=$2 max=$3; shift 3',
  '  case $k in',
  '  S) if s=$(stat -L -c "%f %s %u" -- "$f" 2>/dev/null); then echo "S 0 $s"; else echo "S 1"; fi ;;',
  '  L) if s=$(stat -c "%f %s %u" -- "$f" 2>/dev/null); then echo "L 0 $s"; else echo "L 1"; fi ;;',
  '  R)',
  '    if [ ! -e "$f" ]; then echo "R 10"; continue; fi',
  '    if [ -n "$max" ]; then',
  '      if ! s=$(stat -L -c %s -- "$f" 2>/dev/null); then echo "R 1 $(echo "cannot stat it" | base64 -w0)"; continue; fi',
  '      if [ "$s" -gt "$max" ]; then echo "R 11 $s"; continue; fi',
  '    fi',
  '    if b=$(base64 -w0 2>/dev/null <"$f"); then echo "R 0 $b"',
  '    elif [ -d "$f" ]; then echo "R 1 $(echo "Is a directory" | base64 -w0)"',
  '    else echo "R 1 $(echo "Permission denied, or an I/O error" | base64 -w0)"; fi ;;',
  '  *) exit 2 ;;',
  '  esac',
  'done',
].join('\n');

/** Reads that may be larger than this are not batched (their base64 sits in a shell variable); drift reads at most 4 MiB. */
export const BATCH_MAX_READ = 4 << 20;

interface BatchItem {
  readonly kind: 'R' | 'S' | 'L';
  readonly path: string;
  readonly max: string;
  readonly resolve: (fields: string[]) => void;
  readonly reject: (e: Error) => void;
}

// ---------------------------------------------------------------------------------------------
// the worker: one long session per slot that runs the commands sent to it, one after another

/**
 * The node side of a worker session. Each request is one line, `R ID TIMEOUT ARGV INPUT`: the
 * argv as a shell-quoted line (shellLine) and the stdin, each base64 ('-': none), so a request
 * is never split or spliced. The reply is `@frb ID STATUS OUTBYTES ERRBYTES` and the bytes.
 * The command runs under `timeout -s KILL` as a session's would; its files live in a mktemp -d
 * directory that goes with the worker.
 */
export const WORKER_SCRIPT = [
  'd=$(mktemp -d) || exit 1',
  'trap \'rm -rf "$d"\' EXIT',
  'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH',
  'set -f',
  "while IFS=' ' read -r tag id t cmd inb; do",
  '  [ "$tag" = R ] || exit 2',
  '  line=$(printf %s "$cmd" | base64 -d) || exit 3',
  '  eval "set -- $line"',
  '  if [ "$inb" = - ]; then : >"$d/i"; else printf %s "$inb" | base64 -d >"$d/i" || exit 3; fi',
  '  timeout -s KILL "$t" "$@" <"$d/i" >"$d/o" 2>"$d/e"; s=$?',
  '  printf \'@frb %s %s %s %s\\n\' "$id" "$s" $(($(wc -c <"$d/o"))) $(($(wc -c <"$d/e")))',
  '  cat "$d/o" "$d/e"',
  'done',
].join('\n');

/** Requests larger than this go through a session of their own (a shell reads a line byte by byte). */
export const WORKER_MAX_INPUT = 64 * 1024;
/** Workers per node: sessions that stay open for the run (within MAX_SESSIONS). */
export const WORKERS = 6;

/** One request's line. */
export function workerRequest(
  id: number,
  timeoutSec: number,
  argv: readonly string[],
  input?: string | Uint8Array,
): string {
  const b64 = (b: Buffer) => (b.length ? b.toString('base64') : '-');
  const stdin = input === undefined ? Buffer.alloc(0) : Buffer.from(input);
  return `R ${id} ${timeoutSec} ${Buffer.from(shellLine(argv)).toString('base64')} ${b64(stdin)}\n`;
}

/** A worker session: requests in order, replies parsed from its stdout. */
class Worker {
  private readonly child: ReturnType<typeof spawn>;
  private buf = Buffer.alloc(0);
  private err = '';
  private next = 1;
  private pending?: { id: number; resolve: (r: Result) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  dead = false;
  busy = false;

  constructor(
    argv: readonly string[],
    private readonly label: string,
  ) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdin!.on('error', () => {});
    this.child.stdout!.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.settle();
    });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.err = (this.err + c.toString()).slice(-4096);
    });
    const gone = () => {
      this.dead = true;
      const p = this.pending;
      this.pending = undefined;
      if (p) {
        clearTimeout(p.timer);
        p.reject(
          Object.assign(
            new RuntimeError(`${this.label}: the ssh session ended: ${lastLine(this.err) || 'no reason given'}`),
            { sessionEnded: true },
          ),
        );
      }
    };
    this.child.on('error', gone);
    this.child.on('close', gone);
  }

  private settle(): void {
    const p = this.pending;
    if (!p) return;
    const nl = this.buf.indexOf(10);
    if (nl < 0) return;
    const head = /^@frb (\d+) (\d+) (\d+) (\d+)$/.exec(this.buf.subarray(0, nl).toString());
    if (!head || Number(head[1]) !== p.id) {
      this.kill();
      return;
    }
    const [outLen, errLen] = [Number(head[3]), Number(head[4])];
    if (this.buf.length < nl + 1 + outLen + errLen) return;
    const out = this.buf.subarray(nl + 1, nl + 1 + outLen).toString('utf8');
    const err = this.buf.subarray(nl + 1 + outLen, nl + 1 + outLen + errLen).toString('utf8');
    this.buf = this.buf.subarray(nl + 1 + outLen + errLen);
    this.pending = undefined;
    clearTimeout(p.timer);
    p.resolve({ stdout: out, stderr: err, status: Number(head[2]) });
  }

  /**
   * Run argv. The node kills it at the timeout (`timeout -s KILL`, 137), which is a TimeoutError
   * here; a reply that has not come a second after that ends the whole worker (its session).
   */
  run(argv: readonly string[], timeoutMs: number, input?: string | Uint8Array): Promise<Result> {
    const id = this.next++;
    const t0 = Date.now();
    return new Promise<Result>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.kill();
        reject(new TimeoutError(argv, timeoutMs));
      }, timeoutMs + 1000);
      const done = (r: Result) =>
        r.status === 137 && Date.now() - t0 >= timeoutMs - 50 ? reject(new TimeoutError(argv, timeoutMs)) : resolve(r);
      this.pending = { id, resolve: done, reject, timer };
      this.child.stdin!.write(workerRequest(id, timeoutMs / 1000, argv, input));
    });
  }

  /** Ends the session: its stdin closes and the loop, then its directory, go. */
  end(): void {
    this.child.stdin!.end();
  }

  kill(): void {
    this.dead = true;
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * An HTTP/1.0 request (stdin) to a unix socket ($1), the raw answer on stdout, $2 seconds at
 * most; py2 and py3 alike. Exit 127: no python on the node. Exit 3: the socket refused, with
 * the errno's name on stderr.
 */
export const UNIX_REQUEST_SCRIPT = [
  'for p in python3 python python2; do',
  '  command -v "$p" >/dev/null 2>&1 || continue',
  '  exec "$p" -S -c \'',
  'import socket, sys, errno',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
  's.settimeout(float(sys.argv[2]))',
  'try:',
  '    s.connect(sys.argv[1])',
  '    s.sendall(getattr(sys.stdin, "buffer", sys.stdin).read())',
  '    out = getattr(sys.stdout, "buffer", sys.stdout)',
  '    while True:',
  '        d = s.recv(65536)',
  '        if not d:',
  '            break',
  '        out.write(d)',
  'except socket.timeout:',
  '    sys.stderr.write("ETIMEDOUT\\n")',
  '    sys.exit(3)',
  'except socket.error as e:',
  '    sys.stderr.write(errno.errorcode.get(e.args[0], "EIO") + "\\n")',
  '    sys.exit(3)',
  '\' "$1" "$2"',
  'done',
  'exit 127',
].join('\n');

/** The request's bytes as HTTP/1.0 (the server closes after its answer). */
export function http10Request(req: LocalRequest): string {
  const body = req.body ?? '';
  return [
    `${req.method} ${req.path} HTTP/1.0`,
    'Host: localhost',
    ...(req.contentType ? [`Content-Type: ${req.contentType}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** An HTTP/1.x answer: status and body (no chunked coding: the request was 1.0). */
export function parseHttpAnswer(raw: string): { status: number; body: string } | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r?\n/.exec(raw);
  const end = raw.indexOf('\r\n\r\n');
  if (!m || end < 0) return undefined;
  return { status: Number(m[1]), body: raw.slice(end + 4) };
}

export class SshHost implements Host {
  readonly name: string;
  readonly destination: SshDestination;
  private readonly label: string;
  // the workers hold WORKERS sessions for the run; the rest are for large writes
  private readonly slots = new Slots(MAX_SESSIONS - WORKERS);
  private readonly workers: Worker[] = [];
  private readonly idle: (() => void)[] = [];
  /** the node has no python: localRequest is not offered again */
  private noPython = false;
  /** reads and stats waiting for this turn to end */
  private batch?: BatchItem[];
  private opening?: Promise<SshInvocation>;
  private dir?: string;
  private inv?: SshInvocation;
  private closed = false;

  constructor(private readonly opts: SshHostOptions) {
    this.destination =
      typeof opts.destination === 'string' ? checkSshDestination('--ssh', opts.destination) : opts.destination;
    this.name = formatSshDestination(this.destination);
    this.label = opts.node !== undefined && opts.node !== this.name ? `${opts.node} (${this.name})` : this.name;
  }

  /** The master's control socket while it is open (diagnostics; nobody but this process's user can use it). */
  get controlSocket(): string | undefined {
    return this.inv?.controlPath;
  }

  /** Opens the master (once; every method calls it). Rejects with a RuntimeError naming the node. */
  async connect(): Promise<void> {
    if (this.closed) throw new RuntimeError(`${this.label}: this ssh connection was closed`);
    this.opening ??= this.openMaster();
    await this.opening;
  }

  private async openMaster(): Promise<SshInvocation> {
    const ssh = this.opts.ssh ?? ['ssh'];
    const base = {
      ssh,
      destination: this.destination,
      ...(this.opts.configFile && { configFile: this.opts.configFile }),
    };
    const dump = await spawnExec({
      argv: configDumpArgv(base),
      why: 'ssh -G',
      timeoutMs: 10_000,
      okStatus: ANY_STATUS,
    });
    if (dump.status !== 0) {
      // the first line says which line of the config is wrong; the last only "terminating"
      const why = firstLine(dump.stderr) || `ssh -G exited ${dump.status}`;
      if (this.opts.configFile !== undefined) throw invalid('--ssh-config', this.opts.configFile, why);
      throw new RuntimeError(`${this.label}: ssh cannot read its config: ${why}`);
    }
    // a unix socket path has ~100 bytes: a long TMPDIR would not fit one
    const parent = tmpdir().length > 60 ? '/tmp' : tmpdir();
    this.dir = mkdtempSync(join(parent, 'frb-ssh-')); // 0700, this process's user only
    const inv: SshInvocation = {
      ...base,
      controlPath: join(this.dir, 'master'),
      effective: parseSshConfigDump(dump.stdout),
      connectTimeoutSec: this.opts.connectTimeoutSec ?? DEFAULT_CONNECT_TIMEOUT_SEC,
      persistSec: this.opts.persistSec ?? CONTROL_PERSIST_SEC,
    };
    const ct = Number(inv.effective.get('connecttimeout'));
    const waitSec = (Number.isFinite(ct) ? ct : inv.connectTimeoutSec) + 10;
    let r: Result;
    try {
      r = await spawnExec({
        argv: masterArgv(inv),
        why: 'ssh master',
        timeoutMs: waitSec * 1000,
        okStatus: ANY_STATUS,
      });
    } catch (e) {
      this.removeDir();
      if (e instanceof TimeoutError)
        throw new RuntimeError(`${this.label}: cannot connect over ssh: no answer in ${waitSec} s`);
      throw e;
    }
    if (r.status !== 0) {
      this.removeDir();
      throw new RuntimeError(
        `${this.label}: cannot connect over ssh: ${lastLine(r.stderr) || `ssh exited ${r.status}`}`,
      );
    }
    this.inv = inv;
    open.add(this);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', onExit);
    }
    return inv;
  }

  /** Ends the master and removes its directory. The Host cannot be used after. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.workers.splice(0)) w.end();
    const inv = await this.opening?.catch(() => undefined);
    if (inv) {
      await spawnExec({ argv: exitArgv(inv), why: 'ssh -O exit', timeoutMs: 5000, okStatus: ANY_STATUS }).catch(
        () => undefined,
      );
    }
    open.delete(this);
    this.removeDir();
  }

  /** close(), synchronously: for the process's exit. */
  closeNow(): void {
    for (const w of this.workers.splice(0)) w.kill();
    if (this.inv) {
      const argv = exitArgv(this.inv);
      spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 2000 });
    }
    open.delete(this);
    this.removeDir();
  }

  private removeDir(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  /** A free worker (a new one while there are fewer than WORKERS), waiting for one otherwise. */
  private async worker(): Promise<Worker> {
    for (;;) {
      for (let i = this.workers.length - 1; i >= 0; i--) if (this.workers[i]!.dead) this.workers.splice(i, 1);
      // taken here, before any await: two callers never share a worker
      const free = this.workers.find((w) => !w.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      if (this.workers.length < WORKERS) {
        const w = new Worker(sessionArgv(this.inv!, shellLine(['sh', '-c', WORKER_SCRIPT])), this.label);
        w.busy = true;
        this.workers.push(w);
        return w;
      }
      await new Promise<void>((r) => this.idle.push(r));
    }
  }

  /** Runs argv on the node; resolves with the remote status whatever it is. */
  /**
   * Runs argv on the node; resolves with the remote status whatever it is. A read-only command
   * whose worker session ended under it (the master went: ControlPersist ran out, a kill) is
   * sent once more, on a new session (which connects again); a change is never sent twice.
   */
  private async exec(
    argv: readonly string[],
    timeoutMs: number,
    input?: string | Uint8Array,
    readOnly = false,
  ): Promise<Result> {
    await this.connect();
    if ((input === undefined || Buffer.byteLength(input) <= WORKER_MAX_INPUT) && !this.closed) {
      // over a worker: no ssh process per command (a session costs 15-60 ms; a request ~2)
      const once = async () => {
        const w = await this.worker();
        try {
          return await w.run(argv, timeoutMs, input);
        } finally {
          w.busy = false;
          this.idle.shift()?.();
        }
      };
      try {
        return await once();
      } catch (e) {
        if (!readOnly || !(e as { sessionEnded?: boolean }).sessionEnded) throw e;
        // the idle workers went with the master too, whether their close has come yet or not
        for (const w of this.workers) if (!w.busy) w.kill();
        return once();
      }
    }
    return this.session(argv, timeoutMs, input);
  }

  /** argv in a session of its own (a large stdin). */
  private async session(argv: readonly string[], timeoutMs: number, input?: string | Uint8Array): Promise<Result> {
    const inv = this.inv!;
    return this.slots.use(async () => {
      // the remote kill at the local timeout: the master holds this session's pipes until then
      const line = remoteLine(argv, timeoutMs / 1000);
      const cmd: Command = {
        argv: sessionArgv(inv, line),
        why: 'ssh',
        timeoutMs,
        okStatus: ANY_STATUS,
        ...(typeof input === 'string' && { input }),
      };
      let r: Result;
      try {
        r = await spawnExec(cmd, input instanceof Uint8Array ? { stdin: input } : {});
      } catch (e) {
        if (e instanceof TimeoutError) throw new TimeoutError(argv, timeoutMs);
        throw e;
      }
      const { status, stderr } = splitExit(r.stderr);
      if (status === undefined) {
        throw new RuntimeError(
          `${this.label}: ssh failed running ${commandName(argv)}: ${lastLine(r.stderr) || `ssh exited ${r.status}`}`,
        );
      }
      return { stdout: r.stdout, stderr, status };
    });
  }

  /** A file operation's script; a status other than 0 and `ok` is a RuntimeError saying `what`. */
  private async script(
    script: string,
    args: readonly string[],
    what: string,
    o: { ok?: readonly number[]; input?: Uint8Array; timeoutMs?: number; readOnly?: boolean } = {},
  ): Promise<Result> {
    const r = await this.exec(remoteScript(script, args), o.timeoutMs ?? 10_000, o.input, o.readOnly === true);
    if (r.status === 0 || (o.ok ?? []).includes(r.status)) return r;
    throw new RuntimeError(`${what} on ${this.label}: ${lastLine(r.stderr) || `exit ${r.status}`}`);
  }

  async run(cmd: Command): Promise<Result> {
    if (!cmd.readOnly) traceChange('run', cmd.argv.slice(0, 3).join(' '));
    const r = await this.exec(cmd.argv, timeoutOf(cmd), cmd.input, cmd.readOnly === true);
    if (r.status === 0 || (cmd.okStatus ?? []).includes(r.status)) return r;
    // timeout(1) says "failed to run command"; a shell "command not found"
    if (r.status === 127 && /failed to run command|command not found|No such file or directory/.test(r.stderr)) {
      throw new CommandError(
        cmd.argv,
        127,
        '',
        `${cmd.argv[0]} not found in PATH on ${this.label}; install it there, or check the node's PATH for ssh sessions`,
      );
    }
    throw new CommandError(cmd.argv, r.status, r.stderr.trim() ? r.stderr : r.stdout); // supervisorctl says its errors on stdout
  }

  /** One line of BATCH_SCRIPT's answer for this item, after the turn's other reads and stats. */
  private batched(kind: BatchItem['kind'], path: string, max = ''): Promise<string[]> {
    return new Promise((resolve, reject) => {
      if (!this.batch) {
        this.batch = [];
        setImmediate(() => void this.flush());
      }
      this.batch.push({ kind, path, max, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const items = this.batch ?? [];
    this.batch = undefined;
    const only = items.length === 1 ? items[0]! : undefined;
    if (only && only.kind !== 'R') {
      // a stat alone: stat itself, without a shell around it
      const argv = ['stat', ...(only.kind === 'S' ? ['-L'] : []), '-c', '%f %s %u', '--', only.path];
      return this.exec(argv, 10_000, undefined, true).then(
        (r) => only.resolve(r.status === 0 ? ['0', ...r.stdout.trim().split(' ')] : ['1']),
        (e: Error) => only.reject(e),
      );
    }
    try {
      const args = items.flatMap((i) => [i.kind, i.path, i.max]);
      const r = await this.exec(
        ['sh', '-c', BATCH_SCRIPT, 'sh', ...args],
        10_000 + 200 * items.length,
        undefined,
        true,
      );
      const lines = r.stdout.split('\n');
      if (r.status !== 0 || lines.length < items.length)
        throw new RuntimeError(`reading files on ${this.label}: ${lastLine(r.stderr) || `exit ${r.status}`}`);
      items.forEach((it, n) => {
        const f = lines[n]!.split(' ');
        if (f[0] === it.kind) it.resolve(f.slice(1));
        else it.reject(new RuntimeError(`reading ${it.path} on ${this.label}: an answer out of order`));
      });
    } catch (e) {
      for (const it of items) it.reject(e as Error);
    }
  }

  async readFile(path: string, opts: { maxBytes?: number } = {}): Promise<string | undefined> {
    const max = opts.maxBytes !== undefined ? String(opts.maxBytes) : '';
    if (opts.maxBytes === undefined || opts.maxBytes > BATCH_MAX_READ) {
      const r = await this.script(REMOTE.readFile, [path, max], `cannot read ${path}`, {
        ok: [10, 11],
        readOnly: true,
      });
      if (r.status === 10) return undefined;
      if (r.status === 11)
        throw new RuntimeError(
          `${path} is ${r.stdout.trim()} bytes; more than the ${opts.maxBytes} such a file can be`,
        );
      return r.stdout;
    }
    const [status, rest = ''] = await this.batched('R', path, max);
    if (status === '10') return undefined;
    if (status === '11')
      throw new RuntimeError(`${path} is ${rest} bytes; more than the ${opts.maxBytes} such a file can be`);
    const text = Buffer.from(rest, 'base64').toString('utf8');
    if (status !== '0')
      throw new RuntimeError(`cannot read ${path} on ${this.label}: ${lastLine(text) || `exit ${status}`}`);
    return text;
  }

  async readTail(path: string, maxBytes: number): Promise<string | undefined> {
    const r = await this.script(REMOTE.readTail, [path, String(maxBytes)], `cannot read ${path}`, {
      ok: [10],
      readOnly: true,
    });
    if (r.status === 10) return undefined;
    const nl = r.stdout.indexOf('\n');
    const size = Number(r.stdout.slice(0, nl));
    const text = r.stdout.slice(nl + 1);
    return size <= maxBytes ? text : text.slice(text.indexOf('\n') + 1);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const [status, ...info] = await this.batched('S', path);
    return status === '0' ? fileInfo(info.join(' ')) : undefined;
  }

  async lstat(path: string): Promise<FileInfo | undefined> {
    const [status, ...info] = await this.batched('L', path);
    return status === '0' ? fileInfo(info.join(' ')) : undefined;
  }

  async readlink(path: string): Promise<string | undefined> {
    const r = await this.exec(['readlink', '--', path], 10_000, undefined, true);
    return r.status === 0 ? r.stdout.replace(/\n$/, '') : undefined;
  }

  async listDir(path: string): Promise<string[] | undefined> {
    const r = await this.exec(remoteScript(REMOTE.listDir, [path]), 10_000, undefined, true);
    if (r.status !== 0) return undefined;
    return r.stdout
      .split('\0')
      .filter((n) => n !== '')
      .sort();
  }

  async mkdir(path: string, opts: Change & { mode: number }): Promise<void> {
    traceChange('mkdir', path);
    await this.script('exec mkdir -p -m "$1" -- "$2"', [octal(opts.mode), path], `cannot write ${path}`);
  }

  private async write(path: string, mode: number, source: { bytes: Uint8Array } | { file: string }): Promise<void> {
    const args = 'bytes' in source ? ['-', String(source.bytes.length)] : [source.file, ''];
    const r = await this.exec(
      remoteScript(REMOTE.write, [path, octal(mode), ...args]),
      60_000,
      'bytes' in source ? source.bytes : undefined,
    );
    if (r.status === 0) return;
    const kept = r.stdout.startsWith('existed') ? '; the old file is kept' : '';
    if (r.status === 12)
      throw new RuntimeError(`cannot write ${path} on ${this.label}: EISDIR (it is a directory); nothing was changed`);
    if (r.status === 14 && 'file' in source) {
      throw new RuntimeError(`cannot read ${source.file} on ${this.label}: ENOENT${kept}`);
    }
    throw new RuntimeError(`cannot write ${path} on ${this.label}: ${lastLine(r.stderr) || `exit ${r.status}`}${kept}`);
  }

  async writeFile(path: string, content: string | Uint8Array, opts: Change & { mode: number }): Promise<void> {
    traceChange('write', path);
    await this.write(path, opts.mode, { bytes: typeof content === 'string' ? Buffer.from(content, 'utf8') : content });
  }

  async copyFile(from: string, to: string, opts: Change & { mode: number }): Promise<void> {
    traceChange('copy', `${from} -> ${to}`);
    await this.write(to, opts.mode, { file: from });
  }

  writeOutput(cmd: Command, path: string, opts: Change & { mode: number; expect: string }): Promise<void> {
    return writeCommandOutput(this, cmd, path, opts);
  }

  async rename(from: string, to: string, _opts?: Change): Promise<void> {
    traceChange('rename', `${from} -> ${to}`);
    await this.script('exec mv -f -T -- "$1" "$2"', [from, to], `cannot move ${from} to ${to}`);
  }

  async symlink(target: string, path: string, _opts?: Change): Promise<void> {
    traceChange('link', `${path} -> ${target}`);
    await this.script(REMOTE.symlink, [target, path], `cannot point ${path} at ${target}`);
  }

  async remove(path: string, opts: Change & { recursive?: boolean } = {}): Promise<void> {
    traceChange('remove', path);
    await this.script(opts.recursive ? 'exec rm -rf -- "$1"' : 'exec rm -f -- "$1"', [path], `cannot remove ${path}`, {
      timeoutMs: 60_000,
    });
  }

  async makeTempDir(parent: string, prefix: string): Promise<TempDir> {
    const r = await this.script(REMOTE.makeTempDir, [parent, prefix], `cannot make a directory in ${parent}`);
    const path = r.stdout.trim();
    return {
      path,
      remove: async () => {
        await this.script('exec rm -rf -- "$1"', [path], `cannot remove ${path}`, { timeoutMs: 60_000 });
      },
    };
  }

  /** supervisord's socket through the node's python; ENOTSUP for what it cannot do that way. */
  async localRequest(req: LocalRequest): Promise<{ status: number; body: string }> {
    const notSup = (why: string) => Object.assign(new Error(why), { code: 'ENOTSUP' });
    if (req.socketPath === undefined || this.noPython) throw notSup('not over ssh: use a command');
    const r = await this.exec(
      ['sh', '-c', UNIX_REQUEST_SCRIPT, 'sh', req.socketPath, String(req.timeoutMs / 1000)],
      req.timeoutMs + 1000,
      http10Request(req),
      true,
    );
    if (r.status === 127) {
      this.noPython = true;
      throw notSup(`no python on ${this.label}`);
    }
    if (r.status !== 0)
      throw Object.assign(new Error(lastLine(r.stderr) || `exit ${r.status}`), { code: lastLine(r.stderr) });
    const answer = parseHttpAnswer(r.stdout);
    if (!answer)
      throw new RuntimeError(
        `${req.socketPath} on ${this.label}: not an HTTP answer: ${firstLine(r.stdout).slice(0, 80)}`,
      );
    return answer;
  }

  async lock(path: string): Promise<Lock> {
    await this.connect();
    const argv = sessionArgv(this.inv!, shellLine(remoteScript(REMOTE.lock, [path])));
    const label = this.label;
    return new Promise<Lock>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
      let out = '';
      let err = '';
      let decided = false;
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      const fail = (e: Error) => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        killGroup();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new RuntimeError(`${label}: the lock ${path} did not answer in 10 s`)),
        10_000,
      );
      child.stdin.on('error', () => {});
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      child.on('error', (e) => fail(new RuntimeError(`${label}: cannot take the lock ${path}: ${e.message}`)));
      child.on('close', (code) =>
        fail(new RuntimeError(`${label}: cannot take the lock ${path}: ${lastLine(err) || `ssh exited ${code}`}`)),
      );
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf('\n');
        if (nl < 0 || decided) return;
        const line = out.slice(0, nl);
        decided = true;
        clearTimeout(timer);
        if (line === 'busy') return resolve({ held: true });
        const n = /^locked (\d+)$/.exec(line);
        if (!n) {
          killGroup();
          return reject(new RuntimeError(`${label}: the lock ${path} answered ${JSON.stringify(line)}`));
        }
        // held by the remote session; this process may exit without releasing (the lock goes with it)
        child.unref();
        for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
        resolve({
          held: false,
          overlaps: Number(n[1]),
          release: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              const t = setTimeout(killGroup, 5000);
              child.once('close', () => {
                clearTimeout(t);
                done();
              });
              child.stdin.end();
            }),
        });
      });
    });
  }
}
