// backend.Manager's lookup: backend constructors by (lower-case) type. host-gw and vxlan are
// played; the other types real flanneld has stop with "backend type X is not implemented by the
// lab's flanneld stand-in" (exit 1). A new backend goes in BACKENDS.
import type { Backend } from './backend-types.ts';
import type { ExtIface } from './ext-iface.ts';
import { GoError } from './go-errors.ts';
import { HostGwBackend } from './host-gw.ts';
import type { LocalManager } from './subnet-manager.ts';
import { V020 } from './version.ts';
import { VXLANBackend } from './vxlan-backend.ts';

type BackendConstructor = new (sm: LocalManager, extIface: ExtIface) => Backend;

/** Backend constructors by (lower-case) type, as backend.Manager looks them up. */
const BACKENDS: Record<string, BackendConstructor> = { 'host-gw': HostGwBackend, vxlan: VXLANBackend };

/** The types real flanneld has that the stand-in does not play. */
const REAL_BACKENDS_NOT_BUILT = [
  'udp',
  'alloc',
  'ipip',
  'ipsec',
  'aws-vpc',
  'gce',
  'ali-vpc',
  'extension',
  ...(V020 ? ['wireguard', 'tencent-vpc'] : []),
];

/** backend.Manager.GetBackend. */
export function getBackend(sm: LocalManager, extIface: ExtIface, backendType: string): Backend {
  const betype = backendType.toLowerCase();
  const ctor = BACKENDS[betype];
  if (!ctor) {
    if (REAL_BACKENDS_NOT_BUILT.includes(betype))
      throw new GoError(
        `backend type ${betype} is not implemented by the lab's flanneld stand-in (lab/flanneld/src/backends.ts)`,
      );
    throw new GoError(`unknown backend type: ${betype}`);
  }
  return new ctor(sm, extIface);
}
