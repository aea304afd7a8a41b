#!/usr/bin/env node
// flanneld stand-in for the lab: the real binary cannot be downloaded there.
//
// One self-contained ESM file (node:http, node:https, node:child_process, node:fs only) that
// behaves like flanneld v0.11.0 (etcd v2 keys API) or, packed as v0.20.2, like flanneld v0.20.2
// (etcd v3 API, spoken through etcd's gRPC gateway: /v3/kv/range, /v3/kv/put, /v3/lease/grant,
// /v3/watch), with the host-gw and vxlan (+ DirectRouting) backends, for everything a toolkit
// can observe: flags and FLANNELD_* variables, glog lines on stderr (same file:line tags and
// texts as the real daemon), the lease in etcd, subnet.env, routes, the flannel.<VNI> device
// with its neighbour and fdb entries, iptables rules, healthz, signals and exit codes. The
// behaviour follows flannel's source (v0.11.0: main.go, subnet/etcdv2, subnet/watch.go,
// backend/route_network.go, backend/vxlan, network/iptables.go; v0.20.2 where it differs) and
// the real daemons' outputs in observed-flanneld-v0.11.0/ and observed-flanneld-v0.20.2/.
//
// Which flanneld it is depends on VERSION below, which lab/flanneld/pack.ts rewrites when it
// packs a `v0.20.2` tarball: 'v0.11.0' -> etcd v2, v0.11.0's texts; 'v0.20.2' -> etcd v3, leases
// as v3 lease grants, iptables in FLANNEL-FWD / FLANNEL-POSTRTG chains, a panic on SIGTERM.
//
// Layout (so a backend or an etcd API can be added later):
//   log        glog lines, Go value formatting (durations, times, errors)
//   flags      Go `flag` parsing, FLANNELD_* environment variables, usage
//   ip         IPv4 address / network values (flannel's pkg/ip)
//   host       interfaces, routes and iptables through iproute2 / iptables commands
//   etcd v2    HTTP client (Go etcd client v2 semantics and error texts) + subnet registry
//   etcd v3    gRPC-gateway JSON client + subnet registry (v0.20 mode)
//   subnet     network config parsing, LocalManager (lease choice), lease watchers
//   backends   BACKENDS: type -> constructor; host-gw (RouteNetwork) and vxlan
//              (REGISTRIES, beside main, does the same for the etcd API: v2 and v3)
//   iptables   flannel's rule sets and the ensure loops (v0.11: plain rules; v0.20: chains)
//   main       start-up order, healthz, signals, lease monitor, shutdown
//
// The modules are loaded with import() rather than import statements so that the file also
// runs where Node takes an extensionless `flanneld` for CommonJS (a "type": "commonjs"
// package.json above it, or a Node 20 older than 20.19 without module syntax detection).
let http;
let https;
let execFile;
let fs;
async function loadModules() {
  const [h, hs, cp, f] = await Promise.all([
    import('node:http'),
    import('node:https'),
    import('node:child_process'),
    import('node:fs'),
  ]);
  http = h.default;
  https = hs.default;
  execFile = cp.default.execFile;
  fs = f.default;
}

// lab/flanneld/pack.ts rewrites this line (and only this one) for the v0.20-style stand-in.
const VERSION = 'v0.11.0';
/** flanneld v0.20.2 (etcd v3) rather than v0.11.0 (etcd v2): every difference branches on this. */
const V020 = VERSION !== 'v0.11.0';
/** A glog file:line tag: v0.11.0's, or v0.20.2's when the line moved. */
const T = (v011, v020) => (V020 ? v020 : v011);
const PID = process.pid;

// ---------------------------------------------------------------------------------- log
// A nanosecond wall clock: Date.now() at start plus the monotonic clock since then.
const startWallNs = BigInt(Date.now()) * 1000000n;
const startMonoNs = process.hrtime.bigint();
const nowNs = () => startWallNs + (process.hrtime.bigint() - startMonoNs);

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** glog header time: local time with microseconds. */
function glogTime(ns) {
  const d = new Date(Number(ns / 1000000n));
  const us = Number((ns / 1000n) % 1000000n);
  return `${pad(d.getMonth() + 1)}${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(us, 6)}`;
}

function emit(sev, tag, msg) {
  let line = `${sev}${glogTime(nowNs())} ${String(PID).padStart(7)} ${tag}] ${msg}`;
  if (!line.endsWith('\n')) line += '\n';
  process.stderr.write(line);
}
const log = {
  info: (tag, msg) => emit('I', tag, msg),
  warn: (tag, msg) => emit('W', tag, msg),
  error: (tag, msg) => emit('E', tag, msg),
};

/** The line etcd's pkg/transport prints through capnslog when a CA file is given. */
function capnslogLine(msg) {
  const ns = nowNs();
  const d = new Date(Number(ns / 1000000n));
  const us = Number((ns / 1000n) % 1000000n);
  const ts = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(us, 6)}`;
  process.stderr.write(`${ts} I | ${msg}\n`);
}

/** Go's time.Duration.String() for an int64 nanosecond count (BigInt). */
function goDuration(d) {
  d = BigInt.asIntN(64, d);
  if (d === 0n) return '0s';
  const neg = d < 0n;
  let u = neg ? -d : d;
  if (d === -(1n << 63n)) u = 1n << 63n;
  const frac = (v, prec) => {
    let digits = '';
    let print = false;
    for (let i = 0; i < prec; i++) {
      const digit = v % 10n;
      print = print || digit !== 0n;
      if (print) digits = String(digit) + digits;
      v /= 10n;
    }
    return [print ? `.${digits}` : '', v];
  };
  let out;
  if (u < 1000000000n) {
    let prec;
    let unit;
    if (u < 1000n) [prec, unit] = [0, 'ns'];
    else if (u < 1000000n) [prec, unit] = [3, 'µs'];
    else [prec, unit] = [6, 'ms'];
    const [f, rest] = frac(u, prec);
    out = `${rest}${f}${unit}`;
  } else {
    const [f, secs] = frac(u, 9);
    let s = `${secs % 60n}${f}s`;
    const mins = secs / 60n;
    if (mins > 0n) {
      s = `${mins % 60n}m${s}`;
      const hours = mins / 60n;
      if (hours > 0n) s = `${hours}h${s}`;
    }
    out = s;
  }
  return neg ? `-${out}` : out;
}

/** Parses an RFC 3339 time with up to 9 fractional digits into Unix nanoseconds (BigInt). */
function parseRfc3339Ns(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s || '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  let ns = BigInt(ms) * 1000000n + BigInt((m[7] || '').padEnd(9, '0') || '0');
  if (m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1n : 1n;
    const off = BigInt(+m[8].slice(1, 3) * 60 + +m[8].slice(4, 6)) * 60n * 1000000000n;
    ns -= sign * off;
  }
  return ns;
}

/** Go's time.Time.String() of a UTC time (as parsed from etcd's "expiration"). */
function goTimeUTC(ns) {
  const d = new Date(Number(ns / 1000000n));
  let frac = String(((ns % 1000000000n) + 1000000000n) % 1000000000n)
    .padStart(9, '0')
    .replace(/0+$/, '');
  if (frac) frac = `.${frac}`;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac} +0000 UTC`;
}

/** An error whose message is exactly the text the Go daemon would print. */
class GoError extends Error {}
const errCanceled = new GoError('context canceled');
const isCanceled = (e) => e === errCanceled;

// -------------------------------------------------------------------------------- flags
// v0.11.0's flag set (flannelFlags, plus glog's v, vmodule, log_backtrace_at copied in).
const FLAG_DEFS = [
  [
    'etcd-endpoints',
    'string',
    'http://127.0.0.1:4001,http://127.0.0.1:2379',
    'a comma-delimited list of etcd endpoints',
  ],
  ['etcd-prefix', 'string', '/coreos.com/network', 'etcd prefix'],
  ['etcd-keyfile', 'string', '', 'SSL key file used to secure etcd communication'],
  ['etcd-certfile', 'string', '', 'SSL certification file used to secure etcd communication'],
  ['etcd-cafile', 'string', '', 'SSL Certificate Authority file used to secure etcd communication'],
  ['etcd-username', 'string', '', 'username for BasicAuth to etcd'],
  ['etcd-password', 'string', '', 'password for BasicAuth to etcd'],
  [
    'iface',
    'slice',
    '',
    'interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each option in order. Returns the first match found.',
  ],
  [
    'iface-regex',
    'slice',
    '',
    'regex expression to match the first interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each regex in order. Returns the first match found. Regexes are checked after specific interfaces specified by the iface option have already been checked.',
  ],
  [
    'subnet-file',
    'string',
    '/run/flannel/subnet.env',
    'filename where env variables (subnet, MTU, ... ) will be written to',
  ],
  ['public-ip', 'string', '', 'IP accessible by other nodes for inter-host communication'],
  ['subnet-lease-renew-margin', 'int', '60', 'subnet lease renewal margin, in minutes, ranging from 1 to 1439'],
  ['ip-masq', 'bool', 'false', 'setup IP masquerade rule for traffic destined outside of overlay network'],
  ['kube-subnet-mgr', 'bool', 'false', 'contact the Kubernetes API for subnet assignment instead of etcd.'],
  [
    'kube-api-url',
    'string',
    '',
    'Kubernetes API server URL. Does not need to be specified if flannel is running in a pod.',
  ],
  [
    'kube-annotation-prefix',
    'string',
    'flannel.alpha.coreos.com',
    'Kubernetes annotation prefix. Can contain single slash "/", otherwise it will be appended at the end.',
  ],
  [
    'kubeconfig-file',
    'string',
    '',
    'kubeconfig file location. Does not need to be specified if flannel is running in a pod.',
  ],
  ['version', 'bool', 'false', 'print version and exit'],
  ['healthz-ip', 'string', '0.0.0.0', 'the IP address for healthz server to listen'],
  ['healthz-port', 'int', '0', 'the port for healthz server to listen(0 to disable)'],
  ['iptables-resync', 'int', '5', 'resync period for iptables rules, in seconds'],
  ['iptables-forward-rules', 'bool', 'true', 'add default accept rules to FORWARD chain in iptables'],
  ['net-config-path', 'string', '/etc/kube-flannel/net-conf.json', 'path to the network configuration file'],
  ['v', 'level', '0', 'log level for V logs'],
  ['vmodule', 'value', '', 'comma-separated list of pattern=N settings for file-filtered logging'],
  ['log_backtrace_at', 'value', ':0', 'when logging hits line file:N, emit a stack trace'],
];
/** Flags v0.20.2 added. */
const FLAG_DEFS_V020 = [
  [
    'iface-can-reach',
    'string',
    '',
    "detect interface to use (IP or name) for inter-host communication based on which will be used for provided IP. This is exactly the interface to use of command 'ip route get <ip-address>'",
  ],
  ['public-ipv6', 'string', '', 'IPv6 accessible by other nodes for inter-host communication'],
  ['set-node-network-unavailable', 'bool', 'true', 'set NodeNetworkUnavailable after ready'],
];

class FlagSet {
  constructor() {
    const defs = V020 ? [...FLAG_DEFS, ...FLAG_DEFS_V020] : FLAG_DEFS;
    this.defs = new Map(defs.map(([name, type, def, usage]) => [name, { name, type, def, usage }]));
    this.values = new Map();
    this.setOnCommandLine = new Set();
    for (const d of this.defs.values()) this.values.set(d.name, d.type === 'slice' ? [] : this.convert(d, d.def));
  }

  /** Go's flag.Value.Set: returns the converted value or throws GoError("parse error" ...). */
  convert(def, s) {
    switch (def.type) {
      case 'bool': {
        if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
        if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
        throw new GoError('parse error');
      }
      case 'int':
      case 'level': {
        const n = parseGoInt(s);
        if (n === null) throw new GoError('parse error');
        if (n > 2 ** 63 - 1 || n < -(2 ** 63)) throw new GoError('value out of range');
        return n;
      }
      default:
        return s;
    }
  }

  set(name, s) {
    const def = this.defs.get(name);
    const v = this.convert(def, s);
    if (def.type === 'slice') this.values.get(name).push(v);
    else this.values.set(name, v);
  }

  get(name) {
    return this.values.get(name);
  }

  /** flag.FlagSet.Parse with ExitOnError and flannel's usage() (which exits 0). */
  parse(args) {
    while (args.length > 0) {
      const s = args[0];
      if (s.length < 2 || s[0] !== '-') return;
      let minuses = 1;
      if (s[1] === '-') {
        minuses++;
        if (s.length === 2) return;
      }
      let name = s.slice(minuses);
      if (name.length === 0 || name[0] === '-' || name[0] === '=') this.fail(`bad flag syntax: ${s}`);
      args.shift();
      let hasValue = false;
      let value = '';
      const eq = name.indexOf('=', 1);
      if (eq > 0) {
        value = name.slice(eq + 1);
        hasValue = true;
        name = name.slice(0, eq);
      }
      const def = this.defs.get(name);
      if (!def) {
        if (name === 'help' || name === 'h') this.usage();
        this.fail(`flag provided but not defined: -${name}`);
      }
      if (def.type === 'bool') {
        try {
          this.set(name, hasValue ? value : 'true');
        } catch (e) {
          this.fail(`invalid boolean value ${goQuote(value)} for -${name}: ${e.message}`);
        }
      } else {
        if (!hasValue && args.length > 0) {
          hasValue = true;
          value = args.shift();
        }
        if (!hasValue) this.fail(`flag needs an argument: -${name}`);
        try {
          this.set(name, value);
        } catch (e) {
          this.fail(`invalid value ${goQuote(value)} for flag -${name}: ${e.message}`);
        }
      }
      this.setOnCommandLine.add(name);
    }
  }

