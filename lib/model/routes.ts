// Routes: parse `ip -j route`, plan the routes the leases call for, diff them against the
// kernel's, and turn the diff into ONE `ip -batch` payload.
//   parseIpRoute     - `ip -j route` / `ip -j route show table all` -> Route[]
//   routeKey/Equal   - identity (dst) and sameness (dst, via, dev, onlink), defined once here
//   planXRoutes      - host-gw, vxlan and vxlan+DirectRouting routes for the peers' leases
//   diffRoutes       - add / replace / remove (remove only what the toolkit owns) / conflicts
//   formatIpBatch, planRouteCommands, formatRoute - the payload, the Command, report words
// Everything here is pure: observing (`ip -j route`) and applying (`ip -batch -`) happen elsewhere.

import { invalid, readingOutput, unreadable } from '../core/errors.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';
import type { Command } from '../core/command.ts';

/** A kernel route, IPv4, in the words `ip route` uses. */
export interface Route {
  readonly dst: Ip4Net;
  readonly via?: Ip4;
  /** '' for routes without a device: unreachable, blackhole, prohibit, throw, multipath */
  readonly dev: string;
  readonly onlink?: boolean;
  /** `ip -j` calls it `protocol`: kernel, boot, static, dhcp... */
  readonly proto?: string;
  readonly scope?: string;
  /** unicast (usually left out by `ip -j route`), local, broadcast, unreachable, blackhole... */
  readonly type?: string;
  /** absent = main; `show table all` names the others (local, 100...) */
  readonly table?: string;
  readonly metric?: number;
  /** ECMP routes: `ip -j` puts gateways and devices here instead of on the route */
  readonly nexthops?: readonly { readonly via?: Ip4; readonly dev: string }[];
}

/** A peer's lease, taken structurally (lib/lease.ts owns the real type). */
export interface PeerLease {
  readonly subnet: Ip4Net;
  readonly publicIp: Ip4;
  readonly backendType?: string;
  readonly vtepMac?: string;
}

// Route types that have no output device, so `ip -j` prints no `dev` for them.
const DEVICELESS = new Set(['unreachable', 'blackhole', 'prohibit', 'throw']);
const SOURCE = 'ip -j route';

function shorten(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function parseDst(text: unknown, field: string): Ip4Net {
  if (typeof text !== 'string' || text === '') {
    throw unreadable(field, shorten(text ?? 'missing'), 'every route needs a "dst" string', '"172.7.22.0/24"');
  }
  if (text === 'default') return Ip4Net.parse('0.0.0.0/0', field);
  // Host routes (the local table's `127.0.0.1`) are printed without their /32.
  return readingOutput(() => Ip4Net.parse(text.includes('/') ? text : `${text}/32`, field));
}

function parseVia(text: unknown, field: string): Ip4 | undefined {
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !Ip4.isValid(text)) {
    throw unreadable(
      field,
      shorten(text),
      'gateway must be an IPv4 address (IPv6 next hops are not supported)',
      '"10.4.7.22"',
    );
  }
  return Ip4.parse(text, field);
}

/**
 * Parse the output of `ip -j route` (or `ip -j route show table all`). IPv6 entries, which
 * `show table all` without `-4` includes, are skipped: the toolkit routes IPv4 only.
 * Throws an OutputError (exit 3) naming the entry and what is wrong with it.
 */
export function parseIpRoute(json: string): Route[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseIpRouteUnchecked(json));
}

