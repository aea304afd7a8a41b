// doctor on ONE lab run by the toolkit's scripts with the vxlan backend (root only), broken one
// way at a time (tests/ns/doctor-cases.ts: VXLAN_CASES; the lab moves to DirectRouting on the
// way, as a fix says), then upgraded to flannel v0.20.2 without moving the config to etcd v3
// (failure case C03). As in doctor.test.ts: drift names its check, doctor in both modes names
// the finding with its fix first, the fix lines run, the lab is healthy again.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLab, tarballUrlPath, type Lab } from '../../lab/lab.ts';
import { packFlannelTarball } from '../../lab/flanneld/pack.ts';
import { runbookWithScripts, runStep, writeClusterFile } from '../../lab/runbook-steps.ts';
import { makeCtx, runCase, S, VXLAN_CASES, type Ctx } from './doctor-cases.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

let lab: Lab;
let c: Ctx;
const passed = new Set<string>();
let broken: string | false = false;

describe('doctor on a broken vxlan lab', { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    await runbookWithScripts(lab, { startsecs: 2, backend: { Type: 'vxlan' } });
    c = makeCtx(lab, writeClusterFile(lab, { backend: { Type: 'vxlan' } }));
    // dockerd restarted with mk-docker-opts.sh's --mtu=1450, as the operator does for vxlan
    for (const n of [c.h21, c.h22]) {
      const ports = (JSON.parse((await c.sh(n, 'ip -j link show master docker0')).stdout) as { ifname: string }[]).map(
        (p) => p.ifname,
      );
      for (const dev of ['docker0', ...ports]) await c.sh(n, `ip link set dev ${dev} mtu 1450`);
      await lab.exec(n.pod.netns, ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', '1450']);
    }
  });
  after(async () => {
    await lab?.destroy();
  });

  test('the vxlan lab is healthy: doctor finds nothing', async () => {
    await c.healthy();
    for (const mode of ['cluster', 'flags'] as const) {
      const r = await c.doctor(c.h21, mode);
      assert.equal(r.status, 0, r.text);
    }
  });

  for (const k of VXLAN_CASES)
    test(`${k.finding}${k.catalogue ? ` (${k.catalogue.join(', ')})` : ''}: ${k.title}`, async (t: TestContext) => {
      if (broken) return t.skip(`the lab was left broken by: ${broken}`);
      try {
        await runCase(c, k);
      } catch (e) {
        broken = k.title;
        throw e;
      }
      passed.add(`${k.catalogue?.join(',') ?? ''}|${k.finding}|${k.on ?? 'h21'}`);
    });

  test('config.written-v2 (C03): both nodes upgraded to flannel v0.20.2 with the config left in v2; the fix moves it to v3', async (t: TestContext) => {
    if (broken) return t.skip(`the lab was left broken by: ${broken}`);
    // the release served next to v0.11.0, installed on both nodes, flanneld restarted
    const out = join(lab.dir, 'release-v0.20.2');
    const packed = await packFlannelTarball(out, { version: 'v0.20.2' });
    const urlPath = tarballUrlPath('v0.20.2');
    const served = join(lab.certHost.root, 'www', urlPath);
    await mkdir(join(served, '..'), { recursive: true });
    await copyFile(packed.path, served);
    const url = new URL(lab.tarball.url);
    const doc = JSON.parse(await readFile(c.cluster, 'utf8')) as Record<string, unknown>;
    const v020 = join(lab.dir, 'cluster-v0.20.2.json');
    await writeFile(v020, JSON.stringify({ ...doc, flannelVersion: 'v0.20.2' }, null, 2));
    c.cluster = v020;
    for (const n of [c.h21, c.h22]) {
      const r = await runStep(lab, n, 'install', [
        ...c.clusterArgs(n),
        '--version',
        'v0.20.2',
        '--url',
        `${url.origin}${urlPath}`,
        '--sha256',
        packed.sha256,
      ]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
    for (const n of [c.h21, c.h22]) await lab.supervisorctl(n, ['restart', n.program], { okStatus: [1, 2, 3, 7] });
    await c.waitFor('the v3 config loop', async () =>
      /Did you create your config using etcdv3 API/.test(
        (await c.sh(c.h21, `tail -n 5 ${c.h21.root}/data/logs/flanneld/flanneld.stdout.log`)).stdout,
      ),
    );
    const d = await c.drift(c.h21);
    assert.equal(d.status, 1);
    assert.ok(d.bad.includes('etcd.config'), d.bad.join(','));
    const r = await c.doctor(c.h21, 'cluster');
    assert.equal(r.status, 1, r.text);
    const f = r.found.find((x) => x.id === 'config.written-v2');
    assert.ok(f?.fix, r.text);
    assert.equal(r.found[0]!.id, 'config.written-v2', r.text);
    await c.sh(c.h21, f.fix);
    // the upgrade's own last step: v0.20.2 keeps its rules in chains of its own; save them
    await c.waitFor('both v3 leases', async () =>
      (await Promise.all([c.h21, c.h22].map((n) => c.drift(n)))).every((x) => !x.bad.includes('lease.own')),
    );
    for (const n of [c.h21, c.h22]) await c.sh(n, `${S('drift')} ${c.clusterArgs(n).join(' ')} --fix`, [0, 1]);
    await c.healthy(30_000);
    passed.add('C03|config.written-v2');
  });

  test('every case of this lab ran to the end', () => {
    assert.deepEqual(
      [
        ...VXLAN_CASES.map((k) => `${k.catalogue?.join(',') ?? ''}|${k.finding}|${k.on ?? 'h21'}`),
        'C03|config.written-v2',
      ].filter((x) => !passed.has(x)),
      [],
    );
  });
});
