// The benchmark's results as Markdown (pure): the machine, the targets met or not, then one
// table per measurement. Every figure is `median (min-max)` over the runs.

import type { Figure } from './stats.ts';
import {
  FLEET_NODES,
  fleetRate,
  type Machine,
  type RemoteResults,
  type RequestSummary,
  type Results,
  type TargetRow,
} from './targets.ts';

const num = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const fig = (f: Figure) => `${num(f.median)} (${num(f.min)}-${num(f.max)})`;
const row = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]) =>
  [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');

const machineLine = (m: Machine, startedAt: string) =>
  `Machine: ${m.nproc} cores, ${m.cpu}, kernel ${m.kernel}, node ${m.node}, etcd ${m.etcd}, ${m.iproute2}. Commit ${m.commit}, ${startedAt}. Load average (1 min) ${m.loadavg.start.toFixed(2)} at the start, ${m.loadavg.end.toFixed(2)} at the end${m.otherLabs.length ? `; ${m.otherLabs.length} other lab(s) up on the machine at the start (${m.otherLabs.join(', ')}): figures include their noise` : ''}.`;

const targetsTable = (rows: readonly TargetRow[]) =>
  table(
    ['target', 'met', 'numbers'],
    rows.map((t) => [t.target, t.met === null ? 'reported' : t.met ? '**met**' : '**NOT met**', t.numbers]),
  );

/** `npm run bench -- --only remote`: the machine, issue 12's targets, the remote section. */
export function formatRemoteOnly(r: {
  readonly machine: Machine;
  readonly startedAt: string;
  readonly benchSeconds: number;
  readonly remote: RemoteResults;
  readonly targets: readonly TargetRow[];
}): string {
  const out: string[] = [];
  out.push('# flannel-runbook benchmark: the remote phase only (`--only remote`)');
  out.push('');
  out.push(machineLine(r.machine, r.startedAt));
  out.push(`Bench: ${num(r.benchSeconds)} s in all.`);
  out.push('');
  out.push(...remoteTargets(r.targets));
  out.push(...formatRemote(r.remote));
  return out.join('\n');
}

function remoteTargets(targets: readonly TargetRow[]): string[] {
  const i12 = targets.filter((t) => t.issue === 12);
  const judged = i12.filter((t) => t.met !== null);
  return [
    '## Targets (issue 12, remote mode)',
    '',
    `${judged.filter((t) => t.met).length} of ${judged.length} met.`,
    '',
    targetsTable(i12),
    '',
  ];
}

const requestTable = (s: RequestSummary) =>
  table(
    ['request', 'per run', 'ms per run (sum of their durations)', 'of which waiting for a worker session'],
    s.byWhat.map((x) => [`\`${x.what}\``, num(x.count), num(x.ms), num(x.waitMs)]),
  );

const timelineTable = (s: RequestSummary) =>
  table(
    ['request', 'on', 'asked at ms', 'got a worker at ms', 'answered at ms'],
    s.timeline.map((q) => [
      `\`${q.via} ${q.what}\``,
      q.detail ? `\`${q.detail.replaceAll('|', '\\|')}\`` : '',
      num(q.startMs),
      q.gotWorkerMs === undefined ? '-' : num(q.gotWorkerMs),
      num(q.endMs),
    ]),
  );

/** The remote phase's section: its rows, then where a warm run's time goes. */
export function formatRemote(r: RemoteResults): string[] {
  const out: string[] = [];
  out.push(`## drift over ssh (issue 12: the remote mode, ${r.nodes} nodes)`);
  out.push('');
  out.push(
    `A lab of its own (\`createLab({ remote: true, nodes: ${r.nodes} })\`, prefix ${r.prefix}: built in ${num(r.setupSeconds.lab)} s; \`scripts/runbook.ts\` from the control host over ssh, ${num(r.setupSeconds.runbook)} s; ${num(r.setupSeconds.settle)} s waiting for a quiet machine). The node: ${r.node}; its sshd sessions have no Node.js and iproute2 4.11 first in PATH. drift --all-nodes before the measurements: exits ${r.nodeExits.map((n) => n.exit).join(' ')}.`,
  );
  out.push(
    `measure.sh rows: median (min-max) of ${r.runs} runs after ${r.warmup} untimed warm-up run(s), side by side. In-process rows (lab/bench/warm-drift.ts): drift's own main called ${r.warmRuns + 1} times in one process, the first run left out (reported apart), ${r.warmRounds} such processes per side, local and remote alternating.`,
  );
  out.push('');
  out.push(
    table(
      ['measurement', 'where, how timed', 'ms', 'runs', 'exits', 'note'],
      r.rows.map((x) => [
        `\`${x.what}\``,
        x.where,
        fig(x.wallMs),
        x.wallMs.runs,
        [...new Set(x.exits)].join(', ') || '-',
        x.note,
      ]),
    ),
  );
  out.push('');
  const q = r.requests;
  out.push('### Where a warm run goes');
  out.push('');
  out.push(
    `Over ssh (the warm runs): ${num(q.remote.perRun)} requests per run (median), ${num(q.remote.busyMs)} of its ${num(q.remote.runMs)} ms with at least one in flight, at most ${q.remote.maxInFlight} at once. A \`ssh:cmd\` is one command over a worker session (or a session of its own for a large stdin); \`ssh:lock\` the lock's own session (a new ssh process over the master, every run). Locally (the same driver in the node's namespace): ${num(q.local.perRun)} requests per run, ${num(q.local.busyMs)} of ${num(q.local.runMs)} ms with one in flight, at most ${q.local.maxInFlight} at once.`,
  );
  out.push('');
  out.push(requestTable(q.remote));
  out.push('');
  out.push(requestTable(q.local));
  out.push('');
  out.push('### CPU, one run each');
  out.push('');
  out.push(
    "GNU time's user + sys of the command with its children (node and its ssh clients: the control host's share), and every core's busy time meanwhile (/proc/stat: the nodes' sshd sessions and the commands they run share this machine's cores in the lab, as do etcd and any other lab). Per node: drift --json's durationMs.",
  );
  out.push('');
  out.push(
    table(
      ['run', 'wall s', 'CPU s (the command and its ssh)', 'machine busy s (every core)', 'per node ms'],
      r.cpu.map((c) => [
        c.what,
        num(c.wallS),
        num(c.cpuS),
        num(c.machineCpuS),
        c.nodeMs.map((n) => `${n.node} ${num(n.ms)}`).join(', '),
      ]),
    ),
  );
  out.push('');
  out.push(
    `<details><summary>The warm remote run of median time (${num(Math.max(0, ...q.remote.timeline.map((x) => x.endMs)))} ms to its last answer), request by request</summary>`,
  );
  out.push('');
  out.push(timelineTable(q.remote));
  out.push('');
  out.push('</details>');
  out.push('');
  return out;
}

export function formatResults(r: Results): string {
  const m = r.machine;
  const p = r.params;
  const out: string[] = [];
  out.push(`# flannel-runbook benchmark${p.quick ? ' (quick run)' : ''}`);
  out.push('');
  out.push(machineLine(m, r.startedAt));
  out.push(
    `Bench: ${num(r.benchSeconds)} s in all (lab ${num(r.setupSeconds.lab)} s, runbook ${num(r.setupSeconds.runbook)} s, ${num(r.setupSeconds.settle)} s waiting for a quiet machine: each block starts when the CPUs are under 35% busy, within ${p.settleS} s in all). N = ${p.n.join(', ')} synthetic leases (plus the 2 nodes' own) in etcd v2 and v3 under \`/bench/network\`, network 172.0.0.0/11.`,
  );
  out.push(
    `Every figure: median (min-max) of ${p.runs} runs after ${p.warmup} untimed warm-up run(s) (the shell loops: no warm-up), wall time in ms, peak RSS in MB, measured inside the node's namespace (\`lab/bench/measure.sh\`: bash's $EPOCHREALTIME, GNU time's %M).`,
  );
  out.push('');
  const targets = targetsTable;
  const i16 = r.targets.filter((t) => t.issue === 16);
  out.push('## Targets (issue 16)');
  out.push('');
  out.push(`${i16.filter((t) => t.met).length} of ${i16.length} met.`);
  out.push('');
  out.push(targets(i16));
  out.push('');
  out.push('## Targets (issue 7, those issue 16 does not restate)');
  out.push('');
  out.push(targets(r.targets.filter((t) => t.issue === 7)));
  out.push('');
  if (r.remote) out.push(...remoteTargets(r.targets));

  out.push('## drift, the cron path (`node dist/drift.mjs --quiet`)');
  out.push('');
  out.push(
    `Floor: one \`ip -j route\`, one \`iptables-save\` and one etcd range read (curl: v2 recursive GET, v3 gateway range) by bash. Naive check: per lease one \`etcdctl get\` and one \`ip route show\`${r.check.some((c) => c.sampled < c.n) ? ` (N > ${p.checkSample}: a sample of ${p.checkSample} leases, extrapolated x N/${p.checkSample}; marked ~)` : ''}.`,
  );
  out.push('');
  out.push(
    table(
      [
        'N',
        'API',
        'drift ms',
        'peak RSS MB',
        'child processes (strace / self-reported)',
        'floor ms',
        '`node -e 0` ms',
        'drift / (floor + node -e 0)',
        'naive check ms',
        'naive / drift',
        'CPU busy before the block %',
      ],
      r.drift.map((d) => {
        const f = r.floor.find((x) => x.n === d.n && x.api === d.api);
        const c = r.check.find((x) => x.n === d.n && x.api === d.api);
        const base = f ? f.timing.wallMs.median + f.nodeE0.wallMs.median : NaN;
        return [
          d.n,
          d.api,
          fig(d.timing.wallMs),
          fig(d.timing.rssMb),
          `${d.children} / ${d.selfReported}`,
          f ? fig(f.timing.wallMs) : '-',
          f ? fig(f.nodeE0.wallMs) : '-',
          (d.timing.wallMs.median / base).toFixed(2),
          c ? `${c.sampled < c.n ? '~' : ''}${fig(c.wallMs)}` : '-',
          c ? `${(c.wallMs.median / d.timing.wallMs.median).toFixed(0)}x` : '-',
          d.timing.busyPct?.toFixed(0) ?? '-',
        ];
      }),
    ),
  );
  out.push('');
  const noisy = r.drift.filter((d) => d.quietStderr.trim() !== '');
  const stderrNote = noisy.length
    ? ` A \`--quiet\` run wrote to stderr (cron mails it every minute) with ${[...new Set(noisy.map((d) => d.api))].join(', ')}: \`${noisy[0]!.quietStderr.trim().split('\n')[0]!.slice(0, 200)}\`.`
    : ' No `--quiet` run wrote to stderr.';
  out.push(
    `\`node -e 0\` is measured beside the floor at each N.${stderrNote} drift's exit status in this lab: ${[...new Set(r.drift.map((d) => d.exit))].join(', ')} (checks not ok: ${[...new Set(r.drift.flatMap((d) => d.notOk))].join(', ') || 'none'}: flanneld.sh names the lab's real prefix, not /bench/network).`,
  );
  out.push('');

  out.push('## drift --fix: N deleted routes restored');
  out.push('');
  out.push(
    'Before every run one `ip -batch` deletes the N synthetic routes (untimed). Shell loop: `while read dst via; do ip route replace ...; done`.',
  );
  out.push('');
  out.push(
    table(
      [
        'N',
        'drift --fix v2 ms',
        'drift --fix v3 ms',
        'one ip -batch ms',
        'shell loop ms',
        'loop / drift --fix (v2, v3)',
      ],
      r.fixBaseline.map((b) => {
        const v2 = r.fix.find((x) => x.n === b.n && x.api === 'v2');
        const v3 = r.fix.find((x) => x.n === b.n && x.api === 'v3');
        const sp = (x: typeof v2) => (x ? `${(b.loop.wallMs.median / x.timing.wallMs.median).toFixed(1)}x` : '-');
        return [
          b.n,
          v2 ? fig(v2.timing.wallMs) : '-',
          v3 ? fig(v3.timing.wallMs) : '-',
          fig(b.ipBatch.wallMs),
          fig(b.loop.wallMs),
          `${sp(v2)}, ${sp(v3)}`,
        ];
      }),
    ),
  );
  out.push('');

  out.push('## etcd reads per drift run, counted on the servers');
  out.push('');
  out.push(
    "Every member's /metrics scraped before and after one drift run; less the same counters over an idle interval as long (flanneld's watch, etcd's own reads); divided by what ONE range read by curl adds to them (etcd 3.4 counts a v2 GET twice: the read and its auth check's read of /2/enabled).",
  );
  out.push('');
  out.push(
    table(
      [
        'N',
        'API',
        'counter (sum over the 3 members)',
        'during the run',
        'idle interval',
        'net',
        'one curl range read',
        'range reads by drift',
      ],
      r.etcd.map((e) => [e.n, e.api, `\`${e.metric}\``, e.during, e.idle, e.net, e.perRead, e.reads]),
    ),
  );
  out.push('');

  out.push('## etcd bytes per drift run, no lease changed');
  out.push('');
  out.push(
    `v3: every member's gRPC message bytes (\`etcd_network_client_grpc_{received,sent}_bytes_total\`: no TLS or HTTP/2 framing) around one drift run, less an idle interval as long; "cached" is the cron run (the cache warm: a warm-up run first), "no-cache" is \`--no-cache\` (a full read, as every run made before the cache). v2: etcd 3.4 counts no v2 bytes, so the request, headers and body of the very GET drift makes (\`?recursive=true&quorum=true\`), by curl. Fleet: ${FLEET_NODES} nodes, one run a minute each.`,
  );
  out.push('');
  out.push(
    table(
      ['N', 'API', 'run', 'how drift read', 'to etcd B', 'from etcd B', 'counted', `${FLEET_NODES} nodes`],
      r.bytes.map((b) => [
        b.n,
        b.api,
        b.api === 'v2' ? '(every run)' : b.mode,
        b.read,
        b.received,
        b.sent,
        b.counted === 'servers' ? 'on the servers' : 'by curl',
        fleetRate(b.received + b.sent),
      ]),
    ),
  );
  out.push('');

  out.push('## etcd writes per drift --publish run');
  out.push('');
  out.push(
    "Every member's `etcd_debugging_mvcc_put_total`, `etcd_debugging_lease_{granted,renewed}_total` and `etcd_debugging_store_writes_total` (v2) around one `drift --publish` run, less an idle interval as long; a write is applied by every member, so a run's count is the largest member's (keep-alives reach only the leader). v3's first run has no lease in its cache yet.",
  );
  out.push('');
  out.push(
    table(
      ['API', 'run', 'v3 puts', 'lease grants', 'keep-alives', 'v2 writes'],
      r.publish.map((p) => [p.api, p.run, p.puts, p.grants, p.renewals, p.v2Writes]),
    ),
  );
  out.push('');

  out.push('## verify-ping over 100 targets (from hdss7-21)');
  out.push('');
  out.push(
    "Targets: 50 addresses on hdss7-22's docker0, 50 on its pod's lo; the 10 that never answer are DROPped in the pod. Loop: `ping -n -c1 -W1` per target, one after the other (-W1: the same 1 s wait per reply as verify-ping's default --wait 1).",
  );
  out.push(
    `One silent target: \`ping -n -c1 -W1\` ${num(r.pingW1WaitMs)} ms; typed by hand without -W, \`ping -c1\` waits iputils' own ${num(r.pingDefaultWaitMs)} ms (1 run each), so the loop as typed would take about 10 x ${num((r.pingDefaultWaitMs - r.pingW1WaitMs) / 1000)} s more than the -W1 loop with 10 silent targets.`,
  );
  out.push('');
  out.push(
    table(
      [
        'scenario',
        'verify-ping flags',
        'prober',
        'verify-ping ms',
        'ping -c1 loop ms',
        'loop / verify-ping',
        'rows failed',
      ],
      r.ping.map((x) => [
        x.scenario,
        x.flags || `(defaults: ${x.defaults})`,
        x.prober,
        fig(x.verify.wallMs),
        fig(x.loop.wallMs),
        `${(x.loop.wallMs.median / x.verify.wallMs.median).toFixed(2)}x`,
        x.failed,
      ]),
    ),
  );
  out.push('');

  out.push('## Cold start (`--help`)');
  out.push('');
  out.push(
    table(
      ['script', 'node dist/*.mjs ms', 'RSS MB', 'scripts/*.ts (tsx) ms', 'RSS MB'],
      [
        ...r.cold.map((c) => [c.script, fig(c.dist.wallMs), fig(c.dist.rssMb), fig(c.tsx.wallMs), fig(c.tsx.rssMb)]),
        ['`node -e 0`', fig(r.nodeE0.wallMs), fig(r.nodeE0.rssMb), '', ''],
        ['trivial zx script (`zx trivial-zx.mjs`: one `$\\`true\\``)', fig(r.zx.wallMs), fig(r.zx.rssMb), '', ''],
      ],
    ),
  );
  out.push('');

  out.push('## Loading the leases');
  out.push('');
  out.push(
    'v2: parallel PUTs with TTL (one keep-alive TLS agent, 32 in flight); v3: `etcdctl txn` batches of 128 puts bound to one lease grant; routes: one `ip -batch` in the node namespace.',
  );
  out.push('');
  out.push(
    table(
      ['N', 'leases added', 'v2 ms', 'v3 ms', 'routes ms'],
      r.load.map((l) => [l.n, l.added, num(l.v2Ms), num(l.v3Ms), num(l.routesMs)]),
    ),
  );
  out.push('');
  if (r.remote) out.push(...formatRemote(r.remote));
  return out.join('\n');
}
