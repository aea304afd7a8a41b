// Reachability probes for verify-ping, by either prober, as the same PingResult:
//   ping (iputils): one process per target; pingCommand / parsePingOutput;
//   fping: one process for every target; fpingCommand / parseFpingOutput, and, only for the
//   targets whose probes never left (no route: fping's count mode does not say why),
//   fpingSendCheckCommand / parseFpingSendErrors.
// Only flags fping 3.x (EPEL 7), 4.x and 5.x (Debian 12: 5.1) all have: -c -p -t -i -r
// (docs/verify-ping-prober.md). fping up to 5.2 reports no reply's TTL: with fping, ttl is
// absent. ICMP errors and send failures read the same words whichever prober ran.

import { unreadable } from '../core/errors.ts';
import type { Command } from '../core/command.ts';

export interface PingResult {
  readonly transmitted: number;
  readonly received: number;
  /** percent, 0-100 */
  readonly loss: number;
  /** TTL of the first reply */
  readonly ttl?: number;
  readonly rttAvgMs?: number;
  /** `From 172.7.21.1 icmp_seq=1 Destination Net Unreachable` and the like */
  readonly icmpError?: string;
  /** why the probe could not be sent (`cannot send: Network is unreachable`), or ping's own error line */
  readonly error?: string;
}

export interface PingOptions {
  readonly count: number;
  /** seconds to wait for each reply */
  readonly timeoutS: number;
  /** seconds between probes (ping refuses < 0.2 s for non-root; we run as root) */
  readonly intervalS: number;
  readonly fromNetns?: string;
}

/** `ping -n -c N -W S -i I TARGET`, inside `--from-netns` when given (e.g. a pod's namespace). */
export function pingCommand(target: string, o: PingOptions): Command {
  const ping = ['ping', '-n', '-c', String(o.count), '-W', String(o.timeoutS), '-i', String(o.intervalS), target];
  return {
    argv: o.fromNetns ? ['ip', 'netns', 'exec', o.fromNetns, ...ping] : ping,
    why: `probe ${target}`,
    // 1 = no reply, 2 = error: both are answers we report, not failures of the tool
    okStatus: [1, 2],
    readOnly: true,
    // every probe and its wait, and a margin for ping's own start
    timeoutMs: Math.ceil((o.count * o.intervalS + o.timeoutS + 2) * 1000),
  };
}

/** Parse iputils ping output (stdout + stderr). */
export function parsePingOutput(text: string): PingResult {
  const stats = /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?, ([\d.]+)% packet loss/.exec(text);
  const ttl = /ttl=(\d+)/.exec(text);
  const rtt = /rtt min\/avg\/max\/mdev = [\d.]+\/([\d.]+)\//.exec(text);
  const icmp = /^From (\S+) icmp_seq=\d+ (.+)$/m.exec(text);
  const err = /^ping: (.+)$/m.exec(text);
  const error = err ? sendError(err[1]!.trim()) : undefined;
  if (!stats) {
    if (error) return { transmitted: 0, received: 0, loss: 100, error };
    throw unreadable(
      'ping output',
      text.slice(0, 80),
      'has no statistics line ("N packets transmitted, N received")',
      '2 packets transmitted, 2 received, 0% packet loss',
    );
  }
  return {
    transmitted: Number(stats[1]),
    received: Number(stats[2]),
    loss: Number(stats[4]),
    ttl: ttl ? Number(ttl[1]) : undefined,
    rttAvgMs: rtt ? Number(rtt[1]) : undefined,
    icmpError: icmp ? `${icmp[2]!.trim()} (from ${icmp[1]})` : undefined,
    error,
  };
}

/**
 * A probe the kernel refused to send, in words both probers give: iputils says
 * `connect: Network is unreachable` (no route) or `sendmsg: Operation not permitted` (an
 * OUTPUT rule), fping `error while sending ping: ...`; both become `cannot send: ...`.
 */
