// vxlan: flannel.<VNI> gone (the kernel removes it with its underlay; flanneld never makes it
// again), carrying extra addresses (v0.11.0 will not start), a MAC that is not the one its lease
// publishes (systemd-udev), peers' entries holding a stale MAC, DirectRouting in the config but
// not in the running flanneld, and the VXLAN port not getting through (a ping of the peer's VTEP
// through the tunnel fails while its address answers).

import { shellLine } from '../../core/command.ts';
import { VXLAN_ADDRESSES, VXLAN_VTEP_MAC } from '../../checks/vtep.ts';
import { VXLAN_DEVICE, VXLAN_FDB, VXLAN_NEIGHBOURS } from '../../checks/vxlan.ts';
import { resultOf } from '../../checks/types.ts';
import { isUp } from '../../model/supervisor.ts';
import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { coveredBy, wrong } from './common.ts';

export const vxlanRules: DoctorRule = {
  name: 'vxlan',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, probes: p, checks, derived, log, T } = s;
    const { config, leases } = derived;
    if (config?.backend.type !== 'vxlan') return out;
    const covered = coveredBy(s.found);
    const name = `flannel.${config.backend.vni ?? 1}`;
    const sup = o.supervisor.ok ? o.supervisor.value : undefined;
    const running = sup !== undefined && isUp(sup.state);
    const flanneldChecks = ['flanneld.running', 'flanneld.healthz'].filter((id) => wrong(checks, id));
    const entryChecks = [VXLAN_NEIGHBOURS.id, VXLAN_FDB.id, 'routes.peers'].filter((id) => wrong(checks, id));
    // ---- the device gone while flanneld runs
    const device = resultOf(checks, VXLAN_DEVICE);
    if (device?.status === 'drift' && device.detail?.problems.some((x) => x.startsWith(`no ${name}`)) && running) {
      add({
        id: 'vxlan.device-missing',
        what: `${name} is gone while flanneld runs: no vxlan device, no routes through it`,
        evidence: [device.reason, ...entryChecks.map((id) => `${id}: ${wrong(checks, id)!.reason}`)],
        cause: `the kernel deletes a vxlan device with its underlay (${e.iface} flapped, ifdown/ifup, a NIC detached) or it was deleted by hand; flanneld v0.11 watches neither and never makes it again (failure case C37)`,
        fix: s.supervisorctl('restart'),
        then: `flanneld makes ${name} again (a new device has a new MAC: its lease says so and the peers follow)`,
        checks: [VXLAN_DEVICE.id, ...entryChecks, VXLAN_VTEP_MAC.id, VXLAN_ADDRESSES.id, 'mtu.bridge'].filter(
          (id) => wrong(checks, id) || id === VXLAN_DEVICE.id,
        ),
      });
      return out;
    }
    // ---- extra addresses: fatal at flanneld's next start
    const addrs = resultOf(checks, VXLAN_ADDRESSES);
    if (addrs?.status === 'drift' && addrs.detail) {
      const del = addrs.detail.extra.map((a) => shellLine(['ip', 'addr', 'del', a, 'dev', name]));
      add({
        id: 'vxlan.extra-address',
        what: `${name} carries ${addrs.detail.extra.join(', ')} besides ${addrs.detail.want}${running ? '' : `: flanneld will not start (${sup?.state ?? 'not running'})`}`,
        evidence: [
          ...(addrs.evidence ?? []),
          ...[...(log?.lines ?? [])]
            .filter((l) => /link has incompatible addresses/.test(l.message))
            .slice(-1)
            .map((l) => `${p.logFile}: ${l.raw}`),
        ],
        cause: `an old lease's /32 left on ${name}, or an address a network manager (dhcpcd, NetworkManager) put there: flanneld v0.11 fails on a vxlan device with more than one IPv4 address (\`link has incompatible addresses\`, failure cases C27, C38) and exits at every start`,
        fix: [...del, ...(running ? [] : [s.supervisorctl('start')])].join(' && '),
        then: `keep network managers off ${name} (dhcpcd: denyinterfaces flannel*; networkd: a .network file with DHCP=no)`,
        checks: [VXLAN_ADDRESSES.id, ...(running ? [] : flanneldChecks)],
      });
    }
    // ---- the device's MAC is not the one its lease publishes
    const mac = resultOf(checks, VXLAN_VTEP_MAC);
    if (mac?.status === 'drift' && mac.detail) {
      add({
        id: 'vxlan.mac-mismatch',
        what: `${name}'s MAC ${mac.detail.mac} is not the VtepMAC ${mac.detail.leaseMac} this node's lease publishes: peers' frames to this node are dropped`,
        evidence: [...(mac.evidence ?? [])],
        cause: `the MAC changed after flanneld published it: systemd-udev's MACAddressPolicy=persistent (systemd 242+) rewrites new links' MACs, or it was set by hand (failure case C28); flanneld v0.11 publishes the MAC once, when it takes the lease`,
        fix: s.supervisorctl('restart'),
        then: `flanneld reuses ${name} and publishes its current MAC; the peers follow the lease. Make it last: a .link file with [Match] OriginalName=flannel* and [Link] MACAddressPolicy=none`,
        checks: [VXLAN_VTEP_MAC.id],
      });
    }
    // ---- peers' entries with a stale MAC
    const neigh = o.vxlan?.neighbours.ok ? o.vxlan.neighbours.value : [];
    const fdb = o.vxlan?.fdb.ok ? o.vxlan.fdb.value : [];
    const stale = leases.filter(
      (l) =>
        !l.publicIp.equals(e.publicIp) &&
        l.vtepMac &&
        (neigh.some((n) => n.ip.equals(l.subnet.network().ip) && n.mac && n.mac !== l.vtepMac!.toLowerCase()) ||
          fdb.some(
            (f) =>
              f.dst?.equals(l.publicIp) &&
              f.mac !== l.vtepMac!.toLowerCase() &&
              !fdb.some((g) => g.mac === l.vtepMac!.toLowerCase()),
          )),
    );
    if (stale.length && !covered.has(VXLAN_NEIGHBOURS.id)) {
      add({
        id: 'vxlan.stale-neighbour',
        what: `${name} holds stale entries for ${stale.map((l) => `${l.subnet} (${l.publicIp})`).join(', ')}: not the VtepMAC their leases publish`,
        evidence: [
          ...stale.map((l) => `lease ${l.key}: VtepMAC ${l.vtepMac}`),
          ...neigh
            .filter((n) => stale.some((l) => n.ip.equals(l.subnet.network().ip)))
            .map((n) => `neighbour ${n.ip} lladdr ${n.mac ?? '(none)'} ${n.states.join(',')}`),
          ...fdb.filter((f) => stale.some((l) => f.dst?.equals(l.publicIp))).map((f) => `fdb ${f.mac} dst ${f.dst}`),
        ],
        cause:
          "the peer made its vxlan device again (a reboot, a recreated flannel.1) and published a new MAC, and this node's flanneld missed the lease change: it writes a peer's entries only on lease events (failure case C29)",
        fix: T('drift', ['--fix']),
        then: `or restart flanneld here, which writes every peer's entries again: ${s.supervisorctl('restart')}`,
        checks: entryChecks,
      });
    }
    // ---- DirectRouting in the config, not in the running flanneld
    if (config.backend.directRouting) {
      const started = [...(log?.lines ?? [])].find((l) => /VXLAN config: .*DirectRouting=(true|false)/.test(l.message));
      if (started && /DirectRouting=false/.test(started.message) && wrong(checks, 'routes.peers')) {
        add({
          id: 'vxlan.directrouting-mismatch',
          what: 'the config says DirectRouting: true, but the running flanneld started without it: same-segment peers still go through the tunnel',
          evidence: [`${p.logFile}: ${started.raw}`, `routes.peers: ${wrong(checks, 'routes.peers')!.reason}`],
          cause:
            'flanneld reads the config once, at start: the config was switched to DirectRouting after this flanneld started (or an installer template dropped the option), and nothing restarted it (failure case C39)',
          fix: s.supervisorctl('restart'),
          checks: ['routes.peers', ...[VXLAN_NEIGHBOURS.id, VXLAN_FDB.id].filter((id) => wrong(checks, id))],
        });
      }
    }
    // ---- the VXLAN port: the peer answers on the underlay, not through the tunnel
    const blocked = (p.peers ?? []).filter((x) => x.underlay && x.tunnel === false);
    const entriesOk = !wrong(checks, VXLAN_DEVICE.id) && entryChecks.length === 0;
    if (blocked.length && entriesOk) {
      const port = config.backend.port ?? 8472;
      const local = o.ruleset.ok
        ? o.ruleset.value.tables
            .filter((t) => t.name === 'filter')
            .flatMap((t) => t.chains.filter((c) => c.name === 'INPUT' || c.name === 'OUTPUT'))
            .flatMap((c) => c.rules)
            .filter((r) => {
              const w = r.spec.join(' ');
              return /-p udp/.test(w) && new RegExp(`--dport ${port}\\b`).test(w) && /-j (DROP|REJECT)/.test(w);
            })
        : [];
      const allSameL2 = leases.every((l) => l.publicIp.equals(e.publicIp) || derived.sameL2(l.publicIp));
      const localLines = local.map((r) => shellLine(['iptables', '-D', r.chain, ...r.spec]));
      add({
        id: 'vxlan.port-blocked',
        what: `VXLAN (udp/${port}) does not get through to ${blocked.map((x) => `${x.publicIp} (${x.subnet})`).join(', ')}: the address answers, its VTEP through ${name} does not`,
        evidence: [
          ...blocked.map(
            (x) =>
              `ping ${x.publicIp}: answered; ping ${x.subnet.replace(/\/\d+$/, '')} through ${name} (VXLAN to ${x.publicIp}:${port}): no answer`,
          ),
          ...local.map((r) => `filter ${r.chain}: -A ${r.chain} ${r.spec.join(' ')}`),
          `${name}, its neighbours, fdb entries and routes are as the leases say`,
        ],
        cause: local.length
          ? `this node's own firewall drops udp/${port}, the port every VXLAN packet uses both ways (failure case C10)`
          : `something on the path drops udp/${port} (a security group that allows only TCP, a hypervisor's firewall, the peer's own INPUT rules): the route, neighbour and fdb entries are right, only the encapsulated packets are lost (failure case C10)`,
        // nothing on this node drops it: DirectRouting takes the peers on this segment off VXLAN
        fix: local.length
          ? localLines.join(' && ')
          : T('etcd-config', ['--backend', 'vxlan', '--direct-routing', '--force'], 'cluster'),
        then: local.length
          ? `if it was saved too, save the rules again once it is gone: ${T('drift', ['--fix'])}`
          : `with DirectRouting, peers on this L2 segment are routed directly and need no VXLAN at all: put {"Type": "vxlan", "DirectRouting": true} in the cluster file and restart flanneld on every node, one at a time${allSameL2 ? '' : `; the peers behind a router still need udp/${port} allowed on the path (security groups, the hypervisor's firewall, each node's INPUT)`}`,
        // the saved rules differ by the local rule: saving them now would keep it
        checks: local.length && wrong(checks, 'iptables.persisted') ? ['iptables.persisted'] : [],
      });
    }
    // ---- a kernel with the VXLAN checksum bug after NAT (C31): nothing on the node shows it
    // (the bad checksum is seen on the wire or by the receiver), so a note with the workaround
    const kernel = p.kernel && kernelBefore(p.kernel, 5, 7) ? p.kernel : undefined;
    if (kernel)
      add({
        id: 'vxlan.checksum-offload',
        kind: 'note',
        what: `kernel ${kernel} is older than 5.7: masqueraded traffic entering ${name} can leave with a bad UDP checksum, which the peer drops`,
        evidence: [`/proc/sys/kernel/osrelease: ${kernel}`, `backend vxlan (${name})`],
        cause:
          'a netfilter bug miscomputes the UDP checksum of masqueraded packets that enter a VXLAN device when the NIC offloads it (fixed in 5.7; reports continue on some later kernels, 5.14 among them). Symptom: service IPs of pods on other nodes time out (63 s DNS delays), the receiver logs `UDP: bad checksum. From ... to ...:8472` in dmesg (failure case C31)',
        then: `if that is what pods see: ethtool -K ${name} tx-checksum-ip-generic off on every node (a udev rule or a unit keeps it across the device's re-creation), or a fixed kernel`,
        checks: [],
      });
    return out;
  },
};

/** `3.10.0-1160.el7.x86_64` older than major.minor (an unparsable release is not). */
export function kernelBefore(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a < major || (a === major && b < minor);
}
