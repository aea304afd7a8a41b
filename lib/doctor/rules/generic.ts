// Everything else drift saw that no rule explained, with the likely cause and the command that
// mends it. Runs last: it sees every other rule's findings and covers only what they did not.

import { shellLine } from '../../core/command.ts';
import type { Check } from '../../checks/types.ts';
import { deleteKeyCommand } from '../commands.ts';
import { finding, type DoctorRule, type Finding, type FindingInput, type Scope } from '../types.ts';

export const genericRules: DoctorRule = {
  name: 'generic',
  run(s) {
    const out: Finding[] = [];
    const add = (f: FindingInput) => out.push(finding(f));
    const { checks } = s;
    const covered = new Set(s.found.flatMap((f) => f.checks));
    for (const c of checks) {
      if (c.status === 'ok' || covered.has(c.id)) continue;
      add({
        id: `drift.${c.id}`,
        kind: c.status === 'error' ? 'unexamined' : 'problem',
        what: c.status === 'error' ? `could not check ${c.id}: ${c.reason}` : c.reason,
        evidence: [...(c.evidence ?? [])],
        cause:
          c.status === 'error'
            ? 'the check could not be made; the line above says why'
            : (GENERIC_CAUSE[c.id] ?? c.reason),
        fix: genericFix(c, s),
        checks: [c.id],
      });
    }
    return out;
  },
};

/** The likely cause of a drift check no specific rule explained. */
export const GENERIC_CAUSE: Readonly<Record<string, string>> = {
  'etcd.config': 'the config in etcd differs from the cluster file: written by hand, or the cluster file changed since',
  'lease.own':
    "this node's IP holds another subnet than the cluster file says: subnet.env was missing when flanneld started (it picked a random subnet), or an old lease of this IP was reused",
  'lease.ttl':
    'flanneld renews its lease an hour before expiry; less left means it is not renewing (stopped, hung, or its etcd writes fail)',
  'lease.duplicate-ip':
    "two leases carry this node's IP: an old one was left behind when the subnet changed, and peers may route either",
  'routes.peers':
    'flanneld (host-gw) re-adds a missing route within 10 s; one still missing or wrong means flanneld is not running, or its watch lost the lease event',
  'routes.stale': 'a lease expired or was deleted while flanneld was stopped, so nothing removed its route',
  'routes.own-subnet':
    "a route sends this node's own pod subnet away from docker0: added by hand, or left by a flanneld that held another subnet",
  'iptables.snat':
    "the runbook's SNAT rule is missing or duplicated: snat-fix was never run here, or older rules were reloaded",
  'iptables.reject': "iptables-services' REJECT catch-alls are back: its rules file was reloaded",
  'iptables.forward': "a rule in FORWARD rejects pod traffic before flannel's ACCEPT rules",
  'iptables.persisted':
    'the live rules changed since they were saved: a reboot or `systemctl restart iptables` would load the old ones',
  'subnet-env.lease':
    'subnet.env does not match the lease: edited by hand, copied from another host, or written for another network',
  'flanneld.flags':
    'flanneld.sh was edited by hand or written for other settings; flanneld reads its flags only when it starts',
  'flanneld.healthz':
    'supervisord says RUNNING but healthz does not answer 200: flanneld hangs, or --healthz-port differs',
  'vxlan.device':
    'flannel.<VNI> is missing or not as flanneld makes it (vxlan id, local address, dstport 8472, MTU iface-50, SUBNET.0/32): changed by hand, or flanneld never started its vxlan backend',
  'vxlan.neighbours':
    "flanneld's vxlan backend writes a peer's PERMANENT neighbour once, when the lease appears, and never restores it",
  'vxlan.fdb': "flanneld's vxlan backend writes a peer's fdb entry once, when the lease appears, and never restores it",
  'certs.chain':
    'the certificate set is not consistent: client.pem not signed by ca.pem, or client-key.pem not its key',
  'certs.expiry': 'the client certificate expires soon or has expired: etcd will refuse it',
  'certs.key-mode': 'client-key.pem is readable by other users than root',
  'routes.next-hops':
    "a peer's address answers no ARP: that node is down, or its address changed (doctor names a lease no node holds)",
  'vxlan.vtep-mac': "flannel.<VNI>'s MAC changed after flanneld published it in its lease (systemd-udev, or by hand)",
  'vxlan.addresses': 'flannel.<VNI> got more addresses than its own /32 (an old lease, a network manager)',
  'iptables.backend': 'rules were written with the other iptables backend (iptables-legacy on an nft host)',
  'sysctl.rp-filter': 'strict rp_filter (1) drops pod packets whose way back leaves by another interface',
};

/** The command for a drift check no specific rule explained. */
function genericFix(c: Check, s: Scope): string {
  const { ctx, e, T } = s;
  const mine = s.derived.mine;
  if (c.status === 'error') return T('drift');
  if (c.fix) return T('drift', ['--fix']);
  switch (c.id) {
    case 'etcd.config':
      return T('etcd-config', ['--force'], 'cluster');
    case 'lease.own':
    case 'lease.duplicate-ip': {
      const others = mine.filter((l) => !l.subnet.equals(e.subnet));
      return others.length
        ? [s.supervisorctl('stop'), ...others.map((l) => deleteKeyCommand(ctx, e.api, l.key)), T('start')].join(' && ')
        : s.supervisorctl('restart');
    }
    case 'lease.ttl':
    case 'flanneld.healthz':
      return s.supervisorctl('restart');
    case 'routes.own-subnet':
      return (
        (c.evidence ?? []).map((r) => shellLine(['ip', 'route', 'del', ...r.split(' ')])).join(' && ') ||
        T('drift', ['--fix'])
      );
    case 'iptables.snat':
      return T('snat-fix');
    case 'iptables.reject':
    case 'iptables.forward':
      return T('snat-fix', ['--reject', 'drop']);
    case 'flanneld.flags':
    case 'subnet-env.lease':
      return T('start');
    case 'certs.key-mode':
      return shellLine(['chmod', '600', ctx.etcd.keyfile ?? e.flanneld.keyfile ?? '/opt/flannel/cert/client-key.pem']);
    case 'certs.chain':
    case 'certs.expiry':
      return T('certs', ['--from', ctx.run.certsFrom]);
    default:
      return T('drift', ['--fix']);
  }
}
