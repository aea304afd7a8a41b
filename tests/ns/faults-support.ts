// What the fault suite (tests/ns/faults-*.test.ts, issue 11) does to a lab, each confined to the
// lab's own namespaces, directories and processes:
//   spawnIn()     a step run we can SIGKILL mid-way (its own process group, killed by its PID);
//   runIn()       argv run as runStep runs a step (a bundled dist/*.mjs, a step under env);
//   onFullDisk()  a directory that is a full tmpfs for ONE run only: mounted inside that run's
//                 private mount namespace (with / read-only but /tmp, as runStep does), with the
//                 directory's files copied in; after the run it prints what the disk then held;
//   etcdMembers() / freeze() / thaw()  the lab's etcd members by the PIDs it recorded (checked
//                 against their start times, so a reused PID is never signalled);
//   keyLines()    the lines of a private key, to look for in any output;
//   Tally         the cases tried, by kind: the README's "under faults" figures come from it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../lab/lab.ts';
import { readState } from '../../lab/lab.ts';
import { pidAlive, sleep, type ProcessId, type RunResult } from '../../lab/proc.ts';
import { readOnlyRoot, SCRIPTS_DIR, type StepName } from '../../lab/runbook-steps.ts';

export interface Spawned {
  readonly pid: number;
  readonly done: Promise<RunResult>;
  /** SIGKILL the run's whole process group (the step and what it ran) */
  kill(): void;
}

/** The path of a step script, or any executable given by its absolute path (dist/drift.mjs). */
export const stepPath = (step: StepName | string) => (step.startsWith('/') ? step : join(SCRIPTS_DIR, `${step}.ts`));

/** argv in `host`'s namespace (/ read-only but /tmp), as runStep runs a step; never throws on its exit status. */
export function runIn(lab: Lab, host: LabHost, argv: readonly string[], timeoutMs = 180_000): Promise<RunResult> {
  return lab.exec(host.netns, readOnlyRoot(argv), { timeoutMs, okStatus: [0, 1, 2, 3] });
}

/** A process of ours, in a group of its own: kill() ends the group (by its PID, nothing else). */
export function spawnOwn(argv: readonly string[], opts: { stdout?: boolean } = {}): Spawned {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  if (opts.stdout === false) child.stdout.resume();
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        status: code ?? (signal === 'SIGKILL' ? 137 : 143),
      }),
    );
  });
  const pid = child.pid!;
  return {
    pid,
    done,
    kill() {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already ended */
      }
    },
  };
}

/** argv in `host`'s namespace (/ read-only but /tmp), in a process group of its own: it can be killed mid-way. */
export function spawnIn(lab: Lab, host: LabHost, argv: readonly string[]): Spawned {
  if (!lab.namespaces.includes(host.netns)) throw new Error(`${host.netns} is not the lab's`);
  return spawnOwn(['ip', 'netns', 'exec', host.netns, ...readOnlyRoot(argv)]);
}

/** The marker after which onFullDisk's run prints the disk's contents. */
export const AFTER_MARK = '@@after-full-disk';

/**
 * argv that runs `argv` with `dir` a full tmpfs of `size` (e.g. `1m`): the directory's files
 * copied in first, `prepare` (a shell line run in the directory) applied, the rest of the space
 * filled; then, after AFTER_MARK on stderr, `ls -A` of the directory and `sha256sum` of
 * `files`. Everything is mounted in this run's own mount namespace, which ends with it.
 */
export function onFullDisk(
  dir: string,
  size: string,
  prepare: string,
  files: readonly string[],
  argv: readonly string[],
): string[] {
  const script = [
    'd=$1; size=$2; prep=$3; files=$4; shift 4',
    'mount --bind /tmp /tmp && mount -o remount,bind,ro / || exit 90',
    'b=$(mktemp -d) && cp -a "$d/." "$b/" && mount -t tmpfs -o "size=$size" tmpfs "$d" && cp -a "$b/." "$d/" || exit 91',
    'rm -rf "$b"',
    '(cd "$d" && eval "$prep") || exit 92',
    'dd if=/dev/zero of="$d/.fill" bs=4k 2>/dev/null',
    '"$@"; st=$?',
    `echo ${AFTER_MARK} >&2`,
    'ls -A1 "$d" >&2',
    'for f in $files; do sha256sum "$d/$f" >&2; done',
    'exit $st',
  ].join('\n');
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    script,
    'sh',
    dir,
    size,
    prepare,
    files.join(' '),
    ...argv,
  ];
}

