// How a drift run is told: the human report, and the Prometheus text for node_exporter's
// textfile collector (the script writes it through the Host, atomically: node_exporter must
// never read half a file). Pure.

import type { NodeReport } from '../host/status-store.ts';
import type { Check } from './types.ts';

const MARK: Record<Check['status'], string> = { ok: 'ok   ', drift: 'DRIFT', error: 'ERROR' };

/** Problems first, one line each; with `all`, the ok checks too. */
export function formatDriftReport(
  node: string,
  checks: readonly Check[],
  exit: number,
  opts: { all?: boolean; fixed?: readonly string[]; failed?: readonly string[] } = {},
): string {
  // the checks etcd's silence blocked are one line under etcd.reachable, which names the cause
  const etcdDown = checks.some((c) => c.id === 'etcd.reachable' && c.status === 'error');
  const blocked = (c: Check) =>
    etcdDown && c.status === 'error' && c.id !== 'etcd.reachable' && c.blockedBy?.kind === 'etcd';
  const shown = checks.filter((c) => (opts.all || c.status !== 'ok') && !blocked(c));
  const waiting = checks.filter(blocked).map((c) => c.id);
  const counts = { ok: 0, drift: 0, error: 0 };
  for (const c of checks) counts[c.status]++;
  const head = exit === 0 ? 'in sync' : exit === 1 ? 'DRIFT' : 'COULD NOT CHECK';
  const line = (c: Check) =>
    `  ${MARK[c.status]} ${c.id.padEnd(20)} ${c.reason}${c.status === 'drift' && c.fix ? ' [--fix mends it]' : ''}`;
  return [
    `drift ${node}: ${head} (${counts.ok} ok, ${counts.drift} drift, ${counts.error} could not check)`,
    ...shown.flatMap((c) =>
      c.id === 'etcd.reachable' && waiting.length
        ? [line(c), `  ${MARK.error} ${'(needs etcd)'.padEnd(20)} not checked: ${waiting.join(', ')}`]
        : [line(c)],
    ),
    ...(opts.fixed?.length ? ['fixed:', ...opts.fixed.map((f) => `  ${f}`)] : []),
    ...(opts.failed?.length ? ['could not fix:', ...opts.failed.map((f) => `  ${f}`)] : []),
  ].join('\n');
}

const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** One node's run, as the textfile tells it. */
export interface TextfileRun {
  readonly node: string;
  readonly checks: readonly Check[];
  readonly exit: number;
  readonly durationSeconds: number;
  readonly overlaps?: number;
}

/** Prometheus text format: one gauge per check (1 ok, 0 drift, -1 could not check), last run, duration, exit. */
export function formatTextfile(
  node: string,
  checks: readonly Check[],
  exit: number,
  at: Date,
  durationSeconds: number,
  overlaps = 0,
): string {
  return formatTextfileRuns([{ node, checks, exit, durationSeconds, overlaps }], at);
}

/** The textfile of several nodes' runs (drift --all-nodes): each metric once, a sample per node. */
export function formatTextfileRuns(runs: readonly TextfileRun[], at: Date): string {
  const value = (c: Check) => (c.status === 'ok' ? 1 : c.status === 'drift' ? 0 : -1);
  const metric = (name: string, type: string, help: string, samples: (r: TextfileRun, n: string) => string[]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...runs.flatMap((r) => samples(r, escapeLabel(r.node))),
  ];
  const ts = (at.getTime() / 1000).toFixed(3);
  return [
    ...metric(
      'flannel_runbook_check',
      'gauge',
      '1 when the check is in sync, 0 on drift, -1 when it could not be checked.',
      (r, n) => r.checks.map((c) => `flannel_runbook_check{node="${n}",check="${escapeLabel(c.id)}"} ${value(c)}`),
    ),
    ...metric(
      'flannel_runbook_drift_exit_code',
      'gauge',
      'Exit code of the last drift run (0 in sync, 1 drift, 3 could not check).',
      (r, n) => [`flannel_runbook_drift_exit_code{node="${n}"} ${r.exit}`],
    ),
    ...metric(
      'flannel_runbook_drift_last_run_timestamp_seconds',
      'gauge',
      'When the last drift run ended.',
      (_r, n) => [`flannel_runbook_drift_last_run_timestamp_seconds{node="${n}"} ${ts}`],
    ),
    ...metric('flannel_runbook_drift_duration_seconds', 'gauge', 'Wall time of the last drift run.', (r, n) => [
      `flannel_runbook_drift_duration_seconds{node="${n}"} ${r.durationSeconds.toFixed(3)}`,
    ]),
    ...metric(
      'flannel_runbook_drift_overlaps_total',
      'counter',
      'Runs that found another drift run holding the lock and skipped (cron overlap).',
      (r, n) => [`flannel_runbook_drift_overlaps_total{node="${n}"} ${r.overlaps ?? 0}`],
    ),
    '',
  ].join('\n');
}

// ------------------------------------------------------------------ the fleet (drift --publish)

export interface FleetRow {
  readonly node: string;
  readonly state: 'in sync' | 'DRIFT' | 'CANNOT CHECK' | 'STALE' | 'NO REPORT';
  readonly age: string;
  readonly detail: string;
}

/** One row per node of the cluster (and per reporting node not in it), stale ones marked. */
export function fleetTable(
  reports: readonly NodeReport[],
  clusterNodes: readonly string[],
  now: Date,
  staleAfterSeconds: number,
): FleetRow[] {
  const byNode = new Map(reports.map((r) => [r.node, r]));
  const names = [...new Set([...clusterNodes, ...reports.map((r) => r.node)])].sort();
  return names.map((node) => {
    const r = byNode.get(node);
    if (!r)
      return {
        node,
        state: 'NO REPORT',
        age: '-',
        detail: 'no report in etcd: drift --publish not running there, or its report expired',
      };
    const ageS = Math.max(0, Math.round((now.getTime() - Date.parse(r.at)) / 1000));
    const age = ageS < 120 ? `${ageS}s` : ageS < 7200 ? `${Math.round(ageS / 60)}m` : `${Math.round(ageS / 3600)}h`;
    const detail = r.problems.length
      ? r.problems.map((p) => `${p.id}: ${p.reason}`).join('; ')
      : `${r.checks} checks ok`;
    if (ageS > staleAfterSeconds)
      return { node, state: 'STALE', age, detail: `last report ${age} ago (exit ${r.exit}): ${detail}` };
    return { node, state: r.exit === 0 ? 'in sync' : r.exit === 1 ? 'DRIFT' : 'CANNOT CHECK', age, detail };
  });
}
