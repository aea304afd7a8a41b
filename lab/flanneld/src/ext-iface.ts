// The external interface: --iface (name or IP), --iface-regex, v0.20.2's --iface-can-reach, or
// the default route's interface; --public-ip. v0.11.0's main.LookupExtIface (main.go) and
// v0.20.2's pkg/ip/match.go, with their log lines and error texts.
import { log } from './glog.ts';
import { GoError } from './go-errors.ts';
import type { FlagSet } from './go-flags.ts';
import { type IpLink, type IpRoute, ipJson } from './host-commands.ts';
import { ip4String, isGlobalUnicast, isLinkLocal, parseIP4 } from './ip4.ts';
import { T, V020 } from './version.ts';

/** net.Interface with its IPv4 addresses. */
export interface Iface {
  index: number;
  name: string;
  mtu: number;
  addrs: number[];
}

/** backend.ExternalInterface: the interface, its address, and the public (external) address. */
export interface ExtIface {
  iface: Iface;
  ifaceAddr: number;
  extAddr: number;
}

/** net.Interfaces() with the IPv4 addresses (netlink.AddrList order). */
async function listInterfaces(): Promise<Iface[]> {
  const links = await ipJson<IpLink>(['addr', 'show']);
  return links.map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    mtu: l.mtu || 0,
    addrs: (l.addr_info || [])
      .filter((a) => a.family === 'inet')
      .map((a) => parseIP4(a.local))
      .filter((a): a is number => a !== null),
  }));
}

/** ip.GetIfaceIP4Addr: prefers a global unicast address, else a link-local one. */
function ifaceIP4Addr(iface: Iface): number {
  let ll: number | null = null;
  for (const a of iface.addrs) {
    if (isGlobalUnicast(a)) return a;
    if (isLinkLocal(a)) ll = a;
  }
  if (ll !== null) return ll;
  throw new GoError('No IPv4 address found for given interface');
}

async function defaultGatewayIface(ifaces: Iface[]): Promise<Iface> {
  const routes = await ipJson<IpRoute>(['-4', 'route', 'show', 'table', 'main']);
  for (const r of routes) {
    if (r.dst === 'default' || r.dst === '0.0.0.0/0') {
      const iface = ifaces.find((i) => i.name === r.dev);
      if (!iface) throw new GoError('Found default route but could not determine interface');
      return iface;
    }
  }
  throw new GoError('Unable to find default route');
}

/** main.LookupExtIface of v0.11.0 (interface name or IP, or regex, or the default route's). */
async function lookupExtIface(ifname: string, ifregex: string, publicIP: string): Promise<ExtIface> {
  const ifaces = await listInterfaces();
  let iface: Iface | null = null;
  let ifaceAddr: number | null = null;
  if (ifname) {
    const asIP = parseIP4(ifname);
    if (asIP !== null) {
      ifaceAddr = asIP;
      log.info(T('main.go:456', 'match.go:191'), `Searching for interface using ${ip4String(asIP)}`);
      iface = ifaces.find((i) => i.addrs.includes(asIP)) || null;
      if (!iface) throw new GoError(`error looking up interface ${ifname}: No interface with given IP found`);
    } else {
      iface = ifaces.find((i) => i.name === ifname) || null;
      if (!iface) throw new GoError(`error looking up interface ${ifname}: route ip+net: no such network interface`);
    }
  } else if (ifregex) {
    let re: RegExp;
    try {
      re = new RegExp(ifregex);
    } catch {
      throw new GoError(`regex error matching pattern ${ifregex} to ${ifaces[0] ? ifaces[0].name : ''}`);
    }
    for (const cand of ifaces) {
      let a: number;
      try {
        a = ifaceIP4Addr(cand);
      } catch {
        continue;
      }
      if (re.test(ip4String(a))) {
        iface = cand;
        ifaceAddr = a;
        break;
      }
    }
    if (!iface) iface = ifaces.find((i) => re.test(i.name)) || null;
    if (!iface) throw new GoError(`Could not match pattern ${ifregex} to any of the available network interfaces`);
  } else {
    log.info(T('main.go:514', 'match.go:227'), 'Determining IP address of default interface');
    try {
      iface = await defaultGatewayIface(ifaces);
    } catch (e) {
      throw new GoError(`failed to get default interface: ${(e as Error).message}`);
    }
  }
  if (ifaceAddr === null) {
    try {
      ifaceAddr = ifaceIP4Addr(iface);
    } catch {
      throw new GoError(`failed to find IPv4 address for interface ${iface.name}`);
    }
  }
  log.info(
    T('main.go:527', 'match.go:259'),
    `Using interface with name ${iface.name} and address ${ip4String(ifaceAddr)}`,
  );
  if (!iface.mtu) throw new GoError(`failed to determine MTU for ${ip4String(ifaceAddr)} interface`);
  let extAddr: number | null = null;
  if (publicIP) {
    extAddr = parseIP4(publicIP);
    if (extAddr === null) throw new GoError(`invalid public IP address: ${publicIP}`);
    log.info(T('main.go:540', 'match.go:277'), `Using ${ip4String(extAddr)} as external address`);
  }
  if (extAddr === null) {
    log.info(
      T('main.go:544', 'match.go:281'),
      `Defaulting external address to interface address (${ip4String(ifaceAddr)})`,
    );
    extAddr = ifaceAddr;
  }
  return { iface, ifaceAddr, extAddr };
}

/** main's interface choice: --iface (names or IPs), then --iface-regex, then (v0.20) --iface-can-reach. */
export async function findExtIface(opts: FlagSet): Promise<ExtIface> {
  const ifaces = opts.get('iface');
  const ifaceRegexes = opts.get('iface-regex');
  const canReach = V020 ? opts.get('iface-can-reach') : '';
  if (ifaces.length === 0 && ifaceRegexes.length === 0 && !canReach) {
    try {
      return await lookupExtIface('', '', opts.get('public-ip'));
    } catch (e) {
      log.error(T('main.go:202', 'main.go:285'), `Failed to find any valid interface to use: ${(e as Error).message}`);
      process.exit(1);
    }
  }
  for (const name of ifaces) {
    try {
      return await lookupExtIface(name, '', opts.get('public-ip'));
    } catch (e) {
      log.info(
        T('main.go:210', 'main.go:293'),
        `Could not find valid interface matching ${name}: ${(e as Error).message}`,
      );
    }
  }
  for (const re of ifaceRegexes) {
    try {
      return await lookupExtIface('', re, opts.get('public-ip'));
    } catch (e) {
      log.info(
        T('main.go:223', 'main.go:305'),
        `Could not find valid interface matching ${re}: ${(e as Error).message}`,
      );
    }
  }
  if (canReach) {
    try {
      const [route] = await ipJson<IpRoute>(['-4', 'route', 'get', canReach]);
      return await lookupExtIface(route!.dev!, '', opts.get('public-ip'));
    } catch (e) {
      log.info(
        'main.go:316',
        `Could not find valid interface matching ifaceCanReach: ${canReach}: ${(e as Error).message}`,
      );
    }
  }
  log.error(
    T('main.go:234', 'main.go:322'),
    'Failed to find interface to use that matches the interfaces and/or regexes provided',
  );
  process.exit(1);
}
