// drift --nagios: the Nagios/Icinga plugin convention. ONE status line with performance data,
// and the plugin exit code:
//   0 OK        every check in sync;
//   1 WARNING   drift that leaves pods talking (a rule, a file, a persisted copy; --fix mends most);
//   2 CRITICAL  an outage: flanneld not running, ip_forward off, no route to any peer, this
//               node's lease gone, FORWARD stopping pod traffic;
//   3 UNKNOWN   could not check (etcd unreachable, a command that failed) and no outage seen.
// An outage seen is CRITICAL even when something else could not be checked. Pure.

import type { PeersDetail } from './routes.ts';
import type { Check } from './types.ts';

export type NagiosState = 0 | 1 | 2 | 3;
export const NAGIOS_LABEL: Record<NagiosState, string> = { 0: 'OK', 1: 'WARNING', 2: 'CRITICAL', 3: 'UNKNOWN' };

/** The checks whose drift means pods cannot talk (README: drift --nagios). */
export const OUTAGE_CHECKS = ['flanneld.running', 'sysctl.ip-forward', 'lease.own', 'iptables.forward'] as const;

/** Is this failing check an outage? routes.peers only when no peer has its route. */
export function isOutage(c: Check): boolean {
  if (c.status !== 'drift') return false;
  if ((OUTAGE_CHECKS as readonly string[]).includes(c.id)) return true;
  if (c.id === 'routes.peers') {
    const d = c.detail as PeersDetail | undefined;
    return d !== undefined && d.desired > 0 && d.missing.length + d.wrong.length >= d.desired;
  }
  return false;
}

export interface NagiosNode {
  readonly node: string;
  readonly checks: readonly Check[];
  /** why the node could not be checked at all (ssh, a refusal) */
  readonly error?: string;
  readonly durationS: number;
}

/** One node's state. */
export function nagiosState(n: NagiosNode): NagiosState {
  if (n.checks.some(isOutage)) return 2;
  if (n.error !== undefined || n.checks.some((c) => c.status === 'error')) return 3;
  if (n.checks.some((c) => c.status === 'drift')) return 1;
  return 0;
}

/** Plugin rank: CRITICAL over UNKNOWN over WARNING over OK. */
const RANK: readonly NagiosState[] = [0, 1, 3, 2];
export function worstState(states: readonly NagiosState[]): NagiosState {
  return states.reduce<NagiosState>((w, s) => (RANK.indexOf(s) > RANK.indexOf(w) ? s : w), 0);
}

function summary(n: NagiosNode, state: NagiosState): string {
  if (n.error !== undefined) return `${n.node}: ${n.error}`;
  if (state === 0) return `${n.node}: in sync`;
  const pick = (f: (c: Check) => boolean) => n.checks.filter(f).map((c) => c.id);
  const parts = [
    ...(state === 2 ? [`outage: ${pick(isOutage).join(', ')}`] : []),
    ...(pick((c) => c.status === 'drift' && !isOutage(c)).length
      ? [`drift: ${pick((c) => c.status === 'drift' && !isOutage(c)).join(', ')}`]
      : []),
    ...(pick((c) => c.status === 'error').length
      ? [`not checked: ${pick((c) => c.status === 'error').join(', ')}`]
      : []),
  ];
  return `${n.node}: ${parts.join('; ')}`;
}

/** The status line and the exit code, for one node or several (drift --all-nodes --nagios). */
export function formatNagios(nodes: readonly NagiosNode[]): { line: string; exit: NagiosState } {
  const states = nodes.map(nagiosState);
  const exit = worstState(states);
  const count = (s: Check['status']) => nodes.reduce((k, n) => k + n.checks.filter((c) => c.status === s).length, 0);
  const shown = nodes.map((n, i) => ({ n, state: states[i]! })).filter((x) => x.state !== 0 || nodes.length === 1);
  const text =
    shown.length === 0 ? `${nodes.length} nodes in sync` : shown.map((x) => summary(x.n, x.state)).join(' / ');
  const seconds = Math.max(0, ...nodes.map((n) => n.durationS));
  const perf = [
    `ok=${count('ok')};;;0`,
    `drift=${count('drift')};;;0`,
    `error=${count('error')};;;0`,
    ...(nodes.length > 1 ? [`nodes_not_ok=${states.filter((s) => s !== 0).length};;;0;${nodes.length}`] : []),
    `duration=${seconds.toFixed(3)}s;;;0`,
  ];
  return { line: `FLANNEL ${NAGIOS_LABEL[exit]} - ${text} | ${perf.join(' ')}`, exit };
}
