// The lab: the runbook's cluster (docs/runbook.md: the lab the runbook was written on) built in
// network namespaces on this machine, with real etcd (3 members, TLS, client-cert auth, v2 on),
// a real sshd on the cert host, supervisord on every node and the release tarball served
// over HTTP. createLab() builds it from the plan in topology.ts; lab.destroy() (or
// destroyLab(prefix) from another process) removes every trace of it.
//
// Map:  topology.ts  the network as data (pure)      pki.ts     openssl CA + certs, ssh keys
//       netns.ts     ip netns / ip -batch             proc.ts    run, daemons, waits
//       state.ts     state file, destroyLab, cleanup  services.ts etcd, sshd, supervisord, servers
//       remote.ts    the remote mode: node sshds' mounts, the control host's ssh config
//       runbook-by-hand.ts  the runbook as written    verify.ts  routes, TTLs, source addresses
//       cli.ts       `npm run lab`
//
// Nothing is created in, or changed in, the root network namespace: the L2 segment's bridge
// has its own namespace and every veth is created with both ends already in their namespaces.
// Outside the labdir (<tmp>/<prefix>-lab) the lab writes only /etc/netns/<prefix>-*/ (removed
// at teardown) and creates /run/sshd if it is missing (sshd's privilege-separation dir; kept).
// The remote mode's mounts (remote.ts) are made inside its node sshds' own mount namespaces
// and end with those processes: nothing is mounted in any other mount namespace.
//
//   const lab = await createLab();            // ~1.5-4 s; after(() => lab.destroy())
//   await lab.exec(lab.nodes[0].netns, ['ip', '-j', 'route']);
//   await runbookByHand(lab);                 // (lab/runbook-by-hand.ts) or the toolkit's scripts with --root node.root
//
// Options for the backend and version work (the default lab is the runbook's, unchanged):
//   createLab({ segments: 2 })                // + hdss7-31 (10.5.7.31) behind a router: vxlan's case
//   createLab({ flannelVersion: 'v0.20.2' })  // the stand-in packed as v0.20.2 (etcd v3) and served
//   await lab.restartEtcd({ enableV2: false }) // every member again, v3 only (etcd 3.4's default)
//   createLab({ remote: true })               // + a control host namespace (10.4.7.10) and an sshd per
//                                             //   node without Node.js, with iproute2 4.11 (remote.ts):
//   const host = lab.remote!.sshHost(node);   //   an SshHost over it; `--ssh-config lab.remote!.sshConfig`

import { createHash, randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalid } from '../lib/core/errors.ts';
import { SshHost, type SshHostOptions } from '../lib/host/ssh.ts';
import { packFlannelTarball, STANDIN_VERSIONS, type StandinVersion } from './flanneld/pack.ts';
import { addNetns, execIn, ipBatch, listNetns } from './netns.ts';
import { makePki, makeSshKeys, type Pki, type SshKeys } from './pki.ts';
import { settleAll, stopDaemon, type RunResult } from './proc.ts';
import {
  authorizeIdentity,
  buildMaskLayers,
  makeNodeHostKey,
  type MaskLayer,
  renderKnownHosts,
  renderSshClientConfig,
} from './remote.ts';
import {
  startEtcd,
  startNodeSshd,
  startServer,
  startSshd,
  startSupervisord,
  waitEtcdHealthy,
  type Started,
} from './services.ts';
import { destroyLab, ETC_NETNS, labDirOf, StateFile, type DestroyReport } from './state.ts';
import {
  AUTO_PREFIX_RE,
  etcdMembers,
  etcdName,
  HTTP_PORT,
  planNetnsBatch,
  planTopology,
  planVethBatch,
  LAB_RESOLV_CONF,
  renderHostsFile,
  renderNodeFirewall,
  renderNsswitch,
  FLANNEL_VERSION,
  tarballName,
  tarballUrlPath,
  type HostSpec,
  type Topology,
} from './topology.ts';

export { FLANNEL_VERSION, TARBALL_NAME, TARBALL_URL_PATH, HTTP_PORT, tarballName, tarballUrlPath } from './topology.ts';

