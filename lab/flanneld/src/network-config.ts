// The network config (<prefix>/config) as v0.11.0's subnet.ParseConfig reads it: Go's json
// (case-insensitive keys, type error texts), SubnetLen / SubnetMin / SubnetMax defaults and
// checks, no Backend = udp.
import { GoError } from './go-errors.ts';
import { goJsonSyntaxError, type JsonObject, jsonField } from './go-json.ts';
import { IP4Net, ip4String, maskOf, parseIP4 } from './ip4.ts';

/** subnet.Config: the network, the subnets' range and size, and the backend. */
export interface NetworkConfig {
  network: IP4Net;
  /** ip.IP4 */
  subnetMin: number;
  /** ip.IP4 */
  subnetMax: number;
  subnetLen: number;
  /** Backend.Type ("udp" without a Backend) */
  backendType: string;
  /** the Backend object as decoded (the backend reads its own options from it) */
  backend: unknown;
}

/** subnet.ParseConfig of v0.11.0 (Go's json: field names match case-insensitively). */
export function parseConfig(s: string): NetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(s);
  } catch {
    throw new GoError(goJsonSyntaxError(s) || 'unexpected end of JSON input');
  }
  if (raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new GoError(
      `json: cannot unmarshal ${Array.isArray(raw) ? 'array' : typeof raw} into Go value of type subnet.Config`,
    );
  const obj = raw as JsonObject;
  const cfg: NetworkConfig = {
    network: IP4Net.zero(),
    subnetMin: 0,
    subnetMax: 0,
    subnetLen: 0,
    backendType: '',
    backend: undefined,
  };
  const net = jsonField(obj, 'Network');
  if (net !== undefined && net !== null)
    cfg.network = IP4Net.parseCIDR(typeof net === 'string' ? net : JSON.stringify(net));
  for (const [field, prop] of [
    ['SubnetMin', 'subnetMin'],
    ['SubnetMax', 'subnetMax'],
  ] as const) {
    const v = jsonField(obj, field);
    if (v === undefined || v === null) continue;
    const ip = typeof v === 'string' ? parseIP4(v) : null;
    if (ip === null) throw new GoError(`invalid IP address: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    cfg[prop] = ip;
  }
  const len = jsonField(obj, 'SubnetLen');
  if (len !== undefined && len !== null) {
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0)
      throw new GoError(
        `json: cannot unmarshal ${typeof len === 'number' ? `number ${len}` : typeof len} into Go struct field Config.SubnetLen of type uint`,
      );
    cfg.subnetLen = len;
  }
  cfg.backend = jsonField(obj, 'Backend');

  if (cfg.subnetLen > 0) {
    if (cfg.subnetLen > 30) throw new GoError('SubnetLen must be less than /31');
    if (cfg.subnetLen < cfg.network.prefixLen + 1)
      throw new GoError('Network must be able to accommodate at least four subnets');
  } else if (cfg.network.prefixLen > 28) {
    throw new GoError('Network is too small. Minimum useful network prefix is /28');
  } else if (cfg.network.prefixLen <= 22) {
    cfg.subnetLen = 24;
  } else {
    cfg.subnetLen = cfg.network.prefixLen + 2;
  }
  const subnetSize = 2 ** (32 - cfg.subnetLen);
  if (cfg.subnetMin === 0) cfg.subnetMin = (cfg.network.ip + subnetSize) % 2 ** 32;
  else if (!cfg.network.contains(cfg.subnetMin)) throw new GoError('SubnetMin is not in the range of the Network');
  if (cfg.subnetMax === 0) cfg.subnetMax = (cfg.network.next().ip - subnetSize + 2 ** 32) % 2 ** 32;
  else if (!cfg.network.contains(cfg.subnetMax)) throw new GoError('SubnetMax is not in the range of the Network');
  const mask = maskOf(cfg.subnetLen);
  if ((cfg.subnetMin & mask) >>> 0 !== cfg.subnetMin)
    throw new GoError(`SubnetMin is not on a SubnetLen boundary: ${ip4String(cfg.subnetMin)}`);
  if ((cfg.subnetMax & mask) >>> 0 !== cfg.subnetMax)
    throw new GoError(`SubnetMax is not on a SubnetLen boundary: ${ip4String(cfg.subnetMax)}`);
  if (cfg.backend === undefined) {
    cfg.backendType = 'udp';
  } else if (cfg.backend === null) {
    cfg.backendType = '';
  } else if (typeof cfg.backend !== 'object' || Array.isArray(cfg.backend)) {
    throw new GoError(
      `error decoding Backend property of config: json: cannot unmarshal ${Array.isArray(cfg.backend) ? 'array' : typeof cfg.backend} into Go value of type struct { Type string }`,
    );
  } else {
    const t = jsonField(cfg.backend as JsonObject, 'Type');
    cfg.backendType = typeof t === 'string' ? t : '';
  }
  return cfg;
}

/** The subnet lies in SubnetMin..SubnetMax and has SubnetLen. */
export const isSubnetConfigCompat = (config: NetworkConfig, sn: IP4Net): boolean =>
  !(sn.ip < config.subnetMin || sn.ip > config.subnetMax) && sn.prefixLen === config.subnetLen;
