#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// drift: from cron on every node, every minute. Compares the node with what it should be
// (the cluster file or the steps' flags): etcd and its config, this node's lease, the routes
// against every lease, the snat/FORWARD/REJECT rules and their persisted copy, subnet.env and
// docker0, flanneld under supervisord, the certs, ip_forward. Each check has a stable id.
// Cost: a constant number of child processes and ONE etcd range read, whatever the cluster size.
// v3: the read asks only for what changed since the last run (its cache, --cache; --no-cache
// reads everything): when no lease changed it is a few hundred bytes whatever N.
// --fix mends what is safe (routes in one ip -batch, the SNAT and FORWARD rules in one
// iptables-restore, subnet.env, a stopped flanneld) and never deletes a lease or a config.
// --quiet prints nothing when in sync (cron mail); --json; --textfile for node_exporter;
// --publish writes this node's result to etcd for scripts/fleet.ts.
// Exit: 0 in sync, 1 drift, 2 usage/config error, 3 could not check (etcd down is 3, never "drift").

import { exitCodeOf, invalid, UsageError } from '../lib/core/errors.ts';
import { mapBounded } from '../lib/core/map-bounded.ts';
import { describeAction, type Action } from '../lib/core/plan.ts';
import type { Check } from '../lib/checks/types.ts';
import { formatNagios } from '../lib/checks/nagios.ts';
import { bridgeNeighbours } from '../lib/checks/routes.ts';
import { rooted } from '../lib/core/paths.ts';
import { formatDriftReport, formatTextfile, formatTextfileRuns } from '../lib/checks/report.ts';
import {
  commonFlags,
  defineFlags,
  etcdFlags,
  nodeFlags,
  parseFlags,
  withoutFlags,
  statusFlags,
} from '../lib/cli/flags.ts';
import { captureOutput, print, printErr, note } from '../lib/cli/output.ts';
import { nodeCheckFlags, nodeTarget } from '../lib/cli/node-target.ts';
import { hostFile } from '../lib/cli/settings.ts';
import { isEntryPoint, loadSettings, readClusterFile, runScript } from '../lib/cli/script.ts';
import type { Host } from '../lib/host/host.ts';
import { DEFAULT_CACHE_PATH, EtcdCache } from '../lib/host/etcd-cache.ts';
import { storeTarget } from '../lib/host/network-store.ts';
import { observeNode } from '../lib/host/observe.ts';
import { checkStatusPrefix, publishReport } from '../lib/host/status-store.ts';
import { runDrift } from '../lib/steps/drift.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  ...nodeFlags,
  ...nodeCheckFlags,
  fix: { type: 'boolean', help: 'mend what is safe to mend, then check again' },
  textfile: {
    type: 'string',
    placeholder: 'FILE',
    help: "write Prometheus text format for node_exporter's textfile collector (atomically)",
    example: '/var/lib/node_exporter/textfile/flannel.prom',
  },
  publish: {
    type: 'boolean',
    help: "write this node's result to etcd under --status-prefix (TTL --status-ttl) for scripts/fleet.ts",
  },
  ...statusFlags,
  'status-ttl': {
    type: 'number',
    default: 600,
    min: 10,
    max: 86400,
    placeholder: 'S',
    help: 'TTL of a published result',
  },
  lock: {
    type: 'string',
    default: '/run/flannel-runbook/drift.lock',
    placeholder: 'FILE',
    help: 'lock file: an overlapping run exits at once (under --root)',
  },
  all: { type: 'boolean', help: 'list the checks that are ok too' },
  nagios: {
    type: 'boolean',
    help: 'print one Nagios/Icinga status line with perfdata; exit 0 OK, 1 WARNING (drift), 2 CRITICAL (an outage), 3 UNKNOWN',
  },
  'all-nodes': {
    type: 'boolean',
    help: 'check every node of the cluster file from here (over ssh where a node has "ssh"); the worst exit',
  },
  parallel: {
    type: 'number',
    default: 4,
    min: 1,
    max: 64,
    placeholder: 'N',
    help: 'with --all-nodes: nodes checked at once',
  },
  cache: {
    type: 'string',
    default: DEFAULT_CACHE_PATH,
    placeholder: 'FILE',
    help: 'v3: what the last run read from etcd (revision, keys, leases; never key material), so this one asks only for what changed (under --root)',
  },
  'no-cache': {
    type: 'boolean',
    help: 'read everything from etcd, not only what changed (the cache is rewritten from it)',
  },
});

