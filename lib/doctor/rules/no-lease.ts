// healthz answers, but no lease has this node's IP: healthz proves only that the process runs.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';

export const noLeaseRules: DoctorRule = {
  name: 'no-lease',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, obs: o, probes: p, log, derived } = s;
    const { etcd, leases, mine } = derived;
    const configFix = s.found.find((f) => f.id.startsWith('config.'))?.fix;
    // flanneld's own etcd trouble (its log) is why it has no lease: that finding's fix is this one's
    const etcdFix = s.found.find((f) => f.id.startsWith('etcd.'))?.fix;
    // ---- healthz answers, but no lease
    if (
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
        ],
        cause: configFix
          ? 'flanneld is waiting for the network config (healthz answers before flanneld has a config or a lease: it proves only that the process runs)'
          : logged.length
            ? `${logged[0]!.known.meaning} (healthz answers regardless)`
            : 'flanneld has not got a lease (its lease was deleted while it hung, or it cannot write to etcd); healthz proves only that the process runs',
        fix: configFix ?? etcdFix ?? s.supervisorctl('restart'),
        ...(configFix && { then: 'flanneld takes its lease within a second of the config appearing' }),
        checks: ['lease.own', 'lease.ttl', 'subnet-env.lease'],
      });
    }
    return out;
  },
};