function sendError(line: string): string {
  const m = /^(?:connect|sendmsg|sendto|error while sending ping): (.+)$/.exec(line);
  if (m) return `cannot send: ${m[1]!.trim()}`;
  // iputils' words for connect()'s EACCES (a `prohibit` route, an OUTPUT rule)
  if (/^Do you want to ping broadcast\?/.test(line)) return 'cannot send: Permission denied';
  return line;
}

/** ping's loss figure: iputils prints 100 * lost / sent as a C float with %g (6 significant digits). */
export function lossPercent(transmitted: number, received: number): number {
  if (transmitted === 0) return 100;
  return Number(Math.fround(((transmitted - received) * 100) / transmitted).toPrecision(6));
}

/**
 * fping's words for the ICMP errors it reports, as iputils ping words them. fping gives no code
 * for Time Exceeded (ping's code 0 wording) and no MTU with Fragmentation Needed.
 */
const FPING_ICMP: Readonly<Record<string, string>> = {
  'ICMP Network Unreachable': 'Destination Net Unreachable',
  'ICMP Host Unreachable': 'Destination Host Unreachable',
  'ICMP Protocol Unreachable': 'Destination Protocol Unreachable',
  'ICMP Port Unreachable': 'Destination Port Unreachable',
  'ICMP Unreachable (Fragmentation Needed)': 'Frag needed and DF set',
  'ICMP Unreachable (Source Route Failed)': 'Source Route Failed',
  'ICMP Unreachable (Destination Network Unknown)': 'Destination Net Unknown',
  'ICMP Unreachable (Destination Host Unknown)': 'Destination Host Unknown',
  'ICMP Unreachable (Source Host Isolated)': 'Source Host Isolated',
  'ICMP Unreachable (Communication with Network Prohibited)': 'Destination Net Prohibited',
  'ICMP Unreachable (Communication with Host Prohibited)': 'Destination Host Prohibited',
  'ICMP Unreachable (Network Unreachable For Type Of Service)': 'Destination Net Unreachable for Type of Service',
  'ICMP Unreachable (Host Unreachable For Type Of Service)': 'Destination Host Unreachable for Type of Service',
  'ICMP Unreachable (Communication Administratively Prohibited)': 'Packet filtered',
  'ICMP Unreachable (Host Precedence Violation)': 'Precedence Violation',
  'ICMP Unreachable (Precedence cutoff in effect)': 'Precedence Cutoff',
  'ICMP Time Exceeded': 'Time to live exceeded',
  'ICMP Source Quench': 'Source Quench',
  'ICMP Parameter Problem': 'Parameter problem',
};

/**
 * `fping -c COUNT -p PERIOD_MS -t WAIT_MS -i SEND_GAP_MS TARGETS...`: every target probed COUNT
 * times from one process, PERIOD_MS apart (ping's -i), each probe waited for WAIT_MS (ping's
 * -W). `-i 0` sends to the next target at once; fping before 3.14 refuses 0 (use 1). Not -q:
 * fping -q keeps the ICMP errors to itself.
 */
export function fpingCommand(targets: readonly string[], o: PingOptions, sendGapMs: 0 | 1 = 0): Command {
  const fping = [
    'fping',
    '-c',
    String(o.count),
    '-p',
    String(Math.round(o.intervalS * 1000)),
    '-t',
    String(Math.round(o.timeoutS * 1000)),
    '-i',
    String(sendGapMs),
    ...targets,
  ];
  return {
    argv: o.fromNetns ? ['ip', 'netns', 'exec', o.fromNetns, ...fping] : fping,
    why: `probe ${targets.length} target(s)`,
    // 1 = some target did not answer: an answer we report
    okStatus: [1],
    readOnly: true,
    // the last target's probes and their wait, the sending, and a margin for fping's start
    timeoutMs: Math.ceil((o.count * o.intervalS + o.timeoutS + 2) * 1000 + targets.length * (sendGapMs + 1)),
  };
}

/** fping refused its options (before 3.14, `-i 0`): it printed its usage and probed nothing. */
export function fpingRefusedOptions(stderr: string): boolean {
  return /^Usage: \S*fping /m.test(stderr) && !/xmt\/rcv/.test(stderr);
}

