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

export interface FleetRow {
  readonly node: string;
  readonly state: 'in sync' | 'DRIFT' | 'CANNOT CHECK' | 'STALE' | 'NO REPORT';
  readonly age: string;
  readonly detail: string;
}

/** One row per node of the cluster (and per reporting node not in it), stale ones marked. */
export function fleetTable(
  reports: readonly NodeReport[],
  clusterNodes: readonly string[],
  now: Date,
  staleAfterSeconds: number,
): FleetRow[] {
  const byNode = new Map(reports.map((r) => [r.node, r]));
  const names = [...new Set([...clusterNodes, ...reports.map((r) => r.node)])].sort();
  return names.map((node) => {
    const r = byNode.get(node);
    if (!r)
      return {
        node,
        state: 'NO REPORT',
        age: '-',
        detail: 'no report in etcd: drift --publish not running there, or its report expired',
      };
    const ageS = Math.max(0, Math.round((now.getTime() - Date.parse(r.at)) / 1000));
    const age = ageS < 120 ? `${ageS}s` : ageS < 7200 ? `${Math.round(ageS / 60)}m` : `${Math.round(ageS / 3600)}h`;
    const detail = r.problems.length
      ? r.problems.map((p) => `${p.id}: ${p.reason}`).join('; ')
      : `${r.checks} checks ok`;
    if (ageS > staleAfterSeconds)
      return { node, state: 'STALE', age, detail: `last report ${age} ago (exit ${r.exit}): ${detail}` };
    return { node, state: r.exit === 0 ? 'in sync' : r.exit === 1 ? 'DRIFT' : 'CANNOT CHECK', age, detail };
  });
}
