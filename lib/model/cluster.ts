// The cluster file: one JSON file that holds every value the runbook types by hand on each
// node (etcd endpoints and certs, the pod network, the backend, each node's IP and subnet).
//   parseClusterFile  - JSON text -> Cluster, every value checked, errors name the JSON path
//   selectNode        - which node this host is (by --node, else by a local address)
//   etcdApiFor        - which etcd API a flannel version speaks
//   runbookCluster    - the runbook's own cluster, as data
// See tests/fixtures/cluster/runbook-cluster.json for the file form.

import {
  checkEndpoint,
  checkEtcdPrefix,
  checkIfaceName,
  checkPort,
  checkProgramName,
  checkSshDestination,
  checkSubnet,
  formatSshDestination,
  DEFAULT_ETCD_PREFIX,
} from '../core/validate.ts';
import { invalid, UsageError } from '../core/errors.ts';
import { nearestName } from '../core/nearest.ts';
import { programNameFor } from './flanneld-files.ts';
import { BACKEND_TYPES } from './netconfig.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';

import type { EtcdApi } from './lease.ts';
export type { EtcdApi };
export type EtcdApiSetting = EtcdApi | 'auto';

export interface EtcdSettings {
  readonly endpoints: readonly string[];
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
  readonly prefix: string;
  readonly api: EtcdApiSetting;
}

export interface ClusterNode {
  readonly name: string;
  readonly publicIp: Ip4;
  readonly iface: string;
  /** the node's lease, network form (172.7.21.0/24); docker0's bip is its gatewayForm() */
  readonly subnet: Ip4Net;
  /** supervisord program name (default programNameFor(name)) */
  readonly program: string;
  /** reach the node over ssh ([USER@]HOST[:PORT], as `ssh` takes it); absent: it is this host */
  readonly ssh?: string;
  /** the directory that is / for the node's files (default '/'; labs share one filesystem) */
  readonly root?: string;
}

/** What to do with iptables-services' REJECT catch-alls: the runbook deletes them (drop). */
export type RejectPolicy = 'drop' | 'keep';
export const DEFAULT_REJECT_POLICY: RejectPolicy = 'drop';

/** The inputs of the runbook's steps that are the same on every node (scripts/runbook.ts). */
export interface RunbookInputs {
  /** install: the release tarball's URL, or a tarball on each node */
  readonly url?: string;
  readonly tarball?: string;
  readonly sha256?: string;
  /** certs: USER@HOST:DIR (scp, run on the node) or a directory on the node */
  readonly from?: string;
  /** certs: the node's ssh identity and known_hosts for that scp */
  readonly identity?: string;
  readonly knownHosts?: string;
}

export interface Cluster {
  readonly flannelVersion: string;
  readonly etcd: EtcdSettings;
  readonly network: Ip4Net;
  /** flannel's Backend object, kept as written (flannel reads it case-insensitively) */
  readonly backend: Readonly<Record<string, unknown>>;
  /** as written in the file; see subnetLenOf() for the value flannel uses */
  readonly subnetLen?: number;
  readonly bridge: string;
  readonly healthzPort: number;
  /** the REJECT catch-alls: snat-fix and drift follow this one policy */
  readonly reject?: RejectPolicy;
  readonly runbook?: RunbookInputs;
  readonly nodes: readonly ClusterNode[];
}

/** The runbook's certificate paths on every node (step 2 copies them to /opt/flannel/cert). */
export const DEFAULT_CERTS = {
  cafile: '/opt/flannel/cert/ca.pem',
  certfile: '/opt/flannel/cert/client.pem',
  keyfile: '/opt/flannel/cert/client-key.pem',
} as const;

/** Backend types flanneld knows (v0.11.0, plus wireguard from v0.16); compared lower-case: flannel's, as netconfig checks them. */
export { BACKEND_TYPES };

const TOP_KEYS = [
  'flannelVersion',
  'etcd',
  'network',
  'backend',
  'subnetLen',
  'bridge',
  'healthzPort',
  'reject',
  'runbook',
  'nodes',
];
const RUNBOOK_KEYS = ['url', 'tarball', 'sha256', 'from', 'identity', 'knownHosts'];
const ETCD_KEYS = ['endpoints', 'cafile', 'certfile', 'keyfile', 'prefix', 'api'];
const NODE_KEYS = ['name', 'publicIp', 'iface', 'subnet', 'program', 'ssh', 'root'];

// ---------------------------------------------------------------------------------------------

