// iproute2's TEXT output, for hosts whose iproute2 has no JSON: CentOS 7's 4.11 has no -j at
// all, Ubuntu 18.04's 4.15 ignores it for routes. Each parser gives exactly what its JSON twin
// gives for the same kernel state (tests/fixtures/iproute-text holds both forms of one state):
//   parseIpRouteText    - `ip route show [table all]`          = parseIpRoute   (routes.ts)
//   parseIpAddrText     - `ip [-d] [-4] addr show`             = parseIpAddr    (interfaces.ts)
//   parseNeighboursText - `ip neigh show dev flannel.1`        = parseNeighbours (vxlan.ts)
//   parseFdbText        - `bridge fdb show dev flannel.1`      = parseFdb       (vxlan.ts)
//   detectJsonForm      - did one `ip -j` / `bridge -j` answer in JSON, or must text be read
// The grammar is iproute2 4.11's printers (ip/iproute.c print_route, ip/ipaddress.c,
// ip/ipneigh.c, bridge/fdb.c). 4.14-4.16, which have `ip -j addr` but no JSON for routes and
// neighbours, print routes and neighbours in the same words. A word the grammar does not know
// is refused with the command and the line, never guessed past.
// Pure: running the commands happens elsewhere.

import { type OutputError, unreadable, readingOutput } from '../core/errors.ts';
import type { Interface } from './interfaces.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';
import type { Route } from './routes.ts';
import type { FdbEntry, Neighbour } from './vxlan.ts';

// ------------------------------------------------------------------ shared

function shorten(line: string): string {
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}

/** The house error for a line that cannot be read: command, line number, the line, why. */
function badLine(command: string, n: number, line: string, rule: string, example: string): OutputError {
  return unreadable(`${command} line ${n}`, shorten(line.trimEnd()), rule, example);
}

function lines(text: string): { n: number; line: string }[] {
  return text
    .split('\n')
    .map((line, i) => ({ n: i + 1, line }))
    .filter((l) => l.line.trim() !== '');
}

const words = (line: string): string[] => line.trim().split(/\s+/);

/** How many values follow `word` in `table` (undefined: not a word of it; never Object.prototype's). */
const arity = (table: Readonly<Record<string, number>>, word: string): number | undefined =>
  Object.hasOwn(table, word) ? table[word] : undefined;

const isCount = (w: string | undefined): w is string => w !== undefined && /^\d+$/.test(w);

/** An IPv6 address or network as iproute2 prints one (skipped like `ip -j`'s IPv6 entries). */
const isIp6 = (w: string): boolean => w.includes(':') && /^[0-9a-f:.]+(\/\d{1,3})?$/i.test(w);

// ------------------------------------------------------------------ detection

export type JsonForm = 'json' | 'text' | 'unsupported' | 'failed';

/**
 * What one `ip -j ...` / `bridge -j ...` answered (a Result, or a CommandError: both carry
 * status and stderr):
 *   json        - exit 0, stdout is a JSON array: use the JSON parser;
 *   text        - exit 0 but stdout is not JSON: the tool ignored -j (iproute2 4.15 does
 *                 for `ip -j route`); stdout is the text form, use the text parser on it;
 *   unsupported - exit 255 with `Option "-j" is unknown` (iproute2 < 4.14, CentOS 7's 4.11):
 *                 run the command again without -j and use the text parser;
 *   failed      - any other failure (no such device, ...): that failure is the answer.
 * Ask per tool and per object: 4.11's `bridge -j fdb` does answer in JSON while its `ip -j`
 * does not, and 4.14-4.16 answer `ip -j addr` in JSON but `ip -j route` / `ip -j neigh` in text.
 */
export function detectJsonForm(answer: {
  readonly status: number | null;
  readonly stderr: string;
  readonly stdout?: string;
}): JsonForm {
  if (answer.status === 0) return (answer.stdout ?? '').trimStart().startsWith('[') ? 'json' : 'text';
  if (answer.status === 255 && /^Option "-j(son)?" is unknown/m.test(answer.stderr)) return 'unsupported';
  return 'failed';
}

