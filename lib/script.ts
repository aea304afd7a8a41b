// What every step script shares at its edges: running main(), turning errors into the
// README's exit codes with ONE line on stderr, and the stdout/stderr split
// (stdout: the report or the --dry-run script; stderr: progress and errors).

import { readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, exitCodeOf, invalid, UsageError } from './errors.ts';
import { parseClusterFile, selectNode, type Cluster, type ClusterNode } from './cluster.ts';
import { formatHelp, parseFlags, resolveSettings, type FlagsSpec, type ParsedFlags, type Settings } from './flags.ts';
import { ipAddrCommand, localIps, parseIpAddr } from './interfaces.ts';
import { zxRunner } from './runner.ts';

export type Main = (argv: string[]) => Promise<number>;

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

/**
 * Run a script's main: exit code from its return value or from the error kind.
 * Errors print one line (`name: message`); a stack only with FLANNEL_RUNBOOK_DEBUG=1.
 * The process is ended deliberately: an etcd3 client or a timer must not keep a cron run alive.
 */
export async function runScript(url: string, main: Main): Promise<void> {
  // Debian's bash sources ~/.bashrc when SHLVL is unset (cron): zx calls would pay for it.
  process.env.SHLVL ??= '1';
  const name = scriptName(url);
  let code: number;
  try {
    code = await main(process.argv.slice(2));
  } catch (err) {
    code = exitCodeOf(err);
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `${name}: ${code === ExitCode.Usage && !(err instanceof UsageError) ? 'error: ' : ''}${msg}\n`,
    );
    if (process.env.FLANNEL_RUNBOOK_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  }
  process.exitCode = code;
  // let stdout drain, then end even if a client left a handle open
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/** Progress and notes go to stderr, never stdout (stdout is the report or the dry-run script). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ------------------------------------------------------------------ settings at the edge

export interface ScriptInfo {
  readonly name: string;
  readonly summary: string;
  readonly example: string;
  /** does the script act as one node (select it from the cluster file when --node is absent) */
  readonly perNode: boolean;
}

export interface Loaded<S extends FlagsSpec> {
  readonly flags: ParsedFlags<S>;
  readonly settings: Settings;
  readonly cluster?: Cluster;
  readonly node?: ClusterNode;
}

/**
 * Parse argv, print --help (returns undefined), read the cluster file and pick this node,
 * then resolve every setting. All input checking happens here, before anything is observed.
 */
export async function loadSettings<const S extends FlagsSpec>(
  argv: readonly string[],
  spec: S,
  info: ScriptInfo,
): Promise<Loaded<S> | undefined> {
  const flags = parseFlags(argv, spec);
  if ((flags.values as Record<string, unknown>).help === true) {
    process.stdout.write(formatHelp(info.name, info.summary, spec, info.example));
    return undefined;
  }
  const file = (flags.values as Record<string, unknown>).cluster as string | undefined;
  const nodeName = (flags.values as Record<string, unknown>).node as string | undefined;
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
      const ips = nodeName !== undefined ? [] : localIps(parseIpAddr((await zxRunner(ipAddrCommand)).stdout));
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
  const settings = resolveSettings(flags, cluster, node);
  return { flags, settings, cluster, node };
}

/** Print the report: JSON with --json, else the human lines (nothing with --quiet and no news). */
export function report(
  settings: Pick<Settings, 'json' | 'quiet'>,
  data: unknown,
  lines: readonly string[],
  important = true,
): void {
  if (settings.json) {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  if (settings.quiet && !important) return;
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
}
