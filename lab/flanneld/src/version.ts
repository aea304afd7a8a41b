// Which flanneld the bundle plays. lab/flanneld/pack.ts sets STANDIN_VERSION when it bundles the
// stand-in (esbuild `define`): 'v0.11.0' -> etcd v2 and v0.11.0's texts; 'v0.20.2' -> etcd v3,
// leases as v3 lease grants, iptables in FLANNEL-FWD / FLANNEL-POSTRTG chains, a panic on
// SIGTERM. Run from source without the define (node --import tsx src/main.ts), it is v0.11.0.

/** Replaced by a string literal at bundle time; not defined when run from source. */
declare const STANDIN_VERSION: string | undefined;

/** What `--version` prints. */
export const VERSION: string = typeof STANDIN_VERSION === 'string' ? STANDIN_VERSION : 'v0.11.0';

/** flanneld v0.20.2 (etcd v3) rather than v0.11.0 (etcd v2): every difference branches on this. */
export const V020: boolean = VERSION !== 'v0.11.0';

/** A glog file:line tag: v0.11.0's, or v0.20.2's when the line moved. */
export const T = (v011: string, v020: string): string => (V020 ? v020 : v011);
