// How the operator runs the toolkit on this node, so doctor's fix lines are lines to paste: the
// scripts where this one runs (scripts/*.ts, or the dist/*.mjs bundle), with the --cluster and
// --node the operator gave, or, without a cluster file, the node's flags.

import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeExpectation } from '../checks/expectation.ts';
import type { Invocation } from '../doctor/types.ts';
import type { Settings } from './settings.ts';

/** Flags given on the command line that a fix command must carry too (the operator's overrides). */
const CARRIED = [
  'endpoints',
  'cafile',
  'certfile',
  'keyfile',
  'etcd-prefix',
  'etcd-api',
  'public-ip',
  'subnet',
  'iface',
  'network',
  'bridge',
  'healthz-port',
  // without a cluster file the program name is a flag too: start must not render another program
  'program',
] as const;
/** The flags etcd-config takes of the carried ones. */
const ETCD_CONFIG_FLAGS = new Set([
  '--endpoints',
  '--cafile',
  '--certfile',
  '--keyfile',
  '--etcd-prefix',
  '--etcd-api',
  '--network',
]);

/** `--flag value` pairs, the carried ones first, then the defaults not carried, then --root. */
function mergeNodeFlags(
  carried: readonly string[],
  defaults: Record<string, string>,
  root: readonly string[],
): string[] {
  const out = [...carried];
  for (const [k, val] of Object.entries(defaults)) if (!out.includes(`--${k}`)) out.push(`--${k}`, val);
  return [...out, ...root];
}

function pairs(words: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < words.length; i += 2) out.push([words[i]!, words[i + 1]!]);
  return out;
}

export function fixInvocation(o: {
  /** import.meta.url of the running script */
  readonly scriptUrl: string;
  readonly settings: Settings;
  readonly values: Readonly<Record<string, unknown>>;
  readonly explicit: ReadonlySet<string>;
  readonly expect: NodeExpectation;
  readonly endpoints: readonly string[];
  readonly certsFrom: string;
}): Invocation {
  const { settings: s, expect: e } = o;
  const carried = CARRIED.filter((k) => o.explicit.has(k)).flatMap((k) => [`--${k}`, [o.values[k]].flat().join(',')]);
  const etcdCarried = pairs(carried)
    .filter(([k]) => ETCD_CONFIG_FLAGS.has(k))
    .flat();
  const root = s.root === '/' ? [] : ['--root', s.root];
  const clusterFile = s.clusterFile ? resolve(s.clusterFile) : undefined;
  const script = fileURLToPath(o.scriptUrl);
  return {
    scriptsDir: dirname(script),
    ext: extname(script),
    nodeArgs: clusterFile
      ? ['--cluster', clusterFile, '--node', e.name, ...carried, ...root]
      : mergeNodeFlags(
          carried,
          {
            'public-ip': e.publicIp.toString(),
            subnet: e.subnet.toString(),
            iface: e.iface,
            network: e.network.toString(),
            endpoints: o.endpoints.join(','),
          },
          root,
        ),
    clusterArgs: clusterFile
      ? ['--cluster', clusterFile, ...etcdCarried, ...root]
      : mergeNodeFlags(
          etcdCarried,
          { endpoints: o.endpoints.join(','), network: e.network.toString(), backend: 'host-gw' },
          root,
        ),
    certsFrom: o.certsFrom,
  };
}
