// Network namespaces, through iproute2: create, list, run in, empty (kill what runs in
// them), delete. Only ever called with the lab's own namespace names.

import { run, sleep, type RunOptions, type RunResult } from './proc.ts';

/** Names of all named namespaces (`ip -j netns list`). */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', 'netns', 'list']);
  if (stdout.trim() === '') return [];
  return (JSON.parse(stdout) as { name: string }[]).map((n) => n.name);
}

export async function addNetns(name: string, signal?: AbortSignal): Promise<void> {
  await run(['ip', 'netns', 'add', name], { signal });
}

/** Runs argv inside namespace `ns` (`ip netns exec`: also its /etc/netns/<ns> files). */
export function execIn(ns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

/** `ip -n ns -batch -`: several ip commands in one process (stops at the first error). */
export async function ipBatch(ns: string | undefined, lines: readonly string[], signal?: AbortSignal): Promise<void> {
  if (lines.length === 0) return;
  await run(['ip', ...(ns ? ['-n', ns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n`, signal });
}

/** PIDs of every process whose network namespace is `ns`. */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { okStatus: [1, 255] });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid);
}

/**
 * Kills (SIGKILL) every process inside the namespaces until none is left: a supervisord may
 * start a program between listing and killing, so list again until empty.
 */
export async function emptyNetns(names: readonly string[], timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let killed = 0;
  for (;;) {
    const pids = (await Promise.all(names.map(netnsPids))).flat();
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone already
      }
    }
    if (Date.now() > deadline) throw new Error(`processes still running in ${names.join(', ')}: ${pids.join(' ')}`);
    await sleep(20);
  }
}

/** Deletes a namespace (its veth ends and bridges go with it); absent is fine. */
export async function deleteNetns(name: string): Promise<void> {
  const r = await run(['ip', 'netns', 'delete', name], { okStatus: [1] });
  if (r.status !== 0 && (await listNetns()).includes(name)) {
    throw new Error(`ip netns delete ${name}: ${r.stderr.trim()}`);
  }
}
