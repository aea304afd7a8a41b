// flanneld's log, read as doctor needs it: every run in it (supervisord's rotated files come
// first, oldest to newest) with how each ended, which known errors of the last run still go on
// (a repeating one seen lately with no success after it, a fatal one of this run), the routes it
// failed to add, the leases it took over, and the etcd errors it logged lately. Pure.

import { KNOWN_LOG_ERRORS, parseLogLine, type KnownLogError, type LogLine } from '../model/flanneld-log.ts';

/** A new flanneld run starts with one of these (v0.11: interface lines; v0.20: CLI flags). */
const START =
  /\] (Using interface with name|Determining IP address of default interface|Searching for interface using|CLI flags config|Could not find valid interface matching)/;
/** flanneld got through to etcd after an error: the error is over. */
const SUCCESS =
  /\] (Found network config|Lease renewed|Wrote subnet file|Subnet added|Subnet removed|Found lease|Allocated lease|Found previously leased subnet)/;
/** errors flanneld repeats every second while they last */
const REPEATING = new Set([
  'config-v2-missing',
  'config-v3-missing',
  'etcd-v2-disabled',
  'tls-unknown-ca',
  'tls-bad-certificate',
  'tls-scheme',
  'etcd-unreachable',
]);
/** errors that end the run */
export const FATAL = new Set(['iface-missing', 'healthz-port-busy', 'lease-revoked', 'hostgw-nat', 'panic']);
const TAKEOVER = /Found lease \((\S+)\) matching previously leased subnet, reusing/;
const ROUTE_ERROR = /Error adding route to (\S+)/;

/** One flanneld process's lines in the log: from its start line to the next start. */
export interface LogRun {
  readonly lines: readonly LogLine[];
  /** when its first and last timed line were written */
  readonly startedAt?: Date;
  readonly lastAt?: Date;
  /** the fatal line that ended it (lease revoked, interface missing, a panic, ...), when one did */
  readonly end?: { readonly line: LogLine; readonly known: KnownLogError; readonly at?: Date };
}

export interface FlanneldLogState {
  /** the lines of flanneld's last run */
  readonly lines: readonly LogLine[];
  /** every run the log holds, oldest first (the last is the current one) */
  readonly runs: readonly LogRun[];
  /** etcd errors of the last run in the last `freshSeconds` (the newest per id), over or not */
  readonly recentEtcdErrors: readonly { readonly line: LogLine; readonly known: KnownLogError; readonly at?: Date }[];
  /** known errors still going on: repeating ones seen lately with no success after, fatal ones of this run */
  readonly current: ReadonlyMap<string, { readonly line: LogLine; readonly known: KnownLogError }>;
  /** `Error adding route to SUBNET ...` in this run */
  readonly routeErrors: readonly { readonly subnet: string; readonly line: LogLine }[];
  /** `Found lease (SUBNET) matching previously leased subnet, reusing`: this flanneld took a live lease over */
  readonly takeovers: readonly { readonly subnet: string; readonly line: LogLine }[];
}

/** glog's `I1126 12:18:29.817824` in local time, in the year that puts it closest before `now`. */
export function glogTime(raw: string, now: Date): Date | undefined {
  const m = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,6})/.exec(raw);
  if (!m) return undefined;
  const [mo, d, h, mi, s, frac] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = (y: number) => new Date(y, mo - 1, d, h, mi, s, Math.floor(frac / 10 ** (m[6]!.length - 3)));
  const t = at(now.getFullYear());
  return t.getTime() - now.getTime() > 86_400_000 ? at(now.getFullYear() - 1) : t;
}

const ETCD_ERRORS = new Set([
  'etcd-v2-disabled',
  'tls-unknown-ca',
  'tls-bad-certificate',
  'tls-scheme',
  'etcd-unreachable',
]);
const knownOf = (line: LogLine) =>
  KNOWN_LOG_ERRORS.find((k) => k.pattern.test(line.message) || k.pattern.test(line.raw));

/** The runs of a log, oldest first: a new one begins at each start line. */
function splitRuns(all: readonly string[], now: Date): LogRun[] {
  const starts: number[] = [];
  all.forEach((raw, i) => {
    if (START.test(raw)) starts.push(i);
  });
  if (starts[0] !== 0) starts.unshift(0);
  return starts.map((from, k) => {
    const lines = all.slice(from, starts[k + 1] ?? all.length).map(parseLogLine);
    const times = lines.map((l) => glogTime(l.raw, now)).filter((t): t is Date => t !== undefined);
    let end: LogRun['end'];
    for (const line of lines) {
      const known = knownOf(line);
      // the first fatal line says why (a panic that follows it is its consequence)
      if (known && FATAL.has(known.id) && !end) {
        const at = glogTime(line.raw, now);
        end = { line, known, ...(at && { at }) };
      }
    }
    return {
      lines,
      ...(times.length && { startedAt: times[0]!, lastAt: times.at(-1)! }),
      ...(end && { end }),
    };
  });
}

/**
 * What flanneld's log says now: every run, and of the last run only errors that still go on.
 * `restarting` (supervisord's STARTING or BACKOFF): the last run may have just begun and said
 * nothing yet, so when it has logged no fatal line, the fatal line that ended the run before
 * it is current: that is why it is being restarted.
 */
export function analyseFlanneldLog(
  text: string,
  now: Date,
  opts: { freshSeconds?: number; restarting?: boolean } = {},
): FlanneldLogState {
  const freshSeconds = opts.freshSeconds ?? 60;
  const all = text.split('\n').filter((l) => l.trim() !== '');
  const runs = splitRuns(all, now);
  const lines = runs.at(-1)?.lines ?? [];
  const recent = new Map<string, { line: LogLine; known: KnownLogError; at?: Date }>();
  const current = new Map<string, { line: LogLine; known: KnownLogError }>();
  const routeErrors: { subnet: string; line: LogLine }[] = [];
  const takeovers: { subnet: string; line: LogLine }[] = [];
  let lastSuccess = -1;
  const seenAt = new Map<string, number>();
  lines.forEach((line, i) => {
    if (SUCCESS.test(line.raw)) lastSuccess = i;
    const tk = TAKEOVER.exec(line.message);
    if (tk) takeovers.push({ subnet: tk[1]!, line });
    const known = knownOf(line);
    if (!known) return;
    if (known.id === 'route-unreachable') {
      const r = ROUTE_ERROR.exec(line.message);
      if (r) routeErrors.push({ subnet: r[1]!, line });
    } else if (REPEATING.has(known.id)) {
      const t = glogTime(line.raw, now);
      if (ETCD_ERRORS.has(known.id) && t && (now.getTime() - t.getTime()) / 1000 <= freshSeconds) {
        recent.delete(known.id);
        recent.set(known.id, { line, known, at: t });
      }
      current.delete(known.id);
      if (t === undefined || (now.getTime() - t.getTime()) / 1000 <= freshSeconds)
        current.set(known.id, { line, known });
      seenAt.set(known.id, i);
    } else if (FATAL.has(known.id)) {
      current.set(known.id, { line, known });
    }
  });
  // a repeating error followed by a success is over
  for (const id of current.keys()) if (REPEATING.has(id) && lastSuccess > seenAt.get(id)!) current.delete(id);
  const died = runs.at(-2)?.end;
  if (opts.restarting && died && !runs.at(-1)?.end && lastSuccess < 0) current.set(died.known.id, died);
  return { lines, runs, recentEtcdErrors: [...recent.values()], current, routeErrors, takeovers };
}
