// The doctor: why a node is wrong, and the command that mends it. Pure. It takes what drift
// saw (NodeObservation, the Checks of lib/drift.ts), doctor's own probes (the other etcd key
// space, flanneld's log, every link's MTU, the pods' links) and returns Findings, each with a
// stable id, what is wrong, the evidence (a route, rule, key or log line), the likely cause
// and ONE shell line that fixes it (a toolkit script, or plain ip/sysctl/supervisorctl).
//
//   diagnose(ctx, obs, checks, probes)  -> Finding[]   the rules, one section per finding id
//   analyseFlanneldLog(text, now)       -> what flanneld's log says is still going on
//   doctorExit, formatDoctorReport      -> exit code and the human report
//
// A check that drift could not make (etcd down) is explained by the finding that says why
// (TLS, v2 off); one nobody explains is a finding of kind 'unexamined' (exit 3 when alone).
//
// Finding ids (stable):
//   config.written-v3 / config.written-v2 / config.missing   the config is in the key space flannel does not read, or nowhere
//   etcd.v2-disabled      etcd answers v2 with a plain 404 (no --enable-v2), or flanneld logs `response is invalid json`
//   etcd.tls-ca / etcd.tls-client-cert / etcd.tls-scheme / etcd.tls-other   which TLS file (or scheme) is wrong
//   etcd.unreachable      nothing answers (unexamined, exit 3)
//   routes.peer-not-l2    host-gw peer off the iface's subnets, or its route refused by the kernel
//   routes.vxlan-deleted  vxlan route / neighbour / fdb entry missing (flanneld never restores them)
//   iptables.docker-masq  Docker's MASQUERADE rule back;  iptables.forward-drop  FORWARD DROP without ACCEPTs
//   sysctl.ip-forward-off, docker0.bip-mismatch, mtu.mismatch
//   lease.taken-over      this node holds another's lease, another holds ours, or subnet.env names another's
//   flanneld.no-lease     healthz 200 but no lease;  flanneld.stopped  not RUNNING (the log says why)
//   drift.<check id>      anything else drift finds, with the command that mends it

import { join } from 'node:path';
import type { Check, NodeExpectation } from './drift.ts';
import { KNOWN_LOG_ERRORS, parseLogLine, type KnownLogError, type LogLine } from './flanneld-log.ts';
import { findInterface } from './interfaces.ts';
import type { Ip4, Ip4Net } from './ip4.ts';
import { countRule, flannelForwardRules, formatRule } from './iptables.ts';
import type { EtcdApi, Lease } from './lease.ts';
import { backendMtu, parseNetworkConfig, type NetworkConfig } from './netconfig.ts';
import type { DoctorProbes, Link, NodeObservation } from './node-observe.ts';
import { diffRoutes, formatRoute, planBackendRoutes, type Route } from './routes.ts';
import { shellQuote } from './runner.ts';
import { parseSubnetEnv, type SubnetEnv } from './subnet-env.ts';

export type FindingKind = 'problem' | 'unexamined';

export interface Finding {
  /** stable id, e.g. `config.written-v3` (the list is in this file's header) */
  readonly id: string;
  /** 'unexamined': something could not be looked at, and nothing says why */
  readonly kind: FindingKind;
  /** what is wrong, one line */
  readonly what: string;
  /** the route, rule, key or log line that shows it */
  readonly evidence: readonly string[];
  readonly cause: string;
  /** one shell line that fixes it */
  readonly fix: string;
  /** what to do after, or instead, when the fix alone is not the whole story */
  readonly then?: string;
  /** the drift check ids this finding explains */
  readonly checks: readonly string[];
}

/** How the operator runs the toolkit on this node, so a fix is a line to paste. */
export interface Invocation {
  /** the toolkit's scripts directory, e.g. /opt/flannel-runbook/scripts (or its dist/ bundle) */
  readonly scriptsDir: string;
  /** the scripts' extension there: `.ts` (default), `.mjs` in the dist/ bundle */
  readonly ext?: string;
  /** flags that make a per-node script act as this node (`--cluster F --node N [--root R]`, or the node flags) */
  readonly nodeArgs: readonly string[];
  /** flags that make etcd-config act on this cluster (`--cluster F [--root R]`, or endpoints, network, backend) */
  readonly clusterArgs: readonly string[];
  /** where scripts/certs.ts copies the certificates from */
  readonly certsFrom: string;
}

export interface ClusterPeer {
  readonly name: string;
  readonly publicIp: Ip4;
  readonly subnet: Ip4Net;
  readonly program?: string;
}

export interface DoctorContext {
  readonly expect: NodeExpectation;
  readonly flannelVersion: string;
  /** the connection the probe used: endpoints and the TLS files, as paths on this host */
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly cafile?: string;
    readonly certfile?: string;
    readonly keyfile?: string;
  };
  readonly healthzPort: number;
  /** every node of the cluster file (to name the owner of a subnet); empty without one */
  readonly peers: readonly ClusterPeer[];
  readonly run: Invocation;
}

// ------------------------------------------------------------------ commands

export const shellLine = (argv: readonly string[]): string => argv.map(shellQuote).join(' ');

/** `base` with every flag that `extra` gives removed (with its value), then `extra`. */
export function mergeArgs(base: readonly string[], extra: readonly string[]): string[] {
  const given = new Set(extra.filter((w) => w.startsWith('--')));
  const out: string[] = [];
  for (let i = 0; i < base.length; i++) {
    const w = base[i]!;
    if (w.startsWith('--') && given.has(w)) {
      if (base[i + 1] !== undefined && !base[i + 1]!.startsWith('--')) i++;
      continue;
    }
    out.push(w);
  }
  return [...out, ...extra];
}

/** A toolkit script invocation for this node (or, scope 'cluster', for etcd-config). */
export function toolkitCommand(
  run: Invocation,
  script: string,
  extra: readonly string[] = [],
  scope: 'node' | 'cluster' = 'node',
): string {
  return shellLine([
    join(run.scriptsDir, `${script}${run.ext ?? '.ts'}`),
    ...mergeArgs(scope === 'node' ? run.nodeArgs : run.clusterArgs, extra),
  ]);
}