  /** coreos/pkg/flagutil.SetFlagsFromEnv: FLANNELD_<NAME> for each flag not given; errors ignored. */
  setFromEnv(prefix) {
    for (const def of [...this.defs.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (this.setOnCommandLine.has(def.name)) continue;
      const key = `${prefix}_${def.name.replaceAll('-', '_').toUpperCase()}`;
      const val = process.env[key];
      if (val) {
        try {
          this.set(def.name, val);
        } catch {
          // v0.11.0 ignores SetFlagsFromEnv's error
        }
      }
    }
  }

  fail(msg) {
    process.stderr.write(`${msg}\n`);
    this.usage();
  }

  usage() {
    let out = `Usage: ${invokedAs} [OPTION]...\n`;
    for (const def of [...this.defs.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const typeName = { string: 'string', int: 'int', bool: '', slice: 'value', level: 'value', value: 'value' }[
        def.type
      ];
      let b = `  -${def.name}`;
      if (typeName) b += ` ${typeName}`;
      b += b.length <= 4 ? '\t' : '\n    \t';
      b += def.usage;
      const zero = { string: '', int: '0', bool: 'false', slice: '', level: '0', value: def.def }[def.type];
      if (def.def !== zero) b += def.type === 'string' ? ` (default ${goQuote(def.def)})` : ` (default ${def.def})`;
      out += `${b}\n`;
    }
    process.stderr.write(out);
    process.exit(0);
  }
}

/** v0.20.2's first log line: `CLI flags config: %+v` of its CmdLineOpts struct. */
function cliFlagsConfig(opts) {
  const f = (name) => opts.get(name);
  const fields = [
    ['etcdEndpoints', f('etcd-endpoints')],
    ['etcdPrefix', f('etcd-prefix')],
    ['etcdKeyfile', f('etcd-keyfile')],
    ['etcdCertfile', f('etcd-certfile')],
    ['etcdCAFile', f('etcd-cafile')],
    ['etcdUsername', f('etcd-username')],
    ['etcdPassword', f('etcd-password')],
    ['version', f('version')],
    ['kubeSubnetMgr', f('kube-subnet-mgr')],
    ['kubeApiUrl', f('kube-api-url')],
    ['kubeAnnotationPrefix', f('kube-annotation-prefix')],
    ['kubeConfigFile', f('kubeconfig-file')],
    ['iface', `[${f('iface').join(' ')}]`],
    ['ifaceRegex', `[${f('iface-regex').join(' ')}]`],
    ['ipMasq', f('ip-masq')],
    ['ifaceCanReach', f('iface-can-reach')],
    ['subnetFile', f('subnet-file')],
    ['publicIP', f('public-ip')],
    ['publicIPv6', f('public-ipv6')],
    ['subnetLeaseRenewMargin', f('subnet-lease-renew-margin')],
    ['healthzIP', f('healthz-ip')],
    ['healthzPort', f('healthz-port')],
    ['iptablesResyncSeconds', f('iptables-resync')],
    ['iptablesForwardRules', f('iptables-forward-rules')],
    ['netConfPath', f('net-config-path')],
    ['setNodeNetworkUnavailable', f('set-node-network-unavailable')],
  ];
  return `{${fields.map(([k, v]) => `${k}:${v}`).join(' ')}}`;
}

function goQuote(s) {
  return JSON.stringify(s);
}

/** strconv.ParseInt(s, 0, 64) without range checks: decimal, 0x, 0o / leading 0, 0b, underscores. */
function parseGoInt(s) {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m) return null;
  let body = m[2].replaceAll('_', '');
  let base = 10;
  if (/^0[xX]/.test(body)) [base, body] = [16, body.slice(2)];
  else if (/^0[oO]/.test(body)) [base, body] = [8, body.slice(2)];
  else if (/^0[bB]/.test(body)) [base, body] = [2, body.slice(2)];
  else if (body.length > 1 && body[0] === '0') [base, body] = [8, body.slice(1)];
  if (body === '') return null;
  const n = parseInt(body, base);
  return m[1] === '-' ? -n : n;
}

// ----------------------------------------------------------------------------------- ip
/** IPv4 address as an unsigned 32-bit number (flannel's ip.IP4). */
function parseIP4(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}
const ip4String = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const maskOf = (prefixLen) => (prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0);

/** flannel's ip.IP4Net: {ip, prefixLen}; the address is kept as given, not masked. */
class IP4Net {
  constructor(ip, prefixLen) {
    this.ip = ip >>> 0;
    this.prefixLen = prefixLen;
  }
  static zero() {
    return new IP4Net(0, 0);
  }
  /** net.ParseCIDR then FromIPNet: the result is masked. Throws Go's error text. */
  static parseCIDR(s) {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
    const ip = m ? parseIP4(m[1]) : null;
    const len = m ? Number(m[2]) : NaN;
    if (ip === null || !(len >= 0 && len <= 32)) throw new GoError(`invalid CIDR address: ${s}`);
    return new IP4Net((ip & maskOf(len)) >>> 0, len);
  }
  mask() {
    return maskOf(this.prefixLen);
  }
  empty() {
    return this.ip === 0 && this.prefixLen === 0;
  }
  equal(o) {
    return this.ip === o.ip && this.prefixLen === o.prefixLen;
  }
  next() {
    return new IP4Net((this.ip + 2 ** (32 - this.prefixLen)) % 2 ** 32, this.prefixLen);
  }
  contains(ip) {
    return (this.ip & this.mask()) >>> 0 === (ip & this.mask()) >>> 0;
  }
  overlaps(o) {
    const mask = this.prefixLen < o.prefixLen ? this.mask() : o.mask();
    return (this.ip & mask) >>> 0 === (o.ip & mask) >>> 0;
  }
  toString() {
    return `${ip4String(this.ip)}/${this.prefixLen}`;
  }
  /** The etcd key form: 172.7.21.0-24. */
  key() {
    return `${ip4String(this.ip)}-${this.prefixLen}`;
  }
}

const SUBNET_KEY_RE = /(\d+\.\d+.\d+.\d+)-(\d+)/;
/** subnet.ParseSubnetKey: unanchored, as in v0.11.0. */
function parseSubnetKey(s) {
  const m = SUBNET_KEY_RE.exec(s);
  if (!m) return null;
  const ip = parseIP4(m[1]);
  const len = Number(m[2]);
  if (ip === null || !(len >= 0 && len <= 31)) return null;
  return new IP4Net(ip, len);
}

// --------------------------------------------------------------------------------- host
const children = new Set();

/**
 * Where `ip` is. The real daemon talks netlink and needs no binary, so look beyond $PATH too
 * (a supervisord started without /usr/sbin in $PATH). iptables stays a $PATH lookup, as in
 * go-iptables.
 */
let ipBinary = null;
function ipPath() {
  if (ipBinary) return ipBinary;
  const dirs = [...(process.env.PATH || '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  ipBinary = dirs.map((d) => `${d}/ip`).find((p) => fs.existsSync(p)) || 'ip';
  return ipBinary;
}

/** Runs a command; resolves {code, stdout, stderr}; rejects only when it cannot start. */
function runCmd(argv) {
  if (argv[0] === 'ip') argv = [ipPath(), ...argv.slice(1)];
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      children.delete(child);
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    children.add(child);
  });
}

/** Runs a command with `input` on its stdin; resolves {code, stdout, stderr}. */
function runCmdInput(argv, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      children.delete(child);
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    children.add(child);
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function ipJson(args) {
  const r = await runCmd(['ip', '-j', ...args]);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
  const out = r.stdout.trim();
  return out === '' ? [] : JSON.parse(out);
}

/** The errno text Go's netlink would return for what iproute2 printed. */
function netlinkErrText(stderr) {
  const s = stderr.trim();
  if (/File exists/i.test(s)) return 'file exists';
  if (/No such process/i.test(s)) return 'no such process';
  if (/invalid gateway|Network is unreachable/i.test(s)) return 'network is unreachable';
  if (/Cannot find device|No such device/i.test(s)) return 'no such device';
  if (/Operation not permitted/i.test(s)) return 'operation not permitted';
  const m = /(?:RTNETLINK answers|Error): (.*?)\.?$/m.exec(s);
  return m ? m[1].charAt(0).toLowerCase() + m[1].slice(1) : s;
}

/** net.Interfaces() with the IPv4 addresses (netlink.AddrList order). */
async function listInterfaces() {
  const links = await ipJson(['addr', 'show']);
  return links.map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    mtu: l.mtu || 0,
    addrs: (l.addr_info || [])
      .filter((a) => a.family === 'inet')
      .map((a) => parseIP4(a.local))
      .filter((a) => a !== null),
  }));
}

const isLoopback = (ip) => ip >>> 24 === 127;
const isLinkLocal = (ip) => ip >>> 16 === 0xa9fe;
const isGlobalUnicast = (ip) =>
  ip !== 0 && ip !== 0xffffffff && !isLoopback(ip) && !isLinkLocal(ip) && ip >>> 28 !== 0xe;

/** ip.GetIfaceIP4Addr: prefers a global unicast address, else a link-local one. */
function ifaceIP4Addr(iface) {
  let ll = null;
  for (const a of iface.addrs) {
    if (isGlobalUnicast(a)) return a;
    if (isLinkLocal(a)) ll = a;
  }
  if (ll !== null) return ll;
  throw new GoError('No IPv4 address found for given interface');
}

async function defaultGatewayIface(ifaces) {
  const routes = await ipJson(['-4', 'route', 'show', 'table', 'main']);
  for (const r of routes) {
    if (r.dst === 'default' || r.dst === '0.0.0.0/0') {
      const iface = ifaces.find((i) => i.name === r.dev);
      if (!iface) throw new GoError('Found default route but could not determine interface');
      return iface;
    }
  }
  throw new GoError('Unable to find default route');
}

/** main.LookupExtIface of v0.11.0 (interface name or IP, or regex, or the default route's). */
async function lookupExtIface(ifname, ifregex, publicIP) {
  const ifaces = await listInterfaces();
  let iface = null;
  let ifaceAddr = null;
  if (ifname) {
    const asIP = parseIP4(ifname);
    if (asIP !== null) {
      ifaceAddr = asIP;
      log.info(T('main.go:456', 'match.go:191'), `Searching for interface using ${ip4String(asIP)}`);
      iface = ifaces.find((i) => i.addrs.includes(asIP)) || null;
      if (!iface) throw new GoError(`error looking up interface ${ifname}: No interface with given IP found`);
    } else {
      iface = ifaces.find((i) => i.name === ifname) || null;
      if (!iface) throw new GoError(`error looking up interface ${ifname}: route ip+net: no such network interface`);
    }
  } else if (ifregex) {
    let re;
    try {
      re = new RegExp(ifregex);
    } catch {
      throw new GoError(`regex error matching pattern ${ifregex} to ${ifaces[0] ? ifaces[0].name : ''}`);
    }
    for (const cand of ifaces) {
      let a;
      try {
        a = ifaceIP4Addr(cand);
      } catch {
        continue;
      }
      if (re.test(ip4String(a))) {
        iface = cand;
        ifaceAddr = a;
        break;
      }
    }
    if (!iface) iface = ifaces.find((i) => re.test(i.name)) || null;
    if (!iface) throw new GoError(`Could not match pattern ${ifregex} to any of the available network interfaces`);
  } else {
    log.info(T('main.go:514', 'match.go:227'), 'Determining IP address of default interface');
    try {
      iface = await defaultGatewayIface(ifaces);
    } catch (e) {
      throw new GoError(`failed to get default interface: ${e.message}`);
    }
  }
  if (ifaceAddr === null) {
    try {
      ifaceAddr = ifaceIP4Addr(iface);
    } catch {
      throw new GoError(`failed to find IPv4 address for interface ${iface.name}`);
    }
  }
  log.info(
    T('main.go:527', 'match.go:259'),
    `Using interface with name ${iface.name} and address ${ip4String(ifaceAddr)}`,
  );
  if (!iface.mtu) throw new GoError(`failed to determine MTU for ${ip4String(ifaceAddr)} interface`);
  let extAddr = null;
  if (publicIP) {
    extAddr = parseIP4(publicIP);
    if (extAddr === null) throw new GoError(`invalid public IP address: ${publicIP}`);
    log.info(T('main.go:540', 'match.go:277'), `Using ${ip4String(extAddr)} as external address`);
  }
  if (extAddr === null) {
    log.info(
      T('main.go:544', 'match.go:281'),
      `Defaulting external address to interface address (${ip4String(ifaceAddr)})`,
    );
    extAddr = ifaceAddr;
  }
  return { iface, ifaceAddr, extAddr };
}

// ------------------------------------------------------------------------------ etcd v2
/** An etcd v2 API error ({"errorCode":100,...}); Error() as the Go client prints it. */
class EtcdError extends GoError {
  constructor(body, headerIndex) {
    const index = body.index ?? headerIndex;
    super(`${body.errorCode}: ${body.message} (${body.cause ?? ''}) [${index}]`);
    this.code = body.errorCode;
    this.index = index;
  }
}
const ERR_KEY_NOT_FOUND = 100;
const ERR_EVENT_INDEX_CLEARED = 401;
const isEtcdError = (e) => e instanceof EtcdError;

const GO_TLS_ALERTS = {
  CLOSE_NOTIFY: 'close notify',
  UNEXPECTED_MESSAGE: 'unexpected message',
  BAD_RECORD_MAC: 'bad record MAC',
  DECRYPTION_FAILED: 'decryption failed',
  RECORD_OVERFLOW: 'record overflow',
  DECOMPRESSION_FAILURE: 'decompression failure',
  HANDSHAKE_FAILURE: 'handshake failure',
  BAD_CERTIFICATE: 'bad certificate',
  UNSUPPORTED_CERTIFICATE: 'unsupported certificate',
  CERTIFICATE_REVOKED: 'revoked certificate',
  CERTIFICATE_EXPIRED: 'expired certificate',
  CERTIFICATE_UNKNOWN: 'unknown certificate',
  ILLEGAL_PARAMETER: 'illegal parameter',
  UNKNOWN_CA: 'unknown certificate authority',
  ACCESS_DENIED: 'access denied',
  DECODE_ERROR: 'error decoding message',
  DECRYPT_ERROR: 'error decrypting message',
  PROTOCOL_VERSION: 'protocol version not supported',
  INSUFFICIENT_SECURITY: 'insufficient security level',
  INTERNAL_ERROR: 'internal error',
  USER_CANCELLED: 'user canceled',
  NO_RENEGOTIATION: 'no renegotiation',
  CERTIFICATE_REQUIRED: 'certificate required',
  UNRECOGNIZED_NAME: 'unrecognized name',
  NO_APPLICATION_PROTOCOL: 'no application protocol',
};

const goTimeRFC3339 = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The text of the Go error net/http + crypto/tls would report for a failed request. */
function goNetError(e, ep, info) {
  const hp = `${ep.hostname.replace(/^\[|\]$/g, '')}:${ep.port || (ep.protocol === 'https:' ? 443 : 80)}`;
  const hostport =
    hp.includes(':') && hp.split(':').length > 2
      ? `[${hp.slice(0, hp.lastIndexOf(':'))}]${hp.slice(hp.lastIndexOf(':'))}`
      : hp;
  const code = e?.code;
  if (info.dialTimeout) return `dial tcp ${hostport}: i/o timeout`;
  if (info.bodyAborted) return 'unexpected EOF';
  switch (code) {
    case 'ECONNREFUSED':
      return `dial tcp ${hostport}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `dial tcp ${hostport}: connect: no route to host`;
    case 'ENETUNREACH':
      return `dial tcp ${hostport}: connect: network is unreachable`;
    case 'EADDRNOTAVAIL':
      return `dial tcp ${hostport}: connect: cannot assign requested address`;
    case 'ETIMEDOUT':
      return `dial tcp ${hostport}: connect: connection timed out`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `dial tcp: lookup ${ep.hostname}: no such host`;
    case 'ECONNRESET':
    case 'EPIPE':
      if (e.syscall === 'read' && info.local)
        return `read tcp ${info.local}->${hostport}: read: connection reset by peer`;
      return 'EOF';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
    case 'UNABLE_TO_DECRYPT_CERT_SIGNATURE':
      return 'x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID': {
      const cert = info.peerCert;
      if (cert?.valid_to) {
        const now = new Date();
        const to = new Date(cert.valid_to);
        const from = new Date(cert.valid_from);
        if (code === 'CERT_HAS_EXPIRED')
          return `x509: certificate has expired or is not yet valid: current time ${goTimeRFC3339(now)} is after ${goTimeRFC3339(to)}`;
        return `x509: certificate has expired or is not yet valid: current time ${goTimeRFC3339(now)} is before ${goTimeRFC3339(from)}`;
      }
      return 'x509: certificate has expired or is not yet valid';
    }
    case 'ERR_TLS_CERT_ALTNAME_INVALID': {
      const san = e.cert?.subjectaltname || '';
      const ips = [...san.matchAll(/IP Address:([^,\s]+)/g)].map((m) => m[1]);
      const host = ep.hostname.replace(/^\[|\]$/g, '');
      if (parseIP4(host) !== null) {
        if (ips.length === 0)
          return `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`;
        return `x509: certificate is valid for ${ips.join(', ')}, not ${host}`;
      }
      const names = [...san.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]);
      if (names.length === 0) return 'x509: certificate relies on legacy Common Name field, use SANs instead';
      return `x509: certificate is valid for ${names.join(', ')}, not ${host}`;
    }
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
      return 'tls: first record does not look like a TLS handshake';
    case 'ERR_OSSL_X509_KEY_VALUES_MISMATCH':
      return 'tls: private key does not match public key';
    default: {
      const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code || '');
      if (alert) return `remote error: tls: ${GO_TLS_ALERTS[alert[1]] || alert[1].toLowerCase().replaceAll('_', ' ')}`;
      if (code === 'EPROTO' && /wrong version number/.test(e.message))
        return 'tls: first record does not look like a TLS handshake';
      return e?.message ? e.message : String(e);
    }
  }
}

/** Go's encoding/json error text for a body that is not JSON (close enough for logs). */
function goJsonSyntaxError(s) {
  const t = (s || '').trimStart();
  if (t === '') return 'unexpected end of JSON input';
  try {
    JSON.parse(s);
    return null;
  } catch {
    const c = t[0];
    if (!'{["-0123456789tfn'.includes(c)) return `invalid character '${c}' looking for beginning of value`;
    return 'unexpected end of JSON input';
  }
}

/**
 * url.Parse as the Go client applies it to --etcd-endpoints: "10.4.7.21:2379" (no scheme) is
 * refused at start-up; an unknown scheme fails each request.
 */
function parseEndpoint(s) {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(s);
  if (!scheme) {
    const firstSeg = s.split('/')[0];
    if (firstSeg.includes(':'))
      throw new GoError(`parse ${goQuote(s)}: first path segment in URL cannot contain colon`);
    return { protocol: ':', hostname: '', port: '', host: '', pathname: s, raw: s };
  }
  let u;
  try {
    u = new URL(s);
  } catch {
    throw new GoError(`parse ${goQuote(s)}: invalid URL`);
  }
  return { protocol: u.protocol, hostname: u.hostname, port: u.port, host: u.host, pathname: u.pathname, raw: s };
}

/**
 * The Go etcd v2 client (coreos/etcd/client) as flannel v0.11.0 configures it: endpoints tried
 * in order from the pinned one, 1 s dial timeout, no request timeout, cluster errors joined as
 * "client: etcd cluster is unavailable or misconfigured; error #0: ...\n".
 */
class EtcdV2Client {
  constructor(cfg) {
    this.endpoints = cfg.endpoints.map(parseEndpoint);
    this.pinned = 0;
    this.tls = cfg.tls;
    this.auth = cfg.username ? `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}` : null;
    this.agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  }

  close() {
    for (const a of Object.values(this.agents)) a.destroy();
  }

  /** One HTTP exchange with one endpoint: resolves {status, headers, body}; `json` is a JSON body (v3 gateway). */
  once(ep, method, path, query, form, signal, json) {
    if (ep.protocol !== 'http:' && ep.protocol !== 'https:') {
      return Promise.reject(new GoError(`unsupported protocol scheme ${goQuote(ep.protocol.slice(0, -1))}`));
    }
    return new Promise((resolve, reject) => {
      const qs = new URLSearchParams(Object.entries(query).sort(([a], [b]) => (a < b ? -1 : 1))).toString();
      const base = ep.pathname.replace(/\/$/, '');
      const headers = {};
      let body = null;
      if (form) {
        body = new URLSearchParams(form).toString();
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
        headers['Content-Length'] = Buffer.byteLength(body);
      } else if (json !== undefined) {
        body = JSON.stringify(json);
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = Buffer.byteLength(body);
      }
      if (this.auth) headers.Authorization = this.auth;
      const opts = {
        protocol: ep.protocol,
        hostname: ep.hostname.replace(/^\[|\]$/g, ''),
        port: ep.port || (ep.protocol === 'https:' ? 443 : 80),
        method,
        path: base + path + (qs ? `?${qs}` : ''),
        headers,
        agent: this.agents[ep.protocol],
      };
      if (ep.protocol === 'https:') Object.assign(opts, this.tls);
      const info = { dialTimeout: false, bodyAborted: false, local: null, peerCert: null };
      const mod = ep.protocol === 'https:' ? https : http;
      let req;
      let settled = false;
      const fail = (e) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return reject(errCanceled);
        reject(new GoError(goNetError(e, ep, info)));
      };
      const onAbort = () => req?.destroy(new Error('aborted'));
      try {
        req = mod.request(opts, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('aborted', () => {
            info.bodyAborted = true;
          });
          res.on('error', (e) => {
            info.bodyAborted = true;
            fail(e);
          });
          res.on('end', () => {
            if (settled) return;
            if (!res.complete) {
              info.bodyAborted = true;
              return fail(new Error('unexpected EOF'));
            }
            settled = true;
            signal.removeEventListener('abort', onAbort);
            resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('close', () => {
            if (!settled && !res.complete) {
              info.bodyAborted = true;
              fail(new Error('unexpected EOF'));
            }
          });
        });
      } catch (e) {
        return fail(e);
      }
      req.on('socket', (sock) => {
        if (sock.connecting) {
          sock.setTimeout(1000, () => {
            info.dialTimeout = true;
            req.destroy(new Error('dial timeout'));
          });
          sock.once('connect', () => {
            sock.setTimeout(0);
            info.local = `${sock.localAddress}:${sock.localPort}`;
          });
        } else {
          info.local = `${sock.localAddress}:${sock.localPort}`;
        }
        if (typeof sock.getPeerCertificate === 'function') {
          sock.once('secureConnect', () => {
            try {
              info.peerCert = sock.getPeerCertificate();
            } catch {
              // ignore
            }
          });
        }
      });
      req.on('error', (e) => {
        if (
          ep.protocol === 'https:' &&
          req.socket &&
          typeof req.socket.getPeerCertificate === 'function' &&
          !info.peerCert
        ) {
          try {
            info.peerCert = req.socket.getPeerCertificate();
          } catch {
            // ignore
          }
        }
        fail(e);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      req.end(body ?? undefined);
    });
  }

  /** httpClusterClient.Do: every endpoint from the pinned one; 5xx counts as a failure. */
  async do(method, path, query, form, signal) {
    const errors = [];
    const n = this.endpoints.length;
    for (let i = 0; i < n; i++) {
      const k = (this.pinned + i) % n;
      const ep = this.endpoints[k];
      let res;
      try {
        res = await this.once(ep, method, path, query, form, signal);
      } catch (e) {
        if (isCanceled(e)) throw e;
        errors.push(e.message);
        continue;
      }
      if (Math.floor(res.status / 100) === 5) {
        const epStr = `${ep.protocol}//${ep.host}${ep.pathname === '/' ? '' : ep.pathname}`;
        if (res.status === 500 || res.status === 503) errors.push(`client: etcd member ${epStr} has no leader`);
        else errors.push(`client: etcd member ${epStr} returns server error [${http.STATUS_CODES[res.status]}]`);
        continue;
      }
      this.pinned = k;
      return res;
    }
    let msg = 'client: etcd cluster is unavailable or misconfigured';
    errors.forEach((e, i) => {
      msg += `; error #${i}: ${e}\n`;
    });
    throw new GoError(msg);
  }

  /** KeysAPI call: resolves the decoded response; etcd errors become EtcdError. */
  async keys(method, key, query, form, signal) {
    const path = `/v2/keys${key
      .split('/')
      .map((p) => encodeURIComponent(p))
      .join('/')}`;
    const res = await this.do(method, path, query, form, signal);
    const headerIndex = res.headers['x-etcd-index'] !== undefined ? Number(res.headers['x-etcd-index']) : undefined;
    if (res.status === 200 || res.status === 201) {
      if (res.body.length === 0) throw new GoError('client: response body is empty');
      let parsed;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        throw new GoError(
          goJsonSyntaxError(res.body) ||
            'client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.',
        );
      }
      parsed.index = headerIndex ?? 0;
      return parsed;
    }
    let body;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = null;
    }
    if (!body || typeof body !== 'object' || body.errorCode === undefined) {
      throw new GoError('client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.');
    }
    throw new EtcdError(body, headerIndex);
  }

  get(key, { recursive = false, quorum = false } = {}, signal) {
    return this.keys(
      'GET',
      key,
      { quorum: String(quorum), recursive: String(recursive), sorted: 'false' },
      null,
      signal,
    );
  }

  /** setAction: prevExist / prevIndex as query, value and ttl in the form body. */
  set(key, value, { prevExist, prevIndex = 0, ttlSeconds = 0 } = {}, signal) {
    const query = {};
    if (prevIndex) query.prevIndex = String(prevIndex);
    if (prevExist !== undefined) query.prevExist = String(prevExist);
    const form = { value };
    if (ttlSeconds > 0) form.ttl = String(ttlSeconds);
    return this.keys('PUT', key, query, form, signal);
  }

  delete(key, signal) {
    return this.keys('DELETE', key, { dir: 'false', recursive: 'false' }, null, signal);
  }

  /** One watch step: waits for the first event after `afterIndex`. */
  async watch(key, afterIndex, recursive, signal) {
    for (;;) {
      const query = { wait: 'true', waitIndex: String(afterIndex + 1) };
      if (recursive) query.recursive = 'true';
      try {
        return await this.keys('GET', key, query, null, signal);
      } catch (e) {
        if (e.message === 'client: response body is empty') continue;
        throw e;
      }
    }
  }
}

