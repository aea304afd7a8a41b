// The benchmark's synthetic cluster as data (pure): N leases in a /11 under their own etcd
// prefix, the etcd payloads that load them (v2 PUT bodies, v3 `etcdctl txn` batches), the
// `ip -batch` payloads that install or delete their routes, and the naive per-lease shell
// loops the toolkit is measured against. Nothing here touches a host.
//
// Lease i: subnet 172.8.0.0/24 + i (172.8.0.0/24 .. 172.27.135.0/24 for 5,000), never in the
// lab's own 172.7.0.0/16; PublicIP 10.4.100.0 + i, on the lab's 10.4.0.0/16 segment (so the
// host-gw route is valid) but held by no host (nothing is ever sent there).

import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { formatLeaseValue, leaseKey, type EtcdApi } from '../../lib/model/lease.ts';

export const BENCH_PREFIX = '/bench/network';
export const BENCH_NETWORK = Ip4Net.parse('172.0.0.0/11');
/** flannel's config, as etcd-config would write it (both key spaces hold the same bytes) */
export const BENCH_CONFIG = JSON.stringify({ Network: BENCH_NETWORK.toString(), Backend: { Type: 'host-gw' } });
/** a lease TTL as flanneld's (24 h): drift's lease.ttl check stays ok */
export const LEASE_TTL_S = 86400;
/** etcd's default --max-txn-ops */
export const V3_TXN_OPS = 128;

const FIRST_SUBNET = Ip4.parse('172.8.0.0');
const FIRST_PUBLIC_IP = Ip4.parse('10.4.100.0');
/** /24s from 172.8.0.0 to the end of the /11 */
export const MAX_LEASES = (32 - 8) * 256;

export interface BenchLease {
  readonly subnet: Ip4Net;
  readonly publicIp: Ip4;
}

/** The i-th synthetic lease (0-based). */
export function syntheticLease(i: number): BenchLease {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_LEASES)
    throw new RangeError(`lease index ${i}: must be 0-${MAX_LEASES - 1}`);
  return { subnet: Ip4Net.of(FIRST_SUBNET.add(i * 256), 24), publicIp: FIRST_PUBLIC_IP.add(i) };
}

/** Leases [from, to). */
export function syntheticLeases(from: number, to: number): BenchLease[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, k) => syntheticLease(from + k));
}

/** The key and value flanneld writes for a host-gw lease, in that key space's own form. */
export function leaseEntry(l: BenchLease, api: EtcdApi, prefix = BENCH_PREFIX): { key: string; value: string } {
  return {
    key: leaseKey(prefix, l.subnet),
    value: formatLeaseValue({ publicIp: l.publicIp, backendType: 'host-gw', api }),
  };
}

/**
 * `etcdctl txn` inputs (no compares, puts only, each bound to `leaseId` when given), at most
 * V3_TXN_OPS puts per transaction. etcdctl reads a double-quoted value with Go's unquoting,
 * of which JSON's string escapes are a subset.
 */
export function v3TxnBatches(
  entries: readonly { key: string; value: string }[],
  leaseId?: string,
  ops = V3_TXN_OPS,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < entries.length; i += ops) {
    const puts = entries
      .slice(i, i + ops)
      .map((e) => `put ${e.key} ${JSON.stringify(e.value)}${leaseId ? ` --lease=${leaseId}` : ''}`);
    // compares (none), blank line, success requests, blank line, failure requests (none), blank line
    out.push(`\n${puts.join('\n')}\n\n\n`);
  }
  return out;
}

/** `lease 694d7a3b6f1e2a05 granted with TTL(86400s)` -> the hex id etcdctl's --lease takes. */
export function parseLeaseGrant(stdout: string): string {
  const m = /^lease ([0-9a-f]+) granted/m.exec(stdout);
  if (!m) throw new Error(`etcdctl lease grant: unexpected output ${JSON.stringify(stdout.slice(0, 80))}`);
  return m[1]!;
}

