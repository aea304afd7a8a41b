// The drift checks: what the node should be (NodeExpectation) against what it is
// (NodeObservation), as a list of checks with stable ids, each ok / drift / error with a
// one-line reason, and for the ones that are safe to mend, the actions that mend them.
// Pure. "error" means the check could not be made (etcd down, a command failed): it is never
// turned into a change (no route is removed because etcd did not answer).

import { checkCertSet } from './certs.ts';
import { compareFlanneldFlags, flanneldFlags, parseFlanneldSh, type FlanneldSettings } from './flanneld-files.ts';
import type { Ip4, Ip4Net } from './ip4.ts';
import { findInterface } from './interfaces.ts';
import {
  comparableSave,
  countRule,
  dockerMasqRule,
  flannelForwardRules,
  formatRule,
  forwardAllowed,
  planSnatFix,
  rejectRules,
  runbookSnatRule,
  type Rule,
} from './iptables.ts';
import type { Lease } from './lease.ts';
import { backendMtu, diffNetworkConfig, parseNetworkConfig, type NetworkConfig } from './netconfig.ts';
import type { NodeObservation } from './node-observe.ts';
import { run, write, type Action } from './plan.ts';
import { diffRoutes, formatRoute, planBackendRoutes, planRouteCommands } from './routes.ts';
import { formatSubnetEnv, parseSubnetEnv, subnetEnvFromLease } from './subnet-env.ts';
import { checkVxlanDevice, diffVxlanPeers, planVxlanPeerCommands, vxlanPeers } from './vxlan.ts';

export type CheckStatus = 'ok' | 'drift' | 'error';

export interface Check {
  /** stable id, e.g. `routes.peers` (README: drift checks) */
  readonly id: string;
  readonly status: CheckStatus;
  /** one line */
  readonly reason: string;
  /** the actions that mend it, when that is safe (drift --fix) */
  readonly fix?: readonly Action[];
  /** the route, rule, key or line that shows it (doctor) */
  readonly evidence?: readonly string[];
}

export interface NodeExpectation {
  readonly name: string;
  readonly publicIp: Ip4;
  readonly subnet: Ip4Net;
  readonly iface: string;
  readonly network: Ip4Net;
  readonly bridge: string;
  readonly program: string;
  /** the config the cluster file (or flags) says etcd must hold; undefined: not compared */
  readonly desiredConfig?: string;
  readonly api: 'v2' | 'v3';
  readonly prefix: string;
  /** iptables-services' REJECT catch-alls: must be gone (the runbook removes them) or kept */
  readonly reject: 'drop' | 'keep';
  /** the flanneld flags start would write (compared with flanneld.sh) */
  readonly flanneld: FlanneldSettings;
  readonly paths: { readonly subnetEnv: string; readonly supervisorConf: string; readonly persist: string };
  readonly certWarnDays: number;
}

const ok = (id: string, reason: string, evidence?: string[]): Check => ({
  id,
  status: 'ok',
  reason,
  ...(evidence && { evidence }),
});
const drift = (id: string, reason: string, fix?: Action[], evidence?: string[]): Check => ({
  id,
  status: 'drift',
  reason,
  ...(fix?.length && { fix }),
  ...(evidence && { evidence }),
});
const error = (id: string, reason: string): Check => ({ id, status: 'error', reason });