/** What onFullDisk's run printed about the disk: the names in it, and each file's sha256. */
export function fullDiskAfter(stderr: string): { names: string[]; sha: Record<string, string>; said: string } {
  const [said = '', after = ''] = stderr.split(`${AFTER_MARK}\n`);
  const names: string[] = [];
  const sha: Record<string, string> = {};
  for (const line of after.split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) {2}(.*)$/.exec(line);
    if (m) sha[m[2]!.slice(m[2]!.lastIndexOf('/') + 1)] = m[1]!;
    else names.push(line);
  }
  return { names, sha, said };
}

/** The lab's etcd members as it recorded them (PID and start time). */
export function etcdMembers(lab: Lab): (ProcessId & { what: string })[] {
  const s = readState(lab.prefix);
  return (s?.pids ?? []).filter((p) => p.what.startsWith('etcd '));
}

function signal(members: readonly ProcessId[], sig: 'SIGSTOP' | 'SIGCONT'): void {
  for (const m of members) {
    if (!pidAlive(m)) throw new Error(`etcd pid ${m.pid} is not the process the lab started`);
    process.kill(m.pid, sig);
  }
}
export const freeze = (members: readonly ProcessId[]) => signal(members, 'SIGSTOP');
export const thaw = (members: readonly ProcessId[]) => signal(members, 'SIGCONT');

/** Until every member answers `endpoint health` (a thawed cluster elects its leader again). */
export async function waitEtcdHealthy(lab: Lab, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await lab.etcdctl(['endpoint', 'health', '--command-timeout=2s'], { okStatus: [1], timeoutMs: 10_000 });
    if (r.status === 0) return;
    if (Date.now() > deadline) throw new Error(`etcd not healthy again: ${r.stdout}${r.stderr}`);
    await sleep(300);
  }
}

/** The base64 lines of a PEM private key: none may appear in any output. */
export function keyLines(pem: string): string[] {
  return pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
}

export type CaseKind = 'fault' | 'bad input' | 'security';

/** Cases tried and held, by kind: each table-driven test runs its cases through case(). */
export class Tally {
  private readonly tried = new Map<CaseKind, string[]>();
  private readonly held = new Map<CaseKind, string[]>();
  /** run `check` as a case of `kind`: tried, and held once it returns without throwing */
  async case(kind: CaseKind, name: string, check: () => Promise<void> | void): Promise<void> {
    this.tried.set(kind, [...(this.tried.get(kind) ?? []), name]);
    await check();
    this.held.set(kind, [...(this.held.get(kind) ?? []), name]);
  }
  counts(): Record<CaseKind, { tried: number; held: number }> {
    const c = (k: CaseKind) => ({ tried: this.tried.get(k)?.length ?? 0, held: this.held.get(k)?.length ?? 0 });
    return { fault: c('fault'), 'bad input': c('bad input'), security: c('security') };
  }
  /** The README's "What it promises under faults" row of this suite says these figures. */
  assertReadmeRow(file: string): void {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith(`| \`tests/ns/${file}.test.ts\``));
    assert.ok(row, `README has no figures row for tests/ns/${file}.test.ts`);
    const cells = row
      .split('|')
      .slice(2, 5)
      .map((x) => x.trim());
    const c = this.counts();
    assert.deepEqual(
      cells,
      (['fault', 'bad input', 'security'] as const).map((k) => `${c[k].tried} / ${c[k].held}`),
      `README's row for ${file} (tried / held of fault, bad input, security)`,
    );
  }
  /** one line for the test log: `figures faults-files: fault 9/9 held, bad input 0/0 held, security 4/4 held` */
  line(file: string): string {
    const c = this.counts();
    return `figures ${file}: ${(Object.keys(c) as CaseKind[]).map((k) => `${k} ${c[k].held}/${c[k].tried} held`).join(', ')}`;
  }
}
