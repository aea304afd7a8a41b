// This node's lease: it exists with the node's public IP and subnet and is being renewed; no
// second lease carries this IP; no other IP holds this subnet.

import type { CheckContext } from './context.ts';
import { cannot, checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface OwnDetail {
  /** subnets this IP holds (none, ours, or others) */
  readonly held: readonly string[];
  readonly keys: readonly string[];
}
export interface TtlDetail {
  readonly ttl?: number;
}
export interface DuplicateDetail {
  readonly subnets: readonly string[];
  readonly keys: readonly string[];
}
export interface TakenDetail {
  readonly holder?: { readonly publicIp: string; readonly key: string };
}

export const LEASE_OWN = checkKey<OwnDetail>('lease.own');
export const LEASE_TTL = checkKey<TtlDetail>('lease.ttl');
export const LEASE_DUPLICATE_IP = checkKey<DuplicateDetail>('lease.duplicate-ip');
export const LEASE_SUBNET_TAKEN = checkKey<TakenDetail>('lease.subnet-taken');
const IDS = [LEASE_OWN.id, LEASE_TTL.id, LEASE_DUPLICATE_IP.id, LEASE_SUBNET_TAKEN.id];

/** flanneld renews a lease 60 min before it expires: less left means nobody renews it. */
const RENEW_MARGIN_S = 3600;

function run(ctx: CheckContext): Check[] {
  if (!ctx.etcd) return IDS.map((id) => cannot(id, ctx.etcdBlocker!));
  const e = ctx.expect;
  const { mine, own, leases } = ctx;
  const held = { held: mine.map((l) => l.subnet.toString()), keys: mine.map((l) => l.key) };
  const out: Check[] = [];
  if (own) out.push(ok<OwnDetail>(LEASE_OWN.id, `${own.subnet} -> ${own.publicIp} (${own.backendType})`, held));
  else if (mine.length)
    out.push(
      drift<OwnDetail>(
        LEASE_OWN.id,
        `${e.publicIp} holds ${held.held.join(', ')}, not ${e.subnet}: docker0 and the lease disagree`,
        { detail: held, evidence: held.keys },
      ),
    );
  else
    out.push(
      drift<OwnDetail>(
        LEASE_OWN.id,
        `no lease for ${e.publicIp} in etcd (${e.api}): flanneld is not running, or cannot reach etcd`,
        { detail: held },
      ),
    );

  const l = own ?? mine[0];
  if (!l) out.push(drift<TtlDetail>(LEASE_TTL.id, 'no lease, no TTL', { detail: {} }));
  else if (l.ttl === undefined)
    out.push(
      ok<TtlDetail>(LEASE_TTL.id, l.api === 'v3' ? 'v3 lease grant (TTL not read)' : 'no TTL: a reservation', {}),
    );
  else if (l.ttl < RENEW_MARGIN_S)
    out.push(
      drift<TtlDetail>(
        LEASE_TTL.id,
        `${l.ttl}s left: flanneld renews an hour before expiry, so it is not renewing (stopped?)`,
        { detail: { ttl: l.ttl } },
      ),
    );
  else out.push(ok<TtlDetail>(LEASE_TTL.id, `${Math.round(l.ttl / 3600)}h left`, { ttl: l.ttl }));

  out.push(
    mine.length > 1
      ? drift<DuplicateDetail>(
          LEASE_DUPLICATE_IP.id,
          `${e.publicIp} holds ${mine.length} leases: ${held.held.join(', ')}`,
          {
            detail: { subnets: held.held, keys: held.keys },
            evidence: held.keys,
          },
        )
      : ok<DuplicateDetail>(LEASE_DUPLICATE_IP.id, 'one lease for this IP at most', {
          subnets: held.held,
          keys: held.keys,
        }),
  );
  const taken = leases.find((x) => x.subnet.equals(e.subnet) && !x.publicIp.equals(e.publicIp));
  out.push(
    taken
      ? drift<TakenDetail>(LEASE_SUBNET_TAKEN.id, `${e.subnet} is leased to ${taken.publicIp}, not this node`, {
          detail: { holder: { publicIp: taken.publicIp.toString(), key: taken.key } },
          evidence: [taken.key],
        })
      : ok<TakenDetail>(LEASE_SUBNET_TAKEN.id, `${e.subnet} is not held by another IP`, {}),
  );
  return out;
}

export const leaseChecks: CheckArea = { name: 'lease', ids: IDS, fixStage: 3, run };
