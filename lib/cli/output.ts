// What a script prints. stdout: the report (human lines, or JSON with --json) or the
// --dry-run script; stderr: progress, notes and errors. --quiet means the same everywhere:
// nothing on stdout unless something is wrong or changed, no progress on stderr.

import type { Settings } from './settings.ts';

/** Progress and notes go to stderr, never stdout (stdout is the report or the dry-run script). */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
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