/** `v0.11.0` -> [0, 11, 0]; pre-release suffixes (`-rc1`) are ignored. */
export function parseFlannelVersion(version: string, field = 'flannelVersion'): [number, number, number] {
  const m = typeof version === 'string' ? /^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/.exec(version) : null;
  if (!m) throw invalid(field, version, 'must be a flannel release version vMAJOR.MINOR.PATCH', 'v0.11.0');
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * The etcd API flanneld reads its config through: v0.11.0 to v0.17.x speak only the v2 keys
 * API, v0.18.0 and later only v3, and the two key spaces are separate (docs/flannel-facts.md, etcd key space), so
 * 'auto' must follow the version. An explicit v2/v3 is kept (e.g. to migrate ahead of time).
 */
export function etcdApiFor(version: string, api: EtcdApiSetting = 'auto'): EtcdApi {
  if (api !== 'auto' && api !== 'v2' && api !== 'v3') throw invalid('etcd.api', api, 'must be v2, v3 or auto', 'auto');
  const [maj, min] = parseFlannelVersion(version);
  if (api !== 'auto') return api;
  return maj === 0 && min < 18 ? 'v2' : 'v3';
}

/**
 * A warning when an explicit API is not the one the version reads: the runbook's most
 * common failure (config written with `etcdctl put` is invisible to flanneld v0.11.0).
 */
export function etcdApiMismatch(version: string, api: EtcdApiSetting): string | undefined {
  if (api === 'auto') return undefined;
  const wanted = etcdApiFor(version, 'auto');
  if (wanted === api) return undefined;
  return `etcd.api "${api}": flannel ${version} reads only the etcd ${wanted} key space (flannel v0.11.0-v0.17.x read v2, v0.18.0 and later v3); a config written with ${api} is invisible to it`;
}

/** flannel's SubnetLen default: 24 when Network is /22 or shorter, else prefix + 2. */
export function subnetLenOf(network: Ip4Net, subnetLen?: number): number {
  if (subnetLen !== undefined) return subnetLen;
  return network.prefix <= 22 ? 24 : network.prefix + 2;
}

// ---------------------------------------------------------------------------------------------
// parsing

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function where(path: string, field: string): string {
  return `${path}: ${field}`;
}

function onlyKeys(path: string, field: string, obj: Record<string, Json>, known: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      const at = field ? `${field}.${k}` : k;
      const near = nearestName(k, known);
      throw new UsageError(
        `${where(path, at)}: unknown key; ${near ? `did you mean ${near}? ` : ''}known keys${field ? ` of ${field}` : ''}: ${known.join(', ')}`,
      );
    }
  }
}

function str(path: string, field: string, v: Json, example: string): string {
  if (typeof v !== 'string' || v === '')
    throw invalid(where(path, field), v ?? null, 'must be a non-empty string', example);
  return v;
}

/** JSON.parse's message with the position turned into line:column. */
function jsonError(text: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const pos = /at position (\d+)/.exec(msg);
  if (!pos) return msg;
  const before = text.slice(0, Number(pos[1]));
  const line = before.split('\n').length;
  const col = before.length - before.lastIndexOf('\n');
  return `${msg.replace(/\s*in JSON at position \d+.*$/, '')} at line ${line} column ${col}`;
}

function parseEtcd(path: string, v: Json): EtcdSettings {
  if (!isObject(v))
    throw invalid(
      where(path, 'etcd'),
      v ?? null,
      'must be an object with endpoints, cafile, certfile, keyfile',
      '{"endpoints": ["https://10.4.7.12:2379"]}',
    );
  onlyKeys(path, 'etcd', v, ETCD_KEYS);
  if (!Array.isArray(v.endpoints) || v.endpoints.length === 0) {
    throw invalid(
      where(path, 'etcd.endpoints'),
      v.endpoints ?? null,
      'must be a non-empty list of etcd URLs',
      '["https://10.4.7.12:2379"]',
    );
  }
  const endpoints = v.endpoints.map((e, i) => checkEndpoint(where(path, `etcd.endpoints[${i}]`), e));
  const dup = endpoints.find((e, i) => endpoints.indexOf(e) !== i);
  if (dup)
    throw invalid(
      where(path, 'etcd.endpoints'),
      dup,
      'is listed twice',
      '["https://10.4.7.12:2379", "https://10.4.7.21:2379"]',
    );
  const api = v.api ?? 'auto';
  if (api !== 'v2' && api !== 'v3' && api !== 'auto')
    throw invalid(where(path, 'etcd.api'), api, 'must be v2, v3 or auto', 'auto');
  return {
    endpoints,
    cafile: v.cafile === undefined ? DEFAULT_CERTS.cafile : str(path, 'etcd.cafile', v.cafile, DEFAULT_CERTS.cafile),
    certfile:
      v.certfile === undefined
        ? DEFAULT_CERTS.certfile
        : str(path, 'etcd.certfile', v.certfile, DEFAULT_CERTS.certfile),
    keyfile:
      v.keyfile === undefined ? DEFAULT_CERTS.keyfile : str(path, 'etcd.keyfile', v.keyfile, DEFAULT_CERTS.keyfile),
    prefix: v.prefix === undefined ? DEFAULT_ETCD_PREFIX : checkEtcdPrefix(where(path, 'etcd.prefix'), v.prefix),
    api,
  };
}