function parseIpRouteUnchecked(json: string): Route[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (e) {
    throw unreadable(
      SOURCE,
      shorten(json.trim() || '(empty)'),
      `not JSON (${(e as Error).message})`,
      '[{"dst":"172.7.22.0/24","gateway":"10.4.7.22","dev":"eth0","flags":[]}]',
    );
  }
  if (!Array.isArray(data)) {
    throw unreadable(
      SOURCE,
      shorten(data),
      'must be a JSON array of routes',
      '[{"dst":"default","gateway":"10.4.0.1","dev":"eth0","flags":[]}]',
    );
  }
  const routes: Route[] = [];
  data.forEach((entry: unknown, i) => {
    const at = `${SOURCE}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw unreadable(
        at,
        shorten(entry),
        'each route must be a JSON object',
        '{"dst":"172.7.22.0/24","gateway":"10.4.7.22","dev":"eth0"}',
      );
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.dst === 'string' && e.dst.includes(':')) return; // IPv6
    const dst = parseDst(e.dst, `${at}.dst`);
    const type = typeof e.type === 'string' ? e.type : undefined;
    let nexthops: Route['nexthops'];
    if (Array.isArray(e.nexthops)) {
      nexthops = e.nexthops.map((nh: unknown, j) => {
        const n = (nh ?? {}) as Record<string, unknown>;
        if (typeof n.dev !== 'string' || n.dev === '') {
          throw unreadable(
            `${at}.nexthops[${j}].dev`,
            shorten(nh),
            'every next hop needs a "dev"',
            '{"gateway":"10.4.0.1","dev":"eth0"}',
          );
        }
        const via = parseVia(n.gateway, `${at}.nexthops[${j}].gateway`);
        return via ? { via, dev: n.dev } : { dev: n.dev };
      });
    }
    const deviceless = (type !== undefined && DEVICELESS.has(type)) || nexthops !== undefined;
    if (!deviceless && (typeof e.dev !== 'string' || e.dev === '')) {
      throw unreadable(
        `${at}.dev`,
        shorten(e.dev ?? 'missing'),
        `the ${type ?? 'unicast'} route to ${e.dst} needs a "dev"`,
        '{"dst":"172.7.22.0/24","gateway":"10.4.7.22","dev":"eth0"}',
      );
    }
    if (e.flags !== undefined && !(Array.isArray(e.flags) && e.flags.every((f) => typeof f === 'string'))) {
      throw unreadable(`${at}.flags`, shorten(e.flags), 'must be an array of strings', '["onlink"]');
    }
    if (e.metric !== undefined && !(Number.isInteger(e.metric) && (e.metric as number) >= 0)) {
      throw unreadable(`${at}.metric`, shorten(e.metric), 'must be a non-negative integer', '100');
    }
    const via = parseVia(e.gateway, `${at}.gateway`);
    const flags = (e.flags ?? []) as string[];
    const r: {
      -readonly [K in keyof Route]: Route[K];
    } = { dst, dev: typeof e.dev === 'string' ? e.dev : '' };
    if (via) r.via = via;
    if (flags.includes('onlink')) r.onlink = true;
    if (typeof e.protocol === 'string') r.proto = e.protocol;
    if (typeof e.scope === 'string') r.scope = e.scope;
    if (type !== undefined) r.type = type;
    if (typeof e.table === 'string') r.table = e.table;
    if (typeof e.metric === 'number') r.metric = e.metric;
    if (nexthops) r.nexthops = nexthops;
    routes.push(r);
  });
  return routes;
}

/** A route's identity: its destination network. The one place this is decided. */
export function routeKey(r: Pick<Route, 'dst'>): string {
  return r.dst.network().toString();
}

/**
 * Same route for our purposes: destination, gateway, device and onlink (flannel's
 * routeEqual compares dst, gw and link; onlink too, so a vxlan route that lost its onlink
 * flag is put right). proto, scope and metric are the kernel's business.
 */
export function routeEqual(a: Route, b: Route): boolean {
  const viaEq = a.via === undefined ? b.via === undefined : b.via !== undefined && a.via.equals(b.via);
  return a.dst.equals(b.dst) && viaEq && a.dev === b.dev && !!a.onlink === !!b.onlink;
}

/** `172.7.22.0/24 via 10.4.7.22 dev eth0 onlink`, as `ip route` prints it (for reports). */
export function formatRoute(r: Route): string {
  const words: string[] = [];
  if (r.type && r.type !== 'unicast') words.push(r.type);
  words.push(r.dst.prefix === 0 ? 'default' : r.dst.prefix === 32 ? r.dst.ip.toString() : r.dst.toString());
  if (r.via) words.push('via', r.via.toString());
  if (r.dev) words.push('dev', r.dev);
  if (r.table && r.table !== 'main') words.push('table', r.table);
  if (r.proto) words.push('proto', r.proto);
  if (r.scope) words.push('scope', r.scope);
  if (r.metric !== undefined) words.push('metric', String(r.metric));
  if (r.onlink) words.push('onlink');
  for (const nh of r.nexthops ?? []) {
    words.push('nexthop');
    if (nh.via) words.push('via', nh.via.toString());
    words.push('dev', nh.dev);
  }
  return words.join(' ');
}

// flannel ignores leases of another backend type ("Ignoring non-host-gw subnet"); a lease
// without a type (taken structurally, or a reservation) is routed.
function peersOf(leases: readonly PeerLease[], self: { publicIp: Ip4 }, backendType: string): PeerLease[] {
  return leases.filter(
    (l) =>
      !l.publicIp.equals(self.publicIp) && (l.backendType === undefined || l.backendType.toLowerCase() === backendType),
  );
}

/** host-gw: `SUBNET via PUBLICIP dev IFACE` for every other node's lease, none for our own. */
export function planHostGwRoutes(leases: readonly PeerLease[], self: { publicIp: Ip4; iface: string }): Route[] {
  return peersOf(leases, self, 'host-gw').map((l) => ({ dst: l.subnet.network(), via: l.publicIp, dev: self.iface }));
}

function vxlanRoute(l: PeerLease, vni: number): Route {
  // The gateway is the peer's flannel.VNI address (its subnet's network address); onlink
  // because that address is on no local link: the neighbour and fdb entries resolve it.
  return { dst: l.subnet.network(), via: l.subnet.network().ip, dev: `flannel.${vni}`, onlink: true };
}

/** vxlan: `SUBNET via SUBNET.network dev flannel.VNI onlink` for every other node's lease. */
export function planVxlanRoutes(leases: readonly PeerLease[], self: { publicIp: Ip4 }, opts: { vni: number }): Route[] {
  return peersOf(leases, self, 'vxlan').map((l) => vxlanRoute(l, opts.vni));
}

/**
 * vxlan with DirectRouting: peers on our L2 segment get the host-gw route (no
 * encapsulation), the others the flannel.VNI route. `sameL2` is observed elsewhere
 * (flannel asks `ip route get PUBLICIP` whether the peer needs a gateway).
 */
export function planDirectRoutingRoutes(
  leases: readonly PeerLease[],
  self: { publicIp: Ip4; iface: string; vni?: number },
  sameL2: (ip: Ip4) => boolean,
): Route[] {
  return peersOf(leases, self, 'vxlan').map((l) =>
    sameL2(l.publicIp) ? { dst: l.subnet.network(), via: l.publicIp, dev: self.iface } : vxlanRoute(l, self.vni ?? 1),
  );
}

export type RouteChange = Route & { readonly why: string };

export interface RouteDiff {
  readonly add: RouteChange[];
  readonly replace: { readonly from: Route; readonly to: Route; readonly why: string }[];
  readonly remove: RouteChange[];
  /** desired routes left alone because doing them would break something; report them */
  readonly conflicts: { readonly route: Route; readonly actual?: Route; readonly why: string }[];
}

/**
 * A route the toolkit may replace or remove: a gateway (or onlink) route in the main table.
 * Kernel link routes (docker0's own `172.7.21.0/24 dev docker0 proto kernel scope link`),
 * local/broadcast/blackhole routes and other tables are never ours.
 */
function isOwned(r: Route): boolean {
  return (
    r.via !== undefined &&
    r.proto !== 'kernel' &&
    (r.table === undefined || r.table === 'main') &&
    (r.type === undefined || r.type === 'unicast') &&
    r.nexthops === undefined
  );
}

function mainTable(r: Route): boolean {
  return r.table === undefined || r.table === 'main';
}

function mismatch(from: Route, to: Route): string {
  if (from.dev === to.dev && !!from.onlink === !!to.onlink && from.via && to.via) {
    return `route via ${from.via} but the lease says ${to.via}`;
  }
  return `route is "${formatRoute(from)}" but the lease needs "${formatRoute(to)}"`;
}

/**
 * What to change so the kernel has exactly the `desired` routes for the flannel `network`.
 * Remove touches only owned routes (see isOwned) whose dst lies inside `network`: never the
 * default route, nothing outside the network. `ownSubnet` (this node's lease, docker0's
 * subnet) is never touched: a route there would send our own pods' traffic away, and
 * `route replace` would even swap out docker0's kernel route.
 */
export function diffRoutes(
  desired: readonly Route[],
  actual: readonly Route[],
  network: Ip4Net,
  opts: { ownSubnet?: Ip4Net } = {},
): RouteDiff {
  const diff: RouteDiff = { add: [], replace: [], remove: [], conflicts: [] };
  const own = opts.ownSubnet;
  const wanted = new Map<string, Route>();
  for (const d of desired) {
    const k = routeKey(d);
    if (wanted.has(k)) {
      throw unreadable(
        'desired routes',
        k,
        'two routes for one destination (two leases for one subnet?)',
        'one route per lease subnet',
      );
    }
    wanted.set(k, d);
  }
  // Only main-table routes compete with ours; `show table all` also lists local/broadcast.
  const byKey = new Map<string, Route[]>();
  for (const a of actual.filter(mainTable)) {
    const k = routeKey(a);
    byKey.set(k, [...(byKey.get(k) ?? []), a]);
  }

  for (const [k, d] of wanted) {
    if (own?.overlaps(d.dst)) {
      diff.conflicts.push({
        route: d,
        why: `${k} overlaps this node's own subnet ${own.network()}: not routed away via ${d.via ?? d.dev}`,
      });
      continue;
    }
    const present = byKey.get(k) ?? [];
    const first = present[0];
    if (!first) {
      diff.add.push({ ...d, why: `no route for lease ${k} (${d.via ?? d.dev})` });
    } else if (!isOwned(first)) {
      diff.conflicts.push({
        route: d,
        actual: first,
        why: `"${formatRoute(first)}" is in the way and is not a route the toolkit owns: not replaced`,
      });
    } else if (!routeEqual(first, d)) {
      diff.replace.push({ from: first, to: d, why: mismatch(first, d) });
    }
    // A second route to the same dst (another metric) would shadow or outlive ours.
    for (const extra of present.slice(1)) {
      if (isOwned(extra)) diff.remove.push({ ...extra, why: `second route for ${k}: duplicate` });
    }
  }

  for (const a of actual.filter(mainTable)) {
    const k = routeKey(a);
    if (wanted.has(k) || !isOwned(a)) continue;
    if (a.dst.prefix === 0 || !network.containsNet(a.dst)) continue;
    if (own?.overlaps(a.dst)) continue;
    diff.remove.push({ ...a, why: `no lease for ${k}: stale` });
  }
  return diff;
}

