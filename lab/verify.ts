// What the runbook promises, observed in the lab: host-gw routes, ping TTLs (docs/flannel-facts.md,
// timings: host -> remote pod 63, pod -> remote pod 62), and the source address a server sees (a pod on
// another node sees the pod's own address after the snat-fix; the outside host sees the node
// address). Used by `npm run lab`'s final table and by the lab tests.

import type { Lab, LabNode } from './lab.ts';
import { sleep } from './proc.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { comparableSave } from '../lib/model/iptables.ts';

export interface RouteEntry {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
}

/** `ip -j route` of a namespace. */
export async function routesIn(lab: Lab, netns: string): Promise<RouteEntry[]> {
  const r = await lab.exec(netns, ['ip', '-j', 'route', 'show']);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as RouteEntry[]) : [];
}

/** The host-gw routes `node` must have: one per other node's subnet, via its address, on eth0. */
export function expectedHostGwRoutes(lab: Lab, node: LabNode): RouteEntry[] {
  return lab.nodes.filter((n) => n !== node).map((n) => ({ dst: n.subnet, gateway: n.ip, dev: node.iface }));
}

/** Expected host-gw routes missing on `node` (empty = all present). */
export async function missingHostGwRoutes(lab: Lab, node: LabNode): Promise<RouteEntry[]> {
  const have = await routesIn(lab, node.netns);
  return expectedHostGwRoutes(lab, node).filter(
    (w) => !have.some((r) => r.dst === w.dst && r.gateway === w.gateway && r.dev === w.dev),
  );
}

/** TTL of the first echo reply from `ip` (a few tries: ARP, a route just installed), or undefined. */
export async function pingTtl(lab: Lab, netns: string, ip: string, tries = 3): Promise<number | undefined> {
  for (let i = 0; i < tries; i++) {
    const r = await lab.exec(netns, ['ping', '-n', '-c', '1', '-W', '1', ip], { okStatus: [1, 2], timeoutMs: 5000 });
    const m = /ttl=(\d+)/.exec(r.stdout);
    if (r.status === 0 && m) return Number(m[1]);
    await sleep(200);
  }
  return undefined;
}

/** Connects from `netns` to a whoami server and returns the address it saw ('' on failure). */
export async function whoami(lab: Lab, netns: string, ip: string, port = lab.whoamiPort): Promise<string> {
  const r = await lab
    .exec(netns, ['bash', '-c', 'exec 3<>"/dev/tcp/$0/$1" && cat <&3', ip, String(port)], {
      okStatus: [1],
      timeoutMs: 5000,
    })
    .catch(() => ({ stdout: '', status: -1 }));
  return r.status === 0 ? r.stdout.trim() : '';
}

export interface Check {
  readonly ok: boolean;
  /** what was observed, short */
  readonly got: string;
  readonly want: string;
}

export interface VerifyRow {
  readonly node: string;
  readonly remote: string;
  readonly routes: Check;
  readonly hostPing: Check;
  readonly podPing: Check;
  /** source address the remote pod sees for a connection from this node's pod */
  readonly podSeen: Check;
  /** source address the outside host sees for a connection from this node's pod */
  readonly outsideSeen: Check;
  /** the live rules equal the persisted file (<root>/etc/sysconfig/iptables) */
  readonly persisted: Check;
}

const check = (got: string, want: string): Check => ({ ok: got === want, got: got || '-', want });

/** 'yes' when <root>/etc/sysconfig/iptables holds exactly the live rules, else what is wrong. */
async function rulesPersisted(lab: Lab, n: LabNode): Promise<string> {
  const file = await readFile(join(n.root, 'etc/sysconfig/iptables'), 'utf8').catch(() => undefined);
  if (file === undefined) return 'no file';
  const live = await lab.exec(n.netns, ['iptables-save']);
  return comparableSave(file) === comparableSave(live.stdout) ? 'yes' : 'differs';
}

/** One row per ordered pair of nodes (node -> the next node, cyclic, and every other with --all). */
export async function verifyLab(lab: Lab, opts: { allPairs?: boolean } = {}): Promise<VerifyRow[]> {
  const pairs: [LabNode, LabNode][] = [];
  lab.nodes.forEach((n, i) => {
    const others = opts.allPairs ? lab.nodes.filter((o) => o !== n) : [lab.nodes[(i + 1) % lab.nodes.length]!];
    for (const o of others) pairs.push([n, o]);
  });
  return Promise.all(
    pairs.map(async ([n, r]): Promise<VerifyRow> => {
      const missing = await missingHostGwRoutes(lab, n);
      const want = expectedHostGwRoutes(lab, n);
      const [hostTtl, podTtl, podSeen, outsideSeen, persisted] = await Promise.all([
        pingTtl(lab, n.netns, r.pod.ip),
        pingTtl(lab, n.pod.netns, r.pod.ip),
        whoami(lab, n.pod.netns, r.pod.ip),
        whoami(lab, n.pod.netns, lab.outside.ip, lab.outside.port),
        rulesPersisted(lab, n),
      ]);
      return {
        node: n.name,
        remote: r.name,
        routes: {
          ok: missing.length === 0,
          got: `${want.length - missing.length}/${want.length}`,
          want: `${want.length}/${want.length}`,
        },
        hostPing: check(hostTtl === undefined ? '' : String(hostTtl), '63'),
        podPing: check(podTtl === undefined ? '' : String(podTtl), '62'),
        podSeen: check(podSeen, n.pod.ip),
        outsideSeen: check(outsideSeen, n.ip),
        persisted: check(persisted, 'yes'),
      };
    }),
  );
}

export function rowOk(r: VerifyRow): boolean {
  return r.routes.ok && r.hostPing.ok && r.podPing.ok && r.podSeen.ok && r.outsideSeen.ok && r.persisted.ok;
}

/** The verification table, plain text (no colours: it may go to a log). */
export function formatVerifyTable(rows: readonly VerifyRow[]): string {
  const head = [
    'node -> remote',
    'host-gw routes',
    'ttl host->pod',
    'ttl pod->pod',
    'remote pod sees',
    'outside sees',
    'rules persisted',
    'result',
  ];
  const cell = (c: Check) => (c.ok ? c.got : `${c.got} (want ${c.want})`);
  const body = rows.map((r) => [
    `${r.node} -> ${r.remote}`,
    cell(r.routes),
    cell(r.hostPing),
    cell(r.podPing),
    cell(r.podSeen),
    cell(r.outsideSeen),
    cell(r.persisted),
    rowOk(r) ? 'ok' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')}\n`;
}
