#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// verify-ping: runbook step 5. Checks this node's routes against the leases in etcd
// (host-gw: `SUBNET via PUBLICIP dev IFACE`), then pings every remote subnet (one fping for all
// when fping is installed, else one ping per target, bounded) and prints one row per target:
// target, node, route, loss, RTT, TTL (ping only: fping does not report it), verdict.
// Targets: --targets, else the first address (docker0) of every other lease.
// Read-only. Exit: 0 all good, 1 a route is wrong or a target does not answer,
//       2 bad input, 3 etcd or a command failed.

import { ExitCode, invalid } from '../lib/core/errors.ts';
import { Ip4 } from '../lib/core/ip4.ts';
import { netnsPath } from '../lib/core/validate.ts';
import { findInterface } from '../lib/model/interfaces.ts';
import { parseNetworkConfig } from '../lib/model/netconfig.ts';
import { diffRoutes, planBackendRoutes } from '../lib/model/routes.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags, statusFlags } from '../lib/cli/flags.ts';
import { note, print } from '../lib/cli/output.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/cli/script.ts';
import { connectionFor, required } from '../lib/cli/settings.ts';
import type { Host } from '../lib/host/host.ts';
import { readAddresses, readRoutes } from '../lib/host/iproute.ts';
import { readNetworkState, storeTarget } from '../lib/host/network-store.ts';
import { checkStatusPrefix, readReports } from '../lib/host/status-store.ts';
import {
  defaultTargets,
  formatVerifyReport,
  MAX_TARGETS,
  pingRows,
  probeTargets,
  routeVerdict,
  verifyJson,
  type ProberChoice,
} from '../lib/steps/verify-ping.ts';
import { formatPlan, run } from '../lib/core/plan.ts';
import { fpingCommand, pingCommand } from '../lib/model/ping.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  'public-ip': nodeFlags['public-ip'],
  ...statusFlags,
  iface: nodeFlags.iface,
  targets: {
    type: 'list',
    placeholder: 'IPS',
    help: "addresses to ping (default: per other lease, a pod its drift --publish named, else its docker0 address, which does not cross that node's FORWARD)",
    example: '172.7.22.2',
  },
  count: {
    type: 'number',
    default: 1,
    min: 1,
    max: 100,
    placeholder: 'N',
    help: 'pings per target (more: a loss figure, and 0.2 s more per target)',
  },
  wait: { type: 'number', default: 1, min: 1, max: 30, placeholder: 'S', help: 'seconds to wait for each reply' },
  'from-netns': {
    type: 'string',
    placeholder: 'NS',
    help: "ping from this network namespace (e.g. a pod's) instead of the host",
  },
  concurrency: {
    type: 'number',
    default: 128,
    min: 1,
    max: 512,
    placeholder: 'N',
    help: 'with ping: targets pinged at once (one ping process each)',
  },
  prober: {
    type: 'string',
    default: 'auto',
    choices: ['auto', 'fping', 'ping'],
    placeholder: 'WHICH',
    help: 'auto: one fping for every target when fping is installed, else ping; ping also reports the TTL',
  },
});

const info = {
  name: 'verify-ping',
  summary: "Runbook step 5: check this node's routes against the leases in etcd and ping every remote subnet.",
  example: 'scripts/verify-ping.ts --cluster cluster.json --targets 172.7.22.2',
  perNode: true,
};

