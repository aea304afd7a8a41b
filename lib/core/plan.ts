// A step's plan: the ordered actions that make the node right, as data. Planners build it
// (pure); host/apply.ts executes it through a Host; formatPlan() prints it as the runnable
// shell --dry-run shows. Each action is one Host operation, so a recording Host turns what a
// run would do back into the same actions.
// Files are written atomically (an exclusive temp file in the target's directory, created
// with its final mode, then renamed over the old one) and links are switched atomically (a
// new link renamed over the old), so a crash never leaves half a file. The printed forms
// keep those properties: mktemp, chmod before the first byte, mv.

import { formatCommand, HEREDOC, shellLine, shellQuote, whyLines, type Command } from './command.ts';

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
  | { readonly kind: 'link'; readonly target: string; readonly path: string; readonly why: string }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string; readonly why: string }
  | { readonly kind: 'remove'; readonly path: string; readonly recursive: boolean; readonly why: string }
  | {
      readonly kind: 'capture';
      /** a read-only command whose stdout becomes the file (iptables-save) */
      readonly cmd: Command;
      readonly path: string;
      readonly mode: number;
      /** text the output must hold to be written at all (an empty or cut output is refused) */
      readonly expect: string;
      readonly why: string;
    };

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
export const move = (from: string, to: string, why: string): Action => ({ kind: 'rename', from, to, why });
export const capture = (cmd: Command, path: string, why: string, opts: { mode?: number; expect: string }): Action => ({
  kind: 'capture',
  cmd,
  path,
  mode: opts.mode ?? 0o600,
  expect: opts.expect,
  why,
});
export const remove = (path: string, why: string, recursive = false): Action => ({
  kind: 'remove',
  path,
  recursive,
  why,
});

const octal = (mode: number) => mode.toString(8).padStart(4, '0');
const q = shellQuote;

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
/** An exclusive, unpredictable temp file beside `path`, at `mode` before a byte is written. */
function tempBeside(path: string, mode: number): string {
  return `mkdir -p ${q(dirOf(path))}\nt=$(mktemp ${q(`${dirOf(path)}/.${baseOf(path)}.XXXXXX`)})\nchmod ${octal(mode)} "$t"`;
}

/** One action as shell, with its `# why` line; equal in effect to what the Host does. */
export function formatAction(a: Action): string {
  switch (a.kind) {
    case 'run':
      return formatCommand(a.cmd);
    case 'write': {
      const body = a.content.endsWith('\n') || a.content === '' ? a.content : `${a.content}\n`;
      return `${whyLines(a.why)}\n${tempBeside(a.path, a.mode)}\ncat >"$t" <<'${HEREDOC}'\n${body}${HEREDOC}\nmv -f "$t" ${q(a.path)}`;
    }
    case 'mkdir':
      return `${whyLines(a.why)}\nmkdir -p -m ${octal(a.mode)} ${q(a.path)}`;
    case 'copy':
      return `${whyLines(a.why)}\n${tempBeside(a.to, a.mode)}\ncat ${q(a.from)} >"$t"\nmv -f "$t" ${q(a.to)}`;
    case 'link':
      return `${whyLines(a.why)}\nln -sfn ${q(a.target)} ${q(`${a.path}.new`)}\nmv -T ${q(`${a.path}.new`)} ${q(a.path)}`;
    case 'rename':
      return `${whyLines(a.why)}\nmv -T ${q(a.from)} ${q(a.to)}`;
    case 'remove':
      return `${whyLines(a.why)}\nrm -${a.recursive ? 'r' : ''}f ${q(a.path)}`;
    case 'capture':
      return `${whyLines(a.why)}\n${tempBeside(a.path, a.mode)}\n${shellLine(a.cmd.argv)} >"$t"\ngrep -q ${q(a.expect)} "$t"\nmv -f "$t" ${q(a.path)}`;
  }
}

/**
 * A shell test that is true once the plan's goal is reached, and what to say then: the printed
 * script starts with it, so pasting it twice changes nothing the second time.
 */
export interface DoneWhen {
  readonly test: string;
  readonly say: string;
}

/** The plan as a script to paste into a shell (empty when there is nothing to do). */
export function formatPlan(actions: readonly Action[], done?: DoneWhen): string {
  if (actions.length === 0) return '';
  const guard = done
    ? [
        `# already done? (pasted twice: the second paste changes nothing)`,
        `if ${done.test}; then echo ${shellQuote(done.say)}; exit 0; fi`,
      ]
    : [];
  return `${['set -e', ...guard, ...actions.map(formatAction)].join('\n')}\n`;
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
    case 'rename':
      return `moved ${a.from} to ${a.to}: ${a.why}`;
    case 'remove':
      return `removed ${a.path}: ${a.why}`;
    case 'capture':
      return `wrote ${a.path} (${a.cmd.argv[0]}): ${a.why}`;
  }
}
