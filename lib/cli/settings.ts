// Settings: what a script acts on, resolved once at the edge from its flags, the cluster file
// and its selected node (flags win), checked and parsed into values (Ip4, Ip4Net). Nothing
// after this point parses user input again.

import { posix } from 'node:path';
import { invalid, UsageError } from '../core/errors.ts';
import { Ip4, type Ip4Net } from '../core/ip4.ts';
import { rooted } from '../core/paths.ts';
import type { EtcdConnection } from '../host/etcd.ts';
import type { Host } from '../host/host.ts';
import type { NodeDefaults } from '../host/node-files.ts';
import {
  checkEndpoint,
  checkEndpoints,
  checkEtcdPrefix,
  checkIfaceName,
  checkNetwork,
  checkPort,
  checkSubnet,
  DEFAULT_ETCD_PREFIX,
  noControl,
} from '../core/validate.ts';
import {
  DEFAULT_CERTS,
  DEFAULT_REJECT_POLICY,
  etcdApiFor,
  etcdApiMismatch,
  type Cluster,
  type ClusterNode,
  type EtcdApi,
  type EtcdApiSetting,
  type RejectPolicy,
} from '../model/cluster.ts';

// ---------------------------------------------------------------------------------------------
// settings

export interface NodeSettings {
  readonly name?: string;
  readonly publicIp?: Ip4;
  readonly subnet?: Ip4Net;
  readonly iface?: string;
  readonly program?: string;
}

export interface Settings {
  readonly root: string;
  /** --dry-run, or --check: observe, record the changes, make none */
  readonly dryRun: boolean;
  readonly check: boolean;
  readonly diff: boolean;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly help: boolean;
  readonly clusterFile?: string;
  readonly flannelVersion: string;
  readonly etcd: {
    /** empty when neither --endpoints nor a cluster file gives them */
    readonly endpoints: readonly string[];
    /** host paths (apply rooted(root, ...) to open them) */
    readonly cafile: string;
    readonly certfile: string;
    readonly keyfile: string;
    readonly prefix: string;
    /** as asked for (auto, v2, v3) */
    readonly apiSetting: EtcdApiSetting;
    /** what to speak: auto resolved for the flannel version */
    readonly api: EtcdApi;
  };
  readonly network?: Ip4Net;
  /** flannel Backend object from the cluster file */
  readonly backend?: Readonly<Record<string, unknown>>;
  readonly bridge: string;
  readonly healthzPort: number;
  /** iptables-services' REJECT catch-alls: --reject, else the cluster file's "reject", else drop (the runbook's) */
  readonly reject: RejectPolicy;
  readonly node: NodeSettings;
  /** things that are allowed but probably wrong (an etcd API the flannel version does not read) */
  readonly warnings: readonly string[];
  /** the node's own files looked at for defaults (host paths), for "not found in ..." */
  readonly looked: readonly string[];
  /** which settings came from the node's own files, and from which one */
  readonly fromNode: Readonly<Record<string, string>>;
  /** the supervisord program that runs flanneld.sh on the node now, and the ini naming it */
  readonly installedProgram?: { readonly name: string; readonly file: string };
}

type AnyParsed = { readonly values: Readonly<Record<string, unknown>>; readonly explicit: ReadonlySet<string> };

/**
 * Where each value comes from, first that has it: the flag given on the command line, the
 * cluster file (and its selected node), the node's own files (host/node-files.ts: flanneld.sh,
 * subnet.env, the installed release), the flag's default. Values are checked and parsed here,
 * once; a flag the script does not take is simply absent. Pass the node from selectNode().
 */
