#!/bin/sh
//bin/true; exec node --import "$(dirname -- "$(readlink -f -- "$0")")/../node_modules/tsx/dist/esm/index.mjs" "$(readlink -f -- "$0")" "$@"
// verify-ping: runbook step 5. Checks this node's routes against the leases in etcd
// (host-gw: `SUBNET via PUBLICIP dev IFACE`), then pings every remote subnet in parallel
// (bounded) and prints one row per target: target, node, route, loss, RTT, TTL, verdict.
// Targets: --targets, else the first address (docker0) of every other lease.
// Read-only. Exit: 0 all good, 1 a route is wrong or a target does not answer,
//       2 bad input, 3 etcd or a command failed.

import { ExitCode, invalid } from '../lib/errors.ts';
import { commonFlags, defineFlags, etcdFlags, nodeFlags, required } from '../lib/flags.ts';
import { Ip4 } from '../lib/ip4.ts';
import { findInterface, ipAddrCommand, parseIpAddr } from '../lib/interfaces.ts';
import { parseNetworkConfig } from '../lib/netconfig.ts';
import { connectionFor, readNetworkState, storeTarget } from '../lib/network-store.ts';
import { mapBounded, parsePingOutput, pingCommand, type PingResult } from '../lib/ping.ts';
import { diffRoutes, formatRoute, parseIpRoute, planBackendRoutes, routeEqual, type Route } from '../lib/routes.ts';
// read-only probes, many at once: spawned directly (no shell, no zx load per run)
import { spawnRunner } from '../lib/runner.ts';
import { isEntryPoint, loadSettings, runScript } from '../lib/script.ts';

export const flags = defineFlags({
  ...commonFlags,
  ...etcdFlags,
  'public-ip': nodeFlags['public-ip'],
  iface: nodeFlags.iface,
  targets: {
    type: 'list',
    placeholder: 'IPS',
    help: 'addresses to ping (default: the first address of every other lease, i.e. its docker0)',
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
    help: 'targets pinged at once (one ping process each)',
  },
});

const info = {
  name: 'verify-ping',
  summary: "Runbook step 5: check this node's routes against the leases in etcd and ping every remote subnet.",
  example: 'scripts/verify-ping.ts --cluster cluster.json --targets 172.7.22.2',
  perNode: true,
};

export interface Row {
  target: string;
  node: string;
  route: string;
  loss: number | null;
  rttMs: number | null;
  ttl: number | null;
  ok: boolean;
  reason: string;
}

