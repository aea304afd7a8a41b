// backend/route_network.go: one route per other node's lease (host-gw's network; the route check
// is in route-check.ts). A route to the subnet via another gateway is replaced (with the
// warning), removed leases' routes are deleted; v0.11.0's and v0.20.2's texts (v0.20.2 checks the
// backend type before "Subnet added" and prints routes as netlink does).
import type { Network } from './backend-types.ts';
import type { ExtIface } from './ext-iface.ts';
import { log } from './glog.ts';
import type { Context } from './go-context.ts';
import { ip4String } from './ip4.ts';
import { watchLeases } from './lease-watch.ts';
import { routeCheck } from './route-check.ts';
import { goRouteString, type Route, routeAdd, routeDel, routeEqual, routeReplace, routesTo } from './routes.ts';
import type { LocalManager } from './subnet-manager.ts';
import type { Lease, LeaseEvent } from './subnet-lease.ts';
import { T, V020 } from './version.ts';

/** What a backend builds its RouteNetwork from. */
export interface RouteNetworkOptions {
  sm: LocalManager;
  extIface: ExtIface;
  /** the leases of other types are ignored */
  backendType: string;
  mtu: number;
  linkIndex: number;
  /** this node's lease */
  lease: Lease;
  /** the route to another node's subnet */
  getRoute: (l: Lease) => Route;
}

/** backend/route_network.go: one route per other node's lease, checked every 10 s. */
export class RouteNetwork implements Network {
  readonly sm: LocalManager;
  readonly extIface: ExtIface;
  readonly backendType: string;
  readonly mtu: number;
  readonly linkIndex: number;
  readonly lease: Lease;
  private readonly getRoute: (l: Lease) => Route;
  /** the routes this network added (the route check puts back the missing ones) */
  private readonly routes: Route[] = [];

  constructor({ sm, extIface, backendType, mtu, linkIndex, lease, getRoute }: RouteNetworkOptions) {
    this.sm = sm;
    this.extIface = extIface;
    this.backendType = backendType;
    this.mtu = mtu;
    this.linkIndex = linkIndex;
    this.lease = lease;
    this.getRoute = getRoute;
  }

  async run(ctx: Context): Promise<void> {
    log.info(T('route_network.go:53', 'route_network.go:55'), 'Watching for new subnet leases');
    await Promise.all([
      watchLeases(ctx, this.sm, this.lease, (batch) => this.handleSubnetEvents(batch)),
      routeCheck(ctx, () => this.routes),
    ]);
  }

  async handleSubnetEvents(batch: LeaseEvent[]): Promise<void> {
    for (const evt of batch) {
      if (V020) await this.handleSubnetEventV020(evt);
      else await this.handleSubnetEventV011(evt);
    }
  }

  private async handleSubnetEventV011(evt: LeaseEvent): Promise<void> {
    const l = evt.lease;
    if (evt.type === 'added') {
      log.info('route_network.go:85', `Subnet added: ${l.subnet} via ${ip4String(l.attrs.PublicIP)}`);
      if (l.attrs.BackendType !== this.backendType) {
        log.warn('route_network.go:88', `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`);
        return;
      }
      const route = this.getRoute(l);
      this.addToRouteList(route);
      let existing: Route[] = [];
      try {
        existing = await routesTo(route.dst);
      } catch (e) {
        log.warn('route_network.go:97', `Unable to list routes: ${(e as Error).message}`);
      }
      if (existing.length > 0 && !routeEqual(existing[0]!, route)) {
        log.warn(
          'route_network.go:102',
          `Replacing existing route to ${l.subnet} via ${existing[0]!.gw ?? '<nil>'} dev index ${existing[0]!.linkIndex} with ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${route.linkIndex}.`,
        );
        try {
          await routeDel(existing[0]!);
        } catch (e) {
          log.error('route_network.go:104', `Error deleting route to ${l.subnet}: ${(e as Error).message}`);
          return;
        }
        this.removeFromRouteList(existing[0]!);
      }
      if (existing.length > 0 && routeEqual(existing[0]!, route)) {
        log.info(
          'route_network.go:112',
          `Route to ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${existing[0]!.linkIndex} already exists, skipping.`,
        );
      } else {
        try {
          await routeReplace(route);
        } catch (e) {
          log.error(
            'route_network.go:114',
            `Error adding route to ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${route.linkIndex}: ${(e as Error).message}`,
          );
        }
      }
    } else {
      log.info('route_network.go:119', `Subnet removed: ${l.subnet}`);
      if (l.attrs.BackendType !== this.backendType) {
        log.warn('route_network.go:122', `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`);
        return;
      }
      const route = this.getRoute(l);
      this.removeFromRouteList(route);
      try {
        await routeDel(route);
      } catch (e) {
        log.error('route_network.go:131', `Error deleting route to ${l.subnet}: ${(e as Error).message}`);
      }
    }
  }

  /** v0.20.2: the type is checked before "Subnet added"; routes named as netlink prints them. */
  private async handleSubnetEventV020(evt: LeaseEvent): Promise<void> {
    const l = evt.lease;
    if (l.attrs.BackendType !== this.backendType) {
      log.warn(
        evt.type === 'added' ? 'route_network.go:87' : 'route_network.go:107',
        `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`,
      );
      return;
    }
    const route = this.getRoute(l);
    if (evt.type === 'added') {
      log.info('route_network.go:92', `Subnet added: ${l.subnet} via ${ip4String(l.attrs.PublicIP)}`);
      this.addToRouteList(route);
      let existing: Route[] = [];
      try {
        existing = await routesTo(route.dst);
      } catch (e) {
        log.warn('route_network.go:146', `Unable to list routes: ${(e as Error).message}`);
      }
      if (existing.length > 0 && !routeEqual(existing[0]!, route)) {
        log.warn(
          'route_network.go:151',
          `Replacing existing route to ${goRouteString(existing[0]!, 254)} with ${goRouteString(route, 0)}`,
        );
        try {
          await routeDel(existing[0]!);
        } catch (e) {
          log.error('route_network.go:153', `Error deleting route to ${existing[0]!.dst}: ${(e as Error).message}`);
          return;
        }
        this.removeFromRouteList(existing[0]!);
        try {
          existing = await routesTo(route.dst);
        } catch (e) {
          log.warn('route_network.go:161', `Unable to list routes: ${(e as Error).message}`);
        }
      }
      if (existing.length > 0 && routeEqual(existing[0]!, route)) {
        log.info('route_network.go:165', `Route to ${goRouteString(route, 0)} already exists, skipping.`);
      } else {
        try {
          await routeAdd(route);
        } catch (e) {
          log.error(
            'route_network.go:167',
            `Error adding route to ${goRouteString(route, 0)}: ${(e as Error).message}`,
          );
        }
      }
    } else {
      log.info('route_network.go:112', `Subnet removed: ${l.subnet}`);
      this.removeFromRouteList(route);
      try {
        await routeDel(route);
      } catch (e) {
        log.error('route_network.go:117', `Error deleting route to ${l.subnet}: ${(e as Error).message}`);
      }
    }
  }

  private addToRouteList(route: Route): void {
    if (!this.routes.some((r) => routeEqual(r, route))) this.routes.push(route);
  }

  private removeFromRouteList(route: Route): void {
    const i = this.routes.findIndex((r) => routeEqual(r, route));
    if (i >= 0) this.routes.splice(i, 1);
  }
}
