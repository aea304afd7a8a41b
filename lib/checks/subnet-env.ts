// The node's side of the lease: subnet.env names the lease (and the backend's MTU), docker0
// carries FLANNEL_SUBNET, and docker0 and its ports (the pods' veths) use the backend's MTU.

import { write } from '../core/plan.ts';
import { findInterface } from '../model/interfaces.ts';
import { backendMtu } from '../model/netconfig.ts';
import { formatSubnetEnv, parseSubnetEnv, subnetEnvFromLease } from '../model/subnet-env.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, consequence, drift, ok, type Check, type CheckArea } from './types.ts';

export interface SubnetEnvProblem {
  readonly field: 'FLANNEL_SUBNET' | 'FLANNEL_NETWORK' | 'FLANNEL_MTU';
  readonly have: string;
  readonly want: string;
}
export interface SubnetEnvDetail {
  readonly state: 'missing' | 'unreadable' | 'differs' | 'ok' | 'no-lease';
  readonly problems: readonly SubnetEnvProblem[];
}
export interface BipDetail {
  readonly bridge: string;
  readonly present: boolean;
  readonly addrs: readonly string[];
  readonly want: string;
}
export interface MtuDetail {
  readonly want?: number;
  readonly wrong: readonly { readonly name: string; readonly mtu: number }[];
}

export const SUBNET_ENV_LEASE = checkKey<SubnetEnvDetail>('subnet-env.lease');
export const DOCKER0_BIP = checkKey<BipDetail>('docker0.bip');
export const MTU_BRIDGE = checkKey<MtuDetail>('mtu.bridge');

