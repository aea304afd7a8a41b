// drift and fleet on a lab brought up by the toolkit's own scripts (root only): in sync is
// exit 0 (silent with --quiet); each breakage is exit 1 naming its check; --fix --dry-run
// prints and changes nothing; --fix mends and the cross-node ping works again; etcd down is
// exit 3 and never turns into route changes; a cron loop puts a deleted route back by the
// next run; --publish feeds fleet, which marks stale nodes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { CHECK_IDS } from '../../lib/checks/index.ts';
import { nodeArgs, runStep, runbookWithScripts, writeClusterFile } from '../../lab/runbook-steps.ts';
import { dockerMasqBack, nodeState } from './node-state.ts';

process.env.SHLVL ??= '1';
const execFileP = promisify(execFile);

/** Poll `ok` every 50 ms for up to 5 s. */
async function waitFor(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out waiting');
}

const DIST = fileURLToPath(new URL('../../dist/drift.mjs', import.meta.url));
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

let lab: Lab;
let cluster: string;
let scratch: string;
let h21: LabNode;
let h22: LabNode;

interface DriftJson {
  exit: number;
  childProcesses: number;
  durationMs: number;
  checks: { id: string; status: string; reason: string; fixable: boolean }[];
  fixed: string[];
}

async function drift(node: LabNode, extra: string[] = []) {
  const trace = join(scratch, `trace-${Math.random().toString(16).slice(2)}`);
  const r = await runStep(lab, node, 'drift', [...nodeArgs(cluster, node), ...extra], {
    env: { ...process.env, FLANNEL_RUNBOOK_TRACE: trace },
  });
  const changes = existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n').filter(Boolean) : [];
  return { ...r, changes };
}
async function driftJson(node: LabNode, extra: string[] = []): Promise<DriftJson & { status: number }> {
  const r = await drift(node, [...extra, '--json']);
  return { ...(JSON.parse(r.stdout) as DriftJson), status: r.status };
}
const bad = (j: DriftJson) => j.checks.filter((c) => c.status !== 'ok').map((c) => c.id);
const pingPods = async () =>
  (await lab.exec(h21.pod.netns, ['ping', '-n', '-c', '1', '-W', '1', h22.pod.ip], { okStatus: [1] })).status;

