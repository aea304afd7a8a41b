// A step's plan: the ordered actions that make the node right, as data. Planners build it
// (pure); applyPlan() executes it; formatPlan() prints it as the runnable shell --dry-run shows.
// Files are written atomically (temp file + rename in the same directory), links are
// switched atomically (new link + rename over the old), so a crash never leaves half a file.

import { chmod, mkdir, rename, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { appendFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatCommand, shellQuote, type Command, type Runner } from './runner.ts';

export type Action =
  | { readonly kind: 'run'; readonly cmd: Command }
  | {
      readonly kind: 'write';
      readonly path: string;
      readonly content: string;
      readonly mode: number;
      readonly why: string;
    }
  | { readonly kind: 'mkdir'; readonly path: string; readonly mode: number; readonly why: string }
  | { readonly kind: 'copy'; readonly from: string; readonly to: string; readonly mode: number; readonly why: string }
  | { readonly kind: 'link'; readonly target: string; readonly path: string; readonly why: string };

export const run = (cmd: Command): Action => ({ kind: 'run', cmd });
export const write = (path: string, content: string, why: string, mode = 0o644): Action => ({
  kind: 'write',
  path,
  content,
  mode,
  why,
});
export const makeDir = (path: string, why: string, mode = 0o755): Action => ({ kind: 'mkdir', path, mode, why });
export const copy = (from: string, to: string, why: string, mode = 0o644): Action => ({
  kind: 'copy',
  from,
  to,
  mode,
  why,
});
export const link = (target: string, path: string, why: string): Action => ({ kind: 'link', target, path, why });

const EOF_MARK = 'FLANNEL_RUNBOOK_EOF';
const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const q = shellQuote;

/** One action as shell, with its `# why` line; equal in effect to what applyAction does. */
export function formatAction(a: Action): string {
  switch (a.kind) {
    case 'run':
      return formatCommand(a.cmd);
    case 'write': {
      const body = a.content.endsWith('\n') || a.content === '' ? a.content : `${a.content}\n`;
      const tmp = `${a.path}.tmp`;
      return `# ${a.why}\ninstall -D -m ${octal(a.mode)} /dev/stdin ${q(tmp)} <<'${EOF_MARK}'\n${body}${EOF_MARK}\nmv -f ${q(tmp)} ${q(a.path)}`;
    }
    case 'mkdir':
      return `# ${a.why}\nmkdir -p -m ${octal(a.mode)} ${q(a.path)}`;
    case 'copy': {
      const tmp = `${a.to}.tmp`;
      return `# ${a.why}\ninstall -D -m ${octal(a.mode)} ${q(a.from)} ${q(tmp)}\nmv -f ${q(tmp)} ${q(a.to)}`;
    }
    case 'link': {
      const tmp = `${a.path}.tmp`;
      return `# ${a.why}\nln -sfn ${q(a.target)} ${q(tmp)}\nmv -T ${q(tmp)} ${q(a.path)}`;
    }
  }
}

/** The plan as a script to paste into a shell (empty when there is nothing to do). */
export function formatPlan(actions: readonly Action[]): string {
  if (actions.length === 0) return '';
  return `${['set -e', ...actions.map(formatAction)].join('\n')}\n`;
}

/** Execute one action for real. */
export async function applyAction(a: Action, runner: Runner): Promise<void> {
  switch (a.kind) {
    case 'run':
      await runner(a.cmd);
      return;
    case 'write': {
      await mkdir(dirname(a.path), { recursive: true });
      const tmp = `${a.path}.tmp.${process.pid}`;
      await writeFile(tmp, a.content, { mode: a.mode });
      await chmod(tmp, a.mode); // the umask must not widen or narrow the mode we chose
      await rename(tmp, a.path);
      return;
    }
    case 'mkdir':
      await mkdir(a.path, { recursive: true, mode: a.mode });
      return;
    case 'copy': {
      const tmp = `${a.to}.tmp.${process.pid}`;
      await mkdir(dirname(a.to), { recursive: true });
      await copyFile(a.from, tmp);
      await chmod(tmp, a.mode);
      await rename(tmp, a.to);
      return;
    }
    case 'link': {
      const tmp = `${a.path}.tmp.${process.pid}`;
      await rm(tmp, { force: true });
      await symlink(a.target, tmp);
      await rename(tmp, a.path); // rename(2) replaces the old link atomically, never follows it
      return;
    }
  }
}

/**
 * FLANNEL_RUNBOOK_TRACE=FILE: one JSON line per change made to the host or to etcd, so a
 * test can prove that a second run changed nothing (not merely that it said so).
 */
export function traceChange(kind: string, what: string): void {
  const trace = process.env.FLANNEL_RUNBOOK_TRACE;
  if (trace) appendFileSync(trace, `${JSON.stringify({ kind, what })}\n`);
}

/** Execute the actions in order; stop at the first failure (as `set -e` would). */
export async function applyPlan(
  actions: readonly Action[],
  runner: Runner,
  onAction?: (a: Action) => void,
): Promise<void> {
  for (const a of actions) {
    onAction?.(a);
    traceChange(a.kind, describeAction(a));
    await applyAction(a, runner);
  }
}

/** One line per action for the human report ("wrote /opt/flannel/subnet.env"). */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'run':
      return `ran ${a.cmd.argv.slice(0, 3).join(' ')}${a.cmd.argv.length > 3 ? ' ...' : ''}: ${a.cmd.why}`;
    case 'write':
      return `wrote ${a.path}: ${a.why}`;
    case 'mkdir':
      return `created ${a.path}: ${a.why}`;
    case 'copy':
      return `installed ${a.to}: ${a.why}`;
    case 'link':
      return `pointed ${a.path} at ${a.target}: ${a.why}`;
  }
}
