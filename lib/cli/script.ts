// The frame every script shares: parse -> (observe -> plan -> print or apply) -> report.
//   runScript(url, main, engine) - the entry point: a LocalHost (zx for the steps, plain spawn on
//       the cron path), main(argv, host), the README's exit codes with ONE line on stderr, and a
//       deliberate process end (an etcd3 client or a timer must not keep a cron run alive);
//   loadSettings(argv, spec, info, host) - every input checked before anything is observed:
//       flags, --help, the cluster file and this node, the settings; with --dry-run the Host is
//       a RecordingHost over the real one (observations run, changes are recorded and printed).
// stdout carries the report or the --dry-run script; stderr carries progress and errors.

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, exitCodeOf, invalid, UsageError } from '../core/errors.ts';
import { parseClusterFile, selectNode, type Cluster, type ClusterNode } from '../model/cluster.ts';
import { localIps } from '../model/interfaces.ts';
import { readAddresses } from '../host/iproute.ts';
import { readNodeDefaults } from '../host/node-files.ts';
import type { Host } from '../host/host.ts';
import { LocalHost, type Engine } from '../host/local.ts';
import { RecordingHost } from '../host/recording.ts';
import { SshHost } from '../host/ssh.ts';
import { checkSshDestination } from '../core/validate.ts';
import { TOOLKIT_NAME, TOOLKIT_VERSION } from '../core/version.ts';
import { formatHelp, parseFlags, type FlagsSpec, type ParsedFlags } from './flags.ts';
import { print } from './output.ts';
import { resolveSettings, type Settings } from './settings.ts';

export type Main = (argv: string[], host: Host) => Promise<number>;

/** The script's name for messages: `snat-fix` for scripts/snat-fix.ts. */
export function scriptName(url: string): string {
  return basename(new URL(url).pathname).replace(/\.[cm]?[jt]s$/, '');
}

