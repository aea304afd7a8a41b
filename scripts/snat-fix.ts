#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// snat-fix: runbook step 6, on every node. Replaces Docker's blanket MASQUERADE rule with
// `-s SUBNET ! -d NETWORK ! -o BRIDGE -j MASQUERADE`, so pods see each other's real
// addresses while traffic leaving the pod network is still masqueraded.
// Preconditions: iptables, root. Idempotent: a second run finds nothing to do.
// One `iptables-restore --noflush` transaction (new rule in before the old one goes out);
// REJECT catch-alls removed only with --drop-reject; live rules persisted with iptables-save.
// Exit: 0 done / nothing to do, 2 bad input (nothing changed), 3 a command failed.

import { existsSync } from 'node:fs';
import { persistPath } from '../lib/iptables-persist.ts';
import { dirname } from 'node:path';
import { commonFlags, defineFlags, nodeFlags, required } from '../lib/flags.ts';
import { comparableSave, formatRule, parseIptablesSave, planSnatCommands, planSnatFix } from '../lib/iptables.ts';
import { formatPlan, applyPlan, makeDir, run, type Action } from '../lib/plan.ts';
import { zxRunner, type Runner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, report, runScript, note } from '../lib/script.ts';
import { readFile } from 'node:fs/promises';

export const flags = defineFlags({
  ...commonFlags,
  subnet: nodeFlags.subnet,
  network: nodeFlags.network,
  bridge: nodeFlags.bridge,
  'drop-reject': {
    type: 'boolean',
    help: "also delete iptables-services' catch-all REJECT rules in INPUT and FORWARD (opens the host: an explicit choice)",
  },
  persist: {
    type: 'string',
    placeholder: 'FILE',
    help: 'where the live rules are saved (default /etc/iptables/rules.v4 when /etc/iptables exists, else /etc/sysconfig/iptables)',
  },
});

const info = {
  name: 'snat-fix',
  summary:
    "Runbook step 6: replace Docker's MASQUERADE rule with the runbook's SNAT rule in one iptables-restore transaction, and persist the rules.",
  example: 'scripts/snat-fix.ts --subnet 172.7.21.0/24 --network 172.7.0.0/16 --drop-reject',
  perNode: true,
};

export async function main(argv: string[], runner: Runner = zxRunner): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f } = loaded;
  const subnet = required(s.node.subnet, '--subnet', '172.7.21.0/24');
  const network = required(s.network, '--network', '172.7.0.0/16');
  const persist = persistPath(s.root, f.values.persist);

  // observe (read-only, also under --dry-run)
  const saved = (await zxRunner({ argv: ['iptables-save'], why: 'the live rules' })).stdout;
  const plan = planSnatFix(parseIptablesSave(saved), {
    subnet,
    network,
    bridge: s.bridge,
    dropReject: f.values['drop-reject'],
  });
  const persisted = await readFile(persist, 'utf8').catch(() => undefined);

  const actions: Action[] = planSnatCommands(plan).map(run);
  const needPersist =
    actions.length > 0 || persisted === undefined || comparableSave(persisted) !== comparableSave(saved);
  if (needPersist) {
    if (!existsSync(dirname(persist))) actions.push(makeDir(dirname(persist), 'the rules file lives here'));
    actions.push(
      run({
        argv: ['sh', '-c', 'iptables-save > "$1.tmp" && chmod 600 "$1.tmp" && mv -f "$1.tmp" "$1"', 'sh', persist],
        why: `persist the live rules to ${persist} (atomically), so a reboot or 'systemctl restart iptables' keeps the fix`,
      }),
    );
  }

  const kept = plan.kept.map((k) => `kept: ${formatRule(k.rule)} (${k.why})`);
  if (actions.length === 0) {
    report(
      s,
      { changed: false, changes: [], kept: plan.kept.map((k) => formatRule(k.rule)), persist },
      ['snat-fix: nothing to do', ...kept],
      false,
    );
    return 0;
  }
  if (s.dryRun) {
    process.stdout.write(formatPlan(actions));
    for (const k of kept) note(`# ${k}`);
    return 0;
  }
  await applyPlan(actions, runner);
  const lines = [
    ...plan.changes.map((c) => `${c.action === 'insert' ? 'inserted' : 'deleted'}: ${formatRule(c.rule)} (${c.why})`),
    ...(needPersist ? [`persisted: ${persist}`] : []),
    ...kept,
  ];
  report(
    s,
    {
      changed: true,
      changes: plan.changes.map((c) => ({ action: c.action, rule: formatRule(c.rule), why: c.why })),
      kept: plan.kept.map((k) => formatRule(k.rule)),
      persist,
    },
    lines,
  );
  return 0;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
