// A Host made of memory for unit tests of a script's main(argv, host): files, directories and
// links in maps, and commands answered from a table (argv prefix -> result). Changes are made
// to the maps, so a test sees their effect; wrap it in a RecordingHost to see them recorded
// instead. A command nobody answers fails as a missing program does.

import type { Command, Result } from '../../lib/core/command.ts';
import { CommandError } from '../../lib/core/errors.ts';
import type { Change, FileInfo, Host, LocalRequest, TempDir } from '../../lib/host/host.ts';
import type { Lock } from '../../lib/host/lock.ts';

export type Answer = Partial<Result> | ((cmd: Command) => Partial<Result>);

export class MemoryHost implements Host {
  readonly name = 'memory';
  readonly files = new Map<string, { content: string; mode: number }>();
  readonly dirs = new Set<string>(['/']);
  readonly links = new Map<string, string>();
  /** every command run, in order */
  readonly ran: Command[] = [];
  /** every path a file operation named (reads and changes) */
  readonly touched = new Set<string>();
  private readonly answers: [readonly string[], Answer][] = [];
  private locked = false;
  localRequest?: (req: LocalRequest) => Promise<{ status: number; body: string }>;

  constructor(files: Record<string, string> = {}) {
    for (const [p, c] of Object.entries(files)) this.put(p, c);
  }

  /** A file (and its directories). */
  put(path: string, content: string, mode = 0o644): this {
    this.files.set(path, { content, mode });
    for (let d = dir(path); d !== '/'; d = dir(d)) this.dirs.add(d);
    return this;
  }

  /** Answer commands whose argv starts with `prefix`. Later answers win. */
  answer(prefix: readonly string[], a: Answer): this {
    this.answers.unshift([prefix, a]);
    return this;
  }

  async run(cmd: Command): Promise<Result> {
    this.ran.push(cmd);
    const hit = this.answers.find(([p]) => p.every((w, i) => cmd.argv[i] === w));
    if (!hit) throw new CommandError(cmd.argv, 127, '', `${cmd.argv[0]} not found in PATH (memory host)`);
    const a = typeof hit[1] === 'function' ? hit[1](cmd) : hit[1];
    const r = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', status: a.status ?? 0 };
    if (r.status !== 0 && !(cmd.okStatus ?? []).includes(r.status))
      throw new CommandError(cmd.argv, r.status, r.stderr);
    return r;
  }

  async readFile(path: string): Promise<string | undefined> {
    this.touched.add(path);
    return this.files.get(path)?.content;
  }

  async readTail(path: string, maxBytes: number): Promise<string | undefined> {
    this.touched.add(path);
    const c = this.files.get(path)?.content;
    return c === undefined ? undefined : c.slice(-maxBytes);
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    this.touched.add(path);
    const target = this.links.get(path);
    return target !== undefined
      ? this.lstat(target.startsWith('/') ? target : `${dir(path)}/${target}`)
      : this.lstat(path);
  }

  async lstat(path: string): Promise<FileInfo | undefined> {
    this.touched.add(path);
    const f = this.files.get(path);
    if (f) return { type: 'file', mode: f.mode, size: Buffer.byteLength(f.content), uid: 0 };
    if (this.links.has(path)) return { type: 'symlink', mode: 0o777, size: 0, uid: 0 };
    if (this.dirs.has(path)) return { type: 'dir', mode: 0o755, size: 0, uid: 0 };
    return undefined;
  }

  async readlink(path: string): Promise<string | undefined> {
    this.touched.add(path);
    return this.links.get(path);
  }

  async listDir(path: string): Promise<string[] | undefined> {
    this.touched.add(path);
    if (!this.dirs.has(path)) return undefined;
    const names = [...this.files.keys(), ...this.dirs, ...this.links.keys()]
      .filter((p) => p !== path && dir(p) === path)
      .map((p) => p.slice(path.length + (path === '/' ? 0 : 1)));
    return [...new Set(names)].sort();
  }

  async mkdir(path: string, _opts: Change & { mode: number }): Promise<void> {
    this.touched.add(path);
    for (let d = path; d !== '/'; d = dir(d)) this.dirs.add(d);
  }

  async writeFile(path: string, content: string | Uint8Array, opts: Change & { mode: number }): Promise<void> {
    this.touched.add(path);
    this.put(path, typeof content === 'string' ? content : Buffer.from(content).toString('utf8'), opts.mode);
  }

  async writeOutput(cmd: Command, path: string, opts: Change & { mode: number; expect: string }): Promise<void> {
    this.touched.add(path);
    const out = await this.run({ ...cmd, readOnly: true });
    if (!out.stdout.includes(opts.expect)) throw new Error(`${cmd.argv[0]} printed no ${opts.expect}`);
    this.put(path, out.stdout, opts.mode);
  }

  async copyFile(from: string, to: string, opts: Change & { mode: number }): Promise<void> {
    this.touched.add(from);
    this.touched.add(to);
    const f = this.files.get(from);
    if (!f) throw new Error(`cannot read ${from}: ENOENT`);
    this.put(to, f.content, opts.mode);
  }

  async rename(from: string, to: string): Promise<void> {
    this.touched.add(from);
    this.touched.add(to);
    const f = this.files.get(from);
    if (f) {
      this.files.delete(from);
      this.files.set(to, f);
      return;
    }
    if (this.dirs.has(from)) {
      for (const p of [...this.files.keys()].filter((x) => x.startsWith(`${from}/`))) {
        this.files.set(to + p.slice(from.length), this.files.get(p)!);
        this.files.delete(p);
      }
      this.dirs.delete(from);
      this.dirs.add(to);
    }
  }

  async symlink(target: string, path: string): Promise<void> {
    this.touched.add(path);
    this.links.set(path, target);
  }

  async remove(path: string, opts: Change & { recursive?: boolean } = {}): Promise<void> {
    this.touched.add(path);
    this.files.delete(path);
    this.links.delete(path);
    if (opts.recursive) {
      for (const p of [...this.files.keys()]) if (p.startsWith(`${path}/`)) this.files.delete(p);
      for (const d of [...this.dirs]) if (d === path || d.startsWith(`${path}/`)) this.dirs.delete(d);
    }
  }

  async makeTempDir(parent: string, prefix: string): Promise<TempDir> {
    this.touched.add(parent);
    const path = `${parent}/${prefix}memory`;
    this.dirs.add(path);
    return { path, remove: () => this.remove(path, { recursive: true }) };
  }

  async lock(path: string): Promise<Lock> {
    this.touched.add(path);
    if (this.locked) return { held: true };
    this.locked = true;
    return {
      held: false,
      overlaps: 0,
      release: async () => {
        this.locked = false;
      },
    };
  }
}

function dir(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}
