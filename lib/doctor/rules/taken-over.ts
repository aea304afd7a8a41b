// A lease taken over: subnet.env copied between hosts made one flanneld (v0.11) take another
// node's live lease.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import type { Ip4, Ip4Net } from '../../core/ip4.ts';
import { deleteKeyCommand } from '../commands.ts';
import { leaseLine, parseEnv } from './common.ts';

export const takenOverRules: DoctorRule = {
  name: 'taken-over',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, probes: p, log, derived, T } = s;
    const { etcd, leases, mine } = derived;
    const env = parseEnv(s.obs.files.subnetEnv);
    const envLine = env ? [`${e.paths.subnetEnv}: FLANNEL_SUBNET=${env.subnet} FLANNEL_MTU=${env.mtu}`] : [];
    // ---- a lease taken over (subnet.env copied between hosts)
    const staleRoutes = s.checks.find((c) => c.id === 'routes.stale' && c.status === 'drift');
    const staleOnly = (subnet: string) =>
      staleRoutes !== undefined && (staleRoutes.evidence ?? []).every((r) => r.startsWith(`${subnet} `));
    if (etcd) {
      const owner = (s: Ip4Net) => ctx.peers.find((n) => n.subnet.equals(s) && !n.publicIp.equals(e.publicIp));
      const byIp = (ip: Ip4) => ctx.peers.find((n) => n.publicIp.equals(ip));
      const taken = mine.find(
        (l) =>
          !l.subnet.equals(e.subnet) &&
          (owner(l.subnet) || log?.takeovers.some((t) => t.subnet === l.subnet.toString())),
      );
      const stolen = leases.find((l) => l.subnet.equals(e.subnet) && !l.publicIp.equals(e.publicIp));
      const envSubnet = env?.subnet.network();
      const pending =
        envSubnet && !envSubnet.equals(e.subnet)
          ? leases.find((l) => l.subnet.equals(envSubnet) && !l.publicIp.equals(e.publicIp))
          : undefined;
      if (taken) {
        const from = owner(taken.subnet);
        const tk = log?.takeovers.find((t) => t.subnet === taken.subnet.toString());
        add({
          id: 'lease.taken-over',
          what: `this node (${e.publicIp}) holds ${taken.subnet}${from ? `, the subnet of ${from.name} (${from.publicIp})` : ''}, not its own ${e.subnet}: it took that node's lease over`,
          evidence: [leaseLine(taken), ...envLine, ...(tk ? [`${p.logFile}: ${tk.line.raw}`] : [])],
          cause: `subnet.env was copied from ${from?.name ?? 'another host'} (FLANNEL_SUBNET=${taken.subnet.gatewayForm()}) while this node had no lease of its own: flanneld v0.11 reuses FLANNEL_SUBNET even when another node holds it, and takes that live lease over silently`,
          fix: [s.supervisorctl('stop'), deleteKeyCommand(ctx, e.api, taken.key), T('start')].join(' && '),
          then: `stop, free the lease, then start with this node's own subnet.env (start checks that ${e.subnet} is free); ${from?.name ?? 'the owner'} then takes ${taken.subnet} back when its flanneld restarts (supervisorctl restart ${from?.program ?? 'PROGRAM'} there)`,
          checks: [
            'lease.own',
            'lease.ttl',
            'lease.duplicate-ip',
            'subnet-env.lease',
            // this node's old route to the subnet it took: "stale" only because it took it
            ...(staleOnly(taken.subnet.network().toString()) ? ['routes.stale'] : []),
          ],
        });
      } else if (stolen) {
        const by = byIp(stolen.publicIp);
        add({
          id: 'lease.taken-over',
          what: `this node's subnet ${e.subnet} is leased to ${stolen.publicIp}${by ? ` (${by.name})` : ''}: that node took this node's lease over`,
          evidence: [leaseLine(stolen), ...envLine],
          cause: `${by?.name ?? stolen.publicIp}'s subnet.env was copied from this host (FLANNEL_SUBNET=${e.subnet.gatewayForm()}) and its flanneld started without a lease of its own: flanneld v0.11 then takes the named subnet's live lease over`,
          fix: s.supervisorctl('restart'),
          then: `first run scripts/doctor.ts on ${by?.name ?? stolen.publicIp}: its fix stops its flanneld and frees the lease. Restarting this node's flanneld before that makes the two fight over ${e.subnet}`,
          checks: ['lease.subnet-taken', 'lease.own', 'lease.ttl', 'subnet-env.lease'],
        });
      } else if (pending) {
        const by = byIp(pending.publicIp);
        add({
          id: 'lease.taken-over',
          what: `subnet.env names ${pending.subnet}, which is leased to ${pending.publicIp}${by ? ` (${by.name})` : ''}, not this node's ${e.subnet}`,
          evidence: [...envLine, leaseLine(pending)],
          cause: `subnet.env was copied from ${by?.name ?? 'another host'}: the next time flanneld starts without a lease of its own it takes that live lease over`,
          fix: T('start'),
          then: "start rewrites subnet.env for this node's own subnet and restarts flanneld",
          checks: ['subnet-env.lease'],
        });
      }
    }
    return out;
  },
};
