// The vxlan backend's per-peer state (docs/flannel-facts.md, vxlan): the device flannel.<VNI>, and
// for every peer reached through it a PERMANENT neighbour `SUBNET.network lladdr VtepMAC` and
// an fdb entry `VtepMAC dst PublicIP`. flanneld never re-creates a deleted vxlan route (nor
// these), so drift checks and mends them. With DirectRouting, peers on the same L2 segment
// get a host-gw route and no neighbour/fdb entry.

import { unreadable, readingOutput } from '../core/errors.ts';
import { Ip4, type Ip4Net } from '../core/ip4.ts';
import type { Interface } from './interfaces.ts';
import type { Command } from '../core/command.ts';

export interface Neighbour {
  readonly ip: Ip4;
  readonly mac?: string;
  readonly states: readonly string[];
}

export interface FdbEntry {
  readonly mac: string;
  readonly dst?: Ip4;
  readonly flags: readonly string[];
  readonly state: string;
}

function jsonArray(json: string, what: string, example: string): Record<string, unknown>[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw unreadable(what, json.slice(0, 60), 'is not JSON', example);
  }
  if (!Array.isArray(doc)) throw unreadable(what, json.slice(0, 60), 'must be a JSON array', example);
  return doc as Record<string, unknown>[];
}

/** `ip -j neigh show dev flannel.1`. */
export function parseNeighbours(json: string): Neighbour[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseNeighboursUnchecked(json));
}

function parseNeighboursUnchecked(json: string): Neighbour[] {
  return jsonArray(
    json,
    'ip -j neigh output',
    '[{"dst":"172.7.22.0","lladdr":"5a:3f:40:67:88:d9","state":["PERMANENT"]}]',
  )
    .filter((n) => typeof n.dst === 'string' && Ip4.isValid(n.dst))
    .map((n) => ({
      ip: Ip4.parse(String(n.dst)),
      ...(typeof n.lladdr === 'string' && { mac: n.lladdr.toLowerCase() }),
      states: Array.isArray(n.state) ? (n.state as string[]) : [],
    }));
}

/** `bridge -j fdb show dev flannel.1`. */
export function parseFdb(json: string): FdbEntry[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseFdbUnchecked(json));
}

function parseFdbUnchecked(json: string): FdbEntry[] {
  return jsonArray(
    json,
    'bridge -j fdb output',
    '[{"mac":"5a:3f:40:67:88:d9","dst":"10.4.7.22","flags":["self"],"state":"permanent"}]',
  )
    .filter((e) => typeof e.mac === 'string')
    .map((e) => ({
      mac: String(e.mac).toLowerCase(),
      ...(typeof e.dst === 'string' && Ip4.isValid(e.dst) && { dst: Ip4.parse(e.dst) }),
      flags: Array.isArray(e.flags) ? (e.flags as string[]) : [],
      state: typeof e.state === 'string' ? e.state : '',
    }));
}

export interface VxlanPeer {
  readonly subnet: Ip4Net;
  readonly publicIp: Ip4;
  readonly vtepMac: string;
}

export interface VxlanLease {
  readonly subnet: Ip4Net;
  readonly publicIp: Ip4;
  readonly backendType?: string;
  readonly vtepMac?: string;
}

/** The peers flanneld programs on flannel.<VNI>: vxlan leases of other nodes, minus same-L2 ones under DirectRouting. */
export function vxlanPeers(
  leases: readonly VxlanLease[],
  self: { publicIp: Ip4 },
  opts: { directRouting?: boolean; sameL2?: (ip: Ip4) => boolean } = {},
): VxlanPeer[] {
  return leases
    .filter(
      (l) => !l.publicIp.equals(self.publicIp) && (l.backendType ?? 'vxlan').toLowerCase() === 'vxlan' && l.vtepMac,
    )
    .filter((l) => !(opts.directRouting && opts.sameL2?.(l.publicIp)))
    .map((l) => ({ subnet: l.subnet.network(), publicIp: l.publicIp, vtepMac: l.vtepMac!.toLowerCase() }));
}

export interface VxlanPeerDiff {
  readonly neighbours: { readonly peer: VxlanPeer; readonly why: string }[];
  readonly fdb: { readonly peer: VxlanPeer; readonly why: string }[];
}

