// The node's links, addresses, routes, neighbours and fdb entries, read through the Host with
// iproute2: one command each, whatever the cluster size.

import { parseIpAddr, type Interface } from '../model/interfaces.ts';
import { parseIpRoute, type Route } from '../model/routes.ts';
import { parseFdb, parseNeighbours, type FdbEntry, type Neighbour } from '../model/vxlan.ts';
import type { Host } from './host.ts';

const read = (host: Host, argv: string[], why: string) => host.run({ argv, why, readOnly: true });

/** Every link with its MTU, kind, master and IPv4 addresses (`ip -d addr show`). */
export async function readLinks(host: Host): Promise<Interface[]> {
  return parseIpAddr((await read(host, ['ip', '-j', '-d', 'addr', 'show'], 'links, addresses and MTUs')).stdout);
}

/** IPv4 addresses per interface (`ip -4 addr show`): which node this is, where the public IP lives. */
export async function readAddresses(host: Host): Promise<Interface[]> {
  return parseIpAddr((await read(host, ['ip', '-j', '-4', 'addr', 'show'], "this host's IPv4 addresses")).stdout);
}

/** The main routing table (`ip route show`). */
export async function readRoutes(host: Host): Promise<Route[]> {
  return parseIpRoute((await read(host, ['ip', '-j', 'route', 'show'], 'routes')).stdout);
}

export async function readNeighbours(host: Host, dev: string): Promise<Neighbour[]> {
  return parseNeighbours((await read(host, ['ip', '-j', 'neigh', 'show', 'dev', dev], 'neighbours')).stdout);
}

export async function readFdb(host: Host, dev: string): Promise<FdbEntry[]> {
  return parseFdb((await read(host, ['bridge', '-j', 'fdb', 'show', 'dev', dev], 'fdb entries')).stdout);
}
