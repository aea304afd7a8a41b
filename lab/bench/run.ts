// `npm run bench`: issue 7's benchmark. Builds a lab, runs the runbook with the toolkit's
// scripts, then measures, side by side in the same run and inside hdss7-21's namespace:
//   cold start of every script (dist and tsx) against `node -e 0` and a trivial zx script;
//   verify-ping over 100 targets (10 dead, then all answering) against a `ping -c1` loop;
//   for N synthetic leases (v2 AND v3 under /bench/network, routes installed): drift (wall,
//   peak RSS, child processes by strace), the floor (ip -j route + iptables-save + one range
//   read by bash), the naive per-lease check, drift --fix of N deleted routes against one
//   ip -batch and the `ip route replace` loop, and the etcd reads and bytes one drift run
//   costs (v3 with its cache and with --no-cache), counted on the servers;
//   the etcd writes of a drift --publish run (puts, lease grants, keep-alives);
//   verify-ping with its default prober (fping when installed) and with --prober ping.
// Before that, issue 12's remote phase (remote.ts) on a lab of its own, built first and torn
// down before the other: 10 nodes in the remote mode, drift on one node locally, over ssh
// (a new connection, and a warm one: warm-drift.ts), and drift --all-nodes from the control
// host. `--only remote` runs only that phase (results.remote.*), `--only local` skips it.
// Writes lab/bench/results.{md,json} (--quick: results.quick.*), prints the Markdown.
// Not idempotent by nature (a fresh lab per run); the lab is torn down at the end, on any
// failure and on Ctrl-C/SIGTERM (--keep leaves it up). Never touches the root namespace.
// Exit: 0 measured (targets met or not: see the table), 2 usage, 3 the lab or a measurement
// failed, 130 interrupted.
//
// Map: leases.ts  the synthetic cluster and the shell baselines (pure)
//      stats.ts   samples, median/min/max, strace and /metrics parsers (pure)
//      targets.ts results as data, the issue's targets judged (pure)
//      report.ts  Markdown (pure)
//      measure.sh the stopwatch, run inside the namespace;  v2-load.ts  parallel v2 PUTs
//      remote.ts  issue 12's remote phase;  warm-drift.ts  drift's main run again in one process

import minimist from 'minimist';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExitCode, UsageError, exitCodeOf, invalid } from '../../lib/core/errors.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import type { EtcdApi } from '../../lib/model/lease.ts';
import { createLab, labDirOf, type Lab, type LabNode } from '../lab.ts';
import { listNetns } from '../netns.ts';
import { runbookRemote, runbookWithScripts } from '../runbook-steps.ts';
import { MAX_NODES } from '../topology.ts';
import { REMOTE_NODES, remotePhase } from './remote.ts';
import { shellQuote } from '../../lib/core/command.ts';
import {
  BENCH_CONFIG,
  BENCH_NETWORK,
  BENCH_PREFIX,
  LEASE_TTL_S,
  MAX_LEASES,
  checkTable,
  etcdReadCommand,
  etcdctlWords,
  floorScript,
  leaseEntry,
  naiveCheckLoop,
  naiveFixLoop,
  parseLeaseGrant,
  pingLoop,
  routeDelBatch,
  routeReplaceBatch,
  routeTable,
  sampleIndexes,
  syntheticLease,
  syntheticLeases,
  v3TxnBatches,
} from './leases.ts';
import { formatRemoteOnly, formatResults } from './report.ts';
import {
  countChildProcesses,
  grpcBytes,
  METRIC_NAMES,
  parseMetrics,
  parseSamples,
  rangeReads,
  scaled,
  timing,
  writeCounters,
  type Timing,
} from './stats.ts';
import {
  evaluateTargets,
  issue12Targets,
  type BytesRow,
  type CheckRow,
  type ColdRow,
  type DriftRow,
  type EtcdRow,
  type FixBaselineRow,
  type FixRow,
  type FloorRow,
  type LoadRow,
  type Machine,
  type PingRow,
  type PublishRow,
  type RemoteResults,
  type Results,
} from './targets.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = join(HERE, '..', '..');
const BUILT = join(REPO, 'dist');
const MEASURE = join(HERE, 'measure.sh');
const TSX = join(REPO, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const ZX = join(REPO, 'node_modules', '.bin', 'zx');
const APIS: readonly EtcdApi[] = ['v2', 'v3'];
/** a block starts when the machine is less busy than this (the lab's own idle daemons use a few %) */
const SETTLE_BUSY_PCT = 35;

/** CPU time of the whole machine (every core), from /proc/stat: idle and total jiffies. */
function cpuTimes(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3]! + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
}

const USAGE = `usage: npm run bench -- [options]

  --n LIST            lease counts (default 10,100,1000,5000; at most ${MAX_LEASES})
  --runs K            timed runs per figure, median/min/max (default 5)
  --warmup W          untimed runs before them (default 1; the shell loops get none)
  --check-sample S    the naive per-lease check loops over at most S leases and is extrapolated (default 50)
  --quick             a short run: --n 10,1000 --runs 3 --check-sample 20; writes results.quick.*
  --only PHASE        remote: only issue 12's remote phase (its own lab of --remote-nodes nodes; writes
                      results.remote.*); local: everything but it
  --remote-nodes M    nodes of the remote phase's lab (default ${REMOTE_NODES}, 2-${MAX_NODES})
  --out BASE          write BASE.md and BASE.json (default lab/bench/results, --quick: lab/bench/results.quick,
                      --only remote: lab/bench/results.remote)
  --settle S          before each measured block wait (at most S seconds over the whole run, default 90)
                      until the machine's CPUs are less than ${SETTLE_BUSY_PCT}% busy: other runs share this machine
  --keep              leave the lab(s) up afterwards (prints the prefix; npm run lab -- down PREFIX)
  --help              this text

exit codes: 0 measured (see the targets table), 2 usage error, 3 the lab or a measurement failed, 130 interrupted`;

