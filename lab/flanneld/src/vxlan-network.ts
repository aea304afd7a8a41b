// backend/vxlan/vxlan_network.go: per peer lease a neighbour, an fdb entry and an onlink route
// via flannel.<VNI> (removed in reverse when the lease goes), or with DirectRouting and a peer on
// the same L2 a host-gw route via its public IP. No route check: a deleted vxlan route stays
// deleted until flanneld restarts.
import type { Network } from './backend-types.ts';
import type { ExtIface } from './ext-iface.ts';
import { log } from './glog.ts';
import type { Context } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { type JsonObject, jsonField } from './go-json.ts';
import { type IpRoute, ipJson } from './host-commands.ts';
import { ip4String } from './ip4.ts';
import { watchLeases } from './lease-watch.ts';
import { type Route, routeDel, routeReplace } from './routes.ts';
import type { LocalManager } from './subnet-manager.ts';
import type { Lease, LeaseEvent } from './subnet-lease.ts';
import { T, V020 } from './version.ts';
import type { VxlanDevice } from './vxlan-device.ts';

/** hardwareAddr.UnmarshalJSON of the lease's BackendData.VtepMAC. */
function vtepMACOf(backendData: unknown): string {
  if (backendData === undefined || backendData === null) throw new GoError('unexpected end of JSON input');
  if (typeof backendData !== 'object' || Array.isArray(backendData))
    throw new GoError(
      `json: cannot unmarshal ${Array.isArray(backendData) ? 'array' : typeof backendData} into Go value of type vxlan.vxlanLeaseAttrs`,
    );
  const mac = jsonField(backendData as JsonObject, 'VtepMAC');
  if (typeof mac !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new GoError(`address ${mac}: invalid MAC address`);
  return mac.toLowerCase();
}

/**
 * backend/vxlan/vxlan_network.go: per peer lease a neighbour, an fdb entry and an onlink route
 * via flannel.<VNI>, or with DirectRouting and a peer on the same L2 (one route to it, no
 * gateway) a route via its public IP. Unlike host-gw there is no route check: a deleted vxlan
 * route stays deleted until flanneld restarts.
 */
export class VxlanNetwork implements Network {
  readonly sm: LocalManager;
  readonly extIface: ExtIface;
  readonly dev: VxlanDevice;
  readonly lease: Lease;
  readonly mtu: number;

  constructor({
    sm,
    extIface,
    dev,
    lease,
    mtu,
  }: {
    sm: LocalManager;
    extIface: ExtIface;
    dev: VxlanDevice;
    lease: Lease;
    mtu: number;
  }) {
    this.sm = sm;
    this.extIface = extIface;
    this.dev = dev;
    this.lease = lease;
    this.mtu = mtu;
  }

  async run(ctx: Context): Promise<void> {
    log.info(T('vxlan_network.go:60', 'vxlan_network.go:61'), 'watching for new subnet leases');
    await watchLeases(ctx, this.sm, this.lease, (batch) => this.handleSubnetEvents(batch));
  }

  async handleSubnetEvents(batch: LeaseEvent[]): Promise<void> {
    for (const evt of batch) await this.handleSubnetEvent(evt);
  }

  private async handleSubnetEvent(evt: LeaseEvent): Promise<void> {
    const sn = evt.lease.subnet;
    const attrs = evt.lease.attrs;
    if (attrs.BackendType !== 'vxlan') {
      if (V020)
        log.warn('vxlan_network.go:97', `ignoring non-vxlan v4Subnet(${sn}) v6Subnet(::/0): type=${attrs.BackendType}`);
      else log.warn('vxlan_network.go:95', `ignoring non-vxlan subnet(${sn}): type=${attrs.BackendType}`);
      return;
    }
    let mac: string;
    try {
      mac = vtepMACOf(attrs.BackendData);
    } catch (e) {
      log.error(
        T('vxlan_network.go:101', 'vxlan_network.go:104'),
        `error decoding subnet lease JSON: ${(e as Error).message}`,
      );
      return;
    }
    const pub = ip4String(attrs.PublicIP);
    const gw = ip4String(sn.ip);
    const vxlanRoute: Route = { dst: sn.toString(), gw, dev: this.dev.name, linkIndex: this.dev.index, onlink: true };
    const directRoute: Route = { dst: sn.toString(), gw: pub };
    let directRoutingOK = false;
    if (this.dev.directRouting) {
      // netlink.RouteGet(PublicIP): one route and no gateway = directly connected
      try {
        const routes = await ipJson<IpRoute>(['-4', 'route', 'get', pub]);
        directRoutingOK = routes.length === 1 && !routes[0]!.gateway;
      } catch (e) {
        if (V020) {
          log.error('vxlan_network.go:131', (e as Error).message);
        } else {
          log.error('vxlan_network.go:121', `Couldn't lookup route to ${pub}: ${(e as Error).message}`);
          return;
        }
      }
    }
    if (evt.type === 'added') {
      if (directRoutingOK) {
        try {
          await routeReplace(directRoute);
        } catch (e) {
          log.error(
            T('vxlan_network.go:135', 'vxlan_network.go:141'),
            `Error adding route to ${sn} via ${pub}: ${(e as Error).message}`,
          );
        }
        return;
      }
      try {
        await this.dev.addARP(gw, mac);
      } catch (e) {
        log.error(T('vxlan_network.go:141', 'vxlan_network.go:147'), `AddARP failed: ${(e as Error).message}`);
        return;
      }
      try {
        await this.dev.addFDB(pub, mac);
      } catch (e) {
        log.error(T('vxlan_network.go:146', 'vxlan_network.go:152'), `AddFDB failed: ${(e as Error).message}`);
        await this.dev
          .delARP(gw, mac)
          .catch((e2) => log.error(T('vxlan_network.go:150', 'vxlan_network.go:156'), `DelARP failed: ${e2.message}`));
        return;
      }
      // the route last: the kernel would ARP for the gateway if the neighbour were not there yet
      try {
        await routeReplace(vxlanRoute);
      } catch (e) {
        log.error(
          T('vxlan_network.go:158', 'vxlan_network.go:164'),
          `failed to add vxlanRoute (${vxlanRoute.dst} -> ${gw}): ${(e as Error).message}`,
        );
        await this.dev
          .delARP(gw, mac)
          .catch((e2) => log.error(T('vxlan_network.go:162', 'vxlan_network.go:168'), `DelARP failed: ${e2.message}`));
        await this.dev
          .delFDB(pub, mac)
          .catch((e2) => log.error(T('vxlan_network.go:166', 'vxlan_network.go:172'), `DelFDB failed: ${e2.message}`));
      }
      return;
    }
    if (directRoutingOK) {
      await routeDel(directRoute).catch((e) =>
        log.error(
          T('vxlan_network.go:177', 'vxlan_network.go:184'),
          `Error deleting route to ${sn} via ${pub}: ${e.message}`,
        ),
      );
      return;
    }
    // try to remove all entries, whatever fails
    await this.dev
      .delARP(gw, mac)
      .catch((e) => log.error(T('vxlan_network.go:185', 'vxlan_network.go:192'), `DelARP failed: ${e.message}`));
    await this.dev
      .delFDB(pub, mac)
      .catch((e) => log.error(T('vxlan_network.go:189', 'vxlan_network.go:196'), `DelFDB failed: ${e.message}`));
    await routeDel(vxlanRoute).catch((e) =>
      log.error(
        T('vxlan_network.go:193', 'vxlan_network.go:200'),
        `failed to delete vxlanRoute (${vxlanRoute.dst} -> ${gw}): ${e.message}`,
      ),
    );
  }
}
