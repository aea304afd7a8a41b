// net.ipv4.ip_forward: per network namespace, off by default; without it the node forwards
// no pod traffic at all.

import type { CheckContext } from './context.ts';
import { cannot, checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface IpForwardDetail {
  readonly value: string;
}

export const SYSCTL_IP_FORWARD = checkKey<IpForwardDetail>('sysctl.ip-forward');

function run(ctx: CheckContext): Check[] {
  const v = ctx.obs.files.ipForward;
  if (v === undefined)
    return [
      cannot(SYSCTL_IP_FORWARD.id, {
        kind: 'observation',
        what: '/proc/sys/net/ipv4/ip_forward',
        error: 'cannot read /proc/sys/net/ipv4/ip_forward',
      }),
    ];
  return [
    v === '1'
      ? ok<IpForwardDetail>(SYSCTL_IP_FORWARD.id, 'net.ipv4.ip_forward = 1', { value: v })
      : drift<IpForwardDetail>(SYSCTL_IP_FORWARD.id, `net.ipv4.ip_forward = ${v}: this node forwards no pod traffic`, {
          detail: { value: v },
        }),
  ];
}

export const sysctlChecks: CheckArea = { name: 'sysctl', ids: [SYSCTL_IP_FORWARD.id], fixStage: 3, run };