// ------------------------------------------------------------------ ip route show

const ROUTE_CMD = 'ip route show';
const ROUTE_EXAMPLE = '172.7.22.0/24 via 10.4.7.22 dev eth0';

// rtnl_rtntype_n2a: printed before the destination for every type but unicast (and for
// unicast too under -d).
const ROUTE_TYPES = new Set([
  'none',
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
]);
// Same set as routes.ts: these have no output device.
const DEVICELESS = new Set(['unreachable', 'blackhole', 'prohibit', 'throw']);
// RTNH_F_* / RTM_F_NOTIFY flags, printed as bare words; only onlink matters to the toolkit.
const ROUTE_FLAGS = new Set(['dead', 'onlink', 'pervasive', 'offload', 'notify', 'linkdown', 'unresolved', 'trap']);
// Words followed by one value the toolkit does not keep: source prefix, tos, preferred
// source, mark, realms, uid, the IPv4/IPv6 cache info, input interface, IPv6 preference.
const ROUTE_SKIP1 = new Set([
  'from',
  'tos',
  'src',
  'mark',
  'realm',
  'realms',
  'uid',
  'expires',
  'error',
  'users',
  'used',
  'age',
  'ipid',
  'ts',
  'tsage',
  'iif',
  'pref',
]);
// RTA_METRICS (mx_names): `NAME [lock] VALUE`; `ip -j` puts them under "metrics", which
// parseIpRoute does not read.
const ROUTE_METRICS = new Set([
  'mtu',
  'window',
  'rtt',
  'rttvar',
  'ssthresh',
  'cwnd',
  'advmss',
  'reordering',
  'hoplimit',
  'initcwnd',
  'features',
  'rto_min',
  'initrwnd',
  'quickack',
  'congctl',
  'fastopen_no_cookie',
]);
// family_name(): `via inet6 fe80::1` is RTA_VIA, which `ip -j` prints as "via": {...}, not
// as "gateway"; parseIpRoute reads only "gateway".
const VIA_FAMILIES = new Set(['inet', 'inet6', 'dnet', 'link', 'ipx', 'mpls', 'bridge', '???']);

type MutableRoute = { -readonly [K in keyof Route]: Route[K] };
type Hop = { via?: Ip4; dev: string };

/** The value after `words[i]`, or a refusal naming the line. */
function valueAfter(ws: string[], i: number, fail: (rule: string) => OutputError): string {
  const v = ws[i + 1];
  if (v === undefined) throw fail(`"${ws[i]}" needs a value`);
  return v;
}

function gateway(text: string, fail: (rule: string) => OutputError): Ip4 {
  if (!Ip4.isValid(text)) {
    throw fail(`gateway "${text}" must be an IPv4 address (IPv6 next hops are not supported)`);
  }
  return Ip4.parse(text);
}

/** `via X` / `via FAMILY X` at ws[i]: the gateway (undefined for RTA_VIA) and the words used. */
function readVia(ws: string[], i: number, fail: (rule: string) => OutputError): { via?: Ip4; used: number } {
  const v = valueAfter(ws, i, fail);
  if (VIA_FAMILIES.has(v)) {
    valueAfter(ws, i + 1, fail);
    return { used: 3 };
  }
  return { via: gateway(v, fail), used: 2 };
}

function parseNexthop(ws: string[], fail: (rule: string) => OutputError): Hop {
  let via: Ip4 | undefined;
  let dev: string | undefined;
  for (let i = 1; i < ws.length; ) {
    const w = ws[i]!;
    if (w === 'via') {
      const r = readVia(ws, i, fail);
      if (r.via) via = r.via;
      i += r.used;
    } else if (w === 'dev') {
      dev = valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'weight' || w === 'realm' || w === 'realms') {
      valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'as') {
      if (ws[i + 1] !== 'to') throw fail('"as" must be followed by "to ADDRESS"');
      valueAfter(ws, i + 1, fail);
      i += 3;
    } else if (ROUTE_FLAGS.has(w)) {
      i += 1;
    } else if (w === 'encap') {
      throw fail('lightweight tunnel encapsulation (encap) is not supported');
    } else {
      throw fail(`unknown word "${w}" in a next hop`);
    }
  }
  if (dev === undefined) throw fail('every next hop needs a "dev"');
  return via ? { via, dev } : { dev };
}