export async function main(argv: string[]): Promise<number> {
  const loaded = await loadSettings(argv, flags, info);
  if (!loaded) return 0;
  const { settings: s, flags: f } = loaded;
  const v = f.values;
  const publicIp = required(s.node.publicIp, '--public-ip', '10.4.7.21');
  const iface = required(s.node.iface, '--iface', 'eth0');
  const targets = (v.targets ?? []).map((t) => Ip4.parse(t, '--targets'));
  const target = storeTarget(connectionFor(s), s.etcd.api, s.etcd.prefix);

  // observe: one etcd read, one route dump, one address dump
  const [state, routesOut, addrOut] = await Promise.all([
    readNetworkState(target),
    spawnRunner({ argv: ['ip', '-j', 'route', 'show'], why: 'the routing table' }),
    spawnRunner(ipAddrCommand),
  ]);
  if (!state.config)
    throw invalid(
      'etcd',
      `${s.etcd.prefix}/config`,
      `holds no network config (${s.etcd.api} API): run etcd-config first`,
      'scripts/etcd-config.ts --network 172.7.0.0/16 --backend host-gw',
    );
  const config = parseNetworkConfig(state.config);
  const dev = findInterface(parseIpAddr(addrOut.stdout), iface);
  if (!dev) throw invalid('--iface', iface, 'no such interface on this host', 'eth0');
  const sameL2 = (ip: Ip4) => dev.addrs.some((a) => a.contains(ip));
  const actual = parseIpRoute(routesOut.stdout);
  const mine = state.leases.find((l) => l.publicIp.equals(publicIp));
  const desired = planBackendRoutes(config.backend, state.leases, { publicIp, iface }, sameL2);
  const diff = diffRoutes(desired, actual, config.network, mine ? { ownSubnet: mine.subnet } : {});

  const peers = state.leases.filter((l) => !l.publicIp.equals(publicIp));
  const list = targets.length ? targets : peers.map((l) => l.subnet.firstHost());
  const routeVerdict = (ip: Ip4): { node: string; route: string; ok: boolean } => {
    const lease = state.leases.find((l) => l.subnet.contains(ip));
    if (!lease)
      return {
        node: '-',
        route: config.network.contains(ip) ? 'no lease for it' : 'outside the flannel network',
        ok: !config.network.contains(ip),
      };
    if (lease.publicIp.equals(publicIp)) return { node: `${lease.publicIp} (this node)`, route: 'local', ok: true };
    const want = desired.find((d) => d.dst.equals(lease.subnet));
    const have = actual.find((a) => a.dst.equals(lease.subnet));
    if (!want)
      return {
        node: lease.publicIp.toString(),
        route: `lease backend ${lease.backendType}, not ${config.backend.type}`,
        ok: false,
      };
    if (!have) return { node: lease.publicIp.toString(), route: `MISSING: want ${formatRoute(want)}`, ok: false };
    if (!routeEqual(have, want))
      return {
        node: lease.publicIp.toString(),
        route: `WRONG: ${formatRoute(have)}; want ${formatRoute(want)}`,
        ok: false,
      };
    return { node: lease.publicIp.toString(), route: formatRoute(have as Route), ok: true };
  };

  const results = await mapBounded(list, v.concurrency, async (ip) => {
    const out = await spawnRunner(
      pingCommand(ip.toString(), {
        count: v.count,
        timeoutS: v.wait,
        intervalS: 0.2,
        ...(v['from-netns'] && { fromNetns: v['from-netns'] }),
      }),
    );
    let r: PingResult;
    try {
      r = parsePingOutput(`${out.stdout}\n${out.stderr}`);
    } catch {
      r = { transmitted: 0, received: 0, loss: 100, error: (out.stderr || out.stdout).trim().split('\n')[0] };
    }
    return r;
  });
  const rows: Row[] = list.map((ip, i) => {
    const rv = routeVerdict(ip);
    const r = results[i]!;
    const answered = r.received > 0;
    const reasons = [
      !rv.ok ? rv.route : '',
      !answered ? (r.icmpError ?? r.error ?? `no reply (${r.loss}% loss)`) : '',
    ].filter(Boolean);
    return {
      target: ip.toString(),
      node: rv.node,
      route: rv.route,
      loss: r.loss,
      rttMs: r.rttAvgMs ?? null,
      ttl: r.ttl ?? null,
      ok: rv.ok && answered,
      reason: reasons.join('; ') || 'ok',
    };
  });
  // routes for leases that no target exercised still count
  const unrouted = [...diff.add, ...diff.replace.map((c) => ({ ...c.to, why: c.why })), ...diff.remove];
  // nothing to ping proves nothing: a peer whose lease is missing must not pass silently
  const ok = rows.length > 0 && rows.every((r) => r.ok) && unrouted.length === 0;

  if (s.json) {
    process.stdout.write(
      `${JSON.stringify({ ok, rows, routeProblems: unrouted.map((r) => ({ route: formatRoute(r), why: r.why })) }, null, 2)}\n`,
    );
  } else {
    const head = ['TARGET', 'NODE', 'ROUTE', 'LOSS', 'RTT', 'TTL', 'VERDICT'];
    const cells = rows.map((r) => [
      r.target,
      r.node,
      r.route,
      r.loss === null ? '-' : `${r.loss}%`,
      r.rttMs === null ? '-' : `${r.rttMs.toFixed(3)}ms`,
      r.ttl === null ? '-' : String(r.ttl),
      r.ok ? 'ok' : `FAIL: ${r.reason}`,
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const fmt = (c: string[]) =>
      c
        .map((x, i) => x.padEnd(w[i]!))
        .join('  ')
        .trimEnd();
    const lines = [fmt(head), ...cells.map(fmt)];
    if (rows.length === 0) lines.push('FAIL: nothing to ping: no other lease in etcd and no --targets');
    for (const u of unrouted) lines.push(`route problem: ${formatRoute(u)}: ${u.why}`);
    if (!s.quiet || !ok) process.stdout.write(`${lines.join('\n')}\n`);
  }
  return ok ? ExitCode.Ok : ExitCode.Drift;
}

if (isEntryPoint(import.meta.url)) await runScript(import.meta.url, (argv) => main(argv));
