// Reverse-path filtering: the kernel drops a packet in strict mode (rp_filter=1) when the route
// back to its source leaves by another interface than it came in on. With vxlan and
// DirectRouting the two directions of one pod flow can take different interfaces (a node that
// reaches its peer directly while the peer sends through flannel.1), so strict mode there loses
// pod traffic (failure case C36); loose mode (2) keeps the spoofing check without that. The
// kernel uses the larger of `all` and the interface's value. Per network namespace, read from
// /proc/sys/net/ipv4/conf/*/rp_filter.

import type { CheckContext } from './context.ts';
import { checkKey, ok, drift, type Check, type CheckArea } from './types.ts';

export interface RpFilterDetail {
  /** the interfaces pod traffic comes in on, with the value the kernel applies */
  readonly effective: readonly { readonly dev: string; readonly value: number }[];
  /** the switches to set to 2 (`all` and/or the interfaces set to 1) */
  readonly strict: readonly string[];
  /** why paths can be asymmetric here */
  readonly asymmetric?: string;
}

export const SYSCTL_RP_FILTER = checkKey<RpFilterDetail>('sysctl.rp-filter');

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const rp = ctx.obs.files.rpFilter;
  const backend = ctx.config?.backend;
  if (!rp || !backend)
    return [
      ok<RpFilterDetail>(SYSCTL_RP_FILTER.id, 'not judged (no rp_filter values or no config)', {
        effective: [],
        strict: [],
      }),
    ];
  const vxlanDev = `flannel.${backend.vni ?? 1}`;
  const devs = [e.iface, ...(backend.type === 'vxlan' ? [vxlanDev] : [])].filter((d) => rp[d] !== undefined);
  const all = Number(rp.all ?? 0);
  const effective = devs.map((dev) => ({ dev, value: Math.max(all, Number(rp[dev] ?? 0)) }));
  const asymmetric =
    backend.type === 'vxlan' && backend.directRouting
      ? `vxlan with DirectRouting: a flow can go out directly on ${e.iface} and come back through ${vxlanDev} (each node decides by its own routes)`
      : undefined;
  const strictDevs = effective.filter((x) => x.value === 1);
  const strict = [...(all === 1 ? ['all'] : []), ...devs.filter((d) => rp[d] === '1')];
  const detail: RpFilterDetail = { effective, strict, ...(asymmetric && { asymmetric }) };
  const values = effective.map((x) => `${x.dev} ${x.value}`).join(', ');
  return [
    asymmetric && strictDevs.length
      ? drift<RpFilterDetail>(
          SYSCTL_RP_FILTER.id,
          `strict rp_filter (1) on ${strictDevs.map((x) => x.dev).join(', ')} where paths can be asymmetric (${asymmetric}): the kernel drops such pod packets`,
          {
            detail,
            evidence: [
              `net.ipv4.conf.all.rp_filter = ${all}`,
              ...devs.map((d) => `net.ipv4.conf.${d}.rp_filter = ${rp[d]}`),
            ],
          },
        )
      : ok<RpFilterDetail>(
          SYSCTL_RP_FILTER.id,
          `rp_filter ${values || 'not set'}${asymmetric ? '' : ' (paths are symmetric with this backend)'}`,
          detail,
        ),
  ];
}

export const rpFilterChecks: CheckArea = { name: 'rp-filter', ids: [SYSCTL_RP_FILTER.id], fixStage: 3, run };
