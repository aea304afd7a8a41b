// The doctor: why a node is wrong, and the command that mends it. Pure. It takes what drift saw
// (the observation and the checks with their typed details), doctor's own probes (the other
// etcd key space, flanneld's log, the pods' links) and returns Findings. The rules are a
// registry: one module per finding area in doctor/rules/, run in this order (most fundamental
// first: etcd, config, leases, routes, rules, host, flanneld), each seeing what the earlier
// ones found; `generic` last covers every drift check no rule explained.
// Adding a rule = adding its file and one line in DOCTOR_RULES.
//
// Finding ids (stable; docs/doctor-catalogue-table.md maps the failure catalogue's cases to them):
//   config.written-v3 / config.written-v2 / config.missing / config.wrong-prefix / config.invalid
//   etcd.v2-disabled / etcd.tls-ca / etcd.tls-client-cert / etcd.tls-scheme / etcd.tls-other /
//   etcd.unreachable / etcd.outage-degraded; etcd.recovered (a note: errors that are over)
//   iface.missing / iface.public-ip-mismatch / iface.shared-nat-address
//   lease.taken-over, lease.revoked (a note once it is over), lease.subnet-changed, lease.stale
//   flanneld.no-lease, flanneld.stopped, flanneld.restart-loop
//   vxlan.device-missing / vxlan.extra-address / vxlan.mac-mismatch / vxlan.stale-neighbour /
//   vxlan.directrouting-mismatch / vxlan.port-blocked
//   routes.peer-not-l2, routes.vxlan-deleted, routes.own-subnet, routes.wrong-gateway
//   iptables.backend-mix, iptables.forward-blocked / iptables.forward-reject / iptables.forward-drop,
//   iptables.docker-masq, iptables.no-egress-masq
//   sysctl.ip-forward-off, sysctl.rp-filter, docker0.bip-mismatch, mtu.mismatch
//   drift.<check id>      anything else drift finds, with the command that mends it

import { shellLine } from '../core/command.ts';
import { deriveContext } from '../checks/context.ts';
import type { Check } from '../checks/types.ts';
import type { DoctorProbes, NodeObservation } from '../host/observe.ts';
import { isRestarting, supervisorctlArgv } from '../model/supervisor.ts';
import { toolkitCommand } from './commands.ts';
import { analyseFlanneldLog } from './log.ts';
import { configRules } from './rules/config.ts';
import { etcdRules } from './rules/etcd.ts';
import { flanneldRules } from './rules/flanneld.ts';
import { genericRules } from './rules/generic.ts';
import { hostRules } from './rules/host.ts';
import { ifaceRules } from './rules/iface.ts';
import { leaseLifeRules } from './rules/lease-life.ts';
import { iptablesRules } from './rules/iptables.ts';
import { mtuRules } from './rules/mtu.ts';
import { noLeaseRules } from './rules/no-lease.ts';
import { routeRules } from './rules/routes.ts';
import { takenOverRules } from './rules/taken-over.ts';
import { vxlanRules } from './rules/vxlan.ts';
import type { DoctorContext, DoctorRule, Finding, Scope } from './types.ts';

export const DOCTOR_RULES: readonly DoctorRule[] = [
  etcdRules,
  configRules,
  ifaceRules,
  noLeaseRules,
  takenOverRules,
  leaseLifeRules,
  vxlanRules,
  routeRules,
  iptablesRules,
  hostRules,
  mtuRules,
  flanneldRules,
  genericRules,
];

/** Every finding, most fundamental first. */
export function diagnose(
  ctx: DoctorContext,
  obs: NodeObservation,
  checks: readonly Check[],
  probes: DoctorProbes,
): Finding[] {
  const e = ctx.expect;
  const restarting = isRestarting(obs.supervisor.ok ? obs.supervisor.value?.state : undefined);
  const log = probes.log.ok ? analyseFlanneldLog(probes.log.value, obs.at, { restarting }) : undefined;
  const found: Finding[] = [];
  const base = {
    ctx,
    e,
    obs,
    checks,
    probes,
    derived: deriveContext(e, obs),
    ...(log && { log }),
    T: (script: string, extra: readonly string[] = [], scope: 'node' | 'cluster' = 'node') =>
      toolkitCommand(ctx.run, script, extra, scope),
    logEvidence: (...ids: string[]) =>
      ids
        .map((id) => log?.current.get(id)?.line.raw)
        .filter((l): l is string => l !== undefined)
        .map((l) => `${probes.logFile}: ${l}`),
    supervisorctl: (verb: string) => shellLine(supervisorctlArgv(e.paths.supervisorConf, verb, e.program)),
  };
  for (const rule of DOCTOR_RULES) {
    const scope: Scope = { ...base, found: [...found] };
    found.push(...rule.run(scope));
  }
  return found;
}

export { doctorExit, formatDoctorReport } from './report.ts';
export type { ClusterPeer, DoctorContext, Finding, Invocation } from './types.ts';
