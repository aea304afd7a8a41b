// The host side: where the real flanneld talks netlink, the stand-in runs iproute2 (`ip -j`,
// `bridge`) and iptables, and turns iproute2's errors into the errno texts Go's netlink returns.
// The commands still running are killed when the process exits (exitNow is os.Exit).
import type { ChildProcess } from 'node:child_process';
import { GoError } from './go-errors.ts';
import { execFile, fs } from './node-builtins.ts';

/** A finished command. */
export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A link as `ip -j addr show` / `ip -j -d link show` print it (the fields the stand-in reads). */
export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu?: number;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

/** A route as `ip -j route show` / `ip -j route get` print it. */
export interface IpRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
}

const children = new Set<ChildProcess>();

/**
 * Where `ip` is. The real daemon talks netlink and needs no binary, so look beyond $PATH too
 * (a supervisord started without /usr/sbin in $PATH). iptables stays a $PATH lookup, as in
 * go-iptables.
 */
let ipBinary: string | null = null;

function ipPath(): string {
  if (ipBinary) return ipBinary;
  const dirs = [...(process.env.PATH || '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  ipBinary = dirs.map((d) => `${d}/ip`).find((p) => fs.existsSync(p)) || 'ip';
  return ipBinary;
}

/** execFile's callback as a promise: an exit status is a result, only a failure to start rejects. */
function settle(
  resolve: (r: CmdResult) => void,
  reject: (e: Error) => void,
  child: () => ChildProcess,
): (err: (Error & { code?: unknown }) | null, stdout: string, stderr: string) => void {
  return (err, stdout, stderr) => {
    children.delete(child());
    if (err && typeof err.code !== 'number') return reject(err);
    resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
  };
}

/** Runs a command; resolves {code, stdout, stderr}; rejects only when it cannot start. */
export function runCmd(argv: readonly string[]): Promise<CmdResult> {
  if (argv[0] === 'ip') argv = [ipPath(), ...argv.slice(1)];
  return new Promise((resolve, reject) => {
    const child: ChildProcess = execFile(
      argv[0]!,
      argv.slice(1),
      { encoding: 'utf8', maxBuffer: 16 << 20 },
      settle(resolve, reject, () => child),
    );
    children.add(child);
  });
}

/** Runs a command with `input` on its stdin; resolves {code, stdout, stderr}. */
export function runCmdInput(argv: readonly string[], input: string): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = execFile(
      argv[0]!,
      argv.slice(1),
      { encoding: 'utf8', maxBuffer: 16 << 20 },
      settle(resolve, reject, () => child),
    );
    children.add(child);
    child.stdin!.on('error', () => {});
    child.stdin!.end(input);
  });
}

/** `ip -j ARGS`: the decoded JSON array (empty when iproute2 prints nothing). */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const r = await runCmd(['ip', '-j', ...args]);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
  const out = r.stdout.trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

/** The errno text Go's netlink would return for what iproute2 printed. */
export function netlinkErrText(stderr: string): string {
  const s = stderr.trim();
  if (/File exists/i.test(s)) return 'file exists';
  if (/No such process/i.test(s)) return 'no such process';
  if (/invalid gateway|Network is unreachable/i.test(s)) return 'network is unreachable';
  if (/Cannot find device|No such device/i.test(s)) return 'no such device';
  if (/Operation not permitted/i.test(s)) return 'operation not permitted';
  const m = /(?:RTNETLINK answers|Error): (.*?)\.?$/m.exec(s);
  return m ? m[1]!.charAt(0).toLowerCase() + m[1]!.slice(1) : s;
}

let bridgeBinary: string | null = null;

/** Where `bridge` (iproute2, for fdb entries) is, beside `ip` if not in $PATH. */
export function bridgePath(): string {
  if (bridgeBinary) return bridgeBinary;
  const dirs = [...(process.env.PATH || '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  bridgeBinary = dirs.map((d) => `${d}/bridge`).find((p) => fs.existsSync(p)) || 'bridge';
  return bridgeBinary;
}

/** runCmd, a non-zero exit status thrown as netlink's error text. */
export async function checked(argv: readonly string[]): Promise<CmdResult> {
  const r = await runCmd(argv);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
  return r;
}

/** Kills the commands still running, then exits (os.Exit). */
export function exitNow(code: number): never {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  return process.exit(code);
}
