// flanneld's log, read as doctor needs it: where its last run starts, which known errors still
// go on (a repeating one seen lately with no success after it, a fatal one of this run), the
// routes it failed to add and the leases it took over. Pure.

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

export interface FlanneldLogState {
  /** the lines of flanneld's last run */
  readonly lines: readonly LogLine[];
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

/** What flanneld's log says now: only its last run counts, and only errors that still go on. */
export function analyseFlanneldLog(text: string, now: Date, freshSeconds = 60): FlanneldLogState {
  const all = text.split('\n').filter((l) => l.trim() !== '');
  let start = 0;
  all.forEach((raw, i) => {
    if (START.test(raw)) start = i;
  });
  const lines = all.slice(start).map(parseLogLine);
  const current = new Map<string, { line: LogLine; known: KnownLogError }>();
  const routeErrors: { subnet: string; line: LogLine }[] = [];
  const takeovers: { subnet: string; line: LogLine }[] = [];
  let lastSuccess = -1;
  const seenAt = new Map<string, number>();
  lines.forEach((line, i) => {
    if (SUCCESS.test(line.raw)) lastSuccess = i;
    const tk = TAKEOVER.exec(line.message);
    if (tk) takeovers.push({ subnet: tk[1]!, line });
    const known = KNOWN_LOG_ERRORS.find((k) => k.pattern.test(line.message) || k.pattern.test(line.raw));
    if (!known) return;
    if (known.id === 'route-unreachable') {
      const r = ROUTE_ERROR.exec(line.message);
      if (r) routeErrors.push({ subnet: r[1]!, line });
    } else if (REPEATING.has(known.id)) {
      const t = glogTime(line.raw, now);
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
  return { lines, current, routeErrors, takeovers };
}
