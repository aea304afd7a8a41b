// doctor's fix lines: a toolkit script as the operator runs it on this node (its --cluster or
// node flags carried over), and plain command lines built by the modules that own them.

import { join } from 'node:path';
import { shellLine } from '../core/command.ts';
import { deleteKeyArgv } from '../host/etcd.ts';
import type { EtcdApi } from '../model/lease.ts';
import type { DoctorContext, Invocation } from './types.ts';

/** `base` with every flag that `extra` gives removed (with its value), then `extra`. */
export function mergeArgs(base: readonly string[], extra: readonly string[]): string[] {
  const given = new Set(extra.filter((w) => w.startsWith('--')));
  const out: string[] = [];
  for (let i = 0; i < base.length; i++) {
    const w = base[i]!;
    if (w.startsWith('--') && given.has(w)) {
      if (base[i + 1] !== undefined && !base[i + 1]!.startsWith('--')) i++;
      continue;
    }
    out.push(w);
  }
  return [...out, ...extra];
}

const ETCD = ['--endpoints', '--cafile', '--certfile', '--keyfile', '--etcd-prefix', '--etcd-api'];
/**
 * The node flags each script takes (scripts/*.ts `flags`; a unit test holds the two together):
 * a flag another script needs is left out of this one's line, which would refuse it (exit 2).
 * `--root`, `--cluster`, `--node` go to every script; a script not named here takes them all.
 */
const TAKES: Readonly<Record<string, ReadonlySet<string>>> = {
  start: new Set([...ETCD, '--public-ip', '--subnet', '--iface', '--network', '--healthz-port', '--program']),
  'snat-fix': new Set(['--subnet', '--network', '--bridge']),
  certs: new Set(['--cafile', '--certfile', '--keyfile']),
};
const EVERY_SCRIPT = new Set(['--root', '--cluster', '--node']);

/** The `--flag value` pairs of `args` that `script` takes. */
export function argsFor(script: string, args: readonly string[]): string[] {
  const takes = TAKES[script];
  if (!takes) return [...args];
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const w = args[i]!;
    const hasValue = args[i + 1] !== undefined && !args[i + 1]!.startsWith('--');
    if (!w.startsWith('--') || EVERY_SCRIPT.has(w) || takes.has(w)) out.push(w, ...(hasValue ? [args[i + 1]!] : []));
    if (hasValue) i++;
  }
  return out;
}

/** A toolkit script invocation for this node (or, scope 'cluster', for etcd-config). */
export function toolkitCommand(
  run: Invocation,
  script: string,
  extra: readonly string[] = [],
  scope: 'node' | 'cluster' = 'node',
): string {
  return shellLine([
    join(run.scriptsDir, `${script}${run.ext ?? '.ts'}`),
    ...mergeArgs(argsFor(script, scope === 'node' ? run.nodeArgs : run.clusterArgs), extra),
  ]);
}

/** Delete one lease key through the API flannel reads (curl for v2, etcdctl for v3); file paths only. */
export function deleteKeyCommand(ctx: Pick<DoctorContext, 'etcd'>, api: EtcdApi, key: string): string {
  return shellLine(deleteKeyArgv(ctx.etcd, api, key));
}
