// One validator per kind of value, used at every edge (flags, the cluster file, flanneld.sh
// read back): the same value is accepted or refused with the same one-line message wherever
// it comes from. Each returns the checked value or throws a UsageError naming the field.

import { invalid } from './errors.ts';
import { Ip4Net } from './ip4.ts';

/** flanneld's default etcd prefix (its --etcd-prefix). */
export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
/** Where drift --publish puts each node's result (one key per node under it). */
export const DEFAULT_STATUS_PREFIX = '/flannel-runbook/status';

/** Longest etcd key prefix accepted: flannel's are short; a long one is a paste accident. */
export const MAX_PREFIX_LENGTH = 256;

/** A newline would end a shell command or an ini value early; a NUL ends a C string. */
export function noControl(field: string, value: string, example?: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw invalid(field, value, 'must not contain control characters (newline, tab, ...)', example);
  }
  return value;
}

export function nonEmpty(field: string, value: unknown, example?: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, value, 'must be a non-empty string', example);
  return noControl(field, value, example);
}

export function absolutePath(field: string, value: unknown, example: string): string {
  const v = nonEmpty(field, value, example);
  if (!v.startsWith('/')) throw invalid(field, v, 'must be an absolute path', example);
  return v;
}

/** http(s)://host[:port], nothing else: flanneld splits the list on commas. */
export function checkEndpoint(field: string, value: unknown): string {
  const example = 'https://10.4.7.12:2379';
  const v = nonEmpty(field, value, example);
  if (/[\s,]/.test(v)) throw invalid(field, v, 'one URL, without commas or spaces', example);
  // a bare 10.4.7.12:2379 is the usual slip; flanneld needs the scheme to pick TLS
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(v)) throw invalid(field, v, 'must start with http:// or https://', example);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw invalid(field, v, 'must be a URL http(s)://HOST:PORT', example);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(field, v, 'scheme must be http or https', example);
  }
  // a DNS name is at most 253 characters: a longer one is a paste accident, echoed in every report
  if (url.hostname.length > 253) throw invalid(field, v, 'the host must be at most 253 characters', example);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw invalid(field, v, 'must be only scheme, host and port', example);
  }
  return v;
}

/** A list of endpoints: each checked, none twice (the same member asked twice is no quorum). */
export function checkEndpoints(field: string, values: readonly unknown[]): string[] {
  if (values.length === 0) throw invalid(field, '', 'needs at least one URL', 'https://10.4.7.12:2379');
  const list = values.map((v) => checkEndpoint(field, typeof v === 'string' ? v.trim() : v));
  const seen = new Set<string>();
  for (const e of list) {
    const key = new URL(e).origin;
    if (seen.has(key)) throw invalid(field, e, 'is listed twice; give each etcd member once', list[0]);
    seen.add(key);
  }
  return list;
}

/** Linux interface names: 1-15 bytes, no '/', ':', whitespace (the kernel's dev_valid_name()). */
export function checkIfaceName(field: string, value: unknown, example = 'eth0'): string {
  const v = nonEmpty(field, value, example);
  if (v.length > 15 || v === '.' || v === '..' || !/^[A-Za-z0-9_.@-]+$/.test(v)) {
    throw invalid(field, v, 'must be an interface name (1-15 of A-Z a-z 0-9 _ . - @)', example);
  }
  return v;
}

/** A network namespace name as `ip netns` keeps it: the file /run/netns/NAME, returned. */
export function netnsPath(field: string, value: unknown, example = 'cni-1234'): string {
  const v = nonEmpty(field, value, example);
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(v) || v === '.' || v === '..')
    throw invalid(field, v, 'must be a network namespace name (A-Z a-z 0-9 _ . -)', example);
  return `/run/netns/${v}`;
}

export function checkPort(field: string, value: unknown, example = '2401'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw invalid(field, value, 'must be a port number 1-65535', example);
  }
  return value;
}

/**
 * An etcd key prefix, e.g. /coreos.com/network. flanneld joins prefix + "/config", so a
 * trailing or double slash names another key; `.` and `..` segments are refused because
 * etcd's v2 HTTP API resolves them (a write would land outside the prefix).
 */