/** Delete one lease key through the API flannel reads (curl for v2, etcdctl for v3); file paths only. */
export function deleteKeyCommand(ctx: Pick<DoctorContext, 'etcd'>, api: EtcdApi, key: string): string {
  const c = ctx.etcd;
  if (api === 'v2') {
    const argv = ['curl', '-sS', '--fail-with-body'];
    if (c.cafile) argv.push('--cacert', c.cafile);
    if (c.certfile) argv.push('--cert', c.certfile);
    if (c.keyfile) argv.push('--key', c.keyfile);
    return shellLine([...argv, '-X', 'DELETE', `${c.endpoints[0]}/v2/keys${key}`]);
  }
  const argv = ['etcdctl', `--endpoints=${c.endpoints.join(',')}`];
  if (c.cafile) argv.push(`--cacert=${c.cafile}`);
  if (c.certfile) argv.push(`--cert=${c.certfile}`);
  if (c.keyfile) argv.push(`--key=${c.keyfile}`);
  return shellLine([...argv, 'del', key]);
}

const supervisorctl = (e: NodeExpectation, verb: string) =>
  shellLine(['supervisorctl', '-c', e.paths.supervisorConf, verb, e.program]);

// ------------------------------------------------------------------ flanneld's log

/** A new flanneld run starts with one of these (v0.11: interface lines; v0.20: CLI flags). */
const START =
  /\] (Using interface with name|Determining IP address of default interface|Searching for interface using|CLI flags config|Could not find valid interface matching)/;
/** flanneld got through to etcd after an error: the error is over. */
const SUCCESS =
  /\] (Found network config|Lease renewed|Wrote subnet file|Subnet added|Subnet removed|Found lease|Allocated lease|Found previously leased subnet)/;
/** errors flanneld repeats every second while they last */
const REPEATING = new Set([
  'config-v2-missing',
  'config-v3-missing',
  'etcd-v2-disabled',
  'tls-unknown-ca',
  'tls-bad-certificate',
  'tls-scheme',
  'etcd-unreachable',
]);
/** errors that end the run */
const FATAL = new Set(['iface-missing', 'healthz-port-busy', 'lease-revoked', 'hostgw-nat', 'panic']);
const TAKEOVER = /Found lease \((\S+)\) matching previously leased subnet, reusing/;
const ROUTE_ERROR = /Error adding route to (\S+)/;

export interface FlanneldLogState {
  /** the lines of flanneld's last run */
  readonly lines: readonly LogLine[];
  /** known errors still going on: repeating ones seen lately with no success after, fatal ones of this run */
  readonly current: ReadonlyMap<string, { readonly line: LogLine; readonly known: KnownLogError }>;
  /** `Error adding route to SUBNET ...` in this run */
  readonly routeErrors: readonly { readonly subnet: string; readonly line: LogLine }[];
  /** `Found lease (SUBNET) matching previously leased subnet, reusing`: this flanneld took a live lease over */
  readonly takeovers: readonly { readonly subnet: string; readonly line: LogLine }[];
}

/** glog's `I1126 12:18:29.817824` in local time, in the year that puts it closest before `now`. */
export function glogTime(raw: string, now: Date): Date | undefined {
  const m = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,6})/.exec(raw);
  if (!m) return undefined;
  const [mo, d, h, mi, s, frac] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const at = (y: number) => new Date(y, mo - 1, d, h, mi, s, Math.floor(frac / 10 ** (m[6]!.length - 3)));
  const t = at(now.getFullYear());
  return t.getTime() - now.getTime() > 86_400_000 ? at(now.getFullYear() - 1) : t;
}

/** What flanneld's log says now: only its last run counts, and only errors that still go on. */
export function analyseFlanneldLog(text: string, now: Date, freshSeconds = 60): FlanneldLogState {
  const all = text.split('\n').filter((l) => l.trim() !== '');
  let start = 0;
  all.forEach((raw, i) => {
    if (START.test(raw)) start = i;
  });
  const lines = all.slice(start).map(parseLogLine);
  const current = new Map<string, { line: LogLine; known: KnownLogError }>();
  const routeErrors: { subnet: string; line: LogLine }[] = [];
  const takeovers: { subnet: string; line: LogLine }[] = [];
  let lastSuccess = -1;
  const seenAt = new Map<string, number>();
  lines.forEach((line, i) => {
    if (SUCCESS.test(line.raw)) lastSuccess = i;
    const tk = TAKEOVER.exec(line.message);
    if (tk) takeovers.push({ subnet: tk[1]!, line });
    const known = KNOWN_LOG_ERRORS.find((k) => k.pattern.test(line.message) || k.pattern.test(line.raw));
    if (!known) return;
    if (known.id === 'route-unreachable') {
      const r = ROUTE_ERROR.exec(line.message);
      if (r) routeErrors.push({ subnet: r[1]!, line });
    } else if (REPEATING.has(known.id)) {
      const t = glogTime(line.raw, now);
      current.delete(known.id);
      if (t === undefined || (now.getTime() - t.getTime()) / 1000 <= freshSeconds)
        current.set(known.id, { line, known });
      seenAt.set(known.id, i);
    } else if (FATAL.has(known.id)) {
      current.set(known.id, { line, known });
    }
  });
  // a repeating error followed by a success is over
  for (const id of current.keys()) if (REPEATING.has(id) && lastSuccess > seenAt.get(id)!) current.delete(id);
  return { lines, current, routeErrors, takeovers };
}

// ------------------------------------------------------------------ the rules

const ETCD_FINDING: Record<string, string> = {
  'v2-disabled': 'etcd.v2-disabled',
  'tls-ca': 'etcd.tls-ca',
  'tls-client-cert': 'etcd.tls-client-cert',
  'tls-scheme': 'etcd.tls-scheme',
  'tls-other': 'etcd.tls-other',
  'tls-files': 'etcd.tls-other',
};
/** flanneld's own etcd errors in its log, as the finding they are */
const LOG_ETCD_FINDING: Record<string, string> = {
  'etcd-v2-disabled': 'etcd.v2-disabled',
  'tls-unknown-ca': 'etcd.tls-ca',
  'tls-bad-certificate': 'etcd.tls-client-cert',
  'tls-scheme': 'etcd.tls-scheme',
  'etcd-unreachable': 'etcd.unreachable',
};

function parseEnv(text: string | undefined): SubnetEnv | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSubnetEnv(text);
  } catch {
    return undefined;
  }
}

const leaseLine = (l: Lease) =>
  `${l.key} -> PublicIP ${l.publicIp}${l.backendType ? ` (${l.backendType})` : ''}${l.ttl !== undefined ? `, ttl ${l.ttl}s` : ''}`;
const flip = (ep: string) =>
  ep.startsWith('http://') ? ep.replace(/^http:/, 'https:') : ep.replace(/^https:/, 'http:');

