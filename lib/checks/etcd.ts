// etcd: does it answer over TLS with the node's certs (through the API the node's flannel
// speaks), and does it hold the network config, in the key space flannel reads, equal to the
// cluster file's.

import { diffNetworkConfig } from '../model/netconfig.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface ReachableDetail {
  readonly api: 'v2' | 'v3';
  readonly leases: number;
}
export type ConfigDetail =
  | { readonly state: 'missing' }
  | { readonly state: 'invalid'; readonly error: string; readonly config: string }
  | { readonly state: 'differs'; readonly differences: readonly string[]; readonly config: string }
  | { readonly state: 'ok'; readonly config: string };

export const ETCD_REACHABLE = checkKey<ReachableDetail>('etcd.reachable');
export const ETCD_CONFIG = checkKey<ConfigDetail>('etcd.config');

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  if (!ctx.etcd) {
    const b = ctx.etcdBlocker!;
    return [{ id: ETCD_REACHABLE.id, status: 'error', reason: b.error, blockedBy: b }, cannot(ETCD_CONFIG.id, b)];
  }
  const out: Check[] = [
    ok<ReachableDetail>(ETCD_REACHABLE.id, `etcd answered (${e.api} API, ${ctx.etcd.leases.length} leases)`, {
      api: e.api,
      leases: ctx.etcd.leases.length,
    }),
  ];
  const text = ctx.etcd.config;
  if (text === undefined) {
    out.push(
      drift<ConfigDetail>(
        ETCD_CONFIG.id,
        `no network config at ${e.prefix}/config in the ${e.api} key space (the one flannel reads): flanneld waits forever`,
        { detail: { state: 'missing' } },
      ),
    );
  } else if (!ctx.config) {
    out.push(
      drift<ConfigDetail>(ETCD_CONFIG.id, `config in etcd is not valid for flannel: ${ctx.configError}`, {
        detail: { state: 'invalid', error: ctx.configError ?? '', config: text },
        evidence: [text],
      }),
    );
  } else {
    const differences = e.desiredConfig ? diffNetworkConfig(text, e.desiredConfig) : [];
    out.push(
      differences.length
        ? drift<ConfigDetail>(ETCD_CONFIG.id, `config differs from the cluster file: ${differences.join('; ')}`, {
            detail: { state: 'differs', differences, config: text },
            evidence: [text],
          })
        : ok<ConfigDetail>(ETCD_CONFIG.id, text, { state: 'ok', config: text }),
    );
  }
  return out;
}

export const etcdChecks: CheckArea = { name: 'etcd', ids: [ETCD_REACHABLE.id, ETCD_CONFIG.id], fixStage: 3, run };
