// The etcd v3 client stack in one module: etcd3 (gRPC, protobuf) and the no-op cockatiel policy
// withV3 hands it. Only withV3 imports it, lazily, so a v2 run never loads it; the build bundles
// it apart, as dist/etcd3-stack.mjs with etcd's protocol precompiled (build/bundle.ts), because
// loading it from node_modules costs a v3 cron run more than everything else it does.

export { Etcd3 } from 'etcd3';
export { noop } from 'cockatiel';
