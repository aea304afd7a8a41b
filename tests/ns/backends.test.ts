// The runbook for each backend x etcd API (issue 6), by the toolkit's scripts on a fresh lab
// each: host-gw, vxlan, vxlan + DirectRouting, with flannel v0.11.0 (etcd v2) and v0.20.2
// (etcd v3), one of them across two L2 segments behind a router. Each ends with every
// node's verify-ping and drift at exit 0 and pods pinging each other. Then the documented
// backend switch (host-gw -> vxlan -> host-gw) with what each node shows in between.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, runStep, runbookWithScripts, writeClusterFile } from '../../lab/runbook-steps.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

const HOSTGW = { Type: 'host-gw' };
const VXLAN = { Type: 'vxlan' };
// the runbook's own spelling for "let flannel decide per peer"
const DR = { Type: 'VxLAN', Directrouting: true };

/** dockerd restarted with mk-docker-opts.sh's --mtu: docker0, its ports and the pods at the backend MTU. */
async function bridgeMtu(lab: Lab, mtu: number): Promise<void> {
  await Promise.all(
    lab.nodes.map(async (n) => {
      const ports = (
        JSON.parse((await lab.exec(n.netns, ['ip', '-j', 'link', 'show', 'master', 'docker0'])).stdout) as {
          ifname: string;
        }[]
      ).map((p) => p.ifname);
      for (const dev of ['docker0', ...ports])
        await lab.exec(n.netns, ['ip', 'link', 'set', 'dev', dev, 'mtu', String(mtu)]);
      await lab.exec(n.pod.netns, ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', String(mtu)]);
    }),
  );
}

async function driftOf(lab: Lab, cluster: string, n: LabNode): Promise<{ status: number; bad: string[] }> {
  const r = await runStep(lab, n, 'drift', [...nodeArgs(cluster, n), '--json']);
  const j = JSON.parse(r.stdout) as { checks: { id: string; status: string; reason: string }[] };
  return { status: r.status, bad: j.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id}: ${c.reason}`) };
}

async function podsPing(lab: Lab): Promise<string[]> {
  const failed: string[] = [];
  for (const a of lab.nodes)
    for (const b of lab.nodes) {
      if (a === b) continue;
      const r = await lab.exec(a.pod.netns, ['ping', '-n', '-c', '1', '-W', '2', b.pod.ip], { okStatus: [1] });
      if (r.status !== 0) failed.push(`${a.name} pod -> ${b.name} pod`);
    }
  return failed;
}

const cases = [
  { name: 'host-gw, flannel v0.20.2 (etcd v3)', backend: HOSTGW, version: 'v0.20.2', segments: 1 as const },
  { name: 'vxlan, flannel v0.11.0 (etcd v2)', backend: VXLAN, version: 'v0.11.0', segments: 1 as const },
  { name: 'vxlan, flannel v0.20.2 (etcd v3)', backend: VXLAN, version: 'v0.20.2', segments: 1 as const },
  {
    name: 'vxlan + DirectRouting across two L2 segments, flannel v0.11.0 (etcd v2)',
    backend: DR,
    version: 'v0.11.0',
    segments: 2 as const,
  },
  { name: 'vxlan + DirectRouting, flannel v0.20.2 (etcd v3)', backend: DR, version: 'v0.20.2', segments: 1 as const },
];

describe('backends x etcd API', { skip: notRoot }, () => {
  for (const c of cases) {
    test(`${c.name}: the runbook's scripts bring every pod to every pod; drift exits 0`, async (t) => {
      const lab = await createLab({ flannelVersion: c.version, segments: c.segments });
      try {
        await runbookWithScripts(lab, { backend: c.backend, startsecs: 2 });
        const cluster = writeClusterFile(lab, { backend: c.backend });
        const vxlan = c.backend !== HOSTGW;
        if (vxlan) await bridgeMtu(lab, 1450);
        assert.deepEqual(await podsPing(lab), []);
        for (const n of lab.nodes) {
          const d = await driftOf(lab, cluster, n);
          assert.equal(d.status, 0, `${n.name}: ${d.bad.join('; ')}`);
        }
        // cron mail stays empty, also through etcd v3 (grpc-js's DEP0123 warning is dropped)
        const quiet = await runStep(lab, lab.nodes[0]!, 'drift', [...nodeArgs(cluster, lab.nodes[0]!), '--quiet']);
        assert.deepEqual([quiet.status, quiet.stdout, quiet.stderr], [0, '', '']);
        const api = c.version === 'v0.20.2' ? 'v3' : 'v2';
        const key = '/coreos.com/network/config';
        const stored =
          api === 'v3'
            ? (await lab.etcdctl(['get', '--print-value-only', key])).stdout.trim()
            : (await lab.etcdctl(['get', key], { api: 2 })).stdout.trim();
        assert.match(stored, vxlan ? /"Type": "vxlan"/ : /"Type": "host-gw"/, `config written through ${api}`);
        if (c.backend === DR) assert.match(stored, /"DirectRouting": true/);
        const h21 = lab.nodes[0]!;
        if (c.version === 'v0.20.2' && c.backend === HOSTGW) {
          // flags only, no --etcd-api, no cluster file: start reads the installed release
          // (/opt/flannel -> flannel-v0.20.2) and talks v3 by itself; the node is already up
          const flagsOnly = await runStep(lab, h21, 'start', [
            '--root',
            h21.root,
            '--public-ip',
            h21.ip,
            '--subnet',
            h21.subnet,
            '--iface',
            h21.iface,
            '--endpoints',
            lab.etcd.endpoints.join(','),
            '--startsecs',
            '2',
          ]);
          assert.equal(flagsOnly.status, 0, flagsOnly.stderr);
          assert.match(flagsOnly.stdout, /start: nothing to do/);
        }
        const routes = (await lab.exec(h21.netns, ['ip', 'route', 'show'])).stdout;
        for (const peer of lab.nodes.slice(1)) {
          const direct = c.backend === HOSTGW || (c.backend === DR && peer.segment === h21.segment);
          const want = direct
            ? `${peer.subnet} via ${peer.ip} dev eth0`
            : `${peer.subnet} via ${peer.subnet.replace(/\/24$/, '')} dev flannel.1 onlink`;
          assert.ok(routes.includes(want), `${h21.name}: wants "${want}" in\n${routes}`);
        }
        t.diagnostic(
          `${lab.nodes.length} nodes, routes on ${h21.name}: ${routes
            .trim()
            .split('\n')
            .filter((l) => /via/.test(l))
            .join(' | ')}`,
        );
      } finally {
        await lab.destroy();
      }
    });
  }

  test('host-gw across two L2 segments fails for the remote node, and doctor says why (peer not on this L2)', async () => {
    const lab = await createLab({ segments: 2 });
    try {
      await assert.rejects(runbookWithScripts(lab, { startsecs: 2 }), /verify-ping on hdss7-\d+ exited 1/);
      const cluster = writeClusterFile(lab);
      const [h21] = lab.nodes as [LabNode];
      const remote = lab.nodes.find((n) => n.segment !== h21.segment)!;
      const ping = await runStep(lab, h21, 'verify-ping', [
        ...nodeArgs(cluster, h21),
        '--targets',
        remote.pod.ip,
        '--count',
        '1',
      ]);
      assert.equal(ping.status, 1);
      assert.match(ping.stdout, new RegExp(`${remote.pod.ip.replace(/\./g, '\\.')} .*FAIL`));
      const doc = await runStep(lab, h21, 'doctor', [...nodeArgs(cluster, h21), '--json']);
      assert.equal(doc.status, 1);
      const findings = JSON.parse(doc.stdout) as
        | { findings: { id: string; fix: string }[] }
        | { id: string; fix: string }[];
      const list = Array.isArray(findings) ? findings : findings.findings;
      const f = list.find((x) => x.id === 'routes.peer-not-l2');
      assert.ok(f, JSON.stringify(list.map((x) => x.id)));
      assert.match(f.fix, /--backend vxlan --direct-routing/);
    } finally {
      await lab.destroy();
    }
  });

  test('the backend switch host-gw -> vxlan -> host-gw (README procedure), with what each node shows in between', async () => {
    const lab = await createLab({});
    try {
      await runbookWithScripts(lab, { startsecs: 2 });
      const [h21, h22] = lab.nodes as [LabNode, LabNode];
      const hostgw = writeClusterFile(lab, { file: 'cluster.json' });
      const vx = writeClusterFile(lab, { backend: VXLAN, file: 'cluster-vxlan.json' });
      // 1. the new config: etcd-config refuses without --force and says what differs
      const refused = await runStep(lab, h21, 'etcd-config', ['--cluster', vx, '--root', h21.root]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /Backend\.Type: have host-gw, want vxlan/);
      assert.equal(
        (await runStep(lab, h21, 'etcd-config', ['--cluster', vx, '--root', h21.root, '--force'])).status,
        0,
      );
      // in between: flanneld has not re-read the config; drift against the new cluster file names it
      const between = await driftOf(lab, vx, h21);
      assert.equal(between.status, 1);
      assert.ok(
        between.bad.some(
          (b) => b.startsWith('subnet-env.lease') || b.startsWith('vxlan.device') || b.startsWith('routes.'),
        ),
        between.bad.join('; '),
      );
      // 2. restart flanneld node by node; 3. dockerd with the new MTU (mk-docker-opts.sh)
      for (const n of [h21, h22]) await lab.supervisorctl(n, ['restart', n.program]);
      await bridgeMtu(lab, 1450);
      await waitFor(async () =>
        (await lab.exec(h21.netns, ['ip', 'route', 'show', h22.subnet])).stdout.includes('flannel.1'),
      );
      for (const n of [h21, h22]) assert.equal((await driftOf(lab, vx, n)).status, 0);
      assert.deepEqual(await podsPing(lab), []);
      // and back: the same steps with the host-gw file (flannel.1 stays; MTU back to 1500)
      assert.equal(
        (await runStep(lab, h21, 'etcd-config', ['--cluster', hostgw, '--root', h21.root, '--force'])).status,
        0,
      );
      for (const n of [h21, h22]) await lab.supervisorctl(n, ['restart', n.program]);
      await bridgeMtu(lab, 1500);
      await waitFor(async () =>
        (await lab.exec(h21.netns, ['ip', 'route', 'show', h22.subnet])).stdout.includes(`via ${h22.ip} dev eth0`),
      );
      for (const n of [h21, h22]) {
        const d = await driftOf(lab, hostgw, n);
        assert.equal(d.status, 0, d.bad.join('; '));
      }
      assert.deepEqual(await podsPing(lab), []);
    } finally {
      await lab.destroy();
    }
  });
});

async function waitFor(ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 250));
  }
}
