// The toolkit on a node whose iproute2 is CentOS 7's 4.11 (tests/fixtures/el7-tools first in
// PATH; root only): ONE vxlan lab brought up by the toolkit's scripts, then drift, doctor and
// verify-ping run twice on the same state, with this machine's iproute2 and with 4.11, and
// give the same verdicts. A route, a neighbour and an fdb entry broken by hand are named the
// same way by both, and `drift --fix` mends them through 4.11's `ip -batch` and `bridge
// -batch`. A shim in front of 4.11's ip logs every call: the JSON form is asked once per run
// and kind, the text form after. The toolkit's batch lines (routes.ts formatIpBatch,
// vxlan.ts planVxlanPeerCommands) are fed to the 4.11 binaries as they are.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { parseFdb, parseNeighbours, planVxlanPeerCommands } from '../../lib/model/vxlan.ts';
import { formatIpBatch, formatRoute, parseIpRoute, type Route } from '../../lib/model/routes.ts';
import { createLab, destroyLab, listLabs, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, runbookWithScripts, SCRIPTS_DIR, type StepName, writeClusterFile } from '../../lab/runbook-steps.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

const EL7_BIN = fileURLToPath(new URL('../fixtures/el7-tools/bin', import.meta.url));
const PREFIX = 'frbold';
const PREFIX_OF_MINE = /^frbold[0-9a-f]{4}$/;
const VXLAN = { Type: 'vxlan' };

let lab: Lab;
let cluster: string;
let h21: LabNode;
let h22: LabNode;
/** a directory with logging `ip` and `bridge` shims in front of the 4.11 ones */
let shims: string;
let callLog: string;

type Tools = 'modern' | 'el7';

/** A step in the node's namespace; with `el7`, the 4.11 tools first in its PATH (the shims). */
async function step(node: LabNode, name: StepName, args: readonly string[], tools: Tools) {
  const script = join(SCRIPTS_DIR, `${name}.ts`);
  // `env` sets the script's PATH; `ip netns exec` around it stays this machine's
  const argv = tools === 'el7' ? ['env', `PATH=${shims}:${process.env.PATH}`, script, ...args] : [script, ...args];
  writeFileSync(callLog, '');
  const r = await lab.exec(node.netns, argv, { timeoutMs: 120_000, okStatus: [1, 2, 3] });
  const calls = readFileSync(callLog, 'utf8').split('\n').filter(Boolean);
  return { ...r, calls };
}

interface Checks {
  status: number;
  checks: [string, string][];
  calls: string[];
  stderr: string;
}

async function drift(node: LabNode, tools: Tools, extra: string[] = []): Promise<Checks> {
  const r = await step(node, 'drift', [...nodeArgs(cluster, node), '--json', ...extra], tools);
  const j = JSON.parse(r.stdout) as { checks: { id: string; status: string }[]; fixed: string[] };
  return {
    status: r.status,
    checks: j.checks.map((c) => [c.id, c.status]),
    calls: r.calls,
    stderr: r.stderr,
    ...{ fixed: j.fixed },
  };
}

async function doctor(node: LabNode, tools: Tools) {
  const r = await step(node, 'doctor', [...nodeArgs(cluster, node), '--json', '--pod-netns', node.pod.netns], tools);
  const j = JSON.parse(r.stdout) as {
    findings: { id: string; fix: string }[];
    checks: { id: string; status: string }[];
  };
  return {
    status: r.status,
    findings: j.findings.map((f) => [f.id, f.fix]),
    checks: j.checks.map((c) => [c.id, c.status]),
    calls: r.calls,
  };
}

const bad = (c: Checks) => c.checks.filter(([, s]) => s !== 'ok').map(([id]) => id);

/** Every `-j` the 4.11 tools were asked, with how often: at most once per kind and run. */
function jsonAsks(calls: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of calls.filter((l) => / -j /.test(` ${l} `))) m.set(c, (m.get(c) ?? 0) + 1);
  return m;
}

const pingPods = async () =>
  (await lab.exec(h21.pod.netns, ['ping', '-n', '-c', '1', '-W', '2', h22.pod.ip], { okStatus: [1] })).status;

