// The subnet manager: the lease choice of subnet/etcdv2/local_manager.go (v0.11.0) and
// subnet/etcd/local_manager.go (v0.20.2). A lease with this node's public IP is reused; else
// FLANNEL_SUBNET of the subnet file (v0.11.0 takes it over from a live lease of another node,
// v0.20.2 does not); else a random free subnet among the first 100. Renewal is an unconditional
// set (v0.11.0 passes PrevIndex 0). newSubnetManager is main.newSubnetManager.
import type { EtcdClientConfig } from './etcd-http.ts';
import { loadEtcdTLS } from './etcd-tls.ts';
import { ERR_EVENT_INDEX_CLEARED, EtcdV2Registry, isEtcdError } from './etcd-v2.ts';
import { EtcdV3Registry, errKeyExists } from './etcd-v3.ts';
import { log } from './glog.ts';
import { isCanceled } from './go-context.ts';
import { GoError } from './go-errors.ts';
import type { FlagSet } from './go-flags.ts';
import { IP4Net, ip4String } from './ip4.ts';
import { isSubnetConfigCompat, type NetworkConfig, parseConfig } from './network-config.ts';
import { readCIDRFromSubnetFile } from './subnet-env.ts';
import { type Lease, type LeaseAttrs, type LeaseEvent, type Registry, SUBNET_TTL_S } from './subnet-lease.ts';
import { V020 } from './version.ts';

/** One step of a lease watch: events, or (after a reset) a snapshot; the cursor to go on from. */
export interface WatchResult {
  events: LeaseEvent[];
  snapshot: Lease[];
  cursor: number;
}

const errTryAgain = new GoError('try again');

/** subnet/etcdv2/local_manager.go of v0.11.0: the lease choice and the watches. */
export class LocalManager {
  constructor(
    readonly registry: Registry,
    protected readonly previousSubnet: IP4Net,
  ) {}

  name(): string {
    return `Etcd Local Manager with Previous Subnet: ${this.previousSubnet.empty() ? 'None' : this.previousSubnet.toString()}`;
  }

  async getNetworkConfig(signal: AbortSignal): Promise<NetworkConfig> {
    return parseConfig(await this.registry.getNetworkConfig(signal));
  }

