// Reachability probes for verify-ping: the ping command per target and the parser of its output.

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
  /** ping's own error line (`ping: connect: Network is unreachable`) */
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
  if (!stats) {
    if (err) return { transmitted: 0, received: 0, loss: 100, error: err[1]!.trim() };
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
    error: err ? err[1]!.trim() : undefined,
  };
}