/** A lab host: one network namespace, one address on eth0, one filesystem root. */
export interface LabHost {
  /** host name, as in the runbook: hdss7-21 */
  readonly name: string;
  readonly netns: string;
  /** its eth0 address, e.g. 10.4.7.21 */
  readonly ip: string;
  /** every path the host uses lives under this directory: <labdir>/<name> (the toolkit's --root) */
  readonly root: string;
  /** its L2 segment: `l2` (10.4.0.0/16, the runbook's) or `l2b` (10.5.0.0/16, behind the router) */
  readonly segment: string;
}

/** A Kubernetes node of the runbook: docker0, one pod, supervisord, flanneld to be. */
export interface LabNode extends LabHost {
  /** its docker0 subnet = the flannel lease it must get, e.g. 172.7.21.0/24 */
  readonly subnet: string;
  /** docker0's address, e.g. 172.7.21.1 */
  readonly bridgeIp: string;
  /** the pod: its own namespace, 172.7.21.2/24 on eth0, default via docker0; runs a whoami server */
  readonly pod: { readonly netns: string; readonly ip: string };
  /** the supervisord program name, e.g. flanneld-7-21 */
  readonly program: string;
  readonly iface: 'eth0';
  /** <root>/etc/supervisord.conf: `supervisorctl -c <this> update` */
  readonly supervisordConf: string;
  /** whether it is an etcd member */
  readonly etcd: boolean;
}

export interface LabCertHost extends LabHost {
  /** the lab's ssh private key that logs in as root (0600) */
  readonly identity: string;
  /** a known_hosts file holding the cert host's key, under hdss7-200 and 10.4.7.200 */
  readonly knownHosts: string;
  readonly user: 'root';
  /** where the certificates are, as seen over ssh */
  readonly certsDir: '/opt/certs';
  /** the same directory on this machine's filesystem */
  readonly certsPath: string;
  /** `-i ... -o BatchMode=yes -o UserKnownHostsFile=...`: ssh/scp options that log in */
  readonly sshOptions: readonly string[];
}

/** The remote mode (createLab({ remote: true })): the nodes driven over ssh from a control host. */
export interface LabRemote {
  /** the control host: a namespace on l2 (10.4.7.10) that reaches every node and etcd */
  readonly control: { readonly name: string; readonly netns: string; readonly ip: string };
  /** the control host's OpenSSH client config (`ssh -F`, `--ssh-config`): a Host entry per node name and address */
  readonly sshConfig: string;
  /** the nodes' real host keys, under their names and addresses (the config's UserKnownHostsFile) */
  readonly knownHosts: string;
  /** the private key that logs in as root on every node (the config's IdentityFile) */
  readonly identity: string;
  /** what the node sshds' sessions see instead of /usr/bin and /usr/sbin */
  readonly layers: readonly MaskLayer[];
  /** ssh run inside the control host's namespace: `ip netns exec <ctl> ssh` */
  readonly sshCommand: readonly string[];
  /** `root@10.4.7.21`: the node's `"ssh"` in a cluster file */
  destination(node: LabNode): string;
  /** An SshHost for the node from the control host (its ssh in the control namespace, `-F sshConfig`); close() it. */
  sshHost(node: LabNode, opts?: Partial<SshHostOptions>): SshHost;
}