/** One command for measure.sh: its label, an untimed setup snippet, the exit statuses that are answers. */
interface Job {
  readonly label: string;
  readonly argv: readonly string[];
  readonly setup?: string;
  readonly okStatus?: readonly number[];
}

interface Options {
  readonly n: number[];
  readonly runs: number;
  readonly warmup: number;
  readonly checkSample: number;
  readonly quick: boolean;
  readonly out: string;
  readonly keep: boolean;
  readonly settleS: number;
  /** run only this phase (default: both, the remote one first) */
  readonly only?: 'remote' | 'local';
  readonly remoteNodes: number;
}

function intFlag(name: string, text: unknown, min: number, max: number, example: string): number {
  const s = String(text);
  const v = Number(s);
  if (!/^\d+$/.test(s) || v < min || v > max)
    throw invalid(`--${name}`, s, `must be an integer ${min}-${max}`, example);
  return v;
}

export function parseOptions(argv: readonly string[]): Options | 'help' {
  const a = minimist([...argv], {
    string: ['n', 'runs', 'warmup', 'check-sample', 'out', 'settle', 'only', 'remote-nodes'],
    boolean: ['quick', 'keep', 'help'],
    alias: { h: 'help' },
    unknown: (arg) => {
      if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}; see --help`);
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}; see --help`);
    },
  });
  if (a.help) return 'help';
  const quick = Boolean(a.quick);
  const only = a.only;
  if (only !== undefined && only !== 'remote' && only !== 'local')
    throw invalid('--only', String(only), 'must be remote or local', '--only remote');
  const nText = a.n ?? (quick ? '10,1000' : '10,100,1000,5000');
  const n = String(nText)
    .split(',')
    .map((x) => intFlag('n', x.trim(), 1, MAX_LEASES, '--n 10,100,1000,5000'));
  if (n.length < 2)
    throw invalid(
      '--n',
      nText,
      'needs at least two lease counts (the targets compare the smallest with the largest)',
      '--n 10,5000',
    );
  return {
    n: [...new Set(n)].sort((x, y) => x - y),
    runs: intFlag('runs', a.runs ?? (quick ? 3 : 5), 1, 100, '--runs 5'),
    warmup: intFlag('warmup', a.warmup ?? 1, 0, 10, '--warmup 1'),
    checkSample: intFlag('check-sample', a['check-sample'] ?? (quick ? 20 : 50), 1, MAX_LEASES, '--check-sample 100'),
    quick,
    out: a.out ?? join(HERE, only === 'remote' ? 'results.remote' : quick ? 'results.quick' : 'results'),
    keep: Boolean(a.keep),
    settleS: intFlag('settle', a.settle ?? 90, 0, 3600, '--settle 90'),
    ...(only !== undefined && { only }),
    remoteNodes: intFlag(
      'remote-nodes',
      a['remote-nodes'] ?? REMOTE_NODES,
      2,
      MAX_NODES,
      `--remote-nodes ${REMOTE_NODES}`,
    ),
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });

function sh(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return '?';
  }
}

/** The commit the run measures, taken when it starts (dist/ was just built from this tree). */
function commitStamp(): string {
  const dirty =
    sh([
      'git',
      '-C',
      REPO,
      'status',
      '--porcelain',
      '--untracked-files=no',
      '--',
      'lib',
      'scripts',
      'lab',
      ':(exclude)lab/bench/results.*',
    ]) !== ''
      ? ' (lib/, scripts/ or lab/ with uncommitted changes)'
      : '';
  return `${sh(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'])}${dirty}`;
}

function machine(commit: string, loadStart: number, otherLabs: string[]): Machine {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '?';
  return {
    nproc: availableParallelism(),
    cpu,
    kernel: release(),
    node: process.version,
    etcd: sh(['etcd', '--version'])
      .split('\n')[0]!
      .replace(/^etcd Version: /, ''),
    iproute2: sh(['ip', '-V']).replace(/^ip utility, /, 'iproute2 '),
    commit,
    loadavg: { start: loadStart, end: loadavg()[0]! },
    otherLabs,
  };
}

/** The measurements, on one lab whose runbook has run. */
export class Bench {
  readonly node: LabNode;
  readonly peer: LabNode;
  readonly scratch: string;
  readonly certs: { ca: string; cert: string; key: string };
  readonly cluster: string;
  /** this run's copy of dist/: other sessions may rebuild dist/ while the bench runs */
  readonly dist: string;
  private leaseId = '';
  private loaded = 0;
  private settleLeftMs: number;
  /** seconds spent waiting for a quiet machine */
  settledS = 0;

