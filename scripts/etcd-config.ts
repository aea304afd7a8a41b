#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// etcd-config: runbook step 3, once per cluster. Writes the flannel network config
// (`<prefix>/config`) through the etcd API the cluster's flannel reads (v0.11.0: v2 — a
// config written with `etcdctl put` (v3) is invisible to it), after checking it as flannel
// would; reads it back and shows the leases.
// Refuses to replace a different config unless --force (and says what differs); writes with
// compare-and-swap, so two writers cannot clobber each other. Idempotent: same config -> nothing to do.
// --migrate v2-to-v3 copies the config (not the leases) for an upgrade to flannel >= v0.18.
// Exit: 0 written / nothing to do, 1 a different config is there (not replaced),
//       2 bad input (nothing changed), 3 etcd unreachable / TLS / write failed.

import { commonFlags, defineFlags, etcdFlags, required } from '../lib/flags.ts';
import { invalid, UsageError, ExitCode } from '../lib/errors.ts';
import {
  diffNetworkConfig,
  formatNetworkConfig,
  parseNetworkConfig,
  type NetworkConfigSpec,
} from '../lib/netconfig.ts';
import {
  connectionFor,
  readNetworkState,
  storeTarget,
  writeConfigCommand,
  writeNetworkConfig,
  type NetworkState,
} from '../lib/network-store.ts';
import { formatScript } from '../lib/runner.ts';
import { traceChange } from '../lib/plan.ts';
import { isEntryPoint, loadSettings, report, runScript } from '../lib/script.ts';
import { formatLeaseTable } from '../lib/lease-report.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  network: { type: 'string', placeholder: 'CIDR', help: 'the flannel (pod) network', example: '172.7.0.0/16' },
  backend: {
    type: 'string',
    placeholder: 'TYPE',
    help: 'backend type: host-gw (one L2 segment) or vxlan (any IP network)',
    example: 'host-gw',
  },
  'direct-routing': { type: 'boolean', help: 'vxlan only: host-gw style routes to peers on the same L2 segment' },
  'subnet-len': {
    type: 'number',
    min: 1,
    max: 30,
    placeholder: 'N',
    help: "each node's subnet prefix length (flannel's default: 24, or network prefix + 2)",
  },
  vni: { type: 'number', min: 1, max: 16777215, placeholder: 'N', help: 'vxlan only: VXLAN id (default 1)' },
  force: {
    type: 'boolean',
    help: 'replace a different existing config (nodes keep their leases; restart flanneld on every node)',
  },
  migrate: {
    type: 'string',
    choices: ['v2-to-v3'],
    placeholder: 'HOW',
    help: 'copy the config from the v2 key space to v3 (for flannel >= v0.18); leases are not copied',
  },
});

const info = {
  name: 'etcd-config',
  summary:
    "Runbook step 3: write the flannel network config to etcd through the API the cluster's flannel reads, with compare-and-swap.",
  example:
    'scripts/etcd-config.ts --network 172.7.0.0/16 --backend host-gw --endpoints https://10.4.7.12:2379 --cafile ca.pem --certfile client.pem --keyfile client-key.pem',
  perNode: false,
};

function desiredSpec(
  v: Record<string, unknown>,
  cluster:
    | { network: { toString(): string }; backend: Readonly<Record<string, unknown>>; subnetLen?: number }
    | undefined,
): string {
  const network = (v.network as string | undefined) ?? cluster?.network.toString();
  if (!network) return required<string>(undefined, '--network', '172.7.0.0/16');
  if (v.backend === undefined && !cluster) required<string>(undefined, '--backend', 'host-gw');
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
      ...(v['subnet-len'] !== undefined && { subnetLen: v['subnet-len'] as number }),
      backend: {
        type,
        ...(v['direct-routing'] === true && { directRouting: true }),
        ...(v.vni !== undefined && { vni: v.vni as number }),
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

export async function main(argv: string[]): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster } = loaded;
  const conn = connectionFor(s);
  const migrating = f.values.migrate === 'v2-to-v3';
  if (migrating && (f.values.network || f.values.backend))
    throw new UsageError('--migrate: copies the existing v2 config as it is; give no --network/--backend with it');
  const api = migrating ? 'v3' : s.etcd.api;
  const target = storeTarget(conn, api, s.etcd.prefix);

  let desired: string;
  let source = 'flags';
  if (migrating) {
    const v2 = await readNetworkState({ ...target, api: 'v2' });
    if (!v2.config)
      throw new UsageError(
        `--migrate v2-to-v3: there is no config at ${s.etcd.prefix}/config in the v2 key space to copy`,
      );
    desired = v2.config;
    parseNetworkConfig(desired); // flannel v0.18+ must be able to read what we copy
    source = 'the v2 key space';
  } else {
    desired = desiredSpec(f.values as Record<string, unknown>, cluster);
  }

  const current = await readNetworkState(target);
  const differences = current.config === undefined ? undefined : diffNetworkConfig(current.config, desired);
  if (differences && differences.length === 0) {
    report(
      s,
      { changed: false, api, config: current.config, leases: leaseJson(current) },
      [
        `etcd-config: nothing to do (${s.etcd.prefix}/config via ${api} is already ${current.config})`,
        ...formatLeaseTable(current.leases),
      ],
      false,
    );
    return 0;
  }
  if (differences && !f.values.force) {
    const lines = [
      `etcd-config: ${s.etcd.prefix}/config (${api}) holds a different config; not replaced (use --force to replace it):`,
      ...differences.map((d) => `  ${d}`),
      `  current: ${current.config}`,
      `  wanted:  ${desired}`,
    ];
    if (s.json) report(s, { changed: false, api, differences, current: current.config, wanted: desired }, []);
    else process.stderr.write(`${lines.join('\n')}\n`);
    return ExitCode.Drift;
  }
  const why = differences
    ? `replace the network config (${differences.join('; ')}) only if it is still the one we read (index ${current.configVersion})`
    : `create the network config through the ${api} API, only if nobody created it meanwhile`;
  if (s.dryRun) {
    process.stdout.write(
      formatScript([writeConfigCommand(target, desired, differences ? current.configVersion : undefined, why)]),
    );
    return 0;
  }
  traceChange('etcd', `write ${s.etcd.prefix}/config via ${api}`);
  await writeNetworkConfig(target, desired, differences ? current.configVersion : undefined);
  const after = await readNetworkState(target);
  if (after.config === undefined || diffNetworkConfig(after.config, desired).length) {
    throw new UsageError(`etcd-config: read back ${after.config ?? 'nothing'} after writing ${desired}`);
  }
  report(s, { changed: true, api, config: after.config, source, leases: leaseJson(after) }, [
    `etcd-config: wrote ${s.etcd.prefix}/config via ${api}${migrating ? ` (copied from ${source})` : ''}: ${after.config}`,
    ...(differences ? ['  restart flanneld on every node to apply it (supervisorctl restart <program>)'] : []),
    ...formatLeaseTable(after.leases),
  ]);
  return 0;
}

function leaseJson(st: NetworkState) {
  return st.leases.map((l) => ({
    subnet: l.subnet.toString(),
    publicIp: l.publicIp.toString(),
    backend: l.backendType,
    ttl: l.ttl ?? null,
  }));
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