function parseRouteLine(ws: string[], fail: (rule: string) => OutputError): MutableRoute | 'ipv6' {
  let i = 0;
  let type: string | undefined;
  if (ROUTE_TYPES.has(ws[0]!)) {
    type = ws[0];
    i = 1;
  }
  const dstText = ws[i];
  if (dstText === undefined) throw fail('a route needs a destination');
  if (isIp6(dstText)) return 'ipv6';
  let dst: Ip4Net;
  try {
    // Host routes (`10.4.7.99 dev eth0`, the local table's `127.0.0.1`) have no /32.
    dst = Ip4Net.parse(dstText === 'default' ? '0.0.0.0/0' : dstText.includes('/') ? dstText : `${dstText}/32`);
  } catch {
    throw fail(`destination "${dstText}" must be default, an IPv4 address or an IPv4 network`);
  }
  const r: MutableRoute = { dst, dev: '' };
  if (type !== undefined) r.type = type;
  let dev: string | undefined;
  for (i += 1; i < ws.length; ) {
    const w = ws[i]!;
    if (w === 'via') {
      const v = readVia(ws, i, fail);
      if (v.via) r.via = v.via;
      i += v.used;
    } else if (w === 'dev') {
      dev = valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'table') {
      r.table = valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'proto') {
      r.proto = valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'scope') {
      r.scope = valueAfter(ws, i, fail);
      i += 2;
    } else if (w === 'metric') {
      const m = valueAfter(ws, i, fail);
      if (!isCount(m)) throw fail(`metric "${m}" must be a non-negative integer`);
      r.metric = Number(m);
      i += 2;
    } else if (ROUTE_FLAGS.has(w)) {
      if (w === 'onlink') r.onlink = true;
      i += 1;
    } else if (ROUTE_SKIP1.has(w)) {
      valueAfter(ws, i, fail);
      i += 2;
    } else if (ROUTE_METRICS.has(w)) {
      const lock = ws[i + 1] === 'lock' ? 1 : 0;
      valueAfter(ws, i + lock, fail);
      i += 2 + lock;
    } else if (w === 'as') {
      if (ws[i + 1] !== 'to') throw fail('"as" must be followed by "to ADDRESS"');
      valueAfter(ws, i + 1, fail);
      i += 3;
    } else if (w === 'encap') {
      throw fail('lightweight tunnel encapsulation (encap) is not supported');
    } else {
      throw fail(`unknown word "${w}"`);
    }
  }
  if (dev !== undefined) r.dev = dev;
  return r;
}

/**
 * Parse `ip route show` (or `ip route show table all`): the same Route[] parseIpRoute gives
 * for `ip -j route show`. IPv6 routes, which `table all` includes, are skipped (with their
 * next hops). Throws a UsageError naming the command and the first line it cannot read.
 */
export function parseIpRouteText(text: string): Route[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseIpRouteTextUnchecked(text));
}

