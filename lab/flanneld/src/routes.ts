// Routes in the main table through `ip -j route`, as netlink.Route values {dst, gw, dev,
// linkIndex}: listed, compared as flannel compares them (dst, gateway, link index), added,
// replaced, deleted; and netlink.Route.String() as v0.20.2 logs routes.
import { GoError } from './go-errors.ts';
import { type IpLink, type IpRoute, ipJson, netlinkErrText, runCmd } from './host-commands.ts';

/** A netlink.Route as flannel builds and compares it. */
export interface Route {
  /** CIDR: "10.4.22.0/24" */
  dst: string;
  gw?: string | null;
  dev?: string;
  linkIndex?: number;
  onlink?: boolean;
  /** as listed by iproute2 */
  flags?: string[];
}

/** Link indexes by name, as last listed (forgotten when a link is made). */
let linkNames: Map<string, number> | null = null;

/** A link was created or deleted: the next lookup lists the links again. */
export function forgetLinkNames(): void {
  linkNames = null;
}

async function linkIndexByName(name: string): Promise<number> {
  if (!linkNames?.has(name)) {
    const links = await ipJson<IpLink>(['link', 'show']);
    linkNames = new Map(links.map((l) => [l.ifname, l.ifindex]));
  }
  return linkNames.get(name) ?? 0;
}

/** ip -j route entries as {dst, gw, dev, linkIndex} (main table, IPv4). */
async function toRoutes(entries: IpRoute[]): Promise<Route[]> {
  const out: Route[] = [];
  for (const r of entries) {
    if (!r.dst || r.dst === 'default') continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    out.push({
      dst,
      gw: r.gateway ?? null,
      dev: r.dev,
      linkIndex: r.dev ? await linkIndexByName(r.dev) : 0,
      flags: r.flags ?? [],
    });
  }
  return out;
}

/** The main table's routes to exactly `dst`. */
export const routesTo = async (dst: string): Promise<Route[]> =>
  toRoutes(await ipJson<IpRoute>(['-4', 'route', 'show', 'table', 'main', 'exact', dst]));

/** The main table's IPv4 routes (netlink.RouteList). */
export const mainRoutes = async (): Promise<Route[]> =>
  toRoutes(await ipJson<IpRoute>(['-4', 'route', 'show', 'table', 'main']));

/** flannel's routeEqual: same destination, gateway and link. */
export const routeEqual = (x: Route, y: Route): boolean =>
  x.dst === y.dst && x.gw === y.gw && x.linkIndex === y.linkIndex;

/** netlink.Route.String() of v0.20.2's vendored netlink, as its route_network.go logs routes. */
export function goRouteString(r: Route, table: number): string {
  const flags = r.flags ?? (r.onlink ? ['onlink'] : []);
  return `{Ifindex: ${r.linkIndex} Dst: ${r.dst} Src: <nil> Gw: ${r.gw ?? '<nil>'} Flags: [${flags.join(' ')}] Table: ${table} Realm: 0}`;
}

async function ipRoute(verb: 'add' | 'replace' | 'del', route: Route): Promise<void> {
  const argv = ['ip', 'route', verb, route.dst];
  if (route.gw) argv.push('via', route.gw);
  if (route.dev) argv.push('dev', route.dev);
  if (route.onlink) argv.push('onlink');
  const r = await runCmd(argv);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
}

/** netlink.RouteAdd: fails (file exists) when a route to the destination is there. */
export const routeAdd = (route: Route): Promise<void> => ipRoute('add', route);
/** netlink.RouteReplace. */
export const routeReplace = (route: Route): Promise<void> => ipRoute('replace', route);
/** netlink.RouteDel. */
export const routeDel = (route: Route): Promise<void> => ipRoute('del', route);
