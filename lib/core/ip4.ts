// IPv4 addresses and networks as values (after flannel's pkg/ip/ipnet.go: IP4, IP4Net).
// Parsing is strict: four decimal octets 0-255, no leading zeros, nothing else (the grammar
// of ipaddr.js's isValidFourPartDecimal, which tests/unit/ip4.test.ts cross-checks). It is
// written here rather than called: drift parses every lease and route (5,000 of each at
// scale) every minute on every node, and ipaddr.js's parser plus loading a CommonJS module
// were a tenth of a run. Every error names the field, the value, the rule and an example.

import { invalid } from './errors.ts';

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** The address as a number, or -1 when the text is not a strict dotted quad. */
function dottedQuad(text: string): number {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return -1;
  const a = Number(m[1]);
  const b = Number(m[2]);
  const c = Number(m[3]);
  const d = Number(m[4]);
  if (a > 255 || b > 255 || c > 255 || d > 255) return -1;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** An IPv4 address held as an unsigned 32-bit number. */
export class Ip4 {
  /** toString's answer, made once (values are immutable; a # field is no property: deepEqual and JSON ignore it) */
  #text: string | undefined;
  private constructor(readonly value: number) {}

  static fromNumber(n: number): Ip4 {
    return new Ip4(n >>> 0);
  }

  /** `parse("10.4.7.21", "--public-ip")`; throws UsageError naming `field`. */
  static parse(text: string, field = 'address'): Ip4 {
    const n = typeof text === 'string' ? dottedQuad(text) : -1;
    if (n < 0) throw invalid(field, text, 'must be an IPv4 address (four decimal octets 0-255)', '10.4.7.21');
    return new Ip4(n);
  }

  static isValid(text: string): boolean {
    return typeof text === 'string' && dottedQuad(text) >= 0;
  }

  toString(): string {
    if (this.#text === undefined) {
      const v = this.value;
      this.#text = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
    }
    return this.#text;
  }

  equals(o: Ip4): boolean {
    return this.value === o.value;
  }

  add(n: number): Ip4 {
    return Ip4.fromNumber(this.value + n);
  }
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** An IPv4 network `ip/prefix`. `ip` may have host bits set (`172.7.21.1/24`), see network(). */
export class Ip4Net {
  #text: string | undefined;
  private constructor(
    readonly ip: Ip4,
    readonly prefix: number,
  ) {}

  static of(ip: Ip4, prefix: number): Ip4Net {
    return new Ip4Net(ip, prefix);
  }

  /**
   * Parse `a.b.c.d/n`. With `{ strict: true }` host bits must be zero
   * (`172.7.21.1/24` is refused as a network). Throws UsageError naming `field`.
   */
  static parse(text: string, field = 'network', opts: { strict?: boolean } = {}): Ip4Net {
    const example = '172.7.0.0/16';
    if (typeof text !== 'string') throw invalid(field, text, 'must be a CIDR string', example);
    const slash = text.indexOf('/');
    if (slash < 0) throw invalid(field, text, 'must be a CIDR: address/prefix', example);
    const addr = text.slice(0, slash);
    const len = text.slice(slash + 1);
    if (!Ip4.isValid(addr)) throw invalid(field, text, `"${addr}" is not an IPv4 address`, example);
    if (!/^\d{1,2}$/.test(len) || Number(len) > 32) throw invalid(field, text, 'prefix must be 0-32', example);
    const net = new Ip4Net(Ip4.parse(addr, field), Number(len));
    if (opts.strict && !net.isNetwork()) {
      throw invalid(field, text, `host bits are set (the network is ${net.network()})`, net.network().toString());
    }
    return net;
  }

  /** The lease-key form: `172.7.21.0-24` (flannel's etcd key, `/` written as `-`). */
  static parseLeaseKey(text: string, field = 'lease key'): Ip4Net {
    // Checked here rather than by parse(`a/n`): an error must quote the key as written
    // (`172.7.21.5-24`), not a slash form the user never typed.
    const example = '172.7.21.0-24';
    const m = typeof text === 'string' ? /^(\d+\.\d+\.\d+\.\d+)-(\d{1,2})$/.exec(text) : null;
    if (!m) throw invalid(field, text, 'must be a subnet written as ADDR-PREFIX', example);
    const n = dottedQuad(m[1]!);
    if (n < 0) throw invalid(field, text, `"${m[1]}" is not an IPv4 address`, example);
    if (Number(m[2]) > 32) throw invalid(field, text, 'prefix must be 0-32', example);
    const net = new Ip4Net(Ip4.fromNumber(n), Number(m[2]));
    if (!net.isNetwork()) {
      throw invalid(field, text, `host bits are set (the network is ${net.network()})`, net.network().toLeaseKey());
    }
    return net;
  }

  toLeaseKey(): string {
    return `${this.ip}-${this.prefix}`;
  }

  toString(): string {
    if (this.#text === undefined) this.#text = `${this.ip}/${this.prefix}`;
    return this.#text;
  }

  get mask(): number {
    return maskOf(this.prefix);
  }

  /** The network address with host bits cleared: 172.7.21.1/24 -> 172.7.21.0/24. */
  network(): Ip4Net {
    // a network already: itself (immutable), no new object
    if (this.isNetwork()) return this;
    return new Ip4Net(Ip4.fromNumber(this.ip.value & this.mask), this.prefix);
  }

  isNetwork(): boolean {
    return (this.ip.value & this.mask) >>> 0 === this.ip.value;
  }

  /** First usable address: network + 1 (flannel's FLANNEL_SUBNET and docker0's bip). */
  firstHost(): Ip4 {
    return this.network().ip.add(1);
  }

  /** `first host/prefix`: 172.7.21.0/24 -> 172.7.21.1/24, as written to subnet.env. */
  gatewayForm(): Ip4Net {
    return new Ip4Net(this.firstHost(), this.prefix);
  }

  lastAddress(): Ip4 {
    return Ip4.fromNumber((this.network().ip.value | ~this.mask) >>> 0);
  }

  size(): number {
    return 2 ** (32 - this.prefix);
  }

  contains(ip: Ip4): boolean {
    return (ip.value & this.mask) >>> 0 === (this.ip.value & this.mask) >>> 0;
  }

  /** Whole of `other` lies inside this network. */
  containsNet(other: Ip4Net): boolean {
    return other.prefix >= this.prefix && this.contains(other.ip);
  }

  overlaps(other: Ip4Net): boolean {
    const p = Math.min(this.prefix, other.prefix);
    const m = maskOf(p);
    return (this.ip.value & m) >>> 0 === (other.ip.value & m) >>> 0;
  }

  /** Same network and prefix (host bits ignored). */
  equals(other: Ip4Net): boolean {
    return this.prefix === other.prefix && ((this.ip.value ^ other.ip.value) & this.mask) >>> 0 === 0;
  }

  /** Same address and prefix, host bits included. */
  identical(other: Ip4Net): boolean {
    return this.prefix === other.prefix && this.ip.equals(other.ip);
  }
}
