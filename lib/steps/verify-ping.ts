// Runbook step 5, verify-ping: every route checked against the leases, every remote subnet
// probed, one row per target with the reason when it fails.
//   routeVerdict(...)  -> is the route to a target what its lease says (pure)
//   probeTargets(...)  -> the probes, through the Host: one fping for every target when fping
//                         is installed (--prober auto), else one ping per target in parallel
//                         (bounded); the same results either way, but for the TTL
//                         (docs/verify-ping-prober.md)
//   pingRows(...)      -> the rows (pure)
//   defaultTargets(...) -> without --targets: a pod of each peer that drift --publish named
//                         (behind the peer's FORWARD chain), else the peer's bridge, which
//                         proves the route but not FORWARD (pure)

import { Ip4 } from '../core/ip4.ts';
import { mapBounded } from '../core/map-bounded.ts';
import type { Lease } from '../model/lease.ts';
import type { NetworkConfig } from '../model/netconfig.ts';
import {
  fpingCommand,
  fpingMissing,
  fpingRefusedOptions,
  fpingSendCheckCommand,
  parseFpingOutput,
  parseFpingSendErrors,
  parsePingOutput,
  pingCommand,
  type PingOptions,
  type PingResult,
} from '../model/ping.ts';
import { CommandError } from '../core/errors.ts';
import { formatRoute, routeEqual, type Route } from '../model/routes.ts';
import { formatTable } from '../core/table.ts';
import type { Result } from '../core/command.ts';
import type { Host } from '../host/host.ts';
import type { NodeReport } from '../host/status-store.ts';

export interface Row {
  target: string;
  node: string;
  route: string;
  loss: number | null;
  rttMs: number | null;
  ttl: number | null;
  ok: boolean;
  reason: string;
}

export interface RouteVerdict {
  readonly node: string;
  readonly route: string;
  readonly ok: boolean;
}

export function routeVerdict(
  ip: Ip4,
  o: {
    readonly leases: readonly Lease[];
    readonly config: NetworkConfig;
    readonly publicIp: Ip4;
    readonly desired: readonly Route[];
    readonly actual: readonly Route[];
  },
): RouteVerdict {
  const lease = o.leases.find((l) => l.subnet.contains(ip));
  if (!lease)
    return {
      node: '-',
      route: o.config.network.contains(ip) ? 'no lease for it' : 'outside the flannel network',
      ok: !o.config.network.contains(ip),
    };
  if (lease.publicIp.equals(o.publicIp)) return { node: `${lease.publicIp} (this node)`, route: 'local', ok: true };
  const want = o.desired.find((d) => d.dst.equals(lease.subnet));
  const have = o.actual.find((a) => a.dst.equals(lease.subnet));
  const node = lease.publicIp.toString();
  if (!want) return { node, route: `lease backend ${lease.backendType}, not ${o.config.backend.type}`, ok: false };
  if (!have) return { node, route: `MISSING: want ${formatRoute(want)}`, ok: false };
  if (!routeEqual(have, want))
    return { node, route: `WRONG: ${formatRoute(have)}; want ${formatRoute(want)}`, ok: false };
  return { node, route: formatRoute(have), ok: true };
}

/** Which prober: fping when installed (auto), or the one asked for. */
/** Explicit --targets in one run: 10,000 took 80 s; the lease-derived list is the cluster's own size. */
export const MAX_TARGETS = 1024;

export type ProberChoice = 'auto' | 'fping' | 'ping';
export type Prober = 'fping' | 'ping';

/** One ping process per target, at most `concurrency` at once. */
export async function pingTargets(
  host: Host,
  targets: readonly Ip4[],
  opts: PingOptions & { readonly concurrency: number },
): Promise<PingResult[]> {
  return mapBounded(targets, opts.concurrency, async (ip) => {
    const out = await host.run(pingCommand(ip.toString(), opts));
    try {
      return parsePingOutput(`${out.stdout}\n${out.stderr}`);
    } catch {
      return { transmitted: 0, received: 0, loss: 100, error: (out.stderr || out.stdout).trim().split('\n')[0] };
    }
  });
}

/** fping's answer, or undefined when there is no fping to run. */
async function runFping(host: Host, cmd: Parameters<Host['run']>[0]): Promise<Result | undefined> {
  try {
    const out = await host.run(cmd);
    return fpingMissing(out.stderr) ? undefined : out;
  } catch (e) {
    // the Host's "not found in PATH" (spawn's ENOENT, a shell's 127)
    if (e instanceof CommandError && e.status === 127) return undefined;
    throw e;
  }
}

/**
 * Every target from one fping process; undefined when fping is not installed. A target given
 * twice is probed once. Targets whose probes never left (no reply, no ICMP error, no timeout
 * seen) are asked once more, in fping's default mode, for the reason the kernel gave.
 */
