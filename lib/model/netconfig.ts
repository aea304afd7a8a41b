// flannel's network config (the JSON at `<prefix>/config` in etcd), read the way flanneld
// v0.11.0 reads it: subnet/config.go ParseConfig (defaults and range checks), the backend
// manager's GetBackend (type lowercased, unknown type fatal) and each backend's own option
// struct. Everything here is pure: parse, check, format, diff, MTU.
//
// Go's encoding/json matches object keys to struct fields case-insensitively and ignores
// unknown keys, so the runbook's `"Type": "VxLAN", "Directrouting": true` works in real
// flannel; we match keys the same way (foldFields) and list what flannel would silently
// ignore in `notes`, because a typo there is a backend option that never takes effect.

import { UsageError, invalid } from '../core/errors.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';

/** Backend types flannel v0.11.0 registers (each backend package's init: backend.Register). */
export const BACKEND_TYPES_V0_11 = [
  'alloc',
  'ali-vpc',
  'aws-vpc',
  'extension',
  'gce',
  'host-gw',
  'ipip',
  'ipsec',
  'udp',
  'vxlan',
] as const;
/** Types that only later releases register: valid JSON for them, but v0.11.0 exits on them. */
export const BACKEND_TYPES_LATER = ['tencent-vpc', 'wireguard'] as const;
export const BACKEND_TYPES: readonly string[] = [...BACKEND_TYPES_V0_11, ...BACKEND_TYPES_LATER].sort();

/** The config the runbook writes in step 3; used as the example in error messages. */
export const RUNBOOK_CONFIG_EXAMPLE = '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}';

/** VXLAN's UDP port when `Port` is 0 or absent: flannel passes 0 and the kernel picks 8472. */
export const VXLAN_DEFAULT_PORT = 8472;
/** The udp backend's own default port. */
export const UDP_DEFAULT_PORT = 8285;

export interface Backend {
  /** lowercased, as GetBackend looks it up: `"VxLAN"` is `vxlan` */
  readonly type: string;
  /** vxlan: VXLAN id and the `flannel.<VNI>` device name; default 1 */
  readonly vni?: number;
  /** vxlan: UDP port, 0 normalised to 8472; udp: default 8285 */
  readonly port?: number;
  /** vxlan: group based policy; default false */
  readonly gbp?: boolean;
  /** vxlan: kernel MAC learning (read only by releases after v0.11.0); default false */
  readonly learning?: boolean;
  /** vxlan, ipip: host-gw style routes to peers on the same L2 segment; default false */
  readonly directRouting?: boolean;
  /** vxlan: underlay MTU (read only by releases after v0.21); unset = interface MTU */
  readonly mtu?: number;
  /** every other Backend key, spelled as written (e.g. ipsec `PSK`, aws-vpc `RouteTableID`) */
  readonly options: Readonly<Record<string, unknown>>;
}

export interface NetworkConfig {
  /** the pod network, host bits cleared (flannel's IP4Net.UnmarshalJSON masks them) */
  readonly network: Ip4Net;
  readonly subnetLen: number;
  /** first and last subnet flanneld may lease (network addresses of those subnets) */
  readonly subnetMin: Ip4;
  readonly subnetMax: Ip4;
  readonly backend: Backend;
  /**
   * What flannel accepts silently but is probably a mistake: ignored keys, masked host
   * bits, options the backend does not read, the implicit udp backend. One line each.
   */
  readonly notes: readonly string[];
}

/** A config to write: what a script builds from its flags (a NetworkConfig also fits). */
export interface NetworkConfigSpec {
  readonly network: Ip4Net | string;
  readonly subnetLen?: number;
  readonly subnetMin?: Ip4 | string;
  readonly subnetMax?: Ip4 | string;
  /** a Backend whose options may be left out */
  readonly backend?: Omit<Backend, 'options'> & { readonly options?: Backend['options'] };
}

// ---------------------------------------------------------------------------------------
// Go encoding/json field matching

export interface FoldedField {
  /** the key as written in the JSON */
  readonly key: string;
  readonly value: unknown;
}

/**
 * Pick struct fields out of a JSON object the way Go's encoding/json does: a key matches a
 * field when equal ignoring case; when several keys match one field the last one wins.
 * Returns the matched fields by their Go name, and the keys that match none (Go ignores them).
 */
const foldTables = new WeakMap<readonly string[], Map<string, string>>();

