// backend.Backend and backend.Network: what every backend (host-gw, vxlan) implements, apart
// from the registry (backends.ts) that imports them.
import type { Context } from './go-context.ts';
import type { NetworkConfig } from './network-config.ts';
import type { Lease } from './subnet-lease.ts';

/** backend.Network: what a backend registered; run() until the context is cancelled. */
export interface Network {
  /** this node's lease */
  readonly lease: Lease;
  /** subnet.env's FLANNEL_MTU */
  readonly mtu: number;
  run(ctx: Context): Promise<void>;
}

/** backend.Backend: acquires the lease (after making its device, if any). */
export interface Backend {
  registerNetwork(signal: AbortSignal, config: NetworkConfig): Promise<Network>;
}
