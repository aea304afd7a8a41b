// What a lab run created, recorded as it goes in <labdir>/state.json (written synchronously and
// atomically, so it is complete even when the process is killed a moment later), and the
// teardown that reads it: destroyLab(prefix) for one run, cleanupLeftovers() for the
// crashed runs of others (recorded owner dead, lab not kept).
// The state file is written before the first namespace exists and removed after the last one
// is gone: a namespace with our prefix pattern but no state file is not ours to remove.

import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNetns, emptyNetns, listNetns } from './netns.ts';
import { pidAlive, processStartTime, type ProcessId } from './proc.ts';
import { AUTO_PREFIX_RE } from './topology.ts';

export interface LabState {
  readonly version: 1;
  readonly prefix: string;
  readonly dir: string;
  /** the process that built the lab; while it lives, nobody else may tear the lab down */
  readonly owner: ProcessId;
  readonly createdAt: string;
  /** left up on purpose (`npm run lab -- --keep`): removed only by `npm run lab -- down` */
  kept: boolean;
  readonly netns: string[];
  /** /etc/netns/<ns> directories (per-namespace /etc/hosts) */
  readonly etcNetns: string[];
  readonly pids: (ProcessId & { what: string })[];
}

/** Where lab dirs live: <tmp>/<prefix>-lab. */
export function labDirOf(prefix: string): string {
  return join(tmpdir(), `${prefix}-lab`);
}

export const ETC_NETNS = '/etc/netns';

function statePath(dir: string): string {
  return join(dir, 'state.json');
}

/** Reads a lab's state file; undefined when there is none (or it is unreadable). */
export function readState(prefix: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(labDirOf(prefix)), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** The live state of one run, saved on every change. */
export class StateFile {
  readonly state: LabState;
  constructor(prefix: string, dir: string) {
    this.state = {
      version: 1,
      prefix,
      dir,
      owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? -1 },
      createdAt: new Date().toISOString(),
      kept: false,
      netns: [],
      etcNetns: [],
      pids: [],
    };
    this.save();
  }

  /** Records a change and writes the file (temp + rename) before returning. */
  update(change: (s: LabState) => void): void {
    change(this.state);
    this.save();
  }

  private save(): void {
    const p = statePath(this.state.dir);
    writeFileSync(`${p}.tmp`, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${p}.tmp`, p);
  }
}

export interface DestroyReport {
  readonly prefix: string;
  readonly killed: number;
  readonly netns: string[];
  readonly removed: string[];
}

/** Whether a lab's owner still runs (then only the owner tears it down). */
export function ownerAlive(s: LabState): boolean {
  return pidAlive(s.owner);
}

/**
 * Removes everything a run with this prefix created: kills every process inside its
 * namespaces, then the processes it recorded, deletes the namespaces (and with them every
 * veth and bridge), its /etc/netns dirs and its labdir (state file last).
 * Refuses while the recorded owner runs, unless `force` (the owner itself uses force).
 * Namespaces are found both in the state file and by name (`<prefix>-*`).
 */
export async function destroyLab(
  prefix: string,
  opts: { force?: boolean; log?: (line: string) => void } = {},
): Promise<DestroyReport> {
  const state = readState(prefix);
  if (state && !opts.force && state.owner.pid !== process.pid && ownerAlive(state)) {
    throw new Error(`lab ${prefix} is still owned by running process ${state.owner.pid}; stop it (Ctrl-C) instead`);
  }
  const mine = (n: string) => n.startsWith(`${prefix}-`);
  const netns = [...new Set([...(state?.netns ?? []), ...(await listNetns()).filter(mine)])];
  const present = new Set(await listNetns());
  const live = netns.filter((n) => present.has(n));
  let killed = await emptyNetns(live);
  for (const p of state?.pids ?? []) {
    if (pidAlive(p)) {
      try {
        process.kill(p.pid, 'SIGKILL');
        killed++;
      } catch {
        // gone
      }
    }
  }
  // a process could have been forked into a namespace just before the kill above
  killed += await emptyNetns(live);
  await Promise.all(live.map(deleteNetns));
  const removed: string[] = [];
  const etc = new Set(state?.etcNetns ?? []);
  if (existsSync(ETC_NETNS)) for (const d of readdirSync(ETC_NETNS)) if (mine(d)) etc.add(d);
  for (const d of etc) {
    const p = join(ETC_NETNS, d);
    if (existsSync(p)) {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    }
  }
  const dir = state?.dir ?? labDirOf(prefix);
  if (existsSync(dir)) {
    // the state file goes last: if we die in between, the next cleanup still finds the lab
    for (const e of readdirSync(dir)) if (e !== 'state.json') rmSync(join(dir, e), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  opts.log?.(
    `teardown ${prefix}: killed ${killed} processes, deleted ${live.length} namespaces, removed ${removed.length} paths`,
  );
  return { prefix, killed, netns: live, removed };
}

/** Every lab with a state file under <tmp>: prefix, owner alive, kept. */
export function listLabs(): { prefix: string; state: LabState; ownerAlive: boolean }[] {
  const out: { prefix: string; state: LabState; ownerAlive: boolean }[] = [];
  for (const e of readdirSync(tmpdir())) {
    const m = /^(.+)-lab$/.exec(e);
    if (!m) continue;
    const s = readState(m[1]!);
    if (s?.version !== 1 || s.prefix !== m[1]) continue;
    out.push({ prefix: s.prefix, state: s, ownerAlive: ownerAlive(s) });
  }
  return out;
}

/**
 * Removes the leftovers of crashed runs: labs with a made-up prefix (frb + 4 hex) whose owner
 * is dead and which were not kept on purpose. Returns the prefixes removed.
 */
export async function cleanupLeftovers(
  opts: { includeKept?: boolean; log?: (line: string) => void } = {},
): Promise<string[]> {
  const done: string[] = [];
  for (const l of listLabs()) {
    if (!AUTO_PREFIX_RE.test(l.prefix) || l.ownerAlive) continue;
    if (l.state.kept && !opts.includeKept) continue;
    await destroyLab(l.prefix, opts.log ? { log: opts.log } : {});
    done.push(l.prefix);
  }
  return done;
}