const info = {
  name: 'drift',
  summary: 'Compare this node with what it should be (cron: every minute); --fix mends what is safe.',
  example:
    '* * * * * root /opt/flannel-runbook/dist/drift.mjs --cluster /etc/flannel-runbook/cluster.json --quiet --textfile /var/lib/node_exporter/textfile/flannel.prom --publish',
  perNode: true,
};

/** One node's drift run, as main reports it (and drift --all-nodes gathers them). */
interface NodeRun {
  readonly node: string;
  readonly exit: number;
  readonly checks: readonly Check[];
  readonly fixed: readonly string[];
  readonly failed: readonly string[];
  readonly durationS: number;
  readonly processes: number;
  readonly overlaps: number;
  /** why the node could not be checked at all (ssh, a refusal): exit 3 or 2 */
  readonly error?: string;
  /** how etcd was read (v3: from the cache and what changed since, or all of it) */
  readonly etcdRead?: unknown;
  /** --textfile could not be written (the old one stays): the run ends 3 after its report */
  readonly textfileError?: string;
}

type Loaded = NonNullable<Awaited<ReturnType<typeof loadSettings<typeof flags>>>>;

/** Check one node (the loaded one); undefined: another run holds the lock (skipped, counted). */
async function driftNode(loaded: Loaded, t0: number): Promise<NodeRun | 'skipped' | number> {
  const { settings: s, flags: f, cluster, node, host, recording } = loaded;
  const v = f.values;
  const statusPrefix = checkStatusPrefix(v['status-prefix'], s.etcd.prefix);
  const { expect, conn, paths, persist } = await nodeTarget(host, s, v, cluster, node);
  const plain = await storeTarget(host, conn, s.etcd.api, s.etcd.prefix);
  const lockPath = await hostFile(host, s.root, '--lock', v.lock, '/run/flannel-runbook/drift.lock');
  const textfile =
    v.textfile === undefined || v['all-nodes']
      ? undefined
      : await hostFile(host, s.root, '--textfile', v.textfile, '/var/lib/node_exporter/textfile/flannel.prom');
  const lock = await host.lock(lockPath);
  if (lock.held) {
    // an overlap is not a failure: the running one reports; this one is counted (textfile)
    if (!s.quiet)
      note(`drift: ${expect.name}: another drift run holds ${lockPath}; this one skipped (counted in the textfile)`);
    return 'skipped';
  }
  try {
    // v3 only (v2 has no conditional read); not with --dry-run, which writes nothing
    const cache =
      s.etcd.api === 'v3' && !s.dryRun
        ? await EtcdCache.open(
            host,
            rooted(s.root, v.cache),
            { endpoints: conn.endpoints, prefix: plain.prefix },
            !v['no-cache'],
          )
        : undefined;
    const store = cache ? { ...plain, cache } : plain;
    const run = await runDrift({
      host,
      expect,
      fix: v.fix,
      planOnly: s.dryRun,
      // each mend as it starts (supervisorctl start waits startsecs): no silent half minute
      ...(!s.dryRun &&
        !s.quiet && { onAction: (a: Action) => note(`drift: ${expect.name}: mending: ${describeAction(a)}`) }),
      observe: (etcd) =>
        observeNode({
          ...(etcd && { etcd }),
          host,
          store,
          program: expect.program,
          healthzPort: s.healthzPort,
          paths: {
            ...paths,
            persist,
            cafile: rooted(s.root, s.etcd.cafile),
            certfile: rooted(s.root, s.etcd.certfile),
            keyfile: rooted(s.root, s.etcd.keyfile),
          },
        }),
    });
    if (recording) {
      print(recording.script());
      if (v.fix && run.planned.length === 0) note(`drift: nothing that --fix may mend on ${expect.name}`);
      return run.exit;
    }
    const { checks } = run;
    const durationS = (performance.now() - t0) / 1000;
    // a textfile that cannot be written (a full disk) does not drop the report or the publish:
    // both happen, the old textfile stays, and the run ends 3 naming the file and the errno
    const unwritten = textfile
      ? await host
          .writeFile(textfile, formatTextfile(expect.name, checks, run.exit, new Date(), durationS, lock.overlaps), {
            mode: 0o644,
            why: 'metrics for node_exporter',
          })
          .then(
            () => undefined,
            (e: Error) => e,
          )
      : undefined;
    if (unwritten) note(`drift: ${unwritten.message}`);
    const exit = run.exit;
    if (v.publish) {
      await publishReport(
        store,
        statusPrefix,
        {
          node: expect.name,
          publicIp: expect.publicIp.toString(),
          at: new Date().toISOString(),
          exit,
          durationMs: Math.round(durationS * 1000),
          checks: checks.length,
          problems: checks
            .filter((c) => c.status !== 'ok')
            .map((c) => ({ id: c.id, status: c.status, reason: c.reason })),
          pods: bridgeNeighbours(run.obs.files.arp ?? '', expect.bridge, expect.subnet),
        },
        v['status-ttl'],
      ).catch((e) => note(`drift: --publish failed: ${(e as Error).message}`));
    }
    await cache?.save(host).catch((e) => note(`drift: could not write the etcd cache: ${(e as Error).message}`));
    return {
      node: expect.name,
      exit,
      ...(unwritten && { textfileError: unwritten.message }),
      checks,
      fixed: run.fixed,
      failed: run.failed,
      durationS,
      processes: run.obs.processes,
      overlaps: lock.overlaps,
      etcdRead: cache?.lastRead ?? {
        kind: 'full',
        why: s.etcd.api === 'v2' ? 'v2 has no conditional read' : 'no cache',
      },
    };
  } finally {
    await lock.release();
  }
}

