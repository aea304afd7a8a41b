// Subnet leases as flanneld keeps them in etcd, one type for both key spaces:
//   v2 (flannel v0.11.0 - v0.17): `GET /v2/keys/<prefix>?recursive=true`, TTL on each node;
//   v3 (flannel v0.18+): plain key/values, each bound to its own lease grant (TTL 86400).
// Key `<prefix>/subnets/172.7.21.0-24`; value `{"PublicIP":"10.4.7.21","BackendType":"host-gw"}`,
// vxlan adds `"BackendData":{"VtepMAC":"..."}`; v0.20 adds `"PublicIPv6":null` and a VNI.
// flanneld itself skips a lease it cannot read ("Ignoring bad subnet node") and goes on,
// so the tree parsers do too: a bad entry lands in `invalid`, the rest still parses.

import { DEFAULT_ETCD_PREFIX } from '../core/validate.ts';
import { RuntimeError, UsageError, invalid } from '../core/errors.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';
import { foldFields, invalidDocument, isJsonObject } from './netconfig.ts';

export type EtcdApi = 'v2' | 'v3';
/** The value layout a flannel release writes: v0.11.0's, or v0.20.2's (PublicIPv6, VNI). */
export type LeaseValueForm = 'v0.11' | 'v0.20';

export interface Lease {
  /** the node's subnet, network form: 172.7.21.0/24 */
  readonly subnet: Ip4Net;
  /** the node's address other nodes route to (host-gw next hop, vxlan fdb dst) */
  readonly publicIp: Ip4;
  /** as written by the backend (`host-gw`, `vxlan`); '' when absent (flannel then ignores it) */
  readonly backendType: string;
  /** vxlan: the node's flannel.<VNI> MAC, lowercase colon form */
  readonly vtepMac?: string;
  /** vxlan, v0.20 form only */
  readonly vni?: number;
  /** BackendData as stored (for backends other than vxlan, e.g. wireguard's PublicKey) */
  readonly backendData?: unknown;
  /** seconds left, when the store said (v2 `ttl`, v3 lease time-to-live) */
  readonly ttl?: number;
  /** v2 `expiration`; a v2 lease with neither ttl nor expiration is a reservation */
  readonly expiration?: Date;
  readonly key: string;
  readonly api: EtcdApi;
}

export interface InvalidEntry {
  readonly key: string;
  /** one line: field, value, rule */
  readonly reason: string;
}

export interface LeaseTree {
  /** the raw `<prefix>/config` value, when present */
  readonly config?: string;
  /** v2: the config node's modifiedIndex (what a compare-and-swap names) */
  readonly configIndex?: number;
  readonly leases: Lease[];
  readonly invalid: InvalidEntry[];
}

export interface V3Kv {
  readonly key: string;
  readonly value: string;
  /** remaining seconds of the kv's lease grant, when looked up */
  readonly ttl?: number;
}

const EXAMPLE_VALUE = '{"PublicIP":"10.4.7.21","BackendType":"host-gw"}';

function trimPrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/** `/coreos.com/network/subnets/172.7.21.0-24` (host bits of `subnet` are cleared). */
export function leaseKey(prefix: string, subnet: Ip4Net): string {
  return `${trimPrefix(prefix)}/subnets/${subnet.network().toLeaseKey()}`;
}

/** The subnet a lease key names; the key must sit under `<prefix>/subnets/`. */
export function parseLeaseKey(key: string, prefix = DEFAULT_ETCD_PREFIX): Ip4Net {
  const dir = `${trimPrefix(prefix)}/subnets/`;
  if (typeof key !== 'string' || !key.startsWith(dir)) {
    throw invalid('lease key', key, `must be ${dir}ADDR-PREFIX`, `${dir}172.7.21.0-24`);
  }
  return Ip4Net.parseLeaseKey(key.slice(dir.length), 'lease key');
}

function subnetOfKey(key: string): Ip4Net {
  const at = typeof key === 'string' ? key.lastIndexOf('/subnets/') : -1;
  if (at < 0)
    throw invalid('lease key', key, 'must end in /subnets/ADDR-PREFIX', `${DEFAULT_ETCD_PREFIX}/subnets/172.7.21.0-24`);
  return Ip4Net.parseLeaseKey(key.slice(at + '/subnets/'.length), 'lease key');
}

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

const LEASE_FIELDS = ['PublicIP', 'BackendType', 'BackendData'] as const;
const VXLAN_DATA_FIELDS = ['VtepMAC', 'VNI'] as const;