/** A lease as flannel's subnet.Lease: subnet, attrs and expiration (BigInt ns, 0n = none). */
function nodeToLease(node) {
  const sn = parseSubnetKey(node.key);
  if (!sn) throw new GoError(`failed to parse subnet key ${node.key}`);
  return {
    subnet: sn,
    attrs: parseLeaseAttrs(node.value ?? ''),
    expiration: node.expiration ? (parseRfc3339Ns(node.expiration) ?? 0n) : 0n,
    asof: node.modifiedIndex,
  };
}

function parseLeaseAttrs(value) {
  let raw;
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
  const pub = jsonField(raw, 'PublicIP');
  let publicIP = 0;
  if (pub !== undefined && pub !== null) {
    publicIP = typeof pub === 'string' ? parseIP4(pub) : null;
    if (publicIP === null)
      throw new GoError(`invalid IP address: ${typeof pub === 'string' ? pub : JSON.stringify(pub)}`);
  }
  const bt = jsonField(raw, 'BackendType');
  return {
    PublicIP: publicIP,
    BackendType: typeof bt === 'string' ? bt : '',
    BackendData: jsonField(raw, 'BackendData'),
  };
}

/** The lease value exactly as Go's json.Marshal(LeaseAttrs) writes it. */
function leaseAttrsJSON(attrs) {
  // v0.20.2's LeaseAttrs has PublicIPv6 (no omitempty: null without IPv6)
  const o = V020
    ? { PublicIP: ip4String(attrs.PublicIP), PublicIPv6: null, BackendType: attrs.BackendType }
    : { PublicIP: ip4String(attrs.PublicIP), BackendType: attrs.BackendType };
  if (attrs.BackendData !== undefined && attrs.BackendData !== null) o.BackendData = attrs.BackendData;
  return JSON.stringify(o);
}

/** Go's encoding/json field lookup: exact name first, then case-insensitive. */
function jsonField(obj, name) {
  if (Object.hasOwn(obj, name)) return obj[name];
  const k = Object.keys(obj).find((key) => key.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : obj[k];
}

const SUBNET_TTL_S = 24 * 60 * 60;

/**
 * subnet/etcdv2/registry.go. EtcdV3Registry (v0.20 mode) implements the same methods:
 * getNetworkConfig, getSubnets, getSubnet, createSubnet, updateSubnet, deleteSubnet,
 * watchSubnets, watchSubnet.
 */
class EtcdV2Registry {
  constructor(cfg) {
    this.prefix = cfg.prefix;
    this.client = new EtcdV2Client(cfg);
  }

  close() {
    this.client.close();
  }

  subnetKey(sn) {
    return joinPath(this.prefix, 'subnets', sn.key());
  }

  async getNetworkConfig(signal) {
    const resp = await this.client.get(joinPath(this.prefix, 'config'), { quorum: true }, signal);
    return resp.node.value ?? '';
  }

  async getSubnets(signal) {
    let resp;
    try {
      resp = await this.client.get(joinPath(this.prefix, 'subnets'), { recursive: true, quorum: true }, signal);
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_KEY_NOT_FOUND) return { leases: [], index: e.index };
      throw e;
    }
    const leases = [];
    for (const node of resp.node.nodes || []) {
      try {
        leases.push(nodeToLease(node));
      } catch (e) {
        log.warn('registry.go:138', `Ignoring bad subnet node: ${e.message}`);
      }
    }
    return { leases, index: resp.index };
  }

  async getSubnet(sn, signal) {
    const resp = await this.client.get(this.subnetKey(sn), { quorum: true }, signal);
    return { lease: nodeToLease(resp.node), index: resp.index };
  }

  async createSubnet(sn, attrs, ttlSeconds, signal) {
    const resp = await this.client.set(
      this.subnetKey(sn),
      leaseAttrsJSON(attrs),
      { prevExist: false, ttlSeconds },
      signal,
    );
    return resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  }

  async updateSubnet(sn, attrs, ttlSeconds, asof, signal) {
    const resp = await this.client.set(
      this.subnetKey(sn),
      leaseAttrsJSON(attrs),
      { prevIndex: asof, ttlSeconds },
      signal,
    );
    return resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  }

  async deleteSubnet(sn, signal) {
    await this.client.delete(this.subnetKey(sn), signal);
  }

  async watchSubnets(since, signal) {
    const resp = await this.client.watch(joinPath(this.prefix, 'subnets'), since, true, signal);
    return { event: parseSubnetWatchResponse(resp), index: resp.node.modifiedIndex };
  }

  async watchSubnet(since, sn, signal) {
    const resp = await this.client.watch(this.subnetKey(sn), since, false, signal);
    return { event: parseSubnetWatchResponse(resp), index: resp.node.modifiedIndex };
  }
}

// ------------------------------------------------------------------------------ etcd v3
// v0.20.2 speaks etcd's v3 gRPC API. The stand-in speaks the same API through etcd's gRPC
// gateway (JSON over HTTP(S) on the client port, /v3/... in etcd 3.4): no dependency, the same
// key space, the same lease grants, the same watch revisions.
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s || '', 'base64').toString('utf8');
/** clientv3.WithPrefix's range end: the key with its last byte incremented. */
function prefixEnd(key) {
  const b = Buffer.from(key, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      b[i]++;
      return b.subarray(0, i + 1).toString('base64');
    }
  }
  return b64('\0');
}

/** What the Go client's retry interceptor would say about the last failed connection. */
function grpcConnectionError(msg) {
  if (/connect: |dial tcp|i\/o timeout/.test(msg))
    return `connection error: desc = "transport: Error while dialing ${msg}"`;
  if (/x509|tls: /.test(msg)) return `connection error: desc = "transport: authentication handshake failed: ${msg}"`;
  return 'connection closed';
}

/**
 * clientv3 as flannel v0.20.2 configures it, over the gateway: a request goes to every endpoint
 * in turn and, while none answers, is retried every second without a word and without a
 * deadline (the real client blocks in its balancer; flanneld logs nothing). Without both a
 * client certificate and a key, flanneld drops TLS altogether (its CA file is then ignored).
 */
class EtcdV3Client extends EtcdV2Client {
  constructor(cfg) {
    super(cfg);
    this.plain = !(cfg.tls?.cert && cfg.tls.key);
    if (this.plain) this.tls = {};
    this.username = cfg.username;
    this.password = cfg.password;
    this.auth = null;
    /** the last connection failure, for the retry interceptor's line at cancel time */
    this.lastFailure = null;
  }

  /** The endpoint as the gRPC dial sees it: https without certificates is dialled in plain text. */
  dialable(ep) {
    return this.plain && ep.protocol === 'https:' ? { ...ep, protocol: 'http:', port: ep.port || '443' } : ep;
  }

  async call(path, body, signal) {
    if (this.username && !this.auth && path !== '/v3/auth/authenticate') {
      const r = await this.call('/v3/auth/authenticate', { name: this.username, password: this.password }, signal);
      this.auth = r.token;
    }
    for (;;) {
      const n = this.endpoints.length;
      for (let i = 0; i < n; i++) {
        const k = (this.pinned + i) % n;
        const ep = this.endpoints[k];
        let res;
        try {
          res = await this.once(this.dialable(ep), 'POST', path, {}, null, signal, body);
        } catch (e) {
          if (isCanceled(e)) throw e;
          this.lastFailure = { ep, msg: e.message };
          continue;
        }
        if (res.status === 200) {
          this.pinned = k;
          this.lastFailure = null;
          try {
            return JSON.parse(res.body);
          } catch {
            this.lastFailure = { ep, msg: 'connection closed' };
            continue;
          }
        }
        let msg = '';
        try {
          const b = JSON.parse(res.body);
          msg = b.message || b.error || '';
        } catch {
          // not the gateway (a v2-only etcd or another server): the gRPC dial would fail
          this.lastFailure = { ep, msg: 'connection closed' };
          continue;
        }
        throw new GoError(msg || `etcdserver: HTTP ${res.status}`);
      }
      if (!(await sleep(1000, signal))) throw errCanceled;
    }
  }

  /** The retry interceptor's warning, printed when a call that never got through is cancelled. */
  retryWarning() {
    if (!this.lastFailure) return null;
    const ep = this.lastFailure.ep;
    const hostport = `${ep.hostname}:${ep.port || (ep.protocol === 'https:' ? 443 : 80)}`;
    return JSON.stringify({
      level: 'warn',
      ts: new Date().toISOString(),
      logger: 'etcd-client',
      caller: 'v3/retry_interceptor.go:62',
      msg: 'retrying of unary invoker failed',
      target: `etcd-endpoints://0xc000326a80/${hostport}`,
      attempt: 0,
      error: `rpc error: code = Canceled desc = latest balancer error: last connection error: ${grpcConnectionError(this.lastFailure.msg)}`,
    });
  }

  /** A watch: a long-lived POST /v3/watch whose chunks are {"result": WatchResponse} lines. */
  watch(key, rangeEnd, startRevision) {
    return new V3Watch(this, key, rangeEnd, startRevision);
  }
}

/**
 * One etcd v3 watch. Responses with events are queued for next(); a broken stream is reopened
 * after a second from the revision after the last one seen, silently, as clientv3 does.
 */
class V3Watch {
  constructor(client, key, rangeEnd, startRevision) {
    Object.assign(this, { client, key, rangeEnd });
    this.next_ = startRevision;
    this.queue = [];
    this.wake = null;
    this.closed = false;
    this.req = null;
    this.open();
  }

  open() {
    if (this.closed) return;
    const c = this.client;
    const ep = c.dialable(c.endpoints[c.pinned]);
    const create = { key: b64(this.key), start_revision: String(this.next_) };
    if (this.rangeEnd) create.range_end = this.rangeEnd;
    const body = JSON.stringify({ create_request: create });
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    if (c.auth) headers.Authorization = c.auth;
    const opts = {
      protocol: ep.protocol,
      hostname: ep.hostname.replace(/^\[|\]$/g, ''),
      port: ep.port || (ep.protocol === 'https:' ? 443 : 80),
      method: 'POST',
      path: `${ep.pathname.replace(/\/$/, '')}/v3/watch`,
      headers,
      agent: false,
    };
    if (ep.protocol === 'https:') Object.assign(opts, c.tls);
    const mod = ep.protocol === 'https:' ? https : http;
    let buf = '';
    const broken = () => {
      if (this.req !== req) return;
      this.req = null;
      // another member next time, as the balancer would
      c.pinned = (c.pinned + 1) % c.endpoints.length;
      setTimeout(() => this.open(), 1000).unref();
    };
    let req;
    try {
      req = mod.request(opts, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buf += chunk;
          let nl;
          for (nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.onLine(line);
          }
        });
        res.on('end', broken);
        res.on('error', broken);
        res.on('close', broken);
      });
    } catch {
      setTimeout(() => this.open(), 1000).unref();
      return;
    }
    this.req = req;
    req.on('error', broken);
    req.end(body);
  }

  onLine(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    const r = msg.result;
    if (!r?.events || r.events.length === 0) return;
    this.next_ = Number(r.header.revision) + 1;
    this.queue.push(r);
    if (this.wake) this.wake();
  }

  /** The next response that holds events. */
  next(signal) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (signal.aborted) return reject(errCanceled);
        if (this.queue.length > 0) {
          signal.removeEventListener('abort', check);
          this.wake = null;
          return resolve(this.queue.shift());
        }
        this.wake = check;
      };
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  }

  close() {
    this.closed = true;
    if (this.req) {
      const r = this.req;
      this.req = null;
      r.destroy();
    }
  }
}

/** A v3 key-value as flannel's subnet.Lease; the expiration from the lease's TimeToLive. */
async function kvToLease(client, kv, signal) {
  const key = unb64(kv.key);
  const sn = parseSubnetKey(key);
  if (!sn) throw new GoError(`failed to parse subnet key ${key}`);
  const attrs = parseLeaseAttrs(unb64(kv.value));
  let expiration = 0n;
  if (kv.lease && kv.lease !== '0') {
    const ttl = await client.call('/v3/lease/timetolive', { ID: kv.lease }, signal);
    const s = Number(ttl.TTL);
    if (s > 0) expiration = nowNs() + BigInt(s) * 1000000000n;
  }
  return { subnet: sn, attrs, expiration, asof: Number(kv.mod_revision || 0) };
}

/** subnet/etcd/registry.go of v0.20.2: every create and update grants a new lease of its own. */
class EtcdV3Registry {
  constructor(cfg) {
    this.prefix = cfg.prefix;
    this.client = new EtcdV3Client(cfg);
    this.watches = new Map();
  }

  close() {
    for (const w of this.watches.values()) w.close();
    this.client.close();
  }

  subnetKey(sn) {
    return joinPath(this.prefix, 'subnets', sn.key());
  }

  async getNetworkConfig(signal) {
    const r = await this.client.call('/v3/kv/range', { key: b64(joinPath(this.prefix, 'config')) }, signal);
    if (!r.kvs || r.kvs.length === 0)
      throw new GoError('flannel config not found in etcd store. Did you create your config using etcdv3 API?');
    return unb64(r.kvs[0].value);
  }

