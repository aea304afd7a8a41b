#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// fleet: every node's last drift result, from any node. drift --publish writes one report per
// node into etcd (with a TTL); fleet reads them in one range read and prints one row per node,
// marking the nodes whose report is stale or gone (their cron is not running).
// Exit: 0 every node in sync, 1 anything else, 2 usage, 3 etcd failed.

import { ExitCode } from '../lib/core/errors.ts';
import { formatTable } from '../lib/core/table.ts';
import { fleetTable } from '../lib/checks/report.ts';
import { commonFlags, defineFlags, etcdFlags, statusFlags } from '../lib/cli/flags.ts';
import { print } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { connectionFor } from '../lib/cli/settings.ts';
import type { Host } from '../lib/host/host.ts';
import { storeTarget } from '../lib/host/network-store.ts';
import { checkStatusPrefix, readReports } from '../lib/host/status-store.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  ...statusFlags,
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

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, host } = loaded;
  const statusPrefix = checkStatusPrefix(f.values['status-prefix'], s.etcd.prefix);
  const store = await storeTarget(host, connectionFor(s), s.etcd.api, s.etcd.prefix, { checkTls: true });
  const reports = await readReports(store, statusPrefix);
  const rows = fleetTable(reports, cluster?.nodes.map((n) => n.name) ?? [], new Date(), f.values['stale-after']);
  const ok = rows.length > 0 && rows.every((r) => r.state === 'in sync');
  if (s.json) {
    print(`${JSON.stringify({ ok, rows, reports }, null, 2)}\n`);
  } else if (!(s.quiet && ok)) {
    const lines = formatTable(
      ['NODE', 'STATE', 'AGE', 'DETAIL'],
      rows.map((r) => [r.node, r.state, r.age, r.detail]),
    );
    print(`${[...lines, ...(rows.length ? [] : ['(no reports: run drift --publish on the nodes)'])].join('\n')}\n`);
  }
  return ok ? ExitCode.Ok : ExitCode.Drift;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main, 'spawn');
