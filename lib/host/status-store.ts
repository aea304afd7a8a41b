// Every node's last drift result in etcd, so one person can see the whole cluster from any
// node: drift --publish writes `<statusPrefix>/<node>` with a TTL; fleet reads the prefix in
// one range read. A node whose report is older than the staleness limit, or gone (TTL ran
// out), is marked stale: its cron is not running.

import { EtcdError, parseV2Error, v2Put, v2Request, withV3 } from './etcd.ts';
import type { StoreTarget } from './network-store.ts';

export const DEFAULT_STATUS_PREFIX = '/flannel-runbook/status';

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
}

export async function publishReport(t: StoreTarget, prefix: string, r: NodeReport, ttlSeconds: number): Promise<void> {
  const key = `${prefix.replace(/\/+$/, '')}/${r.node}`;
  const value = JSON.stringify(r);
  if (t.api === 'v2') {
    await v2Put(t.conn, t.tls, key, value, { ttl: ttlSeconds });
    return;
  }
  await withV3(t.conn, t.tls, async (c) => {
    const lease = c.lease(ttlSeconds, { autoKeepAlive: false });
    await lease.put(key).value(value);
    lease.release();
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
