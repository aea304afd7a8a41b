// IPv4 addresses and networks as flannel's pkg/ip has them (ip.IP4 as an unsigned 32-bit
// number, ip.IP4Net unmasked), and the etcd subnet key form "10.4.21.0-24".
import { GoError } from './go-errors.ts';

/** IPv4 address as an unsigned 32-bit number (flannel's ip.IP4). */
export function parseIP4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const [a, b, c, d] = m.slice(1).map(Number) as [number, number, number, number];
  if ([a, b, c, d].some((p) => p > 255)) return null;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export const ip4String = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export const maskOf = (prefixLen: number): number => (prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0);

/** flannel's ip.IP4Net: {ip, prefixLen}; the address is kept as given, not masked. */
export class IP4Net {
  readonly ip: number;
  readonly prefixLen: number;
  constructor(ip: number, prefixLen: number) {
    this.ip = ip >>> 0;
    this.prefixLen = prefixLen;
  }
  static zero(): IP4Net {
    return new IP4Net(0, 0);
  }
  /** net.ParseCIDR then FromIPNet: the result is masked. Throws Go's error text. */
  static parseCIDR(s: string): IP4Net {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
    const ip = m ? parseIP4(m[1]!) : null;
    const len = m ? Number(m[2]) : NaN;
    if (ip === null || !(len >= 0 && len <= 32)) throw new GoError(`invalid CIDR address: ${s}`);
    return new IP4Net((ip & maskOf(len)) >>> 0, len);
  }
  mask(): number {
    return maskOf(this.prefixLen);
  }
  empty(): boolean {
    return this.ip === 0 && this.prefixLen === 0;
  }
  equal(o: IP4Net): boolean {
    return this.ip === o.ip && this.prefixLen === o.prefixLen;
  }
  next(): IP4Net {
    return new IP4Net((this.ip + 2 ** (32 - this.prefixLen)) % 2 ** 32, this.prefixLen);
  }
  contains(ip: number): boolean {
    return (this.ip & this.mask()) >>> 0 === (ip & this.mask()) >>> 0;
  }
  overlaps(o: IP4Net): boolean {
    const mask = this.prefixLen < o.prefixLen ? this.mask() : o.mask();
    return (this.ip & mask) >>> 0 === (o.ip & mask) >>> 0;
  }
  toString(): string {
    return `${ip4String(this.ip)}/${this.prefixLen}`;
  }
  /** The etcd key form: 172.7.21.0-24. */
  key(): string {
    return `${ip4String(this.ip)}-${this.prefixLen}`;
  }
}

const SUBNET_KEY_RE = /(\d+\.\d+.\d+.\d+)-(\d+)/;

/** subnet.ParseSubnetKey: unanchored, as in v0.11.0. */
export function parseSubnetKey(s: string): IP4Net | null {
  const m = SUBNET_KEY_RE.exec(s);
  if (!m) return null;
  const ip = parseIP4(m[1]!);
  const len = Number(m[2]);
  if (ip === null || !(len >= 0 && len <= 31)) return null;
  return new IP4Net(ip, len);
}

const isLoopback = (ip: number): boolean => ip >>> 24 === 127;

export const isLinkLocal = (ip: number): boolean => ip >>> 16 === 0xa9fe;

export const isGlobalUnicast = (ip: number): boolean =>
  ip !== 0 && ip !== 0xffffffff && !isLoopback(ip) && !isLinkLocal(ip) && ip >>> 28 !== 0xe;
