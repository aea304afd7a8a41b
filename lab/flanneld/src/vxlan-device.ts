// backend/vxlan/device.go: the flannel.<VNI> vxlan link (created, reused when compatible with its
// MAC and entries kept, recreated when not), its /32 address and link state, and the permanent
// neighbour and fdb entries per peer.
import { log } from './glog.ts';
import { GoError } from './go-errors.ts';
import { goQuote } from './go-json.ts';
import { bridgePath, type CmdResult, checked, type IpLink, ipJson, netlinkErrText, runCmd } from './host-commands.ts';
import { type IP4Net, ip4String } from './ip4.ts';
import { fs } from './node-builtins.ts';
import { forgetLinkNames } from './routes.ts';
import { T } from './version.ts';

/** The port the kernel uses when flannel leaves Port at 0 (flannel never sets it then). */
const VXLAN_KERNEL_PORT = 8472;

/** vxlanDeviceAttrs: the device flannel wants. */
export interface VxlanDeviceAttrs {
  /** flannel.<VNI> */
  name: string;
  vni: number;
  vtepIndex: number;
  /** the external interface's name */
  vtepDev: string;
  /** the external interface's address (ip.IP4) */
  vtepAddr: number;
  /** 0: the kernel's default */
  port: number;
  gbp: boolean;
  learning: boolean;
}

/** `ip -d -j link show`'s linkinfo.info_data of a vxlan link. */
interface VxlanInfoData {
  id?: number;
  link?: string;
  linkIndex?: number;
  local?: string;
  port?: number;
  gbp?: boolean;
}

/** device.go's vxlanLinksIncompat: what makes an existing flannel.<VNI> unusable (empty: reusable). */
function vxlanLinksIncompat(want: VxlanDeviceAttrs, link: IpLink): string {
  const kind = link.linkinfo?.info_kind ?? 'device';
  if (kind !== 'vxlan') return `link type: vxlan vs ${kind}`;
  const d: VxlanInfoData = link.linkinfo!.info_data ?? {};
  if (d.id !== want.vni) return `vni: ${want.vni} vs ${d.id}`;
  if (d.link && d.link !== want.vtepDev)
    return `vtep (external) interface: ${want.vtepIndex} vs ${d.linkIndex ?? d.link}`;
  if (d.local && d.local !== ip4String(want.vtepAddr))
    return `vtep (external) IP: ${ip4String(want.vtepAddr)} vs ${d.local}`;
  if (want.port > 0 && d.port! > 0 && d.port !== want.port) return `port: ${want.port} vs ${d.port}`;
  if (Boolean(d.gbp) !== want.gbp) return `gbp: ${want.gbp} vs ${Boolean(d.gbp)}`;
  return '';
}

/** backend/vxlan/device.go: the flannel.<VNI> link, its /32 address, neighbour and fdb entries. */
export class VxlanDevice {
  /** DirectRouting: peers on the same L2 get a host-gw route instead */
  directRouting = false;

  constructor(
    readonly name: string,
    readonly index: number,
    /** the VTEP MAC that goes into the lease */
    readonly mac: string,
    readonly mtu: number,
  ) {}