export async function main(argv: string[], base: Host): Promise<number> {
  const loaded = await loadSettings(argv, flags, info, base);
  if (!loaded) return 0;
  const { settings: s, flags: f, host } = loaded;
  const v = f.values;
  const publicIp = required(s.node.publicIp, '--public-ip', '10.4.7.21', s.looked);
  const iface = required(s.node.iface, '--iface', 'eth0', s.looked);
  if ((v.targets?.length ?? 0) > MAX_TARGETS)
    throw invalid(
      '--targets',
      v.targets!.join(','),
      `is ${v.targets!.length} addresses; at most ${MAX_TARGETS} in one run (split the list)`,
      '172.7.22.2,172.7.23.2',
    );
  const targets = (v.targets ?? []).map((t) => Ip4.parse(t, '--targets'));
  const netns = v['from-netns'];
  // a namespace that is not there is a typo, not a failure of the ping
  if (netns !== undefined && !(await host.stat(netnsPath('--from-netns', netns))))
    throw invalid('--from-netns', netns, 'no such network namespace (ip netns list shows them)', 'cni-1234');
  const statusPrefix = checkStatusPrefix(v['status-prefix'], s.etcd.prefix);
  const store = await storeTarget(host, connectionFor(s), s.etcd.api, s.etcd.prefix, { checkTls: true });
  const probeOpts = {
    count: v.count,
    timeoutS: v.wait,
    intervalS: 0.2,
    concurrency: v.concurrency,
    prober: v.prober as ProberChoice,
    ...(v['from-netns'] && { fromNetns: v['from-netns'] }),
  };
  const probe = (list: readonly Ip4[]) => probeTargets(host, list, probeOpts);
  // --targets need nothing from etcd: they are probed while etcd and the routes are read, so a
  // silent target's wait covers that time too (awaited below, after the observation)
  const early = targets.length && !s.dryRun ? probe(targets) : undefined;
  early?.catch(() => {});

  // observe: one etcd read, one route dump, one address dump; explicit targets are pinged
  // even when etcd does not answer (the routes then cannot be checked against the leases)
  const [state, actual, links, reports] = await Promise.all([
    readNetworkState(store).catch((e: unknown) => {
      if (!targets.length) throw e;
      note(`verify-ping: routes not checked against the leases: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }),
    readRoutes(host),
    readAddresses(host),
    // the pods the peers published: default targets behind their FORWARD chains
    targets.length ? [] : readReports(store, statusPrefix).catch(() => []),
  ]);
  const dev = findInterface(links, iface);
  if (!dev) throw invalid('--iface', iface, 'no such interface on this host', 'eth0');
  if (state && !state.config)
    throw invalid(
      'etcd',
      `${s.etcd.prefix}/config`,
      `holds no network config (${s.etcd.api} API): run etcd-config first`,
      'scripts/etcd-config.ts --network 172.7.0.0/16 --backend host-gw',
    );
  const config = state?.config === undefined ? undefined : parseNetworkConfig(state.config);
  const sameL2 = (ip: Ip4) => dev.addrs.some((a) => a.contains(ip));
  const leases = state?.leases ?? [];
  const mine = leases.find((l) => l.publicIp.equals(publicIp));
  const desired = config ? planBackendRoutes(config.backend, leases, { publicIp, iface }, sameL2) : [];
  const diff = config
    ? diffRoutes(desired, actual, config.network, mine ? { ownSubnet: mine.subnet } : {})
    : { add: [], replace: [], remove: [] };

  const peers = leases.filter((l) => !l.publicIp.equals(publicIp));
  const defaults = targets.length ? [] : defaultTargets(peers, reports);
  const list = targets.length ? targets : defaults.map((t) => t.ip);
  // a bridge proves the route, not the peer's FORWARD chain: said, not failed
  const bridgeOnly = defaults.filter((t) => t.kind === 'bridge').map((t) => t.ip.toString());
  const verdicts = list.map((ip) =>
    config
      ? routeVerdict(ip, { leases, config, publicIp, desired, actual })
      : { node: '-', route: 'not checked (etcd did not answer)', ok: true },
  );
  if (s.dryRun) {
    // read-only, but --dry-run still means "print, do not run": the probes as a script
    const cmds =
      v.prober === 'fping'
        ? [fpingCommand(list.map(String), probeOpts)]
        : list.map((ip) => pingCommand(ip.toString(), probeOpts));
    print(formatPlan(cmds.map((c) => run(c))));
    return 0;
  }
  const { prober, results } = await (early ?? probe(list));
  const rows = pingRows(list, verdicts, results);
  // routes for leases that no target exercised still count
  const unrouted = [...diff.add, ...diff.replace.map((c) => ({ ...c.to, why: c.why })), ...diff.remove];
  // nothing to ping proves nothing: a peer whose lease is missing must not pass silently
  const ok = rows.length > 0 && rows.every((r) => r.ok) && unrouted.length === 0;

  const out = { ok, prober, rows, bridgeOnly, unrouted };
  if (s.json) print(`${JSON.stringify(verifyJson(out), null, 2)}\n`);
  else if (!s.quiet || !ok) print(`${formatVerifyReport(out).join('\n')}\n`);
  // every target answered, but without etcd the routes are unjudged: could not check (3)
  return !ok ? ExitCode.Drift : state ? ExitCode.Ok : ExitCode.Runtime;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, main, 'spawn');