function parseIpRouteTextUnchecked(text: string): Route[] {
  const routes: Route[] = [];
  let current: { r: MutableRoute; hops?: Hop[]; n: number; line: string } | 'ipv6' | undefined;
  const finish = () => {
    if (current === undefined || current === 'ipv6') return;
    const { r, hops, n, line } = current;
    if (hops) r.nexthops = hops;
    const deviceless = (r.type !== undefined && DEVICELESS.has(r.type)) || hops !== undefined;
    if (!deviceless && r.dev === '') {
      throw badLine(ROUTE_CMD, n, line, `the ${r.type ?? 'unicast'} route needs a "dev"`, ROUTE_EXAMPLE);
    }
    routes.push(r);
  };
  for (const { n, line } of lines(text)) {
    const fail = (rule: string) => badLine(ROUTE_CMD, n, line, rule, ROUTE_EXAMPLE);
    const ws = words(line);
    if (/^\s/.test(line)) {
      // `\tnexthop via 10.4.7.22 dev eth0 weight 1`: a next hop of the route above
      if (ws[0] !== 'nexthop') throw fail(`a continuation line must be a "nexthop", not "${ws[0]}"`);
      if (current === undefined) throw fail('a next hop without a route before it');
      if (current === 'ipv6') continue;
      current.hops = [...(current.hops ?? []), parseNexthop(ws, fail)];
      continue;
    }
    finish();
    const r = parseRouteLine(ws, fail);
    current = r === 'ipv6' ? r : { r, n, line };
  }
  finish();
  return routes;
}

// ------------------------------------------------------------------ ip addr show

const ADDR_CMD = 'ip addr show';
const ADDR_EXAMPLE = '3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN';

// `N: NAME[@LINK]: <FLAGS> ...` (print_linkinfo). LINK is another link's name, ifN when it
// lives in another namespace, or NONE.
const LINK_HEADER = /^(\d+): ([^\s@]+)(?:@(\S*?))?: <([^>]*)>(.*)$/;
// Header words after the flags, with how many values follow each.
const HEADER_WORDS: Record<string, number> = {
  mtu: 1,
  xdp: 0,
  qdisc: 1,
  master: 1,
  state: 1,
  mode: 1,
  group: 1,
  qlen: 1,
  'link-netnsid': 1,
  protodown: 1,
};
// The `link/TYPE [ADDRESS] ...` line's words after the address.
const LINK_WORDS: Record<string, number> = {
  brd: 1,
  peer: 1,
  'link-netnsid': 1,
  protodown: 1,
  promiscuity: 1,
  numtxqueues: 1,
  numrxqueues: 1,
  gso_max_size: 1,
  gso_max_segs: 1,
  portname: 1,
  portid: 1,
  switchid: 1,
};
// vxlan_print_opt: the words with values (srcport has two); the rest are bare flags.
const VXLAN_WORDS: Record<string, number> = {
  id: 1,
  group: 1,
  remote: 1,
  local: 1,
  dev: 1,
  srcport: 2,
  dstport: 1,
  tos: 1,
  ttl: 1,
  flowlabel: 1,
  ageing: 1,
  maxaddr: 1,
  numtxqueues: 1,
  numrxqueues: 1,
  gso_max_size: 1,
  gso_max_segs: 1,
  portname: 1,
  portid: 1,
  switchid: 1,
};
// Continuation lines that carry nothing the Interface keeps: other families' addresses and
// their lifetimes, the alias, SR-IOV VFs.
const SKIPPED_LINES = new Set(['inet6', 'valid_lft', 'dnet', 'ipx', 'family', 'alias', 'vf']);

interface LinkDraft {
  name: string;
  mtu?: number;
  up: boolean;
  addrs: Ip4Net[];
  kind?: string;
  master?: string;
  mac?: string;
  vxlan?: { id?: number; local?: string; port?: number; learning?: boolean };
  /** what the next continuation line may be */
  expect: 'link' | 'kind' | 'slave' | 'rest';
}

function readWords(ws: string[], from: number, table: Record<string, number>, fail: (rule: string) => OutputError) {
  const seen = new Map<string, string[]>();
  for (let i = from; i < ws.length; ) {
    const w = ws[i]!;
    const k = arity(table, w);
    if (k === undefined) throw fail(`unknown word "${w}"`);
    const vals = ws.slice(i + 1, i + 1 + k);
    if (vals.length < k) throw fail(`"${w}" needs a value`);
    seen.set(w, vals);
    i += 1 + k;
  }
  return seen;
}

