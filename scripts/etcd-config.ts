#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// etcd-config: runbook step 3, once per cluster. Writes <prefix>/config through the API the
// cluster's flannel reads (auto: v2 for flannel < v0.18.0, v3 after): the runbook's `etcdctl
// set` is v2, and the same key written with v3 (`etcdctl put`) is invisible to flannel v0.11.
// Checked first as flannel checks it; created only if absent, or replaced with --force by
// compare-and-swap; read back; the leases shown. --migrate v2-to-v3 copies the config for an
// upgrade to flannel >= v0.18. An explicit --etcd-api the cluster's flannel does not read is
// refused without --force (exit 2). The etcd write is in-process: --dry-run prints the equivalent
// curl (v2) or `etcdctl txn` (v3) with the same compare-and-swap.
// Exit: 0 written / nothing to do, 1 a different config is there (not replaced without
// --force), 2 bad input (nothing changed), 3 etcd failed.

import { ExitCode, RuntimeError, UsageError } from '../lib/core/errors.ts';
import { etcdApiMismatch } from '../lib/model/cluster.ts';
import { diffNetworkConfig, parseNetworkConfig } from '../lib/model/netconfig.ts';
import { formatLeaseTable } from '../lib/model/lease-table.ts';
import { commonFlags, defineFlags, etcdFlags } from '../lib/cli/flags.ts';
import { printErr, printPlanned, report } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { connectionFor } from '../lib/cli/settings.ts';
import { keyHoldsTest } from '../lib/host/etcd.ts';
import type { Host } from '../lib/host/host.ts';
import {
  readNetworkState,
  storeTarget,
  writeConfigCommand,
  writeNetworkConfig,
  type NetworkState,
} from '../lib/host/network-store.ts';
import { traceChange } from '../lib/host/trace.ts';
import { desiredConfig, planConfigWrite } from '../lib/steps/etcd-config.ts';

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
    help: "replace a different existing config (nodes keep their leases; restart flanneld on every node); also write through an --etcd-api the cluster's flannel does not read",
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

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, cluster, host, recording } = loaded;
  const v = f.values;
  const conn = connectionFor(s);
  const migrating = v.migrate === 'v2-to-v3';
  if (migrating && (v.network || v.backend))
    throw new UsageError('--migrate: copies the existing v2 config as it is; give no --network/--backend with it');
  const api = migrating ? 'v3' : s.etcd.api;
  // the runbook's classic failure: a config where the cluster's flanneld never looks
  const mismatch = migrating ? undefined : etcdApiMismatch(s.flannelVersion, s.etcd.apiSetting);
  if (mismatch && !v.force)
    throw new UsageError(
      `${mismatch}; nothing written. Give --etcd-api auto, or --force to write there anyway (ahead of an upgrade: --migrate v2-to-v3)`,
    );
  const target = await storeTarget(host, conn, api, s.etcd.prefix, { checkTls: true });

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
    desired = desiredConfig(v, cluster);
  }

  const current = await readNetworkState(target);
  const write = planConfigWrite(desired, current, v.force);
  if (write.kind === 'nothing') {
    report(s, { changed: false, api, config: current.config, leases: leaseJson(current) }, [
      `etcd-config: nothing to do (${s.etcd.prefix}/config via ${api} is already ${current.config})`,
      ...formatLeaseTable(current.leases),
    ]);
    return 0;
  }
  if (write.kind === 'refused') {
    const lines = [
      `etcd-config: ${s.etcd.prefix}/config (${api}) holds a different config; not replaced (use --force to replace it):`,
      ...write.differences.map((d) => `  ${d}`),
      `  current: ${current.config}`,
      `  wanted:  ${desired}`,
    ];
    if (s.json)
      report(s, { changed: false, api, differences: write.differences, current: current.config, wanted: desired }, []);
    else printErr(`${lines.join('\n')}\n`);
    return ExitCode.Drift;
  }
  const expect = write.kind === 'replace' ? write.version : undefined;
  if (recording) {
    await recording.run(writeConfigCommand(target, desired, expect, write.why));
    return printPlanned(s, recording, base, {
      test: keyHoldsTest(conn, api, `${target.prefix}/config`, desired),
      say: `etcd-config: nothing to do (${target.prefix}/config already holds it)`,
    });
  }
  traceChange('etcd', `write ${s.etcd.prefix}/config via ${api}`);
  await writeNetworkConfig(target, desired, expect);
  const after = await readNetworkState(target);
  if (after.config === undefined || diffNetworkConfig(after.config, desired).length) {
    throw new RuntimeError(
      `wrote ${s.etcd.prefix}/config via ${api}, but it reads back as ${after.config ?? 'nothing'}, not ${desired}: another writer? run etcd-config again`,
    );
  }
  report(s, { changed: true, api, config: after.config, source, leases: leaseJson(after) }, [
    `etcd-config: wrote ${s.etcd.prefix}/config via ${api}${migrating ? ` (copied from ${source})` : ''}: ${after.config}`,
    ...(write.kind === 'replace'
      ? ['  restart flanneld on every node to apply it (supervisorctl restart <program>)']
      : []),
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

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main);