  async getSubnets(signal) {
    const key = joinPath(this.prefix, 'subnets');
    const r = await this.client.call('/v3/kv/range', { key: b64(key), range_end: prefixEnd(key) }, signal);
    const leases = [];
    for (const kv of r.kvs || []) {
      try {
        leases.push(await kvToLease(this.client, kv, signal));
      } catch (e) {
        if (isCanceled(e)) throw e;
        log.warn('registry.go:218', `Ignoring bad subnet node: ${e.message}`);
      }
    }
    return { leases, index: Number(r.header.revision) };
  }

  async getSubnet(sn, signal) {
    const r = await this.client.call('/v3/kv/range', { key: b64(this.subnetKey(sn)) }, signal);
    if (!r.kvs || r.kvs.length === 0) throw new GoError('key not found');
    return { lease: await kvToLease(this.client, r.kvs[0], signal), index: Number(r.header.revision) };
  }

  async grant(ttlSeconds, signal) {
    const g = await this.client.call('/v3/lease/grant', { TTL: String(ttlSeconds) }, signal);
    return { id: g.ID, ttl: Number(g.TTL) };
  }

  async createSubnet(sn, attrs, ttlSeconds, signal) {
    const key = b64(this.subnetKey(sn));
    const g = await this.grant(ttlSeconds, signal);
    const r = await this.client.call(
      '/v3/kv/txn',
      {
        compare: [{ key, target: 'VERSION', result: 'EQUAL', version: '0' }],
        success: [{ request_put: { key, value: b64(leaseAttrsJSON(attrs)), lease: g.id } }],
      },
      signal,
    );
    if (!r.succeeded) {
      await this.client.call('/v3/lease/revoke', { ID: g.id }, signal).catch(() => {});
      throw errKeyExists;
    }
    return nowNs() + BigInt(g.ttl) * 1000000000n;
  }

  async updateSubnet(sn, attrs, ttlSeconds, _asof, signal) {
    const put = { key: b64(this.subnetKey(sn)), value: b64(leaseAttrsJSON(attrs)) };
    let exp = 0n;
    if (ttlSeconds > 0) {
      const g = await this.grant(ttlSeconds, signal);
      put.lease = g.id;
      exp = nowNs() + BigInt(g.ttl) * 1000000000n;
    }
    await this.client.call('/v3/kv/put', put, signal);
    return exp;
  }

  async deleteSubnet(sn, signal) {
    await this.client.call('/v3/kv/deleterange', { key: b64(this.subnetKey(sn)) }, signal);
  }

  /**
   * The next watch response after `since` (the first one replays revision `since` itself, as
   * clientv3.WithRev(since) does). Like v0.20.2, only the first event of a response is read:
   * the others (two leases put or deleted in one transaction, a revoked lease's keys) are lost.
   */
  async nextEvent(name, key, rangeEnd, since, signal) {
    let w = this.watches.get(name);
    if (!w || w.cursor !== since) {
      if (w) w.close();
      w = this.client.watch(key, rangeEnd, since);
      this.watches.set(name, w);
    }
    const resp = await w.next(signal);
    w.cursor = Number(resp.header.revision);
    const ev = resp.events[0];
    const k = unb64(ev.kv.key);
    const sn = parseSubnetKey(k);
    if (!sn) throw new GoError(`${ev.type || 'PUT'} ${JSON.stringify(k)}: not a subnet, skipping`);
    if (ev.type === 'DELETE')
      return {
        event: { type: 'removed', lease: { subnet: sn, attrs: { PublicIP: 0, BackendType: '' }, expiration: 0n } },
        index: w.cursor,
      };
    return { event: { type: 'added', lease: await kvToLease(this.client, ev.kv, signal) }, index: w.cursor };
  }

  watchSubnets(since, signal) {
    const key = joinPath(this.prefix, 'subnets');
    return this.nextEvent('subnets', key, prefixEnd(key), since, signal);
  }

  watchSubnet(since, sn, signal) {
    return this.nextEvent(`subnet ${sn}`, this.subnetKey(sn), null, since, signal);
  }
}
const errKeyExists = new GoError('key already exists');

/** path.Join for etcd keys. */
function joinPath(...parts) {
  const segs = [];
  for (const p of parts.join('/').split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') segs.pop();
    else segs.push(p);
  }
  return `/${segs.join('/')}`;
}

/** "delete" and "expire" remove a lease; every other action (set, create, update...) adds one. */
function parseSubnetWatchResponse(resp) {
  const sn = parseSubnetKey(resp.node.key);
  if (!sn) throw new GoError(`${resp.action} ${JSON.stringify(resp.node.key)}: not a subnet, skipping`);
  if (resp.action === 'delete' || resp.action === 'expire')
    return { type: 'removed', lease: { subnet: sn, attrs: { PublicIP: 0, BackendType: '' }, expiration: 0n } };
  const attrs = parseLeaseAttrs(resp.node.value ?? '');
  const expiration = resp.node.expiration ? (parseRfc3339Ns(resp.node.expiration) ?? 0n) : 0n;
  return { type: 'added', lease: { subnet: sn, attrs, expiration } };
}

// ------------------------------------------------------------------------------- subnet
/** subnet.ParseConfig of v0.11.0 (Go's json: field names match case-insensitively). */
function parseConfig(s) {
  let raw;
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
  const cfg = { network: IP4Net.zero(), subnetMin: 0, subnetMax: 0, subnetLen: 0, backendType: '', backend: undefined };
  const net = jsonField(raw, 'Network');
  if (net !== undefined && net !== null)
    cfg.network = IP4Net.parseCIDR(typeof net === 'string' ? net : JSON.stringify(net));
  for (const [field, prop] of [
    ['SubnetMin', 'subnetMin'],
    ['SubnetMax', 'subnetMax'],
  ]) {
    const v = jsonField(raw, field);
    if (v === undefined || v === null) continue;
    const ip = typeof v === 'string' ? parseIP4(v) : null;
    if (ip === null) throw new GoError(`invalid IP address: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    cfg[prop] = ip;
  }
  const len = jsonField(raw, 'SubnetLen');
  if (len !== undefined && len !== null) {
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 0)
      throw new GoError(
        `json: cannot unmarshal ${typeof len === 'number' ? `number ${len}` : typeof len} into Go struct field Config.SubnetLen of type uint`,
      );
    cfg.subnetLen = len;
  }
  cfg.backend = jsonField(raw, 'Backend');

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
    const t = jsonField(cfg.backend, 'Type');
    cfg.backendType = typeof t === 'string' ? t : '';
  }
  return cfg;
}

const isSubnetConfigCompat = (config, sn) =>
  !(sn.ip < config.subnetMin || sn.ip > config.subnetMax) && sn.prefixLen === config.subnetLen;

const errTryAgain = new GoError('try again');

/** subnet/etcdv2/local_manager.go of v0.11.0: the lease choice and the watches. */
class LocalManager {
  constructor(registry, previousSubnet) {
    this.registry = registry;
    this.previousSubnet = previousSubnet;
  }

  name() {
    return `Etcd Local Manager with Previous Subnet: ${this.previousSubnet.empty() ? 'None' : this.previousSubnet.toString()}`;
  }

  async getNetworkConfig(signal) {
    return parseConfig(await this.registry.getNetworkConfig(signal));
  }

  async acquireLease(attrs, signal) {
    const config = await this.getNetworkConfig(signal);
    for (let i = 0; i < 10; i++) {
      try {
        return await this.tryAcquireLease(config, attrs.PublicIP, attrs, signal);
      } catch (e) {
        if (e === errTryAgain) continue;
        throw e;
      }
    }
    throw new GoError('Max retries reached trying to acquire a subnet');
  }

  async tryAcquireLease(config, extIaddr, attrs, signal) {
    const { leases } = await this.registry.getSubnets(signal);

    // (1) a lease that already carries this node's public IP
    const mine = leases.find((l) => l.attrs.PublicIP === extIaddr);
    if (mine) {
      if (isSubnetConfigCompat(config, mine.subnet)) {
        log.info(
          'local_manager.go:147',
          `Found lease (${mine.subnet}) for current IP (${ip4String(extIaddr)}), reusing`,
        );
        const ttl = mine.expiration !== 0n ? SUBNET_TTL_S : 0;
        const exp = await this.registry.updateSubnet(mine.subnet, attrs, ttl, 0, signal);
        return { subnet: mine.subnet, attrs: { ...attrs }, expiration: exp };
      }
      log.info(
        'local_manager.go:161',
        `Found lease (${mine.subnet}) for current IP (${ip4String(extIaddr)}) but not compatible with current config, deleting`,
      );
      await this.registry.deleteSubnet(mine.subnet, signal);
    }

    // (2) FLANNEL_SUBNET of the subnet file: taken over even when another node holds it
    let sn = null;
    if (!this.previousSubnet.empty()) {
      const held = leases.find((l) => l.subnet.equal(this.previousSubnet));
      if (held) {
        if (isSubnetConfigCompat(config, held.subnet)) {
          log.info('local_manager.go:177', `Found lease (${held.subnet}) matching previously leased subnet, reusing`);
          const ttl = held.expiration !== 0n ? SUBNET_TTL_S : 0;
          const exp = await this.registry.updateSubnet(held.subnet, attrs, ttl, 0, signal);
          return { subnet: held.subnet, attrs: { ...attrs }, expiration: exp };
        }
        log.info(
          'local_manager.go:191',
          `Found lease (${held.subnet}) matching previously leased subnet but not compatible with current config, deleting`,
        );
        await this.registry.deleteSubnet(held.subnet, signal);
      } else if (isSubnetConfigCompat(config, this.previousSubnet)) {
        log.info('local_manager.go:201', `Found previously leased subnet (${this.previousSubnet}), reusing`);
        sn = this.previousSubnet;
      } else {
        log.error(
          'local_manager.go:204',
          `Found previously leased subnet (${this.previousSubnet}) that is not compatible with the Etcd network config, ignoring`,
        );
      }
    }

    // (3) a random free subnet among the first 100 free ones
    if (sn === null) sn = this.allocateSubnet(config, leases);

    let exp;
    try {
      exp = await this.registry.createSubnet(sn, attrs, SUBNET_TTL_S, signal);
    } catch (e) {
      // v0.11.0's isErrEtcdNodeExist is true for every etcd API error
      if (isEtcdError(e)) throw errTryAgain;
      throw e;
    }
    log.info('local_manager.go:220', `Allocated lease (${sn}) to current node (${ip4String(extIaddr)}) `);
    return { subnet: sn, attrs: { ...attrs }, expiration: exp };
  }

  allocateSubnet(config, leases) {
    log.info(
      'local_manager.go:234',
      `Picking subnet in range ${ip4String(config.subnetMin)} ... ${ip4String(config.subnetMax)}`,
    );
    const bag = [];
    const step = 2 ** (32 - config.subnetLen);
    for (let ip = config.subnetMin; ip <= config.subnetMax && bag.length < 100; ip += step) {
      const sn = new IP4Net(ip, config.subnetLen);
      if (!leases.some((l) => sn.overlaps(l.subnet))) bag.push(ip);
    }
    if (bag.length === 0) throw new GoError('out of subnets');
    return new IP4Net(bag[Math.floor(Math.random() * bag.length)], config.subnetLen);
  }

  async renewLease(lease, signal) {
    lease.expiration = await this.registry.updateSubnet(lease.subnet, lease.attrs, SUBNET_TTL_S, 0, signal);
  }

  async watchLease(sn, cursor, signal) {
    if (cursor === null) return this.leaseWatchReset(sn, signal);
    try {
      const { event, index } = await this.registry.watchSubnet(cursor, sn, signal);
      return { events: [event], snapshot: [], cursor: index };
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_EVENT_INDEX_CLEARED) {
        log.warn('local_manager.go:304', 'Watch of subnet leases failed because etcd index outside history window');
        return this.leaseWatchReset(sn, signal);
      }
      throw e;
    }
  }

  async leaseWatchReset(sn, signal) {
    const { lease, index } = await this.registry.getSubnet(sn, signal);
    return { events: [], snapshot: [lease], cursor: index };
  }

  async watchLeases(cursor, signal) {
    if (cursor === null) return this.leasesWatchReset(signal);
    try {
      const { event, index } = await this.registry.watchSubnets(cursor, signal);
      return { events: [event], snapshot: [], cursor: index };
    } catch (e) {
      if (isEtcdError(e) && e.code === ERR_EVENT_INDEX_CLEARED) {
        log.warn('local_manager.go:331', 'Watch of subnet leases failed because etcd index outside history window');
        return this.leasesWatchReset(signal);
      }
      throw e;
    }
  }

  async leasesWatchReset(signal) {
    try {
      const { leases, index } = await this.registry.getSubnets(signal);
      return { events: [], snapshot: leases, cursor: index };
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to retrieve subnet leases: ${e.message}`);
    }
  }
}

/**
 * subnet/etcd/local_manager.go of v0.20.2: the same choice with v0.20.2's texts, except that a
 * subnet.env naming another node's live lease is no longer taken over (a random subnet instead),
 * and every renewal is a new v3 lease grant.
 */
class LocalManagerV020 extends LocalManager {
  async tryAcquireLease(config, extIaddr, attrs, signal) {
    const { leases } = await this.registry.getSubnets(signal);

    // (1) a lease that already carries this node's public IP
    const mine = leases.find((l) => l.attrs.PublicIP === extIaddr);
    if (mine) {
      if (isSubnetConfigCompat(config, mine.subnet)) {
        log.info(
          'local_manager.go:148',
          `Found lease (ip: ${mine.subnet} ipv6: ::/0) for current IP (${ip4String(extIaddr)}), reusing`,
        );
        const ttl = mine.expiration !== 0n ? SUBNET_TTL_S : 0;
        const exp = await this.registry.updateSubnet(mine.subnet, attrs, ttl, 0, signal);
        return { subnet: mine.subnet, attrs: { ...attrs }, expiration: exp };
      }
      log.info(
        'local_manager.go:161',
        `Found lease (ip: ${mine.subnet} ipv6: ::/0) for current IP (${ip4String(extIaddr)}) but not compatible with current config, deleting`,
      );
      await this.registry.deleteSubnet(mine.subnet, signal);
    }

    // (2) FLANNEL_SUBNET of the subnet file, only when no other node holds it
    let sn = null;
    if (!this.previousSubnet.empty() && !leases.some((l) => l.subnet.equal(this.previousSubnet))) {
      if (isSubnetConfigCompat(config, this.previousSubnet)) {
        log.info('local_manager.go:179', `Found previously leased subnet (${this.previousSubnet}), reusing`);
        sn = this.previousSubnet;
      } else {
        log.error(
          'local_manager.go:182',
          `Found previously leased subnet (${this.previousSubnet}) that is not compatible with the Etcd network config, ignoring`,
        );
      }
    }

    // (3) a random free subnet
    if (sn === null) sn = this.allocateSubnet(config, leases);

    let exp;
    try {
      exp = await this.registry.createSubnet(sn, attrs, SUBNET_TTL_S, signal);
    } catch (e) {
      if (e === errKeyExists) throw errTryAgain;
      throw e;
    }
    log.info(
      'local_manager.go:199',
      `Allocated lease (ip: ${sn} ipv6: ::/0) to current node (${ip4String(extIaddr)}) `,
    );
    return { subnet: sn, attrs: { ...attrs }, expiration: exp };
  }

  allocateSubnet(config, leases) {
    log.info(
      'local_manager.go:216',
      `Picking subnet in range ${ip4String(config.subnetMin)} ... ${ip4String(config.subnetMax)}`,
    );
    const bag = [];
    const step = 2 ** (32 - config.subnetLen);
    for (let ip = config.subnetMin; ip <= config.subnetMax && bag.length < 100; ip += step) {
      const sn = new IP4Net(ip, config.subnetLen);
      if (!leases.some((l) => sn.overlaps(l.subnet))) bag.push(ip);
    }
    if (bag.length === 0) throw new GoError('out of subnets');
    return new IP4Net(bag[Math.floor(Math.random() * bag.length)], config.subnetLen);
  }
}

/** subnet/watch.go leaseWatcher: turns snapshots and events into added/removed batches. */
class LeaseWatcher {
  constructor(ownLease) {
    this.ownLease = ownLease;
    this.leases = [];
  }
  isOwn(sn) {
    return this.ownLease && sn.equal(this.ownLease.subnet);
  }
  reset(leases) {
    const batch = [];
    for (const nl of leases) {
      if (this.isOwn(nl.subnet)) continue;
      const i = this.leases.findIndex((ol) => ol.subnet.equal(nl.subnet));
      if (i >= 0) {
        this.leases[i] = this.leases[this.leases.length - 1];
        this.leases.pop();
      } else {
        batch.push({ type: 'added', lease: nl });
      }
    }
    for (const l of this.leases) {
      if (this.isOwn(l.subnet)) continue;
      batch.push({ type: 'removed', lease: l });
    }
    this.leases = [...leases];
    return batch;
  }
  update(events) {
    const batch = [];
    for (const e of events) {
      if (this.isOwn(e.lease.subnet)) continue;
      if (e.type === 'added') {
        const i = this.leases.findIndex((l) => l.subnet.equal(e.lease.subnet));
        if (i >= 0) this.leases[i] = e.lease;
        else this.leases.push(e.lease);
        batch.push({ type: 'added', lease: e.lease });
      } else {
        const i = this.leases.findIndex((l) => l.subnet.equal(e.lease.subnet));
        if (i >= 0) {
          const old = this.leases[i];
          this.leases[i] = this.leases[this.leases.length - 1];
          this.leases.pop();
          batch.push({ type: 'removed', lease: old });
        } else {
          if (V020)
            log.error('watch.go:224', `Removed subnet (${e.lease.subnet}) and ipv6 subnet (::/0) were not found`);
          else log.error('watch.go:148', `Removed subnet (${e.lease.subnet}) was not found`);
          batch.push({ type: 'removed', lease: e.lease });
        }
      }
    }
    return batch;
  }
}