function readVxlan(ws: string[]): NonNullable<LinkDraft['vxlan']> {
  const out: NonNullable<LinkDraft['vxlan']> = {};
  // 4.11 prints nothing after the kind when the vxlan id is missing; then nothing is known
  if (ws[1] !== 'id') return out;
  for (let i = 1; i < ws.length; ) {
    const w = ws[i]!;
    const k = arity(VXLAN_WORDS, w) ?? 0;
    const v = ws[i + 1];
    if (w === 'id' && isCount(v)) out.id = Number(v);
    // `ip -j` calls an IPv6 local "local6", which parseIpAddr does not read
    if (w === 'local' && v !== undefined && Ip4.isValid(v)) out.local = v;
    if (w === 'dstport' && isCount(v)) out.port = Number(v);
    i += 1 + k;
  }
  // the kernel always reports learning; `ip` prints only its absence
  out.learning = !ws.includes('nolearning');
  return out;
}

function readAddress(ws: string[], name: string, fail: (rule: string) => OutputError): Ip4Net | undefined {
  const first = ws[1];
  if (first === undefined) throw fail('"inet" needs an address');
  // no IFA_LOCAL: `inet brd ...` or `inet scope ...`; `ip -j` has no "local" then either
  if (first === 'brd' || first === 'any' || first === 'scope') return undefined;
  // `inet 10.4.7.21/16` or, point-to-point, `inet 192.168.98.1 peer 192.168.98.2/32`
  let local = first;
  let withLen = first;
  if (!first.includes('/')) {
    if (ws[2] !== 'peer' || ws[3] === undefined) throw fail(`address "${first}" needs a /prefix`);
    withLen = ws[3];
  } else {
    local = first.slice(0, first.indexOf('/'));
  }
  const len = withLen.slice(withLen.indexOf('/') + 1);
  if (!Ip4.isValid(local)) throw fail(`address "${local}" must be an IPv4 address`);
  if (!/^\d{1,2}$/.test(len) || Number(len) > 32) throw fail(`prefix "/${len}" must be 0-32`);
  return Ip4Net.of(Ip4.parse(local, `${name} address`), Number(len));
}

/**
 * Parse `ip addr show`, `ip -d addr show`, `ip -4 addr show` or `ip -d -4 addr show`: the
 * same Interface[] parseIpAddr gives for the `ip -j` form of the same command. The MAC comes
 * from the `link/` line, which `-4` without `-d` leaves out (so does `ip -j -4`); the kind and
 * vxlan settings need `-d`. Throws a UsageError naming the command and the first line it
 * cannot read.
 */
export function parseIpAddrText(text: string): Interface[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseIpAddrTextUnchecked(text));
}

