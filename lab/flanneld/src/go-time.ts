// Go's time values as flanneld prints them: a nanosecond wall clock (BigInt), time.Duration's
// String() ("22h59m59.99s"), time.Time's String() (with the monotonic "m=+..." reading v0.20.2
// logs), RFC 3339 parsing of etcd v2's "expiration".

// A nanosecond wall clock: Date.now() at start plus the monotonic clock since then.
const startWallNs = BigInt(Date.now()) * 1000000n;
const startMonoNs = process.hrtime.bigint();
/** Unix time in nanoseconds. */
export const nowNs = (): bigint => startWallNs + (process.hrtime.bigint() - startMonoNs);

export const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** Go's time.Duration.String() for an int64 nanosecond count (BigInt). */
export function goDuration(d: bigint): string {
  d = BigInt.asIntN(64, d);
  if (d === 0n) return '0s';
  const neg = d < 0n;
  let u = neg ? -d : d;
  if (d === -(1n << 63n)) u = 1n << 63n;
  const frac = (v: bigint, prec: number): [string, bigint] => {
    let digits = '';
    let print = false;
    for (let i = 0; i < prec; i++) {
      const digit = v % 10n;
      print = print || digit !== 0n;
      if (print) digits = String(digit) + digits;
      v /= 10n;
    }
    return [print ? `.${digits}` : '', v];
  };
  let out: string;
  if (u < 1000000000n) {
    let prec: number;
    let unit: string;
    if (u < 1000n) [prec, unit] = [0, 'ns'];
    else if (u < 1000000n) [prec, unit] = [3, 'µs'];
    else [prec, unit] = [6, 'ms'];
    const [f, rest] = frac(u, prec);
    out = `${rest}${f}${unit}`;
  } else {
    const [f, secs] = frac(u, 9);
    let s = `${secs % 60n}${f}s`;
    const mins = secs / 60n;
    if (mins > 0n) {
      s = `${mins % 60n}m${s}`;
      const hours = mins / 60n;
      if (hours > 0n) s = `${hours}h${s}`;
    }
    out = s;
  }
  return neg ? `-${out}` : out;
}

/** Parses an RFC 3339 time with up to 9 fractional digits into Unix nanoseconds (BigInt). */
export function parseRfc3339Ns(s: string | undefined): bigint | null {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s || '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  let ns = BigInt(ms) * 1000000n + BigInt((m[7] || '').padEnd(9, '0') || '0');
  if (m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1n : 1n;
    const off = BigInt(+m[8].slice(1, 3) * 60 + +m[8].slice(4, 6)) * 60n * 1000000000n;
    ns -= sign * off;
  }
  return ns;
}

/** Go's time.Time.String() of a UTC time (as parsed from etcd's "expiration"). */
export function goTimeUTC(ns: bigint): string {
  const d = new Date(Number(ns / 1000000n));
  let frac = String(((ns % 1000000000n) + 1000000000n) % 1000000000n)
    .padStart(9, '0')
    .replace(/0+$/, '');
  if (frac) frac = `.${frac}`;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac} +0000 UTC`;
}

/** Go's time.Time in RFC 3339 (seconds), as x509 errors print it. */
export const goTimeRFC3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Go's time.Time.String() of time.Now().Add(d): UTC here, with the monotonic reading m=+secs. */
export function goTimeWithMono(ns: bigint): string {
  const mono = process.hrtime.bigint() - startMonoNs + (ns - nowNs());
  const secs = `${mono / 1000000000n}.${String(mono % 1000000000n).padStart(9, '0')}`;
  return `${goTimeUTC(ns)} m=+${secs}`;
}