describe('drift', { skip: notRoot }, () => {
  before(async () => {
    // the cron path is the bundle: build it from these very sources (esbuild, ~0.1 s)
    execFileSync('npm', ['run', '--silent', 'build'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      stdio: 'ignore',
    });
    lab = await createLab({});
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab);
    scratch = mkdtempSync(join(tmpdir(), `${lab.prefix}-drift-`));
    [h21, h22] = lab.nodes as [LabNode, LabNode];
  });
  after(async () => {
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('a node right after the runbook is in sync: exit 0, every check ok, nothing printed with --quiet', async () => {
    const j = await driftJson(h21);
    assert.equal(j.status, 0, JSON.stringify(bad(j)));
    assert.deepEqual(bad(j), []);
    for (const id of [
      'etcd.reachable',
      'etcd.config',
      'lease.own',
      'lease.ttl',
      'lease.duplicate-ip',
      'lease.subnet-taken',
      'routes.peers',
      'routes.stale',
      'routes.own-subnet',
      'iptables.snat',
      'iptables.docker-masq',
      'iptables.forward',
      'iptables.reject',
      'iptables.persisted',
      'subnet-env.lease',
      'docker0.bip',
      'flanneld.running',
      'flanneld.flags',
      'flanneld.healthz',
      'certs.chain',
      'certs.expiry',
      'certs.key-mode',
      'sysctl.ip-forward',
      'vxlan.device',
      'vxlan.neighbours',
      'vxlan.fdb',
      'mtu.bridge',
    ]) {
      assert.ok(
        j.checks.some((c) => c.id === id),
        `check ${id} missing`,
      );
    }
    // ip -j route, iptables-save, ip -j addr; supervisord is asked over its socket
    assert.equal(j.childProcesses, 3);
    const q = await drift(h21, ['--quiet']);
    assert.equal(q.status, 0);
    assert.equal(q.stdout, '');
    assert.equal(q.stderr, '');
    assert.deepEqual(q.changes, []);
  });

  test('the built dist/drift.mjs (the cron path: no tsx) gives the same checks', async () => {
    const viaDist = await lab.exec(h21.netns, [DIST, ...nodeArgs(cluster, h21), '--json'], { okStatus: [1, 3] });
    const viaTsx = await driftJson(h21);
    const j = JSON.parse(viaDist.stdout) as DriftJson;
    assert.equal(viaDist.status, 0);
    assert.deepEqual(
      j.checks.map((c) => [c.id, c.status]),
      viaTsx.checks.map((c) => [c.id, c.status]),
    );
  });

  test('--textfile writes one Prometheus gauge per check, the last run and the duration', async () => {
    // a host path: under --root, as every path a script writes
    const r = await drift(h21, ['--quiet', '--textfile', '/var/lib/node_exporter/textfile/flannel.prom']);
    assert.equal(r.status, 0);
    const text = readFileSync(join(h21.root, 'var/lib/node_exporter/textfile/flannel.prom'), 'utf8');
    assert.match(text, /^flannel_runbook_check\{node="hdss7-21",check="routes\.peers"\} 1$/m);
    assert.match(text, /^flannel_runbook_drift_exit_code\{node="hdss7-21"\} 0$/m);
    assert.match(text, /^flannel_runbook_drift_last_run_timestamp_seconds\{node="hdss7-21"\} \d+\.\d{3}$/m);
    assert.match(text, /^flannel_runbook_drift_duration_seconds\{node="hdss7-21"\} \d+\.\d{3}$/m);
    // one gauge per check id, each once
    assert.deepEqual(
      [...text.matchAll(/^flannel_runbook_check\{node="hdss7-21",check="([^"]+)"\} -?\d$/gm)].map((m) => m[1]).sort(),
      [...CHECK_IDS].sort(),
    );
    assert.match(text, /^flannel_runbook_drift_overlaps_total\{node="hdss7-21"\} \d+$/m);
  });

  test('a wrong route (flanneld leaves it: its check only re-adds missing ones): exit 1 naming routes.peers; --fix --dry-run prints one ip -batch; --fix mends it and pods ping', async () => {
    await lab.exec(h21.netns, ['ip', 'route', 'replace', '172.7.22.0/24', 'via', '10.4.7.99', 'dev', 'eth0']);
    const before = await nodeState(lab, h21);
    const dry = await drift(h21, ['--fix', '--dry-run']);
    assert.equal(dry.status, 1);
    assert.match(
      dry.stdout,
      /^set -e\n# .*\nip -batch - <<'FLANNEL_RUNBOOK_EOF'\nroute replace 172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0\nFLANNEL_RUNBOOK_EOF\n/,
    );
    assert.deepEqual(dry.changes, []);
    assert.deepEqual((await nodeState(lab, h21)).routes, before.routes);
    const r = await drift(h21);
    assert.equal(r.status, 1);
    assert.match(
      r.stdout,
      /DRIFT routes\.peers +1 of 1 peer routes missing or wrong: 172\.7\.22\.0\/24 via 10\.4\.7\.99 dev eth0: route via 10\.4\.7\.99 but the lease says 10\.4\.7\.22/,
    );
    assert.notEqual(await pingPods(), 0);
    const fixed = await driftJson(h21, ['--fix']);
    assert.equal(fixed.status, 0, JSON.stringify(bad(fixed)));
    assert.match(fixed.fixed.join('\n'), /ip -batch/);
    assert.equal(await pingPods(), 0);
  });

  test("Docker's MASQUERADE rule back (dockerd restart): iptables.docker-masq; --fix removes it in one iptables-restore and persists", async () => {
    await dockerMasqBack(lab, h21);
    const j = await driftJson(h21);
    assert.equal(j.status, 1);
    assert.deepEqual(bad(j), ['iptables.docker-masq', 'iptables.persisted']);
    const f = await driftJson(h21, ['--fix']);
    assert.equal(f.status, 0, JSON.stringify(bad(f)));
    assert.equal(f.fixed.filter((x) => /iptables-restore/.test(x)).length, 1);
    const save = (await lab.exec(h21.netns, ['iptables-save', '-t', 'nat'])).stdout;
    assert.doesNotMatch(save, /-s 172\.7\.21\.0\/24 ! -o docker0 -j MASQUERADE/);
  });

  test('a stale route into the flannel network is named, and --fix removes only it', async () => {
    await lab.exec(h21.netns, ['ip', 'route', 'add', '172.7.99.0/24', 'via', '10.4.7.22', 'dev', 'eth0']);
    const j = await driftJson(h21);
    assert.deepEqual(bad(j), ['routes.stale']);
    const f = await driftJson(h21, ['--fix']);
    assert.equal(f.status, 0);
    const routes = (await lab.exec(h21.netns, ['ip', 'route', 'show'])).stdout;
    assert.doesNotMatch(routes, /172\.7\.99\.0/);
    assert.match(routes, /172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0/);
  });

  test('subnet.env edited by hand: subnet-env.lease; --fix rewrites it from the lease', async () => {
    const path = join(h22.root, 'opt/flannel/subnet.env');
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, good.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=1400'));
    const j = await driftJson(h22);
    assert.deepEqual(bad(j), ['subnet-env.lease']);
    assert.equal((await driftJson(h22, ['--fix'])).status, 0);
    assert.equal(readFileSync(path, 'utf8'), good);
  });

  test('flanneld stopped: flanneld.running (and healthz); --fix starts it through supervisord', async () => {
    await lab.supervisorctl(h22, ['stop', h22.program]);
    const j = await driftJson(h22);
    assert.equal(j.status, 1);
    assert.ok(bad(j).includes('flanneld.running'), JSON.stringify(bad(j)));
    assert.ok(bad(j).includes('flanneld.healthz'));
    const f = await driftJson(h22, ['--fix']);
    assert.equal(f.status, 0, JSON.stringify(bad(f)));
    assert.match(f.fixed.join('\n'), /supervisorctl/);
    assert.match((await lab.supervisorctl(h22, ['status', h22.program])).stdout, /RUNNING/);
  });

  test('etcd unreachable is exit 3, the lease and route checks are "could not check", and --fix changes no route', async () => {
    const before = await nodeState(lab, h21);
    const r = await drift(h21, ['--endpoints', 'https://10.4.7.99:2379', '--fix', '--json']);
    assert.equal(r.status, 3);
    const j = JSON.parse(r.stdout) as DriftJson;
    for (const id of ['etcd.reachable', 'lease.own', 'routes.peers', 'routes.stale']) {
      assert.equal(j.checks.find((c) => c.id === id)?.status, 'error', id);
    }
    assert.deepEqual((await nodeState(lab, h21)).routes, before.routes);
  });

  test('an overlapping run is skipped at once: quiet under --quiet, exit 0, counted in the textfile; a stale lock file is no lock', async () => {
    const lock = join(h21.root, 'run/flannel-runbook/drift.lock');
    mkdirSync(join(h21.root, 'run/flannel-runbook'), { recursive: true });
    // another run holds the kernel lock: one process of this test's (sh exec'ing sleep keeps fd 9
    // and its flock), ended by its PID below
    // (flock -w: the poll below holds the lock for a moment too, and must not make this one fail)
    const holder = spawn('sh', ['-c', 'exec 9>"$1"; flock -w 5 9 || exit 1; exec sleep 30', 'sh', lock], {
      stdio: 'ignore',
    });
    try {
      await waitFor(
        async () =>
          await execFileP('flock', ['-n', lock, 'true']).then(
            () => false,
            () => true,
          ),
      );
      const t0 = Date.now();
      const r = await drift(h21, ['--quiet']);
      assert.equal(r.status, 0);
      assert.equal(r.stdout + r.stderr, '', 'cron mail stays empty');
      assert.ok(Date.now() - t0 < 10_000); // a skip, not a wait for the lock (a cold start under load is seconds)
      const loud = await drift(h21);
      assert.equal(loud.status, 0);
      assert.match(loud.stderr, /another drift run holds .*drift\.lock; this one skipped/);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((res) => holder.once('exit', res));
    writeFileSync(lock, '999999\n'); // a dead run's file: nothing holds the kernel lock
    const after = await drift(h21, ['--quiet', '--textfile', '/var/lib/node_exporter/textfile/flannel.prom']);
    assert.equal(after.status, 0);
    const text = readFileSync(join(h21.root, 'var/lib/node_exporter/textfile/flannel.prom'), 'utf8');
    const overlaps = Number(/^flannel_runbook_drift_overlaps_total\{node="hdss7-21"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(overlaps >= 2, `overlaps counted: ${overlaps}`);
  });

  test('bad input exits 2 with one line and changes nothing', async () => {
    const a = nodeArgs(cluster, h21);
    for (const [args, says] of [
      [['--reject', 'maybe'], /--reject "maybe": must be one of drop, keep/],
      [['--subnet', '172.7.21.0/33'], /--subnet "172\.7\.21\.0\/33": prefix must be 0-32/],
      [['--status-ttl', '5'], /--status-ttl "5": must be an integer 10-86400/],
      [['--publish', '--dry-run'], /--publish with --dry-run/],
      [['--endpoints', 'etcd:2379'], /--endpoints/],
    ] as const) {
      const before = await nodeState(lab, h21);
      const r = await runStep(lab, h21, 'drift', [...a, ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, says);
      assert.deepEqual(await nodeState(lab, h21), before);
    }
  });

  test('cron: drift --fix every 2 s; a route deleted between runs is back by the next run', async (t) => {
    const routeThere = async () =>
      /via 10\.4\.7\.22 dev eth0/.test((await lab.exec(h21.netns, ['ip', 'route', 'show', '172.7.22.0/24'])).stdout);
    const runs: DriftJson[] = [];
    for (let i = 0; i < 4; i++) {
      if (i === 2) await lab.exec(h21.netns, ['ip', 'route', 'del', '172.7.22.0/24']); // between two cron runs
      runs.push(await driftJson(h21, ['--fix']));
      if (i === 2) {
        assert.ok(await routeThere(), 'the route is back right after the next run');
        // flanneld's own check runs only every 10 s; this run found the route missing and put it back
        t.diagnostic(
          `run after the delete fixed: ${runs[2]!.fixed.join('; ') || '(flanneld had already restored it)'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.ok(
      runs.every((j) => j.exit === 0),
      `every run ends in sync after --fix: ${runs.map((j) => j.exit)}`,
    );
    assert.ok(
      runs.slice(0, 2).every((j) => j.fixed.length === 0),
      'nothing to fix before the delete',
    );
  });

  test('--publish feeds fleet: both nodes in sync; a node that stops reporting turns STALE', async () => {
    for (const n of [h21, h22]) assert.equal((await drift(n, ['--quiet', '--publish'])).status, 0);
    const f = await runStep(lab, h21, 'fleet', ['--cluster', cluster, '--root', h21.root]);
    assert.equal(f.status, 0, f.stdout + f.stderr);
    assert.match(f.stdout, /hdss7-21\s+in sync/);
    assert.match(f.stdout, /hdss7-22\s+in sync/);
    // hdss7-22's report gets over 6 s old; hdss7-21's is as old as fleet's own start-up (a cold
    // start under load took more than the 2 s allowed before)
    await new Promise((r) => setTimeout(r, 6200));
    await drift(h21, ['--quiet', '--publish']);
    const stale = await runStep(lab, h21, 'fleet', ['--cluster', cluster, '--root', h21.root, '--stale-after', '6']);
    assert.equal(stale.status, 1);
    assert.match(stale.stdout, /hdss7-21\s+in sync/);
    assert.match(stale.stdout, /hdss7-22\s+STALE/);
  });
});