/** dockerd restarted with mk-docker-opts.sh's --mtu: docker0, its ports and the pod at vxlan's MTU. */
async function bridgeMtu(mtu: number): Promise<void> {
  for (const n of lab.nodes) {
    const ports = (
      JSON.parse((await lab.exec(n.netns, ['ip', '-j', 'link', 'show', 'master', 'docker0'])).stdout) as {
        ifname: string;
      }[]
    ).map((p) => p.ifname);
    for (const dev of ['docker0', ...ports])
      await lab.exec(n.netns, ['ip', 'link', 'set', 'dev', dev, 'mtu', String(mtu)]);
    await lab.exec(n.pod.netns, ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', String(mtu)]);
  }
}

describe('the toolkit with iproute2 4.11 (CentOS 7)', { skip: notRoot }, () => {
  // registered before the lab exists: a build that fails halfway is torn down too (createLab
  // removes what it built when it fails; this covers the runbook after it)
  after(async () => {
    await lab?.destroy();
  });
  before(async () => {
    // leftovers of a crashed run of this file only (its prefix, its owner gone)
    for (const l of listLabs()) if (PREFIX_OF_MINE.test(l.prefix) && !l.ownerAlive) await destroyLab(l.prefix);
    lab = await createLab({ prefix: `${PREFIX}${randomBytes(2).toString('hex')}` });
    await runbookWithScripts(lab, { backend: VXLAN, startsecs: 2 });
    cluster = writeClusterFile(lab, { backend: VXLAN });
    await bridgeMtu(1450);
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    shims = join(lab.dir, 'el7-shims');
    callLog = join(shims, 'calls.log');
    mkdirSync(shims, { recursive: true });
    for (const tool of ['ip', 'bridge']) {
      const shim = join(shims, tool);
      writeFileSync(shim, `#!/bin/sh\necho "${tool} $*" >> '${callLog}'\nexec '${join(EL7_BIN, tool)}' "$@"\n`);
      chmodSync(shim, 0o755);
    }
  });

  test("the node's PATH through the shims reaches iproute2 4.11; the lab's own is unchanged", async () => {
    const r = await lab.exec(h21.netns, ['env', `PATH=${shims}:${process.env.PATH}`, 'ip', '-V']);
    assert.match(r.stdout, /iproute2-ss170501/);
    assert.doesNotMatch((await lab.exec(h21.netns, ['ip', '-V'])).stdout, /ss170501/);
  });

  test('a node in sync: drift gives the same checks with 4.11 as with current tools (exit 0); -j asked once per kind', async () => {
    const modern = await drift(h21, 'modern');
    const el7 = await drift(h21, 'el7');
    assert.equal(modern.status, 0, bad(modern).join(','));
    assert.equal(el7.status, 0, `${bad(el7).join(',')}\n${el7.stderr}`);
    assert.deepEqual(el7.checks, modern.checks);
    assert.ok(
      el7.checks.some(([id]) => id === 'vxlan.fdb'),
      'the vxlan checks ran',
    );
    assert.equal(el7.stderr, '');
    // the text forms did the reading
    for (const text of ['ip route show', 'ip -d addr show', 'ip neigh show dev flannel.1'])
      assert.ok(el7.calls.includes(text), `${text} in ${el7.calls.join('; ')}`);
    // 4.11's bridge -j answers in JSON: no text fdb read
    assert.ok(el7.calls.includes('bridge -j fdb show dev flannel.1'));
    assert.ok(!el7.calls.includes('bridge fdb show dev flannel.1'));
    for (const [call, n] of jsonAsks(el7.calls)) assert.equal(n, 1, `${call} asked ${n} times`);
    assert.ok(
      !el7.calls.includes('ip -j neigh show dev flannel.1'),
      'neighbours were read after `ip -j` was refused: text at once',
    );
  });

  test('verify-ping: the same verdict with 4.11 (exit 0, every pod answers)', async () => {
    const args = [...nodeArgs(cluster, h21), '--targets', h22.pod.ip];
    const modern = await step(h21, 'verify-ping', args, 'modern');
    const el7 = await step(h21, 'verify-ping', args, 'el7');
    assert.equal(modern.status, 0, modern.stdout + modern.stderr);
    assert.equal(el7.status, 0, el7.stdout + el7.stderr);
    assert.ok(el7.calls.includes('ip route show') && el7.calls.includes('ip -4 addr show'), el7.calls.join('; '));
    const verdicts = (out: string) => out.split('\n').filter((l) => l.includes(h22.pod.ip)).length;
    assert.equal(verdicts(el7.stdout), verdicts(modern.stdout));
  });

  test("doctor: nothing wrong with either, the pod's links read through `ip netns exec` with 4.11 too", async () => {
    const modern = await doctor(h21, 'modern');
    const el7 = await doctor(h21, 'el7');
    assert.equal(modern.status, 0, JSON.stringify(modern.findings));
    assert.equal(el7.status, 0, JSON.stringify(el7.findings));
    assert.deepEqual(el7.checks, modern.checks);
    assert.ok(el7.calls.includes(`ip netns exec ${h21.pod.netns} ip -d addr show`), el7.calls.join('; '));
  });

  test('a wrong route, a lost neighbour and fdb entry: named the same by both; drift --fix with 4.11 mends all three', async () => {
    const mac = (
      parseNeighbours((await lab.exec(h21.netns, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'])).stdout).find(
        (n) => n.ip.toString() === '172.7.22.0',
      ) ?? assert.fail('no neighbour for hdss7-22 on flannel.1')
    ).mac!;
    await lab.exec(h21.netns, ['ip', 'route', 'replace', '172.7.22.0/24', 'via', '10.4.7.99', 'dev', 'eth0']);
    await lab.exec(h21.netns, ['ip', 'neigh', 'del', '172.7.22.0', 'dev', 'flannel.1']);
    await lab.exec(h21.netns, ['bridge', 'fdb', 'del', mac, 'dev', 'flannel.1', 'dst', '10.4.7.22']);
    const modern = await drift(h21, 'modern');
    const el7 = await drift(h21, 'el7');
    assert.equal(modern.status, 1);
    assert.equal(el7.status, 1);
    assert.deepEqual(el7.checks, modern.checks);
    assert.deepEqual(bad(el7), ['routes.peers', 'vxlan.neighbours', 'vxlan.fdb']);
    const dm = await doctor(h21, 'modern');
    const de = await doctor(h21, 'el7');
    assert.equal(de.status, dm.status);
    assert.ok(de.findings.length > 0);
    assert.deepEqual(de.findings, dm.findings);
    assert.notEqual(await pingPods(), 0);

    const fixed = await drift(h21, 'el7', ['--fix']);
    assert.equal(fixed.status, 0, `${bad(fixed).join(',')}\n${fixed.stderr}`);
    // the three fixes went through 4.11's batch readers
    assert.ok(fixed.calls.includes('ip -batch -'), fixed.calls.join('; '));
    assert.ok(fixed.calls.includes('bridge -batch -'), fixed.calls.join('; '));
    const route = parseIpRoute((await lab.exec(h21.netns, ['ip', '-j', 'route', 'show', '172.7.22.0/24'])).stdout);
    assert.deepEqual(route.map(formatRoute), ['172.7.22.0/24 via 172.7.22.0 dev flannel.1 onlink']);
    const neigh = parseNeighbours(
      (await lab.exec(h21.netns, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'])).stdout,
    );
    assert.ok(neigh.some((n) => n.ip.toString() === '172.7.22.0' && n.mac === mac && n.states.includes('PERMANENT')));
    const fdb = parseFdb((await lab.exec(h21.netns, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])).stdout);
    assert.ok(fdb.some((e) => e.mac === mac && e.dst?.toString() === '10.4.7.22'));
    assert.equal(await pingPods(), 0);
    assert.equal((await drift(h21, 'modern')).status, 0);
  });

  test("the toolkit's `ip -batch` and `bridge -batch` lines are accepted by 4.11 as they are", async () => {
    // in the lab's outside host: nothing flanneld or drift looks at
    const ns = lab.outside.netns;
    const el7 = (tool: string) => join(EL7_BIN, tool);
    await lab.exec(ns, ['ip', 'link', 'add', 'flannel.9', 'type', 'vxlan', 'id', '9', 'local', lab.outside.ip]);
    await lab.exec(ns, ['ip', 'addr', 'add', '172.9.5.0/32', 'dev', 'flannel.9']);
    await lab.exec(ns, ['ip', 'link', 'set', 'flannel.9', 'up']);
    try {
      await lab.exec(ns, ['ip', 'route', 'add', '172.9.3.0/24', 'via', '192.0.2.1', 'dev', 'eth0', 'metric', '7']);
      await lab.exec(ns, ['ip', 'route', 'add', '172.9.4.0/24', 'via', '192.0.2.1', 'dev', 'eth0']);
      const r = (text: string, extra: Partial<Route> = {}): Route => {
        const [dst, , via, , dev] = text.split(' ');
        return { dst: Ip4Net.parse(dst!), via: Ip4.parse(via!), dev: dev!, ...extra };
      };
      const payload = formatIpBatch({
        add: [
          r('172.9.1.0/24 via 192.0.2.1 dev eth0', { metric: 5 }),
          r('172.9.2.0/24 via 172.9.2.0 dev flannel.9', { onlink: true }),
        ],
        replace: [
          {
            from: r('172.9.3.0/24 via 192.0.2.1 dev eth0', { metric: 7 }),
            to: r('172.9.3.0/24 via 192.0.2.2 dev eth0'),
          },
        ],
        remove: [r('172.9.4.0/24 via 192.0.2.1 dev eth0')],
      } as Parameters<typeof formatIpBatch>[0]);
      await lab.exec(ns, [el7('ip'), '-batch', '-'], { input: payload });
      const peer = {
        subnet: Ip4Net.parse('172.9.2.0/24'),
        vtepMac: '5a:3f:40:67:88:99',
        publicIp: Ip4.parse('192.0.2.77'),
      };
      const cmds = planVxlanPeerCommands(
        { neighbours: [{ peer }], fdb: [{ peer }] } as unknown as Parameters<typeof planVxlanPeerCommands>[0],
        'flannel.9',
      );
      assert.deepEqual(
        cmds.map((c) => c.argv.join(' ')),
        ['ip -batch -', 'bridge -batch -'],
      );
      for (const c of cmds) await lab.exec(ns, [el7(c.argv[0]!), ...c.argv.slice(1)], { input: c.input! });
      // read back by the current tools, in JSON
      const routes = parseIpRoute((await lab.exec(ns, ['ip', '-j', 'route', 'show'])).stdout)
        .filter((x) => x.dst.toString().startsWith('172.9.'))
        .map(formatRoute);
      assert.deepEqual(routes.sort(), [
        '172.9.1.0/24 via 192.0.2.1 dev eth0 metric 5',
        '172.9.2.0/24 via 172.9.2.0 dev flannel.9 onlink',
        '172.9.3.0/24 via 192.0.2.2 dev eth0 metric 7',
      ]);
      const neigh = parseNeighbours((await lab.exec(ns, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.9'])).stdout);
      assert.deepEqual(
        neigh.map((n) => [n.ip.toString(), n.mac, n.states]),
        [['172.9.2.0', '5a:3f:40:67:88:99', ['PERMANENT']]],
      );
      const fdb = parseFdb((await lab.exec(ns, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.9'])).stdout);
      assert.ok(
        fdb.some((e) => e.mac === '5a:3f:40:67:88:99' && e.dst?.toString() === '192.0.2.77' && e.state === 'permanent'),
        JSON.stringify(fdb),
      );
    } finally {
      await lab.exec(ns, ['ip', 'link', 'del', 'flannel.9'], { okStatus: [1, 2] });
      for (const dst of ['172.9.1.0/24', '172.9.3.0/24', '172.9.4.0/24'])
        await lab.exec(ns, ['ip', 'route', 'del', dst], { okStatus: [2] });
    }
  });
});

// the shims live in the labdir: removed with the lab
void rmSync;