/** Every check, in report order. */
export function checkNode(e: NodeExpectation, o: NodeObservation): Check[] {
  const out: Check[] = [];
  const etcdOk = o.etcd.ok ? o.etcd.value : undefined;
  const cannot = (id: string, what: string) => error(id, `could not check: ${what}`);

  // ---- etcd
  if (!o.etcd.ok) out.push(error('etcd.reachable', o.etcd.error));
  else out.push(ok('etcd.reachable', `etcd answered (${e.api} API, ${etcdOk!.leases.length} leases)`));

  let config: NetworkConfig | undefined;
  if (!etcdOk) out.push(cannot('etcd.config', 'etcd did not answer'));
  else if (etcdOk.config === undefined)
    out.push(
      drift(
        'etcd.config',
        `no network config at ${e.prefix}/config in the ${e.api} key space (the one flannel reads): flanneld waits forever`,
      ),
    );
  else {
    try {
      config = parseNetworkConfig(etcdOk.config);
      const diff = e.desiredConfig ? diffNetworkConfig(e.desiredConfig, etcdOk.config) : [];
      out.push(
        diff.length
          ? drift('etcd.config', `config differs from the cluster file: ${diff.join('; ')}`, undefined, [etcdOk.config])
          : ok('etcd.config', `${etcdOk.config}`),
      );
    } catch (err) {
      out.push(
        drift('etcd.config', `config in etcd is not valid for flannel: ${(err as Error).message}`, undefined, [
          etcdOk.config,
        ]),
      );
    }
  }

  // ---- leases
  const leases: readonly Lease[] = etcdOk?.leases ?? [];
  const mine = leases.filter((l) => l.publicIp.equals(e.publicIp));
  const own = mine.find((l) => l.subnet.equals(e.subnet));
  if (!etcdOk) {
    for (const id of ['lease.own', 'lease.ttl', 'lease.duplicate-ip', 'lease.subnet-taken'])
      out.push(cannot(id, 'etcd did not answer'));
  } else {
    if (own) out.push(ok('lease.own', `${own.subnet} -> ${own.publicIp} (${own.backendType})`));
    else if (mine.length)
      out.push(
        drift(
          'lease.own',
          `${e.publicIp} holds ${mine.map((l) => l.subnet).join(', ')}, not ${e.subnet}: docker0 and the lease disagree`,
          undefined,
          mine.map((l) => l.key),
        ),
      );
    else
      out.push(
        drift(
          'lease.own',
          `no lease for ${e.publicIp} in etcd (${e.api}): flanneld is not running, or cannot reach etcd`,
        ),
      );
    const l = own ?? mine[0];
    if (!l) out.push(drift('lease.ttl', 'no lease, no TTL'));
    else if (l.ttl === undefined)
      out.push(ok('lease.ttl', l.api === 'v3' ? 'v3 lease grant (TTL not read)' : 'no TTL: a reservation'));
    else if (l.ttl < 3600)
      out.push(
        drift('lease.ttl', `${l.ttl}s left: flanneld renews an hour before expiry, so it is not renewing (stopped?)`),
      );
    else out.push(ok('lease.ttl', `${Math.round(l.ttl / 3600)}h left`));
    out.push(
      mine.length > 1
        ? drift(
            'lease.duplicate-ip',
            `${e.publicIp} holds ${mine.length} leases: ${mine.map((x) => x.subnet).join(', ')}`,
            undefined,
            mine.map((x) => x.key),
          )
        : ok('lease.duplicate-ip', 'one lease for this IP at most'),
    );
    const taken = leases.find((x) => x.subnet.equals(e.subnet) && !x.publicIp.equals(e.publicIp));
    out.push(
      taken
        ? drift('lease.subnet-taken', `${e.subnet} is leased to ${taken.publicIp}, not this node`, undefined, [
            taken.key,
          ])
        : ok('lease.subnet-taken', `${e.subnet} is not held by another IP`),
    );
  }

  // ---- routes
  const ifaces = o.ifaces.ok ? o.ifaces.value : undefined;
  const dev = ifaces ? findInterface(ifaces, e.iface) : undefined;
  if (etcdOk && !config) {
    // etcd answered: the state is known to be wrong (flanneld has nothing to route by), not unknown
    for (const id of ['routes.peers', 'routes.stale', 'routes.own-subnet'])
      out.push(drift(id, 'no usable network config in etcd: flanneld routes nothing (see etcd.config)'));
  } else if (!etcdOk || !config || !o.routes.ok || !dev) {
    const why = !etcdOk
      ? 'etcd did not answer (routes are never changed on a guess)'
      : !o.routes.ok
        ? o.routes.error
        : `no interface ${e.iface}`;
    for (const id of ['routes.peers', 'routes.stale', 'routes.own-subnet']) out.push(cannot(id, why));
  } else {
    const sameL2 = (ip: Ip4) => dev.addrs.some((a) => a.contains(ip));
    let desired: ReturnType<typeof planBackendRoutes> | undefined;
    try {
      desired = planBackendRoutes(config.backend, leases, { publicIp: e.publicIp, iface: e.iface }, sameL2);
    } catch (err) {
      desired = undefined;
      for (const id of ['routes.peers', 'routes.stale', 'routes.own-subnet'])
        out.push(cannot(id, (err as Error).message));
    }
    if (desired) {
      const diff = diffRoutes(desired, o.routes.value, config.network, { ownSubnet: e.subnet });
      const wrong = [
        ...diff.add.map((r) => `${formatRoute(r)}: ${r.why}`),
        ...diff.replace.map((c) => `${formatRoute(c.from)}: ${c.why}`),
      ];
      const peersFix = planRouteCommands({ add: diff.add, replace: diff.replace, remove: [], conflicts: [] }).map(run);
      out.push(
        wrong.length
          ? drift(
              'routes.peers',
              `${wrong.length} of ${desired.length} peer routes missing or wrong: ${wrong.join('; ')}`,
              peersFix,
              wrong,
            )
          : ok('routes.peers', `${desired.length} peer routes as the leases say`),
      );
      const staleFix = planRouteCommands({ add: [], replace: [], remove: diff.remove, conflicts: [] }).map(run);
      out.push(
        diff.remove.length
          ? drift(
              'routes.stale',
              `${diff.remove.length} routes into ${config.network} with no lease: ${diff.remove.map((r) => formatRoute(r)).join('; ')}`,
              staleFix,
              diff.remove.map((r) => formatRoute(r)),
            )
          : ok('routes.stale', 'no stale route into the flannel network'),
      );
      const ownRoutes = o.routes.value.filter((r) => r.dst.equals(e.subnet) && r.via !== undefined);
      out.push(
        ownRoutes.length
          ? drift(
              'routes.own-subnet',
              `a route sends this node's own subnet away: ${ownRoutes.map((r) => formatRoute(r)).join('; ')}`,
              undefined,
              ownRoutes.map((r) => formatRoute(r)),
            )
          : ok('routes.own-subnet', `no gateway route for ${e.subnet} (it is docker0's)`),
      );
    }
  }

  // ---- vxlan: the device and, per peer, its neighbour and fdb entry (flanneld never restores them)
  const vxIds = ['vxlan.device', 'vxlan.neighbours', 'vxlan.fdb'];
  if (config && config.backend.type !== 'vxlan')
    for (const id of vxIds) out.push(ok(id, `${config.backend.type}: no vxlan device in use`));
  else if (etcdOk && !config)
    for (const id of vxIds) out.push(drift(id, 'no usable network config in etcd (see etcd.config)'));
  else if (!config || !dev || !ifaces)
    for (const id of vxIds) out.push(cannot(id, !config ? 'etcd did not answer' : `no interface ${e.iface}`));
  else {
    const vni = config.backend.vni ?? 1;
    const name = `flannel.${vni}`;
    const devProblems = checkVxlanDevice(findInterface(ifaces, name), {
      name,
      vni,
      publicIp: e.publicIp,
      mtu: backendMtu(config.backend, dev.mtu),
      subnet: e.subnet,
      port: config.backend.port ?? 8472,
    });
    out.push(
      devProblems.length
        ? drift('vxlan.device', devProblems.join('; '))
        : ok('vxlan.device', `${name}: vxlan id ${vni}, MTU ${dev.mtu - 50}`),
    );
    const peers = vxlanPeers(leases, e, {
      directRouting: config.backend.directRouting,
      sameL2: (ip) => dev.addrs.some((a) => a.contains(ip)),
    });
    if (!o.vxlan)
      for (const id of ['vxlan.neighbours', 'vxlan.fdb'])
        out.push(
          peers.length
            ? drift(id, `no ${name} to hold the entries of ${peers.length} peers`)
            : ok(id, 'no vxlan peers'),
        );
    else if (!o.vxlan.neighbours.ok || !o.vxlan.fdb.ok)
      for (const id of ['vxlan.neighbours', 'vxlan.fdb'])
        out.push(
          cannot(id, !o.vxlan.neighbours.ok ? o.vxlan.neighbours.error : (o.vxlan.fdb as { error: string }).error),
        );
    else {
      const d = diffVxlanPeers(peers, o.vxlan.neighbours.value, o.vxlan.fdb.value);
      const [neighFix, fdbFix] = [
        planVxlanPeerCommands({ neighbours: d.neighbours, fdb: [] }, name),
        planVxlanPeerCommands({ neighbours: [], fdb: d.fdb }, name),
      ];
      out.push(
        d.neighbours.length
          ? drift('vxlan.neighbours', d.neighbours.map((x) => x.why).join('; '), neighFix.map(run))
          : ok('vxlan.neighbours', `${peers.length} peers have their PERMANENT neighbour`),
      );
      out.push(
        d.fdb.length
          ? drift('vxlan.fdb', d.fdb.map((x) => x.why).join('; '), fdbFix.map(run))
          : ok('vxlan.fdb', `${peers.length} peers have their fdb entry`),
      );
    }
  }

  // ---- iptables
  if (!o.ruleset.ok) {
    for (const id of [
      'iptables.snat',
      'iptables.docker-masq',
      'iptables.forward',
      'iptables.reject',
      'iptables.persisted',
    ])
      out.push(cannot(id, o.ruleset.error));
  } else {
    const rs = o.ruleset.value;
    const snatPlan = planSnatFix(rs, { subnet: e.subnet, network: e.network, bridge: e.bridge, dropReject: false });
    const natOnly = snatPlan.changes.filter((c) => c.rule.table === 'nat');
    const fwd = flannelForwardRules(e.network);
    const allowed = forwardAllowed(rs, e.network);
    const missingFwd: Rule[] = allowed.ok ? [] : fwd.filter((r) => countRule(rs, r) === 0);
    // one iptables-restore for every iptables mend: the nat part of the snat plan + FORWARD ACCEPTs
    const payload = [
      natOnly.length ? `${snatPlan.payload.split('*filter')[0]!.trimEnd()}\n` : '',
      missingFwd.length
        ? [
            '*filter',
            ...missingFwd.map((r) => `-I FORWARD 1 ${formatRule(r).replace(/^-A FORWARD /, '')}`),
            'COMMIT',
            '',
          ].join('\n')
        : '',
    ].join('');
    const iptFix = payload
      ? [
          run({
            argv: ['iptables-restore', '--noflush'],
            input: payload,
            why: 'restore the SNAT rule / FORWARD ACCEPT rules in one transaction',
          }),
        ]
      : [];
    const snat = runbookSnatRule(e.subnet, e.network, e.bridge);
    const nSnat = countRule(rs, snat);
    out.push(
      nSnat === 1
        ? ok('iptables.snat', `${formatRule(snat)} present once`)
        : drift(
            'iptables.snat',
            nSnat === 0 ? `missing: ${formatRule(snat)}` : `present ${nSnat} times: ${formatRule(snat)}`,
            iptFix,
            [formatRule(snat)],
          ),
    );
    const docker = dockerMasqRule(e.subnet, e.bridge);
    const nDocker = countRule(rs, docker);
    out.push(
      nDocker === 0
        ? ok('iptables.docker-masq', "Docker's blanket MASQUERADE rule is absent")
        : drift(
            'iptables.docker-masq',
            `Docker's rule is back (dockerd restarted?): ${formatRule(docker)}: pods on other nodes see this node's address`,
            iptFix,
            [formatRule(docker)],
          ),
    );
    out.push(
      allowed.ok
        ? ok('iptables.forward', allowed.reason)
        : drift('iptables.forward', allowed.reason, missingFwd.length ? iptFix : undefined),
    );
    const rejects = rejectRules().filter((r) => countRule(rs, r) > 0);
    if (e.reject === 'drop')
      out.push(
        rejects.length
          ? drift(
              'iptables.reject',
              `REJECT catch-alls present: ${rejects.map(formatRule).join('; ')} (policy: dropped; snat-fix --drop-reject removes them)`,
              undefined,
              rejects.map(formatRule),
            )
          : ok('iptables.reject', 'no REJECT catch-all (policy: dropped)'),
      );
    else out.push(ok('iptables.reject', `REJECT catch-alls kept by policy (${rejects.length} present)`));
    const live = o.iptablesSave.ok ? o.iptablesSave.value : '';
    const persistFix = [
      run({
        argv: [
          'sh',
          '-c',
          'iptables-save > "$1.tmp" && chmod 600 "$1.tmp" && mv -f "$1.tmp" "$1"',
          'sh',
          e.paths.persist,
        ],
        why: `persist the live rules to ${e.paths.persist}`,
      }),
    ];
    if (o.files.persisted === undefined)
      out.push(drift('iptables.persisted', `${e.paths.persist} is missing: a reboot loses the snat fix`, persistFix));
    else if (comparableSave(o.files.persisted) !== comparableSave(live))
      out.push(
        drift(
          'iptables.persisted',
          `${e.paths.persist} differs from the live rules: a reboot or 'systemctl restart iptables' would load other rules`,
          persistFix,
        ),
      );
    else out.push(ok('iptables.persisted', `${e.paths.persist} equals the live rules`));
  }

  // ---- subnet.env and docker0
  if (!own)
    out.push(
      etcdOk
        ? drift('subnet-env.lease', 'no own lease to compare subnet.env with')
        : cannot('subnet-env.lease', 'etcd did not answer'),
    );
  else {
    const mtu = dev && config ? backendMtu(config.backend, dev.mtu) : undefined;
    const want = mtu !== undefined ? formatSubnetEnv(subnetEnvFromLease(e.network, own, mtu, false)) : undefined;
    const fix = want
      ? [write(e.paths.subnetEnv, want, `subnet.env must name this node's lease ${own.subnet}`)]
      : undefined;
    if (o.files.subnetEnv === undefined) out.push(drift('subnet-env.lease', `${e.paths.subnetEnv} is missing`, fix));
    else {
      try {
        const env = parseSubnetEnv(o.files.subnetEnv, e.paths.subnetEnv);
        const problems = [
          !env.subnet.identical(own.subnet.gatewayForm()) &&
            `FLANNEL_SUBNET=${env.subnet} but the lease is ${own.subnet}`,
          !env.network.equals(e.network) && `FLANNEL_NETWORK=${env.network}, not ${e.network}`,
          mtu !== undefined && env.mtu !== mtu && `FLANNEL_MTU=${env.mtu}, not ${mtu}`,
        ].filter(Boolean) as string[];
        out.push(
          problems.length
            ? drift('subnet-env.lease', problems.join('; '), fix, [o.files.subnetEnv.trim()])
            : ok('subnet-env.lease', `FLANNEL_SUBNET=${env.subnet} matches the lease`),
        );
      } catch (err) {
        out.push(drift('subnet-env.lease', (err as Error).message, fix));
      }
    }
  }
  const bridge = ifaces ? findInterface(ifaces, e.bridge) : undefined;
  if (!ifaces) out.push(cannot('docker0.bip', o.ifaces.ok ? '' : o.ifaces.error));
  else if (!bridge) out.push(drift('docker0.bip', `no ${e.bridge} on this host`));
  else {
    const want = e.subnet.gatewayForm();
    const has = bridge.addrs.find((a) => a.identical(want));
    out.push(
      has
        ? ok('docker0.bip', `${e.bridge} has ${want}`)
        : drift(
            'docker0.bip',
            `${e.bridge} has ${bridge.addrs.join(', ') || 'no address'}, not ${want} (dockerd --bip must equal FLANNEL_SUBNET)`,
            undefined,
            bridge.addrs.map(String),
          ),
    );
  }

  // ---- MTU: docker0 and its ports (the pods' veths) must use the backend's MTU (subnet.env's)
  if (!ifaces || !bridge)
    out.push(
      ifaces ? drift('mtu.bridge', `no ${e.bridge} to check`) : cannot('mtu.bridge', o.ifaces.ok ? '' : o.ifaces.error),
    );
  else if (!config || !dev)
    out.push(
      etcdOk
        ? drift('mtu.bridge', 'no usable network config in etcd (see etcd.config)')
        : cannot('mtu.bridge', 'etcd did not answer'),
    );
  else {
    const want = backendMtu(config.backend, dev.mtu);
    const wrong = [bridge, ...ifaces.filter((i) => i.master === e.bridge)].filter((i) => i.mtu !== want);
    out.push(
      wrong.length
        ? drift(
            'mtu.bridge',
            `${wrong.map((i) => `${i.name} MTU ${i.mtu}`).join(', ')}; FLANNEL_MTU is ${want} (${config.backend.type} on ${e.iface} MTU ${dev.mtu}): large packets between pods are dropped`,
            undefined,
            wrong.map((i) => `${i.name} mtu ${i.mtu}`),
          )
        : ok('mtu.bridge', `${e.bridge} and its ports at MTU ${want}`),
    );
  }

  // ---- flanneld
  if (!o.supervisor.ok) out.push(error('flanneld.running', o.supervisor.error));
  else if (!o.supervisor.value)
    out.push(drift('flanneld.running', `supervisord does not know ${e.program} (start was never run?)`));
  else {
    const st = o.supervisor.value;
    const fix = ['STOPPED', 'EXITED', 'FATAL', 'BACKOFF'].includes(st.state)
      ? [
          run({
            argv: ['supervisorctl', '-c', e.paths.supervisorConf, 'start', e.program],
            why: `${e.program} is ${st.state}: start it through supervisord`,
          }),
        ]
      : undefined;
    out.push(
      st.state === 'RUNNING'
        ? ok('flanneld.running', `${e.program} RUNNING (${st.detail})`)
        : drift('flanneld.running', `${e.program} is ${st.state}${st.detail ? ` (${st.detail})` : ''}`, fix),
    );
  }
  if (o.files.flanneldSh === undefined) out.push(drift('flanneld.flags', 'flanneld.sh is missing'));
  else {
    try {
      const diff = compareFlanneldFlags(flanneldFlags(e.flanneld), parseFlanneldSh(o.files.flanneldSh).flags);
      out.push(
        diff.length
          ? drift(
              'flanneld.flags',
              `flanneld.sh flags differ: ${diff.map((d) => `--${d.name}: ${d.actual ?? '(absent)'} -> ${d.expected ?? '(absent)'}`).join('; ')}`,
            )
          : ok('flanneld.flags', 'flanneld.sh passes the expected flags'),
      );
    } catch (err) {
      out.push(drift('flanneld.flags', (err as Error).message));
    }
  }
  if (!o.healthz.ok) out.push(drift('flanneld.healthz', o.healthz.error));
  else
    out.push(
      o.healthz.value.status === 200
        ? ok('flanneld.healthz', `healthz 200 "${o.healthz.value.body}" (proves only that the process runs)`)
        : drift('flanneld.healthz', `healthz answered ${o.healthz.value.status}`),
    );

  // ---- certs (only when etcd is spoken over TLS)
  const f = o.files;
  if (e.flanneld.cafile === undefined)
    for (const id of ['certs.chain', 'certs.expiry', 'certs.key-mode'])
      out.push(ok(id, 'plain http etcd: no certificates in use'));
  else if (!f.ca || !f.cert || !f.key) {
    out.push(
      drift(
        'certs.chain',
        `missing: ${[!f.ca && 'ca.pem', !f.cert && 'client.pem', !f.key && 'client-key.pem'].filter(Boolean).join(', ')} (scripts/certs.ts copies all three)`,
      ),
    );
  } else {
    const findings = checkCertSet({
      caPem: f.ca,
      certPem: f.cert,
      keyPem: f.key,
      now: o.at,
      warnDays: e.certWarnDays,
      ...(f.keyMode !== undefined && { keyMode: f.keyMode }),
    });
    const bad = (ids: RegExp) => findings.filter((x) => !x.ok && ids.test(x.id));
    const chain = bad(/sign|issu|pair|key-match|usage|ca|pem|read/);
    const expiry = bad(/valid|expir|days/);
    const mode = bad(/mode/);
    out.push(
      chain.length
        ? drift('certs.chain', chain.map((x) => x.message).join('; '))
        : ok('certs.chain', 'client.pem chains to ca.pem, client-key.pem is its key'),
    );
    const days = findings.find((x) => /left/.test(x.message));
    out.push(
      expiry.length
        ? drift('certs.expiry', expiry.map((x) => x.message).join('; '))
        : ok('certs.expiry', days?.message ?? 'valid'),
    );
    out.push(
      mode.length || (f.keyMode !== undefined && (f.keyMode & 0o077) !== 0)
        ? drift(
            'certs.key-mode',
            mode.map((x) => x.message).join('; ') ||
              `client-key.pem mode ${f.keyMode!.toString(8)}: readable by others`,
          )
        : ok('certs.key-mode', 'client-key.pem readable by root only'),
    );
  }

  // ---- sysctl
  if (f.ipForward === undefined) out.push(cannot('sysctl.ip-forward', 'cannot read /proc/sys/net/ipv4/ip_forward'));
  else
    out.push(
      f.ipForward === '1'
        ? ok('sysctl.ip-forward', 'net.ipv4.ip_forward = 1')
        : drift('sysctl.ip-forward', `net.ipv4.ip_forward = ${f.ipForward}: this node forwards no pod traffic`),
    );
  return out;
}

/** 0 in sync, 1 drift, 3 could not check (an error anywhere wins: etcd down is never "in sync"). */
export function exitCodeFor(checks: readonly Check[]): 0 | 1 | 3 {
  if (checks.some((c) => c.status === 'error')) return 3;
  if (checks.some((c) => c.status === 'drift')) return 1;
  return 0;
}

/** The fixes of every drifting check, each action once (checks may share one iptables-restore). */
export function planFixes(checks: readonly Check[]): Action[] {
  const seen = new Set<string>();
  const out: Action[] = [];
  // iptables mends before persisting them; routes first (they matter most)
  // neighbour/fdb entries before the onlink routes that use them; persisting the rules last
  const order = (id: string) =>
    id.startsWith('vxlan')
      ? 0
      : id.startsWith('routes')
        ? 1
        : id === 'iptables.persisted'
          ? 4
          : id.startsWith('iptables')
            ? 2
            : 3;
  for (const c of [...checks].sort((a, b) => order(a.id) - order(b.id))) {
    if (c.status !== 'drift' || !c.fix) continue;
    for (const a of c.fix) {
      const key = JSON.stringify(a);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(a);
    }
  }
  return out;
}