/** True when the module at `url` is the process's entry point (not imported by a test). */
export function isEntryPoint(url: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/** Errors as one line (`name: message`); a stack only with FLANNEL_RUNBOOK_DEBUG=1. */
export function errorLine(name: string, err: unknown): string {
  const code = exitCodeOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  return `${name}: ${code === ExitCode.Usage && !(err instanceof UsageError) ? 'error: ' : ''}${msg.split('\n')[0]}`;
}

/** Run a script's main on this machine; the exit code comes from its return value or the error kind. */
export async function runScript(url: string, main: Main, engine: Engine = 'zx'): Promise<void> {
  // Debian's bash sources ~/.bashrc when SHLVL is unset (cron): zx calls would pay for it.
  process.env.SHLVL ??= '1';
  const name = scriptName(url);
  let code: number;
  try {
    code = await main(process.argv.slice(2), new LocalHost(engine));
  } catch (err) {
    code = exitCodeOf(err);
    process.stderr.write(`${errorLine(name, err)}\n`);
    if (process.env.FLANNEL_RUNBOOK_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  }
  await closeRemoteHosts();
  process.exitCode = code;
  // let stdout drain, then end even if a client left a handle open
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

export interface ScriptInfo {
  readonly name: string;
  readonly summary: string;
  readonly example: string;
  /** does the script act as one node (select it from the cluster file when --node is absent) */
  readonly perNode: boolean;
  /** take defaults from the node's own files (host/node-files.ts); default true */
  readonly nodeFiles?: boolean;
}

/** --help or --version: printed, and the script ends (exit 0). */
export function helpOrVersion(
  flags: { readonly values: Readonly<Record<string, unknown>>; readonly versionAsked: boolean },
  spec: FlagsSpec,
  info: Pick<ScriptInfo, 'name' | 'summary' | 'example'>,
): boolean {
  if (flags.values.help === true) {
    print(formatHelp(info.name, info.summary, spec, info.example));
    return true;
  }
  if (flags.versionAsked) {
    print(`${info.name} (${TOOLKIT_NAME}) ${TOOLKIT_VERSION}\n`);
    return true;
  }
  return false;
}

/** --root: an existing directory (nothing is created for a root that is not there). */
async function checkRoot(host: Host, text: string): Promise<string> {
  const root = posix.resolve(text);
  const st = await host.stat(root);
  if (!st)
    throw invalid(
      '--root',
      text,
      "no such directory; --root names the directory that holds the node's files",
      '/tmp/lab/hdss7-21',
    );
  if (st.type !== 'dir') throw invalid('--root', text, `is a ${st.type}, not a directory`, '/tmp/lab/hdss7-21');
  return root;
}

// ---------------------------------------------------------------------------------------------
// remote mode: --ssh, or a cluster node with "ssh"

/**
 * The ssh connections this process opened, one per node (runbook.ts runs six steps over one);
 * runScript closes them (and SshHost's exit hook would).
 */
const remoteHosts = new Map<string, SshHost>();

export async function closeRemoteHosts(): Promise<void> {
  const hosts = [...remoteHosts.values()];
  remoteHosts.clear();
  await Promise.all(hosts.map((h) => h.close().catch(() => undefined)));
}

/** --ssh-config: a file where the operator stands (ssh reads it), checked before ssh runs. */
export function checkSshConfig(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(file);
  } catch {
    throw invalid('--ssh-config', file, 'no such file', '~/.ssh/flannel-nodes.conf');
  }
  if (!st.isFile()) throw invalid('--ssh-config', file, 'is not a file', '~/.ssh/flannel-nodes.conf');
  return file;
}

/** The Host on a remote node: connected (a node that cannot be reached fails here, exit 3). */
export async function remoteHost(destination: string, configFile?: string, node?: string): Promise<SshHost> {
  const key = JSON.stringify([destination, configFile ?? '']);
  let h = remoteHosts.get(key);
  if (!h) {
    h = new SshHost({ destination, ...(configFile && { configFile }), ...(node && { node }) });
    remoteHosts.set(key, h);
  }
  await h.connect();
  return h;
}

export interface Loaded<S extends FlagsSpec> {
  readonly flags: ParsedFlags<S>;
  readonly settings: Settings;
  readonly cluster?: Cluster;
  readonly node?: ClusterNode;
  /** the Host to act through: the one given, or with --dry-run a RecordingHost over it */
  readonly host: Host;
  /** set with --dry-run: what the run would have changed */
  readonly recording?: RecordingHost;
}

/**
 * Parse argv, print --help (returns undefined), read the cluster file and pick this node,
 * then resolve every setting. All input checking happens here, before anything is observed.
 * The cluster file is a file where the operator stands, not a host path.
 */
export async function loadSettings<const S extends FlagsSpec>(
  argv: readonly string[],
  spec: S,
  info: ScriptInfo,
  host: Host,
): Promise<Loaded<S> | undefined> {
  const flags = parseFlags(argv, spec);
  const values = flags.values as Record<string, unknown>;
  if (helpOrVersion(flags, spec, info)) return undefined;
  const file = values.cluster as string | undefined;
  const nodeName = values.node as string | undefined;
  const sshFlag = values.ssh as string | undefined;
  if (sshFlag !== undefined) checkSshDestination('--ssh', sshFlag);
  const sshConfig = checkSshConfig(values['ssh-config'] as string | undefined);
  let cluster: Cluster | undefined;
  let node: ClusterNode | undefined;
  if (file !== undefined) {
    cluster = readClusterFile(file);
    if (nodeName !== undefined) node = selectNode(cluster, { name: nodeName, localIps: [] });
  } else if (nodeName !== undefined) {
    throw invalid(
      '--node',
      nodeName,
      'needs --cluster FILE to look the node up in',
      '--cluster cluster.json --node hdss7-21',
    );
  }
  // where the step runs: --ssh, else the named node's "ssh", else this host
  const destination = sshFlag ?? node?.ssh;
  if (destination !== undefined) host = await remoteHost(destination, sshConfig, node?.name);
  if (cluster && !node && info.perNode) node = selectNode(cluster, { localIps: await hostIps(host) });
  else if (cluster && !node && nodeName === undefined) {
    // a cluster-wide step (etcd-config) still reads this node's files (the certs): its root, if it is one
    const ips = new Set(await hostIps(host));
    const mine = cluster.nodes.filter((n) => ips.has(n.publicIp.toString()));
    if (mine.length === 1) node = mine[0];
  }
  // --root, else the cluster node's "root" (resolveSettings reads it the same way)
  const root = await checkRoot(host, flags.explicit.has('root') ? (values.root as string) : (node?.root ?? '/'));
  const files = info.nodeFiles === false ? undefined : await readNodeDefaults(host, root);
  const settings = resolveSettings(flags, cluster, node, files);
  const recording = settings.dryRun ? new RecordingHost(host) : undefined;
  return {
    flags,
    settings,
    ...(cluster && { cluster }),
    ...(node && { node }),
    host: recording ?? host,
    ...(recording && { recording }),
  };
}

/** The cluster file: a file where the operator stands (never a host path), parsed and checked. */
export function readClusterFile(file: string): Cluster {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw invalid(
      '--cluster',
      file,
      `cannot read (${(e as NodeJS.ErrnoException).code ?? e})`,
      '/etc/flannel-runbook/cluster.json',
    );
  }
  return parseClusterFile(text, file);
}

/** The node's IPv4 addresses (to find which cluster node it is). */
export async function hostIps(host: Host): Promise<string[]> {
  return localIps(await readAddresses(host));
}