function parseIpAddrTextUnchecked(text: string): Interface[] {
  const out: Interface[] = [];
  let cur: LinkDraft | undefined;
  let curAt: { n: number; line: string } | undefined;
  const finish = () => {
    if (!cur || !curAt) return;
    if (cur.mtu === undefined) throw badLine(ADDR_CMD, curAt.n, curAt.line, 'every link needs "mtu N"', ADDR_EXAMPLE);
    out.push({
      name: cur.name,
      mtu: cur.mtu,
      up: cur.up,
      addrs: cur.addrs,
      ...(cur.kind ? { kind: cur.kind } : {}),
      ...(cur.mac !== undefined ? { mac: cur.mac } : {}),
      ...(cur.master !== undefined ? { master: cur.master } : {}),
      ...(cur.kind === 'vxlan' ? { vxlan: cur.vxlan ?? {} } : {}),
    });
  };
  for (const { n, line } of lines(text)) {
    const fail = (rule: string) => badLine(ADDR_CMD, n, line, rule, ADDR_EXAMPLE);
    if (!/^\s/.test(line)) {
      finish();
      const m = LINK_HEADER.exec(line);
      if (!m) throw fail('a link line must start "N: NAME: <FLAGS>"');
      const head = readWords(words(m[5]!), 0, HEADER_WORDS, fail);
      const mtu = head.get('mtu')?.[0];
      if (mtu !== undefined && !isCount(mtu)) throw fail(`mtu "${mtu}" must be a number`);
      const master = head.get('master')?.[0];
      cur = {
        name: m[2]!,
        ...(mtu !== undefined && { mtu: Number(mtu) }),
        up: m[4]!.split(',').includes('UP'),
        addrs: [],
        ...(master !== undefined && { master }),
        expect: 'link',
      };
      curAt = { n, line };
      continue;
    }
    if (!cur) throw fail('an indented line before the first link');
    const ws = words(line);
    const w0 = ws[0]!;
    if (cur.expect === 'link' && w0.startsWith('link/')) {
      // `link/ether 72:af:40:82:41:23 brd ff:ff:ff:ff:ff:ff ...`; `link/none` has no address
      const second = ws[1];
      const hasAddress = second !== undefined && arity(LINK_WORDS, second) === undefined;
      if (hasAddress) cur.mac = second;
      readWords(ws, hasAddress ? 2 : 1, LINK_WORDS, fail);
      cur.expect = 'kind';
      continue;
    }
    if (w0 === 'inet') {
      const a = readAddress(ws, cur.name, fail);
      if (a) cur.addrs.push(a);
      cur.expect = 'rest';
      continue;
    }
    if (SKIPPED_LINES.has(w0)) {
      cur.expect = 'rest';
      continue;
    }
    if ((cur.expect === 'kind' || cur.expect === 'slave') && w0.endsWith('_slave')) {
      // `bridge_slave state forwarding ...`: docker0's ports; master is on the header line
      cur.expect = 'rest';
      continue;
    }
    if (cur.expect === 'kind') {
      // print_linktype: the kind on its own line right after the link/ line (-d only)
      cur.kind = w0;
      if (w0 === 'vxlan') cur.vxlan = readVxlan(ws);
      cur.expect = 'slave';
      continue;
    }
    throw fail(`unexpected line starting "${w0}"`);
  }
  finish();
  return out;
}

// ------------------------------------------------------------------ ip neigh show

const NEIGH_CMD = 'ip neigh show';
const NEIGH_EXAMPLE = '172.7.22.0 lladdr 5a:3f:40:67:88:d9 PERMANENT';
const NUD_STATES = new Set(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT']);
const NEIGH_WORDS: Record<string, number> = { dev: 1, lladdr: 1, router: 0, proxy: 0, ref: 1, used: 1, probes: 1 };

/**
 * Parse `ip neigh show [dev X]`: the same Neighbour[] parseNeighbours gives for `ip -j neigh
 * show`. Entries whose destination is not IPv4 are skipped, as there. Throws a UsageError
 * naming the command and the first line it cannot read.
 */
export function parseNeighboursText(text: string): Neighbour[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseNeighboursTextUnchecked(text));
}

function parseNeighboursTextUnchecked(text: string): Neighbour[] {
  const out: Neighbour[] = [];
  for (const { n, line } of lines(text)) {
    const fail = (rule: string) => badLine(NEIGH_CMD, n, line, rule, NEIGH_EXAMPLE);
    const ws = words(line);
    const dst = ws[0]!;
    let mac: string | undefined;
    let states: string[] = [];
    for (let i = 1; i < ws.length; ) {
      const w = ws[i]!;
      const k = arity(NEIGH_WORDS, w);
      if (k !== undefined) {
        const v = ws[i + 1];
        if (k === 1 && v === undefined) throw fail(`"${w}" needs a value`);
        if (w === 'lladdr') mac = v!.toLowerCase();
        i += 1 + k;
        continue;
      }
      // the state: `PERMANENT`, `REACHABLE,NOARP`, ... (last on the line)
      const st = w.split(',').filter((s) => s !== '');
      if (i !== ws.length - 1 || st.length === 0 || !st.every((s) => NUD_STATES.has(s))) {
        throw fail(`unknown word "${w}"`);
      }
      states = st;
      i += 1;
    }
    if (!Ip4.isValid(dst)) {
      if (isIp6(dst)) continue;
      throw fail(`destination "${dst}" must be an IPv4 or IPv6 address`);
    }
    out.push({ ip: Ip4.parse(dst), ...(mac !== undefined && { mac }), states });
  }
  return out;
}