export function diffVxlanPeers(
  peers: readonly VxlanPeer[],
  neigh: readonly Neighbour[],
  fdb: readonly FdbEntry[],
): VxlanPeerDiff {
  const out: VxlanPeerDiff = { neighbours: [], fdb: [] };
  for (const p of peers) {
    const gw = p.subnet.ip;
    const n = neigh.find((x) => x.ip.equals(gw));
    if (!n) out.neighbours.push({ peer: p, why: `no neighbour ${gw} (${p.subnet} on ${p.publicIp})` });
    else if (n.mac !== p.vtepMac)
      out.neighbours.push({ peer: p, why: `neighbour ${gw} is ${n.mac ?? 'incomplete'}, the lease says ${p.vtepMac}` });
    else if (!n.states.includes('PERMANENT'))
      out.neighbours.push({
        peer: p,
        why: `neighbour ${gw} is ${n.states.join(',') || 'not permanent'}, flanneld makes it PERMANENT`,
      });
    const f = fdb.find((x) => x.mac === p.vtepMac && x.dst !== undefined);
    if (!f) out.fdb.push({ peer: p, why: `no fdb entry ${p.vtepMac} dst ${p.publicIp}` });
    else if (!f.dst!.equals(p.publicIp))
      out.fdb.push({ peer: p, why: `fdb ${p.vtepMac} goes to ${f.dst}, the lease says ${p.publicIp}` });
  }
  return out;
}

/** One `ip -batch` for neighbours and one `bridge -batch` for fdb entries (none when in sync). */
export function planVxlanPeerCommands(d: VxlanPeerDiff, dev: string): Command[] {
  const cmds: Command[] = [];
  if (d.neighbours.length) {
    cmds.push({
      argv: ['ip', '-batch', '-'],
      input: `${d.neighbours.map(({ peer }) => `neigh replace ${peer.subnet.ip} lladdr ${peer.vtepMac} dev ${dev} nud permanent`).join('\n')}\n`,
      why: `restore ${d.neighbours.length} vxlan neighbour entries on ${dev} (flanneld never does)`,
    });
  }
  if (d.fdb.length) {
    cmds.push({
      argv: ['bridge', '-batch', '-'],
      input: `${d.fdb.map(({ peer }) => `fdb replace ${peer.vtepMac} dev ${dev} dst ${peer.publicIp} self permanent`).join('\n')}\n`,
      why: `restore ${d.fdb.length} vxlan fdb entries on ${dev} (flanneld never does)`,
    });
  }
  return cmds;
}

/** flannel.<VNI> as flanneld makes it: vxlan id VNI, local = public IP, MTU iface - 50, address SUBNET.network/32. */
export function checkVxlanDevice(
  dev: Interface | undefined,
  want: { name: string; vni: number; publicIp: Ip4; mtu: number; subnet: Ip4Net; port: number },
): string[] {
  if (!dev) return [`no ${want.name} device (flanneld with the vxlan backend creates it)`];
  const problems: string[] = [];
  if (dev.kind !== undefined && dev.kind !== 'vxlan') problems.push(`${want.name} is a ${dev.kind} device, not vxlan`);
  if (dev.vxlan?.id !== undefined && dev.vxlan.id !== want.vni)
    problems.push(`${want.name} has vxlan id ${dev.vxlan.id}, the config says VNI ${want.vni}`);
  if (dev.vxlan?.local !== undefined && dev.vxlan.local !== want.publicIp.toString())
    problems.push(`${want.name} sends from ${dev.vxlan.local}, not ${want.publicIp}`);
  if (dev.vxlan?.port !== undefined && dev.vxlan.port !== want.port)
    problems.push(`${want.name} uses UDP port ${dev.vxlan.port}, not ${want.port}`);
  if (dev.mtu !== want.mtu) problems.push(`${want.name} MTU ${dev.mtu}, not ${want.mtu} (iface MTU - 50)`);
  const addr = want.subnet.network().ip;
  if (!dev.addrs.some((a) => a.ip.equals(addr) && a.prefix === 32)) problems.push(`${want.name} lacks ${addr}/32`);
  if (!dev.up) problems.push(`${want.name} is down`);
  return problems;
}
