// The benchmark's arithmetic and parsers (pure): the stopwatch's lines into samples, samples
// into median/min/max, strace's execve log into a count of child processes, etcd's /metrics
// into range-read counters.

import type { EtcdApi } from '../../lib/model/lease.ts';

/** One timed run of one job of measure.sh. */
export interface Sample {
  readonly wallUs: number;
  readonly rssKb: number;
  readonly status: number;
}

/** Median, min and max of a set of runs. */
export interface Figure {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** A measured command: wall time (ms) and peak RSS (MB) over its runs, and their exit statuses. */
export interface Timing {
  readonly wallMs: Figure;
  readonly rssMb: Figure;
  readonly statuses: readonly number[];
  /** the machine's CPU busy % just before the block that measured it (other runs share the machine) */
  readonly busyPct?: number;
}

/** measure.sh's output: `LABEL WALL_US MAXRSS_KB STATUS` per line, grouped by label. */
export function parseSamples(stdout: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const l of stdout.split('\n')) {
    if (l.trim() === '') continue;
    const m = /^(\S+) (\d+) (\d+) (\d+)$/.exec(l.trim());
    if (!m) throw new Error(`measure.sh: unexpected line ${JSON.stringify(l)}`);
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), { wallUs: Number(m[2]), rssKb: Number(m[3]), status: Number(m[4]) }]);
  }
  return out;
}

export function figure(values: readonly number[]): Figure {
  if (values.length === 0) throw new Error('figure: no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s.at(-1)!, runs: s.length };
}

export function timing(samples: readonly Sample[]): Timing {
  return {
    wallMs: figure(samples.map((s) => s.wallUs / 1000)),
    rssMb: figure(samples.map((s) => s.rssKb / 1024)),
    statuses: samples.map((s) => s.status),
  };
}

/** A figure times k (a sampled loop extrapolated to every lease). */
export function scaled(f: Figure, k: number): Figure {
  return { median: f.median * k, min: f.min * k, max: f.max * k, runs: f.runs };
}

/** Marginal cost per item between two sizes, from the medians. */
export function slope(a: { n: number; ms: number }, b: { n: number; ms: number }): number {
  return (b.ms - a.ms) / (b.n - a.n);
}

/**
 * Child processes in an `strace -f -e trace=execve -o FILE` log: the processes (PIDs) that
 * ran a program (a successful execve), less the traced command itself. Failed execves (the
 * PATH search of execvp) do not count; threads never execve. strace splits a call that
 * another process interrupts into `execve(... <unfinished ...>` and `<... execve resumed>...`.
 */
export function countChildProcesses(log: string): { count: number; programs: string[] } {
  const ran = new Map<string, string>();
  const pending = new Map<string, string>();
  for (const line of log.split('\n')) {
    const call = /^(\d+) +execve\("([^"]*)"/.exec(line);
    const resumed = /^(\d+) +<\.\.\. execve resumed>/.exec(line);
    const pid = call?.[1] ?? resumed?.[1];
    if (pid === undefined) continue;
    const program = call ? call[2]! : pending.get(pid);
    if (call && / <unfinished \.\.\.>$/.test(line)) {
      pending.set(pid, call[2]!);
      continue;
    }
    pending.delete(pid);
    if (/ = 0$/.test(line) && program !== undefined && !ran.has(pid)) ran.set(pid, program);
  }
  const programs = [...ran.values()];
  return { count: Math.max(0, programs.length - 1), programs: programs.slice(1) };
}

/** Prometheus text: `name{labels} value` lines into a map keyed by `name{labels}`. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    const v = Number(line.slice(at + 1));
    if (Number.isFinite(v)) out.set(line.slice(0, at), v);
  }
  return out;
}

/**
 * The server-side counter of reads through one API: v3 ranges served by the MVCC store
 * (`etcd_debugging_mvcc_range_total`), v2 reads of the v2 store (`get` and `getRecursive`:
 * etcd 3.4 counts one v2 GET as two, the read itself and its auth check's read of
 * /2/enabled, so the bench calibrates with one curl GET counted the same way).
 */
export function rangeReads(metrics: Map<string, number>, api: EtcdApi): number {
  if (api === 'v3')
    return metrics.get('etcd_debugging_mvcc_range_total') ?? metrics.get('etcd_mvcc_range_total') ?? NaN;
  return (
    (metrics.get('etcd_debugging_store_reads_total{action="get"}') ?? 0) +
    (metrics.get('etcd_debugging_store_reads_total{action="getRecursive"}') ?? 0)
  );
}

export const METRIC_NAMES: Record<EtcdApi, string> = {
  v2: 'etcd_debugging_store_reads_total{action="get"|"getRecursive"}',
  v3: 'etcd_debugging_mvcc_range_total',
};

/**
 * The gRPC payload bytes one member received from and sent to its clients (the v3 API):
 * `etcd_network_client_grpc_{received,sent}_bytes_total`. Messages only: neither TLS nor
 * HTTP/2 framing is in them. etcd 3.4 has no such counter for the v2 HTTP API.
 */
export function grpcBytes(metrics: Map<string, number>): { received: number; sent: number } {
  return {
    received: metrics.get('etcd_network_client_grpc_received_bytes_total') ?? NaN,
    sent: metrics.get('etcd_network_client_grpc_sent_bytes_total') ?? NaN,
  };
}

/**
 * What one member applied: v3 puts (`etcd_debugging_mvcc_put_total`), lease grants and
 * keep-alives (`etcd_debugging_lease_{granted,renewed}_total`), v2 store writes
 * (`etcd_debugging_store_writes_total`, every action). Every member applies every write
 * (raft): a cluster's count is one member's, not the sum.
 */
export function writeCounters(metrics: Map<string, number>): {
  puts: number;
  grants: number;
  renewals: number;
  v2Writes: number;
} {
  let v2Writes = 0;
  for (const [k, v] of metrics) if (k.startsWith('etcd_debugging_store_writes_total{')) v2Writes += v;
  return {
    puts: metrics.get('etcd_debugging_mvcc_put_total') ?? metrics.get('etcd_mvcc_put_total') ?? NaN,
    grants: metrics.get('etcd_debugging_lease_granted_total') ?? NaN,
    renewals: metrics.get('etcd_debugging_lease_renewed_total') ?? NaN,
    v2Writes,
  };
}
