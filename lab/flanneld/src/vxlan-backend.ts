// backend/vxlan/vxlan.go: the backend config (VNI, Port, GBP, DirectRouting; v0.20.2 also
// Learning) decoded like Go, the device made before the lease (its MAC goes into the lease's
// BackendData), then the lease's /32 on the device. subnet.env's MTU: the device's (v0.11.0), the
// interface's minus 50 (v0.20.2).
import type { Backend, Network } from './backend-types.ts';
import type { ExtIface } from './ext-iface.ts';
import { log } from './glog.ts';
import { isCanceled } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { type JsonObject, jsonField } from './go-json.ts';
import { IP4Net } from './ip4.ts';
import type { NetworkConfig } from './network-config.ts';
import type { LocalManager } from './subnet-manager.ts';
import type { Lease, LeaseAttrs } from './subnet-lease.ts';
import { V020 } from './version.ts';
import { VxlanDevice } from './vxlan-device.ts';
import { VxlanNetwork } from './vxlan-network.ts';

/** The backend's options (v0.11.0 has no Learning: always false there). */
interface VxlanConfig {
  VNI: number;
  Port: number;
  GBP: boolean;
  Learning: boolean;
  DirectRouting: boolean;
}

/** vxlan encapsulation overhead: the device's MTU is the external interface's minus this. */
const VXLAN_OVERHEAD = 50;

/** backend/vxlan's config struct, decoded like Go's json.Unmarshal (case-insensitive names, type errors). */
function parseVxlanConfig(backend: unknown): VxlanConfig {
  const cfg: VxlanConfig = { VNI: 1, Port: 0, GBP: false, Learning: false, DirectRouting: false };
  if (backend === undefined || backend === null) return cfg;
  const fields: (keyof VxlanConfig)[] = V020
    ? ['VNI', 'Port', 'GBP', 'Learning', 'DirectRouting']
    : ['VNI', 'Port', 'GBP', 'DirectRouting'];
  for (const f of fields) {
    const v = jsonField(backend as JsonObject, f);
    if (v === undefined || v === null) continue;
    const isInt = f === 'VNI' || f === 'Port';
    const ok = isInt ? typeof v === 'number' && Number.isInteger(v) : typeof v === 'boolean';
    if (!ok) {
      const what =
        typeof v === 'number' ? `number ${v}` : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v;
      throw new GoError(
        `error decoding VXLAN backend config: json: cannot unmarshal ${what} into Go struct field .${f} of type ${isInt ? 'int' : 'bool'}`,
      );
    }
    (cfg as unknown as Record<string, unknown>)[f] = v;
  }
  return cfg;
}

/** backend/vxlan/vxlan.go: the device first (its MAC goes into the lease), then the lease. */
export class VXLANBackend implements Backend {
  constructor(
    private readonly sm: LocalManager,
    private readonly extIface: ExtIface,
  ) {}

  async registerNetwork(signal: AbortSignal, config: NetworkConfig): Promise<Network> {
    const cfg = parseVxlanConfig(config.backend);
    if (V020)
      log.info(
        'vxlan.go:138',
        `VXLAN config: VNI=${cfg.VNI} Port=${cfg.Port} GBP=${cfg.GBP} Learning=${cfg.Learning} DirectRouting=${cfg.DirectRouting}`,
      );
    else
      log.info(
        'vxlan.go:120',
        `VXLAN config: VNI=${cfg.VNI} Port=${cfg.Port} GBP=${cfg.GBP} DirectRouting=${cfg.DirectRouting}`,
      );
    const { iface, ifaceAddr, extAddr } = this.extIface;
    const dev = await VxlanDevice.ensure({
      name: `flannel.${cfg.VNI}`,
      vni: cfg.VNI,
      vtepIndex: iface.index,
      vtepDev: iface.name,
      vtepAddr: ifaceAddr,
      port: cfg.Port,
      gbp: cfg.GBP,
      learning: cfg.Learning,
    });
    dev.directRouting = cfg.DirectRouting;
    const attrs: LeaseAttrs = {
      PublicIP: extAddr,
      BackendType: 'vxlan',
      BackendData: V020 ? { VNI: cfg.VNI, VtepMAC: dev.mac } : { VtepMAC: dev.mac },
    };
    let lease: Lease;
    try {
      lease = await this.sm.acquireLease(attrs, signal);
    } catch (e) {
      if (isCanceled(e)) throw e;
      throw new GoError(`failed to acquire lease: ${(e as Error).message}`);
    }
    // a /32 so that no broadcast route is created: only a source address for host -> pod traffic
    try {
      await dev.configure(new IP4Net(lease.subnet.ip, 32));
    } catch (e) {
      throw new GoError(`failed to configure interface ${dev.name}: ${(e as Error).message}`);
    }
    // v0.11.0 reports the device's MTU (the kernel's lower MTU - 50); v0.20.2 computes it
    return new VxlanNetwork({
      sm: this.sm,
      extIface: this.extIface,
      dev,
      lease,
      mtu: V020 ? iface.mtu - VXLAN_OVERHEAD : dev.mtu,
    });
  }
}