  /** newVXLANDevice + ensureLink: created, or an existing compatible one reused (MAC kept). */
  static async ensure(a: VxlanDeviceAttrs): Promise<VxlanDevice> {
    const add = (): Promise<CmdResult> =>
      runCmd([
        'ip',
        'link',
        'add',
        a.name,
        // netlink sends the Go zero value: no transmit queue, as on the real node
        'txqueuelen',
        '0',
        'type',
        'vxlan',
        'id',
        String(a.vni),
        'local',
        ip4String(a.vtepAddr),
        'dev',
        a.vtepDev,
        'dstport',
        String(a.port || VXLAN_KERNEL_PORT),
        a.learning ? 'learning' : 'nolearning',
        ...(a.gbp ? ['gbp'] : []),
      ]);
    let r = await add();
    if (r.code !== 0 && /File exists/i.test(r.stderr)) {
      const [existing] = await ipJson<IpLink>(['-d', 'link', 'show', 'dev', a.name]);
      const incompat = vxlanLinksIncompat(a, existing!);
      if (incompat !== '') {
        log.warn(
          T('device.go:95', 'device.go:118'),
          `${goQuote(a.name)} already exists with incompatable configuration: ${incompat}; recreating device`,
        );
        const del = await runCmd(['ip', 'link', 'del', a.name]);
        if (del.code !== 0) throw new GoError(`failed to delete interface: ${netlinkErrText(del.stderr)}`);
        r = await add();
        if (r.code !== 0) throw new GoError(`failed to create vxlan interface: ${netlinkErrText(r.stderr)}`);
      }
    } else if (r.code !== 0) {
      throw new GoError(netlinkErrText(r.stderr));
    }
    try {
      fs.writeFileSync(`/proc/sys/net/ipv6/conf/${a.name}/accept_ra`, '0');
    } catch {
      // sysctl.Sysctl's error is ignored
    }
    const [link] = await ipJson<IpLink>(['link', 'show', 'dev', a.name]);
    forgetLinkNames();
    return new VxlanDevice(a.name, link!.ifindex, link!.address!, link!.mtu!);
  }

  /** Configure: ip.EnsureV4AddressOnLink(lease/32), then up. */
  async configure(ipn: IP4Net): Promise<void> {
    const want = ipn.toString();
    try {
      const [link] = await ipJson<IpLink>(['-4', 'addr', 'show', 'dev', this.name]);
      const addrs = (link?.addr_info ?? []).filter((x) => x.family === 'inet');
      if (addrs.length > 1)
        throw new GoError(`link has incompatible addresses. Remove additional addresses and try again. ${this.name}`);
      if (addrs.length === 1 && `${addrs[0]!.local}/${addrs[0]!.prefixlen}` !== want) {
        const del = await runCmd(['ip', 'addr', 'del', `${addrs[0]!.local}/${addrs[0]!.prefixlen}`, 'dev', this.name]);
        if (del.code !== 0)
          throw new GoError(`failed to remove IP address ${want} from ${this.name}: ${netlinkErrText(del.stderr)}`);
        addrs.length = 0;
      }
      if (addrs.length === 0) {
        const add = await runCmd(['ip', 'addr', 'add', want, 'dev', this.name]);
        if (add.code !== 0)
          throw new GoError(`failed to add IP address ${want} to ${this.name}: ${netlinkErrText(add.stderr)}`);
      }
    } catch (e) {
      throw new GoError(`failed to ensure address of interface ${this.name}: ${(e as Error).message}`);
    }
    const up = await runCmd(['ip', 'link', 'set', this.name, 'up']);
    if (up.code !== 0)
      throw new GoError(`failed to set interface ${this.name} to UP state: ${netlinkErrText(up.stderr)}`);
  }

  /** NeighSet, NUD_PERMANENT: the remote VTEP's MAC for its subnet address. */
  addARP(ip: string, mac: string): Promise<CmdResult> {
    return checked(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', this.name, 'nud', 'permanent']);
  }

  delARP(ip: string, mac: string): Promise<CmdResult> {
    return checked(['ip', 'neigh', 'del', ip, 'lladdr', mac, 'dev', this.name]);
  }

  /** NeighSet AF_BRIDGE, NTF_SELF: where to send frames for that MAC. */
  addFDB(ip: string, mac: string): Promise<CmdResult> {
    return checked([bridgePath(), 'fdb', 'replace', mac, 'dev', this.name, 'dst', ip, 'self', 'permanent']);
  }

  delFDB(ip: string, mac: string): Promise<CmdResult> {
    return checked([bridgePath(), 'fdb', 'del', mac, 'dev', this.name, 'dst', ip, 'self']);
  }
}
