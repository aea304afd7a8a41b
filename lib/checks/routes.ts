// Routes: one route per other lease as the backend needs it (host-gw: SUBNET via PUBLICIP dev
// IFACE), no route into the flannel network without a lease, this node's own subnet on the
// bridge (and none sending it away), and every peer's address answering ARP on the interface
// (/proc/net/arp: a next hop whose entry failed is a dead node). Only routes inside the
// flannel network are ever changed (model/routes.ts).

import { Ip4, type Ip4Net } from '../core/ip4.ts';
import { run as runAction, type Action } from '../core/plan.ts';
import { diffRoutes, formatRoute, planBackendRoutes, planRouteCommands, type Route } from '../model/routes.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, consequence, drift, ok, type Check, type CheckArea } from './types.ts';

export interface PeersDetail {
  /** how many peer routes the leases call for */
  readonly desired: number;
  readonly missing: readonly Route[];
  readonly wrong: readonly { readonly have: Route; readonly want: Route; readonly why: string }[];
}
export interface StaleDetail {
  readonly stale: readonly Route[];
}
export interface OwnSubnetDetail {
  /** routes that send this node's subnet through a gateway */
  readonly routes: readonly Route[];
  /** the bridge's link route for the subnet is there */
  readonly onBridge: boolean;
}
/** One IPv4 neighbour entry of /proc/net/arp. */
export interface ArpEntry {
  readonly ip: string;
  /** 0x2 complete, 0x6 complete and permanent, 0x0 not resolved (incomplete or failed) */
  readonly flags: number;
  readonly mac: string;
  readonly dev: string;
}
export interface NextHopsDetail {
  /** the peers' addresses on this node's interface whose ARP entry is known */
  readonly checked: number;
  readonly dead: readonly { readonly ip: string; readonly subnet: string; readonly dev: string }[];
}

export const ROUTES_PEERS = checkKey<PeersDetail>('routes.peers');
export const ROUTES_STALE = checkKey<StaleDetail>('routes.stale');
export const ROUTES_OWN_SUBNET = checkKey<OwnSubnetDetail>('routes.own-subnet');
export const ROUTES_NEXT_HOPS = checkKey<NextHopsDetail>('routes.next-hops');
const IDS = [ROUTES_PEERS.id, ROUTES_STALE.id, ROUTES_OWN_SUBNET.id, ROUTES_NEXT_HOPS.id];

/** Parse /proc/net/arp (header line, then `IP HWtype Flags HWaddress Mask Device`). */
export function parseProcNetArp(text: string): ArpEntry[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length >= 6)
    .map((w) => ({ ip: w[0]!, flags: Number.parseInt(w[2]!, 16) || 0, mac: w[3]!, dev: w[5]! }));
}

/** ATF_COM: the entry is resolved (REACHABLE, STALE, DELAY, PROBE, PERMANENT). */
export const arpResolved = (e: ArpEntry) => (e.flags & 0x2) !== 0;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The pods this node's bridge has resolved neighbours for, in its own subnet (the bridge's own
 * address aside), at most `max`: addresses other nodes can ping through this node's FORWARD.
 */
export function bridgeNeighbours(arp: string, bridge: string, subnet: Ip4Net, max = 4): string[] {
  const gateway = subnet.firstHost().toString();
  return parseProcNetArp(arp)
    .filter(
      (x) =>
        x.dev === bridge && arpResolved(x) && x.ip !== gateway && IPV4.test(x.ip) && subnet.contains(Ip4.parse(x.ip)),
    )
    .map((x) => x.ip)
    .slice(0, max);
}

/** The peers' addresses this node sends to on its own interface (host-gw and direct routes, vxlan's underlay). */
function nextHops(ctx: CheckContext): { ip: Ip4; subnet: string }[] {
  const e = ctx.expect;
  return ctx.leases
    .filter((l) => !l.publicIp.equals(e.publicIp) && ctx.sameL2(l.publicIp))
    .map((l) => ({ ip: l.publicIp, subnet: l.subnet.toString() }));
}