/** subnet.WatchLeases: long-term watch of all leases; batches go to onBatch in order. */
async function watchLeases(ctx, sm, ownLease, onBatch) {
  const lw = new LeaseWatcher(ownLease);
  let cursor = null;
  while (!ctx.signal.aborted) {
    let res;
    try {
      res = await sm.watchLeases(cursor, ctx.signal);
    } catch (e) {
      if (isCanceled(e) || ctx.signal.aborted) return;
      log.error('watch.go:43', `Watch subnets: ${e.message}`);
      await sleep(1000, ctx.signal);
      continue;
    }
    cursor = res.cursor;
    const batch = res.events.length > 0 ? lw.update(res.events) : lw.reset(res.snapshot);
    if (batch.length > 0) await onBatch(batch);
  }
}

/** subnet.WatchLease: the node's own lease; the snapshot counts as an "added" event. */
async function watchLease(ctx, sm, sn, onEvent) {
  let cursor = null;
  while (!ctx.signal.aborted) {
    let wr;
    try {
      wr = await sm.watchLease(sn, cursor, ctx.signal);
    } catch (e) {
      if (isCanceled(e) || ctx.signal.aborted) return;
      log.error('watch.go:171', `Subnet watch failed: ${e.message}`);
      await sleep(1000, ctx.signal);
      continue;
    }
    onEvent(wr.snapshot.length > 0 ? { type: 'added', lease: wr.snapshot[0] } : wr.events[0]);
    cursor = wr.cursor;
  }
}

// ------------------------------------------------------------------------------- backends
/** backend/route_network.go: one route per other node's lease, checked every 10 s. */
class RouteNetwork {
  constructor({ sm, extIface, backendType, mtu, linkIndex, lease, getRoute }) {
    Object.assign(this, { sm, extIface, backendType, mtu, linkIndex, lease, getRoute });
    this.routes = [];
  }

  async run(ctx) {
    log.info(T('route_network.go:53', 'route_network.go:55'), 'Watching for new subnet leases');
    await Promise.all([
      watchLeases(ctx, this.sm, this.lease, (batch) => this.handleSubnetEvents(batch)),
      this.routeCheck(ctx),
    ]);
  }

  async handleSubnetEvents(batch) {
    for (const evt of batch) {
      if (V020) await this.handleSubnetEventV020(evt);
      else await this.handleSubnetEventV011(evt);
    }
  }

  async handleSubnetEventV011(evt) {
    const l = evt.lease;
    if (evt.type === 'added') {
      log.info('route_network.go:85', `Subnet added: ${l.subnet} via ${ip4String(l.attrs.PublicIP)}`);
      if (l.attrs.BackendType !== this.backendType) {
        log.warn('route_network.go:88', `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`);
        return;
      }
      const route = this.getRoute(l);
      this.addToRouteList(route);
      let existing = [];
      try {
        existing = await routesTo(route.dst);
      } catch (e) {
        log.warn('route_network.go:97', `Unable to list routes: ${e.message}`);
      }
      if (existing.length > 0 && !routeEqual(existing[0], route)) {
        log.warn(
          'route_network.go:102',
          `Replacing existing route to ${l.subnet} via ${existing[0].gw ?? '<nil>'} dev index ${existing[0].linkIndex} with ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${route.linkIndex}.`,
        );
        try {
          await routeDel(existing[0]);
        } catch (e) {
          log.error('route_network.go:104', `Error deleting route to ${l.subnet}: ${e.message}`);
          return;
        }
        this.removeFromRouteList(existing[0]);
      }
      if (existing.length > 0 && routeEqual(existing[0], route)) {
        log.info(
          'route_network.go:112',
          `Route to ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${existing[0].linkIndex} already exists, skipping.`,
        );
      } else {
        try {
          await routeReplace(route);
        } catch (e) {
          log.error(
            'route_network.go:114',
            `Error adding route to ${l.subnet} via ${ip4String(l.attrs.PublicIP)} dev index ${route.linkIndex}: ${e.message}`,
          );
        }
      }
    } else {
      log.info('route_network.go:119', `Subnet removed: ${l.subnet}`);
      if (l.attrs.BackendType !== this.backendType) {
        log.warn('route_network.go:122', `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`);
        return;
      }
      const route = this.getRoute(l);
      this.removeFromRouteList(route);
      try {
        await routeDel(route);
      } catch (e) {
        log.error('route_network.go:131', `Error deleting route to ${l.subnet}: ${e.message}`);
      }
    }
  }

  /** v0.20.2: the type is checked before "Subnet added"; routes named as netlink prints them. */
  async handleSubnetEventV020(evt) {
    const l = evt.lease;
    if (l.attrs.BackendType !== this.backendType) {
      log.warn(
        evt.type === 'added' ? 'route_network.go:87' : 'route_network.go:107',
        `Ignoring non-${this.backendType} subnet: type=${l.attrs.BackendType}`,
      );
      return;
    }
    const route = this.getRoute(l);
    if (evt.type === 'added') {
      log.info('route_network.go:92', `Subnet added: ${l.subnet} via ${ip4String(l.attrs.PublicIP)}`);
      this.addToRouteList(route);
      let existing = [];
      try {
        existing = await routesTo(route.dst);
      } catch (e) {
        log.warn('route_network.go:146', `Unable to list routes: ${e.message}`);
      }
      if (existing.length > 0 && !routeEqual(existing[0], route)) {
        log.warn(
          'route_network.go:151',
          `Replacing existing route to ${goRouteString(existing[0], 254)} with ${goRouteString(route, 0)}`,
        );
        try {
          await routeDel(existing[0]);
        } catch (e) {
          log.error('route_network.go:153', `Error deleting route to ${existing[0].dst}: ${e.message}`);
          return;
        }
        this.removeFromRouteList(existing[0]);
        try {
          existing = await routesTo(route.dst);
        } catch (e) {
          log.warn('route_network.go:161', `Unable to list routes: ${e.message}`);
        }
      }
      if (existing.length > 0 && routeEqual(existing[0], route)) {
        log.info('route_network.go:165', `Route to ${goRouteString(route, 0)} already exists, skipping.`);
      } else {
        try {
          await routeAdd(route);
        } catch (e) {
          log.error('route_network.go:167', `Error adding route to ${goRouteString(route, 0)}: ${e.message}`);
        }
      }
    } else {
      log.info('route_network.go:112', `Subnet removed: ${l.subnet}`);
      this.removeFromRouteList(route);
      try {
        await routeDel(route);
      } catch (e) {
        log.error('route_network.go:117', `Error deleting route to ${l.subnet}: ${e.message}`);
      }
    }
  }

  addToRouteList(route) {
    if (!this.routes.some((r) => routeEqual(r, route))) this.routes.push(route);
  }

  removeFromRouteList(route) {
    const i = this.routes.findIndex((r) => routeEqual(r, route));
    if (i >= 0) this.routes.splice(i, 1);
  }

  async routeCheck(ctx) {
    while (await sleep(10000, ctx.signal)) await this.checkSubnetExistInRoutes();
  }

  async checkSubnetExistInRoutes() {
    let list;
    try {
      list = await mainRoutes();
    } catch (e) {
      log.error(
        T('route_network.go:197', 'route_network.go:258'),
        `Error fetching route list. Will automatically retry: ${e.message}`,
      );
      return;
    }
    for (const route of [...this.routes]) {
      if (list.some((r) => routeEqual(r, route))) continue;
      // RouteAdd, not replace: like netlink, a route to the same dst via another gateway
      // makes the add fail (EEXIST, silently ignored as in v0.11.0).
      try {
        await routeAdd(route);
      } catch {
        continue;
      }
      log.info(T('route_network.go:192', 'route_network.go:253'), `Route recovered ${route.dst} : ${route.gw}`);
    }
  }
}

let linkNames = null;
async function linkIndexByName(name) {
  if (!linkNames?.has(name)) {
    const links = await ipJson(['link', 'show']);
    linkNames = new Map(links.map((l) => [l.ifname, l.ifindex]));
  }
  return linkNames.get(name) ?? 0;
}

/** ip -j route entries as {dst, gw, dev, linkIndex} (main table, IPv4). */
async function toRoutes(entries) {
  const out = [];
  for (const r of entries) {
    if (!r.dst || r.dst === 'default') continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    out.push({
      dst,
      gw: r.gateway ?? null,
      dev: r.dev,
      linkIndex: r.dev ? await linkIndexByName(r.dev) : 0,
      flags: r.flags ?? [],
    });
  }
  return out;
}
const routesTo = async (dst) => toRoutes(await ipJson(['-4', 'route', 'show', 'table', 'main', 'exact', dst]));
const mainRoutes = async () => toRoutes(await ipJson(['-4', 'route', 'show', 'table', 'main']));
const routeEqual = (x, y) => x.dst === y.dst && x.gw === y.gw && x.linkIndex === y.linkIndex;

/** netlink.Route.String() of v0.20.2's vendored netlink, as its route_network.go logs routes. */
function goRouteString(r, table) {
  const flags = r.flags ?? (r.onlink ? ['onlink'] : []);
  return `{Ifindex: ${r.linkIndex} Dst: ${r.dst} Src: <nil> Gw: ${r.gw ?? '<nil>'} Flags: [${flags.join(' ')}] Table: ${table} Realm: 0}`;
}

async function ipRoute(verb, route) {
  const argv = ['ip', 'route', verb, route.dst];
  if (route.gw) argv.push('via', route.gw);
  if (route.dev) argv.push('dev', route.dev);
  if (route.onlink) argv.push('onlink');
  const r = await runCmd(argv);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
}
const routeAdd = (route) => ipRoute('add', route);
const routeReplace = (route) => ipRoute('replace', route);
const routeDel = (route) => ipRoute('del', route);

/** backend/hostgw: routes via the other nodes' public IPs on the external interface. */
class HostGwBackend {
  constructor(sm, extIface) {
    if (extIface.extAddr !== extIface.ifaceAddr) {
      throw new GoError(
        "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
      );
    }
    this.sm = sm;
    this.extIface = extIface;
  }

  async registerNetwork(signal, _config) {
    const attrs = { PublicIP: this.extIface.extAddr, BackendType: 'host-gw' };
    let lease;
    try {
      lease = await this.sm.acquireLease(attrs, signal);
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to acquire lease: ${e.message}`);
    }
    const { iface } = this.extIface;
    return new RouteNetwork({
      sm: this.sm,
      extIface: this.extIface,
      backendType: 'host-gw',
      mtu: iface.mtu,
      linkIndex: iface.index,
      lease,
      getRoute: (l) => ({
        dst: l.subnet.toString(),
        gw: ip4String(l.attrs.PublicIP),
        dev: iface.name,
        linkIndex: iface.index,
      }),
    });
  }
}

// ---------------------------------------------------------------------------------- vxlan
/** The port the kernel uses when flannel leaves Port at 0 (flannel never sets it then). */
const VXLAN_KERNEL_PORT = 8472;
/** vxlan encapsulation overhead: the device's MTU is the external interface's minus this. */
const VXLAN_OVERHEAD = 50;

/** backend/vxlan's config struct, decoded like Go's json.Unmarshal (case-insensitive names, type errors). */
function parseVxlanConfig(backend) {
  const cfg = { VNI: 1, Port: 0, GBP: false, Learning: false, DirectRouting: false };
  if (backend === undefined || backend === null) return cfg;
  const fields = V020 ? ['VNI', 'Port', 'GBP', 'Learning', 'DirectRouting'] : ['VNI', 'Port', 'GBP', 'DirectRouting'];
  for (const f of fields) {
    const v = jsonField(backend, f);
    if (v === undefined || v === null) continue;
    const isInt = f === 'VNI' || f === 'Port';
    const ok = isInt ? typeof v === 'number' && Number.isInteger(v) : typeof v === 'boolean';
    if (!ok) {
      const what =
        typeof v === 'number' ? `number ${v}` : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v;
      throw new GoError(
        `error decoding VXLAN backend config: json: cannot unmarshal ${what} into Go struct field .${f} of type ${isInt ? 'int' : 'bool'}`,
      );
    }
    cfg[f] = v;
  }
  return cfg;
}

let bridgeBinary = null;
/** Where `bridge` (iproute2, for fdb entries) is, beside `ip` if not in $PATH. */
function bridgePath() {
  if (bridgeBinary) return bridgeBinary;
  const dirs = [...(process.env.PATH || '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  bridgeBinary = dirs.map((d) => `${d}/bridge`).find((p) => fs.existsSync(p)) || 'bridge';
  return bridgeBinary;
}

async function checked(argv) {
  const r = await runCmd(argv);
  if (r.code !== 0) throw new GoError(netlinkErrText(r.stderr));
  return r;
}

/** device.go's vxlanLinksIncompat: what makes an existing flannel.<VNI> unusable (empty: reusable). */
function vxlanLinksIncompat(want, link) {
  const kind = link.linkinfo?.info_kind ?? 'device';
  if (kind !== 'vxlan') return `link type: vxlan vs ${kind}`;
  const d = link.linkinfo.info_data ?? {};
  if (d.id !== want.vni) return `vni: ${want.vni} vs ${d.id}`;
  if (d.link && d.link !== want.vtepDev)
    return `vtep (external) interface: ${want.vtepIndex} vs ${d.linkIndex ?? d.link}`;
  if (d.local && d.local !== ip4String(want.vtepAddr))
    return `vtep (external) IP: ${ip4String(want.vtepAddr)} vs ${d.local}`;
  if (want.port > 0 && d.port > 0 && d.port !== want.port) return `port: ${want.port} vs ${d.port}`;
  if (Boolean(d.gbp) !== want.gbp) return `gbp: ${want.gbp} vs ${Boolean(d.gbp)}`;
  return '';
}

/** backend/vxlan/device.go: the flannel.<VNI> link, its /32 address, neighbour and fdb entries. */
class VxlanDevice {
  constructor(name, index, mac, mtu) {
    Object.assign(this, { name, index, mac, mtu });
    this.directRouting = false;
  }

  /** newVXLANDevice + ensureLink: created, or an existing compatible one reused (MAC kept). */
  static async ensure(a) {
    const add = () =>
      runCmd([
        'ip',
        'link',
        'add',
        a.name,
        // netlink sends the Go zero value: no transmit queue, as on the real node
        'txqueuelen',
        '0',
        'type',
        'vxlan',
        'id',
        String(a.vni),
        'local',
        ip4String(a.vtepAddr),
        'dev',
        a.vtepDev,
        'dstport',
        String(a.port || VXLAN_KERNEL_PORT),
        a.learning ? 'learning' : 'nolearning',
        ...(a.gbp ? ['gbp'] : []),
      ]);
    let r = await add();
    if (r.code !== 0 && /File exists/i.test(r.stderr)) {
      const [existing] = await ipJson(['-d', 'link', 'show', 'dev', a.name]);
      const incompat = vxlanLinksIncompat(a, existing);
      if (incompat !== '') {
        log.warn(
          T('device.go:95', 'device.go:118'),
          `${goQuote(a.name)} already exists with incompatable configuration: ${incompat}; recreating device`,
        );
        const del = await runCmd(['ip', 'link', 'del', a.name]);
        if (del.code !== 0) throw new GoError(`failed to delete interface: ${netlinkErrText(del.stderr)}`);
        r = await add();
        if (r.code !== 0) throw new GoError(`failed to create vxlan interface: ${netlinkErrText(r.stderr)}`);
      }
    } else if (r.code !== 0) {
      throw new GoError(netlinkErrText(r.stderr));
    }
    try {
      fs.writeFileSync(`/proc/sys/net/ipv6/conf/${a.name}/accept_ra`, '0');
    } catch {
      // sysctl.Sysctl's error is ignored
    }
    const [link] = await ipJson(['link', 'show', 'dev', a.name]);
    linkNames = null;
    return new VxlanDevice(a.name, link.ifindex, link.address, link.mtu);
  }

  /** Configure: ip.EnsureV4AddressOnLink(lease/32), then up. */
  async configure(ipn) {
    const want = ipn.toString();
    try {
      const [link] = await ipJson(['-4', 'addr', 'show', 'dev', this.name]);
      const addrs = (link?.addr_info ?? []).filter((x) => x.family === 'inet');
      if (addrs.length > 1)
        throw new GoError(`link has incompatible addresses. Remove additional addresses and try again. ${this.name}`);
      if (addrs.length === 1 && `${addrs[0].local}/${addrs[0].prefixlen}` !== want) {
        const del = await runCmd(['ip', 'addr', 'del', `${addrs[0].local}/${addrs[0].prefixlen}`, 'dev', this.name]);
        if (del.code !== 0)
          throw new GoError(`failed to remove IP address ${want} from ${this.name}: ${netlinkErrText(del.stderr)}`);
        addrs.length = 0;
      }
      if (addrs.length === 0) {
        const add = await runCmd(['ip', 'addr', 'add', want, 'dev', this.name]);
        if (add.code !== 0)
          throw new GoError(`failed to add IP address ${want} to ${this.name}: ${netlinkErrText(add.stderr)}`);
      }
    } catch (e) {
      throw new GoError(`failed to ensure address of interface ${this.name}: ${e.message}`);
    }
    const up = await runCmd(['ip', 'link', 'set', this.name, 'up']);
    if (up.code !== 0)
      throw new GoError(`failed to set interface ${this.name} to UP state: ${netlinkErrText(up.stderr)}`);
  }

  /** NeighSet, NUD_PERMANENT: the remote VTEP's MAC for its subnet address. */
  addARP(ip, mac) {
    return checked(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', this.name, 'nud', 'permanent']);
  }

  delARP(ip, mac) {
    return checked(['ip', 'neigh', 'del', ip, 'lladdr', mac, 'dev', this.name]);
  }

  /** NeighSet AF_BRIDGE, NTF_SELF: where to send frames for that MAC. */
  addFDB(ip, mac) {
    return checked([bridgePath(), 'fdb', 'replace', mac, 'dev', this.name, 'dst', ip, 'self', 'permanent']);
  }

  delFDB(ip, mac) {
    return checked([bridgePath(), 'fdb', 'del', mac, 'dev', this.name, 'dst', ip, 'self']);
  }
}

/** hardwareAddr.UnmarshalJSON of the lease's BackendData.VtepMAC. */
function vtepMACOf(backendData) {
  if (backendData === undefined || backendData === null) throw new GoError('unexpected end of JSON input');
  if (typeof backendData !== 'object' || Array.isArray(backendData))
    throw new GoError(
      `json: cannot unmarshal ${Array.isArray(backendData) ? 'array' : typeof backendData} into Go value of type vxlan.vxlanLeaseAttrs`,
    );
  const mac = jsonField(backendData, 'VtepMAC');
  if (typeof mac !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac))
    throw new GoError(`address ${mac}: invalid MAC address`);
  return mac.toLowerCase();
}

/** backend/vxlan/vxlan.go: the device first (its MAC goes into the lease), then the lease. */
class VXLANBackend {
  constructor(sm, extIface) {
    this.sm = sm;
    this.extIface = extIface;
  }

  async registerNetwork(signal, config) {
    const cfg = parseVxlanConfig(config.backend);
    if (V020)
      log.info(
        'vxlan.go:138',
        `VXLAN config: VNI=${cfg.VNI} Port=${cfg.Port} GBP=${cfg.GBP} Learning=${cfg.Learning} DirectRouting=${cfg.DirectRouting}`,
      );
    else
      log.info(
        'vxlan.go:120',
        `VXLAN config: VNI=${cfg.VNI} Port=${cfg.Port} GBP=${cfg.GBP} DirectRouting=${cfg.DirectRouting}`,
      );
    const { iface, ifaceAddr, extAddr } = this.extIface;
    const dev = await VxlanDevice.ensure({
      name: `flannel.${cfg.VNI}`,
      vni: cfg.VNI,
      vtepIndex: iface.index,
      vtepDev: iface.name,
      vtepAddr: ifaceAddr,
      port: cfg.Port,
      gbp: cfg.GBP,
      learning: cfg.Learning,
    });
    dev.directRouting = cfg.DirectRouting;
    const attrs = {
      PublicIP: extAddr,
      BackendType: 'vxlan',
      BackendData: V020 ? { VNI: cfg.VNI, VtepMAC: dev.mac } : { VtepMAC: dev.mac },
    };
    let lease;
    try {
      lease = await this.sm.acquireLease(attrs, signal);
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to acquire lease: ${e.message}`);
    }
    // a /32 so that no broadcast route is created: only a source address for host -> pod traffic
    try {
      await dev.configure(new IP4Net(lease.subnet.ip, 32));
    } catch (e) {
      throw new GoError(`failed to configure interface ${dev.name}: ${e.message}`);
    }
    // v0.11.0 reports the device's MTU (the kernel's lower MTU - 50); v0.20.2 computes it
    return new VxlanNetwork({
      sm: this.sm,
      extIface: this.extIface,
      dev,
      lease,
      mtu: V020 ? iface.mtu - VXLAN_OVERHEAD : dev.mtu,
    });
  }
}

