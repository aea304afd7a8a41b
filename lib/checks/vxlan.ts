// vxlan only: the device flannel.<VNI> (vxlan id, local IP, dstport, MTU iface-50, a /32
// address) and, per peer, its PERMANENT neighbour and fdb entry. flanneld writes those once,
// when a lease appears, and never restores them (docs/flannel-facts.md, vxlan), so drift does.

import { run as runAction } from '../core/plan.ts';
import { findInterface } from '../model/interfaces.ts';
import { backendMtu } from '../model/netconfig.ts';
import {
  checkVxlanDevice,
  diffVxlanPeers,
  planVxlanPeerCommands,
  vxlanPeers,
  type VxlanPeerDiff,
} from '../model/vxlan.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, consequence, drift, ok, type Check, type CheckArea } from './types.ts';

export interface DeviceDetail {
  readonly name: string;
  readonly problems: readonly string[];
}
export interface EntriesDetail {
  readonly peers: number;
  readonly wrong: VxlanPeerDiff['neighbours'] | VxlanPeerDiff['fdb'];
}

export const VXLAN_DEVICE = checkKey<DeviceDetail>('vxlan.device');
export const VXLAN_NEIGHBOURS = checkKey<EntriesDetail>('vxlan.neighbours');
export const VXLAN_FDB = checkKey<EntriesDetail>('vxlan.fdb');
const IDS = [VXLAN_DEVICE.id, VXLAN_NEIGHBOURS.id, VXLAN_FDB.id];

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const o = ctx.obs;
  // without a usable config in etcd (or etcd's answer), the cluster file still says which backend is meant
  const backend = ctx.config?.backend ?? (ctx.configBlocker || ctx.etcdBlocker ? ctx.desired?.backend : undefined);
  if (backend && backend.type !== 'vxlan') return IDS.map((id) => ok(id, `${backend.type}: no vxlan device in use`));
  // no usable config and no cluster file to say the backend: without a vxlan device here, no vxlan to judge
  if (ctx.configBlocker && !backend && !o.vxlan)
    return IDS.map((id) => ok(id, 'backend not known (no usable config) and no flannel.<VNI> device here'));
  if (ctx.configBlocker)
    return consequence(IDS, 'no usable network config in etcd (see etcd.config)', ctx.configBlocker);
  if (ctx.etcdBlocker) return IDS.map((id) => cannot(id, ctx.etcdBlocker!));
  if (!ctx.config || !ctx.dev || !ctx.ifaces) return IDS.map((id) => cannot(id, { kind: 'iface', iface: e.iface }));
  const config = ctx.config;
  const dev = ctx.dev;
  const vni = config.backend.vni ?? 1;
  const name = `flannel.${vni}`;
  const problems = checkVxlanDevice(findInterface(ctx.ifaces, name), {
    name,
    vni,
    publicIp: e.publicIp,
    mtu: backendMtu(config.backend, dev.mtu),
    subnet: e.subnet,
    port: config.backend.port ?? 8472,
  });
  const out: Check[] = [
    problems.length
      ? drift<DeviceDetail>(VXLAN_DEVICE.id, problems.join('; '), { detail: { name, problems } })
      : ok<DeviceDetail>(VXLAN_DEVICE.id, `${name}: vxlan id ${vni}, MTU ${dev.mtu - 50}`, { name, problems }),
  ];
  const peers = vxlanPeers(ctx.leases, e, { directRouting: config.backend.directRouting, sameL2: ctx.sameL2 });
  const entries = [VXLAN_NEIGHBOURS.id, VXLAN_FDB.id];
  if (!o.vxlan) {
    for (const id of entries)
      out.push(
        peers.length
          ? drift<EntriesDetail>(id, `no ${name} to hold the entries of ${peers.length} peers`, {
              detail: { peers: peers.length, wrong: [] },
            })
          : ok<EntriesDetail>(id, 'no vxlan peers', { peers: 0, wrong: [] }),
      );
    return out;
  }
  const failed = !o.vxlan.neighbours.ok ? o.vxlan.neighbours : !o.vxlan.fdb.ok ? o.vxlan.fdb : undefined;
  if (failed && !failed.ok) {
    for (const id of entries) out.push(cannot(id, { kind: 'observation', what: 'vxlan entries', error: failed.error }));
    return out;
  }
  if (!o.vxlan.neighbours.ok || !o.vxlan.fdb.ok) return out;
  const d = diffVxlanPeers(peers, o.vxlan.neighbours.value, o.vxlan.fdb.value);
  const neighFix = planVxlanPeerCommands({ neighbours: d.neighbours, fdb: [] }, name).map(runAction);
  const fdbFix = planVxlanPeerCommands({ neighbours: [], fdb: d.fdb }, name).map(runAction);
  out.push(
    d.neighbours.length
      ? drift<EntriesDetail>(VXLAN_NEIGHBOURS.id, d.neighbours.map((x) => x.why).join('; '), {
          detail: { peers: peers.length, wrong: d.neighbours },
          fix: neighFix,
        })
      : ok<EntriesDetail>(VXLAN_NEIGHBOURS.id, `${peers.length} peers have their PERMANENT neighbour`, {
          peers: peers.length,
          wrong: [],
        }),
    d.fdb.length
      ? drift<EntriesDetail>(VXLAN_FDB.id, d.fdb.map((x) => x.why).join('; '), {
          detail: { peers: peers.length, wrong: d.fdb },
          fix: fdbFix,
        })
      : ok<EntriesDetail>(VXLAN_FDB.id, `${peers.length} peers have their fdb entry`, {
          peers: peers.length,
          wrong: [],
        }),
  );
  return out;
}

// neighbour and fdb entries before the onlink routes that use them
export const vxlanChecks: CheckArea = { name: 'vxlan', ids: IDS, fixStage: 0, run };
