// How a drift run is told: the human report, the Prometheus textfile for node_exporter's
// textfile collector (written atomically: node_exporter must never read half a file), the
// lock that keeps two cron runs from overlapping.

import {
  closeSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  mkdirSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { Check } from './drift.ts';

const MARK: Record<Check['status'], string> = { ok: 'ok   ', drift: 'DRIFT', error: 'ERROR' };

/** Problems first, one line each; with `all`, the ok checks too. */
export function formatDriftReport(
  node: string,
  checks: readonly Check[],
  exit: number,
  opts: { all?: boolean; fixed?: readonly string[] } = {},
): string {
  const shown = checks.filter((c) => opts.all || c.status !== 'ok');
  const counts = { ok: 0, drift: 0, error: 0 };
  for (const c of checks) counts[c.status]++;
  const head = exit === 0 ? 'in sync' : exit === 1 ? 'DRIFT' : 'COULD NOT CHECK';
  return [
    `drift ${node}: ${head} (${counts.ok} ok, ${counts.drift} drift, ${counts.error} could not check)`,
    ...shown.map(
      (c) =>
        `  ${MARK[c.status]} ${c.id.padEnd(20)} ${c.reason}${c.status === 'drift' && c.fix ? ' [--fix mends it]' : ''}`,
    ),
    ...(opts.fixed?.length ? ['fixed:', ...opts.fixed.map((f) => `  ${f}`)] : []),
  ].join('\n');
}

const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** Prometheus text format: one gauge per check (1 ok, 0 drift, -1 could not check), last run, duration, exit. */
export function formatTextfile(
  node: string,
  checks: readonly Check[],
  exit: number,
  at: Date,
  durationSeconds: number,
): string {
  const n = escapeLabel(node);
  const value = (c: Check) => (c.status === 'ok' ? 1 : c.status === 'drift' ? 0 : -1);
  return [
    '# HELP flannel_runbook_check 1 when the check is in sync, 0 on drift, -1 when it could not be checked.',
    '# TYPE flannel_runbook_check gauge',
    ...checks.map((c) => `flannel_runbook_check{node="${n}",check="${escapeLabel(c.id)}"} ${value(c)}`),
    '# HELP flannel_runbook_drift_exit_code Exit code of the last drift run (0 in sync, 1 drift, 3 could not check).',
    '# TYPE flannel_runbook_drift_exit_code gauge',
    `flannel_runbook_drift_exit_code{node="${n}"} ${exit}`,
    '# HELP flannel_runbook_drift_last_run_timestamp_seconds When the last drift run ended.',
    '# TYPE flannel_runbook_drift_last_run_timestamp_seconds gauge',
    `flannel_runbook_drift_last_run_timestamp_seconds{node="${n}"} ${(at.getTime() / 1000).toFixed(3)}`,
    '# HELP flannel_runbook_drift_duration_seconds Wall time of the last drift run.',
    '# TYPE flannel_runbook_drift_duration_seconds gauge',
    `flannel_runbook_drift_duration_seconds{node="${n}"} ${durationSeconds.toFixed(3)}`,
    '',
  ].join('\n');
}

export function writeAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

/**
 * Take the lock file (O_EXCL, our pid inside). A lock whose pid is gone is stale and taken
 * over. Returns a release function, or the pid that holds it.
 */
export function takeLock(path: string): { release: () => void } | { heldBy: number } {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release: () => {
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
          } catch {
            /* gone already */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(path, 'utf8').trim());
      let alive = false;
      try {
        if (pid > 0) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) return { heldBy: pid };
      unlinkSync(path); // stale: its run died without releasing it
    }
  }
  return { heldBy: -1 };
}
