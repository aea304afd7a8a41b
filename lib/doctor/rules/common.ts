// What several rules share: a drift check that is not ok, a lease as evidence, subnet.env read
// leniently (a broken one is drift's finding, not a reason to stop diagnosing).

import { shellLine } from '../../core/command.ts';
import type { Action } from '../../core/plan.ts';
import type { Check } from '../../checks/types.ts';
import type { Lease } from '../../model/lease.ts';
import { parseSubnetEnv, type SubnetEnv } from '../../model/subnet-env.ts';

export function wrong(checks: readonly Check[], id: string): Check | undefined {
  const c = checks.find((x) => x.id === id);
  return c && c.status !== 'ok' ? c : undefined;
}

export const leaseLine = (l: Lease) =>
  `${l.key} -> PublicIP ${l.publicIp}${l.backendType ? ` (${l.backendType})` : ''}${l.ttl !== undefined ? `, ttl ${l.ttl}s` : ''}`;

export function parseEnv(text: string | undefined): SubnetEnv | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSubnetEnv(text);
  } catch {
    return undefined;
  }
}

/** The drift checks the findings so far explain: a later rule leaves them alone. */
export const coveredBy = (found: readonly { readonly checks: readonly string[] }[]) =>
  new Set(found.flatMap((f) => f.checks));

/** The shell lines of a check's `run` mends, joined (a fix line to paste). */
export function runLines(actions: readonly Action[] | undefined): string {
  return (actions ?? []).flatMap((a) => (a.kind === 'run' && !a.cmd.input ? [shellLine(a.cmd.argv)] : [])).join(' && ');
}

/** A rule in the node's ruleset (`-A CHAIN spec`), as the `iptables -D` line that deletes it (a policy: `-P CHAIN ACCEPT`). */
export function deleteRuleLine(bin: 'iptables' | 'iptables-legacy', table: string, rule: string): string {
  const words = splitRule(rule);
  const t = table === 'filter' ? [] : ['-t', table];
  // a policy (`-P FORWARD DROP`) is not deleted but set back to ACCEPT
  if (words[0] === '-P') return shellLine([bin, ...t, '-P', words[1]!, 'ACCEPT']);
  return shellLine([bin, ...t, '-D', ...words.slice(1)]);
}

/** `-A FORWARD -s "a b" -j X` into its words, quotes removed (iptables-save's quoting). */
function splitRule(rule: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}