// ------------------------------------------------------------------ bridge fdb show

const FDB_CMD = 'bridge fdb show';
const FDB_EXAMPLE = '5a:3f:40:67:88:d9 dst 10.4.7.22 self permanent';
const FDB_WORDS: Record<string, number> = {
  dev: 1,
  dst: 1,
  vlan: 1,
  port: 1,
  vni: 1,
  src_vni: 1,
  'link-netnsid': 1,
  used: 1,
  nhid: 1,
};
const FDB_STATES = new Set(['permanent', 'static', 'stale']);
// 4.11 and 4.12 print NTF_EXT_LEARNED as "offload"; from 4.13 it is "extern_learn" (as in
// today's `bridge -j`) and "offload" means NTF_OFFLOADED, which 4.11 never prints. The 4.11
// reading is taken: on 4.13+ `bridge -j` works, and 4.11's does too (see detectJsonForm).
const FDB_FLAGS: Record<string, string> = {
  self: 'self',
  router: 'router',
  offload: 'extern_learn',
  extern_learn: 'extern_learn',
  sticky: 'sticky',
};

function fdbState(w: string | undefined): string | undefined {
  if (w === undefined) return undefined;
  if (FDB_STATES.has(w)) return w;
  // state_n2a's fallback: `state=0x80` in text, "0x80" in JSON
  const m = /^state=(0x[0-9a-f]+)$/.exec(w);
  return m ? m[1] : undefined;
}

/**
 * Parse `bridge fdb show [dev X]`: the same FdbEntry[] parseFdb gives for `bridge -j fdb
 * show`. Throws a UsageError naming the command and the first line it cannot read.
 */
export function parseFdbText(text: string): FdbEntry[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseFdbTextUnchecked(text));
}

function parseFdbTextUnchecked(text: string): FdbEntry[] {
  const out: FdbEntry[] = [];
  for (const { n, line } of lines(text)) {
    const fail = (rule: string) => badLine(FDB_CMD, n, line, rule, FDB_EXAMPLE);
    const ws = words(line);
    const mac = ws[0]!;
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$/.test(mac)) throw fail(`"${mac}" is not a link-layer address`);
    let dst: Ip4 | undefined;
    const flags: string[] = [];
    let state = '';
    for (let i = 1; i < ws.length; ) {
      const w = ws[i]!;
      const last = i === ws.length - 1;
      const k = arity(FDB_WORDS, w);
      if (k !== undefined) {
        const v = ws[i + 1];
        if (v === undefined) throw fail(`"${w}" needs a value`);
        if (w === 'dst' && Ip4.isValid(v)) dst = Ip4.parse(v);
        i += 2;
      } else if (w === 'via') {
        // `via eth0` or, for a device in another namespace, `via ifindex 7`
        i += ws[i + 1] === 'ifindex' ? 3 : 2;
        if (i > ws.length) throw fail('"via" needs an interface');
      } else if (Object.hasOwn(FDB_FLAGS, w)) {
        flags.push(FDB_FLAGS[w]!);
        i += 1;
      } else if (w === 'master') {
        // `master docker0` (NDA_MASTER) prints no flag; a bare `master` is NTF_MASTER
        const v = ws[i + 1];
        const bare = v === undefined || (i + 1 === ws.length - 1 && fdbState(v) !== undefined);
        if (bare) flags.push('master');
        i += bare ? 1 : 2;
      } else if (last && fdbState(w) !== undefined) {
        state = fdbState(w)!;
        i += 1;
      } else {
        throw fail(`unknown word "${w}"`);
      }
    }
    out.push({ mac: mac.toLowerCase(), ...(dst && { dst }), flags, state });
  }
  return out;
}
