// The lab's daemons, each started inside its host's namespace and waited for:
//   startEtcd        one member of the 3-member TLS cluster (client-cert auth, peer TLS, v2 on or off)
//   waitEtcdHealthy  until `etcdctl endpoint health` passes for every member
//   startSshd        the cert host's real sshd, /opt bind-mounted from its root
//   startNodeSshd    a node's sshd for the remote mode: no Node.js, iproute2 4.11 (remote.ts)
//   startSupervisord supervisord of a node, <root>/etc/supervisord.conf
//   startServer      a small Node server (http-serve.mjs, whoami-server.mjs), until it listens
// Each fails fast with the tail of the daemon's log when the daemon exits while we wait.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeError } from '../lib/core/errors.ts';
import { execIn } from './netns.ts';
import type { Pki } from './pki.ts';
import { startDaemon, waitFor, type Daemon } from './proc.ts';
import { renderSupervisordConf, supervisordPaths } from '../lib/model/supervisor.ts';
import { nodeSshdArgv, type MaskLayer } from './remote.ts';
import { etcdName, type HostSpec } from './topology.ts';

export interface Started {
  readonly what: string;
  readonly daemon: Daemon;
}

/** Options of every start function. */
export interface StartOptions {
  readonly signal?: AbortSignal;
  /** called as soon as the process exists (before it is ready), to record its PID */
  readonly record?: (s: Started) => void;
}

function started(what: string, daemon: Daemon, o: StartOptions): Started {
  const s = { what, daemon };
  o.record?.(s);
  return s;
}

/** PATH for daemons: node's own directory first (the flanneld stand-in is `#!/usr/bin/env node`). */
export const DAEMON_PATH = [
  dirname(process.execPath),
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
]
  .filter((d, i, all) => all.indexOf(d) === i)
  .join(':');

function daemonEnv(): NodeJS.ProcessEnv {
  return { PATH: DAEMON_PATH, LANG: 'C.UTF-8', HOME: '/root', SHLVL: '1' };
}

async function logTail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Throws with the log tail when a daemon we wait for has exited. */
async function assertRunning(s: Started): Promise<void> {
  if (s.daemon.exited !== undefined) {
    throw new RuntimeError(
      `${s.what} ${s.daemon.exited} while starting; ${s.daemon.logFile}:\n${await logTail(s.daemon.logFile)}`,
    );
  }
}

/** Waits until something in `ns` listens on ip:port (ss), failing fast if the daemon dies. */
async function waitListening(s: Started, ns: string, ip: string, port: number, signal?: AbortSignal): Promise<void> {
  await waitFor(
    `${s.what}: listening on ${ip}:${port}`,
    async () => {
      await assertRunning(s);
      const r = await execIn(ns, ['ss', '-Hltn', 'sport', '=', `:${port}`], { signal });
      return r.stdout
        .split('\n')
        .some((l) => l.includes(`${ip}:${port}`) || l.includes(`0.0.0.0:${port}`) || l.includes(`*:${port}`))
        ? true
        : undefined;
    },
    { timeoutMs: 15_000, everyMs: 50, ...(signal && { signal }) },
  ).catch(async (e) => {
    await assertRunning(s);
    throw e;
  });
}