const asJson = (r: NodeRun) => ({
  node: r.node,
  exit: r.exit,
  durationMs: Math.round(r.durationS * 1000),
  ...(r.error !== undefined
    ? { error: r.error }
    : {
        childProcesses: r.processes,
        etcdRead: r.etcdRead,
        checks: r.checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason, fixable: Boolean(c.fix) })),
        fixed: r.fixed,
        failed: r.failed,
        ...(r.textfileError !== undefined && { textfileError: r.textfileError }),
      }),
});

const report = (r: NodeRun, all: boolean) =>
  r.error !== undefined
    ? `drift ${r.node}: COULD NOT CHECK: ${r.error}`
    : formatDriftReport(r.node, r.checks, r.exit, { all, fixed: r.fixed, failed: r.failed });

/** The worst of several exits: could not check (3) over drift (1) over in sync (0); usage (2) above all. */
export function worstExit(exits: readonly number[]): number {
  const rank = [0, 1, 3, 2];
  return exits.reduce((w, e) => (rank.indexOf(e) > rank.indexOf(w) ? e : w), 0);
}

export async function main(argv: string[], base: Host): Promise<number> {
  const parsed = parseFlags(argv, flags);
  if (!parsed.values.nagios) return drift(argv, parsed, base);
  // a plugin always prints its one line and exits 0-3: a refusal or a failure is UNKNOWN
  try {
    return await drift(argv, parsed, base);
  } catch (e) {
    print(`FLANNEL UNKNOWN - ${(e as Error).message.split('\n')[0]}\n`);
    return 3;
  }
}

async function drift(argv: string[], parsed: ReturnType<typeof parseFlags<typeof flags>>, base: Host): Promise<number> {
  const t0 = performance.now();
  if (parsed.values['all-nodes'] && !parsed.values.help && !parsed.versionAsked) return allNodes(argv, parsed, base);
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f } = loaded;
  if (f.values.publish && s.dryRun)
    throw new UsageError('--publish with --dry-run: a dry run writes nothing, not even its result');
  const r = await driftNode(loaded, t0);
  if (r === 'skipped') {
    if (f.values.nagios) {
      print('FLANNEL UNKNOWN - another drift run holds the lock; this one skipped\n');
      return 3;
    }
    return 0;
  }
  if (typeof r === 'number') return r;
  if (f.values.nagios) {
    const { line, exit } = formatNagios([r]);
    print(`${line}\n`);
    return exit;
  }
  if (s.json) print(`${JSON.stringify(asJson(r), null, 2)}\n`);
  else if (!(s.quiet && r.exit === 0)) print(`${report(r, f.values.all)}\n`);
  return r.textfileError !== undefined ? 3 : r.exit;
}