export interface LabExecOptions {
  readonly input?: string;
  /** default 30 s */
  readonly timeoutMs?: number;
  /** exit statuses that are answers, not failures */
  readonly okStatus?: readonly number[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface Lab {
  readonly prefix: string;
  /** the labdir: <tmp>/<prefix>-lab */
  readonly dir: string;
  readonly topology: Topology;
  /**
   * etcd as the toolkit reaches it. Endpoints answer only inside the lab's namespaces; the
   * files are the lab PKI on this machine's filesystem (the same bytes as /opt/certs).
   */
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly cafile: string;
    readonly certfile: string;
    readonly keyfile: string;
  };
  /** every hdss7-* host by name */
  readonly hosts: Readonly<Record<string, LabHost>>;
  readonly nodes: readonly LabNode[];
  readonly certHost: LabCertHost;
  readonly gateway: { readonly netns: string; readonly ip: string; readonly outsideIp: string };
  /** the router between l2 and l2b (segments: 2): 10.4.0.254 on l2, 10.5.0.1 on l2b */
  readonly router?: { readonly netns: string; readonly ips: readonly string[] };
  /** the flannel version served (and, with the stand-in, played): v0.11.0 unless asked otherwise */
  readonly flannelVersion: string;
  /** a host outside the cluster's network, behind the gateway, running a whoami server */
  readonly outside: { readonly netns: string; readonly ip: string; readonly port: number };
  /** TCP port of the whoami servers (outside host and every pod) */
  readonly whoamiPort: number;
  /** the release tarball: on this filesystem (path), and as served by hdss7-200 (url) */
  readonly tarball: { readonly path: string; readonly sha256: string; readonly url: string };
  /** every namespace of the lab (hosts, pods, segment, gateway, outside, control) */
  readonly namespaces: readonly string[];
  /** the remote mode's control host and ssh (createLab({ remote: true })) */
  readonly remote?: LabRemote;
  /** Runs argv inside a lab namespace; rejects with CommandError on a status not in okStatus. */
  exec(netns: string, argv: readonly string[], opts?: LabExecOptions): Promise<RunResult>;
  /** `etcdctl` with the lab's endpoints and client certificate, run inside hdss7-12 (API 3 unless `api: 2`). */
  etcdctl(
    args: readonly string[],
    opts?: LabExecOptions & { api?: 2 | 3; endpoints?: readonly string[] },
  ): Promise<RunResult>;
  /** `supervisorctl -c <root>/etc/supervisord.conf ARGS` inside the node's namespace. */
  supervisorctl(node: LabNode, args: readonly string[], opts?: LabExecOptions): Promise<RunResult>;
  /** The runbook done by hand as written (see runbook-by-hand.ts). */
  /**
   * Stops every etcd member and starts it again on the same data (v3 keys and leases kept),
   * with the v2 API on (`enableV2: true`, as the runbook's cluster) or off (etcd 3.4's default:
   * a v0.11.0 flanneld then fails with "client: response is invalid json"); resolves when the
   * cluster is healthy.
   */
  restartEtcd(opts?: { enableV2?: boolean }): Promise<void>;
  /** Marks the lab as kept on purpose: cleanupLeftovers() leaves it, `npm run lab -- down` removes it. */
  keep(): void;
  /** Removes everything (idempotent). */
  destroy(): Promise<DestroyReport>;
}

export interface CreateLabOptions {
  /** default `frb` + 4 random hex digits */
  readonly prefix?: string;
  /** 2..20 (default 2) */
  readonly nodes?: number;
  /** load the iptables-services REJECT rules on the nodes (default true) */
  readonly rejectRules?: boolean;
  /** 2: a second L2 segment (10.5.0.0/16) behind a router, with remote nodes hdss7-31... (default 1) */
  readonly segments?: 1 | 2;
  /** nodes on the second segment (segments: 2; default 1) */
  readonly remoteNodes?: number;
  /** the flannel release served by hdss7-200: v0.11.0 (default) or v0.20.2 for the stand-in; any for flanneldBin/flannelTarball */
  readonly flannelVersion?: string;
  /** pack this flanneld binary (a real one) into the tarball instead of the stand-in */
  readonly flanneldBin?: string;
  /** serve this release tarball (a real one) instead of packing one */
  readonly flannelTarball?: string;
  /** one line per build step, with its duration */
  readonly log?: (line: string) => void;
  /** aborting stops the build (and every later lab.exec) and tears down what was built */
  readonly signal?: AbortSignal;
  /**
   * the remote mode: a control host namespace with an ssh client config, and an sshd on every
   * node in a mount namespace without Node.js and with iproute2 4.11 (remote.ts; default false)
   */
  readonly remote?: boolean;
}

const here = fileURLToPath(new URL('.', import.meta.url));

function newPrefix(): string {
  for (;;) {
    const p = `frb${randomBytes(2).toString('hex')}`;
    if (!existsSync(labDirOf(p))) return p;
  }
}

async function timed<T>(log: ((l: string) => void) | undefined, what: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const v = await f();
  log?.(`${what} (${((performance.now() - t0) / 1000).toFixed(2)}s)`);
  return v;
}

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Builds the lab. On any failure, or when `signal` aborts, it removes what it built and
 * rejects. The caller owns the result: call `lab.destroy()` (tests: in `after()`).
 */
export async function createLab(opts: CreateLabOptions = {}): Promise<Lab> {
  if (opts.prefix !== undefined && existsSync(labDirOf(opts.prefix))) {
    throw invalid(
      'prefix',
      opts.prefix,
      `is in use (${labDirOf(opts.prefix)} exists); remove it with destroyLab() or pick another`,
      'frb1a2b',
    );
  }
  // every command in flight listens on the signal: dozens at once during a build
  if (opts.signal) setMaxListeners(0, opts.signal);
  const prefix = opts.prefix ?? newPrefix();
  const dir = labDirOf(prefix);
  const topo = planTopology({
    prefix,
    dir,
    ...(opts.nodes !== undefined && { nodes: opts.nodes }),
    ...(opts.rejectRules !== undefined && { rejectRules: opts.rejectRules }),
    ...(opts.segments !== undefined && { segments: opts.segments }),
    ...(opts.remoteNodes !== undefined && { remoteNodes: opts.remoteNodes }),
    ...(opts.remote && { control: true }),
  });
  const version = opts.flannelVersion ?? FLANNEL_VERSION;
  if (!/^v\d+\.\d+\.\d+$/.test(version))
    throw invalid('flannelVersion', version, 'must be a release tag vX.Y.Z', 'v0.20.2');
  if (!opts.flanneldBin && !opts.flannelTarball && !STANDIN_VERSIONS.includes(version as StandinVersion)) {
    throw invalid(
      'flannelVersion',
      version,
      `the stand-in plays ${STANDIN_VERSIONS.join(' and ')} only; give flanneldBin or flannelTarball for others`,
      'v0.20.2',
    );
  }
  const clash = (await listNetns()).filter((n) => n.startsWith(`${prefix}-`));
  if (clash.length)
    throw invalid('prefix', prefix, `namespaces with it exist already (${clash.join(', ')})`, 'frb1a2b');
  for (const f of [opts.flanneldBin, opts.flannelTarball]) {
    if (f !== undefined && !existsSync(f))
      throw invalid(
        f === opts.flanneldBin ? 'flanneldBin' : 'flannelTarball',
        f,
        'file does not exist',
        '/usr/local/bin/flanneld',
      );
  }
  await mkdir(dir, { recursive: false, mode: 0o700 });
  const state = new StateFile(prefix, dir);
  try {
    return await build(topo, state, opts);
  } catch (e) {
    await destroyLab(prefix, { force: true });
    throw e;
  }
}

async function build(topo: Topology, state: StateFile, opts: CreateLabOptions): Promise<Lab> {
  const { prefix, dir } = topo;
  const log = opts.log;
  const signal = opts.signal;
  const started: Started[] = [];
  const record = (s: Started) => {
    started.push(s);
    state.update((st) => st.pids.push({ pid: s.daemon.pid, startTime: s.daemon.startTime, what: s.what }));
  };
  const hostByName = new Map(topo.hosts.map((h) => [h.name, h]));
  const certSpec = topo.hosts.find((h) => h.certHost)!;
  const members = etcdMembers(topo);
  const endpoints = members.map((m) => `https://${m.ip}:2379`);
  const logsDir = join(dir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const version = opts.flannelVersion ?? FLANNEL_VERSION;
  const urlPath = tarballUrlPath(version);

  // files and network at once: neither needs the other
  const filesP = timed(log, 'pki: CA, etcd member and client certificates, ssh keys, release tarball', async () => {
    const [pki, ssh, tarball] = await settleAll<unknown>([
      makePki(
        join(dir, 'pki'),
        members.map((m) => ({ name: m.name, ip: m.ip, etcdName: etcdName(m) })),
        signal,
      ),
      makeSshKeys(join(dir, 'ssh'), `flannel-runbook lab ${prefix}`, signal),
      opts.flannelTarball
        ? (async () => {
            const out = join(dir, 'release', tarballName(version));
            await mkdir(join(dir, 'release'), { recursive: true });
            await copyFile(opts.flannelTarball!, out);
            return { path: out, sha256: await sha256Of(out) };
          })()
        : packFlannelTarball(join(dir, 'release'), {
            version,
            ...(opts.flanneldBin && { flanneldBin: opts.flanneldBin }),
          }),
    ]);
    return { pki: pki as Pki, ssh: ssh as SshKeys, tarball: tarball as { path: string; sha256: string } };
  });
  const netP = timed(
    log,
    `network: ${topo.namespaces.length} namespaces, ${topo.veths.length} veth pairs, no change in the root namespace`,
    async () => {
      // recorded before created: a crash in between leaves an entry, never an unrecorded namespace
      state.update((s) => s.netns.push(...topo.namespaces.map((n) => n.netns)));
      await settleAll(topo.namespaces.map((n) => addNetns(n.netns, signal)));
      await ipBatch(undefined, planVethBatch(topo.veths), signal);
      await settleAll(topo.namespaces.map((n) => ipBatch(n.netns, planNetnsBatch(n, topo.veths), signal)));
      await settleAll(
        topo.namespaces
          .filter((n) => n.forward)
          .map((n) => execIn(n.netns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { signal })),
      );
      // `ip netns exec` bind-mounts each file of /etc/netns/<ns>/ over /etc/<file>
      const etcFiles = {
        hosts: renderHostsFile(topo),
        'nsswitch.conf': renderNsswitch(await readFile('/etc/nsswitch.conf', 'utf8').catch(() => '')),
        'resolv.conf': LAB_RESOLV_CONF,
      };
      const named = topo.namespaces.filter((n) => n.hostname !== undefined).map((n) => n.netns);
      state.update((s) => s.etcNetns.push(...named));
      for (const ns of named) {
        await mkdir(join(ETC_NETNS, ns), { recursive: true });
        for (const [f, text] of Object.entries(etcFiles)) await writeFile(join(ETC_NETNS, ns, f), text);
      }
    },
  );
  const [files] = await settleAll<unknown>([filesP, netP]);
  const { pki, ssh, tarball: packed } = files as Awaited<typeof filesP>;

  signal?.throwIfAborted();
  // every host's filesystem root
  await timed(
    log,
    'host roots: etcd certs, /opt/certs on hdss7-200, node dirs, node firewalls (iptables-restore)',
    async () => {
      await settleAll(topo.hosts.map((h) => layoutHost(h, pki)));
      await layoutCertHost(certSpec, pki, ssh.hostKey, ssh.identityPub);
      await settleAll(
        topo.hosts
          .filter((h) => h.node)
          .map((h) =>
            execIn(h.netns, ['iptables-restore'], {
              input: renderNodeFirewall(h, { rejectRules: topo.rejectRules }),
              signal,
            }),
          ),
      );
    },
  );
  const nodeSpecs = topo.hosts.filter((h) => h.node);
  const remote = topo.control
    ? await timed(
        log,
        'remote mode: node host keys, overlays without Node.js and with iproute2 4.11, ssh config',
        async () => {
          const control = topo.control!;
          const [layers, ...hostPubs] = await settleAll<unknown>([
            buildMaskLayers(join(dir, 'remote', 'layers'), signal),
            ...nodeSpecs.map(async (h) => {
              await authorizeIdentity(h.root, ssh.identityPub);
              return makeNodeHostKey(h.root, `flannel-runbook lab ${prefix} ${h.name}`, signal);
            }),
          ]);
          const ctlDir = join(dir, 'control');
          await mkdir(ctlDir, { recursive: true, mode: 0o700 });
          const specs = nodeSpecs.map((h, i) => ({ name: h.name, ip: h.ip, hostPub: hostPubs[i] as string }));
          const knownHosts = join(ctlDir, 'known_hosts');
          const sshConfig = join(ctlDir, 'ssh_config');
          await writeFile(knownHosts, renderKnownHosts(specs), { mode: 0o644 });
          await writeFile(
            sshConfig,
            renderSshClientConfig({ prefix, nodes: specs, identity: ssh.identity, knownHosts }),
            { mode: 0o600 },
          );
          return { control, layers: layers as MaskLayer[], knownHosts, sshConfig };
        },
      )
    : undefined;
  const www = join(certSpec.root, 'www');
  const served = join(www, urlPath);
  await mkdir(join(served, '..'), { recursive: true });
  await copyFile(packed.path, served);
  const knownHosts = join(dir, 'ssh', 'known_hosts');
  const hostKeyWords = ssh.hostPub.split(' ');
  await writeFile(knownHosts, `${certSpec.name},${certSpec.ip} ${hostKeyWords[0]} ${hostKeyWords[1]}\n`);

  signal?.throwIfAborted();
  const initialCluster = members.map((m) => `${etcdName(m)}=https://${m.ip}:2380`).join(',');
  await timed(
    log,
    `daemons: etcd x${members.length}, sshd, http on hdss7-200, whoami servers, supervisord x${topo.hosts.filter((h) => h.node).length}`,
    async () => {
      const starts: Promise<Started>[] = [
        ...members.map((m) => startEtcd(m, { initialCluster, token: prefix, signal, record })),
        startSshd(certSpec, { signal, record }),
        startServer(
          certSpec.netns,
          [join(here, 'http-serve.mjs'), '--root', www, '--listen', certSpec.ip, '--port', String(HTTP_PORT)],
          {
            what: `http ${certSpec.name}`,
            listen: { ip: certSpec.ip, port: HTTP_PORT },
            logFile: join(certSpec.root, 'data', 'logs', 'http-serve.log'),
            signal,
            record,
          },
        ),
        startServer(topo.outside.netns, [join(here, 'whoami-server.mjs'), '--port', String(topo.whoamiPort)], {
          what: 'whoami outside',
          listen: { ip: topo.outside.ip, port: topo.whoamiPort },
          logFile: join(logsDir, 'whoami-outside.log'),
          signal,
          record,
        }),
        ...topo.hosts
          .filter((h) => h.node)
          .flatMap((h) => [
            startServer(h.node!.pod.netns, [join(here, 'whoami-server.mjs'), '--port', String(topo.whoamiPort)], {
              what: `whoami pod ${h.name}`,
              listen: { ip: h.node!.pod.ip, port: topo.whoamiPort },
              logFile: join(logsDir, `whoami-pod-${h.short}.log`),
              signal,
              record,
            }),
            startSupervisord(h, { signal, record }),
            ...(remote ? [startNodeSshd(h, { layers: remote.layers, signal, record })] : []),
          ]),
      ];
      // every PID is recorded at spawn (record); wait for all before failing, so none is mid-start
      await settleAll(starts);
      await waitEtcdHealthy(hostByName.get(members[0]!.name)!, endpoints, pki, started, { signal });
    },
  );

  const node = (h: HostSpec): LabNode => ({
    name: h.name,
    netns: h.netns,
    ip: h.ip,
    root: h.root,
    segment: h.segment,
    subnet: h.node!.subnet,
    bridgeIp: h.node!.bridgeIp,
    pod: { ...h.node!.pod },
    program: h.node!.program,
    iface: 'eth0',
    supervisordConf: join(h.root, 'etc', 'supervisord.conf'),
    etcd: h.etcd,
  });
  const hosts: Record<string, LabHost> = {};
  for (const h of topo.hosts)
    hosts[h.name] = { name: h.name, netns: h.netns, ip: h.ip, root: h.root, segment: h.segment };
  const nodes = topo.hosts.filter((h) => h.node).map(node);
  const identity = ssh.identity;
  const certHost: LabCertHost = {
    ...hosts[certSpec.name]!,
    identity,
    knownHosts,
    user: 'root',
    certsDir: '/opt/certs',
    certsPath: join(certSpec.root, 'opt', 'certs'),
    sshOptions: ['-i', identity, '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`],
  };
  const firstMember = hostByName.get(members[0]!.name)!;
  let destroyed: Promise<DestroyReport> | undefined;

  const lab: Lab = {
    prefix,
    dir,
    topology: topo,
    etcd: { endpoints, cafile: pki.ca, certfile: pki.client, keyfile: pki.clientKey },
    hosts,
    nodes,
    certHost,
    gateway: { netns: topo.gateway.netns, ip: topo.segments[0]!.gateway, outsideIp: topo.gateway.outsideIp },
    ...(topo.router && { router: { netns: topo.router.netns, ips: [...topo.router.ips] } }),
    flannelVersion: version,
    outside: { ...topo.outside },
    whoamiPort: topo.whoamiPort,
    tarball: { path: served, sha256: packed.sha256, url: `http://${certSpec.ip}:${HTTP_PORT}${urlPath}` },
    namespaces: topo.namespaces.map((n) => n.netns),
    ...(remote && {
      remote: {
        control: { ...remote.control },
        sshConfig: remote.sshConfig,
        knownHosts: remote.knownHosts,
        identity,
        layers: remote.layers,
        sshCommand: ['ip', 'netns', 'exec', remote.control.netns, 'ssh'],
        destination: (n: LabNode) => `root@${n.ip}`,
        sshHost(n: LabNode, o: Partial<SshHostOptions> = {}) {
          return new SshHost({
            destination: `root@${n.ip}`,
            configFile: remote.sshConfig,
            node: n.name,
            ssh: ['ip', 'netns', 'exec', remote.control.netns, 'ssh'],
            ...o,
          });
        },
      },
    }),
    exec(netns, argv, o = {}) {
      if (!lab.namespaces.includes(netns)) {
        return Promise.reject(invalid('netns', netns, `is not a namespace of lab ${prefix}`, lab.nodes[0]!.netns));
      }
      return execIn(netns, argv, { ...o, ...(signal && { signal }) });
    },
    etcdctl(args, o = {}) {
      const eps = (o.endpoints ?? endpoints).join(',');
      const api = o.api ?? 3;
      const tls =
        api === 2
          ? [
              '--no-sync',
              '--endpoints',
              eps,
              '--ca-file',
              pki.ca,
              '--cert-file',
              pki.client,
              '--key-file',
              pki.clientKey,
            ]
          : ['--endpoints', eps, '--cacert', pki.ca, '--cert', pki.client, '--key', pki.clientKey];
      return lab.exec(firstMember.netns, ['etcdctl', ...tls, ...args], {
        ...o,
        env: { ...process.env, ...o.env, ETCDCTL_API: String(api) },
      });
    },
    supervisorctl(n, args, o = {}) {
      return lab.exec(n.netns, ['supervisorctl', '-c', n.supervisordConf, ...args], o);
    },
    async restartEtcd(o = {}) {
      const running = started.filter((s) => s.what.startsWith('etcd '));
      // SIGKILL after 0.3 s: stopping the whole cluster gracefully takes ~7 s (each member tries
      // to hand its leadership to members that are stopping too); etcd's WAL makes a kill safe
      await settleAll(running.map((s) => stopDaemon(s.daemon, 300)));
      for (const s of running) started.splice(started.indexOf(s), 1);
      signal?.throwIfAborted();
      await settleAll(
        members.map((m) =>
          startEtcd(m, {
            initialCluster,
            token: prefix,
            enableV2: o.enableV2 ?? true,
            ...(signal && { signal }),
            record,
          }),
        ),
      );
      await waitEtcdHealthy(firstMember, endpoints, pki, started, { ...(signal && { signal }) });
    },
    keep() {
      state.update((s) => (s.kept = true));
    },
    destroy() {
      destroyed ??= destroyLab(prefix, { force: true });
      return destroyed;
    },
  };
  return lab;
}

/** A host's root: etcd's certificates and data dir on members, the node directories on nodes. */
async function layoutHost(h: HostSpec, pki: Pki): Promise<void> {
  await mkdir(join(h.root, 'data', 'logs'), { recursive: true });
  if (h.etcd) {
    const certs = join(h.root, 'opt', 'etcd', 'certs');
    await mkdir(certs, { recursive: true });
    const m = pki.members[h.name]!;
    await copyFile(pki.ca, join(certs, 'ca.pem'));
    await copyFile(m.cert, join(certs, 'etcd-peer.pem'));
    await copyFile(m.key, join(certs, 'etcd-peer-key.pem'));
    await chmod(join(certs, 'etcd-peer-key.pem'), 0o600);
    await mkdir(join(h.root, 'data', 'etcd'), { recursive: true, mode: 0o700 });
    await mkdir(join(h.root, 'data', 'logs', 'etcd-server'), { recursive: true });
  }
  if (h.node) {
    for (const d of [
      'opt',
      'etc/supervisord.d',
      'etc/sysconfig',
      'run',
      'var/log/supervisor',
      'data/logs/supervisor',
    ]) {
      await mkdir(join(h.root, d), { recursive: true });
    }
  }
}

/** hdss7-200: /opt/certs (the client key 0600), sshd's config, host key and root's authorized_keys. */
async function layoutCertHost(h: HostSpec, pki: Pki, hostKey: string, identityPub: string): Promise<void> {
  const certs = join(h.root, 'opt', 'certs');
  await mkdir(certs, { recursive: true });
  await copyFile(pki.ca, join(certs, 'ca.pem'));
  await copyFile(pki.client, join(certs, 'client.pem'));
  await copyFile(pki.clientKey, join(certs, 'client-key.pem'));
  await chmod(join(certs, 'ca.pem'), 0o644);
  await chmod(join(certs, 'client.pem'), 0o644);
  await chmod(join(certs, 'client-key.pem'), 0o600);
  const sshDir = join(h.root, 'etc', 'ssh');
  await mkdir(sshDir, { recursive: true });
  await copyFile(hostKey, join(sshDir, basename(hostKey)));
  await chmod(join(sshDir, basename(hostKey)), 0o600);
  await copyFile(`${hostKey}.pub`, join(sshDir, `${basename(hostKey)}.pub`));
  await mkdir(join(h.root, 'root', '.ssh'), { recursive: true, mode: 0o700 });
  await writeFile(join(h.root, 'root', '.ssh', 'authorized_keys'), `${identityPub}\n`, { mode: 0o600 });
  await mkdir(join(h.root, 'run'), { recursive: true });
}

/** A lab's namespaces by what they are, for `--keep` instructions. */
export function describeNamespaces(lab: Lab): { what: string; netns: string }[] {
  return [
    ...Object.values(lab.hosts).map((h) => ({ what: `${h.name} (${h.ip})`, netns: h.netns })),
    ...lab.nodes.map((n) => ({ what: `pod on ${n.name} (${n.pod.ip})`, netns: n.pod.netns })),
    { what: `gateway (${lab.gateway.ip}, ${lab.gateway.outsideIp})`, netns: lab.gateway.netns },
    { what: `outside host (${lab.outside.ip})`, netns: lab.outside.netns },
    { what: 'L2 segment bridge', netns: lab.topology.segments[0]!.netns },
    ...(lab.router ? [{ what: `router (${lab.router.ips.join(', ')})`, netns: lab.router.netns }] : []),
    ...(lab.remote
      ? [
          {
            what: `control host (${lab.remote.control.ip}, ssh -F ${lab.remote.sshConfig})`,
            netns: lab.remote.control.netns,
          },
        ]
      : []),
    ...lab.topology.segments.slice(1).map((s) => ({ what: `L2 segment ${s.name} bridge (${s.cidr})`, netns: s.netns })),
  ];
}

export { destroyLab, cleanupLeftovers, listLabs, readState, labDirOf } from './state.ts';
export { AUTO_PREFIX_RE };
