// The runbook run by the toolkit's own step scripts inside the lab: what `npm run lab` does,
// and what the namespace tests drive one step at a time. Each script runs inside the node's
// namespace, with `--root <the node's root>`, exactly as an operator would run it on the host.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, LabExecOptions, LabHost, LabNode } from './lab.ts';
import type { RunResult } from './proc.ts';

export const SCRIPTS_DIR = fileURLToPath(new URL('../scripts/', import.meta.url));
export type StepName =
  | 'install'
  | 'certs'
  | 'etcd-config'
  | 'start'
  | 'snat-fix'
  | 'verify-ping'
  | 'drift'
  | 'doctor'
  | 'fleet';

/**
 * `argv` in a mount namespace of its own where / is read-only but /tmp (the lab's roots, the
 * scripts' temp files): a host path a script failed to put under --root (or the cluster file's
 * "root") fails with EROFS instead of changing this machine. Nothing is mounted anywhere else.
 */
export function readOnlyRoot(argv: readonly string[]): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount --bind /tmp /tmp && mount -o remount,bind,ro / && exec "$@"',
    'sh',
    ...argv,
  ];
}

/** Run one step script in `host`'s namespace (/ read-only but /tmp). Never throws on the script's exit status. */
export function runStep(
  lab: Lab,
  host: LabHost,
  step: StepName,
  args: readonly string[],
  opts: LabExecOptions = {},
): Promise<RunResult> {
  return lab.exec(host.netns, readOnlyRoot([join(SCRIPTS_DIR, `${step}.ts`), ...args]), {
    timeoutMs: 180_000,
    ...opts,
    okStatus: [0, 1, 2, 3, ...(opts.okStatus ?? [])],
  });
}

export interface RunbookOptions {
  /** the flannel Backend object (default the runbook's {"Type": "host-gw"}) */
  readonly backend?: Readonly<Record<string, unknown>>;
  /** file name in the labdir (default cluster.json) */
  readonly file?: string;
  /** each node with its "ssh" and "root" (the remote mode: scripts/runbook.ts from the control host) */
  readonly remote?: boolean;
  /** each node with its "root" (a command run in the node's namespace needs no --root) */
  readonly roots?: boolean;
}

/** The lab's cluster file (the README's, with the lab's nodes and flannel version), written into the labdir. */
export function writeClusterFile(lab: Lab, opts: RunbookOptions = {}): string {
  const doc = {
    flannelVersion: lab.flannelVersion,
    etcd: {
      endpoints: [...lab.etcd.endpoints],
      cafile: '/opt/flannel/cert/ca.pem',
      certfile: '/opt/flannel/cert/client.pem',
      keyfile: '/opt/flannel/cert/client-key.pem',
      prefix: '/coreos.com/network',
      api: 'auto',
    },
    network: '172.7.0.0/16',
    backend: opts.backend ?? { Type: 'host-gw' },
    bridge: 'docker0',
    healthzPort: 2401,
    nodes: lab.nodes.map((n) => ({
      name: n.name,
      publicIp: n.ip,
      iface: n.iface,
      subnet: n.subnet,
      program: n.program,
      ...(opts.remote && { ssh: lab.remote!.destination(n) }),
      ...((opts.remote || opts.roots) && { root: n.root }),
    })),
  };
  const path = join(lab.dir, opts.file ?? 'cluster.json');
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}

/** The flags every per-node step takes in the lab. */
export function nodeArgs(cluster: string, node: LabNode): string[] {
  return ['--cluster', cluster, '--node', node.name, '--root', node.root];
}

export interface StepRun {
  readonly step: StepName;
  readonly host: string;
  readonly args: readonly string[];
  readonly result: RunResult;
  readonly seconds: number;
}

