#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// snat-fix: runbook step 6, on every node. Replaces Docker's blanket MASQUERADE rule with
// `-s SUBNET ! -d NETWORK ! -o BRIDGE -j MASQUERADE`, so pods see each other's real
// addresses while traffic leaving the pod network is still masqueraded.
// Preconditions: iptables, root. Idempotent: a second run finds nothing to do.
// One `iptables-restore --noflush` transaction (new rule in before the old one goes out);
// REJECT catch-alls: one policy with drift (--reject, the cluster file's "reject"; default drop,
// as the runbook does); live rules persisted from iptables-save.
// Exit: 0 done / nothing to do, 2 bad input (nothing changed), 3 a command failed.

import { formatRule } from '../lib/model/iptables.ts';
import { commonFlags, defineFlags, nodeFlags, rejectFlags } from '../lib/cli/flags.ts';
import { UsageError } from '../lib/core/errors.ts';
import { note, printPlanned, report } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { hostFile, required } from '../lib/cli/settings.ts';
import { applyPlan } from '../lib/host/apply.ts';
import type { Host } from '../lib/host/host.ts';
import { persistPath } from '../lib/host/persist.ts';
import { readAddresses } from '../lib/host/iproute.ts';
import { readNodeDefaults } from '../lib/host/node-files.ts';
import { checkSnatSubnet, observeSnat, planSnatStep, snatDone } from '../lib/steps/snat-fix.ts';

export const flags = defineFlags({
  ...commonFlags,
  subnet: nodeFlags.subnet,
  network: nodeFlags.network,
  bridge: nodeFlags.bridge,
  ...rejectFlags,
  'drop-reject': {
    type: 'boolean',
    help: 'the same as --reject drop (the spelling of earlier releases)',
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
  example: 'scripts/snat-fix.ts --subnet 172.7.21.0/24 --network 172.7.0.0/16 --reject drop',
  perNode: true,
};

/** --drop-reject is --reject drop; with --reject keep it is a contradiction. */
function rejectPolicy(policy: 'drop' | 'keep', v: { reject?: string; 'drop-reject': boolean }): boolean {
  if (v['drop-reject'] && v.reject === 'keep')
    throw new UsageError('--drop-reject and --reject keep: give one of them, e.g. --reject keep');
  return v['drop-reject'] || policy === 'drop';
}

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, host, recording } = loaded;
  if (f.values.persist !== undefined)
    await hostFile(host, s.root, '--persist', f.values.persist, '/etc/sysconfig/iptables');
  const subnet = required(s.node.subnet, '--subnet', '172.7.21.0/24', s.looked);
  const own = await readNodeDefaults(host, s.root);
  checkSnatSubnet(
    subnet,
    s.bridge,
    await readAddresses(host),
    own.subnet && { subnet: own.subnet, file: own.from.subnet ?? 'subnet.env' },
  );
  const input = {
    subnet,
    network: required(s.network, '--network', '172.7.0.0/16', s.looked),
    bridge: s.bridge,
    dropReject: rejectPolicy(s.reject, f.values),
    persist: await persistPath(host, s.root, f.values.persist),
  };
  const { plan, actions, persists } = planSnatStep(input, await observeSnat(host, input.persist));
  const kept = plan.kept.map((k) => `kept: ${formatRule(k.rule)} (${k.why})`);
  if (actions.length === 0) {
    report(s, { changed: false, changes: [], kept: plan.kept.map((k) => formatRule(k.rule)), persist: input.persist }, [
      'snat-fix: nothing to do',
      ...kept,
    ]);
    return 0;
  }
  await applyPlan(actions, host);
  if (recording) {
    if (!s.quiet) for (const k of kept) note(`# ${k}`);
    return printPlanned(s, recording, base, plan.changes.length ? snatDone(input) : undefined);
  }
  report(
    s,
    {
      changed: true,
      changes: plan.changes.map((c) => ({ action: c.action, rule: formatRule(c.rule), why: c.why })),
      kept: plan.kept.map((k) => formatRule(k.rule)),
      persist: input.persist,
    },
    [
      ...plan.changes.map((c) => `${c.action === 'insert' ? 'inserted' : 'deleted'}: ${formatRule(c.rule)} (${c.why})`),
      ...(persists ? [`persisted: ${input.persist}`] : []),
      ...kept,
    ],
  );
  return 0;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
