// RecordingHost: observes through another Host, records every change instead of making it.
// --dry-run runs a step against RecordingHost(LocalHost) and prints what it recorded, so the
// printed script is what the real run would do; unit tests run a script's main() against
// RecordingHost(a fake host) and assert on the recorded actions.
// Reads see the recorded changes first (a file written earlier in the run reads back as
// written), so a step that reads what it wrote behaves as it would for real.

import type { Command, Result } from '../core/command.ts';
import { formatPlan, type Action, type DoneWhen } from '../core/plan.ts';
import type { Change, FileInfo, Host, TempDir } from './host.ts';
import type { Lock } from './lock.ts';

export class RecordingHost implements Host {
  readonly actions: Action[] = [];
  private readonly written = new Map<string, string | undefined>();

  /** requests to the node's own services only read: passed through */
  readonly localRequest?: Host['localRequest'];

  constructor(
    readonly base: Host,
    /** the answer a recorded (not run) command gets; default success with no output */
    private readonly answer: (cmd: Command) => Result = () => ({ stdout: '', stderr: '', status: 0 }),
  ) {
    if (base.localRequest) this.localRequest = base.localRequest.bind(base);
  }

  get name(): string {
    return this.base.name;
  }

  /** What was recorded, as the script --dry-run prints (`done`: the test that makes a second paste a no-op). */
  script(done?: DoneWhen): string {
    return formatPlan(this.actions, done);
  }

  async run(cmd: Command): Promise<Result> {
    if (cmd.readOnly) return this.base.run(cmd);
    this.actions.push({ kind: 'run', cmd });
    return this.answer(cmd);
  }

  async readFile(path: string, opts?: { maxBytes?: number }): Promise<string | undefined> {
    if (this.written.has(path)) return this.written.get(path);
    return this.base.readFile(path, opts);
  }

  async readTail(path: string, maxBytes: number): Promise<string | undefined> {
    if (this.written.has(path)) return this.written.get(path);
    return this.base.readTail(path, maxBytes);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    return this.overlay(path) ?? this.base.stat(path);
  }

  async lstat(path: string): Promise<FileInfo | undefined> {
    return this.overlay(path) ?? this.base.lstat(path);
  }

  async readlink(path: string): Promise<string | undefined> {
    return this.base.readlink(path);
  }

  async listDir(path: string): Promise<string[] | undefined> {
    return this.base.listDir(path);
  }

  async mkdir(path: string, opts: Change & { mode: number }): Promise<void> {
    this.actions.push({ kind: 'mkdir', path, mode: opts.mode, why: opts.why ?? 'create the directory' });
  }

  async writeFile(path: string, content: string | Uint8Array, opts: Change & { mode: number }): Promise<void> {
    const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
    this.written.set(path, text);
    this.actions.push({ kind: 'write', path, content: text, mode: opts.mode, why: opts.why ?? 'write the file' });
  }

  async copyFile(from: string, to: string, opts: Change & { mode: number }): Promise<void> {
    this.actions.push({ kind: 'copy', from, to, mode: opts.mode, why: opts.why ?? 'install the file' });
  }

  async writeOutput(cmd: Command, path: string, opts: Change & { mode: number; expect: string }): Promise<void> {
    this.actions.push({
      kind: 'capture',
      cmd,
      path,
      mode: opts.mode,
      expect: opts.expect,
      why: opts.why ?? `save the output of ${cmd.argv[0]}`,
    });
  }

  async rename(from: string, to: string, opts?: Change): Promise<void> {
    this.actions.push({ kind: 'rename', from, to, why: opts?.why ?? 'move it into place' });
  }

  async symlink(target: string, path: string, opts?: Change): Promise<void> {
    this.actions.push({ kind: 'link', target, path, why: opts?.why ?? 'point the link' });
  }

  async remove(path: string, opts: Change & { recursive?: boolean } = {}): Promise<void> {
    this.written.set(path, undefined);
    this.actions.push({ kind: 'remove', path, recursive: opts.recursive ?? false, why: opts.why ?? 'remove it' });
  }

  makeTempDir(parent: string, prefix: string): Promise<TempDir> {
    return this.base.makeTempDir(parent, prefix);
  }

  lock(path: string): Promise<Lock> {
    return this.base.lock(path);
  }

  private overlay(path: string): FileInfo | undefined {
    if (!this.written.has(path)) return undefined;
    const text = this.written.get(path);
    return text === undefined ? undefined : { type: 'file', mode: 0o644, size: Buffer.byteLength(text), uid: 0 };
  }
}