export function checkEtcdPrefix(field: string, value: unknown, example = DEFAULT_ETCD_PREFIX): string {
  const v = nonEmpty(field, value, example);
  if (v.length > MAX_PREFIX_LENGTH) throw invalid(field, v, `must be at most ${MAX_PREFIX_LENGTH} characters`, example);
  if (!v.startsWith('/') || (v.length > 1 && v.endsWith('/')) || v.includes('//')) {
    throw invalid(field, v, 'must start with "/" and have no trailing or double "/"', example);
  }
  if (v.split('/').some((s) => s === '.' || s === '..')) {
    throw invalid(field, v, 'must not contain "." or ".." segments', example);
  }
  if (/[\s?#%\\]/.test(v)) throw invalid(field, v, 'must not contain blanks, ?, #, % or \\', example);
  return v;
}

/** Does one key prefix lie inside the other (or equal it)? `/a/b` and `/a/bc` do not overlap. */
export function prefixesOverlap(a: string, b: string): boolean {
  const inside = (x: string, y: string) => x === y || x.startsWith(y === '/' ? '/' : `${y}/`);
  return inside(a, b) || inside(b, a);
}

/** supervisord refuses ' ', ':' and '/' in names; we keep to a portable set. */
export function checkProgramName(field: string, value: unknown): string {
  const example = 'flanneld-7-21';
  const v = nonEmpty(field, value, example);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v) || v.length > 64) {
    throw invalid(field, v, 'must be 1-64 of A-Z a-z 0-9 _ . - and start with a letter or digit', example);
  }
  return v;
}

/**
 * A node's flannel subnet, in either form the runbook uses: the lease form `172.7.21.0/24`
 * (etcd's key) or the FLANNEL_SUBNET form `172.7.21.1/24` (subnet.env, docker0's bip). Both
 * mean the same lease; the lease form is returned. Any other host bits, a bare address, or a
 * subnet outside `network` are refused.
 */
export function checkSubnet(field: string, value: unknown, network?: Ip4Net): Ip4Net {
  const example = network ? exampleSubnet(network) : '172.7.21.0/24';
  if (typeof value !== 'string') throw invalid(field, value, 'must be a subnet such as 172.7.21.0/24', example);
  const net = Ip4Net.parse(value, field);
  const lease = net.network();
  if (!net.isNetwork() && !net.identical(lease.gatewayForm())) {
    throw invalid(
      field,
      value,
      `host bits are set: write the lease ${lease} or its FLANNEL_SUBNET form ${lease.gatewayForm()}`,
      lease.toString(),
    );
  }
  if (network && !network.containsNet(lease)) {
    throw invalid(field, value, `must lie inside the network ${network}`, example);
  }
  return lease;
}

/** The flannel (pod) network: a network address, host bits clear. */
export function checkNetwork(field: string, value: unknown): Ip4Net {
  if (typeof value !== 'string') throw invalid(field, value, 'must be a network such as 172.7.0.0/16', '172.7.0.0/16');
  return Ip4Net.parse(value, field, { strict: true });
}

function exampleSubnet(network: Ip4Net): string {
  const len = Math.min(32, Math.max(network.prefix + 1, 24));
  return `${network.network().ip.add(2 ** (32 - len))}/${len}`;
}

/** An ssh destination as the toolkit takes it: `[USER@]HOST[:PORT]`. */
export interface SshDestination {
  /** absent: ssh's own default (the config's User, else the local user) */
  readonly user?: string;
  /** a host name, an ssh config Host alias, an IPv4 address, or an IPv6 address (given in brackets) */
  readonly host: string;
  /** absent: the config's Port, else 22 */
  readonly port?: number;
}

const SSH_EXAMPLE = 'root@10.4.7.21';
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?';
const HOST_NAME_RE = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`);
const SSH_USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

/**
 * `[USER@]HOST[:PORT]` (`[IPV6]:PORT` for IPv6). Nothing in it may start with "-" (ssh would
 * read an option) or hold a blank, a quote or a control character.
 */
export function checkSshDestination(field: string, value: unknown): SshDestination {
  const v = nonEmpty(field, value, SSH_EXAMPLE);
  const bad = (rule: string) => invalid(field, v, rule, SSH_EXAMPLE);
  const m = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:@[\]]*)(?::([^:]*))?$/.exec(v);
  if (!m) throw bad('must be [USER@]HOST[:PORT] (an IPv6 address in brackets)');
  const [, user, hostPart = '', portText] = m;
  if (user !== undefined && !SSH_USER_RE.test(user)) {
    throw bad('the user must be 1-32 of A-Z a-z 0-9 _ . - and must not start with "-" or "."');
  }
  let host = hostPart;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!/^[0-9A-Fa-f:.]+$/.test(host) || !host.includes(':')) throw bad('only an IPv6 address goes in brackets');
  } else if (host === '') {
    throw bad('needs a host');
  } else if (!HOST_NAME_RE.test(host) || host.length > 253) {
    throw bad('the host must be a host name (letters, digits, "-", ".") or an IPv4 address');
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[1-9][0-9]{0,4}$/.test(portText) || Number(portText) > 65535) throw bad('the port must be 1-65535');
    port = Number(portText);
  }
  return { ...(user !== undefined && { user }), host, ...(port !== undefined && { port }) };
}

/** The destination as `checkSshDestination` reads it back: `root@10.4.7.21`, `root@[fd00::21]:2222`. */
export function formatSshDestination(d: SshDestination): string {
  const host = d.host.includes(':') ? `[${d.host}]` : d.host;
  return `${d.user !== undefined ? `${d.user}@` : ''}${host}${d.port !== undefined ? `:${d.port}` : ''}`;
}
