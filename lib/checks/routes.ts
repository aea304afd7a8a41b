// Routes: one route per other lease as the backend needs it (host-gw: SUBNET via PUBLICIP dev
// IFACE), no route into the flannel network without a lease, none sending this node's own
// subnet away. Only routes inside the flannel network are ever changed (model/routes.ts).

import { run as runAction } from '../core/plan.ts';
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
  readonly routes: readonly Route[];
}

export const ROUTES_PEERS = checkKey<PeersDetail>('routes.peers');
export const ROUTES_STALE = checkKey<StaleDetail>('routes.stale');
export const ROUTES_OWN_SUBNET = checkKey<OwnSubnetDetail>('routes.own-subnet');
const IDS = [ROUTES_PEERS.id, ROUTES_STALE.id, ROUTES_OWN_SUBNET.id];

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
    ownRoutes.length
      ? drift<OwnSubnetDetail>(
          ROUTES_OWN_SUBNET.id,
          `a route sends this node's own subnet away: ${ownRoutes.map((r) => formatRoute(r)).join('; ')}`,
          { detail: { routes: ownRoutes }, evidence: ownRoutes.map((r) => formatRoute(r)) },
        )
      : ok<OwnSubnetDetail>(ROUTES_OWN_SUBNET.id, `no gateway route for ${e.subnet} (it is docker0's)`, { routes: [] }),
  ];
}

export const routeChecks: CheckArea = { name: 'routes', ids: IDS, fixStage: 1, run };
