// What a drift check returns, and what a check area is. A check has a stable id (README:
// drift checks), a status, ONE human line rendered from what it found, and a typed detail
// object: doctor reads the detail, never the line. A check that could not be made says what
// blocked it (etcd down, no usable config, a command that failed) in `blockedBy`.

import type { Action } from '../core/plan.ts';
import type { Blocker } from './blocker.ts';
import type { CheckContext } from './context.ts';

export type CheckStatus = 'ok' | 'drift' | 'error';

export interface Check<D = unknown> {
  /** stable id, e.g. `routes.peers` */
  readonly id: string;
  readonly status: CheckStatus;
  /** one line, rendered from the detail */
  readonly reason: string;
  /** what the check found, typed per check (its area module exports the type) */
  readonly detail?: D;
  readonly blockedBy?: Blocker;
  /** the actions that mend it, when that is safe (drift --fix) */
  readonly fix?: readonly Action[];
  /** the route, rule, key or line that shows it */
  readonly evidence?: readonly string[];
}

/** A check id bound to its detail type: `resultOf(checks, ROUTES_PEERS)` is typed. */
export interface CheckKey<D> {
  readonly id: string;
  /** phantom: carries D only */
  readonly detailType?: D;
}

export function checkKey<D>(id: string): CheckKey<D> {
  return { id };
}

export function resultOf<D>(checks: readonly Check[], key: CheckKey<D>): Check<D> | undefined {
  return checks.find((c) => c.id === key.id) as Check<D> | undefined;
}

/** The check when it is not ok. */
export function wrongOf<D>(checks: readonly Check[], key: CheckKey<D>): Check<D> | undefined {
  const c = resultOf(checks, key);
  return c && c.status !== 'ok' ? c : undefined;
}

/**
 * One area of the node (etcd, leases, routes, ...): the ids it reports, in report order, and
 * the function that judges them. `fixStage` orders the mends of all areas (lower first).
 */
export interface CheckArea {
  readonly name: string;
  readonly ids: readonly string[];
  readonly fixStage: number;
  run(ctx: CheckContext): Check[];
}

// ------------------------------------------------------------------ building results

export function ok<D>(id: string, reason: string, detail?: D, evidence?: readonly string[]): Check<D> {
  return { id, status: 'ok', reason, ...(detail !== undefined && { detail }), ...(evidence && { evidence }) };
}

export function drift<D>(
  id: string,
  reason: string,
  opts: { detail?: D; fix?: readonly Action[]; evidence?: readonly string[]; blockedBy?: Blocker } = {},
): Check<D> {
  return {
    id,
    status: 'drift',
    reason,
    ...(opts.detail !== undefined && { detail: opts.detail }),
    ...(opts.blockedBy && { blockedBy: opts.blockedBy }),
    ...(opts.fix?.length && { fix: opts.fix }),
    ...(opts.evidence && { evidence: opts.evidence }),
  };
}

/** The human words for a blocker, as the `could not check: ...` line says them. */
export function blockerText(b: Blocker): string {
  switch (b.kind) {
    case 'etcd':
      return 'etcd did not answer';
    case 'config':
      return 'no usable network config in etcd (see etcd.config)';
    case 'observation':
      return b.error;
    case 'iface':
      return `no interface ${b.iface}`;
  }
}

/** A check that could not be made. */
export function cannot(id: string, blockedBy: Blocker, why = blockerText(blockedBy)): Check<never> {
  return { id, status: 'error', reason: `could not check: ${why}`, blockedBy };
}

/** Checks whose subject etcd answered is known to be wrong only as a consequence of the config. */
export function consequence(ids: readonly string[], what: string, blockedBy: Blocker): Check<never>[] {
  return ids.map((id) => ({ id, status: 'drift', reason: what, blockedBy }));
}
