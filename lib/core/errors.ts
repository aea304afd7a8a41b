// Exit codes and the error kinds every script shares (README: "Exit codes"). The kind says
// what happened, and so what the operator may assume:
//   UsageError   - bad flag, bad file, bad config: exit 2, and nothing was changed.
//   RuntimeError - something failed while running (etcd, the network, a file write): exit 3.
//   CommandError - a command we ran exited with a status that is no answer: exit 3, with its
//                  argv, status and the tail of its stderr.
//   TimeoutError - a command ran past its timeout and was killed with its process group: exit 3.
//   OutputError  - a daemon's output we cannot parse: exit 3, naming the command and the first
//                  line we could not read (never "usage": the operator's input was fine).
// A failure after a change was made is a RuntimeError that says what was already changed
// (host/apply.ts), whatever the kind of the error underneath.

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

/** How much of a value a message quotes: enough to recognise it, never a whole file. */
export const SHOWN_VALUE_CHARS = 80;

/** A value as a message quotes it: JSON, cut at about 80 characters with its length said. */
export function showValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const quoted = JSON.stringify(text);
  if (typeof value !== 'string')
    return text.length > SHOWN_VALUE_CHARS ? `${text.slice(0, SHOWN_VALUE_CHARS)}...` : text;
  if (quoted.length <= SHOWN_VALUE_CHARS + 2) return quoted;
  return `${JSON.stringify(text.slice(0, SHOWN_VALUE_CHARS - 3))}... (${text.length} characters)`;
}

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
 *   `--network "172.7.0.0/33": prefix must be 0-32, e.g. 172.7.0.0/16`
 * The example is left out when it would only repeat the bad value.
 */
export function invalid(field: string, value: unknown, rule: string, example?: string): UsageError {
  const shown = showValue(value);
  // an example is never the bad value again, and says "e.g." once
  const ex = example?.replace(/^e\.g\.\s*/, '');
  const eg = ex !== undefined && ex !== '' && ex !== value && ex !== shown ? `, e.g. ${ex}` : '';
  return new UsageError(`${field} ${shown}: ${rule}${eg}`);
}

/** A failure that is not a command's (etcd unreachable, a file that cannot be written): exit 3. */
export class RuntimeError extends Error {
  readonly exitCode = ExitCode.Runtime;
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** A command (or remote call) that failed at run time. */
export class CommandError extends RuntimeError {
  constructor(
    readonly argv: readonly string[],
    readonly status: number | null,
    readonly stderr: string,
    what?: string,
  ) {
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(what ?? `${commandName(argv)} exited ${status}${tail ? `: ${tail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** A command that ran past its timeout; its process group was killed. */
export class TimeoutError extends RuntimeError {
  constructor(
    readonly argv: readonly string[],
    readonly timeoutMs: number,
  ) {
    super(`${commandName(argv)} did not finish within ${formatMs(timeoutMs)}; killed it (and its children)`);
    this.name = 'TimeoutError';
  }
}

/** Output of a command (or daemon) that does not parse: exit 3, never a usage error. */
export class OutputError extends RuntimeError {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

/**
 * One line for output that does not parse, in the house form: what was read (the command and
 * line), the value, the rule and an example of what it should look like:
 *   `ip -j route show [3].dst "x": every route needs a "dst" string, e.g. "172.7.22.0/24"`
 */
export function unreadable(where: string, value: unknown, rule: string, example?: string): OutputError {
  return new OutputError(invalid(where, value, rule, example).message);
}

/** Run a value parser over a daemon's output: its UsageError becomes an OutputError (exit 3). */
export function readingOutput<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof UsageError) throw new OutputError(e.message);
    throw e;
  }
}

/** `ip -j route show`, shortened to its first words for a message. */
export function commandName(argv: readonly string[]): string {
  const words = argv.slice(0, 4).join(' ');
  return argv.length > 4 ? `${words} ...` : words;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The exit code an error maps to (unknown errors are runtime failures). */
export function exitCodeOf(err: unknown): ExitCode {
  if (err && typeof err === 'object' && 'exitCode' in err) {
    const c = (err as { exitCode: unknown }).exitCode;
    if (c === 1 || c === 2 || c === 3) return c;
  }
  return ExitCode.Runtime;
}
