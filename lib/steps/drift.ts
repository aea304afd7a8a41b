// The drift run (scripts/drift.ts, from cron every minute): observe the node, judge it, and with
// --fix mend what is safe and judge it again. Mends come in rounds: a mend may make another one
// safe (the persisted rules are rewritten only once the live rules are right), so after each
// round the node is observed again, up to MAX_ROUNDS. etcd is read once per run: a fix never
// writes etcd, so its first answer stands.
// A failing mend does not end the run: what was applied, what failed and why are reported,
// and the node is judged again.

import { describeAction, type Action } from '../core/plan.ts';
import { UsageError } from '../core/errors.ts';
import { otherNodeReason } from '../checks/context.ts';
import { checkNode, exitCodeFor, planFixes, type Check } from '../checks/index.ts';
import type { NodeExpectation } from '../checks/expectation.ts';
import { applyAction } from '../host/apply.ts';
import type { Host } from '../host/host.ts';
import type { NodeObservation } from '../host/observe.ts';

const MAX_ROUNDS = 3;

export interface DriftRun {
  readonly obs: NodeObservation;
  readonly checks: readonly Check[];
  readonly exit: 0 | 1 | 3;
  /** what --fix applied, one line each */
  readonly fixed: readonly string[];
  /** what --fix tried and could not apply, with why */
  readonly failed: readonly string[];
  /** the first round's mends (what --fix --dry-run prints) */
  readonly planned: readonly Action[];
}

export async function runDrift(opts: {
  readonly host: Host;
  readonly expect: NodeExpectation;
  /** observe the node; `etcd` given: reuse that answer instead of reading again */
  readonly observe: (etcd?: NodeObservation['etcd']) => Promise<NodeObservation>;
  readonly fix: boolean;
  /** only plan the first round's mends (--dry-run: a recording Host records them) */
  readonly planOnly?: boolean;
  readonly onAction?: (a: Action) => void;
}): Promise<DriftRun> {
  let obs = await opts.observe();
  const other = otherNodeReason(opts.expect, obs);
  if (other) throw new UsageError(other);
  let checks = checkNode(opts.expect, obs);
  const fixed: string[] = [];
  const failed: string[] = [];
  let planned: Action[] = [];
  if (!opts.fix || exitCodeFor(checks) === 0) return { obs, checks, exit: exitCodeFor(checks), fixed, failed, planned };
  const tried = new Set<string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // a mend that failed (or was applied and changed nothing) is not tried again in this run
    const actions = planFixes(checks).filter((a) => !tried.has(JSON.stringify(a)));
    if (round === 0) planned = actions;
    if (actions.length === 0) break;
    for (const a of actions) {
      tried.add(JSON.stringify(a));
      opts.onAction?.(a);
      try {
        await applyAction(a, opts.host);
        fixed.push(describeAction(a));
      } catch (e) {
        failed.push(`${describeAction(a)}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (opts.planOnly) break;
    obs = await opts.observe(obs.etcd);
    checks = checkNode(opts.expect, obs);
    if (exitCodeFor(checks) === 0) break;
  }
  return { obs, checks, exit: exitCodeFor(checks), fixed, failed, planned };
}
