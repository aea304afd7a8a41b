// What a script prints. stdout: the report (human lines, or JSON with --json) or the
// --dry-run script; stderr: progress, notes and errors. --quiet means the same everywhere:
// nothing on stdout unless something is wrong (drift's problems, doctor's findings, a failed
// ping), no list of what was changed, no progress; warnings and errors still go to stderr.
// Everything a script prints goes through print() / printErr(), so a test can run main()
// in-process and read what it printed (captureOutput) without touching the real streams.

import { AsyncLocalStorage } from 'node:async_hooks';
import { lineDiff } from '../core/diff.ts';
import { describeAction, type Action, type DoneWhen } from '../core/plan.ts';
import type { Host } from '../host/host.ts';
import type { RecordingHost } from '../host/recording.ts';
import type { Settings } from './settings.ts';

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** is stderr a terminal (progress redraws one line) */
  readonly tty: boolean;
}

const real: Output = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  get tty() {
    return Boolean(process.stderr.isTTY);
  },
};
const current = new AsyncLocalStorage<Output>();
const io = (): Output => current.getStore() ?? real;

/** Text on stdout (the report, or the --dry-run script). */
export function print(text: string): void {
  io().out(text);
}

/** Text on stderr (progress, errors). */
export function printErr(text: string): void {
  io().err(text);
}

export function stderrIsTty(): boolean {
  return io().tty;
}

/** Progress and notes go to stderr, never stdout (stdout is the report or the dry-run script). */
export function note(line: string): void {
  printErr(`${line}\n`);
}

/**
 * Print a step's report: JSON with --json, else the human lines. With --quiet nothing: what it
 * did or found in order is in the exit code (warnings and errors still go to stderr).
 */
export function report(settings: Pick<Settings, 'json' | 'quiet'>, data: unknown, lines: readonly string[]): void {
  if (settings.json) {
    print(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  if (settings.quiet) return;
  if (lines.length) print(`${lines.join('\n')}\n`);
}

/** Run `f` with what it prints captured (tests). */
export async function captureOutput<T>(f: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const value = await current.run(
    {
      out: (t) => {
        stdout += t;
      },
      err: (t) => {
        stderr += t;
      },
      tty: false,
    },
    f,
  );
  return { value, stdout, stderr };
}

/**
 * What a --dry-run / --check / --diff run prints, from what its RecordingHost recorded:
 *   --dry-run  the script to paste (`done`: the test that makes a second paste change nothing);
 *   --check    one line per change that would be made (exit 1 when there is any, as ansible --check);
 *   --diff     with either: each file's change as - / + lines, and each command's stdin;
 *   --json     the same as JSON: { changes, script, actions }.
 * Returns the exit code: 0, or 1 under --check when something would change.
 */
export async function printPlanned(
  s: Pick<Settings, 'json' | 'check' | 'diff'>,
  recording: Pick<RecordingHost, 'actions' | 'script'>,
  base: Host,
  done?: DoneWhen,
): Promise<number> {
  const actions = recording.actions;
  const diffs = s.diff ? await Promise.all(actions.map((a) => diffOf(a, base))) : [];
  if (s.json) {
    print(
      `${JSON.stringify({ changes: actions.length, actions: actions.map(describeAction), script: recording.script(done), ...(s.diff && { diff: diffs.flat() }) }, null, 2)}\n`,
    );
  } else if (s.check) {
    const lines = actions.length ? actions.map((a) => `would: ${describeAction(a)}`) : ['nothing would change'];
    print(`${[...lines, ...diffs.flat()].join('\n')}\n`);
  } else {
    print(recording.script(done));
    if (s.diff) for (const d of diffs.flat()) note(d);
  }
  return s.check && actions.length ? 1 : 0;
}

async function diffOf(a: Action, host: Host): Promise<string[]> {
  if (a.kind === 'write') {
    const before = (await host.readFile(a.path).catch(() => undefined)) ?? '';
    return [`--- ${a.path}`, `+++ ${a.path} (new)`, ...lineDiff(before, a.content)];
  }
  if (a.kind === 'run' && a.cmd.input !== undefined)
    return [
      `>>> ${a.cmd.argv.join(' ')}`,
      ...a.cmd.input
        .trimEnd()
        .split('\n')
        .map((l) => `+${l}`),
    ];
  return [];
}