/** One `ip -batch` payload: `route replace` for every lease (the same words drift --fix sends). */
export function routeReplaceBatch(leases: readonly BenchLease[], dev: string): string {
  return leases.map((l) => `route replace ${l.subnet} via ${l.publicIp} dev ${dev}\n`).join('');
}

/** One `ip -batch` payload deleting every lease's route. */
export function routeDelBatch(leases: readonly BenchLease[], dev: string): string {
  return leases.map((l) => `route del ${l.subnet} via ${l.publicIp} dev ${dev}\n`).join('');
}

/** `DST VIA` per line: the input of the naive fix loop. */
export function routeTable(leases: readonly BenchLease[]): string {
  return leases.map((l) => `${l.subnet} ${l.publicIp}\n`).join('');
}

/** `KEY DST` per line: the input of the naive check loop. */
export function checkTable(leases: readonly BenchLease[], api: EtcdApi, prefix = BENCH_PREFIX): string {
  return leases.map((l) => `${leaseEntry(l, api, prefix).key} ${l.subnet}\n`).join('');
}

/** `count` indexes spread evenly over [0, n) (all of them when count >= n). */
export function sampleIndexes(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.floor((k * n) / count));
}

// ---------------------------------------------------------------- the runbook's way, by hand

/** The naive fix: one `ip route replace` per lease (the runbook's way of adding a route). */
export function naiveFixLoop(table: string, dev: string): string[] {
  return ['bash', '-c', `while read -r dst via; do ip route replace "$dst" via "$via" dev ${dev}; done < ${table}`];
}

/**
 * The naive check: per lease, one etcd get of its key and one `ip route show` of its subnet
 * (what an operator types: etcdctl per key, iproute2 per subnet).
 */
export function naiveCheckLoop(table: string, etcdctl: string): string[] {
  return [
    'bash',
    '-c',
    `while read -r key dst; do ${etcdctl} get "$key" >/dev/null; ip route show "$dst" >/dev/null; done < ${table}`,
  ];
}

/** etcdctl with the node's certificates, as an operator on the node runs it (one word list, shell-ready). */
export function etcdctlWords(
  api: EtcdApi,
  endpoints: readonly string[],
  certs: { ca: string; cert: string; key: string },
): string {
  return api === 'v3'
    ? `ETCDCTL_API=3 etcdctl --endpoints ${endpoints.join(',')} --cacert ${certs.ca} --cert ${certs.cert} --key ${certs.key}`
    : `ETCDCTL_API=2 etcdctl --no-sync --endpoints ${endpoints.join(',')} --ca-file ${certs.ca} --cert-file ${certs.cert} --key-file ${certs.key}`;
}

/** One etcd range read of everything under `prefix` by curl, as drift makes it: v2 a recursive quorum GET, v3 the gRPC gateway's (linearizable) range. */
export function etcdReadCommand(
  api: EtcdApi,
  endpoint: string,
  prefix: string,
  certs: { ca: string; cert: string; key: string },
): string {
  const tls = `--cacert ${certs.ca} --cert ${certs.cert} --key ${certs.key}`;
  return api === 'v2'
    ? `curl -sf ${tls} '${endpoint}/v2/keys${prefix}?recursive=true&quorum=true'`
    : `curl -sf ${tls} ${endpoint}/v3/kv/range -d '${JSON.stringify({ key: b64(`${prefix}/`), range_end: b64(`${prefix}0`) })}'`;
}

/** The floor: what drift must at least do, by a shell with no toolkit: one route dump, one rules dump, one etcd range read. */
export function floorScript(
  api: EtcdApi,
  endpoint: string,
  prefix: string,
  certs: { ca: string; cert: string; key: string },
): string[] {
  return [
    'bash',
    '-c',
    `ip -j route show >/dev/null && iptables-save >/dev/null && ${etcdReadCommand(api, endpoint, prefix, certs)} >/dev/null`,
  ];
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A sequential `ping -c1` loop over the targets (the runbook's one ping, repeated). */
export function pingLoop(targets: readonly string[], waitS: number): string[] {
  return ['bash', '-c', `for t in ${targets.join(' ')}; do ping -n -c1 -W${waitS} "$t" >/dev/null; done; true`];
}
