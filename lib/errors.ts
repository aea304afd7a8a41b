// Exit codes and the two error kinds every script shares (README: "Exit codes").
//   UsageError   - bad flag, bad file, bad config: exit 2, nothing was changed.
//   CommandError - a command we ran failed: exit 3, carries argv, status and stderr.

export const ExitCode = {
  Ok: 0,
  /** drift found, or a check (ping, verification) failed */
  Drift: 1,
  /** usage or config error; nothing was changed */
  Usage: 2,
  /** runtime failure: a command, etcd or the network failed */
  Runtime: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad input. The message is one line: field, value, rule and an example. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.Usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * One-line message for a rejected value, in the house form:
 *   `Network "172.7.0.0/33": prefix must be 0-32, e.g. 172.7.0.0/16`
 */
export function invalid(field: string, value: unknown, rule: string, example?: string): UsageError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return new UsageError(`${field} ${shown}: ${rule}${example ? `, e.g. ${example}` : ''}`);
}

/** A command (or remote call) that failed at run time. */
export class CommandError extends Error {
  readonly exitCode = ExitCode.Runtime;
  constructor(
    readonly argv: readonly string[],
    readonly status: number | null,
    readonly stderr: string,
    what?: string,
  ) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(what ?? `${argv.join(' ')} exited ${status}${tail ? `: ${tail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** A failure that is not a command's (etcd unreachable, timeout): exit 3. */
export class RuntimeError extends Error {
  readonly exitCode = ExitCode.Runtime;
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** The exit code an error maps to (unknown errors are runtime failures). */
export function exitCodeOf(err: unknown): ExitCode {
  if (err && typeof err === 'object' && 'exitCode' in err) {
    const c = (err as { exitCode: unknown }).exitCode;
    if (c === 1 || c === 2 || c === 3) return c;
  }
  return ExitCode.Runtime;
}
