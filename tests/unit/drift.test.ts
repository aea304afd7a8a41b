import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkNode, exitCodeFor, planFixes, type Check, type NodeExpectation } from '../../lib/checks/index.ts';
import { hdss721 } from '../support/expectation.ts';
import { fleetTable, formatDriftReport, formatTextfile } from '../../lib/checks/report.ts';
import type { NodeReport } from '../../lib/host/status-store.ts';
import { takeLock } from '../../lib/host/lock.ts';
import { writeFileAtomic } from '../../lib/host/atomic-file.ts';
import { Ip4Net } from '../../lib/core/ip4.ts';
import { parseV2Tree } from '../../lib/model/lease.ts';
import { parseIpRoute } from '../../lib/model/routes.ts';
import { parseIptablesSave } from '../../lib/model/iptables.ts';
import type { NodeObservation } from '../../lib/host/observe.ts';
import { formatPlan } from '../../lib/core/plan.ts';

// the runbook's hdss7-21 after the runbook: leases as the real daemon left them in etcd v2
const TREE = readFileSync('tests/fixtures/v0.11.0/22-hostgw-nomasq-etcd.json', 'utf8');
const ROUTES = readFileSync('tests/fixtures/v0.11.0/22-hostgw-nomasq-route.json', 'utf8');
const SAVE_OK = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -s 172.7.0.0/16 -j ACCEPT
-A FORWARD -d 172.7.0.0/16 -j ACCEPT
COMMIT
`;
const ENV = 'FLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET=172.7.21.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n';
const SH =
  '#!/bin/sh\nexec ./flanneld \\\n  --public-ip=10.4.7.21 \\\n  --etcd-endpoints=http://10.4.7.21:2379 \\\n  --iface=eth0 \\\n  --subnet-file=./subnet.env \\\n  --healthz-port=2401\n';

const expect: NodeExpectation = hdss721();

function observation(over: Partial<Record<keyof NodeObservation, unknown>> = {}): NodeObservation {
  const tree = parseV2Tree(TREE);
  const base: NodeObservation = {
    at: new Date('2026-11-26T12:20:00Z'),
    etcd: { ok: true, value: { ...tree, api: 'v2', configVersion: '7' } },
    routes: { ok: true, value: parseIpRoute(ROUTES) },
    iptablesSave: { ok: true, value: SAVE_OK },
    ruleset: { ok: true, value: parseIptablesSave(SAVE_OK) },
    ifaces: {
      ok: true,
      value: [
        { name: 'eth0', mtu: 1500, up: true, addrs: [Ip4Net.parse('10.4.7.21/16')] },
        { name: 'docker0', mtu: 1500, up: true, addrs: [Ip4Net.parse('172.7.21.1/24')] },
      ],
    },
    supervisor: {
      ok: true,
      value: {
        program: 'flanneld-7-21',
        state: 'RUNNING',
        pid: 10,
        uptimeSeconds: 31,
        detail: 'pid 10, uptime 0:00:31',
      },
    },
    healthz: { ok: true, value: { status: 200, body: 'flanneld is running' } },
    files: { subnetEnv: ENV, flanneldSh: SH, persisted: SAVE_OK, ipForward: '1' },
    processes: 4,
  };
  return { ...base, ...over } as NodeObservation;
}
const byId = (cs: Check[]) => Object.fromEntries(cs.map((c) => [c.id, c]));
const notOk = (cs: Check[]) => cs.filter((c) => c.status !== 'ok').map((c) => `${c.id}:${c.status}`);

describe('drift checks', () => {
  test('the runbook node as the real daemon left it is in sync', () => {
    const cs = checkNode(expect, observation());
    assert.deepEqual(notOk(cs), []);
    assert.equal(exitCodeFor(cs), 0);
    assert.deepEqual(planFixes(cs), []);
  });

  const cases: [string, Partial<Record<keyof NodeObservation, unknown>>, string[]][] = [
    [
      'a missing peer route',
      { routes: { ok: true, value: parseIpRoute(ROUTES).filter((r) => r.via === undefined) } },
      ['routes.peers:drift'],
    ],
    [
      "Docker's rule back",
      {
        ruleset: {
          ok: true,
          value: parseIptablesSave(
            SAVE_OK.replace(
              'COMMIT\n*filter',
              '-A POSTROUTING -s 172.7.21.0/24 ! -o docker0 -j MASQUERADE\nCOMMIT\n*filter',
            ),
          ),
        },
      },
      ['iptables.docker-masq:drift'],
    ],
    [
      'ip_forward off',
      { files: { subnetEnv: ENV, flanneldSh: SH, persisted: SAVE_OK, ipForward: '0' } },
      ['sysctl.ip-forward:drift'],
    ],
    [
      'flanneld FATAL',
      { supervisor: { ok: true, value: { program: 'flanneld-7-21', state: 'FATAL', detail: 'Exited too quickly' } } },
      ['flanneld.running:drift'],
    ],
    ['no persisted file', { files: { subnetEnv: ENV, flanneldSh: SH, ipForward: '1' } }, ['iptables.persisted:drift']],
    [
      'docker0 on another bip',
      {
        ifaces: {
          ok: true,
          value: [
            { name: 'eth0', mtu: 1500, up: true, addrs: [Ip4Net.parse('10.4.7.21/16')] },
            { name: 'docker0', mtu: 1500, up: true, addrs: [Ip4Net.parse('172.17.0.1/16')] },
          ],
        },
      },
      ['docker0.bip:drift'],
    ],
  ];
  for (const [what, over, want] of cases) {
    test(`${what} is named by its check id`, () => {
      const cs = checkNode(expect, observation(over));
      assert.deepEqual(notOk(cs), want);
      assert.equal(exitCodeFor(cs), 1);
    });
  }

  test('etcd down: the lease and route checks could not be made (exit 3) and --fix plans no route change', () => {
    const cs = checkNode(
      expect,
      observation({
        etcd: { ok: false, error: 'etcd https://10.4.7.12:2379: unreachable (ECONNREFUSED)', kind: 'unreachable' },
      }),
    );
    const c = byId(cs);
    for (const id of ['etcd.reachable', 'lease.own', 'routes.peers', 'routes.stale'])
      assert.equal(c[id]!.status, 'error', id);
    assert.equal(exitCodeFor(cs), 3);
    assert.doesNotMatch(formatPlan(planFixes(cs)), /ip -batch/);
  });

  test('fixes: one ip -batch for routes, one iptables-restore for rules; the rules are not persisted while they are wrong', () => {
    const save = SAVE_OK.replace(
      '-A POSTROUTING -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE\n',
      '-A POSTROUTING -s 172.7.21.0/24 ! -o docker0 -j MASQUERADE\n',
    );
    const cs = checkNode(
      expect,
      observation({
        routes: { ok: true, value: parseIpRoute(ROUTES).filter((r) => r.via === undefined) },
        iptablesSave: { ok: true, value: save },
        ruleset: { ok: true, value: parseIptablesSave(save) },
      }),
    );
    assert.deepEqual(notOk(cs), [
      'routes.peers:drift',
      'iptables.snat:drift',
      'iptables.docker-masq:drift',
      'iptables.persisted:drift',
    ]);
    const script = formatPlan(planFixes(cs));
    assert.equal(script.match(/ip -batch/g)!.length, 1);
    assert.equal(script.match(/iptables-restore --noflush/g)!.length, 1);
    assert.match(
      script,
      /-I POSTROUTING 1 -s 172\.7\.21\.0\/24 ! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE\n-D POSTROUTING -s 172\.7\.21\.0\/24 ! -o docker0 -j MASQUERADE/,
    );
    assert.ok(script.indexOf('ip -batch') < script.indexOf('iptables-restore'));
    // the docker rule is still live: saving now would make it survive a reboot
    assert.equal(script.includes('iptables-save'), false);
    const persisted = cs.find((c) => c.id === 'iptables.persisted')!;
    assert.equal(persisted.fix, undefined);
    assert.deepEqual((persisted.detail as { blockedBy: string[] }).blockedBy, [
      'iptables.snat',
      'iptables.docker-masq',
    ]);
  });

  test('with the live rules right, a differing persisted file is rewritten from iptables-save, 0600, atomically, and the diff is shown', () => {
    const cs = checkNode(
      expect,
      observation({
        files: { ...observation().files, persisted: SAVE_OK.replace('COMMIT', '-A INPUT -j DROP\nCOMMIT') },
      }),
    );
    const persisted = cs.find((c) => c.id === 'iptables.persisted')!;
    assert.equal(persisted.status, 'drift');
    assert.match(persisted.reason, /have -A INPUT -j DROP/);
    const [a] = planFixes(cs);
    assert.ok(a && a.kind === 'capture');
    assert.deepEqual(a.cmd.argv, ['iptables-save']);
    assert.equal(a.mode, 0o600);
    assert.match(
      formatPlan([a]),
      /t=\$\(mktemp \/etc\/sysconfig\/\.iptables\.XXXXXX\)\nchmod 0600 "\$t"\niptables-save >"\$t"\ngrep -q COMMIT "\$t"\nmv -f "\$t" \/etc\/sysconfig\/iptables/,
    );
  });

  test('a config in etcd that differs from the cluster file is drift, with the difference', () => {
    const cs = checkNode(
      { ...expect, desiredConfig: '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}' },
      observation(),
    );
    assert.match(byId(cs)['etcd.config']!.reason, /Backend\.Type: have host-gw, want vxlan/);
  });
});

describe('drift report', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'frb-drift-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the human report lists problems first with their fixability', () => {
    const cs = checkNode(
      expect,
      observation({ files: { subnetEnv: ENV, flanneldSh: SH, persisted: SAVE_OK, ipForward: '0' } }),
    );
    const text = formatDriftReport('hdss7-21', cs, 1);
    assert.match(
      text,
      /^drift hdss7-21: DRIFT \(31 ok, 1 drift, 0 could not check\)\n {2}DRIFT sysctl\.ip-forward +net\.ipv4\.ip_forward = 0/,
    );
  });

  test('textfile: one gauge per check with escaped labels, exit code, timestamp, duration', () => {
    const cs: Check[] = [
      { id: 'routes.peers', status: 'ok', reason: '' },
      { id: 'etcd.reachable', status: 'error', reason: '' },
      { id: 'iptables.snat', status: 'drift', reason: '' },
    ];
    const t = formatTextfile('node "a"', cs, 3, new Date(1700000000000), 0.25);
    assert.match(t, /^flannel_runbook_check\{node="node \\"a\\"",check="routes\.peers"\} 1$/m);
    assert.match(t, /^flannel_runbook_check\{node="node \\"a\\"",check="etcd\.reachable"\} -1$/m);
    assert.match(t, /^flannel_runbook_check\{node="node \\"a\\"",check="iptables\.snat"\} 0$/m);
    assert.match(t, /^flannel_runbook_drift_last_run_timestamp_seconds\{node="node \\"a\\""\} 1700000000\.000$/m);
    assert.match(t, /^# TYPE flannel_runbook_drift_duration_seconds gauge$/m);
  });

  test('writeFileAtomic leaves no temp file and replaces the old content whole', async () => {
    const f = join(dir, 'sub', 'x.prom');
    await writeFileAtomic(f, 'a\n', 0o644);
    await writeFileAtomic(f, 'b\n', 0o644);
    assert.equal(readFileSync(f, 'utf8'), 'b\n');
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['x.prom']);
  });

  test('the lock is a kernel lock: a second taker is refused while it is held, free again once released; a stale file is no lock', async () => {
    const f = join(dir, 'run', 'drift.lock');
    writeFileSync(join(dir, 'stale.lock'), '1\n'); // a reused PID in a file means nothing to flock
    const stale = await takeLock(join(dir, 'stale.lock'));
    assert.equal(stale.held, false);
    if (!stale.held) await stale.release();
    const a = await takeLock(f);
    assert.equal(a.held, false);
    assert.deepEqual(await takeLock(f), { held: true });
    if (!a.held) await a.release();
    const c = await takeLock(f);
    assert.equal(c.held, false);
    if (!c.held) await c.release();
  });
});

describe('fleet table', () => {
  const now = new Date('2026-11-26T13:00:00Z');
  const rep = (node: string, ageS: number, exit: number): NodeReport => ({
    node,
    publicIp: '10.4.7.21',
    at: new Date(now.getTime() - ageS * 1000).toISOString(),
    exit,
    durationMs: 200,
    checks: 23,
    problems: exit ? [{ id: 'routes.peers', status: 'drift', reason: 'missing' }] : [],
  });
  test('fresh, drifting, stale and silent nodes', () => {
    const rows = fleetTable(
      [rep('hdss7-21', 30, 0), rep('hdss7-22', 40, 1), rep('hdss7-23', 900, 0)],
      ['hdss7-21', 'hdss7-22', 'hdss7-23', 'hdss7-24'],
      now,
      180,
    );
    assert.deepEqual(
      rows.map((r) => [r.node, r.state]),
      [
        ['hdss7-21', 'in sync'],
        ['hdss7-22', 'DRIFT'],
        ['hdss7-23', 'STALE'],
        ['hdss7-24', 'NO REPORT'],
      ],
    );
    assert.match(rows[1]!.detail, /routes\.peers: missing/);
  });
});