  async acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    const config = await this.getNetworkConfig(signal);
    for (let i = 0; i < 10; i++) {
      try {
        return await this.tryAcquireLease(config, attrs.PublicIP, attrs, signal);
      } catch (e) {
        if (e === errTryAgain) continue;
        throw e;
      }
    }
    throw new GoError('Max retries reached trying to acquire a subnet');
  }

  async tryAcquireLease(
    config: NetworkConfig,
    extIaddr: number,
    attrs: LeaseAttrs,
    signal: AbortSignal,
  ): Promise<Lease> {
    const { leases } = await this.registry.getSubnets(signal);

    // (1) a lease that already carries this node's public IP
    const mine = leases.find((l) => l.attrs.PublicIP === extIaddr);
    if (mine) {
      if (isSubnetConfigCompat(config, mine.subnet)) {
        log.info(
          'local_manager.go:147',
          `Found lease (${mine.subnet}) for current IP (${ip4String(extIaddr)}), reusing`,
        );
        const ttl = mine.expiration !== 0n ? SUBNET_TTL_S : 0;
        const exp = await this.registry.updateSubnet(mine.subnet, attrs, ttl, 0, signal);
        return { subnet: mine.subnet, attrs: { ...attrs }, expiration: exp };
      }
      log.info(
        'local_manager.go:161',
        `Found lease (${mine.subnet}) for current IP (${ip4String(extIaddr)}) but not compatible with current config, deleting`,
      );
      await this.registry.deleteSubnet(mine.subnet, signal);
    }

    // (2) FLANNEL_SUBNET of the subnet file: taken over even when another node holds it
    let sn: IP4Net | null = null;
    if (!this.previousSubnet.empty()) {
      const held = leases.find((l) => l.subnet.equal(this.previousSubnet));
      if (held) {
        if (isSubnetConfigCompat(config, held.subnet)) {
          log.info('local_manager.go:177', `Found lease (${held.subnet}) matching previously leased subnet, reusing`);
          const ttl = held.expiration !== 0n ? SUBNET_TTL_S : 0;
          const exp = await this.registry.updateSubnet(held.subnet, attrs, ttl, 0, signal);
          return { subnet: held.subnet, attrs: { ...attrs }, expiration: exp };
        }
        log.info(
          'local_manager.go:191',
          `Found lease (${held.subnet}) matching previously leased subnet but not compatible with current config, deleting`,
        );
        await this.registry.deleteSubnet(held.subnet, signal);
      } else if (isSubnetConfigCompat(config, this.previousSubnet)) {
        log.info('local_manager.go:201', `Found previously leased subnet (${this.previousSubnet}), reusing`);
        sn = this.previousSubnet;
      } else {
        log.error(
          'local_manager.go:204',
          `Found previously leased subnet (${this.previousSubnet}) that is not compatible with the Etcd network config, ignoring`,
        );
      }
    }

    // (3) a random free subnet among the first 100 free ones
    if (sn === null) sn = this.allocateSubnet(config, leases);

    let exp: bigint;
    try {
      exp = await this.registry.createSubnet(sn, attrs, SUBNET_TTL_S, signal);
    } catch (e) {
      // v0.11.0's isErrEtcdNodeExist is true for every etcd API error
      if (isEtcdError(e)) throw errTryAgain;
      throw e;
    }
    log.info('local_manager.go:220', `Allocated lease (${sn}) to current node (${ip4String(extIaddr)}) `);
    return { subnet: sn, attrs: { ...attrs }, expiration: exp };
  }

  allocateSubnet(config: NetworkConfig, leases: Lease[]): IP4Net {
    log.info(
      'local_manager.go:234',
      `Picking subnet in range ${ip4String(config.subnetMin)} ... ${ip4String(config.subnetMax)}`,
    );
    const bag: number[] = [];
    const step = 2 ** (32 - config.subnetLen);
    for (let ip = config.subnetMin; ip <= config.subnetMax && bag.length < 100; ip += step) {
      const sn = new IP4Net(ip, config.subnetLen);
      if (!leases.some((l) => sn.overlaps(l.subnet))) bag.push(ip);
    }
    if (bag.length === 0) throw new GoError('out of subnets');
    return new IP4Net(bag[Math.floor(Math.random() * bag.length)]!, config.subnetLen);
  }

  async renewLease(lease: Lease, signal: AbortSignal): Promise<void> {
    lease.expiration = await this.registry.updateSubnet(lease.subnet, lease.attrs, SUBNET_TTL_S, 0, signal);
  }

  async watchLease(sn: IP4Net, cursor: number | null, signal: AbortSignal): Promise<WatchResult> {
    if (cursor === null) return this.leaseWatchReset(sn, signal);
    try {
      const { event, index } = await this.registry.watchSubnet(cursor, sn, signal);
      return { events: [event], snapshot: [], cursor: index };
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_EVENT_INDEX_CLEARED) {
        log.warn('local_manager.go:304', 'Watch of subnet leases failed because etcd index outside history window');
        return this.leaseWatchReset(sn, signal);
      }
      throw e;
    }
  }

  async leaseWatchReset(sn: IP4Net, signal: AbortSignal): Promise<WatchResult> {
    const { lease, index } = await this.registry.getSubnet(sn, signal);
    return { events: [], snapshot: [lease], cursor: index };
  }

  async watchLeases(cursor: number | null, signal: AbortSignal): Promise<WatchResult> {
    if (cursor === null) return this.leasesWatchReset(signal);
    try {
      const { event, index } = await this.registry.watchSubnets(cursor, signal);
      return { events: [event], snapshot: [], cursor: index };
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_EVENT_INDEX_CLEARED) {
        log.warn('local_manager.go:331', 'Watch of subnet leases failed because etcd index outside history window');
        return this.leasesWatchReset(signal);
      }
      throw e;
    }
  }

  async leasesWatchReset(signal: AbortSignal): Promise<WatchResult> {
    try {
      const { leases, index } = await this.registry.getSubnets(signal);
      return { events: [], snapshot: leases, cursor: index };
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to retrieve subnet leases: ${(e as Error).message}`);
    }
  }
}

/**
 * subnet/etcd/local_manager.go of v0.20.2: the same choice with v0.20.2's texts, except that a
 * subnet.env naming another node's live lease is no longer taken over (a random subnet instead),
 * and every renewal is a new v3 lease grant.
 */
class LocalManagerV020 extends LocalManager {
  async tryAcquireLease(
    config: NetworkConfig,
    extIaddr: number,
    attrs: LeaseAttrs,
    signal: AbortSignal,
  ): Promise<Lease> {
    const { leases } = await this.registry.getSubnets(signal);

    // (1) a lease that already carries this node's public IP
    const mine = leases.find((l) => l.attrs.PublicIP === extIaddr);
    if (mine) {
      if (isSubnetConfigCompat(config, mine.subnet)) {
        log.info(
          'local_manager.go:148',
          `Found lease (ip: ${mine.subnet} ipv6: ::/0) for current IP (${ip4String(extIaddr)}), reusing`,
        );
        const ttl = mine.expiration !== 0n ? SUBNET_TTL_S : 0;
        const exp = await this.registry.updateSubnet(mine.subnet, attrs, ttl, 0, signal);
        return { subnet: mine.subnet, attrs: { ...attrs }, expiration: exp };
      }
      log.info(
        'local_manager.go:161',
        `Found lease (ip: ${mine.subnet} ipv6: ::/0) for current IP (${ip4String(extIaddr)}) but not compatible with current config, deleting`,
      );
      await this.registry.deleteSubnet(mine.subnet, signal);
    }

    // (2) FLANNEL_SUBNET of the subnet file, only when no other node holds it
    let sn: IP4Net | null = null;
    if (!this.previousSubnet.empty() && !leases.some((l) => l.subnet.equal(this.previousSubnet))) {
      if (isSubnetConfigCompat(config, this.previousSubnet)) {
        log.info('local_manager.go:179', `Found previously leased subnet (${this.previousSubnet}), reusing`);
        sn = this.previousSubnet;
      } else {
        log.error(
          'local_manager.go:182',
          `Found previously leased subnet (${this.previousSubnet}) that is not compatible with the Etcd network config, ignoring`,
        );
      }
    }

    // (3) a random free subnet
    if (sn === null) sn = this.allocateSubnet(config, leases);

    let exp: bigint;
    try {
      exp = await this.registry.createSubnet(sn, attrs, SUBNET_TTL_S, signal);
    } catch (e) {
      if (e === errKeyExists) throw errTryAgain;
      throw e;
    }
    log.info(
      'local_manager.go:199',
      `Allocated lease (ip: ${sn} ipv6: ::/0) to current node (${ip4String(extIaddr)}) `,
    );
    return { subnet: sn, attrs: { ...attrs }, expiration: exp };
  }

  allocateSubnet(config: NetworkConfig, leases: Lease[]): IP4Net {
    log.info(
      'local_manager.go:216',
      `Picking subnet in range ${ip4String(config.subnetMin)} ... ${ip4String(config.subnetMax)}`,
    );
    const bag: number[] = [];
    const step = 2 ** (32 - config.subnetLen);
    for (let ip = config.subnetMin; ip <= config.subnetMax && bag.length < 100; ip += step) {
      const sn = new IP4Net(ip, config.subnetLen);
      if (!leases.some((l) => sn.overlaps(l.subnet))) bag.push(ip);
    }
    if (bag.length === 0) throw new GoError('out of subnets');
    return new IP4Net(bag[Math.floor(Math.random() * bag.length)]!, config.subnetLen);
  }
}

/** etcd key-space APIs by name; v0.11.0 speaks v2 only (a v3 registry comes with the v0.20 mode). */
const REGISTRIES: Record<'v2' | 'v3', new (cfg: EtcdClientConfig) => Registry> = {
  v2: EtcdV2Registry,
  v3: EtcdV3Registry,
};

/** main.newSubnetManager: the etcd client (TLS files read now) and the subnet file's previous subnet. */
export function newSubnetManager(opts: FlagSet, api: 'v2' | 'v3' = V020 ? 'v3' : 'v2'): LocalManager {
  const tls = loadEtcdTLS(opts);
  if (api === 'v3' && (!opts.get('etcd-keyfile') || !opts.get('etcd-certfile'))) {
    log.warn('registry.go:82', 'no certificate provided: connecting to etcd with http. This is insecure');
  }
  const registry = new REGISTRIES[api]({
    endpoints: opts.get('etcd-endpoints').split(','),
    prefix: opts.get('etcd-prefix'),
    tls,
    username: opts.get('etcd-username'),
    password: opts.get('etcd-password'),
  });
  // Attempt to renew the lease for the subnet specified in the subnet file
  const prev = readCIDRFromSubnetFile(opts.get('subnet-file'), 'FLANNEL_SUBNET');
  return api === 'v3' ? new LocalManagerV020(registry, prev) : new LocalManager(registry, prev);
}
