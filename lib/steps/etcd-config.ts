// Runbook step 3, etcd-config (once per cluster): the network config written through the API
// the cluster's flannel reads (v2 for v0.11-v0.17, v3 from v0.18), after flannel's own checks,
// create-only or compare-and-swap. A different existing config is not replaced without --force.
//   desiredConfig(values, cluster) -> the config text (flags, else the cluster file's)
//   planConfigWrite(desired, state, force) -> nothing to do / refused / create / replace (pure)

import { invalid, UsageError } from '../core/errors.ts';
import type { Cluster } from '../model/cluster.ts';
import {
  diffNetworkConfig,
  formatNetworkConfig,
  parseNetworkConfig,
  type NetworkConfigSpec,
} from '../model/netconfig.ts';
import type { NetworkState } from '../host/network-store.ts';

export interface ConfigValues {
  readonly network?: string;
  readonly backend?: string;
  readonly 'direct-routing'?: boolean;
  readonly vni?: number;
  readonly 'subnet-len'?: number;
}

const needs = (flag: string, example: string) =>
  new UsageError(`${flag}: required; pass it, or --cluster FILE (with --node NAME), e.g. ${flag} ${example}`);

/** The config etcd must hold: from the flags when they give a backend (or there is no cluster file), else the cluster file's. */
export function desiredConfig(v: ConfigValues, cluster?: Pick<Cluster, 'network' | 'backend' | 'subnetLen'>): string {
  const network = v.network ?? cluster?.network.toString();
  if (!network) throw needs('--network', '172.7.0.0/16');
  if (v.backend === undefined && !cluster) throw needs('--backend', 'host-gw');
  if (v.backend !== undefined || !cluster) {
    const type = String(v.backend).toLowerCase();
    if (v['direct-routing'] && type !== 'vxlan')
      throw invalid(
        '--direct-routing',
        true,
        `applies to the vxlan backend, not ${type}`,
        '--backend vxlan --direct-routing',
      );
    if (v.vni !== undefined && type !== 'vxlan')
      throw invalid('--vni', v.vni, `applies to the vxlan backend, not ${type}`, '--backend vxlan --vni 1');
    const spec: NetworkConfigSpec = {
      network,
      ...(v['subnet-len'] !== undefined && { subnetLen: v['subnet-len'] }),
      backend: {
        type,
        ...(v['direct-routing'] === true && { directRouting: true }),
        ...(v.vni !== undefined && { vni: v.vni }),
      },
    };
    return formatNetworkConfig(spec);
  }
  // from the cluster file: its Backend object as written (runbook spellings accepted)
  return formatNetworkConfig(
    parseNetworkConfig(
      JSON.stringify({
        Network: network,
        ...(cluster.subnetLen && { SubnetLen: cluster.subnetLen }),
        Backend: cluster.backend,
      }),
    ),
  );
}

export type ConfigWrite =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'refused'; readonly differences: readonly string[] }
  | { readonly kind: 'create'; readonly why: string }
  | {
      readonly kind: 'replace';
      readonly differences: readonly string[];
      readonly version?: string;
      readonly why: string;
    };

export function planConfigWrite(desired: string, state: NetworkState, force: boolean): ConfigWrite {
  if (state.config === undefined)
    return {
      kind: 'create',
      why: `create the network config through the ${state.api} API, only if nobody created it meanwhile`,
    };
  // a config flannel cannot use is replaced like any other different one (doctor's config.invalid fix)
  let differences: string[];
  try {
    differences = diffNetworkConfig(state.config, desired);
  } catch (err) {
    differences = [`the config in etcd is not valid: ${(err as Error).message}`];
  }
  if (differences.length === 0) return { kind: 'nothing' };
  if (!force) return { kind: 'refused', differences };
  return {
    kind: 'replace',
    differences,
    ...(state.configVersion !== undefined && { version: state.configVersion }),
    why: `replace the network config (${differences.join('; ')}) only if it is still the one we read (index ${state.configVersion})`,
  };
}
