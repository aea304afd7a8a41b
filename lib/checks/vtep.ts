// vxlan only, this node's own VTEP: flannel.<VNI>'s MAC is the VtepMAC its lease publishes (peers
// address their frames to that MAC: systemd-udev giving the device another one after flanneld
// published it makes the device drop them, failure case C28), and the device carries one IPv4
// address (v0.11.0 refuses to start on a flannel.1 with more: `link has incompatible addresses`,
// C27; an old lease's /32 or dhcpcd's address). The device itself is vxlan.ts's.

import { run as runAction } from '../core/plan.ts';
import { findInterface } from '../model/interfaces.ts';
import type { CheckContext } from './context.ts';
import { checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface VtepMacDetail {
  readonly dev: string;
  /** the device's MAC */
  readonly mac?: string;
  /** the VtepMAC this node's lease publishes */
  readonly leaseMac?: string;
}
export interface VtepAddressesDetail {
  readonly dev: string;
  /** the address flanneld gives it: the lease's network address /32 */
  readonly want: string;
  /** IPv4 addresses besides that one */
  readonly extra: readonly string[];
}

export const VXLAN_VTEP_MAC = checkKey<VtepMacDetail>('vxlan.vtep-mac');
export const VXLAN_ADDRESSES = checkKey<VtepAddressesDetail>('vxlan.addresses');
const IDS = [VXLAN_VTEP_MAC.id, VXLAN_ADDRESSES.id];

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const backend = ctx.config?.backend ?? (ctx.configBlocker ? ctx.desired?.backend : undefined);
  const name = `flannel.${backend?.vni ?? 1}`;
  const dev = ctx.ifaces ? findInterface(ctx.ifaces, name) : undefined;
  if (backend?.type !== 'vxlan' || !dev)
    return IDS.map((id) =>
      ok(id, backend?.type === 'vxlan' ? `no ${name} (see vxlan.device)` : 'not the vxlan backend: no VTEP'),
    );
  const leaseMac = ctx.own?.vtepMac?.toLowerCase();
  const mac = dev.mac?.toLowerCase();
  const macDetail: VtepMacDetail = { dev: name, ...(mac && { mac }), ...(leaseMac && { leaseMac }) };
  const want = e.subnet.network().ip.toString();
  const extra = dev.addrs.filter((a) => !(a.ip.toString() === want && a.prefix === 32)).map(String);
  const addrDetail: VtepAddressesDetail = { dev: name, want: `${want}/32`, extra };
  return [
    leaseMac && mac && leaseMac !== mac
      ? drift<VtepMacDetail>(
          VXLAN_VTEP_MAC.id,
          `${name} has MAC ${mac}, but this node's lease publishes VtepMAC ${leaseMac}: peers send to ${leaseMac}, which ${name} drops`,
          { detail: macDetail, evidence: [`${name} link/ether ${mac}`, `${ctx.own!.key}: VtepMAC ${leaseMac}`] },
        )
      : ok<VtepMacDetail>(VXLAN_VTEP_MAC.id, `${name} MAC ${mac ?? '?'} is the lease's VtepMAC`, macDetail),
    extra.length && dev.addrs.length > 1
      ? drift<VtepAddressesDetail>(
          VXLAN_ADDRESSES.id,
          `${name} carries ${extra.join(', ')} besides ${want}/32: flanneld v0.11 refuses to start on it (link has incompatible addresses)`,
          {
            detail: addrDetail,
            evidence: dev.addrs.map((a) => `${name} inet ${a}`),
            fix: extra.map((a) =>
              runAction({
                argv: ['ip', 'addr', 'del', a, 'dev', name],
                why: `${name} is flanneld's: it takes one address, ${want}/32`,
              }),
            ),
          },
        )
      : ok<VtepAddressesDetail>(VXLAN_ADDRESSES.id, `${name} has one IPv4 address`, addrDetail),
  ];
}

// before flanneld is started again (stage 3): its start fails while the extra address is there
export const vtepChecks: CheckArea = { name: 'vtep', ids: IDS, fixStage: 0, run };
