// Runbook step 5, verify-ping: every route checked against the leases, every remote subnet
// pinged in parallel (bounded), one row per target with the reason when it fails.
//   routeVerdict(...)  -> is the route to a target what its lease says (pure)
//   pingTargets(...)   -> the probes, through the Host
//   pingRows(...)      -> the rows (pure)

import type { Ip4 } from '../core/ip4.ts';
import { mapBounded } from '../core/map-bounded.ts';
import type { Lease } from '../model/lease.ts';
import type { NetworkConfig } from '../model/netconfig.ts';
import { parsePingOutput, pingCommand, type PingOptions, type PingResult } from '../model/ping.ts';
import { formatRoute, routeEqual, type Route } from '../model/routes.ts';
import type { Host } from '../host/host.ts';

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