function inNetns(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/**
 * One etcd member, as the runbook's cluster ran it: TLS for clients and peers, client
 * certificates required, the v2 API on (flannel v0.11.0 speaks only v2; `enableV2: false`
 * gives an etcd as 3.4 runs by default, v3 only). Listens on the member's address and
 * 127.0.0.1 (both in its certificate), advertises the member address.
 */
export async function startEtcd(
  h: HostSpec,
  o: StartOptions & { initialCluster: string; token: string; enableV2?: boolean },
): Promise<Started> {
  const certs = join(h.root, 'opt', 'etcd', 'certs');
  const argv = [
    'etcd',
    '--name',
    etcdName(h),
    '--data-dir',
    join(h.root, 'data', 'etcd', 'etcd-server'),
    '--listen-peer-urls',
    `https://${h.ip}:2380`,
    '--listen-client-urls',
    `https://${h.ip}:2379,https://127.0.0.1:2379`,
    '--initial-advertise-peer-urls',
    `https://${h.ip}:2380`,
    '--advertise-client-urls',
    `https://${h.ip}:2379`,
    '--initial-cluster',
    o.initialCluster,
    '--initial-cluster-state',
    'new',
    '--initial-cluster-token',
    o.token,
    '--cert-file',
    join(certs, 'etcd-peer.pem'),
    '--key-file',
    join(certs, 'etcd-peer-key.pem'),
    '--trusted-ca-file',
    join(certs, 'ca.pem'),
    '--client-cert-auth',
    '--peer-cert-file',
    join(certs, 'etcd-peer.pem'),
    '--peer-key-file',
    join(certs, 'etcd-peer-key.pem'),
    '--peer-trusted-ca-file',
    join(certs, 'ca.pem'),
    '--peer-client-cert-auth',
    `--enable-v2=${o.enableV2 ?? true}`,
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ];
  const logFile = join(h.root, 'data', 'logs', 'etcd-server', 'etcd.stdout.log');
  return started(`etcd ${h.name}`, startDaemon(inNetns(h.netns, argv), logFile, { env: daemonEnv() }), o);
}

/** Waits until every member answers `endpoint health` over TLS with the client certificate. */
export async function waitEtcdHealthy(
  from: HostSpec,
  endpoints: readonly string[],
  pki: Pki,
  started: readonly Started[],
  o: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<void> {
  const etcds = started.filter((s) => s.what.startsWith('etcd '));
  await waitFor(
    'etcd cluster health',
    async () => {
      for (const s of etcds) await assertRunning(s);
      const r = await execIn(
        from.netns,
        [
          'etcdctl',
          '--endpoints',
          endpoints.join(','),
          '--cacert',
          pki.ca,
          '--cert',
          pki.client,
          '--key',
          pki.clientKey,
          '--dial-timeout',
          '1s',
          '--command-timeout',
          '2s',
          'endpoint',
          'health',
        ],
        {
          env: { ...process.env, ETCDCTL_API: '3' },
          okStatus: [1],
          timeoutMs: 10_000,
          ...(o.signal && { signal: o.signal }),
        },
      );
      if (r.status === 0) return true;
      throw new RuntimeError((r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | '));
    },
    { timeoutMs: o.timeoutMs ?? 30_000, everyMs: 150, ...(o.signal && { signal: o.signal }) },
  );
}

/** sshd_config for a lab host (the cert host; the nodes in remote mode): its own address, keys, pid file and authorized keys. */
export function renderSshdConfig(h: HostSpec): string {
  return `${[
    `# flannel-runbook lab: the sshd of ${h.name}`,
    `ListenAddress ${h.ip}`,
    'Port 22',
    `HostKey ${join(h.root, 'etc', 'ssh', 'ssh_host_ed25519_key')}`,
    `PidFile ${join(h.root, 'run', 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(h.root, 'root', '.ssh', 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // the lab's files live under /tmp, which StrictModes would refuse
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    // OpenSSH >= 9 scp speaks SFTP by default
    'Subsystem sftp internal-sftp',
  ].join('\n')}\n`;
}

/**
 * The cert host's sshd. `ip netns exec` gives it a private mount namespace, so the bind mount
 * of <root>/opt over /opt exists only for it and its sessions: `/opt/certs` over ssh is
 * the cert host's, and nothing is mounted on this machine.
 */
export async function startSshd(h: HostSpec, o: StartOptions = {}): Promise<Started> {
  const conf = join(h.root, 'etc', 'ssh', 'sshd_config');
  await writeFile(conf, renderSshdConfig(h));
  // privilege separation directory sshd insists on (shared with the system's sshd, if any)
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const argv = [
    'sh',
    '-c',
    'mount --bind "$1" /opt && exec /usr/sbin/sshd -D -e -f "$2"',
    'sh',
    join(h.root, 'opt'),
    conf,
  ];
  const s = started(
    `sshd ${h.name}`,
    startDaemon(inNetns(h.netns, argv), join(h.root, 'data', 'logs', 'sshd.log'), { env: daemonEnv() }),
    o,
  );
  await waitListening(s, h.netns, h.ip, 22, o.signal);
  return s;
}

/**
 * A node's sshd for the remote mode, in a mount namespace of its own (remote.ts): the overlays
 * that hide Node.js and put iproute2 4.11 in place are mounted there and nowhere else, and end
 * with it. Its config, host key and pid file are under the node's root.
 */
export async function startNodeSshd(h: HostSpec, o: StartOptions & { layers: readonly MaskLayer[] }): Promise<Started> {
  const conf = join(h.root, 'etc', 'ssh', 'sshd_config');
  await writeFile(conf, renderSshdConfig(h));
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const s = started(
    `sshd ${h.name}`,
    startDaemon(
      inNetns(h.netns, nodeSshdArgv(conf, join(h.root, 'root'), o.layers)),
      join(h.root, 'data', 'logs', 'sshd.log'),
      {
        env: daemonEnv(),
      },
    ),
    o,
  );
  await waitListening(s, h.netns, h.ip, 22, o.signal);
  return s;
}

/** Where a node's supervisord keeps its files, relative to the node root (the runbook's paths). */
export function labSupervisordSettings(root: string) {
  return {
    root,
    includeGlob: '/etc/supervisord.d/*.ini',
    socket: '/run/supervisor.sock',
    pidfile: '/run/supervisord.pid',
    logfile: '/var/log/supervisor/supervisord.log',
  };
}

/**
 * A node's supervisord (conf rendered by the toolkit's lib/supervisor.ts), in the foreground
 * (-n) so that its PID is the one we recorded.
 */
export async function startSupervisord(h: HostSpec, o: StartOptions = {}): Promise<Started> {
  const conf = join(h.root, 'etc', 'supervisord.conf');
  const settings = labSupervisordSettings(h.root);
  await writeFile(conf, renderSupervisordConf(settings));
  const s = started(
    `supervisord ${h.name}`,
    startDaemon(
      inNetns(h.netns, ['supervisord', '-n', '-c', conf]),
      join(h.root, 'data', 'logs', 'supervisor', 'supervisord.stdout.log'),
      {
        env: daemonEnv(),
        cwd: h.root,
      },
    ),
    o,
  );
  const socket = supervisordPaths(settings).socket;
  await waitFor(
    `${s.what}: answering supervisorctl status`,
    async () => {
      await assertRunning(s);
      if (!existsSync(socket)) return undefined;
      // status exits 3 when some program is not running, 4 when there is none: both are answers
      const r = await execIn(h.netns, ['supervisorctl', '-c', conf, 'status'], {
        okStatus: [1, 2, 3, 4, 7],
        ...(o.signal && { signal: o.signal }),
      });
      return /no such file|refused connection/.test(r.stdout + r.stderr) ? undefined : true;
    },
    { timeoutMs: 15_000, everyMs: 100, ...(o.signal && { signal: o.signal }) },
  );
  return s;
}

/** A lab Node server script (argv[0] is the .mjs) inside `ns`, until it listens. */
export async function startServer(
  ns: string,
  script: readonly string[],
  o: StartOptions & { what: string; listen: { ip: string; port: number }; logFile: string },
): Promise<Started> {
  const s = started(
    o.what,
    startDaemon(inNetns(ns, [process.execPath, ...script]), o.logFile, { env: daemonEnv() }),
    o,
  );
  await waitListening(s, ns, o.listen.ip, o.listen.port, o.signal);
  return s;
}