/** Every finding, most fundamental first (etcd, config, leases, routes, rules, host, flanneld). */
export function diagnose(ctx: DoctorContext, o: NodeObservation, checks: readonly Check[], p: DoctorProbes): Finding[] {
  const e = ctx.expect;
  const out: Finding[] = [];
  const add = (f: Omit<Finding, 'kind'> & { kind?: FindingKind }) =>
    out.push({
      id: f.id,
      kind: f.kind ?? 'problem',
      what: f.what,
      evidence: f.evidence,
      cause: f.cause,
      fix: f.fix,
      ...(f.then !== undefined && { then: f.then }),
      checks: f.checks,
    });
  const checkOf = (id: string) => checks.find((c) => c.id === id);
  const wrong = (id: string) => {
    const c = checkOf(id);
    return c && c.status !== 'ok' ? c : undefined;
  };
  const T = (script: string, extra: readonly string[] = [], scope: 'node' | 'cluster' = 'node') =>
    toolkitCommand(ctx.run, script, extra, scope);
  const log = p.log.ok ? analyseFlanneldLog(p.log.value, o.at) : undefined;
  const logLine = (id: string) => log?.current.get(id)?.line.raw;
  const logEvidence = (...ids: string[]) =>
    ids
      .map(logLine)
      .filter((l): l is string => l !== undefined)
      .map((l) => `${p.logFile}: ${l}`);
  const etcd = o.etcd.ok ? o.etcd.value : undefined;
  const leases = etcd?.leases ?? [];
  const mine = leases.filter((l) => l.publicIp.equals(e.publicIp));
  const env = parseEnv(o.files.subnetEnv);
  const envLine = env ? [`${e.paths.subnetEnv}: FLANNEL_SUBNET=${env.subnet} FLANNEL_MTU=${env.mtu}`] : [];
  const ifaces = o.ifaces.ok ? o.ifaces.value : undefined;
  const dev = ifaces ? findInterface(ifaces, e.iface) : undefined;
  const sup = o.supervisor.ok ? o.supervisor.value : undefined;
  const flanneldUp = sup?.state === 'RUNNING' || sup?.state === 'STARTING';
  let config: NetworkConfig | undefined;
  try {
    config = etcd?.config !== undefined ? parseNetworkConfig(etcd.config) : undefined;
  } catch {
    config = undefined;
  }
  const certFix = T('certs', ['--from', ctx.run.certsFrom]);
  const restartThen = `then restart flanneld so it reads them again: ${supervisorctl(e, 'restart')}`;
  const certsChain = wrong('certs.chain');

  // ---- etcd, as this probe reaches it with the node's own files
  if (!o.etcd.ok) {
    const kind = o.etcd.kind ?? 'unreachable';
    const id = ETCD_FINDING[kind] ?? 'etcd.unreachable';
    const covers = [
      'etcd.reachable',
      ...checks.filter((c) => c.status === 'error' && /etcd did not answer/.test(c.reason)).map((c) => c.id),
    ];
    const probe = `probe: ${o.etcd.error}`;
    // flanneld.sh naming other etcd flags than this probe used: flanneld may be fine, these flags are what fails
    const flagsCheck = wrong('flanneld.flags');
    const etcdOnly =
      flagsCheck &&
      /differ: /.test(flagsCheck.reason) &&
      flagsCheck.reason
        .split('differ: ')[1]!
        .split('; ')
        .every((d) => d.startsWith('--etcd-'));
    if (etcdOnly && kind !== 'unreachable' && kind !== 'timeout') covers.push('flanneld.flags');
    const flagsNote = etcdOnly
      ? ` (flanneld.sh names other etcd flags than this probe used: ${flagsCheck.reason.split('differ: ')[1]}; if flanneld's log shows no TLS error, only the flags given here are wrong)`
      : '';
    const eps = ctx.etcd.endpoints.join(',');
    if (id === 'etcd.v2-disabled') {
      const other =
        p.otherKeySpace?.ok && p.otherKeySpace.value.config !== undefined
          ? [`v3 ${e.prefix}/config = ${p.otherKeySpace.value.config}`]
          : [];
      add({
        id,
        what: `etcd answers the v2 keys API with a plain-text 404: its v2 API is off, and flannel ${ctx.flannelVersion} speaks only v2`,
        evidence: [probe, ...other, ...logEvidence('etcd-v2-disabled')],
        cause:
          'etcd 3.4 and 3.5 serve the v2 API only with --enable-v2=true (3.5 is the last release that has it); flanneld logs `client: response is invalid json` every second and never gets a config or a lease',
        fix: "grep -qx 'ETCD_ENABLE_V2=true' /etc/default/etcd || echo 'ETCD_ENABLE_V2=true' >> /etc/default/etcd; systemctl restart etcd",
        then: `on every etcd member, one at a time; where etcd runs from a startup script (supervisord's etcd-server-7-12), add --enable-v2=true to its command line and restart that program instead. Or move to flannel >= v0.18 (etcd v3): ${T('etcd-config', ['--migrate', 'v2-to-v3'], 'cluster')} after installing it${flagsNote}`,
        checks: covers,
      });
    } else if (id === 'etcd.tls-ca') {
      add({
        id,
        what: `etcd's server certificate is not signed by the CA in ${ctx.etcd.cafile ?? '(no --cafile)'}: ca.pem is the wrong file`,
        evidence: [
          probe,
          ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : []),
          ...logEvidence('tls-unknown-ca'),
        ],
        cause:
          "ca.pem is not the CA that signed the etcd members' certificates (copied from another cluster, or a certificate copied in its place); flanneld with it logs `x509: certificate signed by unknown authority`",
        fix: certFix,
        then: restartThen + flagsNote,
        checks: [...covers, ...(certsChain ? ['certs.chain'] : [])],
      });
    } else if (id === 'etcd.tls-client-cert') {
      add({
        id,
        what: `etcd refused the client certificate ${ctx.etcd.certfile ?? '(none given)'} (key ${ctx.etcd.keyfile ?? '(none)'}): client.pem/client-key.pem are the wrong files`,
        evidence: [
          probe,
          ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : []),
          ...logEvidence('tls-bad-certificate'),
        ],
        cause:
          'client.pem is not signed by the CA etcd trusts (--trusted-ca-file), is not for client auth, or no certificate was sent (the runbook never copies client-key.pem); flanneld with it logs `remote error: tls: bad certificate`',
        fix: certFix,
        then: restartThen + flagsNote,
        checks: [...covers, ...(certsChain ? ['certs.chain'] : [])],
      });
    } else if (id === 'etcd.tls-scheme') {
      const fixed = ctx.etcd.endpoints.map(flip);
      add({
        id,
        what: `the etcd endpoints' scheme does not match the port: ${eps}`,
        evidence: [probe, ...logEvidence('tls-scheme')],
        cause: ctx.etcd.endpoints.some((x) => x.startsWith('http://'))
          ? 'http:// to a port that speaks TLS (etcd here serves https with client certificates): the server drops the connection, which flanneld logs as `error #0: EOF`'
          : 'https:// to a port that speaks plain HTTP',
        fix: T('start', ['--endpoints', fixed.join(',')]),
        then: `put the same endpoints in the cluster file (etcd.endpoints: ${JSON.stringify(fixed)}) so every script uses them${flagsNote}`,
        checks: covers,
      });
    } else if (id === 'etcd.tls-other') {
      add({
        id,
        what: `TLS to etcd fails before any answer: ${o.etcd.error}`,
        evidence: [probe, ...(certsChain ? [`certs.chain: ${certsChain.reason}`] : [])],
        cause: `the TLS files cannot be used: unreadable, not PEM, or ${ctx.etcd.certfile ?? 'client.pem'} and ${ctx.etcd.keyfile ?? 'client-key.pem'} are not a pair`,
        fix: certFix,
        then: restartThen + flagsNote,
        checks: [...covers, ...(certsChain ? ['certs.chain'] : [])],
      });
    } else {
      add({
        id: 'etcd.unreachable',
        kind: 'unexamined',
        what: `etcd did not answer: nothing could be compared with the leases (${o.etcd.error})`,
        evidence: [probe, ...logEvidence('etcd-unreachable')],
        cause:
          'etcd is down, the endpoints are wrong, or a firewall drops tcp/2379; flanneld keeps its routes meanwhile, but no lease can be renewed or learnt',
        fix: shellLine([
          'etcdctl',
          `--endpoints=${eps}`,
          ...(ctx.etcd.cafile
            ? [`--cacert=${ctx.etcd.cafile}`, `--cert=${ctx.etcd.certfile}`, `--key=${ctx.etcd.keyfile}`]
            : []),
          'endpoint',
          'health',
        ]),
        then: 'start the members that are not healthy (supervisorctl start etcd-server-...), then run doctor again',
        checks: covers,
      });
    }
  } else {
    // the probe gets through: flanneld's own etcd errors mean flanneld.sh names other endpoints or files
    const flags = wrong('flanneld.flags');
    for (const [logId, id] of Object.entries(LOG_ETCD_FINDING)) {
      const cur = log?.current.get(logId);
      if (!cur) continue;
      add({
        id,
        what: `flanneld cannot use etcd: ${cur.known.meaning}`,
        evidence: [
          `${p.logFile}: ${cur.line.raw}`,
          ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
          `probe with ${ctx.etcd.endpoints.join(',')} and the node's certificates: etcd answered`,
        ],
        cause:
          "this probe gets through with the node's endpoints and certificates, so flanneld.sh names other endpoints or files than these (see flanneld.flags)",
        fix: T('start'),
        then: 'start rewrites flanneld.sh with the expected flags and restarts flanneld',
        checks: flags ? ['flanneld.flags'] : [],
      });
    }
  }

  // ---- the network config, in the key space flannel reads
  if (etcd && etcd.config === undefined) {
    const other = p.otherKeySpace;
    const otherApi: EtcdApi = e.api === 'v2' ? 'v3' : 'v2';
    const inOther = other?.ok && other.value.config !== undefined ? other.value.config : undefined;
    const absent = `${e.api} ${e.prefix}/config: not found (the key space flannel ${ctx.flannelVersion} reads)`;
    if (inOther !== undefined && e.api === 'v2') {
      add({
        id: 'config.written-v3',
        what: `the network config is in etcd's v3 key space, but flannel ${ctx.flannelVersion} reads only v2`,
        evidence: [`v3 ${e.prefix}/config = ${inOther}`, absent, ...logEvidence('config-v2-missing')],
        cause:
          "it was written with the v3 API (`etcdctl put`; ETCDCTL_API=3 is etcdctl's default since etcd 3.4); the two key spaces are separate, so flanneld logs `Couldn't fetch network config: 100: Key not found` every second and never takes a lease",
        fix: T('etcd-config', ['--etcd-api', 'v2'], 'cluster'),
        then: `flanneld picks it up within a second; the v3 copy can go: ETCDCTL_API=3 etcdctl del ${e.prefix}/config`,
        checks: ['etcd.config'],
      });
    } else if (inOther !== undefined) {
      add({
        id: 'config.written-v2',
        what: `the network config is in etcd's v2 key space, but flannel ${ctx.flannelVersion} reads only v3`,
        evidence: [`v2 ${e.prefix}/config = ${inOther}`, absent, ...logEvidence('config-v3-missing')],
        cause:
          "it was written with the v2 API (`etcdctl set`, the runbook's command); flannel v0.18 and later read only v3 and log `flannel config not found in etcd store. Did you create your config using etcdv3 API?`",
        fix: T('etcd-config', ['--migrate', 'v2-to-v3'], 'cluster'),
        checks: ['etcd.config'],
      });
    } else {
      add({
        id: 'config.missing',
        what: `no network config at ${e.prefix}/config in either etcd key space`,
        evidence: [
          absent,
          other
            ? other.ok
              ? `${otherApi} ${e.prefix}/config: not found either`
              : `${otherApi}: not probed (${other.error})`
            : `${otherApi}: not probed`,
          ...logEvidence('config-v2-missing', 'config-v3-missing'),
        ],
        cause:
          'runbook step 3 (etcd-config) was never run against this etcd, or the config was deleted; flanneld waits for it forever (healthz answers meanwhile)',
        fix: T('etcd-config', [], 'cluster'),
        checks: ['etcd.config'],
      });
    }
  }
  const noConfig = checks
    .filter((c) => c.status !== 'ok' && c.id !== 'etcd.config' && /no (usable )?network config/.test(c.reason))
    .map((c) => c.id);
  const configFinding = out.findIndex((f) => f.id.startsWith('config.'));
  if (configFinding >= 0)
    out[configFinding] = { ...out[configFinding]!, checks: [...out[configFinding]!.checks, ...noConfig] };
  const configFix = out[configFinding]?.fix;
  // flanneld's own etcd trouble (its log) is why it has no lease: that finding's fix is this one's
  const etcdFix = out.find((f) => f.id.startsWith('etcd.'))?.fix;

  // ---- healthz answers, but no lease
  if (
    etcd &&
    mine.length === 0 &&
    o.healthz.ok &&
    o.healthz.value.status === 200 &&
    !leases.some((l) => l.subnet.equals(e.subnet))
  ) {
    const logged = [...(log?.current.values() ?? [])];
    add({
      id: 'flanneld.no-lease',
      what: `flanneld answers healthz on :${ctx.healthzPort}, but no lease in etcd has PublicIP ${e.publicIp}`,
      evidence: [
        `GET http://127.0.0.1:${ctx.healthzPort}/healthz -> ${o.healthz.value.status} "${o.healthz.value.body}"`,
        `${leases.length} leases under ${e.prefix}/subnets, none for ${e.publicIp}${leases.length ? `: ${leases.map((l) => `${l.subnet} -> ${l.publicIp}`).join(', ')}` : ''}`,
        ...logged.map((x) => `${p.logFile}: ${x.line.raw}`),
      ],
      cause: configFix
        ? 'flanneld is waiting for the network config (healthz answers before flanneld has a config or a lease: it proves only that the process runs)'
        : logged.length
          ? `${logged[0]!.known.meaning} (healthz answers regardless)`
          : 'flanneld has not got a lease (its lease was deleted while it hung, or it cannot write to etcd); healthz proves only that the process runs',
      fix: configFix ?? etcdFix ?? supervisorctl(e, 'restart'),
      ...(configFix && { then: 'flanneld takes its lease within a second of the config appearing' }),
      checks: ['lease.own', 'lease.ttl', 'subnet-env.lease'],
    });
  }

  // ---- a lease taken over (subnet.env copied between hosts)
  if (etcd) {
    const owner = (s: Ip4Net) => ctx.peers.find((n) => n.subnet.equals(s) && !n.publicIp.equals(e.publicIp));
    const byIp = (ip: Ip4) => ctx.peers.find((n) => n.publicIp.equals(ip));
    const taken = mine.find(
      (l) =>
        !l.subnet.equals(e.subnet) && (owner(l.subnet) || log?.takeovers.some((t) => t.subnet === l.subnet.toString())),
    );
    const stolen = leases.find((l) => l.subnet.equals(e.subnet) && !l.publicIp.equals(e.publicIp));
    const envSubnet = env?.subnet.network();
    const pending =
      envSubnet && !envSubnet.equals(e.subnet)
        ? leases.find((l) => l.subnet.equals(envSubnet) && !l.publicIp.equals(e.publicIp))
        : undefined;
    if (taken) {
      const from = owner(taken.subnet);
      const tk = log?.takeovers.find((t) => t.subnet === taken.subnet.toString());
      add({
        id: 'lease.taken-over',
        what: `this node (${e.publicIp}) holds ${taken.subnet}${from ? `, the subnet of ${from.name} (${from.publicIp})` : ''}, not its own ${e.subnet}: it took that node's lease over`,
        evidence: [leaseLine(taken), ...envLine, ...(tk ? [`${p.logFile}: ${tk.line.raw}`] : [])],
        cause: `subnet.env was copied from ${from?.name ?? 'another host'} (FLANNEL_SUBNET=${taken.subnet.gatewayForm()}) while this node had no lease of its own: flanneld v0.11 reuses FLANNEL_SUBNET even when another node holds it, and takes that live lease over silently`,
        fix: [supervisorctl(e, 'stop'), deleteKeyCommand(ctx, e.api, taken.key), T('start')].join(' && '),
        then: `stop, free the lease, then start with this node's own subnet.env (start checks that ${e.subnet} is free); ${from?.name ?? 'the owner'} then takes ${taken.subnet} back when its flanneld restarts (supervisorctl restart ${from?.program ?? 'PROGRAM'} there)`,
        checks: ['lease.own', 'lease.ttl', 'lease.duplicate-ip', 'subnet-env.lease'],
      });
    } else if (stolen) {
      const by = byIp(stolen.publicIp);
      add({
        id: 'lease.taken-over',
        what: `this node's subnet ${e.subnet} is leased to ${stolen.publicIp}${by ? ` (${by.name})` : ''}: that node took this node's lease over`,
        evidence: [leaseLine(stolen), ...envLine],
        cause: `${by?.name ?? stolen.publicIp}'s subnet.env was copied from this host (FLANNEL_SUBNET=${e.subnet.gatewayForm()}) and its flanneld started without a lease of its own: flanneld v0.11 then takes the named subnet's live lease over`,
        fix: supervisorctl(e, 'restart'),
        then: `first run scripts/doctor.ts on ${by?.name ?? stolen.publicIp}: its fix stops its flanneld and frees the lease. Restarting this node's flanneld before that makes the two fight over ${e.subnet}`,
        checks: ['lease.subnet-taken', 'lease.own', 'lease.ttl', 'subnet-env.lease'],
      });
    } else if (pending) {
      const by = byIp(pending.publicIp);
      add({
        id: 'lease.taken-over',
        what: `subnet.env names ${pending.subnet}, which is leased to ${pending.publicIp}${by ? ` (${by.name})` : ''}, not this node's ${e.subnet}`,
        evidence: [...envLine, leaseLine(pending)],
        cause: `subnet.env was copied from ${by?.name ?? 'another host'}: the next time flanneld starts without a lease of its own it takes that live lease over`,
        fix: T('start'),
        then: "start rewrites subnet.env for this node's own subnet and restarts flanneld",
        checks: ['subnet-env.lease'],
      });
    }
  }

  // ---- routes: peers host-gw cannot reach, vxlan routes nobody restores
  const explainedRoutes = new Set<string>();
  if (etcd && config && o.routes.ok && dev) {
    const sameL2 = (ip: Ip4) => dev.addrs.some((a) => a.contains(ip));
    let diff: ReturnType<typeof diffRoutes> | undefined;
    try {
      diff = diffRoutes(
        planBackendRoutes(config.backend, leases, { publicIp: e.publicIp, iface: e.iface }, sameL2),
        o.routes.value,
        config.network,
        { ownSubnet: e.subnet },
      );
    } catch {
      diff = undefined;
    }
    const missing: Route[] = diff ? [...diff.add, ...diff.replace.map((c) => c.to)] : [];
    const routeFindings: Finding[] = [];
    if (config.backend.type === 'host-gw') {
      const peers = leases.filter(
        (l) => !l.publicIp.equals(e.publicIp) && (l.backendType === '' || l.backendType.toLowerCase() === 'host-gw'),
      );
      const errs = (l: Lease) => log?.routeErrors.filter((r) => r.subnet === l.subnet.network().toString()) ?? [];
      const far = peers.filter((l) => !sameL2(l.publicIp) || errs(l).length > 0);
      if (far.length) {
        for (const l of far) explainedRoutes.add(l.subnet.network().toString());
        routeFindings.push({
          id: 'routes.peer-not-l2',
          kind: 'problem',
          what: `host-gw cannot route to ${far.map((l) => `${l.subnet} via ${l.publicIp}`).join(', ')}: not on ${e.iface}'s L2 segment (${dev.addrs.join(', ') || 'no address'})`,
          evidence: [
            ...far.map(leaseLine),
            ...missing
              .filter((r) => far.some((l) => l.subnet.network().equals(r.dst)))
              .map((r) => `missing route: ${formatRoute(r)}`),
            ...far.flatMap((l) =>
              errs(l)
                .slice(-1)
                .map((x) => `${p.logFile}: ${x.line.raw}`),
            ),
          ],
          cause:
            "host-gw installs `SUBNET via PUBLICIP dev IFACE`, which needs PUBLICIP to be an on-link neighbour; the kernel refuses a next hop outside the interface's subnets (`network is unreachable`), so pods behind that node are unreachable from here",
          fix: T('etcd-config', ['--backend', 'vxlan', '--direct-routing', '--force'], 'cluster'),
          then: 'put the same Backend in the cluster file ({"Type": "vxlan", "DirectRouting": true}) and restart flanneld on every node (supervisorctl restart PROGRAM): peers on this segment keep direct routes, the others go through flannel.1 (MTU 1450). If the peer\'s address is what is wrong, fix its --public-ip instead',
          checks: [],
        });
      }
    } else if (config.backend.type === 'vxlan') {
      // the neighbour and fdb entries are written once too, and never restored either
      const entries = ['vxlan.neighbours', 'vxlan.fdb'].map(wrong).filter((c): c is Check => c?.status === 'drift');
      if (missing.length || entries.length) {
        for (const r of missing) explainedRoutes.add(r.dst.toString());
        const gone = [...missing.map((r) => formatRoute(r)), ...entries.map((c) => c.id.replace('vxlan.', ''))];
        routeFindings.push({
          id: 'routes.vxlan-deleted',
          kind: 'problem',
          what: `the vxlan backend's ${missing.length ? `route(s) ${missing.map((r) => formatRoute(r)).join('; ')}` : 'entries'}${entries.length ? `${missing.length ? ' and ' : ' '}${entries.map((c) => c.id.replace('vxlan.', '')).join(', ')}` : ''} are missing, and flanneld will not put them back`,
          evidence: [
            ...missing.map((r) => `missing route: ${formatRoute(r)}`),
            ...entries.map((c) => `${c.id}: ${c.reason}`),
            ...leases.filter((l) => missing.some((r) => r.dst.equals(l.subnet.network()))).map(leaseLine),
          ],
          cause: `flanneld's vxlan backend adds a peer's route, PERMANENT neighbour and fdb entry once, when its lease appears, and has no check that restores them (host-gw re-adds a missing route within 10 s, vxlan never): ${gone.length > 1 ? 'they were' : 'it was'} deleted by hand or by a network restart and stay${gone.length > 1 ? '' : 's'} deleted until flanneld restarts`,
          fix: T('drift', ['--fix']),
          then: `or restart flanneld, which adds everything again: ${supervisorctl(e, 'restart')}`,
          checks: entries.map((c) => c.id),
        });
      }
    }
    // routes.peers is explained when every missing or wrong route is one of these
    const all = missing.length > 0 && missing.every((r) => explainedRoutes.has(r.dst.toString()));
    for (const f of routeFindings) out.push(all ? { ...f, checks: [...f.checks, 'routes.peers'] } : f);
  }

  // ---- iptables
  const masq = wrong('iptables.docker-masq');
  if (masq && masq.status === 'drift') {
    add({
      id: 'iptables.docker-masq',
      what: "Docker's blanket MASQUERADE rule is back in nat POSTROUTING",
      evidence: [...(masq.evidence ?? []), masq.reason],
      cause: `dockerd (--ip-masq=true, the default) inserts it at the top of POSTROUTING every time it starts: dockerd was restarted after the snat fix, so pods on other nodes see ${e.publicIp} instead of the pod's own address`,
      fix: T('snat-fix'),
      then: "snat-fix replaces it with the runbook's rule in one iptables-restore and persists the rules; it comes back with every dockerd restart (drift --fix from cron mends it)",
      checks: ['iptables.docker-masq', 'iptables.snat', 'iptables.persisted'],
    });
  }
  const fwd = wrong('iptables.forward');
  if (fwd && fwd.status === 'drift' && o.ruleset.ok) {
    const chain = o.ruleset.value.tables.find((t) => t.name === 'filter')?.chains.find((c) => c.name === 'FORWARD');
    const absentRules = flannelForwardRules(e.network).filter(
      (r) => countRule(o.ruleset.ok ? o.ruleset.value : { tables: [] }, r) === 0,
    );
    if (chain && chain.policy !== 'ACCEPT' && absentRules.length) {
      add({
        id: 'iptables.forward-drop',
        what: `the FORWARD policy is ${chain.policy} and flannel's ACCEPT rules for ${e.network} are missing: pod traffic between nodes is dropped here`,
        evidence: [`:FORWARD ${chain.policy}`, ...absentRules.map((r) => `missing: ${formatRule(r)}`), fwd.reason],
        cause: `Docker >= 1.13 sets the FORWARD policy to DROP; flanneld appends the two ACCEPT rules (--iptables-forward-rules) and re-adds them every 5 s while it runs, so they are gone because ${flanneldUp ? 'flanneld runs with --iptables-forward-rules=false, or something deletes them' : `flanneld is ${sup?.state ?? 'not running'} and the rules were deleted or flushed`}`,
        fix: T('drift', ['--fix']),
        then: 'drift --fix inserts both rules in one iptables-restore, persists them and starts a stopped flanneld',
        checks: ['iptables.forward', 'iptables.persisted'],
      });
    }
  }

  // ---- the host
  const fw = wrong('sysctl.ip-forward');
  if (fw && fw.status === 'drift') {
    add({
      id: 'sysctl.ip-forward-off',
      what: `net.ipv4.ip_forward = ${o.files.ipForward}: this node routes no pod traffic, in or out`,
      evidence: [`/proc/sys/net/ipv4/ip_forward: ${o.files.ipForward}`],
      cause:
        'ip_forward is per network namespace and off by default; dockerd turns it on when it starts, flanneld v0.11 never does: a reboot without a sysctl.d entry, or `sysctl -w` by hand, leaves it off',
      fix: 'sysctl -w net.ipv4.ip_forward=1',
      then: "make it last: echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-flannel.conf",
      checks: ['sysctl.ip-forward'],
    });
  }
  const bip = wrong('docker0.bip');
  const bridge = ifaces ? findInterface(ifaces, e.bridge) : undefined;
  if (bip && bip.status === 'drift' && bridge) {
    const want = e.subnet.gatewayForm();
    const own = mine.find((l) => l.subnet.equals(e.subnet));
    add({
      id: 'docker0.bip-mismatch',
      what: `${e.bridge} has ${bridge.addrs.join(', ') || 'no IPv4 address'}, not ${want} (this node's lease ${e.subnet})`,
      evidence: [
        `${e.bridge}: ${bridge.addrs.join(', ') || 'no IPv4 address'}`,
        ...(own ? [leaseLine(own)] : []),
        ...envLine,
      ],
      cause:
        "dockerd's --bip is not FLANNEL_SUBNET (it started without the options mk-docker-opts.sh makes from subnet.env), or docker0 was readdressed: pods get addresses outside this node's lease, and the other nodes route the lease to a bridge that does not serve it",
      fix: `${shellLine(['ip', '-4', 'addr', 'flush', 'dev', e.bridge])} && ${shellLine(['ip', 'addr', 'add', want.toString(), 'dev', e.bridge])}`,
      then: `make it last: dockerd --bip=${want} --mtu=${env?.mtu ?? 1500} (/opt/flannel/mk-docker-opts.sh -d /run/docker_opts.env, then restart docker); pods started meanwhile need restarting`,
      checks: ['docker0.bip'],
    });
  }

  // ---- MTU: subnet.env against the backend, docker0, its ports and the pods
  if (env) {
    const links = p.links.ok ? p.links.value : [];
    const derived = config && dev ? backendMtu(config.backend, dev.mtu) : undefined;
    const target = derived ?? env.mtu;
    const evidence: string[] = [`${e.paths.subnetEnv}: FLANNEL_MTU=${env.mtu}`];
    const fixes: string[] = [];
    const problems: string[] = [];
    if (derived !== undefined && derived !== env.mtu) {
      problems.push(
        `FLANNEL_MTU=${env.mtu}, but ${config!.backend.type} on ${e.iface} (mtu ${dev!.mtu}) gives ${derived}`,
      );
      evidence.push(`${e.iface} mtu ${dev!.mtu} -> ${config!.backend.type} MTU ${derived}`);
      fixes.push(T('drift', ['--fix']));
    }
    const br = links.find((l) => l.name === e.bridge);
    if (br && br.mtu !== target) {
      problems.push(`${e.bridge} mtu ${br.mtu}`);
      evidence.push(`${e.bridge} mtu ${br.mtu}`);
      fixes.push(shellLine(['ip', 'link', 'set', 'dev', e.bridge, 'mtu', String(target)]));
    }
    for (const port of links.filter((l) => l.master === e.bridge && l.mtu !== target)) {
      problems.push(`${port.name} (port of ${e.bridge}) mtu ${port.mtu}`);
      evidence.push(`${port.name} (port of ${e.bridge}) mtu ${port.mtu}`);
      fixes.push(shellLine(['ip', 'link', 'set', 'dev', port.name, 'mtu', String(target)]));
    }
    for (const pod of p.pods) {
      const podLinks: Link[] = pod.links.ok ? pod.links.value.filter((l) => l.name !== 'lo') : [];
      for (const l of podLinks.filter((x) => x.mtu !== target)) {
        problems.push(`pod ${pod.netns} ${l.name} mtu ${l.mtu}`);
        evidence.push(`netns ${pod.netns}: ${l.name} mtu ${l.mtu}`);
        fixes.push(
          shellLine(['ip', 'netns', 'exec', pod.netns, 'ip', 'link', 'set', 'dev', l.name, 'mtu', String(target)]),
        );
      }
    }
    if (problems.length) {
      const subnetEnvCheck = wrong('subnet-env.lease');
      add({
        id: 'mtu.mismatch',
        what: `MTU mismatch: the pod network's MTU is ${target}, but ${problems.join('; ')}`,
        evidence,
        cause: `dockerd's --mtu must equal FLANNEL_MTU (mk-docker-opts.sh passes it), and pods inherit it: a larger MTU than the path's loses big packets (TCP stalls after the handshake, big pings are lost), a smaller one only wastes; the bridge or a pod was changed by hand, or dockerd started without --mtu`,
        fix: fixes.join(' && '),
        then: `make it last: dockerd --mtu=${target}; pods created before get their MTU only when they are recreated`,
        checks:
          subnetEnvCheck &&
          /FLANNEL_MTU/.test(subnetEnvCheck.reason) &&
          !/FLANNEL_(SUBNET|NETWORK)/.test(subnetEnvCheck.reason)
            ? ['subnet-env.lease']
            : [],
      });
    }
  }

  // ---- flanneld not running
  const running = wrong('flanneld.running');
  if (running && running.status === 'drift') {
    const fatal = [...(log?.current.values() ?? [])].filter((x) => FATAL.has(x.known.id));
    add({
      id: 'flanneld.stopped',
      what: sup
        ? `${e.program} is ${sup.state}${sup.detail ? ` (${sup.detail})` : ''}`
        : `supervisord does not know ${e.program}`,
      evidence: [
        running.reason,
        ...(o.healthz.ok ? [] : [`healthz: ${o.healthz.error}`]),
        ...fatal.map((x) => `${p.logFile}: ${x.line.raw}`),
      ],
      cause: fatal.length
        ? fatal.map((x) => x.known.meaning).join('; ')
        : sup
          ? 'stopped by hand (supervisorctl stop), or it gave up after startretries'
          : 'runbook step 4 (start) was never run on this node',
      fix: sup ? supervisorctl(e, 'start') : T('start'),
      ...(fatal.length && { then: fatal.map((x) => x.known.fix).join('; ') }),
      checks: ['flanneld.running', 'flanneld.healthz'],
    });
  }

  // ---- everything else drift saw, with the command that mends it
  const covered = new Set(out.flatMap((f) => f.checks));
  for (const c of checks) {
    if (c.status === 'ok' || covered.has(c.id)) continue;
    add({
      id: `drift.${c.id}`,
      kind: c.status === 'error' ? 'unexamined' : 'problem',
      what: c.status === 'error' ? `could not check ${c.id}: ${c.reason}` : c.reason,
      evidence: [...(c.evidence ?? [])],
      cause:
        c.status === 'error'
          ? 'the check could not be made; the line above says why'
          : (GENERIC_CAUSE[c.id] ?? `drift check ${c.id}: see its reason`),
      fix: genericFix(c, ctx, T, mine),
      checks: [c.id],
    });
  }
  return out;
}