/**
 * One lease from its etcd key and value. Field names match case-insensitively, as Go's
 * json.Unmarshal into LeaseAttrs does. Throws a one-line UsageError naming the key, the
 * field and the value: not JSON, no PublicIP, a bad address or VtepMAC.
 */
export function parseLeaseValue(json: string, key: string, api: EtcdApi = 'v2', keySubnet?: Ip4Net): Lease {
  // keySubnet: the caller parsed the key already (a tree of 5,000 leases: once, not twice)
  const subnet = keySubnet ?? subnetOfKey(key);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw invalidDocument(`lease ${key}`, json, `is not valid JSON (${(err as Error).message})`, EXAMPLE_VALUE);
  }
  if (!isJsonObject(doc)) throw invalidDocument(`lease ${key}`, json, 'must be a JSON object', EXAMPLE_VALUE);
  const { fields } = foldFields(doc, LEASE_FIELDS);

  const ipField = fields.get('PublicIP');
  // Go would leave a missing PublicIP at 0.0.0.0 and peers would route to it: refuse it.
  if (ipField === undefined || ipField.value === null) {
    throw new UsageError(`lease ${key}: PublicIP is missing, e.g. ${EXAMPLE_VALUE}`);
  }
  const publicIp = Ip4.parse(ipField.value as string, `lease ${key} ${ipField.key}`);

  const typeField = fields.get('BackendType');
  const backendType = typeField?.value ?? '';
  if (typeof backendType !== 'string')
    throw invalid(`lease ${key} ${typeField!.key}`, backendType, 'must be a string', 'host-gw');

  const dataField = fields.get('BackendData');
  const backendData = dataField?.value ?? undefined;
  let vtepMac: string | undefined;
  let vni: number | undefined;
  if (backendType === 'vxlan') {
    // Peers need the VTEP MAC for their neighbour and fdb entries; without it the lease is useless.
    const data = isJsonObject(backendData) ? foldFields(backendData, VXLAN_DATA_FIELDS).fields : undefined;
    const mac = data?.get('VtepMAC');
    if (mac === undefined) {
      throw new UsageError(
        `lease ${key}: BackendData.VtepMAC is missing (a vxlan lease needs it), e.g. {"VtepMAC":"72:af:40:82:41:23"}`,
      );
    }
    if (typeof mac.value !== 'string' || !MAC.test(mac.value)) {
      throw invalid(`lease ${key} BackendData.${mac.key}`, mac.value, 'must be a MAC address', '72:af:40:82:41:23');
    }
    vtepMac = mac.value.toLowerCase().replaceAll('-', ':');
    const vniField = data!.get('VNI');
    if (vniField !== undefined && vniField.value !== null) {
      const n = vniField.value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 16777215) {
        throw invalid(`lease ${key} BackendData.${vniField.key}`, n, 'must be a VXLAN id 0-16777215', '1');
      }
      vni = n;
    }
  }
  return {
    subnet,
    publicIp,
    backendType,
    ...(vtepMac !== undefined && { vtepMac }),
    ...(vni !== undefined && { vni }),
    ...(backendData !== undefined && { backendData }),
    key,
    api,
  };
}

/**
 * The value flanneld writes for this lease, byte for byte (Go's json.Marshal of
 * LeaseAttrs: no spaces, fields in struct order, empty ones omitted).
 *   v0.11: {"PublicIP":"10.4.7.21","BackendType":"vxlan","BackendData":{"VtepMAC":"..."}}
 *   v0.20: {"PublicIP":"10.4.7.21","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"..."}}
 */
