// What several rules share: a drift check that is not ok, a lease as evidence, subnet.env read
// leniently (a broken one is drift's finding, not a reason to stop diagnosing).

import type { Check } from '../../checks/types.ts';
import type { Lease } from '../../model/lease.ts';
import { parseSubnetEnv, type SubnetEnv } from '../../model/subnet-env.ts';

export function wrong(checks: readonly Check[], id: string): Check | undefined {
  const c = checks.find((x) => x.id === id);
  return c && c.status !== 'ok' ? c : undefined;
}

export const leaseLine = (l: Lease) =>
  `${l.key} -> PublicIP ${l.publicIp}${l.backendType ? ` (${l.backendType})` : ''}${l.ttl !== undefined ? `, ttl ${l.ttl}s` : ''}`;

export function parseEnv(text: string | undefined): SubnetEnv | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSubnetEnv(text);
  } catch {
    return undefined;
  }
}