/** The likely cause of a drift check no specific rule explained. */
const GENERIC_CAUSE: Record<string, string> = {
  'etcd.config': 'the config in etcd differs from the cluster file: written by hand, or the cluster file changed since',
  'lease.own':
    "this node's IP holds another subnet than the cluster file says: subnet.env was missing when flanneld started (it picked a random subnet), or an old lease of this IP was reused",
  'lease.ttl':
    'flanneld renews its lease an hour before expiry; less left means it is not renewing (stopped, hung, or its etcd writes fail)',
  'lease.duplicate-ip':
    "two leases carry this node's IP: an old one was left behind when the subnet changed, and peers may route either",
  'routes.peers':
    'flanneld (host-gw) re-adds a missing route within 10 s; one still missing or wrong means flanneld is not running, or its watch lost the lease event',
  'routes.stale': 'a lease expired or was deleted while flanneld was stopped, so nothing removed its route',
  'routes.own-subnet':
    "a route sends this node's own pod subnet away from docker0: added by hand, or left by a flanneld that held another subnet",
  'iptables.snat':
    "the runbook's SNAT rule is missing or duplicated: snat-fix was never run here, or older rules were reloaded",
  'iptables.reject': "iptables-services' REJECT catch-alls are back: its rules file was reloaded",
  'iptables.forward': "a rule in FORWARD rejects pod traffic before flannel's ACCEPT rules",
  'iptables.persisted':
    'the live rules changed since they were saved: a reboot or `systemctl restart iptables` would load the old ones',
  'subnet-env.lease':
    'subnet.env does not match the lease: edited by hand, copied from another host, or written for another network',
  'flanneld.flags':
    'flanneld.sh was edited by hand or written for other settings; flanneld reads its flags only when it starts',
  'flanneld.healthz':
    'supervisord says RUNNING but healthz does not answer 200: flanneld hangs, or --healthz-port differs',
  'vxlan.device':
    'flannel.<VNI> is missing or not as flanneld makes it (vxlan id, local address, dstport 8472, MTU iface-50, SUBNET.0/32): changed by hand, or flanneld never started its vxlan backend',
  'vxlan.neighbours':
    "flanneld's vxlan backend writes a peer's PERMANENT neighbour once, when the lease appears, and never restores it",
  'vxlan.fdb': "flanneld's vxlan backend writes a peer's fdb entry once, when the lease appears, and never restores it",
  'certs.chain':
    'the certificate set is not consistent: client.pem not signed by ca.pem, or client-key.pem not its key',
  'certs.expiry': 'the client certificate expires soon or has expired: etcd will refuse it',
  'certs.key-mode': 'client-key.pem is readable by other users than root',
};

