#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// fleet: every node's last drift result in one table, from any node. Reads what
// `drift --publish` wrote under --status-prefix in ONE etcd read; a node whose last report is
// older than --stale-after (its cron stopped) or gone (its TTL ran out) is marked.
// Read-only. Exit: 0 every node in sync and fresh, 1 drift / stale / missing report,
//       2 usage, 3 etcd could not be read.

import { ExitCode } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags } from '../lib/flags.ts';
import { DEFAULT_STATUS_PREFIX, fleetTable, readReports } from '../lib/fleet-status.ts';
import { connectionFor, storeTarget } from '../lib/network-store.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/script.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  'status-prefix': {
    type: 'string',
    default: DEFAULT_STATUS_PREFIX,
    placeholder: 'KEY',
    help: 'etcd prefix drift --publish writes to',
  },
  'stale-after': {
    type: 'number',
    default: 180,
    min: 1,
    max: 86400,
    placeholder: 'S',
    help: 'a report older than this is stale (cron runs every 60 s)',
  },
});

const info = {
  name: 'fleet',
  summary: "Every node's last drift result (from drift --publish) in one table, stale nodes marked.",
  example: 'scripts/fleet.ts --cluster /etc/flannel-runbook/cluster.json',
  perNode: false,
};

export async function main(argv: string[]): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster } = loaded;
  const store = storeTarget(connectionFor(s), s.etcd.api, s.etcd.prefix);
  const reports = await readReports(store, f.values['status-prefix']);
  const rows = fleetTable(reports, cluster?.nodes.map((n) => n.name) ?? [], new Date(), f.values['stale-after']);
  const ok = rows.length > 0 && rows.every((r) => r.state === 'in sync');
  if (s.json) {
    process.stdout.write(`${JSON.stringify({ ok, rows, reports }, null, 2)}\n`);
  } else if (!(s.quiet && ok)) {
    const head = ['NODE', 'STATE', 'AGE', 'DETAIL'];
    const cells = rows.map((r) => [r.node, r.state, r.age, r.detail]);
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const fmt = (c: string[]) =>
      c
        .map((x, i) => (i === 3 ? x : x.padEnd(w[i]!)))
        .join('  ')
        .trimEnd();
    process.stdout.write(
      `${[fmt(head), ...cells.map(fmt), ...(rows.length ? [] : ['(no reports: run drift --publish on the nodes)'])].join('\n')}\n`,
    );
  }
  return ok ? ExitCode.Ok : ExitCode.Drift;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