/**
 * backend/vxlan/vxlan_network.go: per peer lease a neighbour, an fdb entry and an onlink route
 * via flannel.<VNI>, or with DirectRouting and a peer on the same L2 (one route to it, no
 * gateway) a route via its public IP. Unlike host-gw there is no route check: a deleted vxlan
 * route stays deleted until flanneld restarts.
 */
class VxlanNetwork {
  constructor({ sm, extIface, dev, lease, mtu }) {
    Object.assign(this, { sm, extIface, dev, lease, mtu });
  }

  async run(ctx) {
    log.info(T('vxlan_network.go:60', 'vxlan_network.go:61'), 'watching for new subnet leases');
    await watchLeases(ctx, this.sm, this.lease, (batch) => this.handleSubnetEvents(batch));
  }

  async handleSubnetEvents(batch) {
    for (const evt of batch) await this.handleSubnetEvent(evt);
  }

  async handleSubnetEvent(evt) {
    const sn = evt.lease.subnet;
    const attrs = evt.lease.attrs;
    if (attrs.BackendType !== 'vxlan') {
      if (V020)
        log.warn('vxlan_network.go:97', `ignoring non-vxlan v4Subnet(${sn}) v6Subnet(::/0): type=${attrs.BackendType}`);
      else log.warn('vxlan_network.go:95', `ignoring non-vxlan subnet(${sn}): type=${attrs.BackendType}`);
      return;
    }
    let mac;
    try {
      mac = vtepMACOf(attrs.BackendData);
    } catch (e) {
      log.error(T('vxlan_network.go:101', 'vxlan_network.go:104'), `error decoding subnet lease JSON: ${e.message}`);
      return;
    }
    const pub = ip4String(attrs.PublicIP);
    const gw = ip4String(sn.ip);
    const vxlanRoute = { dst: sn.toString(), gw, dev: this.dev.name, linkIndex: this.dev.index, onlink: true };
    const directRoute = { dst: sn.toString(), gw: pub };
    let directRoutingOK = false;
    if (this.dev.directRouting) {
      // netlink.RouteGet(PublicIP): one route and no gateway = directly connected
      try {
        const routes = await ipJson(['-4', 'route', 'get', pub]);
        directRoutingOK = routes.length === 1 && !routes[0].gateway;
      } catch (e) {
        if (V020) {
          log.error('vxlan_network.go:131', e.message);
        } else {
          log.error('vxlan_network.go:121', `Couldn't lookup route to ${pub}: ${e.message}`);
          return;
        }
      }
    }
    if (evt.type === 'added') {
      if (directRoutingOK) {
        try {
          await routeReplace(directRoute);
        } catch (e) {
          log.error(
            T('vxlan_network.go:135', 'vxlan_network.go:141'),
            `Error adding route to ${sn} via ${pub}: ${e.message}`,
          );
        }
        return;
      }
      try {
        await this.dev.addARP(gw, mac);
      } catch (e) {
        log.error(T('vxlan_network.go:141', 'vxlan_network.go:147'), `AddARP failed: ${e.message}`);
        return;
      }
      try {
        await this.dev.addFDB(pub, mac);
      } catch (e) {
        log.error(T('vxlan_network.go:146', 'vxlan_network.go:152'), `AddFDB failed: ${e.message}`);
        await this.dev
          .delARP(gw, mac)
          .catch((e2) => log.error(T('vxlan_network.go:150', 'vxlan_network.go:156'), `DelARP failed: ${e2.message}`));
        return;
      }
      // the route last: the kernel would ARP for the gateway if the neighbour were not there yet
      try {
        await routeReplace(vxlanRoute);
      } catch (e) {
        log.error(
          T('vxlan_network.go:158', 'vxlan_network.go:164'),
          `failed to add vxlanRoute (${vxlanRoute.dst} -> ${gw}): ${e.message}`,
        );
        await this.dev
          .delARP(gw, mac)
          .catch((e2) => log.error(T('vxlan_network.go:162', 'vxlan_network.go:168'), `DelARP failed: ${e2.message}`));
        await this.dev
          .delFDB(pub, mac)
          .catch((e2) => log.error(T('vxlan_network.go:166', 'vxlan_network.go:172'), `DelFDB failed: ${e2.message}`));
      }
      return;
    }
    if (directRoutingOK) {
      await routeDel(directRoute).catch((e) =>
        log.error(
          T('vxlan_network.go:177', 'vxlan_network.go:184'),
          `Error deleting route to ${sn} via ${pub}: ${e.message}`,
        ),
      );
      return;
    }
    // try to remove all entries, whatever fails
    await this.dev
      .delARP(gw, mac)
      .catch((e) => log.error(T('vxlan_network.go:185', 'vxlan_network.go:192'), `DelARP failed: ${e.message}`));
    await this.dev
      .delFDB(pub, mac)
      .catch((e) => log.error(T('vxlan_network.go:189', 'vxlan_network.go:196'), `DelFDB failed: ${e.message}`));
    await routeDel(vxlanRoute).catch((e) =>
      log.error(
        T('vxlan_network.go:193', 'vxlan_network.go:200'),
        `failed to delete vxlanRoute (${vxlanRoute.dst} -> ${gw}): ${e.message}`,
      ),
    );
  }
}

/** Backend constructors by (lower-case) type, as backend.Manager looks them up. */
const BACKENDS = { 'host-gw': HostGwBackend, vxlan: VXLANBackend };
const REAL_BACKENDS_NOT_BUILT = [
  'udp',
  'alloc',
  'ipip',
  'ipsec',
  'aws-vpc',
  'gce',
  'ali-vpc',
  'extension',
  ...(V020 ? ['wireguard', 'tencent-vpc'] : []),
];

function getBackend(sm, extIface, backendType) {
  const betype = backendType.toLowerCase();
  const ctor = BACKENDS[betype];
  if (!ctor) {
    if (REAL_BACKENDS_NOT_BUILT.includes(betype))
      throw new GoError(
        `backend type ${betype} is not implemented by the lab's flanneld stand-in (lab/flanneld/flanneld.mjs)`,
      );
    throw new GoError(`unknown backend type: ${betype}`);
  }
  return new ctor(sm, extIface);
}

// ------------------------------------------------------------------------------ iptables
/** coreos/go-iptables as flannel uses it: `iptables ... --wait`, -C exit 1 = absent. */
class IPTables {
  static async create() {
    let r;
    try {
      r = await runCmd(['iptables', '--version']);
    } catch {
      throw new GoError('exec: "iptables": executable file not found in $PATH');
    }
    const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
    const ipt = new IPTables();
    const v = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
    const atLeast = (a, b, c) => v[0] > a || (v[0] === a && (v[1] > b || (v[1] === b && v[2] >= c)));
    ipt.hasWait = atLeast(1, 4, 20);
    ipt.hasRandomFully = atLeast(1, 6, 2);
    return ipt;
  }

  async run(args) {
    const argv = ['iptables', ...args];
    if (this.hasWait) argv.push('--wait');
    const r = await runCmd(argv);
    return { ...r, argv };
  }

  async exists(table, chain, spec) {
    const r = await this.run(['-t', table, '-C', chain, ...spec]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw new GoError(`running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`);
  }

  async append(table, chain, spec) {
    const r = await this.run(['-t', table, '-A', chain, ...spec]);
    if (r.code !== 0) throw new GoError(`running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`);
  }

  async appendUnique(table, chain, spec) {
    if (!(await this.exists(table, chain, spec))) await this.append(table, chain, spec);
  }

  async delete(table, chain, spec) {
    await this.run(['-t', table, '-D', chain, ...spec]);
  }
}

/** network.MasqRules of v0.11.0: appended to nat POSTROUTING. */
function masqRules(network, lease, randomFully) {
  const n = network.toString();
  const sn = lease.subnet.toString();
  const rf = randomFully ? ['--random-fully'] : [];
  return [
    // don't NAT traffic within the overlay network (e.g. coming out of docker0)
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', n, '-d', n, '-j', 'RETURN'] },
    // NAT if it's not multicast traffic
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', n, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', ...rf] },
    // don't masquerade external traffic arriving from the node that owns the pod IP
    { table: 'nat', chain: 'POSTROUTING', spec: ['!', '-s', n, '-d', sn, '-j', 'RETURN'] },
    // masquerade anything headed towards flannel from the host
    { table: 'nat', chain: 'POSTROUTING', spec: ['!', '-s', n, '-d', n, '-j', 'MASQUERADE', ...rf] },
  ];
}

/** network.ForwardRules: Docker >= 1.13 sets the FORWARD policy to DROP. */
function forwardRules(network) {
  return [
    { table: 'filter', chain: 'FORWARD', spec: ['-s', network, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'FORWARD', spec: ['-d', network, '-j', 'ACCEPT'] },
  ];
}

async function ensureIPTables(ipt, rules) {
  for (const r of rules) {
    let ok;
    try {
      ok = await ipt.exists(r.table, r.chain, r.spec);
    } catch (e) {
      throw new GoError(`Error checking rule existence: failed to check rule existence: ${e.message}`);
    }
    if (!ok) {
      // the order of the rules matters: delete the whole set and add it again
      log.info('iptables.go:145', 'Some iptables rules are missing; deleting and recreating rules');
      await teardownIPTables(ipt, rules);
      try {
        for (const rule of rules) {
          log.info('iptables.go:155', `Adding iptables rule: ${rule.spec.join(' ')}`);
          try {
            await ipt.appendUnique(rule.table, rule.chain, rule.spec);
          } catch (e) {
            throw new GoError(`failed to insert IPTables rule: ${e.message}`);
          }
        }
      } catch (e) {
        throw new GoError(`Error setting up rules: ${e.message}`);
      }
      return;
    }
  }
}

async function teardownIPTables(ipt, rules) {
  for (const rule of rules) {
    log.info('iptables.go:167', `Deleting iptables rule: ${rule.spec.join(' ')}`);
    await ipt.delete(rule.table, rule.chain, rule.spec);
  }
}

async function setupAndEnsureIPTables(ctx, rules, resyncSeconds) {
  let ipt;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:103', `Failed to setup IPTables. iptables binary was not found: ${e.message}`);
    return;
  }
  try {
    await ensureIPTables(ipt, rules);
  } catch (e) {
    log.error('iptables.go:109', `Failed to bootstrap IPTables: ${e.message}`);
  }
  do {
    try {
      await ensureIPTables(ipt, rules);
    } catch (e) {
      log.error('iptables.go:115', `Failed to ensure iptables rules: ${e.message}`);
    }
  } while (await sleep(resyncSeconds * 1000, ctx.signal));
}

async function deleteIPTables(rules) {
  let ipt;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:127', `Failed to setup IPTables. iptables binary was not found: ${e.message}`);
    throw e;
  }
  await teardownIPTables(ipt, rules);
}

// v0.20.2 (network/iptables.go): the rules live in chains of flannel's own, each rule carries a
// comment, and the jump to a chain is inserted at position 1 (above Docker's and the distro's
// rules). A missing rule, jump or chain makes the whole set go in again through one
// `iptables-restore --noflush` (delete what exists, then add in order), which also moves the
// jump back to the top.
const KUBE_PROXY_MARK = '0x4000/0x4000';

/** network.ForwardRules of v0.20.2. */
function forwardRulesV020(network) {
  const c = ['-m', 'comment', '--comment', 'flanneld forward'];
  return [
    // run flannel's rules before any other of the node
    { table: 'filter', action: '-I', chain: 'FORWARD', spec: [...c, '-j', 'FLANNEL-FWD'] },
    // forward what comes from or goes to the flannel network
    { table: 'filter', action: '-A', chain: 'FLANNEL-FWD', spec: ['-s', network, ...c, '-j', 'ACCEPT'] },
    { table: 'filter', action: '-A', chain: 'FLANNEL-FWD', spec: ['-d', network, ...c, '-j', 'ACCEPT'] },
  ];
}

/** network.MasqRules of v0.20.2. */
function masqRulesV020(network, lease, randomFully) {
  const n = network.toString();
  const sn = lease.subnet.toString();
  const c = ['-m', 'comment', '--comment', 'flanneld masq'];
  const rf = randomFully ? ['--random-fully'] : [];
  return [
    // run flannel's rules before any other of the node
    { table: 'nat', action: '-I', chain: 'POSTROUTING', spec: [...c, '-j', 'FLANNEL-POSTRTG'] },
    // kube-proxy's marked traffic is not masqueraded twice (the double NAT bug of some kernels)
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...c, '-j', 'RETURN'],
    },
    // don't NAT traffic within the overlay network (e.g. coming out of docker0)
    { table: 'nat', action: '-A', chain: 'FLANNEL-POSTRTG', spec: ['-s', n, '-d', n, ...c, '-j', 'RETURN'] },
    // NAT if it's not multicast traffic
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['-s', n, '!', '-d', '224.0.0.0/4', ...c, '-j', 'MASQUERADE', ...rf],
    },
    // don't masquerade external traffic arriving from the node that owns the pod IP
    { table: 'nat', action: '-A', chain: 'FLANNEL-POSTRTG', spec: ['!', '-s', n, '-d', sn, ...c, '-j', 'RETURN'] },
    // masquerade anything headed towards flannel from the host
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['!', '-s', n, '-d', n, ...c, '-j', 'MASQUERADE', ...rf],
    },
  ];
}

const FLANNEL_CHAINS = ['FLANNEL-FWD', 'FLANNEL-POSTRTG'];
/** The flannel chain a rule lives in or jumps to, if any. */
const flannelChainOf = (rule) =>
  FLANNEL_CHAINS.includes(rule.chain) ? rule.chain : FLANNEL_CHAINS.find((c) => rule.spec[rule.spec.length - 1] === c);

async function chainExists(ipt, table, chain) {
  const r = await ipt.run(['-t', table, '-S', chain, '1']);
  return r.code === 0;
}

async function ipTablesRulesExist(ipt, rules) {
  for (const rule of rules) {
    const chain = flannelChainOf(rule);
    if (chain && !(await chainExists(ipt, rule.table, chain))) return false;
    let ok;
    try {
      ok = await ipt.exists(rule.table, rule.chain, rule.spec);
    } catch (e) {
      throw new GoError(`failed to check rule existence: ${e.message}`);
    }
    if (!ok) return false;
  }
  return true;
}

/** One iptables-restore line: quoted where a word holds a blank (the comments). */
const restoreLine = (words) => words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' ');