/** fping (or `ip netns exec`) could not find fping on PATH. */
export function fpingMissing(stderr: string): boolean {
  return /exec of "fping" failed: No such file or directory/.test(stderr);
}

export interface FpingResult extends PingResult {
  /** fping 5+ said a probe timed out: it was sent (a target that never got one sent has no such line) */
  readonly timedOut: boolean;
}

/**
 * fping -c output, per target. stderr: `ADDR : xmt/rcv/%loss = 2/2/0%, min/avg/max =
 * 0.05/0.06/0.07` for every target (`%return` when duplicates came back), and its ICMP errors
 * (`ICMP Host Unreachable from 10.4.7.21 for ICMP Echo sent to 10.4.7.50`); stdout: a line per
 * reply and (5.0+) per timeout. A target without its summary line is output we cannot read.
 */
export function parseFpingOutput(stdout: string, stderr: string, targets: readonly string[]): Map<string, FpingResult> {
  const summary = new Map<string, { xmt: number; rcv: number; avg?: number }>();
  for (const m of stderr.matchAll(
    /^(\S+)\s*: xmt\/rcv\/%(?:loss|return) = (\d+)\/(\d+)\/\d+%(?:, min\/avg\/max = [\d.]+\/([\d.]+)\/[\d.]+)?\s*$/gm,
  ))
    summary.set(m[1]!, { xmt: Number(m[2]), rcv: Number(m[3]), ...(m[4] !== undefined && { avg: Number(m[4]) }) });
  const icmp = new Map<string, string>();
  for (const m of stderr.matchAll(/^(ICMP .+?) from (\S+) for ICMP Echo sent to (\S+?)(?: \(\S+\))?\s*$/gm)) {
    if (icmp.has(m[3]!)) continue;
    icmp.set(m[3]!, `${FPING_ICMP[m[1]!] ?? m[1]!} (from ${m[2]})`);
  }
  const timedOut = new Set([...stdout.matchAll(/^(\S+)\s*: \[\d+\], timed out/gm)].map((m) => m[1]!));
  const out = new Map<string, FpingResult>();
  for (const t of targets) {
    const s = summary.get(t);
    if (!s)
      throw unreadable(
        'fping output',
        (stderr || stdout).trim().split('\n')[0] ?? '',
        `has no statistics line for ${t} ("${t} : xmt/rcv/%loss = 1/1/0%")`,
        `${t} : xmt/rcv/%loss = 1/1/0%, min/avg/max = 0.05/0.05/0.05`,
      );
    const received = Math.min(s.rcv, s.xmt);
    out.set(t, {
      transmitted: s.xmt,
      received,
      loss: lossPercent(s.xmt, received),
      ...(received > 0 && s.avg !== undefined && { rttAvgMs: s.avg }),
      ...(icmp.has(t) && { icmpError: icmp.get(t)! }),
      timedOut: timedOut.has(t),
    });
  }
  return out;
}

/**
 * fping in its default mode, one try with a 1 ms wait: for targets whose probes never left, it
 * says why (`ADDR: error while sending ping: Network is unreachable`; 3.x on stdout, without
 * the colon). Only run when some target got no reply and no ICMP error.
 */
export function fpingSendCheckCommand(targets: readonly string[], fromNetns?: string): Command {
  const fping = ['fping', '-r', '0', '-t', '1', ...targets];
  return {
    argv: fromNetns ? ['ip', 'netns', 'exec', fromNetns, ...fping] : fping,
    why: `why ${targets.length} target(s) got no probe`,
    okStatus: [1],
    readOnly: true,
    timeoutMs: 5000 + targets.length,
  };
}

/**
 * Target -> `cannot send: ...`, from fpingSendCheckCommand's output. Not EPERM: a probe an
 * OUTPUT rule drops fails with it, and iputils ping says nothing of that (no reply), so
 * neither does verify-ping.
 */
export function parseFpingSendErrors(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^(\S+?):? error while sending ping: (.+)$/gm)) {
    const why = m[2]!.trim();
    if (why !== 'Operation not permitted' && !out.has(m[1]!))
      out.set(m[1]!, sendError(`error while sending ping: ${why}`));
  }
  return out;
}
