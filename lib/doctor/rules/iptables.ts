// iptables: Docker's MASQUERADE rule back after a dockerd restart; FORWARD policy DROP without
// flannel's ACCEPT rules.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { countRule, flannelForwardRules, formatRule } from '../../model/iptables.ts';
import { isUp } from '../../model/supervisor.ts';
import { wrong } from './common.ts';

export const iptablesRules: DoctorRule = {
  name: 'iptables',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, checks, T } = s;
    const sup = o.supervisor.ok ? o.supervisor.value : undefined;
    const flanneldUp = sup !== undefined && isUp(sup.state);
    // ---- iptables
    const masq = wrong(checks, 'iptables.docker-masq');
    if (masq && masq.status === 'drift') {
      add({
        id: 'iptables.docker-masq',
        what: "Docker's blanket MASQUERADE rule is back in nat POSTROUTING",
        evidence: [...(masq.evidence ?? []), masq.reason],
        cause: `dockerd (--ip-masq=true, the default) inserts it at the top of POSTROUTING every time it starts: dockerd was restarted after the snat fix, so pods on other nodes see ${e.publicIp} instead of the pod's own address`,
        fix: T('snat-fix'),
        then: "snat-fix replaces it with the runbook's rule in one iptables-restore and persists the rules; it comes back with every dockerd restart (drift --fix from cron mends it)",
        checks: ['iptables.docker-masq', 'iptables.snat', 'iptables.persisted'],
      });
    }
    const fwd = wrong(checks, 'iptables.forward');
    if (fwd && fwd.status === 'drift' && o.ruleset.ok) {
      const chain = o.ruleset.value.tables.find((t) => t.name === 'filter')?.chains.find((c) => c.name === 'FORWARD');
      const absentRules = flannelForwardRules(e.network).filter(
        (r) => countRule(o.ruleset.ok ? o.ruleset.value : { tables: [] }, r) === 0,
      );
      if (chain && chain.policy !== 'ACCEPT' && absentRules.length) {
        add({
          id: 'iptables.forward-drop',
          what: `the FORWARD policy is ${chain.policy} and flannel's ACCEPT rules for ${e.network} are missing: pod traffic between nodes is dropped here`,
          evidence: [`:FORWARD ${chain.policy}`, ...absentRules.map((r) => `missing: ${formatRule(r)}`), fwd.reason],
          cause: `Docker >= 1.13 sets the FORWARD policy to DROP; flanneld appends the two ACCEPT rules (--iptables-forward-rules) and re-adds them every 5 s while it runs, so they are gone because ${flanneldUp ? 'flanneld runs with --iptables-forward-rules=false, or something deletes them' : `flanneld is ${sup?.state ?? 'not running'} and the rules were deleted or flushed`}`,
          fix: T('drift', ['--fix']),
          then: 'drift --fix inserts both rules in one iptables-restore, persists them and starts a stopped flanneld',
          checks: ['iptables.forward', 'iptables.persisted'],
        });
      }
    }
    return out;
  },
};