export function isEmptyDiff(d: RouteDiff): boolean {
  return d.add.length === 0 && d.replace.length === 0 && d.remove.length === 0;
}

// The words after `route replace` / `route del`: main table only, metric only when the
// kernel route has one (a `del` without it could pick another route to the same dst).
function batchWords(r: Route): string {
  const words = [r.dst.network().toString()];
  if (r.via) words.push('via', r.via.toString());
  if (r.dev) words.push('dev', r.dev);
  if (r.metric !== undefined) words.push('metric', String(r.metric));
  if (r.onlink) words.push('onlink');
  return words.join(' ');
}

/**
 * ONE `ip -batch -` payload. `route replace` for add and replace: it never fails on an
 * existing route, and `ip -batch` stops at the first error. The `route del`s come last so
 * a route that vanished meanwhile (its del fails) cannot stop the adds.
 */
export function formatIpBatch(diff: RouteDiff): string {
  const lines = [
    ...diff.add.map((r) => `route replace ${batchWords(r)}`),
    // Keep the old route's metric: `replace` then swaps that very route instead of adding
    // a second one beside it.
    ...diff.replace.map((c) => `route replace ${batchWords({ ...c.to, metric: c.from.metric })}`),
    ...diff.remove.map((r) => `route del ${batchWords(r)}`),
  ];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** [] when in sync, else exactly one `ip -batch -` Command carrying the payload. */
export function planRouteCommands(diff: RouteDiff): Command[] {
  if (isEmptyDiff(diff)) return [];
  const counts = [
    diff.add.length && `add ${diff.add.length}`,
    diff.replace.length && `replace ${diff.replace.length}`,
    diff.remove.length && `remove ${diff.remove.length} stale`,
  ].filter(Boolean);
  return [
    {
      argv: ['ip', '-batch', '-'],
      input: formatIpBatch(diff),
      why: `make the kernel's flannel routes match the leases (${counts.join(', ')})`,
    },
  ];
}

/**
 * The routes flanneld keeps for this backend: host-gw (one `via PUBLICIP dev IFACE` per
 * peer), vxlan (onlink via flannel.VNI), vxlan + DirectRouting (host-gw style for peers on
 * the same L2 segment, `sameL2`, vxlan for the rest).
 */
export function planBackendRoutes(
  backend: { readonly type: string; readonly vni?: number; readonly directRouting?: boolean },
  leases: readonly PeerLease[],
  self: { publicIp: Ip4; iface: string },
  sameL2: (ip: Ip4) => boolean,
): Route[] {
  if (backend.type === 'host-gw') return planHostGwRoutes(leases, self);
  if (backend.type === 'vxlan') {
    return backend.directRouting
      ? planDirectRoutingRoutes(leases, { ...self, vni: backend.vni ?? 1 }, sameL2)
      : planVxlanRoutes(leases, self, { vni: backend.vni ?? 1 });
  }
  throw invalid('Backend.Type', backend.type, 'the toolkit checks routes of host-gw and vxlan only', 'host-gw');
}
