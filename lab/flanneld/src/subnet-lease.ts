// flannel's subnet.Lease and subnet.LeaseAttrs: the lease value decoded and encoded exactly as
// Go's encoding/json does ({"PublicIP":...,"BackendType":...,"BackendData":...}; v0.20.2 adds
// "PublicIPv6":null), the lease TTL (24 h), and the registry interface both etcd APIs implement.
import { GoError } from './go-errors.ts';
import { goJsonSyntaxError, type JsonObject, jsonField } from './go-json.ts';
import { type IP4Net, ip4String, parseIP4 } from './ip4.ts';
import { V020 } from './version.ts';

/** subnet.LeaseAttrs: what a node writes into its lease. */
export interface LeaseAttrs {
  /** ip.IP4; 0 when the value had none */
  PublicIP: number;
  BackendType: string;
  /** the backend's own JSON (vxlan: {"VtepMAC":...}), as decoded */
  BackendData?: unknown;
}

/** subnet.Lease: the subnet, its attributes and when it expires (Unix ns, 0n = no TTL). */
export interface Lease {
  subnet: IP4Net;
  attrs: LeaseAttrs;
  expiration: bigint;
  /** etcd v2 modifiedIndex / v3 mod_revision of the key */
  asof?: number;
}

/** A change of the leases in etcd, as subnet.Event. */
export interface LeaseEvent {
  type: 'added' | 'removed';
  lease: Lease;
}

/** The leases and the etcd index (v2) or revision (v3) they were read at. */
export interface LeaseSnapshot {
  leases: Lease[];
  index: number;
}

/** One watch step: the event and the index (v2) or revision (v3) to watch after. */
export interface WatchStep {
  event: LeaseEvent;
  index: number;
}

/**
 * The etcd key space of flannel's subnet registry (subnet/etcdv2/registry.go, v0.20.2's
 * subnet/etcd/registry.go): EtcdV2Registry and EtcdV3Registry implement it.
 */
export interface Registry {
  close(): void;
  getNetworkConfig(signal: AbortSignal): Promise<string>;
  getSubnets(signal: AbortSignal): Promise<LeaseSnapshot>;
  getSubnet(sn: IP4Net, signal: AbortSignal): Promise<{ lease: Lease; index: number }>;
  /** the new lease's expiration */
  createSubnet(sn: IP4Net, attrs: LeaseAttrs, ttlSeconds: number, signal: AbortSignal): Promise<bigint>;
  /** the lease's new expiration */
  updateSubnet(sn: IP4Net, attrs: LeaseAttrs, ttlSeconds: number, asof: number, signal: AbortSignal): Promise<bigint>;
  deleteSubnet(sn: IP4Net, signal: AbortSignal): Promise<void>;
  watchSubnets(since: number, signal: AbortSignal): Promise<WatchStep>;
  watchSubnet(since: number, sn: IP4Net, signal: AbortSignal): Promise<WatchStep>;
  /** v3: the client's warning about a call cancelled before it got through (v2: none) */
  retryWarning(): string | null;
}

/** The event of a lease gone (deleted or expired): only its subnet is known. */
export const removedLease = (sn: IP4Net): LeaseEvent => ({
  type: 'removed',
  lease: { subnet: sn, attrs: { PublicIP: 0, BackendType: '' }, expiration: 0n },
});

/** json.Unmarshal into subnet.LeaseAttrs, with Go's error texts. */
export function parseLeaseAttrs(value: string): LeaseAttrs {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw new GoError(goJsonSyntaxError(value) || 'unexpected end of JSON input');
  }
  if (raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new GoError(
      `json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type subnet.LeaseAttrs`,
    );
  const obj = raw as JsonObject;
  const pub = jsonField(obj, 'PublicIP');
  let publicIP: number | null = 0;
  if (pub !== undefined && pub !== null) {
    publicIP = typeof pub === 'string' ? parseIP4(pub) : null;
    if (publicIP === null)
      throw new GoError(`invalid IP address: ${typeof pub === 'string' ? pub : JSON.stringify(pub)}`);
  }
  const bt = jsonField(obj, 'BackendType');
  return {
    PublicIP: publicIP,
    BackendType: typeof bt === 'string' ? bt : '',
    BackendData: jsonField(obj, 'BackendData'),
  };
}

/** The lease value exactly as Go's json.Marshal(LeaseAttrs) writes it. */
export function leaseAttrsJSON(attrs: LeaseAttrs): string {
  // v0.20.2's LeaseAttrs has PublicIPv6 (no omitempty: null without IPv6)
  const o: Record<string, unknown> = V020
    ? { PublicIP: ip4String(attrs.PublicIP), PublicIPv6: null, BackendType: attrs.BackendType }
    : { PublicIP: ip4String(attrs.PublicIP), BackendType: attrs.BackendType };
  if (attrs.BackendData !== undefined && attrs.BackendData !== null) o.BackendData = attrs.BackendData;
  return JSON.stringify(o);
}

/** A lease's TTL: 24 h. */
export const SUBNET_TTL_S = 24 * 60 * 60;

/** path.Join for etcd keys. */
export function joinPath(...parts: string[]): string {
  const segs: string[] = [];
  for (const p of parts.join('/').split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') segs.pop();
    else segs.push(p);
  }
  return `/${segs.join('/')}`;
}
