// Executing a plan (core/plan.ts) through a Host: one Host operation per action, in order,
// stopping at the first failure as `set -e` would. A failure after something was changed is
// a RuntimeError (exit 3) that says what was already changed, whatever failed underneath:
// the operator must not read "nothing was changed" into it.

import { describeAction, type Action } from '../core/plan.ts';
import { RuntimeError } from '../core/errors.ts';
import type { Host } from './host.ts';

export async function applyAction(a: Action, host: Host): Promise<void> {
  switch (a.kind) {
    case 'run':
      await host.run(a.cmd);
      return;
    case 'write':
      await host.writeFile(a.path, a.content, { mode: a.mode, why: a.why });
      return;
    case 'mkdir':
      await host.mkdir(a.path, { mode: a.mode, why: a.why });
      return;
    case 'copy':
      await host.copyFile(a.from, a.to, { mode: a.mode, why: a.why });
      return;
    case 'link':
      await host.symlink(a.target, a.path, { why: a.why });
      return;
    case 'rename':
      await host.rename(a.from, a.to, { why: a.why });
      return;
    case 'remove':
      await host.remove(a.path, { recursive: a.recursive, why: a.why });
      return;
    case 'capture':
      await host.writeOutput(a.cmd, a.path, { mode: a.mode, expect: a.expect, why: a.why });
      return;
  }
}

/** A failure part-way through a plan: what failed, and what had been changed before it. */
export class PartlyAppliedError extends RuntimeError {
  constructor(
    readonly cause: unknown,
    readonly done: readonly string[],
  ) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(done.length ? `${msg}; already changed before the failure: ${done.join('; ')}` : msg);
    this.name = 'PartlyAppliedError';
  }
}

/**
 * Apply the actions in order; `onAction` hears each one as it starts (progress). Returns the
 * human lines of what was done. The first failure stops the plan: with nothing done yet its
 * own error is thrown as it is; after a change, a PartlyAppliedError (exit 3).
 */
export async function applyPlan(
  actions: readonly Action[],
  host: Host,
  onAction?: (a: Action) => void,
): Promise<string[]> {
  const done: string[] = [];
  for (const a of actions) {
    onAction?.(a);
    try {
      await applyAction(a, host);
    } catch (e) {
      if (done.length === 0) throw e;
      throw new PartlyAppliedError(e, done);
    }
    done.push(describeAction(a));
  }
  return done;
}