export function foldFields(
  obj: Readonly<Record<string, unknown>>,
  names: readonly string[],
): { fields: Map<string, FoldedField>; unknown: string[] } {
  // one fold table per names list: drift folds 5,000 lease values with the same list
  let byFold = foldTables.get(names);
  if (!byFold) {
    byFold = new Map(names.map((n) => [n.toLowerCase(), n]));
    foldTables.set(names, byFold);
  }
  const fields = new Map<string, FoldedField>();
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const name = byFold.get(key.toLowerCase());
    if (name === undefined) unknown.push(key);
    else fields.set(name, { key, value });
  }
  return { fields, unknown };
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A long value shortened for a one-line message. */
function excerpt(text: string, max = 60): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}...` : one;
}

/**
 * Like invalid(), for a whole JSON document: shown as written (shortened), because quoting
 * JSON inside a JSON string would bury it in backslashes.
 */
export function invalidDocument(field: string, text: string, rule: string, example: string): UsageError {
  return new UsageError(`${field} ${excerpt(String(text))}: ${rule}, e.g. ${example}`);
}

function missing(field: string, rule: string, example: string): UsageError {
  return new UsageError(`${field} is missing: ${rule}, e.g. ${example}`);
}

// ---------------------------------------------------------------------------------------
// Defaults (subnet/config.go)

/**
 * SubnetLen when the config gives none: a /24 per node when the network is /22 or larger,
 * else prefix+2 so the network still holds four subnets (flannel never leases the first).
 * Undefined when the network is smaller than /28: flannel refuses it.
 */
export function defaultSubnetLen(network: Ip4Net): number | undefined {
  if (network.prefix > 28) return undefined;
  return network.prefix <= 22 ? 24 : network.prefix + 2;
}

/** The second subnet: flannel skips the first, whose address equals the network's. */
export function defaultSubnetMin(network: Ip4Net, subnetLen: number): Ip4 {
  return network.network().ip.add(2 ** (32 - subnetLen));
}

/** The last subnet of the network. */
export function defaultSubnetMax(network: Ip4Net, subnetLen: number): Ip4 {
  return Ip4.fromNumber(network.lastAddress().value - 2 ** (32 - subnetLen) + 1);
}

// ---------------------------------------------------------------------------------------
// Backend options: one row per option a modelled backend reads (its Go config struct).

type OptionKey = 'vni' | 'port' | 'gbp' | 'learning' | 'directRouting' | 'mtu';

interface OptionSpec {
  readonly key: OptionKey;
  /** Go field name = canonical JSON spelling */
  readonly json: string;
  readonly kind: 'int' | 'bool';
  readonly min?: number;
  readonly max?: number;
  /** effective value when absent (and what `formatNetworkConfig` leaves out) */
  readonly default?: number | boolean;
  /** set when flannel v0.11.0 does not read this option */
  readonly laterOnly?: string;
  readonly example: string;
}

const VXLAN_OPTIONS: readonly OptionSpec[] = [
  { key: 'vni', json: 'VNI', kind: 'int', min: 0, max: 16777215, default: 1, example: '1' },
  { key: 'port', json: 'Port', kind: 'int', min: 0, max: 65535, default: VXLAN_DEFAULT_PORT, example: '8472' },
  { key: 'gbp', json: 'GBP', kind: 'bool', default: false, example: 'true' },
  {
    key: 'learning',
    json: 'Learning',
    kind: 'bool',
    default: false,
    laterOnly: 'flannel v0.11.0 ignores it (read by later releases)',
    example: 'true',
  },
  { key: 'directRouting', json: 'DirectRouting', kind: 'bool', default: false, example: 'true' },
  {
    key: 'mtu',
    json: 'MTU',
    kind: 'int',
    min: 68,
    max: 65535,
    laterOnly: 'flannel v0.11.0 ignores it (releases after v0.21 use it as the underlay MTU)',
    example: '1500',
  },
];

/**
 * Backends whose whole option set we model: any other key in their Backend object is
 * ignored by flannel and gets a note. Other backends' options pass through unchecked.
 */
const MODELLED_OPTIONS: Readonly<Record<string, readonly OptionSpec[]>> = {
  vxlan: VXLAN_OPTIONS,
  udp: [{ key: 'port', json: 'Port', kind: 'int', min: 0, max: 65535, default: UDP_DEFAULT_PORT, example: '8285' }],
  ipip: [{ key: 'directRouting', json: 'DirectRouting', kind: 'bool', default: false, example: 'true' }],
  'host-gw': [],
  alloc: [],
};

function checkOption(spec: OptionSpec, f: FoldedField): number | boolean {
  const field = `Backend.${f.key}`;
  if (spec.kind === 'bool') {
    // Go refuses "true" (a string) for a bool field: flanneld exits with
    // "error decoding VXLAN backend config", so this must not pass.
    if (typeof f.value !== 'boolean')
      throw invalid(field, f.value, 'must be true or false (a JSON boolean, not a string)', spec.example);
    return f.value;
  }
  const n = f.value;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw invalid(field, n, 'must be a whole number (a JSON number, not a string)', spec.example);
  if (n < spec.min! || n > spec.max!) throw invalid(field, n, `must be ${spec.min}-${spec.max}`, spec.example);
  return n;
}

function parseBackend(raw: FoldedField | undefined, notes: string[]): Backend {
  if (raw === undefined) {
    notes.push('Backend is missing: flannel uses udp (its docs say vxlan); write the type you mean');
    return { type: 'udp', port: UDP_DEFAULT_PORT, options: {} };
  }
  if (!isJsonObject(raw.value)) {
    throw invalid(raw.key, raw.value, 'must be an object with a Type', '{"Type": "host-gw"}');
  }
  const specs = (t: string) => MODELLED_OPTIONS[t] ?? [];
  // Type first: which option struct applies depends on it.
  const typeField = foldFields(raw.value, ['Type']).fields.get('Type');
  const typeValue = typeField?.value ?? '';
  if (typeof typeValue !== 'string') {
    throw invalid(`${raw.key}.${typeField!.key}`, typeValue, 'must be a string', 'host-gw');
  }
  // GetBackend lowercases before the lookup and does not trim.
  const type = typeValue.toLowerCase();
  if (!BACKEND_TYPES.includes(type)) {
    throw invalid(
      `${raw.key}.${typeField?.key ?? 'Type'}`,
      typeValue,
      `unknown backend type; flannel knows ${BACKEND_TYPES.join(', ')}`,
      'host-gw',
    );
  }
  if ((BACKEND_TYPES_LATER as readonly string[]).includes(type)) {
    notes.push(`Backend.Type "${typeValue}": flannel v0.11.0 has no ${type} backend (later releases only)`);
  }

  const modelled = MODELLED_OPTIONS[type];
  const { fields, unknown } = foldFields(raw.value, ['Type', ...specs(type).map((s) => s.json)]);
  const backend: { -readonly [K in keyof Backend]: Backend[K] } = { type, options: {} };
  const options: Record<string, unknown> = {};
  for (const spec of specs(type)) {
    const f = fields.get(spec.json);
    // null leaves a Go field at its default, as absence does.
    const value = f === undefined || f.value === null ? spec.default : checkOption(spec, f);
    if (f !== undefined && f.value !== null && spec.laterOnly) notes.push(`Backend.${f.key}: ${spec.laterOnly}`);
    if (value !== undefined) (backend as Record<string, unknown>)[spec.key] = value;
  }
  // Port 0 means "kernel default"; store the port that is actually used.
  if (type === 'vxlan' && backend.port === 0) backend.port = VXLAN_DEFAULT_PORT;
  for (const key of unknown) {
    options[key] = raw.value[key];
    if (modelled) notes.push(`Backend.${key}: not a ${type} option, flannel ignores it`);
  }
  backend.options = options;
  return backend;
}

// ---------------------------------------------------------------------------------------
// parse

/** Go field names of flannel's Config struct in v0.11.0, and the ones later releases add. */
const CONFIG_FIELDS = ['Network', 'SubnetLen', 'SubnetMin', 'SubnetMax', 'Backend'] as const;
const CONFIG_FIELDS_LATER = [
  'EnableIPv4',
  'EnableIPv6',
  'EnableNFTables',
  'IPv6Network',
  'IPv6SubnetLen',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
];

/** A SubnetMin/SubnetMax value, or undefined when flannel would use its default. */
function optionalIp(f: FoldedField | undefined): Ip4 | undefined {
  // flannel compares with IP4(0): "0.0.0.0" (and null, absence) mean "use the default".
  if (f === undefined || f.value === null) return undefined;
  const ip = Ip4.parse(f.value as string, f.key);
  return ip.value === 0 ? undefined : ip;
}

/**
 * Parse and check a network config as flanneld v0.11.0 does (ParseConfig, GetBackend, the
 * backend's options). Throws a UsageError naming the field and value for anything flanneld
 * would refuse; `notes` lists what it would accept silently but probably should not.
 */
export function parseNetworkConfig(text: string): NetworkConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw invalidDocument(
      'network config',
      text,
      `is not valid JSON (${(err as Error).message})`,
      RUNBOOK_CONFIG_EXAMPLE,
    );
  }
  if (!isJsonObject(doc))
    throw invalidDocument('network config', text, 'must be a JSON object', RUNBOOK_CONFIG_EXAMPLE);
  const notes: string[] = [];
  const { fields, unknown } = foldFields(doc, CONFIG_FIELDS);
  for (const key of unknown) {
    const later = CONFIG_FIELDS_LATER.some((n) => n.toLowerCase() === key.toLowerCase());
    notes.push(
      later
        ? `${key}: flannel v0.11.0 does not read it (later releases only)`
        : `${key}: unknown key, flannel ignores it`,
    );
  }

  const netField = fields.get('Network');
  if (netField === undefined)
    throw missing('Network', 'flannel needs the pod network as a CIDR', '"Network": "172.7.0.0/16"');
  const given = Ip4Net.parse(netField.value as string, netField.key);
  const network = given.network();
  if (!given.isNetwork()) notes.push(`${netField.key} "${given}": host bits set, flannel uses ${network}`);
  // Newer flannel calls an all-zero network "empty" and refuses it; v0.11.0 would hand out
  // subnets of the whole IPv4 space. Neither is what anyone means.
  if (network.prefix === 0)
    throw invalid(netField.key, netField.value, 'is the whole IPv4 space; give the pod network', '172.7.0.0/16');

  let subnetLen: number;
  const lenField = fields.get('SubnetLen');
  const lenValue = lenField?.value ?? 0; // Go: 0, null and absence are all "unset"
  if (typeof lenValue !== 'number' || !Number.isInteger(lenValue) || lenValue < 0) {
    throw invalid(lenField!.key, lenValue, 'must be a whole number, a prefix length', '24');
  }
  if (lenValue > 0) {
    // a tunnel and a bridge address per node need at least a /30
    if (lenValue > 30)
      throw invalid(lenField!.key, lenValue, 'must be 30 or less (flannel: SubnetLen must be less than /31)', '24');
    // the first subnet is never leased, so the network must hold at least four
    if (lenValue < network.prefix + 2) {
      throw invalid(
        lenField!.key,
        lenValue,
        `must be at least ${network.prefix + 2} so ${network} holds four subnets (flannel: Network must be able to accommodate at least four subnets)`,
        String(Math.max(24, network.prefix + 2)),
      );
    }
    subnetLen = lenValue;
  } else {
    const d = defaultSubnetLen(network);
    if (d === undefined) {
      throw invalid(
        netField.key,
        netField.value,
        'is too small: flannel needs /28 or larger (Network is too small. Minimum useful network prefix is /28)',
        '172.7.0.0/16',
      );
    }
    subnetLen = d;
  }

  const mask = Ip4Net.of(Ip4.fromNumber(0), subnetLen).mask;
  const bound = (name: 'SubnetMin' | 'SubnetMax', dflt: Ip4): Ip4 => {
    const f = fields.get(name);
    const ip = optionalIp(f);
    if (ip === undefined) return dflt;
    // flannel checks the range first, then the alignment, and says so in these words
    if (!network.contains(ip)) {
      throw invalid(
        f!.key,
        f!.value,
        `is not inside Network ${network} (flannel: ${name} is not in the range of the Network)`,
        dflt.toString(),
      );
    }
    if ((ip.value & mask) >>> 0 !== ip.value) {
      const aligned = Ip4.fromNumber((ip.value & mask) >>> 0);
      throw invalid(
        f!.key,
        f!.value,
        `is not on a SubnetLen boundary (/${subnetLen}) (flannel: ${name} is not on a SubnetLen boundary)`,
        aligned.toString(),
      );
    }
    return ip;
  };
  const subnetMin = bound('SubnetMin', defaultSubnetMin(network, subnetLen));
  const subnetMax = bound('SubnetMax', defaultSubnetMax(network, subnetLen));
  // flannel does not check this; it then finds no free subnet and fails at lease time.
  if (subnetMax.value < subnetMin.value) {
    throw invalid(
      fields.get('SubnetMax')?.key ?? 'SubnetMax',
      subnetMax.toString(),
      `is below SubnetMin ${subnetMin}: no subnet could be leased`,
      defaultSubnetMax(network, subnetLen).toString(),
    );
  }

  const backend = parseBackend(fields.get('Backend'), notes);
  return { network, subnetLen, subnetMin, subnetMax, backend, notes };
}

// ---------------------------------------------------------------------------------------
// format

/** JSON with the runbook's spacing: `{"A": 1, "B": {"C": true}}`. */
function renderJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(renderJson).join(', ')}]`;
  if (isJsonObject(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${renderJson(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function backendEntries(backend: Backend): [string, unknown][] {
  const out: [string, unknown][] = [['Type', backend.type]];
  for (const spec of MODELLED_OPTIONS[backend.type] ?? []) {
    const v = backend[spec.key];
    if (v !== undefined && v !== spec.default) out.push([spec.json, v]);
  }
  for (const [k, v] of Object.entries(backend.options)) out.push([k, v]);
  return out;
}

function renderCanonical(cfg: NetworkConfig): string {
  const entries: [string, unknown][] = [['Network', cfg.network.toString()]];
  if (cfg.subnetLen !== defaultSubnetLen(cfg.network)) entries.push(['SubnetLen', cfg.subnetLen]);
  if (!cfg.subnetMin.equals(defaultSubnetMin(cfg.network, cfg.subnetLen)))
    entries.push(['SubnetMin', cfg.subnetMin.toString()]);
  if (!cfg.subnetMax.equals(defaultSubnetMax(cfg.network, cfg.subnetLen)))
    entries.push(['SubnetMax', cfg.subnetMax.toString()]);
  entries.push(['Backend', Object.fromEntries(backendEntries(cfg.backend))]);
  return renderJson(Object.fromEntries(entries));
}

/**
 * The config as the runbook writes it: `{"Network": "172.7.0.0/16", "Backend": {"Type":
 * "host-gw"}}`. Canonical: flannel's spelling (`vxlan`, `DirectRouting`), SubnetLen /
 * SubnetMin / SubnetMax and options only when they differ from flannel's defaults, Backend
 * always written (its absence would mean udp). Checked on the way out: throws the same
 * errors parseNetworkConfig would.
 */
export function formatNetworkConfig(input: NetworkConfigSpec | NetworkConfig): string {
  const b = input.backend;
  const loose: Record<string, unknown> = { Network: input.network.toString() };
  if (input.subnetLen !== undefined) loose.SubnetLen = input.subnetLen;
  if (input.subnetMin !== undefined) loose.SubnetMin = input.subnetMin.toString();
  if (input.subnetMax !== undefined) loose.SubnetMax = input.subnetMax.toString();
  if (b !== undefined) {
    const backend: Record<string, unknown> = { Type: b.type };
    for (const spec of VXLAN_OPTIONS) {
      const v = b[spec.key];
      if (v !== undefined) backend[spec.json] = v;
    }
    Object.assign(backend, b.options ?? {});
    loose.Backend = backend;
  }
  // Render loosely, then parse: one set of rules for what we read and what we write.
  return renderCanonical(parseNetworkConfig(JSON.stringify(loose)));
}

// ---------------------------------------------------------------------------------------
// diff, subnets, MTU

function asConfig(c: NetworkConfig | string): NetworkConfig {
  return typeof c === 'string' ? parseNetworkConfig(c) : c;
}

/**
 * Differences in effect between the config there is and the one wanted, one human line each
 * (`Backend.Type: have host-gw, want vxlan`: the form every check uses); empty when flannel
 * would behave the same. Defaults are applied first, so
 * spacing, key case, `"VxLAN"` vs `"vxlan"`, or an explicit default are not differences.
 */
export function diffNetworkConfig(have: NetworkConfig | string, want: NetworkConfig | string): string[] {
  const x = asConfig(have);
  const y = asConfig(want);
  const out: string[] = [];
  const line = (name: string, from: unknown, to: unknown) => out.push(`${name}: have ${from}, want ${to}`);
  if (!x.network.equals(y.network)) line('Network', x.network, y.network);
  if (x.subnetLen !== y.subnetLen) line('SubnetLen', x.subnetLen, y.subnetLen);
  if (!x.subnetMin.equals(y.subnetMin)) line('SubnetMin', x.subnetMin, y.subnetMin);
  if (!x.subnetMax.equals(y.subnetMax)) line('SubnetMax', x.subnetMax, y.subnetMax);
  if (x.backend.type !== y.backend.type) line('Backend.Type', x.backend.type, y.backend.type);
  // An option one backend has and the other lacks counts only when it is not at its
  // default: host-gw -> vxlan is one line, host-gw -> vxlan+DirectRouting is two.
  const specs = new Map<OptionKey, OptionSpec>();
  for (const s of [...(MODELLED_OPTIONS[x.backend.type] ?? []), ...(MODELLED_OPTIONS[y.backend.type] ?? [])])
    specs.set(s.key, s);
  for (const s of specs.values()) {
    const u = x.backend[s.key];
    const v = y.backend[s.key];
    if (u === v) continue;
    if (u === undefined && v === s.default) continue;
    if (v === undefined && u === s.default) continue;
    line(`Backend.${s.json}`, u ?? '(unset)', v ?? '(unset)');
  }
  const fold = (o: Readonly<Record<string, unknown>>) =>
    new Map(Object.entries(o).map(([k, v]) => [k.toLowerCase(), { k, v: JSON.stringify(v) }]));
  const ox = fold(x.backend.options);
  const oy = fold(y.backend.options);
  for (const key of new Set([...ox.keys(), ...oy.keys()])) {
    const u = ox.get(key);
    const v = oy.get(key);
    if (u?.v !== v?.v) line(`Backend.${(v ?? u)!.k}`, u?.v ?? '(unset)', v?.v ?? '(unset)');
  }
  return out;
}

/**
 * flannel's isSubnetConfigCompat: would flanneld reuse this subnet (from a lease or from
 * FLANNEL_SUBNET in subnet.env) under this config? Right prefix length and between
 * SubnetMin and SubnetMax. (flannel does not check alignment here; we do not either.)
 */
export function subnetFitsConfig(cfg: NetworkConfig, subnet: Ip4Net): boolean {
  const ip = subnet.network().ip.value;
  return subnet.prefix === cfg.subnetLen && ip >= cfg.subnetMin.value && ip <= cfg.subnetMax.value;
}

export interface SubnetRange extends Iterable<Ip4Net> {
  /** how many subnets flanneld may lease under this config */
  readonly count: number;
  readonly first: Ip4Net;
  readonly last: Ip4Net;
  /** a candidate: fits the config (subnetFitsConfig) and is aligned */
  includes(subnet: Ip4Net): boolean;
}

/** The subnets flanneld may lease, SubnetMin to SubnetMax; iterated lazily (a /8 has 65535). */
export function subnetsOf(cfg: NetworkConfig): SubnetRange {
  const size = 2 ** (32 - cfg.subnetLen);
  const min = cfg.subnetMin.value;
  const max = cfg.subnetMax.value;
  return {
    count: Math.floor((max - min) / size) + 1,
    first: Ip4Net.of(cfg.subnetMin, cfg.subnetLen),
    last: Ip4Net.of(cfg.subnetMax, cfg.subnetLen),
    includes: (subnet) => subnet.isNetwork() && subnetFitsConfig(cfg, subnet),
    *[Symbol.iterator]() {
      for (let ip = min; ip <= max; ip += size) yield Ip4Net.of(Ip4.fromNumber(ip), cfg.subnetLen);
    },
  };
}

/** Bytes each backend's encapsulation takes from the interface MTU (its network's MTU()). */
const ENCAP_OVERHEAD: Readonly<Record<string, number>> = {
  vxlan: 50, // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
  udp: 28, // outer IPv4 20 + UDP 8
  ipip: 20, // outer IPv4 20
  ipsec: 77, // ESP tunnel mode, AES + SHA-256 (ipsec_network.go); +8 with UDPEncap
  wireguard: 80, // wireguard_network.go: IPv6-sized header, so one value for both families
};

/**
 * The MTU flanneld writes to subnet.env (FLANNEL_MTU) for this backend on an interface of
 * `ifaceMtu`: host-gw and the other route-only backends keep the interface MTU, vxlan
 * takes 50, udp 28, ipip 20. flannel v0.11.0 (and v0.20.2) ignore a vxlan `MTU`; pass
 * `{ honourMtuOption: true }` for releases that use it as the underlay MTU (then MTU-50).
 */
export function backendMtu(backend: Backend, ifaceMtu: number, opts: { honourMtuOption?: boolean } = {}): number {
  const overhead = ENCAP_OVERHEAD[backend.type] ?? 0;
  if (backend.type === 'ipsec') {
    const udpEncap = foldFields(backend.options, ['UDPEncap']).fields.get('UDPEncap')?.value === true;
    return ifaceMtu - overhead - (udpEncap ? 8 : 0);
  }
  const underlay = opts.honourMtuOption && backend.mtu !== undefined ? backend.mtu : ifaceMtu;
  return underlay - overhead;
}
