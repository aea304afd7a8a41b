// FLANNEL_RUNBOOK_TRACE=FILE: one JSON line per change made to the host or to etcd, so a test
// can prove that a second run changed nothing (not merely that it said so).

import { appendFileSync } from 'node:fs';

export function traceChange(kind: string, what: string): void {
  const trace = process.env.FLANNEL_RUNBOOK_TRACE;
  if (trace) appendFileSync(trace, `${JSON.stringify({ kind, what })}\n`);
}
