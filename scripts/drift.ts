#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// drift: from cron on every node, every minute. Compares the node with what it should be
// (the cluster file or the steps' flags): etcd and its config, this node's lease, the routes
// against every lease, the snat/FORWARD/REJECT rules and their persisted copy, subnet.env and
// docker0, flanneld under supervisord, the certs, ip_forward. Each check has a stable id.
// Cost: a constant number of child processes and ONE etcd range read, whatever the cluster size.
// --fix mends what is safe (routes in one ip -batch, the SNAT and FORWARD rules in one
// iptables-restore, subnet.env, a stopped flanneld) and never deletes a lease or a config.
// --quiet prints nothing when in sync (cron mail); --json; --textfile for node_exporter;
// --publish writes this node's result to etcd for scripts/fleet.ts.
// Exit: 0 in sync, 1 drift, 2 usage/config error, 3 could not check (etcd down is 3, never "drift").

import { ExitCode, UsageError } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags, rooted } from '../lib/flags.ts';
import { nodeCheckFlags, nodeTarget } from '../lib/node-expectation.ts';
import { checkNode, exitCodeFor, planFixes, type Check } from '../lib/drift.ts';
import { formatDriftReport, formatTextfile, takeLock, writeAtomic } from '../lib/drift-report.ts';
import { DEFAULT_STATUS_PREFIX, publishReport } from '../lib/fleet-status.ts';
import { storeTarget } from '../lib/network-store.ts';
import { observeNode, type NodeObservation } from '../lib/node-observe.ts';
import { applyPlan, describeAction, formatPlan } from '../lib/plan.ts';
import { spawnRunner, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, note, runScript } from '../lib/script.ts';

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
});

const info = {
  name: 'drift',
  summary: 'Compare this node with what it should be (cron: every minute); --fix mends what is safe.',
  example:
    '* * * * * root /opt/flannel-runbook/dist/drift.mjs --cluster /etc/flannel-runbook/cluster.json --quiet --textfile /var/lib/node_exporter/textfile/flannel.prom --publish',
  perNode: true,
};

// the cron path applies --fix with spawnRunner: the same argv, stdin and errors as zxRunner,
// without loading zx (and its bundled fetch) on every node every minute
export async function main(argv: string[], runner: Runner = spawnRunner): Promise<number> {
  const t0 = performance.now();
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, node } = loaded;
  const v = f.values;
  if (v.publish && s.dryRun)
    throw new UsageError('--publish with --dry-run: a dry run writes nothing, not even its result');
  const { expect, conn, paths, persist } = nodeTarget(s, v, cluster, node);
  const { name, program, publicIp } = expect;
  const store = storeTarget(conn, s.etcd.api, s.etcd.prefix);

  const lock = takeLock(rooted(s.root, v.lock));
  if ('heldBy' in lock) {
    process.stderr.write(
      `drift: another drift run (pid ${lock.heldBy}) holds ${rooted(s.root, v.lock)}; exiting without checking\n`,
    );
    return ExitCode.Runtime;
  }
  try {
    const observe = (etcd?: NodeObservation['etcd']) =>
      observeNode({
        ...(etcd && { etcd }),
        store,
        program,
        healthzPort: s.healthzPort,
        paths: {
          ...paths,
          persist,
          cafile: rooted(s.root, s.etcd.cafile),
          certfile: rooted(s.root, s.etcd.certfile),
          keyfile: rooted(s.root, s.etcd.keyfile),
        },
      });
    let obs: NodeObservation = await observe();
    let checks: Check[] = checkNode(expect, obs);
    let exit = exitCodeFor(checks);
    const fixed: string[] = [];

    if (v.fix && exit !== 0) {
      const actions = planFixes(checks);
      if (s.dryRun) {
        process.stdout.write(formatPlan(actions));
        if (actions.length === 0) note('drift: nothing that --fix may mend');
        return exit;
      }
      if (actions.length) {
        await applyPlan(actions, runner, (a) => fixed.push(describeAction(a)));
        // check the node again; etcd's answer is the same (--fix never writes etcd)
        obs = await observe(obs.etcd);
        checks = checkNode(expect, obs);
        exit = exitCodeFor(checks);
      }
    }
    const durationS = (performance.now() - t0) / 1000;
    if (v.textfile) writeAtomic(v.textfile, formatTextfile(name, checks, exit, new Date(), durationS));
    if (v.publish) {
      await publishReport(
        store,
        v['status-prefix'],
        {
          node: name,
          publicIp: publicIp.toString(),
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
    if (s.json) {
      const out = {
        node: name,
        exit,
        durationMs: Math.round(durationS * 1000),
        childProcesses: obs.processes,
        checks: checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason, fixable: Boolean(c.fix) })),
        fixed,
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    } else if (!(s.quiet && exit === 0)) {
      process.stdout.write(`${formatDriftReport(name, checks, exit, { all: v.all, fixed })}\n`);
    }
    return exit;
  } finally {
    lock.release();
  }
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