/** The six steps, in the runbook's order, on every node; stops at the first failing step. */
export async function runbookWithScripts(
  lab: Lab,
  opts: RunbookOptions & { log?: (line: string) => void; startsecs?: number } = {},
): Promise<StepRun[]> {
  const log = opts.log ?? (() => {});
  const cluster = writeClusterFile(lab, opts);
  const runs: StepRun[] = [];
  const one = async (host: LabHost, step: StepName, args: string[]) => {
    const t0 = performance.now();
    const result = await runStep(lab, host, step, args);
    const seconds = (performance.now() - t0) / 1000;
    runs.push({ step, host: host.name, args, result, seconds });
    const first =
      (result.status === 0 ? result.stdout : result.stderr || result.stdout).trim().split('\n').at(-1) ?? '';
    log(`${step} on ${host.name}: exit ${result.status} (${seconds.toFixed(1)}s) ${first}`);
    if (result.status !== 0) {
      throw new Error(`${step} on ${host.name} exited ${result.status}:\n${result.stdout}${result.stderr}`);
    }
  };
  const each = (f: (n: LabNode) => Promise<void>) => Promise.all(lab.nodes.map(f));
  const ch = lab.certHost;
  await each((n) =>
    one(n, 'install', [
      ...nodeArgs(cluster, n),
      '--version',
      lab.flannelVersion,
      '--url',
      lab.tarball.url,
      '--sha256',
      lab.tarball.sha256,
    ]),
  );
  await each((n) =>
    one(n, 'certs', [
      ...nodeArgs(cluster, n),
      '--from',
      `${ch.user}@${ch.name}:${ch.certsDir}`,
      '--identity',
      ch.identity,
      '--known-hosts',
      ch.knownHosts,
    ]),
  );
  const first = lab.nodes[0]!;
  await one(first, 'etcd-config', ['--cluster', cluster, '--root', first.root]);
  const startArgs = (n: LabNode) => [
    ...nodeArgs(cluster, n),
    ...(opts.startsecs !== undefined ? ['--startsecs', String(opts.startsecs)] : []),
  ];
  if (lab.flannelVersion === 'v0.11.0') await each((n) => one(n, 'start', startArgs(n)));
  else {
    // flannel v0.18+ handles only the first event of each etcd watch response (docs/flannel-facts.md,
    // v0.20.2 differences: lost watch events): nodes registering at the same moment can miss each other's lease.
    // The runbook goes node by node anyway; drift --fix mends what is missed later.
    for (const n of lab.nodes) await one(n, 'start', startArgs(n));
  }
  await each((n) => one(n, 'snat-fix', [...nodeArgs(cluster, n), '--drop-reject']));
  await each((n) =>
    one(n, 'verify-ping', [
      ...nodeArgs(cluster, n),
      '--targets',
      lab.nodes
        .filter((o) => o !== n)
        .map((o) => o.pod.ip)
        .join(','),
    ]),
  );
  return runs;
}

/**
 * The runbook in one command from the control host (the remote mode): scripts/runbook.ts over
 * ssh to every node (nodes without Node.js, with iproute2 4.11), the cluster-wide inputs as
 * flags. Returns its result; never throws on its exit status.
 */
export async function runbookRemote(
  lab: Lab,
  opts: RunbookOptions & { startsecs?: number; extra?: readonly string[] } = {},
): Promise<{ cluster: string; result: RunResult; seconds: number }> {
  if (!lab.remote) throw new Error('runbookRemote: the lab was built without remote: true');
  const cluster = writeClusterFile(lab, { ...opts, remote: true });
  const ch = lab.certHost;
  const t0 = performance.now();
  const result = await lab.exec(
    lab.remote.control.netns,
    readOnlyRoot([
      join(SCRIPTS_DIR, 'runbook.ts'),
      '--cluster',
      cluster,
      '--ssh-config',
      lab.remote.sshConfig,
      '--url',
      lab.tarball.url,
      '--sha256',
      lab.tarball.sha256,
      '--from',
      `${ch.user}@${ch.name}:${ch.certsDir}`,
      '--identity',
      ch.identity,
      '--known-hosts',
      ch.knownHosts,
      ...(opts.startsecs !== undefined ? ['--startsecs', String(opts.startsecs)] : []),
      ...(opts.extra ?? []),
    ]),
    { timeoutMs: 600_000, okStatus: [0, 1, 2, 3] },
  );
  return { cluster, result, seconds: (performance.now() - t0) / 1000 };
}
