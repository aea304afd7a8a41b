// Routes the backend cannot make or will not restore: a host-gw peer off this L2 segment (the
// kernel refuses the next hop), a vxlan route, neighbour or fdb entry deleted (never restored);
// a peer route through another gateway than its lease names; this node's own subnet sent away
// from the bridge; a lease whose node is gone (its address answers no ARP).

import {
  arpResolved,
  parseProcNetArp,
  ROUTES_NEXT_HOPS,
  ROUTES_OWN_SUBNET,
  ROUTES_PEERS,
} from '../../checks/routes.ts';
import { resultOf, type Check } from '../../checks/types.ts';
import type { Lease } from '../../model/lease.ts';
import { formatRoute, type Route } from '../../model/routes.ts';
import { deleteKeyCommand } from '../commands.ts';
import type { DoctorRule, Finding } from '../types.ts';
import { coveredBy, leaseLine, runLines, wrong } from './common.ts';

export const routeRules: DoctorRule = {
  name: 'routes',
  run(s) {
    const out: Finding[] = [];
    const { e, probes: p, log, derived, checks, T } = s;
    const { etcd, leases, config, dev, sameL2 } = derived;
    const peersCheck = resultOf(checks, ROUTES_PEERS);
    const covered = coveredBy(s.found);
    // ---- this node's own subnet, off the bridge
    const ownCheck = resultOf(checks, ROUTES_OWN_SUBNET);
    if (ownCheck?.status === 'drift' && ownCheck.detail && !covered.has(ownCheck.id)) {
      const d = ownCheck.detail;
      const fix = runLines(ownCheck.fix);
      if (fix)
        out.push({
          id: 'routes.own-subnet',
          kind: 'problem',
          what: `this node's own subnet ${e.subnet} is ${d.onBridge ? 'also' : 'no longer'} routed to ${e.bridge}${d.routes.length ? `: ${d.routes.map((r) => formatRoute(r)).join('; ')}` : ''}`,
          evidence: [
            ...d.routes.map((r) => `route: ${formatRoute(r)}`),
            ...(d.onBridge ? [] : [`missing: ${e.subnet.network()} dev ${e.bridge} proto kernel scope link`]),
          ],
          cause: `a gateway route for the node's own subnet (added by hand, or left by a flanneld that held another subnet, failure case C16) takes the place of ${e.bridge}'s link route: this node's pods are sent away, and deleting that route alone leaves no route to them at all`,
          fix,
          checks: [ownCheck.id],
        });
    }
    // ---- a lease whose node is gone: its address answers no ARP
    const hops = resultOf(checks, ROUTES_NEXT_HOPS);
    const arpAfter = p.arpAfter !== undefined ? parseProcNetArp(p.arpAfter) : undefined;
    const deadByProbe = (p.peers ?? []).filter(
      (x) =>
        !x.underlay &&
        arpAfter !== undefined &&
        !arpAfter.some((a) => a.ip === x.publicIp && a.dev === e.iface && arpResolved(a)),
    );
    const deadIps = new Set([...(hops?.detail?.dead ?? []).map((d) => d.ip), ...deadByProbe.map((d) => d.publicIp)]);
    const dead = leases.filter((l) => deadIps.has(l.publicIp.toString()) && !l.publicIp.equals(e.publicIp));
    if (etcd && dead.length) {
      const node = (l: Lease) => s.ctx.peers.find((n) => n.publicIp.equals(l.publicIp));
      out.push({
        id: 'lease.stale',
        kind: 'problem',
        what: `${dead.map((l) => `${l.subnet} (PublicIP ${l.publicIp}${node(l) ? `, ${node(l)!.name}` : ', no node of the cluster file'})`).join('; ')}: the lease is in etcd and routed, but its address answers no ARP on ${e.iface}`,
        evidence: [
          ...dead.map(leaseLine),
          ...dead.map(
            (l) =>
              `${l.publicIp} dev ${e.iface}: ARP not resolved${p.peers?.some((x) => x.publicIp === l.publicIp.toString()) ? ' (ping -c1 -W1: no answer)' : ''}`,
          ),
        ],
        cause:
          "the node that held it is gone (its address changed, it was removed) while the lease lives on in etcd for up to its 24 h TTL, and host-gw keeps routing the subnet to that dead address (failure case C14); flanneld never removes another node's lease",
        fix: dead.map((l) => deleteKeyCommand(s.ctx, e.api, l.key)).join(' && '),
        then: `every flanneld removes the route when the lease goes${
          dead.some(node)
            ? `; if ${dead
                .filter(node)
                .map((l) => node(l)!.name)
                .join(', ')} is only down, start it instead: its flanneld takes the lease back from its subnet.env`
            : ''
        }`,
        checks: [ROUTES_NEXT_HOPS.id],
      });
    }
    // ---- a peer route through another gateway than its lease names
    if (etcd && config?.backend.type === 'host-gw' && peersCheck?.detail) {
      const gw = peersCheck.detail.wrong.filter((w) => w.have.via && w.want.via && !w.have.via.equals(w.want.via));
      if (gw.length && gw.length === peersCheck.detail.wrong.length && peersCheck.detail.missing.length === 0)
        out.push({
          id: 'routes.wrong-gateway',
          kind: 'problem',
          what: `${gw.map((w) => `${w.have.dst} goes via ${w.have.via}, its lease says ${w.want.via}`).join('; ')}`,
          evidence: gw.flatMap((w) => [`route: ${formatRoute(w.have)}`, `want:  ${formatRoute(w.want)}`]),
          cause:
            "the route was replaced by hand, or left from the subnet's previous owner: flanneld v0.11's 10 s route check only adds missing routes, it cannot replace one to the same subnet via another gateway, and only a lease event would (failure case C15)",
          fix: T('drift', ['--fix']),
          checks: [ROUTES_PEERS.id],
        });
    }
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
        // a refused route counts while the route is still missing (an error of an address the
        // lease no longer has, the route there now, is over)
        const far = peers.filter(
          (l) => !sameL2(l.publicIp) || (errs(l).length > 0 && missing.some((r) => r.dst.equals(l.subnet.network()))),
        );
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
          .filter((id) => !covered.has(id))
          .map((id) => wrong(checks, id))
          .filter((c): c is Check => c?.status === 'drift');
        if ((missing.length || entries.length) && !covered.has(ROUTES_PEERS.id)) {
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