function parseBackend(path: string, v: Json): Record<string, unknown> {
  const example = '{"Type": "host-gw"}';
  if (!isObject(v)) throw invalid(where(path, 'backend'), v ?? null, "must be flannel's Backend object", example);
  // flannel decodes JSON keys case-insensitively and lower-cases the type ("VxLAN" works)
  const typeKeys = Object.keys(v).filter((k) => k.toLowerCase() === 'type');
  if (typeKeys.length !== 1) throw invalid(where(path, 'backend'), v, 'must have exactly one "Type"', example);
  const type = v[typeKeys[0]!];
  if (typeof type !== 'string' || !BACKEND_TYPES.includes(type.toLowerCase())) {
    throw invalid(where(path, 'backend.Type'), type ?? null, `must be one of ${BACKEND_TYPES.join(', ')}`, 'host-gw');
  }
  return v;
}

function parseNode(path: string, i: number, v: Json, network: Ip4Net, subnetLen: number): ClusterNode {
  const at = `nodes[${i}]`;
  if (!isObject(v))
    throw invalid(
      where(path, at),
      v ?? null,
      'must be an object with name, publicIp, iface, subnet',
      '{"name": "hdss7-21", "publicIp": "10.4.7.21", "iface": "eth0", "subnet": "172.7.21.0/24"}',
    );
  onlyKeys(path, at, v, NODE_KEYS);
  const name = str(path, `${at}.name`, v.name, 'hdss7-21');
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(name)) {
    throw invalid(where(path, `${at}.name`), name, 'must be a host name (letters, digits, "-", ".")', 'hdss7-21');
  }
  const publicIp = Ip4.parse(str(path, `${at}.publicIp`, v.publicIp, '10.4.7.21'), where(path, `${at}.publicIp`));
  if (network.contains(publicIp)) {
    throw invalid(
      where(path, `${at}.publicIp`),
      publicIp.toString(),
      `must be the host's address, outside the pod network ${network}`,
      '10.4.7.21',
    );
  }
  const iface = checkIfaceName(where(path, `${at}.iface`), v.iface ?? null);
  const subnetField = where(path, `${at}.subnet`);
  // the example offered is the network's second subnet, the first one flannel can lease
  const example = `${network.network().ip.add(2 ** (32 - subnetLen))}/${subnetLen}`;
  // the lease form or the runbook's FLANNEL_SUBNET form (core/validate.ts checkSubnet)
  const subnetText = str(path, `${at}.subnet`, v.subnet, '172.7.21.0/24');
  const asLease = checkSubnet(subnetField, subnetText);
  if (!network.containsNet(asLease)) {
    throw invalid(subnetField, subnetText, `must lie inside the network ${network}`, example);
  }
  const subnet = asLease;
  if (subnet.prefix !== subnetLen) {
    throw invalid(
      subnetField,
      subnet.toString(),
      `must be a /${subnetLen} (every flannel lease has the SubnetLen)`,
      `${subnet.ip}/${subnetLen}`,
    );
  }
  // flannel's SubnetMin skips the network's first subnet (its address is the network's own)
  if (subnet.ip.equals(network.network().ip)) {
    throw invalid(subnetField, subnet.toString(), `flannel never leases the first subnet of ${network}`, example);
  }
  const program =
    v.program === undefined ? programNameFor(name) : checkProgramName(where(path, `${at}.program`), v.program);
  const ssh =
    v.ssh === undefined ? undefined : formatSshDestination(checkSshDestination(where(path, `${at}.ssh`), v.ssh));
  let root: string | undefined;
  if (v.root !== undefined) {
    root = str(path, `${at}.root`, v.root, '/');
    if (!root.startsWith('/'))
      throw invalid(
        where(path, `${at}.root`),
        root,
        "must be an absolute directory (the node's /)",
        '/srv/lab/hdss7-21',
      );
  }
  return { name, publicIp, iface, subnet, program, ...(ssh && { ssh }), ...(root && { root }) };
}