export async function fpingTargets(
  host: Host,
  targets: readonly Ip4[],
  opts: PingOptions,
): Promise<PingResult[] | undefined> {
  const uniq = [...new Set(targets.map((t) => t.toString()))];
  let out = await runFping(host, fpingCommand(uniq, opts, 0));
  // fping before 3.14 takes no `-i 0`
  if (out && fpingRefusedOptions(out.stderr)) out = await runFping(host, fpingCommand(uniq, opts, 1));
  if (!out) return undefined;
  const got = parseFpingOutput(out.stdout, out.stderr, uniq);
  const unsent = uniq.filter((t) => {
    const r = got.get(t)!;
    return r.received === 0 && !r.icmpError && !r.timedOut;
  });
  const sendErrors = new Map<string, string>();
  if (unsent.length) {
    const check = await runFping(host, fpingSendCheckCommand(unsent, opts.fromNetns));
    if (check) for (const [t, e] of parseFpingSendErrors(`${check.stdout}\n${check.stderr}`)) sendErrors.set(t, e);
  }
  return targets.map((ip) => {
    const { timedOut: _, ...r } = got.get(ip.toString())!;
    const error = sendErrors.get(ip.toString());
    return error ? { ...r, error } : r;
  });
}

/** Probe every target with the chosen prober (auto: fping when it is installed, else ping). */
export async function probeTargets(
  host: Host,
  targets: readonly Ip4[],
  opts: PingOptions & { readonly concurrency: number; readonly prober: ProberChoice },
): Promise<{ readonly prober: Prober; readonly results: PingResult[] }> {
  if (targets.length === 0) return { prober: opts.prober === 'fping' ? 'fping' : 'ping', results: [] };
  if (opts.prober !== 'ping') {
    const results = await fpingTargets(host, targets, opts);
    if (results) return { prober: 'fping', results };
    if (opts.prober === 'fping')
      throw new CommandError(
        ['fping'],
        127,
        '',
        'fping not found in PATH: install it (Debian: apt-get install fping; CentOS 7: yum install epel-release && yum install fping), or use --prober ping',
      );
  }
  return { prober: 'ping', results: await pingTargets(host, targets, opts) };
}

export function pingRows(
  targets: readonly Ip4[],
  verdicts: readonly RouteVerdict[],
  results: readonly PingResult[],
): Row[] {
  return targets.map((ip, i) => {
    const rv = verdicts[i]!;
    const r = results[i]!;
    const answered = r.received > 0;
    const reasons = [
      !rv.ok ? rv.route : '',
      !answered ? (r.icmpError ?? r.error ?? `no reply (${r.loss}% loss)`) : '',
    ].filter(Boolean);
    return {
      target: ip.toString(),
      node: rv.node,
      route: rv.route,
      loss: r.loss,
      rttMs: r.rttAvgMs ?? null,
      ttl: r.ttl ?? null,
      ok: rv.ok && answered,
      reason: reasons.join('; ') || 'ok',
    };
  });
}

export interface DefaultTarget {
  readonly ip: Ip4;
  /** 'pod': a pod the peer published; 'bridge': its bridge address (no pod known) */
  readonly kind: 'pod' | 'bridge';
}

/**
 * One target per peer lease. A ping of a peer's bridge never crosses the peer's FORWARD chain
 * (the bridge address is the peer's own: INPUT), so a DROP there goes unseen; a pod behind it
 * does cross it. The pod comes from the peer's last published drift result (its bridge's
 * neighbours), matched by public IP and inside the lease's subnet.
 */
export function defaultTargets(peers: readonly Lease[], reports: readonly NodeReport[]): DefaultTarget[] {
  return peers.map((l) => {
    const r = reports.find((x) => x.publicIp === l.publicIp.toString());
    const pod = (r?.pods ?? []).find((p) => /^\d{1,3}(\.\d{1,3}){3}$/.test(p) && l.subnet.contains(Ip4.parse(p)));
    return pod ? { ip: Ip4.parse(pod), kind: 'pod' } : { ip: l.subnet.firstHost(), kind: 'bridge' };
  });
}

/** What a run found: the rows, the routes no target exercised, the peers reached only at their bridge. */
export interface VerifyOutcome {
  readonly ok: boolean;
  readonly prober: string;
  readonly rows: readonly Row[];
  readonly bridgeOnly: readonly string[];
  readonly unrouted: readonly (Route & { readonly why: string })[];
}

/** `--json`: the rows, and each route problem as its line and why. */
export function verifyJson(o: VerifyOutcome): object {
  const { unrouted, ...rest } = o;
  return { ...rest, routeProblems: unrouted.map((r) => ({ route: formatRoute(r), why: r.why })) };
}

/** The table, then a line per route problem and the bridge-only note. */
export function formatVerifyReport(o: VerifyOutcome): string[] {
  const lines = formatTable(
    ['TARGET', 'NODE', 'ROUTE', 'LOSS', 'RTT', 'TTL', 'VERDICT'],
    o.rows.map((r) => [
      r.target,
      r.node,
      r.route,
      r.loss === null ? '-' : `${r.loss}%`,
      r.rttMs === null ? '-' : `${r.rttMs.toFixed(3)}ms`,
      r.ttl === null ? '-' : String(r.ttl),
      r.ok ? 'ok' : `FAIL: ${r.reason}`,
    ]),
  );
  if (o.rows.length === 0) lines.push('FAIL: nothing to ping: no other lease in etcd and no --targets');
  for (const u of o.unrouted) lines.push(`route problem: ${formatRoute(u)}: ${u.why}`);
  if (o.bridgeOnly.length)
    lines.push(
      `note: only the bridge was reached at ${o.bridgeOnly.join(', ')}: no pod address known there, so that node's FORWARD chain was not crossed (drift --publish on it names its pods; or give --targets POD-IP)`,
    );
  return lines;
}
