// backend/hostgw: routes via the other nodes' public IPs on the external interface (one route per
// lease, through RouteNetwork); a public IP that is not the interface's address is refused
// ("you're on a NAT").
import type { Backend, Network } from './backend-types.ts';
import type { ExtIface } from './ext-iface.ts';
import { isCanceled } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { ip4String } from './ip4.ts';
import type { NetworkConfig } from './network-config.ts';
import { RouteNetwork } from './route-network.ts';
import type { LocalManager } from './subnet-manager.ts';
import type { Lease, LeaseAttrs } from './subnet-lease.ts';

/** backend/hostgw: routes via the other nodes' public IPs on the external interface. */
export class HostGwBackend implements Backend {
  private readonly sm: LocalManager;
  private readonly extIface: ExtIface;

  constructor(sm: LocalManager, extIface: ExtIface) {
    if (extIface.extAddr !== extIface.ifaceAddr) {
      throw new GoError(
        "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
      );
    }
    this.sm = sm;
    this.extIface = extIface;
  }

  async registerNetwork(signal: AbortSignal, _config: NetworkConfig): Promise<Network> {
    const attrs: LeaseAttrs = { PublicIP: this.extIface.extAddr, BackendType: 'host-gw' };
    let lease: Lease;
    try {
      lease = await this.sm.acquireLease(attrs, signal);
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to acquire lease: ${(e as Error).message}`);
    }
    const { iface } = this.extIface;
    return new RouteNetwork({
      sm: this.sm,
      extIface: this.extIface,
      backendType: 'host-gw',
      mtu: iface.mtu,
      linkIndex: iface.index,
      lease,
      getRoute: (l) => ({
        dst: l.subnet.toString(),
        gw: ip4String(l.attrs.PublicIP),
        dev: iface.name,
        linkIndex: iface.index,
      }),
    });
  }
}
