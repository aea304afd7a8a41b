// What every step script shares at its edges: running main(), turning errors into the
// README's exit codes with ONE line on stderr, and the stdout/stderr split
// (stdout: the report or the --dry-run script; stderr: progress and errors).

import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, exitCodeOf, UsageError } from './errors.ts';

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
    process.stderr.write(`${name}: ${code === ExitCode.Usage && !(err instanceof UsageError) ? 'error: ' : ''}${msg}\n`);
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
