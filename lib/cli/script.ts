// The frame every script shares: parse -> (observe -> plan -> print or apply) -> report.
//   runScript(url, main, engine) - the entry point: a LocalHost (zx for the steps, plain spawn on
//       the cron path), main(argv, host), the README's exit codes with ONE line on stderr, and a
//       deliberate process end (an etcd3 client or a timer must not keep a cron run alive);
//   loadSettings(argv, spec, info, host) - every input checked before anything is observed:
//       flags, --help, the cluster file and this node, the settings; with --dry-run the Host is
//       a RecordingHost over the real one (observations run, changes are recorded and printed).
// stdout carries the report or the --dry-run script; stderr carries progress and errors.

import { readFileSync, realpathSync } from 'node:fs';
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
  if (values.help === true) {
    print(formatHelp(info.name, info.summary, spec, info.example));
    return undefined;
  }
  const file = values.cluster as string | undefined;
  const nodeName = values.node as string | undefined;
  let cluster: Cluster | undefined;
  let node: ClusterNode | undefined;
  if (file !== undefined) {
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
    cluster = parseClusterFile(text, file);
    if (nodeName !== undefined || info.perNode) {
      const ips = nodeName !== undefined ? [] : await hostIps(host);
      node = selectNode(cluster, { name: nodeName, localIps: ips });
    }
  } else if (nodeName !== undefined) {
    throw invalid(
      '--node',
      nodeName,
      'needs --cluster FILE to look the node up in',
      '--cluster cluster.json --node hdss7-21',
    );
  }
  const root = await checkRoot(host, typeof values.root === 'string' ? values.root : '/');
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

/** The node's IPv4 addresses (to find which cluster node it is). */
export async function hostIps(host: Host): Promise<string[]> {
  return localIps(await readAddresses(host));
}