/** ipTablesBootstrap: chains made, existing rules deleted and every rule added again, in order. */
async function ipTablesBootstrap(ipt, rules) {
  const tables = new Map();
  for (const rule of rules) {
    const chain = flannelChainOf(rule);
    if (chain && !(await chainExists(ipt, rule.table, chain))) {
      const r = await ipt.run(['-t', rule.table, '-N', chain]);
      if (r.code !== 0)
        throw new GoError(
          `failed to check existing rules: failed to create rule chain: running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`,
        );
    }
    let exists;
    try {
      exists = await ipt.exists(rule.table, rule.chain, rule.spec);
    } catch (e) {
      throw new GoError(`failed to check existing rules: failed to check rule existence: ${e.message}`);
    }
    if (!tables.has(rule.table)) tables.set(rule.table, []);
    if (exists) tables.get(rule.table).push(restoreLine(['-D', rule.chain, ...rule.spec]));
    tables.get(rule.table).push(restoreLine([rule.action, rule.chain, ...rule.spec]));
  }
  let payload = '';
  for (const [table, lines] of tables) payload += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  const r = await runCmdInput(['iptables-restore', '--noflush', ...(ipt.hasWait ? ['--wait'] : [])], payload);
  if (r.code !== 0) throw new GoError(`failed to apply partial iptables-restore exit status ${r.code}: ${r.stderr}`);
  log.info('iptables.go:270', 'bootstrap done');
}

async function setupAndEnsureIPTablesV020(ctx, rules, resyncSeconds) {
  let ipt;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:245', `Failed to setup IPTables. iptables binary was not found: ${e.message}`);
    return;
  }
  try {
    await ipTablesBootstrap(ipt, rules);
  } catch (e) {
    log.error('iptables.go:258', `Failed to bootstrap IPTables: ${e.message}`);
  }
  // (v0.20.2 defers a teardown here that never runs: the loop below only ends with the process)
  while (await sleep(resyncSeconds * 1000, ctx.signal)) {
    try {
      if (await ipTablesRulesExist(ipt, rules)) continue;
      log.info('iptables.go:405', 'Some iptables rules are missing; deleting and recreating rules');
      await ipTablesBootstrap(ipt, rules);
    } catch (e) {
      log.error('iptables.go:267', `Failed to ensure iptables rules: error setting up rules: ${e.message}`);
    }
  }
}

/** DeleteIP4Tables of v0.20.2: the rules that exist are deleted through iptables-restore. */
async function deleteIPTablesV020(rules) {
  const ipt = await IPTables.create();
  const tables = new Map();
  for (const rule of rules) {
    if (!(await ipt.exists(rule.table, rule.chain, rule.spec).catch(() => false))) continue;
    if (!tables.has(rule.table)) tables.set(rule.table, []);
    tables.get(rule.table).push(restoreLine(['-D', rule.chain, ...rule.spec]));
  }
  let payload = '';
  for (const [table, lines] of tables) payload += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  if (payload) await runCmdInput(['iptables-restore', '--noflush'], payload);
}

// ---------------------------------------------------------------------------------- main
/** Resolves true after ms, or false as soon as the signal aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    let t;
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const arm = (left) => {
      t = setTimeout(
        () => {
          if (left > 2147483647) return arm(left - 2147483647);
          if (signal) signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
        Math.max(0, Math.min(left, 2147483647)),
      );
    };
    arm(ms);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** godotenv.Read, enough for subnet.env: KEY=VALUE lines, optional quotes, comments. */
function readEnvFile(path) {
  const vals = {};
  for (const raw of fs.readFileSync(path, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new GoError(`Can't separate key from value`);
    let v = m[2].trim();
    if (/^'.*'$/.test(v) || /^".*"$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    vals[m[1]] = v;
  }
  return vals;
}

/** main.ReadCIDRFromSubnetFile: the zero network when absent or unreadable. */
function readCIDRFromSubnetFile(path, key) {
  if (!fs.existsSync(path)) return IP4Net.zero();
  let vals;
  try {
    vals = readEnvFile(path);
  } catch (e) {
    log.error(
      'main.go:605',
      `Couldn't fetch previous ${key} from subnet file at ${path}: ${goFsError(e, 'open', path)}`,
    );
    return IP4Net.zero();
  }
  if (!(key in vals)) return IP4Net.zero();
  try {
    return IP4Net.parseCIDR(vals[key].replace(/^"|"$/g, ''));
  } catch (e) {
    log.error('main.go:609', `Couldn't parse previous ${key} from subnet file at ${path}: ${e.message}`);
    return IP4Net.zero();
  }
}

function goFsError(e, op, path) {
  if (e instanceof GoError) return e.message;
  const text = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
  }[e?.code];
  return text ? `${e.code === 'EISDIR' ? 'read' : op} ${path}: ${text}` : String(e?.message);
}

/** main.WriteSubnetFile: a dot-file beside the target, then rename(2). */
function writeSubnetFile(path, network, ipMasq, bn) {
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
  const name = path.slice(slash + 1);
  if (dir) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch {
      // MkdirAll's error is ignored
    }
  }
  const temp = joinFsPath(dir, `.${name}`);
  const sn = new IP4Net(bn.lease.subnet.ip + 1, bn.lease.subnet.prefixLen);
  const body = `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${sn}\nFLANNEL_MTU=${bn.mtu}\nFLANNEL_IPMASQ=${ipMasq}\n`;
  try {
    fs.writeFileSync(temp, body, { mode: 0o666 });
  } catch (e) {
    throw new GoError(goFsError(e, 'open', temp));
  }
  try {
    fs.renameSync(temp, path);
  } catch (e) {
    throw new GoError(
      e?.code ? `rename ${temp} ${path}: ${goFsError(e, 'rename', path).replace(/^\S+ \S+: /, '')}` : String(e),
    );
  }
}

/** filepath.Join(dir, name), cleaned like Go. */
function joinFsPath(dir, name) {
  if (!dir) return name;
  const joined = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
  const abs = joined.startsWith('/');
  const segs = [];
  for (const p of joined.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && segs.length > 0 && segs[segs.length - 1] !== '..') segs.pop();
    else if (p === '..' && abs) continue;
    else segs.push(p);
  }
  return (abs ? '/' : '') + segs.join('/') || '.';
}

/** etcd's pkg/transport TLS set-up, with Go's texts for unreadable or bad files. */
function loadEtcdTLS(opts) {
  const keyfile = opts.get('etcd-keyfile');
  const certfile = opts.get('etcd-certfile');
  const cafile = opts.get('etcd-cafile');
  const tls = {};
  if (keyfile || certfile) {
    if (!keyfile || !certfile)
      throw new GoError(`KeyFile and CertFile must both be present[key: ${keyfile}, cert: ${certfile}]`);
    const read = (p) => {
      try {
        return fs.readFileSync(p);
      } catch (e) {
        throw new GoError(goFsError(e, 'open', p));
      }
    };
    const cert = read(certfile);
    const key = read(keyfile);
    checkKeyPair(cert.toString('latin1'), key.toString('latin1'));
    tls.cert = cert;
    tls.key = key;
    probeTLSMaterial(tls);
  }
  if (cafile) {
    try {
      tls.ca = fs.readFileSync(cafile);
    } catch (e) {
      throw new GoError(goFsError(e, 'open', cafile));
    }
    // (etcd v2's pkg/transport says this; v0.20.2's v3 client does not)
    if (!V020)
      capnslogLine('warning: ignoring ServerName for user-provided CA for backwards compatibility is deprecated');
  }
  return tls;
}

/** tls.X509KeyPair's PEM checks. */
function checkKeyPair(certPem, keyPem) {
  const blocks = (s) => [...s.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]);
  const cb = blocks(certPem);
  if (cb.length === 0) throw new GoError('tls: failed to find any PEM data in certificate input');
  if (!cb.includes('CERTIFICATE')) {
    if (cb.some((b) => b.endsWith('PRIVATE KEY')))
      throw new GoError(
        'tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched',
      );
    throw new GoError(
      `tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${cb.join(' ')}]`,
    );
  }
  const kb = blocks(keyPem);
  if (kb.length === 0) throw new GoError('tls: failed to find any PEM data in key input');
  if (!kb.some((b) => b === 'PRIVATE KEY' || b.endsWith(' PRIVATE KEY'))) {
    if (kb.includes('CERTIFICATE'))
      throw new GoError('tls: found a certificate rather than a key in the PEM for the private key');
    throw new GoError(
      `tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${kb.join(' ')}]`,
    );
  }
}

