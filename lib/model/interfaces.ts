// The host's interfaces as `ip -j addr` reports them: names, MTU, state, IPv4 addresses.
// Used to find this node (its public IP is local), docker0's address (the bip must equal
// FLANNEL_SUBNET) and MTUs (subnet.env's FLANNEL_MTU must match the bridge).

import { unreadable, readingOutput } from '../core/errors.ts';
import { Ip4, Ip4Net } from '../core/ip4.ts';
import type { Command } from '../core/command.ts';

export interface Interface {
  readonly name: string;
  readonly mtu: number;
  readonly up: boolean;
  /** IPv4 addresses with their prefix, e.g. 172.7.21.1/24 */
  readonly addrs: readonly Ip4Net[];
  /** link kind from `ip -d` (vxlan, bridge, veth), when asked for */
  readonly kind?: string;
  /** the bridge this link is a port of (docker0's veths), from `ip addr` */
  readonly master?: string;
  /** the link's MAC address (a vxlan device's is its VtepMAC) */
  readonly mac?: string;
  /** vxlan settings from `ip -d` (id = VNI, local = public IP, port = UDP dstport) */
  readonly vxlan?: {
    readonly id?: number;
    readonly local?: string;
    readonly port?: number;
    readonly learning?: boolean;
  };
}

export const ipAddrCommand: Command = {
  argv: ['ip', '-j', '-4', 'addr', 'show'],
  why: "this host's interfaces and IPv4 addresses",
};

/** Parse `ip -j [-4] [-d] addr show`. */
export function parseIpAddr(json: string): Interface[] {
  // a value that does not parse in a daemon's output is exit 3, never a usage error
  return readingOutput(() => parseIpAddrUnchecked(json));
}

function parseIpAddrUnchecked(json: string): Interface[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw unreadable(
      'ip -j addr output',
      json.slice(0, 60),
      'is not JSON',
      '[{"ifname":"eth0","mtu":1500,"addr_info":[...]}]',
    );
  }
  if (!Array.isArray(doc))
    throw unreadable('ip -j addr output', json.slice(0, 60), 'must be a JSON array', '[{"ifname":"eth0",...}]');
  return doc.map((raw, i) => {
    const o = raw as Record<string, unknown>;
    if (typeof o?.ifname !== 'string' || typeof o.mtu !== 'number') {
      throw unreadable(
        `ip -j addr output [${i}]`,
        JSON.stringify(raw).slice(0, 60),
        'needs ifname and mtu',
        '{"ifname":"eth0","mtu":1500}',
      );
    }
    const addrs = (Array.isArray(o.addr_info) ? o.addr_info : [])
      .filter((a: Record<string, unknown>) => a?.family === 'inet' && typeof a.local === 'string')
      .map((a: Record<string, unknown>) =>
        Ip4Net.of(Ip4.parse(String(a.local), `${o.ifname} address`), Number(a.prefixlen)),
      );
    const flags = Array.isArray(o.flags) ? (o.flags as string[]) : [];
    const info = o.linkinfo as { info_kind?: string; info_data?: Record<string, unknown> } | undefined;
    const d = info?.info_data ?? {};
    return {
      name: o.ifname,
      mtu: o.mtu,
      up: flags.includes('UP'),
      addrs,
      ...(info?.info_kind ? { kind: info.info_kind } : {}),
      ...(typeof o.address === 'string' ? { mac: o.address } : {}),
      ...(typeof o.master === 'string' ? { master: o.master } : {}),
      ...(info?.info_kind === 'vxlan'
        ? {
            vxlan: {
              ...(typeof d.id === 'number' && { id: d.id }),
              ...(typeof d.local === 'string' && { local: d.local }),
              ...(typeof d.port === 'number' && { port: d.port }),
              ...(typeof d.learning === 'boolean' && { learning: d.learning }),
            },
          }
        : {}),
    };
  });
}

/** Every local IPv4 address as a string (for selecting this node from the cluster file). */
export function localIps(ifaces: readonly Interface[]): string[] {
  return ifaces.flatMap((i) => i.addrs.map((a) => a.ip.toString()));
}

export function findInterface(ifaces: readonly Interface[], name: string): Interface | undefined {
  return ifaces.find((i) => i.name === name);
}
