// backend/route_network.go's route check (host-gw only: vxlan has none): every 10 s the routes
// the network added that the main table lacks are added again (`Route recovered ...`). Like
// netlink's RouteAdd it cannot fix a route to the same subnet via another gateway (the add fails
// with EEXIST, silently, as in v0.11.0).
import { log } from './glog.ts';
import { type Context, sleep } from './go-context.ts';
import { mainRoutes, type Route, routeAdd, routeEqual } from './routes.ts';
import { T } from './version.ts';

/** routeCheck: every 10 s, the routes the network added and the main table lacks. */
export async function routeCheck(ctx: Context, routes: () => readonly Route[]): Promise<void> {
  while (await sleep(10000, ctx.signal)) await checkSubnetExistInRoutes(routes);
}

/** checkSubnetExistInRoutes: each missing route added again, `Route recovered` logged. */
async function checkSubnetExistInRoutes(routes: () => readonly Route[]): Promise<void> {
  let list: Route[];
  try {
    list = await mainRoutes();
  } catch (e) {
    log.error(
      T('route_network.go:197', 'route_network.go:258'),
      `Error fetching route list. Will automatically retry: ${(e as Error).message}`,
    );
    return;
  }
  for (const route of [...routes()]) {
    if (list.some((r) => routeEqual(r, route))) continue;
    // RouteAdd, not replace: like netlink, a route to the same dst via another gateway
    // makes the add fail (EEXIST, silently ignored as in v0.11.0).
    try {
      await routeAdd(route);
    } catch {
      continue;
    }
    log.info(T('route_network.go:192', 'route_network.go:253'), `Route recovered ${route.dst} : ${route.gw}`);
  }
}
