// healthz answers, but no lease has this node's IP: healthz proves only that the process runs.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';

export const noLeaseRules: DoctorRule = {
  name: 'no-lease',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, obs: o, probes: p, log, derived, T } = s;
    const { etcd, leases, mine } = derived;
    const configFix = s.found.find((f) => f.id.startsWith('config.'))?.fix;
    // flanneld's own etcd trouble (its log) is why it has no lease: that finding's fix is this one's
    const etcdFix = s.found.find((f) => f.id.startsWith('etcd.'))?.fix;
    // ---- healthz answers, but no lease
    // flanneld.sh other than start writes it (another prefix, other endpoints): start is the fix
    const flags = s.checks.find((c) => c.id === 'flanneld.flags' && c.status === 'drift');
    if (
      !configFix &&
      etcd &&
      mine.length === 0 &&
      o.healthz.ok &&
      o.healthz.value.status === 200 &&
      !leases.some((l) => l.subnet.equals(e.subnet))
    ) {
      const logged = [...(log?.current.values() ?? [])];
      add({
        id: 'flanneld.no-lease',
        what: `flanneld answers healthz on :${ctx.healthzPort}, but no lease in etcd has PublicIP ${e.publicIp}`,
        evidence: [
          `GET http://127.0.0.1:${ctx.healthzPort}/healthz -> ${o.healthz.value.status} "${o.healthz.value.body}"`,
          `${leases.length} leases under ${e.prefix}/subnets, none for ${e.publicIp}${leases.length ? `: ${leases.map((l) => `${l.subnet} -> ${l.publicIp}`).join(', ')}` : ''}`,
          ...logged.map((x) => `${p.logFile}: ${x.line.raw}`),
          ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
        ],
        cause: flags
          ? `flanneld.sh is not what start writes (${flags.reason.replace(/^flanneld\.sh flags differ: /, '')}), so this flanneld asks another place than the cluster's for its config and lease${logged.length ? `: ${logged[0]!.known.meaning}` : ''} (healthz answers regardless)`
          : logged.length
            ? `${logged[0]!.known.meaning} (healthz answers regardless)`
            : 'flanneld has not got a lease (its lease was deleted while it hung, or it cannot write to etcd); healthz proves only that the process runs',
        fix: etcdFix ?? (flags ? T('start') : s.supervisorctl('restart')),
        ...(flags && {
          then: 'start writes flanneld.sh as the cluster says and restarts flanneld, which takes its lease within a second',
        }),
        checks: ['lease.own', 'lease.ttl', 'subnet-env.lease', ...(flags ? ['flanneld.flags'] : [])],
      });
    }
    return out;
  },
};
