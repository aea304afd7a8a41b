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

import { UsageError } from '../lib/core/errors.ts';
import { rooted } from '../lib/core/paths.ts';
import { formatDriftReport, formatTextfile } from '../lib/checks/report.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags } from '../lib/cli/flags.ts';
import { print, note } from '../lib/cli/output.ts';
import { nodeCheckFlags, nodeTarget } from '../lib/cli/node-target.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import type { Host } from '../lib/host/host.ts';
import { DEFAULT_CACHE_PATH, EtcdCache } from '../lib/host/etcd-cache.ts';
import { storeTarget } from '../lib/host/network-store.ts';
import { observeNode } from '../lib/host/observe.ts';
import { DEFAULT_STATUS_PREFIX, publishReport } from '../lib/host/status-store.ts';
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
  'status-prefix': {
    type: 'string',
    default: DEFAULT_STATUS_PREFIX,
    placeholder: 'KEY',
    help: 'etcd prefix of the published results',
  },
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

export async function main(argv: string[], base: Host): Promise<number> {
  const t0 = performance.now();
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, node, host, recording } = loaded;
  const v = f.values;
  if (v.publish && s.dryRun)
    throw new UsageError('--publish with --dry-run: a dry run writes nothing, not even its result');
  const { expect, conn, paths, persist } = await nodeTarget(host, s, v, cluster, node);
  const plain = await storeTarget(host, conn, s.etcd.api, s.etcd.prefix);

  const lockPath = rooted(s.root, v.lock);
  const lock = await host.lock(lockPath);
  if (lock.held) {
    // an overlap is not a failure: the running one reports; this one is counted (textfile)
    if (!s.quiet) note(`drift: another drift run holds ${lockPath}; this one skipped (counted in the textfile)`);
    return 0;
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
      if (v.fix && run.planned.length === 0) note('drift: nothing that --fix may mend');
      return run.exit;
    }
    const { checks, exit } = run;
    const durationS = (performance.now() - t0) / 1000;
    if (v.textfile)
      await host.writeFile(
        rooted(s.root, v.textfile),
        formatTextfile(expect.name, checks, exit, new Date(), durationS, lock.overlaps),
        {
          mode: 0o644,
          why: 'metrics for node_exporter',
        },
      );
    if (v.publish) {
      await publishReport(
        store,
        v['status-prefix'],
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
        },
        v['status-ttl'],
      ).catch((e) => note(`drift: --publish failed: ${(e as Error).message}`));
    }
    await cache?.save(host).catch((e) => note(`drift: could not write the etcd cache: ${(e as Error).message}`));
    if (s.json) {
      const out = {
        node: expect.name,
        exit,
        durationMs: Math.round(durationS * 1000),
        childProcesses: run.obs.processes,
        etcdRead: cache?.lastRead ?? {
          kind: 'full',
          why: s.etcd.api === 'v2' ? 'v2 has no conditional read' : 'no cache',
        },
        checks: checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason, fixable: Boolean(c.fix) })),
        fixed: run.fixed,
        failed: run.failed,
      };
      print(`${JSON.stringify(out, null, 2)}\n`);
    } else if (!(s.quiet && exit === 0)) {
      print(`${formatDriftReport(expect.name, checks, exit, { all: v.all, fixed: run.fixed, failed: run.failed })}\n`);
    }
    return exit;
  } finally {
    await lock.release();
  }
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main, 'spawn');