/** The command for a drift check no specific rule explained. */
function genericFix(
  c: Check,
  ctx: DoctorContext,
  T: (script: string, extra?: readonly string[], scope?: 'node' | 'cluster') => string,
  mine: readonly Lease[],
): string {
  const e = ctx.expect;
  if (c.status === 'error') return T('drift');
  if (c.fix) return T('drift', ['--fix']);
  switch (c.id) {
    case 'etcd.config':
      return T('etcd-config', ['--force'], 'cluster');
    case 'lease.own':
    case 'lease.duplicate-ip': {
      const others = mine.filter((l) => !l.subnet.equals(e.subnet));
      return others.length
        ? [supervisorctl(e, 'stop'), ...others.map((l) => deleteKeyCommand(ctx, e.api, l.key)), T('start')].join(' && ')
        : supervisorctl(e, 'restart');
    }
    case 'lease.ttl':
    case 'flanneld.healthz':
      return supervisorctl(e, 'restart');
    case 'routes.own-subnet':
      return (
        (c.evidence ?? []).map((r) => shellLine(['ip', 'route', 'del', ...r.split(' ')])).join(' && ') ||
        T('drift', ['--fix'])
      );
    case 'iptables.snat':
      return T('snat-fix');
    case 'iptables.reject':
    case 'iptables.forward':
      return T('snat-fix', ['--drop-reject']);
    case 'flanneld.flags':
    case 'subnet-env.lease':
      return T('start');
    case 'certs.key-mode':
      return shellLine(['chmod', '600', ctx.etcd.keyfile ?? e.flanneld.keyfile ?? '/opt/flannel/cert/client-key.pem']);
    case 'certs.chain':
    case 'certs.expiry':
      return T('certs', ['--from', ctx.run.certsFrom]);
    default:
      return T('drift', ['--fix']);
  }
}

/** 0 nothing wrong, 1 findings, 3 only things that could not be examined. */
export function doctorExit(findings: readonly Finding[]): 0 | 1 | 3 {
  if (findings.some((f) => f.kind === 'problem')) return 1;
  if (findings.length) return 3;
  return 0;
}

/** The human report: one block per finding, the fix on a line of its own. */
export function formatDoctorReport(node: string, findings: readonly Finding[], checks: readonly Check[]): string {
  if (findings.length === 0) return `doctor ${node}: nothing wrong (${checks.length} checks ok)`;
  const head = `doctor ${node}: ${findings.length} finding${findings.length === 1 ? '' : 's'}`;
  const blocks = findings.map((f, i) =>
    [
      `[${i + 1}] ${f.id}${f.kind === 'unexamined' ? ' (could not examine)' : ''}: ${f.what}`,
      ...f.evidence.map((x, j) => `    ${j === 0 ? 'evidence:' : '         '} ${x}`),
      `    cause:    ${f.cause}`,
      `    fix:      ${f.fix}`,
      ...(f.then ? [`    then:     ${f.then}`] : []),
    ].join('\n'),
  );
  return [head, ...blocks].join('\n');
}
