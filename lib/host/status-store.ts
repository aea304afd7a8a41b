// Every node's last drift result in etcd, so one person can see the whole cluster from any
// node: drift --publish writes `<statusPrefix>/<node>` with a TTL; fleet reads the prefix in
// one range read. A node whose report is older than the staleness limit, or gone (TTL ran
// out), is marked stale: its cron is not running.
// v2: one PUT with ?ttl= per run. v3: the report is put on ONE lease that every run keeps alive
// (one keep-alive, not a write), its ID in drift's cache; a new lease is granted only when
// there is none cached, it expired (the cron stopped for longer than the TTL) or the TTL
// changed. So a run costs etcd one put and no lease churn; the report still vanishes a TTL
// after the node's last run, as in v2.

import { invalid } from '../core/errors.ts';
import { checkEtcdPrefix, DEFAULT_STATUS_PREFIX, prefixesOverlap } from '../core/validate.ts';
import { EtcdError, parseV2Error, v2Put, v2Request, withV3 } from './etcd.ts';
import type { PublishLease } from './etcd-cache.ts';
import type { StoreTarget } from './network-store.ts';

export { DEFAULT_STATUS_PREFIX };

/**
 * --status-prefix, checked as every etcd prefix is (no `..`, empty segments or control
 * characters: etcd's v2 API resolves them) and apart from the network prefix: a report under
 * it would land among flannel's keys, and every flanneld watching them would loop on it.
 */
export function checkStatusPrefix(value: unknown, networkPrefix: string): string {
  const p = checkEtcdPrefix('--status-prefix', value, DEFAULT_STATUS_PREFIX);
  if (prefixesOverlap(p, networkPrefix))
    throw invalid(
      '--status-prefix',
      p,
      `overlaps the network prefix ${networkPrefix} (flanneld watches every key under it)`,
      DEFAULT_STATUS_PREFIX,
    );
  return p;
}

export interface NodeReport {
  readonly node: string;
  readonly publicIp: string;
  /** ISO time of the run */
  readonly at: string;
  readonly exit: number;
  readonly durationMs: number;
  /** the checks that are not ok (all ok: empty) */
  readonly problems: readonly { id: string; status: string; reason: string }[];
  readonly checks: number;
  /** pod addresses this node's bridge has neighbours for (verify-ping on other nodes pings one) */
  readonly pods?: readonly string[];
}

/** What one --publish did in etcd (v3), for tests and the bench. */
export interface PublishOutcome {
  /** the lease the report is on, and whether this run granted it */
  readonly lease?: PublishLease & { readonly granted: boolean };
}

type V3Client = Parameters<Parameters<typeof withV3>[2]>[0];

/** One keep-alive of `id`: the TTL left (0: expired or unknown to this cluster) and the cluster that answered. */
async function keepAliveOnce(c: V3Client, id: string, timeoutMs: number): Promise<{ ttl: number; clusterId: string }> {
  const stream = await c.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
  try {
    return await new Promise((resolve, reject) => {
      stream.on('data', (r) => resolve({ ttl: Number(r.TTL), clusterId: r.header.cluster_id }));
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('etcd ended the keep-alive stream without an answer')));
      stream.write({ ID: id });
    });
  } finally {
    stream.cancel();
  }
}

export async function publishReport(
  t: StoreTarget,
  prefix: string,
  r: NodeReport,
  ttlSeconds: number,
): Promise<PublishOutcome> {
  const key = `${prefix.replace(/\/+$/, '')}/${r.node}`;
  const value = JSON.stringify(r);
  if (t.api === 'v2') {
    await v2Put(t.conn, t.tls, key, value, { ttl: ttlSeconds });
    return {};
  }
  return withV3(t.conn, t.tls, async (c) => {
    const cache = t.cache;
    const grant = async (): Promise<PublishLease & { granted: boolean }> => {
      const g = await c.leaseClient.leaseGrant({ TTL: ttlSeconds });
      const lease = { id: String(g.ID), ttl: ttlSeconds };
      cache?.recordPublishLease(g.header.cluster_id, lease);
      return { ...lease, granted: true };
    };
    let lease: (PublishLease & { granted: boolean }) | undefined;
    const cached = cache?.cachedPublishLease();
    if (cached && cached.lease.ttl === ttlSeconds) {
      const alive = await keepAliveOnce(c, cached.lease.id, t.conn.timeoutMs ?? 3000);
      if (alive.ttl > 0 && alive.clusterId === cached.clusterId) lease = { ...cached.lease, granted: false };
    }
    lease ??= await grant();
    try {
      await c.put(key).value(value).lease(lease.id);
    } catch (e) {
      // expired between the keep-alive and the put: once more on a new one
      if (!/requested lease not found/.test(String((e as Error)?.message)) || lease.granted) throw e;
      lease = await grant();
      await c.put(key).value(value).lease(lease.id);
    }
    return { lease };
  });
}

export async function readReports(t: StoreTarget, prefix: string): Promise<NodeReport[]> {
  const base = prefix.replace(/\/+$/, '');
  const parse = (v: string): NodeReport | undefined => {
    try {
      const j = JSON.parse(v) as NodeReport;
      return typeof j.node === 'string' && typeof j.at === 'string' ? j : undefined;
    } catch {
      return undefined;
    }
  };
  if (t.api === 'v2') {
    const res = await v2Request(t.conn, t.tls, 'GET', base, { recursive: true });
    if (res.status === 404 && parseV2Error(res.body)?.errorCode === 100) return [];
    if (res.status !== 200) throw new EtcdError('http', res.endpoint, `etcd: GET ${base} answered ${res.status}`);
    const nodes = (JSON.parse(res.body) as { node?: { nodes?: { value?: string }[] } }).node?.nodes ?? [];
    return nodes.map((n) => (n.value ? parse(n.value) : undefined)).filter((x): x is NodeReport => Boolean(x));
  }
  return withV3(t.conn, t.tls, async (c) => {
    const kvs = await c.getAll().prefix(`${base}/`).strings();
    return Object.values(kvs)
      .map(parse)
      .filter((x): x is NodeReport => Boolean(x));
  });
}