export function formatLeaseValue(
  lease: Pick<Lease, 'publicIp' | 'backendType' | 'vtepMac' | 'vni' | 'backendData'> & { api?: EtcdApi },
  form: LeaseValueForm = lease.api === 'v3' ? 'v0.20' : 'v0.11',
): string {
  const parts = [`"PublicIP":${JSON.stringify(lease.publicIp.toString())}`];
  // v0.20's PublicIPv6 is a pointer without omitempty: an IPv4-only node writes null.
  if (form === 'v0.20') parts.push('"PublicIPv6":null');
  if (lease.backendType !== '') parts.push(`"BackendType":${JSON.stringify(lease.backendType)}`);
  if (lease.backendType === 'vxlan') {
    if (lease.vtepMac === undefined)
      throw new UsageError(`lease value: a vxlan lease needs its VtepMAC, e.g. 72:af:40:82:41:23`);
    const mac = JSON.stringify(lease.vtepMac);
    parts.push(
      form === 'v0.20'
        ? `"BackendData":{"VNI":${lease.vni ?? 1},"VtepMAC":${mac}}`
        : `"BackendData":{"VtepMAC":${mac}}`,
    );
  } else if (lease.backendData !== undefined && lease.backendData !== null) {
    parts.push(`"BackendData":${JSON.stringify(lease.backendData)}`);
  }
  return `{${parts.join(',')}}`;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface V2Node {
  key?: unknown;
  value?: unknown;
  dir?: unknown;
  nodes?: unknown;
  ttl?: unknown;
  expiration?: unknown;
  modifiedIndex?: unknown;
}

/**
 * The body of `GET /v2/keys/<prefix>?recursive=true` (or of any v2 get below it, such as
 * `.../subnets`): the config value and every lease, with ttl and expiration. The v2 "Key
 * not found" answer (errorCode 100) is an empty tree. Throws a RuntimeError when the body
 * is not a v2 answer at all (etcd 3.4 without --enable-v2 says `404 page not found`).
 */
export function parseV2Tree(json: string, prefix = DEFAULT_ETCD_PREFIX): LeaseTree {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new RuntimeError(
      `etcd v2 answer is not JSON (${JSON.stringify(String(json).trim().slice(0, 60))}): is the v2 API enabled (etcd --enable-v2=true)?`,
    );
  }
  if (isJsonObject(doc) && 'errorCode' in doc) {
    if (doc.errorCode === 100) return { leases: [], invalid: [] }; // Key not found
    throw new RuntimeError(`etcd v2 error ${String(doc.errorCode)}: ${String(doc.message)} (${String(doc.cause)})`);
  }
  if (!isJsonObject(doc) || !isJsonObject(doc.node))
    throw new RuntimeError(`etcd v2 answer has no "node": ${String(json).slice(0, 60)}`);

  const base = trimPrefix(prefix);
  const tree: { config?: string; configIndex?: number; leases: Lease[]; invalid: InvalidEntry[] } = {
    leases: [],
    invalid: [],
  };
  const visit = (node: V2Node) => {
    const key = typeof node.key === 'string' ? node.key : '';
    if (node.dir === true) {
      for (const child of Array.isArray(node.nodes) ? node.nodes : []) if (isJsonObject(child)) visit(child);
      return;
    }
    if (key === `${base}/config`) {
      if (typeof node.value === 'string') tree.config = node.value;
      if (typeof node.modifiedIndex === 'number') tree.configIndex = node.modifiedIndex;
      return;
    }
    if (!key.startsWith(`${base}/subnets/`)) return; // not flannel's, or another prefix
    try {
      const subnet = parseLeaseKey(key, base);
      if (typeof node.value !== 'string') throw new UsageError(`lease ${key}: has no value`);
      const lease = parseLeaseValue(node.value, key, 'v2', subnet);
      const ttl = typeof node.ttl === 'number' ? node.ttl : undefined;
      const exp = typeof node.expiration === 'string' ? new Date(node.expiration) : undefined;
      tree.leases.push({
        ...lease,
        ...(ttl !== undefined && { ttl }),
        ...(exp !== undefined && !Number.isNaN(exp.getTime()) && { expiration: exp }),
      });
    } catch (err) {
      tree.invalid.push({ key, reason: reasonOf(err) });
    }
  };
  visit(doc.node as V2Node);
  return tree;
}

/**
 * v3 key/values under `prefix` (decoded, e.g. from `etcdctl get --prefix` or the etcd3
 * client), each with its lease grant's remaining TTL when the caller looked it up.
 */
export function parseV3Kvs(kvs: readonly V3Kv[] | undefined, prefix = DEFAULT_ETCD_PREFIX): LeaseTree {
  const base = trimPrefix(prefix);
  const tree: { config?: string; leases: Lease[]; invalid: InvalidEntry[] } = { leases: [], invalid: [] };
  for (const kv of kvs ?? []) {
    if (kv.key === `${base}/config`) {
      tree.config = kv.value;
      continue;
    }
    if (!kv.key.startsWith(`${base}/subnets/`)) continue;
    try {
      const lease = parseLeaseValue(kv.value, kv.key, 'v3', parseLeaseKey(kv.key, base));
      tree.leases.push(kv.ttl === undefined ? lease : { ...lease, ttl: kv.ttl });
    } catch (err) {
      tree.invalid.push({ key: kv.key, reason: reasonOf(err) });
    }
  }
  return tree;
}
