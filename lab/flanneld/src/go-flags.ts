// flanneld's command line: Go's `flag` package (--x=v, -x=v, --x v, bool flags without a value),
// v0.11.0's flag set (glog's v, vmodule and log_backtrace_at included) plus v0.20.2's additions,
// FLANNELD_* variables for flags not given (coreos/pkg/flagutil), and the usage text. A bad flag
// prints Go's error and the usage, then exits 0: flannel's usage() calls os.Exit(0), so the
// ExitOnError flag set never reaches exit 2. v0.20.2's "CLI flags config: {...}" line.
import { GoError } from './go-errors.ts';
import { goQuote } from './go-json.ts';
import { invokedAs } from './process-name.ts';
import { V020 } from './version.ts';

/** The value of each flag, by name (v0.20.2's flags are undefined in v0.11.0 mode). */
export interface Flags {
  'etcd-endpoints': string;
  'etcd-prefix': string;
  'etcd-keyfile': string;
  'etcd-certfile': string;
  'etcd-cafile': string;
  'etcd-username': string;
  'etcd-password': string;
  iface: string[];
  'iface-regex': string[];
  'subnet-file': string;
  'public-ip': string;
  'subnet-lease-renew-margin': number;
  'ip-masq': boolean;
  'kube-subnet-mgr': boolean;
  'kube-api-url': string;
  'kube-annotation-prefix': string;
  'kubeconfig-file': string;
  version: boolean;
  'healthz-ip': string;
  'healthz-port': number;
  'iptables-resync': number;
  'iptables-forward-rules': boolean;
  'net-config-path': string;
  v: number;
  vmodule: string;
  log_backtrace_at: string;
  'iface-can-reach': string;
  'public-ipv6': string;
  'set-node-network-unavailable': boolean;
}
export type FlagName = keyof Flags;
type FlagValue = Flags[FlagName];
/** The flag.Value kinds: `slice` is flannel's repeatable flagSlice, `level` glog's Level. */
type FlagType = 'string' | 'int' | 'bool' | 'slice' | 'level' | 'value';
interface FlagDef {
  readonly name: FlagName;
  readonly type: FlagType;
  /** the default as Go prints it in the usage */
  readonly def: string;
  readonly usage: string;
}
type FlagDefRow = readonly [name: FlagName, type: FlagType, def: string, usage: string];

// v0.11.0's flag set (flannelFlags, plus glog's v, vmodule, log_backtrace_at copied in).
const FLAG_DEFS: readonly FlagDefRow[] = [
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
const FLAG_DEFS_V020: readonly FlagDefRow[] = [
  [
    'iface-can-reach',
    'string',
    '',
    "detect interface to use (IP or name) for inter-host communication based on which will be used for provided IP. This is exactly the interface to use of command 'ip route get <ip-address>'",
  ],
  ['public-ipv6', 'string', '', 'IPv6 accessible by other nodes for inter-host communication'],
  ['set-node-network-unavailable', 'bool', 'true', 'set NodeNetworkUnavailable after ready'],
];

export class FlagSet {
  private readonly defs: Map<string, FlagDef>;
  private readonly values = new Map<string, FlagValue>();
  private readonly setOnCommandLine = new Set<string>();

  constructor() {
    const defs = V020 ? [...FLAG_DEFS, ...FLAG_DEFS_V020] : FLAG_DEFS;
    this.defs = new Map(defs.map(([name, type, def, usage]) => [name, { name, type, def, usage }]));
    for (const d of this.defs.values()) this.values.set(d.name, d.type === 'slice' ? [] : this.convert(d, d.def));
  }

  /** Go's flag.Value.Set: returns the converted value or throws GoError("parse error" ...). */
  private convert(def: FlagDef, s: string): FlagValue {
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

  private set(name: string, s: string): void {
    const def = this.defs.get(name)!;
    const v = this.convert(def, s);
    if (def.type === 'slice') (this.values.get(name) as string[]).push(v as string);
    else this.values.set(name, v);
  }

  get<K extends FlagName>(name: K): Flags[K] {
    return this.values.get(name) as Flags[K];
  }

  /** flag.FlagSet.Parse with ExitOnError and flannel's usage() (which exits 0). */
  parse(args: string[]): void {
    while (args.length > 0) {
      const s = args[0]!;
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
          this.fail(`invalid boolean value ${goQuote(value)} for -${name}: ${(e as Error).message}`);
        }
      } else {
        if (!hasValue && args.length > 0) {
          hasValue = true;
          value = args.shift()!;
        }
        if (!hasValue) this.fail(`flag needs an argument: -${name}`);
        try {
          this.set(name, value);
        } catch (e) {
          this.fail(`invalid value ${goQuote(value)} for flag -${name}: ${(e as Error).message}`);
        }
      }
      this.setOnCommandLine.add(name);
    }
  }

  /** coreos/pkg/flagutil.SetFlagsFromEnv: FLANNELD_<NAME> for each flag not given; errors ignored. */
  setFromEnv(prefix: string): void {
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

  private fail(msg: string): never {
    process.stderr.write(`${msg}\n`);
    return this.usage();
  }

  private usage(): never {
    let out = `Usage: ${invokedAs()} [OPTION]...\n`;
    for (const def of [...this.defs.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const typeName = (
        { string: 'string', int: 'int', bool: '', slice: 'value', level: 'value', value: 'value' } as const
      )[def.type];
      let b = `  -${def.name}`;
      if (typeName) b += ` ${typeName}`;
      b += b.length <= 4 ? '\t' : '\n    \t';
      b += def.usage;
      const zero = { string: '', int: '0', bool: 'false', slice: '', level: '0', value: def.def }[def.type];
      if (def.def !== zero) b += def.type === 'string' ? ` (default ${goQuote(def.def)})` : ` (default ${def.def})`;
      out += `${b}\n`;
    }
    process.stderr.write(out);
    return process.exit(0);
  }
}

/** v0.20.2's first log line: `CLI flags config: %+v` of its CmdLineOpts struct. */
export function cliFlagsConfig(opts: FlagSet): string {
  const f = (name: FlagName): FlagValue => opts.get(name);
  const fields: [string, FlagValue][] = [
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
    ['iface', `[${opts.get('iface').join(' ')}]`],
    ['ifaceRegex', `[${opts.get('iface-regex').join(' ')}]`],
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

/** strconv.ParseInt(s, 0, 64) without range checks: decimal, 0x, 0o / leading 0, 0b, underscores. */
function parseGoInt(s: string): number | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m) return null;
  let body = m[2]!.replaceAll('_', '');
  let base = 10;
  if (/^0[xX]/.test(body)) [base, body] = [16, body.slice(2)];
  else if (/^0[oO]/.test(body)) [base, body] = [8, body.slice(2)];
  else if (/^0[bB]/.test(body)) [base, body] = [2, body.slice(2)];
  else if (body.length > 1 && body[0] === '0') [base, body] = [8, body.slice(1)];
  if (body === '') return null;
  const n = parseInt(body, base);
  return m[1] === '-' ? -n : n;
}
