import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkNode, exitCodeFor, planFixes, type Check, type NodeExpectation } from '../../lib/drift.ts';
import { formatDriftReport, formatTextfile, takeLock, writeAtomic } from '../../lib/drift-report.ts';
import { fleetTable, type NodeReport } from '../../lib/fleet-status.ts';
import { Ip4, Ip4Net } from '../../lib/ip4.ts';
import { parseV2Tree } from '../../lib/lease.ts';
import { parseIpRoute } from '../../lib/routes.ts';
import { parseIptablesSave } from '../../lib/iptables.ts';
import type { NodeObservation } from '../../lib/node-observe.ts';
import { formatPlan } from '../../lib/plan.ts';

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

const expect: NodeExpectation = {
  name: 'hdss7-21',
  publicIp: Ip4.parse('10.4.7.21'),
  subnet: Ip4Net.parse('172.7.21.0/24'),
  iface: 'eth0',
  network: Ip4Net.parse('172.7.0.0/16'),
  bridge: 'docker0',
  program: 'flanneld-7-21',
  desiredConfig: '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}',
  api: 'v2',
  prefix: '/coreos.com/network',
  reject: 'drop',
  flanneld: {
    publicIp: '10.4.7.21',
    endpoints: ['http://10.4.7.21:2379'],
    iface: 'eth0',
    subnetFile: './subnet.env',
    healthzPort: 2401,
    exec: true,
  },
  paths: {
    subnetEnv: '/opt/flannel/subnet.env',
    supervisorConf: '/etc/supervisord.conf',
    persist: '/etc/sysconfig/iptables',
  },
  certWarnDays: 30,
};

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

  test('fixes: one ip -batch for routes, one iptables-restore for rules, persisting last', () => {
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
    assert.ok(
      script.indexOf('ip -batch') < script.indexOf('iptables-restore') &&
        script.indexOf('iptables-restore') < script.indexOf('iptables-save >'),
    );
  });

  test('a config in etcd that differs from the cluster file is drift, with the difference', () => {
    const cs = checkNode(
      { ...expect, desiredConfig: '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}' },
      observation(),
    );
    assert.match(byId(cs)['etcd.config']!.reason, /Backend\.Type: vxlan -> host-gw/);
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
      /^drift hdss7-21: DRIFT \(26 ok, 1 drift, 0 could not check\)\n {2}DRIFT sysctl\.ip-forward +net\.ipv4\.ip_forward = 0/,
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

  test('writeAtomic leaves no temp file and replaces the old content whole', () => {
    const f = join(dir, 'sub', 'x.prom');
    writeAtomic(f, 'a\n');
    writeAtomic(f, 'b\n');
    assert.equal(readFileSync(f, 'utf8'), 'b\n');
    assert.deepEqual(existsSync(`${f}.${process.pid}.tmp`), false);
  });

  test("the lock: held by a live pid refuses, a dead pid's lock is taken over, release removes it", () => {
    const f = join(dir, 'run', 'drift.lock');
    const a = takeLock(f);
    assert.ok('release' in a);
    const b = takeLock(f);
    assert.deepEqual(b, { heldBy: process.pid });
    a.release();
    assert.equal(existsSync(f), false);
    writeFileSync(f, '999999\n');
    const c = takeLock(f);
    assert.ok('release' in c);
    c.release();
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
