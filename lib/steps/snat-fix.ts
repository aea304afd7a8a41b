// Runbook step 6, snat-fix: Docker's blanket MASQUERADE rule replaced by the runbook's
// `-s SUBNET ! -d NETWORK ! -o BRIDGE -j MASQUERADE` in ONE iptables-restore --noflush
// transaction (the new rule in before the old goes out, at its position), the REJECT
// catch-alls removed only when asked, and the live rules persisted, atomically, from
// iptables-save's own output through this process.
//   observeSnat(host, ...) -> the live rules and the persisted file
//   planSnatStep(...)      -> the actions (pure)

import { shellLine } from '../core/command.ts';
import { capture, run, type Action, type DoneWhen } from '../core/plan.ts';
import { invalid } from '../core/errors.ts';
import type { Ip4Net } from '../core/ip4.ts';
import { findInterface, type Interface } from '../model/interfaces.ts';
import {
  comparableSave,
  dockerMasqRule,
  parseIptablesSave,
  rejectRules,
  runbookSnatRule,
  type Rule,
  planSnatCommands,
  planSnatFix,
  type Ruleset,
  type SnatPlan,
} from '../model/iptables.ts';
import type { Host } from '../host/host.ts';

export interface SnatObservation {
  /** iptables-save's output */
  readonly saved: string;
  readonly ruleset: Ruleset;
  /** the persisted rules file, undefined when missing */
  readonly persisted?: string;
}

export async function observeSnat(host: Host, persist: string): Promise<SnatObservation> {
  const saved = (await host.run({ argv: ['iptables-save'], why: 'the live rules', readOnly: true })).stdout;
  const persisted = await host.readFile(persist, { maxBytes: 16 << 20 });
  return { saved, ruleset: parseIptablesSave(saved), ...(persisted !== undefined && { persisted }) };
}

/**
 * --subnet is this node's: inside docker0's address, and the lease flanneld wrote to
 * subnet.env when there is one. Another node's subnet would get a MASQUERADE rule that
 * matches none of this node's pods while its own go unmasqueraded (exit 2, nothing changed).
 * A node with neither (snat-fix before start) has nothing to check against.
 */
export function checkSnatSubnet(
  subnet: Ip4Net,
  bridge: string,
  ifaces: readonly Interface[],
  lease?: { readonly subnet: Ip4Net; readonly file: string },
): void {
  if (lease && !lease.subnet.equals(subnet))
    throw invalid(
      '--subnet',
      subnet.toString(),
      `this node's lease is ${lease.subnet} (FLANNEL_SUBNET in ${lease.file}); the rule is for this node's own pods`,
      lease.subnet.toString(),
    );
  const addrs = findInterface(ifaces, bridge)?.addrs ?? [];
  if (addrs.length && !addrs.some((a) => subnet.contains(a.ip)))
    throw invalid(
      '--subnet',
      subnet.toString(),
      `${bridge} has ${addrs.join(', ')}, outside it: this node's pods are not in that subnet`,
      addrs[0]!.network().toString(),
    );
}

export interface SnatStepInput {
  readonly subnet: Ip4Net;
  readonly network: Ip4Net;
  readonly bridge: string;
  readonly dropReject: boolean;
  readonly persist: string;
}

export interface SnatStep {
  readonly plan: SnatPlan;
  readonly actions: readonly Action[];
  readonly persists: boolean;
}

/** The transaction, then the persisted copy when the rules change or the file differs. */
export function planSnatStep(i: SnatStepInput, seen: SnatObservation): SnatStep {
  const plan = planSnatFix(seen.ruleset, {
    subnet: i.subnet,
    network: i.network,
    bridge: i.bridge,
    dropReject: i.dropReject,
  });
  const actions: Action[] = planSnatCommands(plan).map(run);
  const persists =
    actions.length > 0 || seen.persisted === undefined || comparableSave(seen.persisted) !== comparableSave(seen.saved);
  if (persists)
    actions.push(
      capture(
        { argv: ['iptables-save'], why: 'the live rules', readOnly: true },
        i.persist,
        `persist the live rules to ${i.persist} (atomically), so a reboot or 'systemctl restart iptables' keeps the fix`,
        { mode: 0o600, expect: 'COMMIT' },
      ),
    );
  return { plan, actions, persists };
}

/**
 * The test a pasted snat-fix script starts with when it changes rules: the runbook's rule is
 * there and Docker's is not (and, with --drop-reject, no REJECT catch-all): then a second paste
 * changes nothing (iptables -C exits 1 for an absent rule).
 */
export function snatDone(i: SnatStepInput): DoneWhen {
  const check = (r: Rule) => `${shellLine(['iptables', '-t', r.table, '-C', r.chain, ...r.spec])} 2>/dev/null`;
  const parts = [
    check(runbookSnatRule(i.subnet, i.network, i.bridge)),
    `! ${check(dockerMasqRule(i.subnet, i.bridge))}`,
    ...(i.dropReject ? rejectRules().map((r) => `! ${check(r)}`) : []),
  ];
  return { test: parts.join(' && '), say: 'snat-fix: nothing to do' };
}