export function resolveSettings(
  flags: AnyParsed,
  cluster?: Cluster,
  node?: ClusterNode,
  files: NodeDefaults = { from: {}, looked: [] },
): Settings {
  const v = flags.values;
  const given = (name: string) => flags.explicit.has(name) && v[name] !== undefined;
  const fromNode: Record<string, string> = {};
  /** flag if given, else the cluster's value, else the node's file, else the flag's default */
  function pick<T>(
    name: string,
    fromCluster: T | undefined,
    fromFiles?: { value: unknown; key: keyof NodeDefaults },
  ): unknown {
    if (given(name)) return v[name];
    if (fromCluster !== undefined) return fromCluster;
    if (fromFiles && fromFiles.value !== undefined) {
      fromNode[name] = files.from[fromFiles.key] ?? '';
      return fromFiles.value;
    }
    return v[name];
  }
  const nf = <K extends keyof NodeDefaults>(key: K, map: (x: NonNullable<NodeDefaults[K]>) => unknown = (x) => x) => ({
    key,
    value: files[key] === undefined ? undefined : map(files[key] as NonNullable<NodeDefaults[K]>),
  });
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);

  // --root, else the cluster node's "root", else /
  const rootFlag = (given('root') ? str(v.root) : node?.root) ?? '/';
  // the one place a relative --root is made absolute (rooted() needs an absolute root)
  const root = posix.resolve(rootFlag);

  const flannelVersion = cluster?.flannelVersion ?? files.flannelVersion ?? 'v0.11.0';
  if (!cluster && files.flannelVersion) fromNode.flannelVersion = files.from.flannelVersion ?? '';
  const endpointsRaw = pick('endpoints', cluster?.etcd.endpoints, nf('endpoints'));
  // given on the command line: each member once (the cluster file's list is checked so when it is read)
  const endpoints = !Array.isArray(endpointsRaw)
    ? []
    : given('endpoints') && endpointsRaw.length
      ? checkEndpoints('--endpoints', endpointsRaw)
      : endpointsRaw.map((e) => checkEndpoint('--endpoints', e));
  const apiSetting = String(pick('etcd-api', cluster?.etcd.api) ?? 'auto') as EtcdApiSetting;
  if (!['v2', 'v3', 'auto'].includes(apiSetting))
    throw invalid('--etcd-api', apiSetting, 'must be one of v2, v3, auto', 'auto');
  const prefix = checkEtcdPrefix(
    '--etcd-prefix',
    pick('etcd-prefix', cluster?.etcd.prefix, nf('etcdPrefix')) ?? DEFAULT_ETCD_PREFIX,
  );
  const file = (name: 'cafile' | 'certfile' | 'keyfile') => {
    const x = pick(name, cluster?.etcd[name], nf(name)) ?? DEFAULT_CERTS[name];
    if (typeof x !== 'string' || x === '') throw invalid(`--${name}`, x, 'must be a file path', DEFAULT_CERTS[name]);
    return x;
  };

  const networkText = str(pick('network', cluster?.network.toString(), nf('network', String)));
  const network = networkText === undefined ? undefined : checkNetwork('--network', networkText);

  const ipText = str(pick('public-ip', node?.publicIp.toString(), nf('publicIp')));
  const publicIp = ipText === undefined ? undefined : Ip4.parse(ipText, '--public-ip');
  const subnetText = str(pick('subnet', node?.subnet.toString(), nf('subnet', String)));
  const subnet = subnetText === undefined ? undefined : checkSubnet('--subnet', subnetText, network);
  const ifaceText = pick('iface', node?.iface, nf('iface'));
  const iface = ifaceText === undefined ? undefined : checkIfaceName('--iface', ifaceText);

  if (network && publicIp && network.contains(publicIp)) {
    throw invalid(
      '--public-ip',
      publicIp.toString(),
      `must be the host's address, outside the pod network ${network}`,
      '10.4.7.21',
    );
  }

  const bridge = checkIfaceName('--bridge', pick('bridge', cluster?.bridge) ?? 'docker0', 'docker0');
  const healthzPort = checkPort(
    '--healthz-port',
    pick('healthz-port', cluster?.healthzPort, nf('healthzPort')) ?? 2401,
  );

  return {
    root,
    dryRun: v['dry-run'] === true || v.check === true || v.diff === true,
    check: v.check === true,
    diff: v.diff === true,
    json: v.json === true,
    quiet: v.quiet === true,
    help: v.help === true,
    ...(str(v.cluster) !== undefined && { clusterFile: str(v.cluster)! }),
    flannelVersion,
    etcd: {
      endpoints,
      cafile: file('cafile'),
      certfile: file('certfile'),
      keyfile: file('keyfile'),
      prefix,
      apiSetting,
      api: etcdApiFor(flannelVersion, apiSetting),
    },
    ...(network && { network }),
    ...(cluster && { backend: cluster.backend }),
    bridge,
    healthzPort,
    reject: given('reject') ? (v.reject === 'keep' ? 'keep' : 'drop') : (cluster?.reject ?? DEFAULT_REJECT_POLICY),
    node: {
      ...(node && { name: node.name, program: node.program }),
      ...(!node && files.program && { program: files.program }),
      ...(publicIp && { publicIp }),
      ...(subnet && { subnet }),
      ...(iface !== undefined && { iface }),
    },
    warnings: [etcdApiMismatch(flannelVersion, apiSetting)].filter((w): w is string => w !== undefined),
    looked: files.looked,
    fromNode,
    ...(files.program && { installedProgram: { name: files.program, file: files.from.program ?? '' } }),
  };
}

/**
 * A value the script cannot do without. The one line says where it was looked for:
 * `--public-ip: required; pass it, or --cluster FILE (with --node NAME); not found in
 * /opt/flannel/flanneld.sh, ..., e.g. --public-ip 10.4.7.21`.
 */
export function required<T>(value: T | undefined, flag: string, example: string, looked: readonly string[] = []): T {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    const files = looked.length ? `; not found in ${looked.join(', ')}` : '';
    throw new UsageError(
      `${flag}: required; pass it, or --cluster FILE (with --node NAME)${files}, e.g. ${flag} ${example}`,
    );
  }
  return value;
}

/**
 * The etcd connection a script's settings describe: endpoints, and the TLS files under
 * --root. Plain http:// endpoints use no TLS files (the runbook's defaults would only fail).
 */
export function connectionFor(s: Pick<Settings, 'root' | 'etcd' | 'looked'>, timeoutMs = 2500): EtcdConnection {
  const endpoints = required(
    s.etcd.endpoints.length ? [...s.etcd.endpoints] : undefined,
    '--endpoints',
    'https://10.4.7.12:2379,https://10.4.7.21:2379',
    s.looked,
  );
  const tls = endpoints.some((e) => e.startsWith('https:'));
  return {
    endpoints,
    ...(tls && {
      cafile: rooted(s.root, s.etcd.cafile),
      certfile: rooted(s.root, s.etcd.certfile),
      keyfile: rooted(s.root, s.etcd.keyfile),
    }),
    timeoutMs,
  };
}

/**
 * A host file named by a path flag (--persist, --textfile, --lock, --log, --supervisor-conf):
 * absolute (a relative path would land outside --root), taken under --root, and not a
 * directory. Refused with one line, before anything is created.
 */
export async function hostFile(
  host: Host,
  root: string,
  flag: string,
  value: string,
  example: string,
): Promise<string> {
  if (!value.startsWith('/'))
    throw invalid(flag, value, 'must be an absolute path on the node (it is taken under --root)', example);
  noControl(flag, value, example);
  const path = rooted(root, value);
  const st = await host.stat(path);
  if (st?.type === 'dir') throw invalid(flag, value, 'is a directory; name a file', example);
  return path;
}