/** Builds (never connects) a TLS request so that OpenSSL checks the key pair now, as Go does. */
function probeTLSMaterial(tls) {
  let req;
  try {
    req = https.request({
      hostname: 'tls-probe.invalid',
      port: 1,
      cert: tls.cert,
      key: tls.key,
      agent: false,
      lookup: () => {},
    });
  } catch (e) {
    if (e && e.code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH')
      throw new GoError('tls: private key does not match public key');
    throw new GoError(`tls: failed to parse private key`);
  }
  req.on('error', () => {});
  req.destroy();
}

/** Go's net/http ServeMux: /healthz only; unclean paths are redirected. */
function startHealthz(opts) {
  const hip = opts.get('healthz-ip');
  const port = opts.get('healthz-port');
  const address = hip.includes(':') ? `[${hip}]:${port}` : `${hip}:${port}`;
  log.info(T('main.go:587', 'main.go:522'), `Start healthz server on ${address}`);
  const server = http.createServer((req, res) => {
    res.removeHeader('Connection');
    const url = req.url || '/';
    const q = url.indexOf('?');
    const p = q >= 0 ? url.slice(0, q) : url;
    const clean = cleanURLPath(p);
    const date = new Date().toUTCString();
    if (req.method !== 'CONNECT' && clean !== p) {
      const loc = clean + (q >= 0 ? url.slice(q) : '');
      const body = req.method === 'GET' || req.method === 'HEAD' ? `<a href="${loc}">Moved Permanently</a>.\n\n` : '';
      const h = ['Content-Type', 'text/html; charset=utf-8', 'Location', loc, 'Date', date];
      if (body) h.push('Content-Length', String(Buffer.byteLength(body)));
      res.writeHead(301, h);
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    if (p === '/healthz') {
      res.writeHead(200, ['Date', date, 'Content-Length', '19', 'Content-Type', 'text/plain; charset=utf-8']);
      return res.end(req.method === 'HEAD' ? undefined : 'flanneld is running');
    }
    res.writeHead(404, [
      'Content-Type',
      'text/plain; charset=utf-8',
      'X-Content-Type-Options',
      'nosniff',
      'Date',
      date,
      'Content-Length',
      '19',
    ]);
    res.end(req.method === 'HEAD' ? undefined : '404 page not found\n');
  });
  server.keepAliveTimeout = 0;
  const fatal = (err) => {
    const text =
      {
        EADDRINUSE: 'bind: address already in use',
        EADDRNOTAVAIL: 'bind: cannot assign requested address',
        EACCES: 'bind: permission denied',
      }[err.code] || err.message;
    const msg = `listen tcp ${address}: ${text}`;
    log.error(T('main.go:595', 'main.go:530'), `Start healthz server error. ${msg}`);
    process.stderr.write(
      `panic: ${msg}\n\ngoroutine 23 [running]:\nmain.mustRunHealthz()\n\tflannel/main.go:596 +0x233\n`,
    );
    exitNow(2);
  };
  // Go listens on a dual-stack socket for 0.0.0.0 ("*:2401" in ss)
  const wildcard = hip === '0.0.0.0' || hip === '';
  const listen = (host, fallback) => {
    server.once('error', (err) => {
      if (fallback && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) return listen('0.0.0.0', false);
      fatal(err);
    });
    server.listen({ host, port, backlog: 4096, ipv6Only: false });
  };
  listen(wildcard ? '::' : hip, wildcard);
  server.unref();
  return server;
}

function cleanURLPath(p) {
  if (p === '') return '/';
  if (p[0] !== '/') p = `/${p}`;
  const segs = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  let out = `/${segs.join('/')}`;
  if (p.endsWith('/') && out !== '/') out += '/';
  return out;
}

/** Kills the commands still running, then exits (os.Exit). */
function exitNow(code) {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  process.exit(code);
}

/** What a Go binary without a SIGQUIT handler prints: the goroutine dump, then exit 2. */
function quitDump(state) {
  const hex = (n) => `0x${n.toString(16)}`;
  const g = [];
  g.push(
    `SIGQUIT: quit\nPC=${hex(0x46ea21)} m=0 sigcode=0\n\ngoroutine 0 [idle]:\nruntime.futex(${hex(0x23f8dc8)}, 0x80, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x7ffd4b8c1e48, 0x4134b2, ...)\n\t/usr/local/go/src/runtime/sys_linux_amd64.s:535 +0x21\nruntime.futexsleep(${hex(0x23f8dc8)}, 0x0, 0xffffffffffffffff)\n\t/usr/local/go/src/runtime/os_linux.go:44 +0x46\nruntime.notesleep(${hex(0x23f8dc8)})\n\t/usr/local/go/src/runtime/lock_futex.go:151 +0x9f\nruntime.mPark()\n\t/usr/local/go/src/runtime/proc.go:1340 +0x39\nruntime.stoplockedm()\n\t/usr/local/go/src/runtime/proc.go:2495 +0x6e\nruntime.schedule()\n\t/usr/local/go/src/runtime/proc.go:3103 +0x48c\nruntime.park_m(0xc000000180)\n\t/usr/local/go/src/runtime/proc.go:3318 +0x2d\nruntime.mcall()\n\t/usr/local/go/src/runtime/asm_amd64.s:327 +0x43\n`,
  );
  if (state.phase === 'config') {
    g.push(
      `goroutine 1 [select]:\nmain.getConfig(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0x0, 0x0, 0x0)\n\tflannel/main.go:389 +0x1c7\nmain.main()\n\tflannel/main.go:271 +0x8b5\n`,
    );
  } else {
    g.push(
      `goroutine 1 [select]:\nmain.MonitorLease(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0x18dd3c0, 0xc0003ac0a0, 0xc000320370, 0x0, 0x0)\n\tflannel/main.go:412 +0x3ea\nmain.main()\n\tflannel/main.go:332 +0xd39\n`,
    );
  }
  g.push(
    `goroutine 6 [chan receive]:\ngithub.com/coreos/flannel/vendor/github.com/golang/glog.(*loggingT).flushDaemon(${hex(0x23f7a40)})\n\tflannel/vendor/github.com/golang/glog/glog.go:882 +0x8b\ncreated by github.com/coreos/flannel/vendor/github.com/golang/glog.init.0\n\tflannel/vendor/github.com/golang/glog/glog.go:410 +0x26f\n`,
  );
  g.push(
    `goroutine 18 [select]:\nmain.shutdownHandler(0x18d3f40, 0xc0003b0040, 0xc0000b40c0, 0xc0003ae0e0)\n\tflannel/main.go:364 +0xb4\nmain.main.func1(0xc000320370, 0x18d3f40, 0xc0003b0040, 0xc0000b40c0, 0xc0003ae0e0)\n\tflannel/main.go:261 +0x4d\ncreated by main.main\n\tflannel/main.go:260 +0x6b1\n`,
  );
  if (state.healthz) {
    g.push(
      `goroutine 19 [IO wait]:\ninternal/poll.runtime_pollWait(0x7f3c5c2a8f08, 0x72, 0x0)\n\t/usr/local/go/src/runtime/netpoll.go:302 +0x89\nnet.(*netFD).accept(0xc000394000, 0x0, 0x0, 0x0)\n\t/usr/local/go/src/net/fd_unix.go:172 +0x35\nnet/http.(*Server).Serve(0xc0003a2000, 0x18d1e00, 0xc00031a1b8, 0x0, 0x0)\n\t/usr/local/go/src/net/http/server.go:3039 +0x385\nmain.mustRunHealthz()\n\tflannel/main.go:594 +0x1b1\ncreated by main.main\n\tflannel/main.go:267 +0x75d\n`,
    );
  }
  if (state.phase === 'running') {
    g.push(
      `goroutine 34 [select]:\ngithub.com/coreos/flannel/backend.(*RouteNetwork).Run(0xc0003ac0a0, 0x18d3f40, 0xc0003b0040)\n\tflannel/backend/route_network.go:71 +0x1e5\nmain.main.func2(0xc000320370, 0x18dd3c0, 0xc0003ac0a0, 0x18d3f40, 0xc0003b0040)\n\tflannel/main.go:324 +0x5b\ncreated by main.main\n\tflannel/main.go:323 +0xcd9\n`,
    );
    g.push(
      `goroutine 35 [select]:\nnet/http.(*persistConn).roundTrip(0xc000178000, 0xc0003d2000, 0x0, 0x0, 0x0)\n\t/usr/local/go/src/net/http/transport.go:2620 +0x7d2\ngithub.com/coreos/flannel/subnet.WatchLeases(0x18d3f40, 0xc0003b0040, 0x18e0ac0, 0xc000328090, 0xc0003ac0c8, 0xc0003b4060)\n\tflannel/subnet/watch.go:37 +0x10f\ncreated by github.com/coreos/flannel/backend.(*RouteNetwork).Run\n\tflannel/backend/route_network.go:56 +0x15b\n`,
    );
    g.push(
      `goroutine 36 [sleep]:\ntime.Sleep(0x12a05f200)\n\t/usr/local/go/src/runtime/time.go:195 +0xd2\ngithub.com/coreos/flannel/network.SetupAndEnsureIPTables(0xc0003b8000, 0x2, 0x2, 0x5)\n\tflannel/network/iptables.go:118 +0x10c\ncreated by main.main\n\tflannel/main.go:310 +0xb9d\n`,
    );
  }
  process.stderr.write(
    `${g.join('\n')}\nrax    0xca\nrbx    0x0\nrcx    0x46ea23\nrdx    0x0\nrdi    0x23f8dc8\nrsi    0x80\nrbp    0x7ffd4b8c1e18\nrsp    0x7ffd4b8c1dd0\nr8     0x0\nr9     0x0\nr10    0x0\nr11    0x286\nr12    0x0\nr13    0x1\nr14    0x23f7740\nr15    0x0\nrip    0x46ea21\nrflags 0x286\ncs     0x33\nfs     0x0\ngs     0x0\n`,
  );
  exitNow(2);
}

/** etcd key-space APIs by name; v0.11.0 speaks v2 only (a v3 registry comes with the v0.20 mode). */
const REGISTRIES = { v2: EtcdV2Registry, v3: EtcdV3Registry };

/** main.newSubnetManager: the etcd client (TLS files read now) and the subnet file's previous subnet. */
function newSubnetManager(opts, api = V020 ? 'v3' : 'v2') {
  const tls = loadEtcdTLS(opts);
  if (api === 'v3' && (!opts.get('etcd-keyfile') || !opts.get('etcd-certfile'))) {
    log.warn('registry.go:82', 'no certificate provided: connecting to etcd with http. This is insecure');
  }
  const registry = new REGISTRIES[api]({
    endpoints: opts.get('etcd-endpoints').split(','),
    prefix: opts.get('etcd-prefix'),
    tls,
    username: opts.get('etcd-username'),
    password: opts.get('etcd-password'),
  });
  // Attempt to renew the lease for the subnet specified in the subnet file
  const prev = readCIDRFromSubnetFile(opts.get('subnet-file'), 'FLANNEL_SUBNET');
  return api === 'v3' ? new LocalManagerV020(registry, prev) : new LocalManager(registry, prev);
}

/** Go's time.Time.String() of time.Now().Add(d): UTC here, with the monotonic reading m=+secs. */
function goTimeWithMono(ns) {
  const mono = process.hrtime.bigint() - startMonoNs + (ns - nowNs());
  const secs = `${mono / 1000000000n}.${String(mono % 1000000000n).padStart(9, '0')}`;
  return `${goTimeUTC(ns)} m=+${secs}`;
}

/** main.MonitorLease: renews the lease renew-margin before expiry; exits on revocation. */
async function monitorLease(ctx, sm, bn, renewMarginMin) {
  const margin = BigInt(renewMarginMin) * 60n * 1000000000n;
  const MIN_DURATION = -(1n << 63n);
  // Go: Expiration.Sub(now) saturates (a zero expiration gives the minimum duration); then
  // "- renewMargin" wraps around int64, so a lease without TTL is "renewed" in 292 years.
  const until = (exp) => BigInt.asIntN(64, (exp === 0n ? MIN_DURATION : exp - nowNs()) - margin);

  const events = [];
  let wake = () => {};
  const watchDone = watchLease(ctx, sm, bn.lease.subnet, (e) => {
    events.push(e);
    wake();
  });
  const done = new Promise((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', resolve, { once: true });
  });

  let dur = until(bn.lease.expiration);
  for (;;) {
    // like Go's select over time.After(dur), the lease events and ctx.Done()
    const timer = new AbortController();
    const evt = new Promise((resolve) => {
      wake = resolve;
      if (events.length > 0) resolve();
    });
    const ms = dur <= 0n ? 0 : Number(dur / 1000000n);
    const which = await Promise.race([
      sleep(ms, timer.signal).then((fired) => (fired ? 'renew' : 'never')),
      evt.then(() => 'event'),
      done.then(() => 'done'),
    ]);
    timer.abort();
    wake = () => {};
    if (which === 'done' || ctx.signal.aborted) {
      if (!V020) log.info('main.go:437', 'Stopped monitoring lease');
      await watchDone;
      return 'canceled';
    }
    if (which === 'renew') {
      try {
        await sm.renewLease(bn.lease, ctx.signal);
      } catch (e) {
        if (ctx.signal.aborted) continue;
        log.error(
          T('main.go:416', 'local_manager.go:386'),
          `Error renewing lease (trying again in 1 min): ${e.message}`,
        );
        dur = 60n * 1000000000n;
        continue;
      }
      if (V020)
        log.info('local_manager.go:391', `Lease renewed, new expiration: ${goTimeWithMono(bn.lease.expiration)}`);
      else log.info('main.go:421', `Lease renewed, new expiration: ${goTimeUTC(bn.lease.expiration)}`);
      dur = until(bn.lease.expiration);
      continue;
    }
    const e = events.shift();
    if (e.type === 'added') {
      bn.lease.expiration = e.lease.expiration;
      dur = until(bn.lease.expiration);
      log.info(T('main.go:429', 'local_manager.go:403'), `Waiting for ${goDuration(dur)} to renew lease`);
    } else {
      log.error(T('main.go:432', 'local_manager.go:406'), 'Lease has been revoked. Shutting down daemon.');
      return 'interrupted';
    }
  }
}

/**
 * ps, pgrep, pidof and `ss -p` see a Go binary: comm "flanneld" and the arguments as invoked
 * ("./flanneld --public-ip=..."), not "node ./flanneld ...".
 */
let invokedAs = process.argv[1];
function setProcessName() {
  try {
    const argv = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    const own = argv.slice(1 + process.execArgv.length);
    if (own.length === 0) return;
    invokedAs = own[0];
    process.title = own.join(' ');
    fs.writeFileSync('/proc/self/comm', own[0].split('/').pop().slice(0, 15));
  } catch {
    // not Linux, or /proc not mounted: keep node's name
  }
}

/**
 * What v0.20.2 prints when its context is cancelled with the lease watches running (SIGTERM,
 * SIGINT, a revoked lease): a closed etcd watch channel hands back a response without events
 * and registry.go indexes Events[0]. Exit status 2; nothing is cleaned up.
 */
const PANIC_HEAD = 'panic: runtime error: index out of range [0] with length 0\n\n';
const PANIC_WATCH_LEASE = `${PANIC_HEAD}goroutine 36 [running]:
github.com/flannel-io/flannel/subnet/etcd.(*etcdSubnetRegistry).watchSubnet(0xc00015be40, {0x1d13aa8, 0xc00015bd00}, 0x0, {0x37?, 0x190fd00?}, {0x0?, 0x71e492?})
	flannel/subnet/etcd/registry.go:318 +0x51a
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).WatchLease(0xc0002a41c0, {0x1d13aa8, 0xc00015bd00}, {0xac071600?, 0x18?}, {0x0?, 0x0?}, {0x18d03e0?, 0x2945ca0?})
	flannel/subnet/etcd/local_manager.go:316 +0x13e
github.com/flannel-io/flannel/subnet.WatchLease({0x1d13aa8, 0xc00015bd00}, {0x1d17770, 0xc0002a41c0}, {0x0?, 0x0?}, {0x0?, 0x0?}, 0x0?)
	flannel/subnet/watch.go:241 +0xe3
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).CompleteLease.func1()
	flannel/subnet/etcd/local_manager.go:374 +0x51
created by github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).CompleteLease
	flannel/subnet/etcd/local_manager.go:372 +0x145
`;
const panicWatchLeases = (vxlan) => `${PANIC_HEAD}goroutine 38 [running]:
github.com/flannel-io/flannel/subnet/etcd.(*etcdSubnetRegistry).watchSubnets(0xc00015de40, {0x1d13aa8, 0xc00015dd00}, 0x0)
	flannel/subnet/etcd/registry.go:295 +0x4da
github.com/flannel-io/flannel/subnet/etcd.(*LocalManager).WatchLeases(0xc00052e180, {0x1d13aa8, 0xc00015dd00}, {0x18d03e0?, 0x2945ca0?})
	flannel/subnet/etcd/local_manager.go:344 +0xfe
github.com/flannel-io/flannel/subnet.WatchLeases({0x1d13aa8, 0xc00015dd00}, {0x1d17770, 0xc00052e180}, 0x1d13aa8?, 0xc00015dd00?)
	flannel/subnet/watch.go:36 +0xcc
${
  vxlan
    ? 'github.com/flannel-io/flannel/backend/vxlan.(*network).Run.func1()\n\tflannel/backend/vxlan/vxlan_network.go:65 +0x45\ncreated by github.com/flannel-io/flannel/backend/vxlan.(*network).Run\n\tflannel/backend/vxlan/vxlan_network.go:64 +0x171\n'
    : 'github.com/flannel-io/flannel/backend.(*RouteNetwork).Run.func1()\n\tflannel/backend/route_network.go:59 +0x3d\ncreated by github.com/flannel-io/flannel/backend.(*RouteNetwork).Run\n\tflannel/backend/route_network.go:58 +0x165\n'
}`;

function goPanic(text) {
  process.stderr.write(text);
  exitNow(2);
}

/** main's interface choice: --iface (names or IPs), then --iface-regex, then (v0.20) --iface-can-reach. */
async function findExtIface(opts) {
  const ifaces = opts.get('iface');
  const ifaceRegexes = opts.get('iface-regex');
  const canReach = V020 ? opts.get('iface-can-reach') : '';
  if (ifaces.length === 0 && ifaceRegexes.length === 0 && !canReach) {
    try {
      return await lookupExtIface('', '', opts.get('public-ip'));
    } catch (e) {
      log.error(T('main.go:202', 'main.go:285'), `Failed to find any valid interface to use: ${e.message}`);
      process.exit(1);
    }
  }
  for (const name of ifaces) {
    try {
      return await lookupExtIface(name, '', opts.get('public-ip'));
    } catch (e) {
      log.info(T('main.go:210', 'main.go:293'), `Could not find valid interface matching ${name}: ${e.message}`);
    }
  }
  for (const re of ifaceRegexes) {
    try {
      return await lookupExtIface('', re, opts.get('public-ip'));
    } catch (e) {
      log.info(T('main.go:223', 'main.go:305'), `Could not find valid interface matching ${re}: ${e.message}`);
    }
  }
  if (canReach) {
    try {
      const [route] = await ipJson(['-4', 'route', 'get', canReach]);
      return await lookupExtIface(route.dev, '', opts.get('public-ip'));
    } catch (e) {
      log.info('main.go:316', `Could not find valid interface matching ifaceCanReach: ${canReach}: ${e.message}`);
    }
  }
  log.error(
    T('main.go:234', 'main.go:322'),
    'Failed to find interface to use that matches the interfaces and/or regexes provided',
  );
  process.exit(1);
}

async function main() {
  // a closed log pipe must not turn into an unhandled 'error' event
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  setProcessName();
  const opts = new FlagSet();
  process.on('SIGQUIT', () => quitDump(state));
  opts.parse(process.argv.slice(2));
  if (opts.get('version')) {
    process.stderr.write(`${VERSION}\n`);
    process.exit(0);
  }
  opts.setFromEnv('FLANNELD');
  if (V020) log.info('main.go:204', `CLI flags config: ${cliFlagsConfig(opts)}`);

  const margin = opts.get('subnet-lease-renew-margin');
  if (margin >= 24 * 60 || margin <= 0) {
    log.error(T('main.go:191', 'main.go:208'), 'Invalid subnet-lease-renew-margin option, out of acceptable range');
    process.exit(1);
  }

  // Work out which interface to use (v0.20.2: only once it has the network config)
  let extIface = V020 ? null : await findExtIface(opts);

  if (opts.get('kube-subnet-mgr')) {
    log.error(
      T('main.go:241', 'main.go:220'),
      "Failed to create SubnetManager: --kube-subnet-mgr is not implemented by the lab's flanneld stand-in",
    );
    process.exit(1);
  }
  let sm;
  try {
    sm = newSubnetManager(opts);
  } catch (e) {
    log.error(
      T('main.go:241', 'main.go:220'),
      `Failed to create SubnetManager: ${e instanceof GoError ? e.message : e}`,
    );
    process.exit(1);
  }
  log.info(T('main.go:244', 'main.go:224'), `Created subnet manager: ${sm.name()}`);

  log.info(T('main.go:247', 'main.go:227'), 'Installing signal handlers');
  const controller = new AbortController();
  const ctx = { signal: controller.signal };
  let shutdownLogged = false;
  const onSignal = () => {
    // signal.Stop: a second signal gets the default behaviour (the process dies)
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (controller.signal.aborted) return;
    controller.abort();
    shutdownLogged = true;
    log.info(T('main.go:370', 'main.go:451'), 'shutdownHandler sent cancel signal...');
    if (V020 && state.watching) goPanic(PANIC_WATCH_LEASE);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  /** shutdownHandler's other way out: the context is cancelled from inside. */
  const cancel = () => {
    if (controller.signal.aborted) return;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    controller.abort();
  };
  const stoppingShutdownHandler = () => {
    if (!shutdownLogged) {
      shutdownLogged = true;
      log.info('main.go:366', 'Stopping shutdownHandler...');
    }
  };

  if (opts.get('healthz-port') > 0) {
    state.healthz = true;
    startHealthz(opts);
  }

  // Fetch the network config (i.e. what backend to use etc..), every second until it works
  let config = null;
  for (;;) {
    try {
      config = await sm.getNetworkConfig(ctx.signal);
      log.info(T('main.go:386', 'main.go:467'), `Found network config - Backend type: ${config.backendType}`);
      break;
    } catch (e) {
      // v0.20.2's v3 client: a call that never got through says so only when it is cancelled
      const warning = V020 && isCanceled(e) ? sm.registry.client.retryWarning() : null;
      if (warning) process.stderr.write(`${warning}\n`);
      log.error(T('main.go:382', 'main.go:463'), `Couldn't fetch network config: ${e.message}`);
    }
    if (!(await sleep(1000, ctx.signal))) {
      exitNow(0);
      return;
    }
    process.stdout.write('timed out\n');
  }
  if (V020) extIface = await findExtIface(opts);

  const fail = (tag, msg) => {
    log.error(tag, msg);
    cancel();
    if (!V020) stoppingShutdownHandler();
    exitNow(1);
  };
  let be;
  try {
    be = getBackend(sm, extIface, config.backendType);
  } catch (e) {
    return fail(T('main.go:281', 'main.go:331'), `Error fetching backend: ${e.message}`);
  }
  let bn;
  try {
    bn = await be.registerNetwork(ctx.signal, config);
  } catch (e) {
    return fail(T('main.go:289', 'main.go:339'), `Error registering network: ${e.message}`);
  }

  const subnetFile = opts.get('subnet-file');
  const background = [];
  if (opts.get('ip-masq')) {
    // recycleIPTables: drop the masquerade rules of a previous network and subnet
    const prevNetwork = readCIDRFromSubnetFile(subnetFile, 'FLANNEL_NETWORK');
    const prevSubnet = readCIDRFromSubnetFile(subnetFile, 'FLANNEL_SUBNET');
    let randomFully = false;
    try {
      randomFully = (await IPTables.create()).hasRandomFully;
    } catch {
      // MasqRules falls back to rules without --random-fully
    }
    if (!prevNetwork.equal(config.network) && !prevSubnet.equal(bn.lease.subnet)) {
      log.info(
        T('main.go:351', 'main.go:612'),
        `Current network or subnet (${config.network}, ${bn.lease.subnet}) is not equal to previous one (${prevNetwork}, ${prevSubnet}), trying to recycle old iptables rules`,
      );
      try {
        if (V020) await deleteIPTablesV020(masqRulesV020(prevNetwork, { subnet: prevSubnet }, randomFully));
        else await deleteIPTables(masqRules(prevNetwork, { subnet: prevSubnet }, randomFully));
      } catch (e) {
        return fail(T('main.go:298', 'main.go:338'), `Failed to recycle IPTables rules, ${e.message}`);
      }
    }
    if (V020) {
      log.info('main.go:342', 'Setting up masking rules');
      background.push(
        setupAndEnsureIPTablesV020(
          ctx,
          masqRulesV020(config.network, bn.lease, randomFully),
          opts.get('iptables-resync'),
        ),
      );
    } else {
      background.push(
        setupAndEnsureIPTables(ctx, masqRules(config.network, bn.lease, randomFully), opts.get('iptables-resync')),
      );
    }
  }
  if (opts.get('iptables-forward-rules')) {
    if (V020) {
      // (only the message: v0.20.2 leaves the policy alone and jumps to FLANNEL-FWD first)
      log.info('main.go:364', 'Changing default FORWARD chain policy to ACCEPT');
      background.push(
        setupAndEnsureIPTablesV020(ctx, forwardRulesV020(config.network.toString()), opts.get('iptables-resync')),
      );
    } else {
      background.push(
        setupAndEnsureIPTables(ctx, forwardRules(config.network.toString()), opts.get('iptables-resync')),
      );
    }
  }

  try {
    writeSubnetFile(subnetFile, config.network, opts.get('ip-masq'), bn);
    log.info(T('main.go:317', 'main.go:379'), `Wrote subnet file to ${subnetFile}`);
  } catch (e) {
    log.warn(T('main.go:315', 'main.go:377'), `Failed to write subnet file: ${e.message}`);
  }

  log.info(T('main.go:321', 'main.go:383'), 'Running backend.');
  state.phase = 'running';
  state.watching = true;
  const running = bn.run(ctx);

  const result = await monitorLease(ctx, sm, bn, margin);
  if (V020 && result === 'interrupted') {
    log.error('main.go:397', 'CompleteLease execute error err: interrupted');
    cancel();
    log.info('main.go:404', 'Waiting for all goroutines to exit');
    goPanic(panicWatchLeases(bn instanceof VxlanNetwork));
    return;
  }
  if (result === 'interrupted') cancel();
  log.info('main.go:339', 'Waiting for all goroutines to exit');
  await running;
  if (result === 'interrupted') stoppingShutdownHandler();
  log.info('main.go:342', 'Exiting cleanly...');
  exitNow(0);
}

const state = { phase: 'config', healthz: false, watching: false };

loadModules()
  .then(main)
  .catch((e) => {
    process.stderr.write(`panic: ${e?.stack ? e.stack : e}\n`);
    exitNow(2);
  });