function parseRunbook(path: string, v: Json): RunbookInputs {
  const example =
    '{"url": "https://.../flannel-v0.11.0-linux-amd64.tar.gz", "sha256": "...", "from": "root@hdss7-200:/opt/certs"}';
  if (!isObject(v)) throw invalid(where(path, 'runbook'), v ?? null, 'must be an object', example);
  onlyKeys(path, 'runbook', v, RUNBOOK_KEYS);
  if (v.url !== undefined && v.tarball !== undefined)
    throw new UsageError(`${where(path, 'runbook')}: url and tarball: give one of them`);
  const out: Record<string, string> = {};
  for (const k of RUNBOOK_KEYS) if (v[k] !== undefined) out[k] = str(path, `runbook.${k}`, v[k], example);
  return out;
}

function noDuplicates(path: string, nodes: readonly ClusterNode[]): void {
  const checks: [string, (n: ClusterNode) => string][] = [
    ['name', (n) => n.name.toLowerCase()],
    ['publicIp', (n) => n.publicIp.toString()],
    ['program', (n) => n.program],
  ];
  for (const [field, key] of checks) {
    const seen = new Map<string, number>();
    nodes.forEach((n, i) => {
      const k = key(n);
      const j = seen.get(k);
      if (j !== undefined)
        throw invalid(
          where(path, `nodes[${i}].${field}`),
          String(n[field as keyof ClusterNode]),
          `is already used by nodes[${j}] (${nodes[j]!.name}); each node needs its own`,
          field === 'name' ? 'hdss7-22' : field === 'publicIp' ? '10.4.7.22' : 'flanneld-7-22',
        );
      seen.set(k, i);
    });
  }
  // two nodes with one subnet would fight over one lease (flanneld takes a live lease over)
  nodes.forEach((n, i) => {
    const j = nodes.findIndex((o, k) => k < i && o.subnet.overlaps(n.subnet));
    if (j >= 0)
      throw invalid(
        where(path, `nodes[${i}].subnet`),
        n.subnet.toString(),
        `overlaps nodes[${j}].subnet ${nodes[j]!.subnet} (${nodes[j]!.name}); each node needs its own`,
        '172.7.22.0/24',
      );
  });
}

/** Parse and check a cluster file; `path` names the file in every error. */
export function parseClusterFile(text: string, path: string): Cluster {
  let doc: Json;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path}: not valid JSON: ${jsonError(text, err)}`);
  }
  if (!isObject(doc))
    throw new UsageError(`${path}: must hold a JSON object {"etcd": ..., "network": ..., "nodes": [...]}`);
  onlyKeys(path, '', doc, TOP_KEYS);

  const flannelVersion =
    doc.flannelVersion === undefined ? 'v0.11.0' : str(path, 'flannelVersion', doc.flannelVersion, 'v0.11.0');
  parseFlannelVersion(flannelVersion, where(path, 'flannelVersion'));
  const etcd = parseEtcd(path, doc.etcd);
  const network = Ip4Net.parse(str(path, 'network', doc.network, '172.7.0.0/16'), where(path, 'network'), {
    strict: true,
  });
  if (network.prefix > 28)
    throw invalid(
      where(path, 'network'),
      network.toString(),
      'flannel needs a network of /28 or larger',
      '172.7.0.0/16',
    );
  if (doc.backend === undefined) {
    // flannel would silently fall back to udp; make the choice visible
    throw new UsageError(`${path}: backend: missing; flannel would use udp, e.g. {"Type": "host-gw"}`);
  }
  const backend = parseBackend(path, doc.backend);
  let subnetLen: number | undefined;
  if (doc.subnetLen !== undefined) {
    const v = doc.subnetLen;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= network.prefix || v > 30) {
      throw invalid(
        where(path, 'subnetLen'),
        v,
        `must be an integer ${network.prefix + 1}-30 (longer than the network's /${network.prefix})`,
        '24',
      );
    }
    subnetLen = v;
  }
  const bridge = doc.bridge === undefined ? 'docker0' : checkIfaceName(where(path, 'bridge'), doc.bridge, 'docker0');
  const healthzPort = doc.healthzPort === undefined ? 2401 : checkPort(where(path, 'healthzPort'), doc.healthzPort);
  if (!Array.isArray(doc.nodes) || doc.nodes.length === 0) {
    throw invalid(
      where(path, 'nodes'),
      doc.nodes ?? null,
      'must be a non-empty list of nodes',
      '[{"name": "hdss7-21", "publicIp": "10.4.7.21", "iface": "eth0", "subnet": "172.7.21.0/24"}]',
    );
  }
  const reject = doc.reject;
  if (reject !== undefined && reject !== 'drop' && reject !== 'keep')
    throw invalid(where(path, 'reject'), reject, 'must be "drop" (the runbook deletes them) or "keep"', 'drop');
  const runbook = doc.runbook === undefined ? undefined : parseRunbook(path, doc.runbook);
  const len = subnetLenOf(network, subnetLen);
  const nodes = doc.nodes.map((n, i) => parseNode(path, i, n, network, len));
  noDuplicates(path, nodes);
  return {
    flannelVersion,
    etcd,
    network,
    backend,
    ...(subnetLen !== undefined && { subnetLen }),
    bridge,
    healthzPort,
    ...(reject !== undefined && { reject }),
    ...(runbook && { runbook }),
    nodes,
  };
}

