// iptables: what stops pod traffic in FORWARD (the policy DROP without flannel's ACCEPT rules,
// iptables-services' REJECT catch-all ahead of them, any other DROP/REJECT: each its own
// finding), rules of the other (legacy) backend acting on pod traffic, Docker's MASQUERADE rule
// back after a dockerd restart, and no masquerade at all for traffic leaving the network.
// A fix never persists rules that still hold the problem: the rule goes first, then the save.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { IPTABLES_BACKEND, IPTABLES_FORWARD, IPTABLES_PERSISTED, IPTABLES_SNAT } from '../../checks/iptables.ts';
import { resultOf } from '../../checks/types.ts';
import { countRule, flannelForwardRules, formatRule, rejectRules } from '../../model/iptables.ts';
import { isUp } from '../../model/supervisor.ts';
import { deleteRuleLine, wrong } from './common.ts';

export const iptablesRules: DoctorRule = {
  name: 'iptables',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, checks, T } = s;
    const sup = o.supervisor.ok ? o.supervisor.value : undefined;
    const flanneldUp = sup !== undefined && isUp(sup.state);
    const persistedFile = o.files.persisted ?? '';
    const persistedWrong = wrong(checks, IPTABLES_PERSISTED.id) !== undefined;
    // ---- the legacy backend: its rules apply too, and iptables-save does not show them
    const be = resultOf(checks, IPTABLES_BACKEND);
    if (be?.status === 'drift' && be.detail) {
      const effects = be.detail.effects;
      add({
        id: 'iptables.backend-mix',
        what: `rules in the legacy iptables backend act on pod traffic, while this node's iptables (and iptables-save) is nft: ${effects.map((x) => `${x.rule} ${x.effect} ${x.flows.join(', ')}`).join('; ')}`,
        evidence: [
          'iptables-save (nft): # Warning: iptables-legacy tables present, use iptables-legacy-save to see them',
          ...effects.map((x) => `iptables-legacy-save -t ${x.table}: ${x.rule}`),
        ],
        cause:
          'something wrote through iptables-legacy (a script, an old image, `update-alternatives` switched back and forth) on a host whose tools use nf_tables: the kernel applies both sets, each save shows only its own, so a legacy MASQUERADE hides the pod address and a legacy DROP stops it while the nft rules look right (failure case C34)',
        fix: effects.map((x) => deleteRuleLine('iptables-legacy', x.table, x.rule)).join(' && '),
        then: 'use one backend everywhere (on Debian: update-alternatives --display iptables); scripts and images must call the same one',
        checks: [IPTABLES_BACKEND.id, ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
      });
    }
    // ---- FORWARD: what stops pod traffic, in rule order
    const fwd = resultOf(checks, IPTABLES_FORWARD);
    if (fwd?.status === 'drift' && fwd.detail && o.ruleset.ok) {
      const rs = o.ruleset.value;
      const blocked = fwd.detail.blocked;
      const byPolicy = blocked.filter((b) => !b.rule);
      const reject = formatRule(rejectRules()[1]!);
      const byReject = blocked.filter((b) => b.rule === reject && b.chain === 'FORWARD');
      const byOther = blocked.filter((b) => b.rule && !(b.rule === reject && b.chain === 'FORWARD'));
      const absentRules = flannelForwardRules(e.network).filter((r) => countRule(rs, r) === 0);
      const flowsOf = (bs: typeof blocked) => bs.map((b) => b.flow).join(', ');
      if (byOther.length) {
        const rules = [...new Map(byOther.map((b) => [`${b.table} ${b.rule}`, b])).values()];
        // persisted with the rule in it: after the delete the file must be rewritten, from rules now right
        const inFile = rules.some((b) => persistedFile.split('\n').some((l) => l.trim() === b.rule));
        add({
          id: 'iptables.forward-blocked',
          what: `a rule in FORWARD stops pod traffic before flannel's ACCEPT rules: ${rules.map((b) => `${b.rule}${b.chain !== 'FORWARD' ? ` (in ${b.chain})` : ''}`).join('; ')}`,
          evidence: [...rules.map((b) => `filter ${b.chain}: ${b.rule}`), `stopped: ${flowsOf(byOther)}`],
          cause:
            "FORWARD is decided in order: flanneld appends its two ACCEPT rules (-A), so any DROP or REJECT above them that matches pod traffic wins; it was inserted by hand, by a firewall manager (firewalld's chains), or by a script, and verify-ping's default target (a remote docker0 address) never crosses FORWARD, so only pod-to-pod traffic shows it",
          // the live rules differ from the file for more than the rule (it is in the file, or
          // came with a chain): drift --fix saves them, after the rule is gone
          fix: [
            ...rules.map((b) => deleteRuleLine('iptables', b.table ?? 'filter', b.rule!)),
            ...(inFile || (persistedWrong && rules.some((b) => b.chain !== 'FORWARD')) ? [T('drift', ['--fix'])] : []),
          ].join(' && '),
          ...(inFile && {
            then: `the rule is in ${e.paths.persist} too: drift --fix rewrites it from the live rules once they are right`,
          }),
          checks: [IPTABLES_FORWARD.id, ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
        });
      } else if (byReject.length) {
        add({
          id: 'iptables.forward-reject',
          what: `iptables-services' catch-all \`${reject}\` comes before flannel's ACCEPT rules in FORWARD: pod traffic between nodes is rejected here`,
          evidence: [`filter FORWARD: ${reject}`, `stopped: ${flowsOf(byReject)}`],
          cause:
            "/etc/sysconfig/iptables (iptables-services) ends FORWARD with a REJECT catch-all, and flanneld v0.11 appends its ACCEPT rules after it (failure case C08): iptables-services was (re)started, or its rules file reloaded; the runbook's step 6 deletes exactly this rule",
          fix: T('snat-fix', ['--reject', 'drop']),
          then: "snat-fix deletes the REJECT catch-alls (INPUT's too: the host's INPUT is open then) in one iptables-restore and saves the rules without them; or keep them and put flannel's ACCEPT rules first by hand (-I FORWARD 1)",
          checks: [IPTABLES_FORWARD.id, 'iptables.reject', ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
        });
      } else if (byPolicy.length && absentRules.length) {
        const chain = rs.tables.find((t) => t.name === 'filter')?.chains.find((c) => c.name === 'FORWARD');
        add({
          id: 'iptables.forward-drop',
          what: `the FORWARD policy is ${chain?.policy ?? byPolicy[0]!.target} and flannel's ACCEPT rules for ${e.network} are missing: pod traffic between nodes is dropped here`,
          evidence: [
            `:FORWARD ${chain?.policy ?? byPolicy[0]!.target}`,
            ...absentRules.map((r) => `missing: ${formatRule(r)}`),
            fwd.reason,
          ],
          cause: `Docker >= 1.13 sets the FORWARD policy to DROP; flanneld appends the two ACCEPT rules (--iptables-forward-rules) and re-adds them every 5 s while it runs, so they are gone because ${flanneldUp ? 'flanneld runs with --iptables-forward-rules=false, or something deletes them' : `flanneld is ${sup?.state ?? 'not running'} and the rules were deleted or flushed`}`,
          fix: T('drift', ['--fix']),
          then: 'drift --fix inserts both rules in one iptables-restore, then saves the rules (only once they are right) and starts a stopped flanneld',
          checks: [IPTABLES_FORWARD.id, ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
        });
      }
    }
    // ---- nat POSTROUTING
    const masq = wrong(checks, 'iptables.docker-masq');
    if (masq && masq.status === 'drift') {
      add({
        id: 'iptables.docker-masq',
        what: "Docker's blanket MASQUERADE rule is back in nat POSTROUTING",
        evidence: [...(masq.evidence ?? []), masq.reason],
        cause: `dockerd (--ip-masq=true, the default) inserts it at the top of POSTROUTING every time it starts: dockerd was restarted after the snat fix, so pods on other nodes see ${e.publicIp} instead of the pod's own address`,
        fix: T('snat-fix'),
        then: "snat-fix replaces it with the runbook's rule in one iptables-restore and persists the rules; it comes back with every dockerd restart (drift --fix from cron mends it)",
        checks: ['iptables.docker-masq', IPTABLES_SNAT.id, ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
      });
    } else {
      const snat = resultOf(checks, IPTABLES_SNAT);
      if (snat?.status === 'drift' && snat.detail?.count === 0) {
        add({
          id: 'iptables.no-egress-masq',
          what: `nothing masquerades pod traffic leaving ${e.network}: the runbook's SNAT rule is missing and Docker's is gone too`,
          evidence: [`missing: ${snat.detail.rule}`, "absent: Docker's -s SUBNET ! -o docker0 -j MASQUERADE"],
          cause:
            'pods reach each other but not the world: their packets leave with a pod address the outside cannot answer (failure case C33); the rule was deleted, or older rules without it were restored (a reboot loading a rules file saved before snat-fix)',
          fix: T('snat-fix'),
          then: 'snat-fix inserts the rule and saves the rules, so a reboot keeps it',
          checks: [IPTABLES_SNAT.id, ...(persistedWrong ? [IPTABLES_PERSISTED.id] : [])],
        });
      }
    }
    return out;
  },
};
