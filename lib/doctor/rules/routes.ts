// Routes the backend cannot make or will not restore: a host-gw peer off this L2 segment (the
// kernel refuses the next hop), a vxlan route, neighbour or fdb entry deleted (never restored).

import { ROUTES_PEERS } from '../../checks/routes.ts';
import { resultOf, type Check } from '../../checks/types.ts';
import type { Lease } from '../../model/lease.ts';
import { formatRoute, type Route } from '../../model/routes.ts';
import type { DoctorRule, Finding } from '../types.ts';
import { leaseLine, wrong } from './common.ts';

export const routeRules: DoctorRule = {
  name: 'routes',
  run(s) {
    const out: Finding[] = [];
    const { e, probes: p, log, derived, checks, T } = s;
    const { etcd, leases, config, dev, sameL2 } = derived;
    const peersCheck = resultOf(checks, ROUTES_PEERS);
    // ---- routes: peers host-gw cannot reach, vxlan routes nobody restores
    const explainedRoutes = new Set<string>();
    if (etcd && config && dev && peersCheck?.detail) {
      // the routes drift found missing or wrong (model/routes.ts: want-side of each)
      const missing: Route[] = [...peersCheck.detail.missing, ...peersCheck.detail.wrong.map((w) => w.want)];
      const routeFindings: Finding[] = [];
      if (config.backend.type === 'host-gw') {
        const peers = leases.filter(
          (l) => !l.publicIp.equals(e.publicIp) && (l.backendType === '' || l.backendType.toLowerCase() === 'host-gw'),
        );
        const errs = (l: Lease) => log?.routeErrors.filter((r) => r.subnet === l.subnet.network().toString()) ?? [];
        const far = peers.filter((l) => !sameL2(l.publicIp) || errs(l).length > 0);
        if (far.length) {
          for (const l of far) explainedRoutes.add(l.subnet.network().toString());
          routeFindings.push({
            id: 'routes.peer-not-l2',
            kind: 'problem',
            what: `host-gw cannot route to ${far.map((l) => `${l.subnet} via ${l.publicIp}`).join(', ')}: not on ${e.iface}'s L2 segment (${dev.addrs.join(', ') || 'no address'})`,
            evidence: [
              ...far.map(leaseLine),
              ...missing
                .filter((r) => far.some((l) => l.subnet.network().equals(r.dst)))
                .map((r) => `missing route: ${formatRoute(r)}`),
              ...far.flatMap((l) =>
                errs(l)
                  .slice(-1)
                  .map((x) => `${p.logFile}: ${x.line.raw}`),
              ),
            ],
            cause:
              "host-gw installs `SUBNET via PUBLICIP dev IFACE`, which needs PUBLICIP to be an on-link neighbour; the kernel refuses a next hop outside the interface's subnets (`network is unreachable`), so pods behind that node are unreachable from here",
            fix: T('etcd-config', ['--backend', 'vxlan', '--direct-routing', '--force'], 'cluster'),
            then: 'put the same Backend in the cluster file ({"Type": "vxlan", "DirectRouting": true}) and restart flanneld on every node (supervisorctl restart PROGRAM): peers on this segment keep direct routes, the others go through flannel.1 (MTU 1450). If the peer\'s address is what is wrong, fix its --public-ip instead',
            checks: [],
          });
        }
      } else if (config.backend.type === 'vxlan') {
        // the neighbour and fdb entries are written once too, and never restored either
        const entries = ['vxlan.neighbours', 'vxlan.fdb']
          .map((id) => wrong(checks, id))
          .filter((c): c is Check => c?.status === 'drift');
        if (missing.length || entries.length) {
          for (const r of missing) explainedRoutes.add(r.dst.toString());
          const gone = [...missing.map((r) => formatRoute(r)), ...entries.map((c) => c.id.replace('vxlan.', ''))];
          routeFindings.push({
            id: 'routes.vxlan-deleted',
            kind: 'problem',
            what: `the vxlan backend's ${missing.length ? `route(s) ${missing.map((r) => formatRoute(r)).join('; ')}` : 'entries'}${entries.length ? `${missing.length ? ' and ' : ' '}${entries.map((c) => c.id.replace('vxlan.', '')).join(', ')}` : ''} are missing, and flanneld will not put them back`,
            evidence: [
              ...missing.map((r) => `missing route: ${formatRoute(r)}`),
              ...entries.map((c) => `${c.id}: ${c.reason}`),
              ...leases.filter((l) => missing.some((r) => r.dst.equals(l.subnet.network()))).map(leaseLine),
            ],
            cause: `flanneld's vxlan backend adds a peer's route, PERMANENT neighbour and fdb entry once, when its lease appears, and has no check that restores them (host-gw re-adds a missing route within 10 s, vxlan never): ${gone.length > 1 ? 'they were' : 'it was'} deleted by hand or by a network restart and stay${gone.length > 1 ? '' : 's'} deleted until flanneld restarts`,
            fix: T('drift', ['--fix']),
            then: `or restart flanneld, which adds everything again: ${s.supervisorctl('restart')}`,
            checks: entries.map((c) => c.id),
          });
        }
      }
      // routes.peers is explained when every missing or wrong route is one of these
      const all = missing.length > 0 && missing.every((r) => explainedRoutes.has(r.dst.toString()));
      for (const f of routeFindings) out.push(all ? { ...f, checks: [...f.checks, 'routes.peers'] } : f);
    }
    return out;
  },
};
