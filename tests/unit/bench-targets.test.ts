// lab/bench/targets: issue 16's table judged on results (pure): every row in the issue's order,
// each threshold at its edge, the fleet figure from the bytes counted on the servers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateTargets, fleetMBps, fleetRate, issue16Targets, type Results } from '../../lab/bench/targets.ts';
import type { Timing } from '../../lab/bench/stats.ts';

const t = (ms: number): Timing => ({
  wallMs: { median: ms, min: ms, max: ms, runs: 1 },
  rssMb: { median: 60, min: 60, max: 60, runs: 1 },
  statuses: [1],
});

function results(over: Partial<Omit<Results, 'targets'>> = {}): Omit<Results, 'targets'> {
  const drift = (n: number, api: 'v2' | 'v3', ms: number) => ({
    n,
    api,
    timing: t(ms),
    children: 3,
    childPrograms: ['ip', 'iptables-save', 'ip'],
    selfReported: 3,
    exit: 1,
    notOk: ['flanneld.flags'],
    quietStderr: '',
    load1: 0.5,
  });
  const floor = (n: number, api: 'v2' | 'v3') => ({ n, api, timing: t(40), nodeE0: t(60) });
  return {
    machine: {
      nproc: 2,
      cpu: 'x',
      kernel: 'k',
      node: 'v20',
      etcd: '3.4.23',
      iproute2: 'i',
      commit: 'c',
      loadavg: { start: 0, end: 0 },
      otherLabs: [],
    },
    params: { n: [10, 5000], runs: 5, warmup: 1, checkSample: 50, quick: false, settleS: 90 },
    startedAt: '',
    benchSeconds: 1,
    setupSeconds: { lab: 1, runbook: 1, settle: 0 },
    nodeE0: t(60),
    zx: t(140),
    cold: [],
    ping: [
      {
        scenario: 'all 100 answer',
        flags: '',
        prober: 'fping',
        defaults: '--count 1 --wait 1',
        verify: t(80),
        loop: t(163),
        failed: 0,
      },
      {
        scenario: '10 of 100 never answer',
        flags: '',
        prober: 'fping',
        defaults: '--count 1 --wait 1',
        verify: t(1150),
        loop: t(10126),
        failed: 10,
      },
    ],
    pingDefaultWaitMs: 10003,
    pingW1WaitMs: 1003,
    load: [],
    drift: [drift(10, 'v2', 120), drift(5000, 'v2', 180), drift(10, 'v3', 156), drift(5000, 'v3', 200)],
    floor: [floor(10, 'v2'), floor(10, 'v3'), floor(5000, 'v2'), floor(5000, 'v3')],
    check: [],
    fix: [
      { n: 5000, api: 'v2', timing: t(600) },
      { n: 5000, api: 'v3', timing: t(661) },
    ],
    fixBaseline: [{ n: 5000, ipBatch: t(366), loop: t(6611) }],
    etcd: [],
    bytes: [
      { n: 10, api: 'v3', mode: 'cached', counted: 'servers', received: 36, sent: 28, read: 'unchanged' },
      { n: 5000, api: 'v3', mode: 'cached', counted: 'servers', received: 36, sent: 30, read: 'unchanged' },
      { n: 5000, api: 'v3', mode: 'no-cache', counted: 'servers', received: 34, sent: 640_000, read: 'full' },
      { n: 5000, api: 'v2', mode: 'no-cache', counted: 'client', received: 124, sent: 1_100_000, read: 'full' },
    ],
    publish: [
      { api: 'v3', run: 'first', puts: 1, grants: 1, renewals: 0, v2Writes: 0 },
      { api: 'v3', run: 'next', puts: 1, grants: 0, renewals: 1, v2Writes: 0 },
    ],
    ...over,
  };
}

describe('bench targets (issue 16)', () => {
  test("all nine rows, in the issue's order, each met at its edge", () => {
    const rows = issue16Targets(results());
    assert.deepEqual(
      rows.map((r) => [r.id, r.met]),
      [
        ['drift.scale.v2', true],
        ['drift.floor.v2', true],
        ['drift.v3-vs-v2', true],
        ['drift.floor.v3', true],
        ['fix.loop.v3', true],
        ['ping.all', true],
        ['ping.dead.wait', true],
        ['etcd.bytes.v3', true],
        ['publish.writes.v3', true],
      ],
    );
    assert.ok(rows.every((r) => r.issue === 16));
  });

  test('just past each edge: not met', () => {
    const r = results();
    const past = results({
      drift: r.drift.map((d) => (d.n === 10 && d.api === 'v3' ? { ...d, timing: t(157) } : d)),
      ping: r.ping.map((p) => ({ ...p, verify: t(p.scenario === 'all 100 answer' ? 82 : 1151) })),
      bytes: r.bytes.map((b) => (b.mode === 'cached' && b.n === 5000 ? { ...b, sent: 4096 } : b)),
      publish: r.publish.map((p) => (p.run === 'next' ? { ...p, grants: 1 } : p)),
    });
    const met = new Map(issue16Targets(past).map((x) => [x.id, x.met]));
    for (const id of ['drift.v3-vs-v2', 'ping.all', 'ping.dead.wait', 'etcd.bytes.v3', 'publish.writes.v3'])
      assert.equal(met.get(id), false, id);
  });

  test('the fleet figure: bytes per run x 5,000 nodes / 60 s, the full reads beside it', () => {
    assert.equal(fleetMBps(1_200_000), 100);
    assert.deepEqual([fleetRate(1_200_000), fleetRate(66)], ['100.0 MB/s', '5.5 KB/s']);
    const bytes = issue16Targets(results()).find((x) => x.id === 'etcd.bytes.v3')!;
    assert.match(
      bytes.numbers,
      /N=10: 64 B, N=5000: 66 B .*5000 nodes: 5\.5 KB\/s; --no-cache .*: 53\.3 MB\/s; v2 .*: 91\.7 MB\/s/,
    );
  });

  test('issue 7 rows that issue 16 restates are judged once, as issue 16 says', () => {
    const ids = evaluateTargets(results()).map((x) => `${x.issue} ${x.id}`);
    assert.equal(ids.filter((x) => x.endsWith(' fix.loop.v3')).length, 1);
    assert.ok(ids.includes('16 fix.loop.v3') && ids.includes('7 fix.loop.v2'));
  });
});
