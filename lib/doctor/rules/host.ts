// The host: ip_forward off; docker0's address not this node's lease.

import { finding, type DoctorRule, type Finding, type FindingInput } from '../types.ts';
import { shellLine } from '../../core/command.ts';
import { findInterface } from '../../model/interfaces.ts';
import { SYSCTL_RP_FILTER } from '../../checks/rp-filter.ts';
import { ROUTES_OWN_SUBNET } from '../../checks/routes.ts';
import { resultOf } from '../../checks/types.ts';
import { leaseLine, parseEnv, wrong } from './common.ts';

export const hostRules: DoctorRule = {
  name: 'host',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { e, obs: o, checks, derived } = s;
    const { ifaces, mine } = derived;
    const env = parseEnv(o.files.subnetEnv);
    const envLine = env ? [`${e.paths.subnetEnv}: FLANNEL_SUBNET=${env.subnet} FLANNEL_MTU=${env.mtu}`] : [];
    // ---- the host
    const fw = wrong(checks, 'sysctl.ip-forward');
    if (fw && fw.status === 'drift') {
      add({
        id: 'sysctl.ip-forward-off',
        what: `net.ipv4.ip_forward = ${o.files.ipForward}: this node routes no pod traffic, in or out`,
        evidence: [`/proc/sys/net/ipv4/ip_forward: ${o.files.ipForward}`],
        cause:
          'ip_forward is per network namespace and off by default; dockerd turns it on when it starts, flanneld v0.11 never does: a reboot without a sysctl.d entry, or `sysctl -w` by hand, leaves it off',
        fix: 'sysctl -w net.ipv4.ip_forward=1',
        then: "make it last: echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-flannel.conf",
        checks: ['sysctl.ip-forward'],
      });
    }
    const rp = resultOf(checks, SYSCTL_RP_FILTER);
    if (rp?.status === 'drift' && rp.detail) {
      const name = (d: string) => `net.ipv4.conf.${d.replaceAll('.', '/')}.rp_filter=2`;
      add({
        id: 'sysctl.rp-filter',
        what: `strict reverse-path filtering on ${rp.detail.effective
          .filter((x) => x.value === 1)
          .map((x) => x.dev)
          .join(', ')}: pod packets that come back by another interface than they left are dropped`,
        evidence: [...(rp.evidence ?? []), ...(rp.detail.asymmetric ? [rp.detail.asymmetric] : [])],
        cause:
          'rp_filter=1 drops a packet whose source is routed out through another interface than the one it came in on; the kernel applies the larger of `all` and the interface value, and distributions set 1 by default (failure case C36)',
        fix: shellLine(['sysctl', '-w', ...rp.detail.strict.map(name)]),
        then: `make it last: ${rp.detail.strict.map((d) => `echo '${name(d).replace('=', ' = ')}'`).join('; ')} >> /etc/sysctl.d/99-flannel.conf`,
        checks: [SYSCTL_RP_FILTER.id],
      });
    }
    const bip = wrong(checks, 'docker0.bip');
    const ownOff = resultOf(checks, ROUTES_OWN_SUBNET);
    const bridge = ifaces ? findInterface(ifaces, e.bridge) : undefined;
    if (bip && bip.status === 'drift' && bridge) {
      const want = e.subnet.gatewayForm();
      const own = mine.find((l) => l.subnet.equals(e.subnet));
      add({
        id: 'docker0.bip-mismatch',
        what: `${e.bridge} has ${bridge.addrs.join(', ') || 'no IPv4 address'}, not ${want} (this node's lease ${e.subnet})`,
        evidence: [
          `${e.bridge}: ${bridge.addrs.join(', ') || 'no IPv4 address'}`,
          ...(own ? [leaseLine(own)] : []),
          ...envLine,
        ],
        cause: bridge.addrs.some((a) => !e.network.containsNet(a.network()))
          ? `docker0 has an address outside ${e.network} (Docker's default 172.17.0.1/16): dockerd started before flanneld had written subnet.env, or without mk-docker-opts.sh's options, so it never got --bip=${e.subnet.gatewayForm()} (failure case C19)`
          : "dockerd's --bip is not FLANNEL_SUBNET (it started without the options mk-docker-opts.sh makes from subnet.env), or docker0 was readdressed: pods get addresses outside this node's lease, and the other nodes route the lease to a bridge that does not serve it (failure case C20)",
        fix: `${shellLine(['ip', '-4', 'addr', 'flush', 'dev', e.bridge])} && ${shellLine(['ip', 'addr', 'add', want.toString(), 'dev', e.bridge])}`,
        then: `make it last: dockerd --bip=${want} --mtu=${env?.mtu ?? 1500} (/opt/flannel/mk-docker-opts.sh -d /run/docker_opts.env, then restart docker); pods started meanwhile need restarting`,
        // without the address docker0 has no link route for the subnet either: the same fix makes it
        checks: [
          'docker0.bip',
          ...(ownOff?.status === 'drift' && ownOff.detail?.routes.length === 0 ? [ROUTES_OWN_SUBNET.id] : []),
        ],
      });
    }
    return out;
  },
};
