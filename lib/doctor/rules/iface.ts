// The interface flanneld is told to use: an --iface that is not on this host (flanneld exits 1
// at every start), a --public-ip that is not the interface's address (host-gw refuses it: "you're
// on a NAT"), and flanneld on the NAT interface (no --iface: the default route's, where every
// Vagrant/VirtualBox VM has the same address). The fix names the interface that really holds
// this node's address, never a guess.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { deleteKeyCommand } from '../commands.ts';
import { leaseLine, wrong } from './common.ts';

export const ifaceRules: DoctorRule = {
  name: 'iface',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { ctx, e, probes: p, log, checks, derived, T } = s;
    const { ifaces, dev, leases, etcd } = derived;
    if (!ifaces) return out;
    // the interface that really carries this node's public IP
    const holder = ifaces.find((i) => i.addrs.some((a) => a.ip.equals(e.publicIp)));
    const flanneldDown = ['flanneld.running', 'flanneld.healthz'].filter((id) => wrong(checks, id));
    const flags = wrong(checks, 'flanneld.flags');
    const flagDiffs =
      flags?.detail && typeof flags.detail === 'object' && 'differences' in flags.detail
        ? (flags.detail as { differences: readonly { name: string; actual?: string; expected?: string }[] }).differences
        : [];
    const logged = (id: string) => log?.current.get(id);
    // ---- --iface not on this host
    const missingLog = logged('iface-missing');
    if (!dev || missingLog) {
      const named = !dev ? e.iface : (flagDiffs.find((d) => d.name === 'iface')?.actual ?? e.iface);
      const fromExpectation = !dev;
      add({
        id: 'iface.missing',
        what: `flanneld is told to use interface ${named}, which this host does not have${holder ? `; ${e.publicIp} is on ${holder.name}` : ''}`,
        evidence: [
          `links: ${ifaces.map((i) => i.name).join(', ')}`,
          ...(holder ? [`${holder.name}: ${holder.addrs.join(', ')}`] : []),
          ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
          ...(missingLog ? [`${p.logFile}: ${missingLog.line.raw}`] : []),
        ],
        cause: `flanneld exits 1 at once (\`Could not find valid interface matching ${named}\`) and supervisord restarts it until it gives up (BACKOFF, then FATAL); ${fromExpectation ? (s.ctx.peers.length ? 'the cluster file names' : 'the flags name') : 'flanneld.sh names'} an interface of another host, or one renamed (eth0 -> ens192) (failure case C12)`,
        fix: fromExpectation && holder ? T('start', ['--iface', holder.name]) : T('start'),
        ...(fromExpectation &&
          holder && {
            then: `put "iface": "${holder.name}" in the cluster file for ${e.name}, so every script uses it`,
          }),
        checks: [
          ...flanneldDown,
          ...(flags ? ['flanneld.flags'] : []),
          ...checks.filter((c) => c.status !== 'ok' && c.blockedBy?.kind === 'iface').map((c) => c.id),
        ],
      });
      return out;
    }
    // ---- --public-ip not the interface's address (host-gw: the NAT refusal)
    const natLog = logged('hostgw-nat');
    const ipDiff = flagDiffs.find((d) => d.name === 'public-ip');
    if (natLog || (!holder && dev)) {
      add({
        id: 'iface.public-ip-mismatch',
        what: `flanneld's public IP ${ipDiff?.actual ?? e.publicIp} is not an address of ${dev.name} (${dev.addrs.join(', ') || 'no address'})`,
        evidence: [
          `${dev.name}: ${dev.addrs.join(', ') || 'no IPv4 address'}`,
          ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
          ...(natLog ? [`${p.logFile}: ${natLog.line.raw}`] : []),
        ],
        cause:
          "host-gw routes peers' subnets via their public IPs, so it refuses a --public-ip that is not the --iface address (`your PublicIP differs from interface IP, meaning that probably you're on a NAT`) and flanneld exits 1 at every start (failure case C12)",
        fix: holder ? T('start') : T('start', ['--public-ip', dev.addrs[0]?.ip.toString() ?? e.publicIp.toString()]),
        ...(!holder && {
          then: `${e.publicIp} is on no interface of this host: put this node's real address in the cluster file`,
        }),
        checks: [...flanneldDown, ...(flags ? ['flanneld.flags'] : [])],
      });
      return out;
    }
    // ---- flanneld on another interface: a lease under an address of this host that is not its public IP
    if (etcd) {
      const local = (ip: string) =>
        ifaces.some((i) => i.name !== dev.name && i.addrs.some((a) => a.ip.toString() === ip));
      const foreign = leases.filter((l) => !l.publicIp.equals(e.publicIp) && local(l.publicIp.toString()));
      if (foreign.length) {
        const ip = foreign[0]!.publicIp.toString();
        const nic = ifaces.find((i) => i.addrs.some((a) => a.ip.toString() === ip))!;
        const shared = leases.filter((l) => l.publicIp.toString() === ip);
        const using = [...(log?.lines ?? [])].reverse().find((l) => /Using interface with name/.test(l.message));
        add({
          id: 'iface.shared-nat-address',
          what: `flanneld registered ${shared.map((l) => l.subnet).join(', ')} under ${ip} (${nic.name}), not this node's ${e.publicIp} (${dev.name})`,
          evidence: [
            ...shared.map(leaseLine),
            `${nic.name}: ${nic.addrs.join(', ')}`,
            ...(using ? [`${p.logFile}: ${using.raw}`] : []),
            ...(flags ? [`flanneld.flags: ${flags.reason}`] : []),
          ],
          cause: `flanneld ran without --iface/--public-ip and took the default route's interface ${nic.name}: a NAT interface, whose address (Vagrant/VirtualBox: 10.0.2.15) is the same on every node, so nodes claim each other's leases and no peer can reach ${ip} (failure case C11)`,
          fix: [s.supervisorctl('stop'), ...shared.map((l) => deleteKeyCommand(ctx, e.api, l.key)), T('start')].join(
            ' && ',
          ),
          then: `start writes flanneld.sh with --iface=${dev.name} --public-ip=${e.publicIp}; run doctor on every node that uses ${ip} (each stops, frees what ${ip} holds, and starts on its own address)`,
          checks: [
            'flanneld.flags',
            'lease.own',
            'lease.ttl',
            'lease.subnet-taken',
            'lease.duplicate-ip',
            'subnet-env.lease',
            'routes.peers',
            'routes.stale',
            'routes.next-hops',
          ].filter((id) => wrong(checks, id)),
        });
      }
    }
    return out;
  },
};