function subnetEnv(ctx: CheckContext): Check {
  const e = ctx.expect;
  const o = ctx.obs;
  const own = ctx.own;
  if (!own) {
    return ctx.etcd
      ? drift<SubnetEnvDetail>(SUBNET_ENV_LEASE.id, 'no own lease to compare subnet.env with', {
          detail: { state: 'no-lease', problems: [] },
        })
      : cannot(SUBNET_ENV_LEASE.id, ctx.etcdBlocker!);
  }
  const mtu = ctx.dev && ctx.config ? backendMtu(ctx.config.backend, ctx.dev.mtu) : undefined;
  const want = mtu !== undefined ? formatSubnetEnv(subnetEnvFromLease(e.network, own, mtu, false)) : undefined;
  const fix = want
    ? [write(e.paths.subnetEnv, want, `subnet.env must name this node's lease ${own.subnet}`)]
    : undefined;
  if (o.files.subnetEnv === undefined) {
    return drift<SubnetEnvDetail>(SUBNET_ENV_LEASE.id, `${e.paths.subnetEnv} is missing`, {
      detail: { state: 'missing', problems: [] },
      ...(fix && { fix }),
    });
  }
  let env: ReturnType<typeof parseSubnetEnv>;
  try {
    env = parseSubnetEnv(o.files.subnetEnv, e.paths.subnetEnv);
  } catch (err) {
    return drift<SubnetEnvDetail>(SUBNET_ENV_LEASE.id, (err as Error).message, {
      detail: { state: 'unreadable', problems: [] },
      ...(fix && { fix }),
    });
  }
  const problems: SubnetEnvProblem[] = [];
  if (!env.subnet.identical(own.subnet.gatewayForm()))
    problems.push({ field: 'FLANNEL_SUBNET', have: env.subnet.toString(), want: own.subnet.gatewayForm().toString() });
  if (!env.network.equals(e.network))
    problems.push({ field: 'FLANNEL_NETWORK', have: env.network.toString(), want: e.network.toString() });
  if (mtu !== undefined && env.mtu !== mtu)
    problems.push({ field: 'FLANNEL_MTU', have: String(env.mtu), want: String(mtu) });
  const line = (p: SubnetEnvProblem) =>
    p.field === 'FLANNEL_SUBNET'
      ? `FLANNEL_SUBNET=${p.have} but the lease is ${own.subnet}`
      : `${p.field}=${p.have}, not ${p.want}`;
  return problems.length
    ? drift<SubnetEnvDetail>(SUBNET_ENV_LEASE.id, problems.map(line).join('; '), {
        detail: { state: 'differs', problems },
        ...(fix && { fix }),
        evidence: [o.files.subnetEnv.trim()],
      })
    : ok<SubnetEnvDetail>(SUBNET_ENV_LEASE.id, `FLANNEL_SUBNET=${env.subnet} matches the lease`, {
        state: 'ok',
        problems: [],
      });
}

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const o = ctx.obs;
  const out: Check[] = [subnetEnv(ctx)];
  const ifaces = ctx.ifaces;
  const ifaceBlocker = { kind: 'observation' as const, what: 'links', error: o.ifaces.ok ? '' : o.ifaces.error };
  const bridge = ifaces ? findInterface(ifaces, e.bridge) : undefined;
  const want = e.subnet.gatewayForm();
  if (!ifaces) out.push(cannot(DOCKER0_BIP.id, ifaceBlocker));
  else if (!bridge)
    out.push(
      drift<BipDetail>(DOCKER0_BIP.id, `no ${e.bridge} on this host`, {
        detail: { bridge: e.bridge, present: false, addrs: [], want: want.toString() },
      }),
    );
  else {
    const addrs = bridge.addrs.map(String);
    const detail: BipDetail = { bridge: e.bridge, present: true, addrs, want: want.toString() };
    out.push(
      bridge.addrs.some((a) => a.identical(want))
        ? ok<BipDetail>(DOCKER0_BIP.id, `${e.bridge} has ${want}`, detail)
        : drift<BipDetail>(
            DOCKER0_BIP.id,
            `${e.bridge} has ${addrs.join(', ') || 'no address'}, not ${want} (dockerd --bip must equal FLANNEL_SUBNET)`,
            { detail, evidence: addrs },
          ),
    );
  }

  // docker0 and its ports (the pods' veths) must use the backend's MTU (subnet.env's)
  if (!ifaces) out.push(cannot(MTU_BRIDGE.id, ifaceBlocker));
  else if (!bridge) out.push(drift<MtuDetail>(MTU_BRIDGE.id, `no ${e.bridge} to check`, { detail: { wrong: [] } }));
  else if (ctx.configBlocker)
    out.push(...consequence([MTU_BRIDGE.id], 'no usable network config in etcd (see etcd.config)', ctx.configBlocker));
  else if (ctx.etcdBlocker) out.push(cannot(MTU_BRIDGE.id, ctx.etcdBlocker));
  else if (!ctx.config || !ctx.dev) out.push(cannot(MTU_BRIDGE.id, { kind: 'iface', iface: e.iface }));
  else {
    const mtu = backendMtu(ctx.config.backend, ctx.dev.mtu);
    const wrong = [bridge, ...ifaces.filter((i) => i.master === e.bridge)]
      .filter((i) => i.mtu !== mtu)
      .map((i) => ({ name: i.name, mtu: i.mtu }));
    out.push(
      wrong.length
        ? drift<MtuDetail>(
            MTU_BRIDGE.id,
            `${wrong.map((i) => `${i.name} MTU ${i.mtu}`).join(', ')}; FLANNEL_MTU is ${mtu} (${ctx.config.backend.type} on ${e.iface} MTU ${ctx.dev.mtu}): large packets between pods are dropped`,
            { detail: { want: mtu, wrong }, evidence: wrong.map((i) => `${i.name} mtu ${i.mtu}`) },
          )
        : ok<MtuDetail>(MTU_BRIDGE.id, `${e.bridge} and its ports at MTU ${mtu}`, { want: mtu, wrong: [] }),
    );
  }
  return out;
}

export const subnetEnvChecks: CheckArea = {
  name: 'subnet-env',
  ids: [SUBNET_ENV_LEASE.id, DOCKER0_BIP.id, MTU_BRIDGE.id],
  fixStage: 3,
  run,
};
