// Commands as data. A planner returns Commands (argv, never a shell string); the Host runs
// them (host/host.ts); formatCommand() prints one as the runnable shell that --dry-run shows.

export interface Command {
  /** argv, never a shell string: values are quoted only when printed */
  readonly argv: readonly string[];
  /** stdin (e.g. the `ip -batch -` or `iptables-restore --noflush` payload) */
  readonly input?: string;
  /** one line on why this command runs; printed as `# why` above it */
  readonly why: string;
  /** exit statuses that are answers, not failures (`iptables -C` = 1: absent) */
  readonly okStatus?: readonly number[];
  /**
   * true for an observation that changes nothing on the host (`ip -j route show`): a
   * recording Host (--dry-run) runs it for real; every other command is recorded instead.
   */
  readonly readOnly?: boolean;
  /** how long it may run before it and its process group are killed (default: host/host.ts) */
  readonly timeoutMs?: number;
  /**
   * How --dry-run prints it when the plain argv is not what a person should paste (an etcd write
   * that must try every endpoint in turn: the toolkit does that in-process). Shell text.
   */
  readonly printAs?: string;
}

export interface Result {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number;
}

const SAFE = /^[A-Za-z0-9_\-+=.,:/@%^]+$/;

/** Quote one word for a POSIX shell (single quotes; only when needed). */
export function shellQuote(word: string): string {
  if (word !== '' && SAFE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** argv as one shell line, each word quoted when it needs it. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** The heredoc marker of printed stdin payloads and file contents. */
export const HEREDOC = 'FLANNEL_RUNBOOK_EOF';

/** `# why` lines, one per line of the reason. */
export function whyLines(why: string): string {
  return why
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n');
}

/** One command as runnable shell: `# why`, the quoted argv, a quoted heredoc for stdin. */
export function formatCommand(cmd: Command): string {
  if (cmd.printAs !== undefined) return `${whyLines(cmd.why)}\n${cmd.printAs.trimEnd()}`;
  const line = shellLine(cmd.argv);
  if (cmd.input === undefined) return `${whyLines(cmd.why)}\n${line}`;
  const body = cmd.input.endsWith('\n') ? cmd.input : `${cmd.input}\n`;
  return `${whyLines(cmd.why)}\n${line} <<'${HEREDOC}'\n${body}${HEREDOC}`;
}
