// The drift checks as a registry: each area of the node is one module (one file) in this
// list, in report order. Adding a check = adding its area file and one line here.
//   checkNode(expect, obs) -> every check of every area
//   exitCodeFor(checks)     -> 0 in sync, 1 drift, 3 could not check
//   planFixes(checks)       -> the mends of the drifting checks, each action once, in stage order
// Pure. "error" means the check could not be made (etcd down, a command failed): it is never
// turned into a change (no route is removed because etcd did not answer).

import type { Action } from '../core/plan.ts';
import type { NodeObservation } from '../host/observe.ts';
import { certsChecks } from './certs.ts';
import { deriveContext } from './context.ts';
import { etcdChecks } from './etcd.ts';
import type { NodeExpectation } from './expectation.ts';
import { flanneldChecks } from './flanneld.ts';
import { iptablesChecks } from './iptables.ts';
import { leaseChecks } from './lease.ts';
import { routeChecks } from './routes.ts';
import { rpFilterChecks } from './rp-filter.ts';
import { subnetEnvChecks } from './subnet-env.ts';
import { sysctlChecks } from './sysctl.ts';
import type { Check, CheckArea } from './types.ts';
import { vxlanChecks } from './vxlan.ts';
import { vtepChecks } from './vtep.ts';

export const CHECK_AREAS: readonly CheckArea[] = [
  etcdChecks,
  leaseChecks,
  routeChecks,
  vxlanChecks,
  vtepChecks,
  iptablesChecks,
  subnetEnvChecks,
  flanneldChecks,
  certsChecks,
  sysctlChecks,
  rpFilterChecks,
];

/** Every check id, in report order. */
export const CHECK_IDS: readonly string[] = CHECK_AREAS.flatMap((a) => a.ids);

/** Every check, in report order. */
export function checkNode(expect: NodeExpectation, obs: NodeObservation): Check[] {
  const ctx = deriveContext(expect, obs);
  return CHECK_AREAS.flatMap((a) => a.run(ctx));
}

/** 0 in sync, 1 drift, 3 could not check (an error anywhere wins: etcd down is never "in sync"). */
export function exitCodeFor(checks: readonly Check[]): 0 | 1 | 3 {
  if (checks.some((c) => c.status === 'error')) return 3;
  if (checks.some((c) => c.status === 'drift')) return 1;
  return 0;
}

const STAGE = new Map(CHECK_AREAS.flatMap((a) => a.ids.map((id) => [id, a.fixStage] as const)));

/** The fixes of every drifting check, each action once (checks may share one iptables-restore). */
export function planFixes(checks: readonly Check[]): Action[] {
  const seen = new Set<string>();
  const out: Action[] = [];
  const stage = (c: Check) => (c.fix?.some((a) => a.kind === 'capture') ? 99 : (STAGE.get(c.id) ?? 50));
  for (const c of [...checks].sort((a, b) => stage(a) - stage(b))) {
    if (c.status !== 'drift' || !c.fix) continue;
    for (const a of c.fix) {
      const key = JSON.stringify(a);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(a);
    }
  }
  return out;
}

export type { Check, CheckStatus } from './types.ts';
export type { NodeExpectation } from './expectation.ts';