  constructor(
    readonly lab: Lab,
    readonly opts: Options,
    readonly log: (line: string) => void,
    readonly signal: AbortSignal,
  ) {
    [this.node, this.peer] = lab.nodes as [LabNode, LabNode];
    this.scratch = join(lab.dir, 'bench');
    mkdirSync(this.scratch, { recursive: true });
    const c = join(this.node.root, 'opt', 'flannel', 'cert');
    this.certs = { ca: join(c, 'ca.pem'), cert: join(c, 'client.pem'), key: join(c, 'client-key.pem') };
    this.cluster = join(lab.dir, 'cluster.json');
    this.settleLeftMs = opts.settleS * 1000;
    // the bundles import their packages (esbuild --packages=external): a node_modules link beside the copy resolves them
    this.dist = join(this.scratch, 'dist');
    cpSync(BUILT, this.dist, { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(this.scratch, 'node_modules'));
  }

  /** The machine's CPU busy % over half a second. */
  async busyPct(): Promise<number> {
    const a = cpuTimes();
    await sleep(500, this.signal);
    const b = cpuTimes();
    return b.total > a.total ? 100 * (1 - (b.idle - a.idle) / (b.total - a.total)) : 0;
  }

  /** Waits (within the run's budget) until the machine is quiet; returns the busy % the block starts with. */
  async settle(): Promise<number> {
    for (;;) {
      const busy = await this.busyPct();
      if (busy < SETTLE_BUSY_PCT || this.settleLeftMs <= 0) return busy;
      const t0 = performance.now();
      await sleep(2000, this.signal);
      const waited = performance.now() - t0 + 500;
      this.settleLeftMs -= waited;
      this.settledS += waited / 1000;
    }
  }

  /**
   * measure.sh inside the node's namespace: the jobs round-robin, `runs` timed rounds after
   * `warmup` untimed ones. A status outside a job's okStatus fails the bench with that
   * command's own stderr.
   */
  async measure(
    jobs: readonly Job[],
    o: { runs?: number; warmup?: number; timeoutMs?: number; netns?: string } = {},
  ): Promise<Map<string, Timing>> {
    const netns = o.netns ?? this.node.netns;
    const runs = o.runs ?? this.opts.runs;
    const warmup = o.warmup ?? this.opts.warmup;
    const spec = jobs.map((j) => [j.label, j.setup ?? '', j.argv.map(shellQuote).join(' ')].join('\x1f')).join('\n');
    const busyPct = await this.settle();
    const r = await this.lab.exec(netns, ['bash', MEASURE, String(runs), String(warmup)], {
      input: `${spec}\n`,
      timeoutMs: o.timeoutMs ?? 900_000,
    });
    const samples = parseSamples(r.stdout);
    const out = new Map<string, Timing>();
    for (const j of jobs) {
      const got = samples.get(j.label) ?? [];
      if (got.length !== runs)
        throw new Error(`measure.sh: ${got.length} runs of ${j.label}, expected ${runs}: ${r.stderr.slice(0, 500)}`);
      const ok = j.okStatus ?? [0];
      const bad = got.find((s) => !ok.includes(s.status));
      if (bad) {
        const again = await this.lab
          .exec(netns, [...j.argv], { okStatus: [bad.status], timeoutMs: 120_000 })
          .catch((e: Error) => ({ stdout: '', stderr: e.message }));
        throw new Error(
          `${j.label}: ${j.argv.join(' ').slice(0, 300)}: exit ${bad.status} (expected ${ok.join(' or ')}):\n${again.stderr.slice(-2000)}${again.stdout.slice(-1000)}`,
        );
      }
      out.set(j.label, { ...timing(got), busyPct });
    }
    return out;
  }

  /** One job measured alone. */
  async measureOne(job: Omit<Job, 'label'>, o: { runs?: number; warmup?: number } = {}): Promise<Timing> {
    return (await this.measure([{ ...job, label: 'job' }], o)).get('job')!;
  }

  driftArgs(api: EtcdApi): string[] {
    return [
      join(this.dist, 'drift.mjs'),
      '--etcd-prefix',
      BENCH_PREFIX,
      '--etcd-api',
      api,
      '--network',
      BENCH_NETWORK.toString(),
      '--public-ip',
      this.node.ip,
      '--subnet',
      this.node.subnet,
      '--iface',
      this.node.iface,
      '--endpoints',
      this.lab.etcd.endpoints.join(','),
      '--root',
      this.node.root,
      '--program',
      this.node.program,
    ];
  }

  /** One drift --json: what it says about the node. Anything but flanneld.sh's prefix not ok fails the bench. */
  async driftState(
    api: EtcdApi,
    extra: string[] = [],
  ): Promise<{
    exit: number;
    childProcesses: number;
    notOk: string[];
    fixed: string[];
    reason: (id: string) => string;
  }> {
    const r = await this.lab.exec(this.node.netns, ['node', ...this.driftArgs(api), '--json', ...extra], {
      okStatus: [1, 3],
      timeoutMs: 120_000,
    });
    let j: {
      exit: number;
      childProcesses: number;
      checks: { id: string; status: string; reason: string }[];
      fixed: string[];
    };
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`drift --json (${api}) exit ${r.status}: ${r.stderr.slice(-1000)}`);
    }
    const notOk = j.checks.filter((c) => c.status !== 'ok').map((c) => c.id);
    return {
      exit: j.exit,
      childProcesses: j.childProcesses,
      notOk,
      fixed: j.fixed,
      reason: (id) => j.checks.find((c) => c.id === id)?.reason ?? '',
    };
  }

  async expectOnlyPrefixDrift(api: EtcdApi, what: string): Promise<Awaited<ReturnType<Bench['driftState']>>> {
    const s = await this.driftState(api);
    const unexpected = s.notOk.filter((id) => id !== 'flanneld.flags');
    if (unexpected.length)
      throw new Error(
        `${what}: drift (${api}) finds ${unexpected.map((id) => `${id}: ${s.reason(id).slice(0, 300)}`).join('; ')}`,
      );
    return s;
  }

  // ------------------------------------------------------------------ etcd

  private async v2Load(entries: { key: string; value: string; ttl?: number }[]): Promise<number> {
    const t0 = performance.now();
    const job = {
      endpoint: this.lab.etcd.endpoints[0],
      ca: this.lab.etcd.cafile,
      cert: this.lab.etcd.certfile,
      key: this.lab.etcd.keyfile,
      concurrency: 32,
      entries,
    };
    await this.lab.exec(this.lab.hosts['hdss7-12']!.netns, ['node', '--import', TSX, join(HERE, 'v2-load.ts')], {
      input: JSON.stringify(job),
      timeoutMs: 300_000,
    });
    return performance.now() - t0;
  }

  private async v3Load(entries: { key: string; value: string }[], leaseId?: string): Promise<number> {
    const t0 = performance.now();
    for (const txn of v3TxnBatches(entries, leaseId)) {
      const r = await this.lab.etcdctl(['txn'], { input: txn, timeoutMs: 60_000 });
      if (!/^SUCCESS/.test(r.stdout))
        throw new Error(`etcdctl txn: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
    }
    return performance.now() - t0;
  }

  /** The bench network's config and the two nodes' own leases, in both key spaces; then drift --fix until only flanneld.sh's prefix differs. */
  async setupNetwork(): Promise<void> {
    this.leaseId = parseLeaseGrant((await this.lab.etcdctl(['lease', 'grant', String(LEASE_TTL_S)])).stdout);
    const ownEntries = (api: EtcdApi) =>
      this.lab.nodes.map((n) => leaseEntry({ subnet: Ip4Net.parse(n.subnet), publicIp: Ip4.parse(n.ip) }, api));
    await this.v2Load([
      { key: `${BENCH_PREFIX}/config`, value: BENCH_CONFIG },
      ...ownEntries('v2').map((e) => ({ ...e, ttl: LEASE_TTL_S })),
    ]);
    await this.v3Load([{ key: `${BENCH_PREFIX}/config`, value: BENCH_CONFIG }]);
    await this.v3Load(ownEntries('v3'), this.leaseId);
    // the node as drift sees it with --network 172.0.0.0/11: the SNAT rule and subnet.env for
    // that network (iptables-restore, subnet.env), then the persisted rules; flanneld.sh keeps
    // the lab's real prefix (flanneld.flags stays "drift": exit 1 in every run, said in the results)
    for (let i = 0; i < 3; i++) {
      const s = await this.driftState('v2', ['--fix']);
      if (s.notOk.every((id) => id === 'flanneld.flags')) break;
    }
    for (const api of APIS) await this.expectOnlyPrefixDrift(api, 'the bench network after setup');
  }

  /** Leases [loaded, n) into both key spaces and their routes into the node, one ip -batch. */
  async loadTo(n: number): Promise<LoadRow> {
    const add = syntheticLeases(this.loaded, n);
    const v2Ms = await this.v2Load(add.map((l) => ({ ...leaseEntry(l, 'v2'), ttl: LEASE_TTL_S })));
    const v3Ms = await this.v3Load(
      add.map((l) => leaseEntry(l, 'v3')),
      this.leaseId,
    );
    const t0 = performance.now();
    await this.lab.exec(this.node.netns, ['ip', '-batch', '-'], { input: routeReplaceBatch(add, this.node.iface) });
    const routesMs = performance.now() - t0;
    this.loaded = n;
    return { n, added: add.length, v2Ms, v3Ms, routesMs };
  }

  async scrape(): Promise<Map<string, number>[]> {
    const hosts = this.lab.hosts['hdss7-12']!;
    return Promise.all(
      this.lab.etcd.endpoints.map(async (ep) => {
        const r = await this.lab.exec(hosts.netns, [
          'curl',
          '-sf',
          '--cacert',
          this.lab.etcd.cafile,
          '--cert',
          this.lab.etcd.certfile,
          '--key',
          this.lab.etcd.keyfile,
          `${ep}/metrics`,
        ]);
        return parseMetrics(r.stdout);
      }),
    );
  }

  /** Range reads on every member during one drift run, and during an idle interval as long. */
  async etcdReads(n: number, api: EtcdApi): Promise<{ row: EtcdRow; stderr: string }> {
    const total = (ms: Map<string, number>[]) => ms.reduce((s, m) => s + rangeReads(m, api), 0);
    const before = total(await this.scrape());
    const t0 = performance.now();
    const run = await this.lab.exec(this.node.netns, ['node', ...this.driftArgs(api), '--quiet'], { okStatus: [1] });
    const intervalMs = performance.now() - t0;
    const after = total(await this.scrape());
    const idle0 = total(await this.scrape());
    await sleep(intervalMs, this.signal);
    const idle1 = total(await this.scrape());
    const c0 = total(await this.scrape());
    await this.lab.exec(this.node.netns, [
      'bash',
      '-c',
      `${etcdReadCommand(api, this.lab.etcd.endpoints[0]!, BENCH_PREFIX, this.certs)} >/dev/null`,
    ]);
    const perRead = total(await this.scrape()) - c0;
    const net = after - before - (idle1 - idle0);
    return {
      row: {
        n,
        api,
        metric: METRIC_NAMES[api],
        during: after - before,
        idle: idle1 - idle0,
        net,
        perRead,
        reads: net / perRead,
        intervalMs,
      },
      stderr: run.stderr,
    };
  }

  /**
   * etcd bytes of ONE drift run at N (no lease changed since the last run). v3, counted on every
   * member (gRPC message bytes, net of an idle interval as long): once as cron runs it (the cache
   * warm: a warm-up run first), once with --no-cache (a full read). v2: etcd 3.4 counts no v2
   * bytes; the request, headers and body of the very GET drift makes, by curl.
   */
  async etcdBytes(n: number): Promise<BytesRow[]> {
    const total = (ms: Map<string, number>[]) =>
      ms.map(grpcBytes).reduce((a, b) => ({ received: a.received + b.received, sent: a.sent + b.sent }), {
        received: 0,
        sent: 0,
      });
    const rows: BytesRow[] = [];
    const v3Run = async (mode: BytesRow['mode']) => {
      const extra = mode === 'no-cache' ? ['--no-cache'] : [];
      if (mode === 'cached')
        await this.lab.exec(this.node.netns, ['node', ...this.driftArgs('v3'), '--quiet'], { okStatus: [1] });
      const before = total(await this.scrape());
      const t0 = performance.now();
      const r = await this.lab.exec(this.node.netns, ['node', ...this.driftArgs('v3'), '--json', ...extra], {
        okStatus: [1],
        timeoutMs: 120_000,
      });
      const intervalMs = performance.now() - t0;
      const after = total(await this.scrape());
      const idle0 = total(await this.scrape());
      await sleep(intervalMs, this.signal);
      const idle1 = total(await this.scrape());
      rows.push({
        n,
        api: 'v3',
        mode,
        counted: 'servers',
        received: after.received - before.received - (idle1.received - idle0.received),
        sent: after.sent - before.sent - (idle1.sent - idle0.sent),
        read: (JSON.parse(r.stdout) as { etcdRead: { kind: string } }).etcdRead.kind,
      });
    };
    await v3Run('cached');
    await v3Run('no-cache');
    const c = this.certs;
    const url = `${this.lab.etcd.endpoints[0]}/v2/keys${BENCH_PREFIX}?recursive=true&quorum=true`;
    const v2 = await this.lab.exec(this.node.netns, [
      'curl',
      '-sf',
      '--cacert',
      c.ca,
      '--cert',
      c.cert,
      '--key',
      c.key,
      '-o',
      '/dev/null',
      '-w',
      '%{size_request} %{size_header} %{size_download}',
      url,
    ]);
    const [req, head, body] = v2.stdout.trim().split(' ').map(Number) as [number, number, number];
    rows.push({ n, api: 'v2', mode: 'no-cache', counted: 'client', received: req, sent: head + body, read: 'full' });
    return rows;
  }

  /**
   * etcd writes of drift --publish runs, per API: the first run (v3: no lease in the cache yet)
   * and the next one. Every member applies every write, so a run's count is the largest
   * member's (keep-alives reach the leader only), net of an idle interval as long.
   */
  async publishWrites(): Promise<PublishRow[]> {
    type W = ReturnType<typeof writeCounters>;
    const counters = async () => (await this.scrape()).map(writeCounters);
    const delta = (a: W[], b: W[]): W => {
      const d = a.map((x, i) => ({
        puts: b[i]!.puts - x.puts,
        grants: b[i]!.grants - x.grants,
        renewals: b[i]!.renewals - x.renewals,
        v2Writes: b[i]!.v2Writes - x.v2Writes,
      }));
      const max = (k: keyof W) => Math.max(...d.map((x) => x[k]));
      return { puts: max('puts'), grants: max('grants'), renewals: max('renewals'), v2Writes: max('v2Writes') };
    };
    const out: PublishRow[] = [];
    for (const api of APIS) {
      for (const run of ['first', 'next'] as const) {
        const c0 = await counters();
        const t0 = performance.now();
        await this.lab.exec(this.node.netns, ['node', ...this.driftArgs(api), '--quiet', '--publish'], {
          okStatus: [1],
          timeoutMs: 120_000,
        });
        const intervalMs = performance.now() - t0;
        const c1 = await counters();
        await sleep(intervalMs, this.signal);
        const c2 = await counters();
        const w = delta(c0, c1);
        const idle = delta(c1, c2);
        out.push({
          api,
          run,
          puts: w.puts - idle.puts,
          grants: w.grants - idle.grants,
          renewals: w.renewals - idle.renewals,
          v2Writes: w.v2Writes - idle.v2Writes,
        });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ measurements

  async coldStart(): Promise<{ nodeE0: Timing; zx: Timing; cold: ColdRow[] }> {
    const dist = new Set(
      readdirSync(this.dist)
        .filter((f) => f.endsWith('.mjs'))
        .map((f) => f.slice(0, -4)),
    );
    const scripts = readdirSync(join(REPO, 'scripts'))
      .filter((f) => f.endsWith('.ts') && dist.has(f.slice(0, -3)))
      .map((f) => f.slice(0, -3))
      .sort();
    const t = await this.measure([
      { label: 'node-e0', argv: ['node', '-e', '0'] },
      { label: 'zx', argv: [ZX, join(HERE, 'trivial-zx.mjs')] },
      ...scripts.flatMap((s) => [
        { label: `dist:${s}`, argv: ['node', join(this.dist, `${s}.mjs`), '--help'] },
        { label: `tsx:${s}`, argv: [join(REPO, 'scripts', `${s}.ts`), '--help'] },
      ]),
    ]);
    const cold = scripts.map((s) => ({ script: s, dist: t.get(`dist:${s}`)!, tsx: t.get(`tsx:${s}`)! }));
    for (const c of cold)
      this.log(
        `    cold start ${c.script}: dist ${c.dist.wallMs.median.toFixed(0)} ms, tsx ${c.tsx.wallMs.median.toFixed(0)} ms`,
      );
    return { nodeE0: t.get('node-e0')!, zx: t.get('zx')!, cold };
  }

  async verifyPing(): Promise<{ ping: PingRow[]; pingDefaultWaitMs: number; pingW1WaitMs: number }> {
    const peer = this.peer;
    const octets = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `172.7.22.${from + i}`);
    if (peer.subnet !== '172.7.22.0/24')
      throw new Error(`verify-ping targets assume hdss7-22 holds 172.7.22.0/24, not ${peer.subnet}`);
    const onHost = octets(100, 150);
    const onPod = octets(150, 200);
    const dead = '172.7.22.190-172.7.22.199';
    await this.lab.exec(peer.netns, ['ip', '-batch', '-'], {
      input: onHost.map((a) => `addr add ${a}/32 dev docker0\n`).join(''),
    });
    await this.lab.exec(peer.pod.netns, ['ip', '-batch', '-'], {
      input: onPod.map((a) => `addr add ${a}/32 dev lo\n`).join(''),
    });
    const targets = [...onHost, ...onPod];
    const verifyArgv = (flags: readonly string[]) => [
      'node',
      join(this.dist, 'verify-ping.mjs'),
      '--cluster',
      this.cluster,
      '--node',
      this.node.name,
      '--root',
      this.node.root,
      '--targets',
      targets.join(','),
      ...flags,
    ];
    const failedRows = async (flags: readonly string[]) => {
      const r = await this.lab.exec(this.node.netns, [...verifyArgv(flags), '--json'], {
        okStatus: [1],
        timeoutMs: 120_000,
      });
      const j = JSON.parse(r.stdout) as { prober: string; rows: { ok: boolean }[] };
      return { failed: j.rows.filter((x) => !x.ok).length, prober: j.prober };
    };
    // verify-ping's defaults (as its --help states them), and two probes per target (a loss figure)
    const help = (await this.lab.exec(this.node.netns, ['node', join(this.dist, 'verify-ping.mjs'), '--help'])).stdout;
    const defaults = ['count', 'wait', 'concurrency']
      .map((f) => `--${f} ${new RegExp(`--${f} .*\\(default (\\S+)\\)`).exec(help)?.[1] ?? '?'}`)
      .join(' ');
    // the default prober (fping when installed), a loss figure, and one ping per target as before fping
    const variants: readonly (readonly string[])[] = [[], ['--count', '2'], ['--prober', 'ping']];
    const probers = new Map<string, string>();
    const rows: PingRow[] = [];
    let pingDefaultWaitMs = NaN;
    let pingW1WaitMs = NaN;
    const drop = ['INPUT', '-m', 'iprange', '--dst-range', dead, '-j', 'DROP'];
    for (const scenario of ['10 of 100 never answer', 'all 100 answer'] as const) {
      const deadOnes = scenario === '10 of 100 never answer';
      const status = deadOnes ? 1 : 0;
      await this.lab.exec(peer.pod.netns, ['iptables', deadOnes ? '-I' : '-D', ...drop]);
      for (const flags of variants) {
        const { failed, prober } = await failedRows(flags);
        probers.set(flags.join(' '), prober);
        if (failed !== (deadOnes ? 10 : 0))
          throw new Error(
            `verify-ping ${flags.join(' ')} (${scenario}): ${failed} rows failed, expected ${deadOnes ? 10 : 0}`,
          );
      }
      // seconds per run: no warm-up (the --json runs above warmed the caches)
      const t = await this.measure(
        [
          { label: 'loop', argv: pingLoop(targets, 1) },
          ...variants.map((flags, i) => ({ label: `verify${i}`, argv: verifyArgv(flags), okStatus: [status] })),
        ],
        { warmup: 0 },
      );
      variants.forEach((flags, i) => {
        rows.push({
          scenario,
          flags: flags.join(' '),
          prober: probers.get(flags.join(' ')) ?? '?',
          defaults,
          verify: t.get(`verify${i}`)!,
          loop: t.get('loop')!,
          failed: deadOnes ? 10 : 0,
        });
        this.log(
          `    verify-ping ${flags.join(' ') || '(defaults)'} (${probers.get(flags.join(' '))}), ${scenario}: ${t.get(`verify${i}`)!.wallMs.median.toFixed(0)} ms; ping -c1 loop ${t.get('loop')!.wallMs.median.toFixed(0)} ms`,
        );
      });
      if (deadOnes) {
        // one silent target with -W1 (as in the loop) and as typed by hand (no -W: iputils' own wait)
        pingW1WaitMs = (
          await this.measureOne(
            { argv: ['ping', '-n', '-c1', '-W1', '172.7.22.199'], okStatus: [1] },
            { runs: 1, warmup: 0 },
          )
        ).wallMs.median;
        pingDefaultWaitMs = (
          await this.measureOne({ argv: ['ping', '-n', '-c1', '172.7.22.199'], okStatus: [1] }, { runs: 1, warmup: 0 })
        ).wallMs.median;
      }
    }
    return { ping: rows, pingDefaultWaitMs, pingW1WaitMs };
  }

  async atN(
    n: number,
    out: {
      drift: DriftRow[];
      floor: FloorRow[];
      check: CheckRow[];
      fix: FixRow[];
      fixBaseline: FixBaselineRow[];
      etcd: EtcdRow[];
      bytes: BytesRow[];
    },
  ): Promise<void> {
    const leases = syntheticLeases(0, n);
    const f = (name: string, text: string) => {
      const p = join(this.scratch, `${name}-${n}`);
      writeFileSync(p, text);
      return p;
    };
    const addFile = f('add.batch', routeReplaceBatch(leases, this.node.iface));
    const delFile = f('del.batch', routeDelBatch(leases, this.node.iface));
    const routesFile = f('routes.txt', routeTable(leases));
    const sample = sampleIndexes(n, this.opts.checkSample).map(syntheticLease);
    const endpoint = this.lab.etcd.endpoints[0]!;
    const del = `ip -batch ${delFile}`;

    // what drift says first: only flanneld.flags not ok, every lease's route in place
    const states = new Map<EtcdApi, Awaited<ReturnType<Bench['driftState']>>>();
    for (const api of APIS) {
      const state = await this.expectOnlyPrefixDrift(api, `${n} leases loaded`);
      const peers = state.reason('routes.peers');
      if (!peers.includes(`${n + 1} peer routes`))
        throw new Error(`drift (${api}) at N=${n}: routes.peers says "${peers}", expected ${n + 1} peer routes`);
      states.set(api, state);
    }
    // drift, the floor and node -e 0, side by side
    const t = await this.measure([
      ...APIS.map((api) => ({
        label: `drift-${api}`,
        argv: ['node', ...this.driftArgs(api), '--quiet'],
        okStatus: [0, 1],
      })),
      ...APIS.map((api) => ({ label: `floor-${api}`, argv: floorScript(api, endpoint, BENCH_PREFIX, this.certs) })),
      { label: 'node-e0', argv: ['node', '-e', '0'] },
    ]);
    const load1 = loadavg()[0]!;
    for (const api of APIS) {
      const straceLog = join(this.scratch, `strace-${api}-${n}`);
      await this.lab.exec(
        this.node.netns,
        ['strace', '-f', '-qq', '-e', 'trace=execve', '-o', straceLog, 'node', ...this.driftArgs(api), '--quiet'],
        { okStatus: [1], timeoutMs: 120_000 },
      );
      const kids = countChildProcesses(readFileSync(straceLog, 'utf8'));
      const state = states.get(api)!;
      const reads = await this.etcdReads(n, api);
      out.etcd.push(reads.row);
      out.drift.push({
        n,
        api,
        timing: t.get(`drift-${api}`)!,
        children: kids.count,
        childPrograms: kids.programs,
        selfReported: state.childProcesses,
        exit: state.exit,
        notOk: state.notOk,
        quietStderr: reads.stderr,
        load1,
      });
      out.floor.push({ n, api, timing: t.get(`floor-${api}`)!, nodeE0: t.get('node-e0')! });
    }

    // etcd bytes of one run, with the cache and without (v3), and v2's
    const bytes = await this.etcdBytes(n);
    out.bytes.push(...bytes);
    this.log(
      `    N=${n}: etcd bytes per run ${bytes.map((b) => `${b.api} ${b.api === 'v3' ? `${b.mode} (${b.read})` : ''} ${b.received}+${b.sent}`).join(', ')}`,
    );

    // the naive check (a sample of the leases when N is large), both APIs side by side
    const ct = await this.measure(
      APIS.map((api) => ({
        label: `check-${api}`,
        argv: naiveCheckLoop(
          f(`check-${api}.txt`, checkTable(sample, api)),
          etcdctlWords(api, this.lab.etcd.endpoints, this.certs),
        ),
      })),
      { warmup: 0 },
    );
    for (const api of APIS)
      out.check.push({
        n,
        api,
        sampled: sample.length,
        timing: ct.get(`check-${api}`)!,
        wallMs: scaled(ct.get(`check-${api}`)!.wallMs, n / sample.length),
      });

    // drift --fix: once with --json to see it restore the routes, then timed beside one ip -batch
    for (const api of APIS) {
      await this.lab.exec(this.node.netns, ['ip', '-batch', delFile]);
      const fixed = await this.driftState(api, ['--fix']);
      if (!fixed.fixed.some((x) => /ip -batch/.test(x)) || fixed.notOk.some((id) => id !== 'flanneld.flags')) {
        throw new Error(
          `drift --fix (${api}) at N=${n} did not restore the routes: fixed ${JSON.stringify(fixed.fixed)}, not ok ${fixed.notOk.join(', ')}`,
        );
      }
    }
    const ft = await this.measure([
      ...APIS.map((api) => ({
        label: `fix-${api}`,
        setup: del,
        argv: ['node', ...this.driftArgs(api), '--fix', '--quiet'],
        okStatus: [0, 1],
      })),
      { label: 'ip-batch', setup: del, argv: ['ip', '-batch', addFile] },
    ]);
    for (const api of APIS) out.fix.push({ n, api, timing: ft.get(`fix-${api}`)! });
    const loop = await this.measureOne({ setup: del, argv: naiveFixLoop(routesFile, this.node.iface) }, { warmup: 0 });
    out.fixBaseline.push({ n, ipBatch: ft.get('ip-batch')!, loop });
    for (const api of APIS) {
      const d = out.drift.find((x) => x.n === n && x.api === api)!;
      const fl = out.floor.find((x) => x.n === n && x.api === api)!;
      this.log(
        `    N=${n} ${api}: drift ${d.timing.wallMs.median.toFixed(0)} ms, ${d.timing.rssMb.max.toFixed(0)} MB, ${d.children} children; floor ${fl.timing.wallMs.median.toFixed(0)} ms + node -e 0 ${fl.nodeE0.wallMs.median.toFixed(0)} ms; etcd reads ${out.etcd.find((x) => x.n === n && x.api === api)!.reads}; naive check ${out.check.find((x) => x.n === n && x.api === api)!.wallMs.median.toFixed(0)} ms; --fix ${ft.get(`fix-${api}`)!.wallMs.median.toFixed(0)} ms`,
      );
    }
    this.log(
      `    N=${n}: ip -batch ${ft.get('ip-batch')!.wallMs.median.toFixed(1)} ms, ip route replace loop ${loop.wallMs.median.toFixed(0)} ms`,
    );
    // every route is back (the loop ran last)
    await this.expectOnlyPrefixDrift('v2', `after the fix measurements at N=${n}`);
  }
}

/** A prefix of the remote phase's own (not an automatic frbXXXX one): `brem` + 4 hex digits. */
function remotePrefix(): string {
  for (;;) {
    const p = `brem${randomBytes(2).toString('hex')}`;
    if (!existsSync(labDirOf(p))) return p;
  }
}

/**
 * Issue 12's remote phase: its lab (remote mode, opts.remoteNodes nodes), the runbook over ssh
 * from the control host (scripts/runbook.ts), then remote.ts's measurements. `onLab` gets the
 * lab as soon as it is built: the caller tears it down whatever happens next.
 */
async function runRemotePhase(
  opts: Options,
  log: (l: string) => void,
  signal: AbortSignal,
  onLab: (lab: Lab) => void,
): Promise<RemoteResults> {
  log(`bench: the remote phase (issue 12): a lab of ${opts.remoteNodes} nodes in the remote mode`);
  const tLab = performance.now();
  const lab = await createLab({
    remote: true,
    nodes: opts.remoteNodes,
    prefix: remotePrefix(),
    signal,
    log: (l) => log(`    ${l}`),
  });
  onLab(lab);
  const labS = (performance.now() - tLab) / 1000;
  log(`bench: lab ${lab.prefix} (${labS.toFixed(1)} s); scripts/runbook.ts from the control host over ssh`);
  const { cluster, result, seconds } = await runbookRemote(lab, { startsecs: 2 });
  if (result.status !== 0)
    throw new Error(
      `scripts/runbook.ts over ssh exited ${result.status}:\n${`${result.stderr}${result.stdout}`.slice(-3000)}`,
    );
  log(`bench: runbook over ssh done (${seconds.toFixed(1)} s)`);
  const b = new Bench(lab, opts, log, signal);
  const r = await remotePhase({
    lab,
    cluster,
    dist: b.dist,
    scratch: b.scratch,
    runs: opts.runs,
    warmup: opts.warmup,
    log,
    measure: (netns, jobs, o = {}) => b.measure(jobs, { ...o, netns }),
    settle: () => b.settle(),
  });
  return { ...r, setupSeconds: { lab: labS, runbook: seconds, settle: b.settledS } };
}

export async function main(argv: readonly string[]): Promise<number> {
  const log = (l: string) => process.stderr.write(`${l}\n`);
  let opts: Options;
  try {
    const o = parseOptions(argv);
    if (o === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return ExitCode.Ok;
    }
    opts = o;
  } catch (e) {
    log(`bench: ${(e as Error).message}`);
    return exitCodeOf(e);
  }
  if (process.getuid?.() !== 0) {
    log('bench: must run as root (network namespaces, iptables)');
    return ExitCode.Usage;
  }
  // the stopwatch and the process counter (lab/setup.sh does not install them yet)
  const missing = [['/usr/bin/time', 'time'], ...(opts.only === 'remote' ? [] : [['/usr/bin/strace', 'strace']])]
    .filter(([f]) => !existsSync(f!))
    .map(([, pkg]) => pkg!);
  if (missing.length) {
    log(`bench: needs ${missing.join(' and ')}: apt-get install ${missing.join(' ')}`);
    return ExitCode.Usage;
  }
  for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
  const ac = new AbortController();
  let interrupted: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted === undefined) {
      interrupted = sig;
      log(`\nbench: ${sig}: stopping, tearing the lab down...`);
      ac.abort();
    } else log(`bench: ${sig} again: still tearing down, please wait`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const loadStart = loadavg()[0]!;
  const commit = commitStamp();
  const otherLabs = [...new Set((await listNetns()).map((n) => n.split('-')[0]!))].sort();
  let lab: Lab | undefined;
  let remoteLab: Lab | undefined;
  let code: number = ExitCode.Ok;
  const keepOrDestroy = async (l: Lab) => {
    if (opts.keep && interrupted === undefined) {
      l.keep();
      log(`bench: lab ${l.prefix} left up (npm run lab -- down ${l.prefix})`);
    } else {
      await l.destroy();
      log(`bench: lab ${l.prefix} torn down`);
    }
  };
  try {
    let remote: RemoteResults | undefined;
    if (opts.only !== 'local') {
      // issue 12's phase first, on a lab of its own, down before the other is built
      try {
        remote = await runRemotePhase(opts, log, ac.signal, (l) => {
          remoteLab = l;
        });
      } finally {
        if (remoteLab) await keepOrDestroy(remoteLab);
        remoteLab = undefined;
      }
    }
    if (opts.only === 'remote') {
      const results = {
        machine: machine(commit, loadStart, otherLabs),
        params: { runs: opts.runs, warmup: opts.warmup, settleS: opts.settleS, remoteNodes: opts.remoteNodes },
        startedAt,
        benchSeconds: (performance.now() - t0) / 1000,
        remote: remote!,
        targets: issue12Targets(remote!),
      };
      const md = formatRemoteOnly(results);
      writeFileSync(`${opts.out}.json`, `${JSON.stringify(results, null, 2)}\n`);
      writeFileSync(`${opts.out}.md`, md);
      process.stdout.write(md);
      log(`bench: wrote ${opts.out}.md and ${opts.out}.json`);
      return code;
    }
    log(`bench: N = ${opts.n.join(', ')}, ${opts.runs} runs (+${opts.warmup} warm-up)`);
    const tLab = performance.now();
    lab = await createLab({ signal: ac.signal, log: (l) => log(`    ${l}`) });
    const labS = (performance.now() - tLab) / 1000;
    log(`bench: lab ${lab.prefix} (${labS.toFixed(1)} s); the runbook with the toolkit's scripts`);
    const tRun = performance.now();
    await runbookWithScripts(lab, { startsecs: 2, log: (l) => log(`    ${l}`) });
    const runbookS = (performance.now() - tRun) / 1000;
    const b = new Bench(lab, opts, log, ac.signal);

    log('bench: cold start');
    const { nodeE0, zx, cold } = await b.coldStart();
    log('bench: verify-ping over 100 targets');
    const { ping, pingDefaultWaitMs, pingW1WaitMs } = await b.verifyPing();
    log(`bench: the bench network ${BENCH_NETWORK} under ${BENCH_PREFIX} (v2 and v3)`);
    await b.setupNetwork();
    const out = {
      drift: [] as DriftRow[],
      floor: [] as FloorRow[],
      check: [] as CheckRow[],
      fix: [] as FixRow[],
      fixBaseline: [] as FixBaselineRow[],
      etcd: [] as EtcdRow[],
      bytes: [] as BytesRow[],
    };
    const load: LoadRow[] = [];
    for (const n of opts.n) {
      const l = await b.loadTo(n);
      load.push(l);
      log(
        `bench: N=${n}: +${l.added} leases (v2 ${l.v2Ms.toFixed(0)} ms, v3 ${l.v3Ms.toFixed(0)} ms), routes ${l.routesMs.toFixed(0)} ms`,
      );
      await b.atN(n, out);
    }
    log('bench: the etcd writes of drift --publish (v2 and v3)');
    const publish = await b.publishWrites();
    const partial = {
      machine: machine(
        commit,
        loadStart,
        otherLabs.filter((p) => p !== lab!.prefix),
      ),
      params: {
        n: opts.n,
        runs: opts.runs,
        warmup: opts.warmup,
        checkSample: opts.checkSample,
        quick: opts.quick,
        settleS: opts.settleS,
      },
      startedAt,
      benchSeconds: (performance.now() - t0) / 1000,
      setupSeconds: { lab: labS, runbook: runbookS, settle: b.settledS },
      nodeE0,
      zx,
      cold,
      ping,
      pingDefaultWaitMs,
      pingW1WaitMs,
      load,
      ...out,
      publish,
      ...(remote && { remote }),
    };
    const results: Results = { ...partial, targets: evaluateTargets(partial) };
    const md = formatResults(results);
    writeFileSync(`${opts.out}.json`, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(`${opts.out}.md`, md);
    process.stdout.write(md);
    log(`bench: wrote ${opts.out}.md and ${opts.out}.json`);
  } catch (e) {
    if (interrupted === undefined) {
      log(`bench: ${(e as Error).stack ?? (e as Error).message}`);
      code = exitCodeOf(e) === ExitCode.Usage ? ExitCode.Usage : ExitCode.Runtime;
    }
  } finally {
    if (interrupted !== undefined) code = 130;
    if (lab) await keepOrDestroy(lab);
    for (const s of signals) process.off(s, onSignal);
  }
  log(`bench: ${code === 0 ? 'done' : `exit ${code}`} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return code;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.env.SHLVL ??= '1';
  process.exitCode = await main(process.argv.slice(2));
}
