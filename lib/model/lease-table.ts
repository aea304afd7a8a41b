// Leases as a small table for reports (etcd-config, verify-ping, fleet).

import { formatTable } from '../core/table.ts';
import type { Lease } from './lease.ts';

export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

/** `leases (2):` then one aligned row per lease: subnet, public IP, backend, TTL left. */
export function formatLeaseTable(leases: readonly Lease[]): string[] {
  if (leases.length === 0) return ['leases: none yet (flanneld writes one per node when it starts)'];
  const rows = [...leases]
    .sort((a, b) => a.subnet.ip.value - b.subnet.ip.value)
    .map((l) => [
      l.subnet.toString(),
      l.publicIp.toString(),
      l.backendType || '-',
      l.ttl === undefined ? (l.expiration ? 'expiring' : 'no TTL') : formatDuration(l.ttl),
    ]);
  return [`leases (${leases.length}):`, ...formatTable(['SUBNET', 'PUBLIC IP', 'BACKEND', 'TTL'], rows, '  ')];
}