/**
 * drift --all-nodes: every node of the cluster file, over ssh where the file gives one, at most
 * --parallel at once. One line per node (the details of those not in sync); the worst exit.
 */
async function allNodes(
  argv: string[],
  parsed: ReturnType<typeof parseFlags<typeof flags>>,
  base: Host,
): Promise<number> {
  const v = parsed.values;
  if (v.cluster === undefined)
    throw new UsageError(
      '--all-nodes: needs --cluster FILE (the nodes to check), e.g. --cluster /etc/flannel-runbook/cluster.json --all-nodes',
    );
  if (v.node !== undefined || v.ssh !== undefined)
    throw new UsageError('--all-nodes: checks every node of the cluster file; drop --node/--ssh, or drop --all-nodes');
  if (v.publish && (v['dry-run'] || v.check))
    throw new UsageError('--publish with --dry-run: a dry run writes nothing, not even its result');
  const cluster = readClusterFile(v.cluster);
  const textfile = v.textfile;
  if (textfile !== undefined && !textfile.startsWith('/'))
    throw invalid(
      '--textfile',
      textfile,
      'must be an absolute path (a file on this host)',
      '/var/lib/node_exporter/textfile/flannel.prom',
    );
  const rest = withoutFlags(argv, flags, ['all-nodes', 'parallel', 'textfile']);
  const runs = await mapBounded(cluster.nodes, v.parallel, (n) =>
    // each node's output kept apart, and printed in the file's order
    captureOutput(async (): Promise<NodeRun | 'skipped'> => {
      const t0 = performance.now();
      try {
        const loaded = await loadSettings([...rest, '--node', n.name], flags, info, base);
        const r = loaded ? await driftNode(loaded, t0) : 0;
        return typeof r === 'number' ? { ...emptyRun(n.name, t0), exit: r } : r;
      } catch (e) {
        const error = (e as Error).message.split('\n')[0] ?? '';
        return { ...emptyRun(n.name, t0), exit: exitCodeOf(e) === 2 ? 2 : 3, error };
      }
    }),
  );
  for (const [i, r] of runs.entries()) {
    if (r.stdout) print(`# ${cluster.nodes[i]!.name}\n${r.stdout}`);
    if (r.stderr) printErr(r.stderr);
  }
  const done = runs.map((r) => r.value).filter((r): r is NodeRun => r !== 'skipped');
  const exit = worstExit(done.map((r) => r.exit));
  if (textfile !== undefined)
    await base.writeFile(
      textfile,
      formatTextfileRuns(
        done.map((r) => ({
          node: r.node,
          checks: r.checks,
          exit: r.exit,
          durationSeconds: r.durationS,
          overlaps: r.overlaps,
        })),
        new Date(),
      ),
      { mode: 0o644, why: 'metrics for node_exporter (every node)' },
    );
  if (v.nagios) {
    const verdict = formatNagios(done);
    print(`${verdict.line}\n`);
    return verdict.exit;
  }
  if (v.json) print(`${JSON.stringify({ exit, nodes: done.map(asJson) }, null, 2)}\n`);
  else if (!(v.quiet && exit === 0)) {
    const head = (r: NodeRun) => report(r, false).split('\n')[0]!;
    const lines = done.map((r) => (r.exit === 0 && !v.all ? head(r) : report(r, v.all)));
    print(`${lines.join('\n')}\n`);
  }
  return exit;
}

function emptyRun(node: string, t0: number): NodeRun {
  return {
    node,
    exit: 0,
    checks: [],
    fixed: [],
    failed: [],
    durationS: (performance.now() - t0) / 1000,
    processes: 0,
    overlaps: 0,
  };
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main, 'spawn');
