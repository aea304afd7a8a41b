// What every check area reads, derived once from the expectation and the observation: etcd's
// answer, the config parsed (or why not), the leases and this node's, the interface, the
// bridge. Pure.

import type { Ip4 } from '../core/ip4.ts';
import { findInterface, type Interface } from '../model/interfaces.ts';
import type { Lease } from '../model/lease.ts';
import { parseNetworkConfig, type NetworkConfig } from '../model/netconfig.ts';
import type { NetworkState } from '../host/network-store.ts';
import type { NodeObservation } from '../host/observe.ts';
import type { NodeExpectation } from './expectation.ts';
import type { Blocker } from './blocker.ts';

export interface CheckContext {
  readonly expect: NodeExpectation;
  readonly obs: NodeObservation;
  /** etcd's answer; undefined when it did not answer */
  readonly etcd?: NetworkState;
  /** set when etcd did not answer */
  readonly etcdBlocker?: Blocker & { kind: 'etcd' };
  /** the config flannel reads, parsed; undefined when etcd did not answer, or holds none usable */
  readonly config?: NetworkConfig;
  /** etcd answered without a usable config */
  readonly configBlocker?: Blocker & { kind: 'config' };
  /** the config's parse error, when the config is invalid */
  readonly configError?: string;
  /** the config the cluster file says (when given): knows the backend even when etcd's is unusable */
  readonly desired?: NetworkConfig;
  readonly leases: readonly Lease[];
  /** leases with this node's public IP */
  readonly mine: readonly Lease[];
  /** this node's lease: its public IP and its subnet */
  readonly own?: Lease;
  readonly ifaces?: readonly Interface[];
  /** the interface the public IP is on */
  readonly dev?: Interface;
  /** is `ip` on the same L2 segment as this node (one of the iface's subnets)? */
  readonly sameL2: (ip: Ip4) => boolean;
}

export function deriveContext(expect: NodeExpectation, obs: NodeObservation): CheckContext {
  const etcd = obs.etcd.ok ? obs.etcd.value : undefined;
  let config: NetworkConfig | undefined;
  let configError: string | undefined;
  if (etcd?.config !== undefined) {
    try {
      config = parseNetworkConfig(etcd.config);
    } catch (err) {
      configError = (err as Error).message;
    }
  }
  let desired: NetworkConfig | undefined;
  try {
    desired = expect.desiredConfig ? parseNetworkConfig(expect.desiredConfig) : undefined;
  } catch {
    desired = undefined;
  }
  const leases = etcd?.leases ?? [];
  const mine = leases.filter((l) => l.publicIp.equals(expect.publicIp));
  const own = mine.find((l) => l.subnet.equals(expect.subnet));
  const ifaces = obs.ifaces.ok ? obs.ifaces.value : undefined;
  const dev = ifaces ? findInterface(ifaces, expect.iface) : undefined;
  return {
    expect,
    obs,
    ...(etcd && { etcd }),
    ...(!obs.etcd.ok && {
      etcdBlocker: {
        kind: 'etcd' as const,
        error: obs.etcd.error,
        ...(obs.etcd.kind !== undefined && { errorKind: obs.etcd.kind }),
      },
    }),
    ...(config && { config }),
    ...(etcd &&
      !config && {
        configBlocker: { kind: 'config' as const, why: etcd.config === undefined ? 'missing' : 'invalid' },
      }),
    ...(configError !== undefined && { configError }),
    ...(desired && { desired }),
    leases,
    mine,
    ...(own && { own }),
    ...(ifaces && { ifaces }),
    ...(dev && { dev }),
    sameL2: (ip) => dev?.addrs.some((a) => a.contains(ip)) ?? false,
  };
}

/**
 * drift and doctor judge the host they run on: a node whose public IP is not one of this
 * host's addresses is refused (--fix would write that node's subnet here: a lease takeover).
 * undefined when it is this host, or when the links could not be read (the checks say so).
 */
export function otherNodeReason(expect: NodeExpectation, obs: NodeObservation): string | undefined {
  if (!obs.ifaces.ok) return undefined;
  const local = obs.ifaces.value.flatMap((i) => i.addrs.map((a) => a.ip));
  if (local.some((ip) => ip.equals(expect.publicIp))) return undefined;
  const have = local.map(String).filter((ip) => !ip.startsWith('127.'));
  return `node ${expect.name} (${expect.publicIp}) is not this host: no interface here has ${expect.publicIp} (have ${have.join(', ') || 'none'}); run it on ${expect.name}`;
}
