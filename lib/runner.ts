// The executor every step is handed. Planners return Commands; a Runner runs them.
//   zxRunner        - runs for real (zx), throws CommandError on an unexpected status.
//   RecordingRunner - records instead of running: --dry-run and plan tests.
// formatScript() turns commands into the runnable shell that --dry-run prints.

import { CommandError } from './errors.ts';

export interface Command {
  /** argv, never a shell string: values are quoted only when printed */
  readonly argv: readonly string[];
  /** stdin (e.g. the `ip -batch -` or `iptables-restore --noflush` payload) */
  readonly input?: string;
  /** one line on why this command runs; printed as `# why` above it */
  readonly why: string;
  /** exit statuses that are answers, not failures (`iptables -C` = 1: absent) */
  readonly okStatus?: readonly number[];
}

export interface Result {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number;
}

export type Runner = (cmd: Command) => Promise<Result>;

const SAFE = /^[A-Za-z0-9_\-+=.,:/@%^]+$/;

/** Quote one word for a POSIX shell (single quotes; only when needed). */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

const HEREDOC = 'FLANNEL_RUNBOOK_EOF';

/** One command as runnable shell: `# why`, the quoted argv, a quoted heredoc for stdin. */
export function formatCommand(cmd: Command): string {
  const line = cmd.argv.map(shellQuote).join(' ');
  const why = cmd.why
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n');
  if (cmd.input === undefined) return `${why}\n${line}`;
  const body = cmd.input.endsWith('\n') ? cmd.input : `${cmd.input}\n`;
  return `${why}\n${line} <<'${HEREDOC}'\n${body}${HEREDOC}`;
}

/** Commands as one script, ready to paste into a shell (`set -e`: stop at the first failure). */
export function formatScript(cmds: readonly Command[]): string {
  if (cmds.length === 0) return '';
  return `${['set -e', ...cmds.map(formatCommand)].join('\n')}\n`;
}

/** Runs for real through zx (bash, each argv element quoted by zx). */
export const zxRunner: Runner = async (cmd) => {
  // Debian's bash sources ~/.bashrc when SHLVL is unset (as under cron): keep it set.
  process.env.SHLVL ??= '1';
  const { $ } = await import('zx');
  const out = await $({ input: cmd.input, nothrow: true, quiet: true, verbose: false })`${cmd.argv}`;
  const status = out.exitCode ?? 128;
  const result = { stdout: out.stdout, stderr: out.stderr, status };
  if (status !== 0 && !(cmd.okStatus ?? []).includes(status)) {
    throw new CommandError(cmd.argv, status, out.stderr);
  }
  return result;
};

/** Records commands instead of running them; answers every one with success. */
export class RecordingRunner {
  readonly commands: Command[] = [];
  readonly run: Runner = async (cmd) => {
    this.commands.push(cmd);
    return { stdout: '', stderr: '', status: 0 };
  };
  script(): string {
    return formatScript(this.commands);
  }
}

/**
 * Runs argv directly with node:child_process (no shell, no zx load): for read-only observers
 * on the cron path, where every millisecond is paid by every node every minute.
 * Same contract as zxRunner.
 */
export const spawnRunner: Runner = async (cmd) => {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.argv[0]!, cmd.argv.slice(1), {
      stdio: [cmd.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => reject(new CommandError(cmd.argv, null, e.message)));
    child.on('close', (code, signal) => {
      const status = code ?? 128 + (signal ? 9 : 0);
      const result = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        status,
      };
      if (status !== 0 && !(cmd.okStatus ?? []).includes(status))
        reject(new CommandError(cmd.argv, status, result.stderr));
      else resolve(result);
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a command that exits without reading: its status tells
      child.stdin.end(cmd.input);
    }
  });
};
