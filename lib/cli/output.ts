// What a script prints. stdout: the report (human lines, or JSON with --json) or the
// --dry-run script; stderr: progress, notes and errors. --quiet means the same everywhere:
// nothing on stdout unless something is wrong or changed, no progress on stderr.
// Everything a script prints goes through print() / printErr(), so a test can run main()
// in-process and read what it printed (captureOutput) without touching the real streams.

import { AsyncLocalStorage } from 'node:async_hooks';
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

/** Print the report: JSON with --json, else the human lines (nothing with --quiet and no news). */
export function report(
  settings: Pick<Settings, 'json' | 'quiet'>,
  data: unknown,
  lines: readonly string[],
  important = true,
): void {
  if (settings.json) {
    print(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  if (settings.quiet && !important) return;
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