/** The file form of a cluster (2-space JSON, trailing newline); parseClusterFile reads it back. */
export function formatClusterFile(c: Cluster): string {
  const doc = {
    flannelVersion: c.flannelVersion,
    etcd: { ...c.etcd, endpoints: [...c.etcd.endpoints] },
    network: c.network.toString(),
    backend: c.backend,
    ...(c.subnetLen !== undefined && { subnetLen: c.subnetLen }),
    bridge: c.bridge,
    healthzPort: c.healthzPort,
    ...(c.reject && { reject: c.reject }),
    ...(c.runbook && { runbook: c.runbook }),
    nodes: c.nodes.map((n) => ({
      name: n.name,
      publicIp: n.publicIp.toString(),
      iface: n.iface,
      subnet: n.subnet.toString(),
      program: n.program,
      ...(n.ssh && { ssh: n.ssh }),
      ...(n.root && { root: n.root }),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------

/**
 * This host's node: the one named (--node), else the one node whose publicIp is among the
 * host's addresses. A named node is returned even when its address is not local, so a plan
 * can be printed from another host.
 */
export function selectNode(cluster: Cluster, opts: { name?: string; localIps: readonly string[] }): ClusterNode {
  const names = cluster.nodes.map((n) => n.name).join(', ');
  if (opts.name !== undefined) {
    const node = cluster.nodes.find((n) => n.name === opts.name);
    if (!node)
      throw invalid('--node', opts.name, `no such node in the cluster file (nodes: ${names})`, cluster.nodes[0]?.name);
    return node;
  }
  const local = new Set(opts.localIps.filter((ip) => Ip4.isValid(ip)).map((ip) => Ip4.parse(ip).toString()));
  const found = cluster.nodes.filter((n) => local.has(n.publicIp.toString()));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    const shown = [...local].join(', ') || 'none';
    throw new UsageError(
      `--node: not given, and no node's publicIp is an address of this host (local IPv4: ${shown}; nodes: ${names}); pass --node NAME, e.g. --node ${cluster.nodes[0]?.name}`,
    );
  }
  throw new UsageError(
    `--node: not given, and several nodes' publicIp are addresses of this host (${found.map((n) => `${n.name} ${n.publicIp}`).join(', ')}); pass --node NAME, e.g. --node ${found[0]!.name}`,
  );
}

/** The runbook's cluster: hdss7-21 and hdss7-22, host-gw over 172.7.0.0/16, etcd on three hosts. */
export function runbookCluster(): Cluster {
  const node = (name: string, ip: string, subnet: string): ClusterNode => ({
    name,
    publicIp: Ip4.parse(ip),
    iface: 'eth0',
    subnet: Ip4Net.parse(subnet),
    program: programNameFor(name),
  });
  return {
    flannelVersion: 'v0.11.0',
    etcd: {
      endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379', 'https://10.4.7.22:2379'],
      ...DEFAULT_CERTS,
      prefix: DEFAULT_ETCD_PREFIX,
      api: 'auto',
    },
    network: Ip4Net.parse('172.7.0.0/16'),
    backend: { Type: 'host-gw' },
    bridge: 'docker0',
    healthzPort: 2401,
    nodes: [node('hdss7-21', '10.4.7.21', '172.7.21.0/24'), node('hdss7-22', '10.4.7.22', '172.7.22.0/24')],
  };
}