function nextHopsCheck(ctx: CheckContext): Check<NextHopsDetail> {
  const e = ctx.expect;
  const arp = ctx.obs.files.arp;
  if (arp === undefined)
    return ok<NextHopsDetail>(ROUTES_NEXT_HOPS.id, 'no /proc/net/arp to read (not checked)', { checked: 0, dead: [] });
  // per address: is any of its entries on the iface resolved? (a lookup per peer, not a scan)
  const resolved = new Map<string, boolean>();
  for (const x of parseProcNetArp(arp)) {
    if (x.dev === e.iface) resolved.set(x.ip, (resolved.get(x.ip) ?? false) || arpResolved(x));
  }
  const hops = nextHops(ctx);
  const known = hops.filter((h) => resolved.has(h.ip.toString()));
  const dead = known
    .filter((h) => !resolved.get(h.ip.toString()))
    .map((h) => ({ ip: h.ip.toString(), subnet: h.subnet, dev: e.iface }));
  const detail = { checked: known.length, dead };
  return dead.length
    ? drift<NextHopsDetail>(
        ROUTES_NEXT_HOPS.id,
        `${dead.map((d) => `${d.ip} (${d.subnet})`).join(', ')} ${dead.length > 1 ? 'answer' : 'answers'} no ARP on ${e.iface}: the node behind ${dead.length > 1 ? 'them is' : 'it is'} down or gone, and its pods are unreachable`,
        { detail, evidence: dead.map((d) => `${d.ip} dev ${d.dev}: ARP entry not resolved (/proc/net/arp flags 0x0)`) },
      )
    : ok<NextHopsDetail>(
        ROUTES_NEXT_HOPS.id,
        `${known.length} of ${hops.length} peers' addresses seen on ${e.iface}, all answering ARP`,
        detail,
      );
}

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const o = ctx.obs;
  // etcd answered: the state is known to be wrong (flanneld has nothing to route by), not unknown
  if (ctx.configBlocker)
    return consequence(
      IDS,
      'no usable network config in etcd: flanneld routes nothing (see etcd.config)',
      ctx.configBlocker,
    );
  if (ctx.etcdBlocker)
    return IDS.map((id) => cannot(id, ctx.etcdBlocker!, 'etcd did not answer (routes are never changed on a guess)'));
  if (!o.routes.ok)
    return IDS.map((id) =>
      cannot(id, { kind: 'observation', what: 'routes', error: o.routes.ok ? '' : o.routes.error }),
    );
  if (!ctx.dev || !ctx.config) return IDS.map((id) => cannot(id, { kind: 'iface', iface: e.iface }));
  const config = ctx.config;
  let desired: Route[];
  try {
    desired = planBackendRoutes(config.backend, ctx.leases, { publicIp: e.publicIp, iface: e.iface }, ctx.sameL2);
  } catch (err) {
    return IDS.map((id) => cannot(id, { kind: 'observation', what: 'route plan', error: (err as Error).message }));
  }
  const actual = o.routes.value;
  const diff = diffRoutes(desired, actual, config.network, { ownSubnet: e.subnet });
  const wrongLines = [
    ...diff.add.map((r) => `${formatRoute(r)}: ${r.why}`),
    ...diff.replace.map((c) => `${formatRoute(c.from)}: ${c.why}`),
  ];
  const peers: PeersDetail = {
    desired: desired.length,
    missing: diff.add,
    wrong: diff.replace.map((c) => ({ have: c.from, want: c.to, why: c.why })),
  };
  const peersFix = planRouteCommands({ add: diff.add, replace: diff.replace, remove: [], conflicts: [] }).map(
    runAction,
  );
  const staleFix = planRouteCommands({ add: [], replace: [], remove: diff.remove, conflicts: [] }).map(runAction);
  const ownRoutes = actual.filter((r) => r.dst.equals(e.subnet) && r.via !== undefined);
  const bridgeRoute = actual.find((r) => r.dst.equals(e.subnet) && r.via === undefined && r.dev === e.bridge);
  const bridgeUp = ctx.ifaces?.find((i) => i.name === e.bridge);
  const gw = e.subnet.gatewayForm();
  // the bridge's own link route, as the kernel makes it when the address goes on: `replace`
  // takes the place of a gateway route with the same metric; gateway routes left over go
  const ownFix: Action[] = [
    ...(bridgeRoute || !bridgeUp?.addrs.some((a) => a.identical(gw))
      ? []
      : [
          runAction({
            argv: [
              'ip',
              'route',
              'replace',
              e.subnet.network().toString(),
              'dev',
              e.bridge,
              'proto',
              'kernel',
              'scope',
              'link',
              'src',
              gw.ip.toString(),
            ],
            why: `${e.subnet} belongs on ${e.bridge}: this node's pods are there`,
          }),
        ]),
    ...ownRoutes
      .filter((r) => bridgeRoute || (r.metric ?? 0) !== 0)
      .map((r) =>
        runAction({
          argv: ['ip', 'route', 'del', ...formatRoute(r).split(' ')],
          why: `a gateway route for this node's own subnet sends its pods' traffic away`,
        }),
      ),
  ];
  const ownProblems = [
    ...ownRoutes.map((r) => `a route sends this node's own subnet away: ${formatRoute(r)}`),
    ...(bridgeRoute ? [] : [`no route ${e.subnet.network()} dev ${e.bridge}: the node cannot reach its own pods`]),
  ];
  return [
    wrongLines.length
      ? drift<PeersDetail>(
          ROUTES_PEERS.id,
          `${wrongLines.length} of ${desired.length} peer routes missing or wrong: ${wrongLines.join('; ')}`,
          { detail: peers, fix: peersFix, evidence: wrongLines },
        )
      : ok<PeersDetail>(ROUTES_PEERS.id, `${desired.length} peer routes as the leases say`, peers),
    diff.remove.length
      ? drift<StaleDetail>(
          ROUTES_STALE.id,
          `${diff.remove.length} routes into ${config.network} with no lease: ${diff.remove.map((r) => formatRoute(r)).join('; ')}`,
          { detail: { stale: diff.remove }, fix: staleFix, evidence: diff.remove.map((r) => formatRoute(r)) },
        )
      : ok<StaleDetail>(ROUTES_STALE.id, 'no stale route into the flannel network', { stale: [] }),
    ownProblems.length
      ? drift<OwnSubnetDetail>(ROUTES_OWN_SUBNET.id, ownProblems.join('; '), {
          detail: { routes: ownRoutes, onBridge: bridgeRoute !== undefined },
          ...(ownFix.length && { fix: ownFix }),
          evidence: ownRoutes.map((r) => formatRoute(r)),
        })
      : ok<OwnSubnetDetail>(ROUTES_OWN_SUBNET.id, `${e.subnet} is on ${e.bridge}, no gateway route for it`, {
          routes: [],
          onBridge: true,
        }),
    nextHopsCheck(ctx),
  ];
}

export const routeChecks: CheckArea = { name: 'routes', ids: IDS, fixStage: 1, run };
