// doctor on host-gw labs brought up by the toolkit's own scripts (root only), broken one way
// at a time, half the cases on each of two labs (doctor.test.ts, doctor-2.test.ts) (tests/ns/doctor-cases.ts: HOSTGW_CASES, each a failure-catalogue case or an issue's
// breakage): drift names its check, doctor (with the cluster file and with flags only) names the
// finding with its fix first, the fix line each mode printed is run as pasted, and the lab is
// healthy again (drift 0 on both nodes, every pod pings every pod, each node its own pod).
// etcd without --enable-v2 is an etcd of its own, on 127.0.0.1 inside hdss7-21's namespace; its
// fix line (the etcd host's service) runs in a mount namespace with a stand-in systemctl.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab } from '../../lab/lab.ts';
import { runbookWithScripts, writeClusterFile } from '../../lab/runbook-steps.ts';
import { HOSTGW_CASES, makeCtx, runCase, type Ctx } from './doctor-cases.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

/**
 * Half `part` (0 or 1) of HOSTGW_CASES on a lab of its own: two files, two labs, run at once
 * (one lab for all of them was the test run's longest file by far). Part 0 also has the healthy
 * lab's check and the v2-disabled etcd.
 */
export function doctorHostGwSuite(part: 0 | 1): void {
  const half = Math.ceil(HOSTGW_CASES.length / 2);
  const cases = part === 0 ? HOSTGW_CASES.slice(0, half) : HOSTGW_CASES.slice(half);
  let lab: Lab;
  let c: Ctx;
  /** the cases that ran to the end, for the last test */
  const passed = new Set<string>();
  let broken: string | false = false;

  describe(`doctor on a broken host-gw lab (cases ${part === 0 ? `1-${half}` : `${half + 1}-${HOSTGW_CASES.length}`})`, {
    skip: notRoot,
  }, () => {
    before(async () => {
      lab = await createLab({});
      await runbookWithScripts(lab, { startsecs: 2 });
      c = makeCtx(lab, writeClusterFile(lab));
      // wrong TLS files for the probe: a client certificate as CA, a certificate no CA of the lab
      // signed, a key file that is not PEM (seen by hdss7-21 at /tmp/doctor under its --root)
      const dir = join(c.h21.root, 'tmp/doctor');
      mkdirSync(dir, { recursive: true });
      copyFileSync(lab.etcd.certfile, join(dir, 'notca.pem'));
      writeFileSync(join(dir, 'garbage.pem'), 'not a key\n', { mode: 0o600 });
      await lab.exec(c.h21.netns, [
        'openssl',
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'stranger-key.pem'),
        '-out',
        join(dir, 'stranger.pem'),
        '-subj',
        '/CN=stranger',
        '-days',
        '2',
      ]);
    });
    after(async () => {
      await lab?.destroy();
    });

    if (part === 0)
      test('a healthy lab: doctor finds nothing in either mode (exit 0), --json says the same', async () => {
        for (const n of [c.h21, c.h22])
          for (const mode of ['cluster', 'flags'] as const) {
            const r = await c.doctor(n, mode);
            assert.equal(r.status, 0, r.text);
            assert.match(r.text, new RegExp(`^doctor (${n.name}|${n.ip.replaceAll('.', '\\.')}): nothing wrong`));
          }
        await c.healthy();
      });

    for (const k of cases)
      test(`${k.finding || 'no finding'}${k.catalogue ? ` (${k.catalogue.join(', ')})` : ''}: ${k.title}`, async (t: TestContext) => {
        // one lab for all: a case that failed may have left it broken, and every later one would only time out
        if (broken) return t.skip(`the lab was left broken by: ${broken}`);
        try {
          await runCase(c, k);
        } catch (e) {
          broken = k.title;
          throw e;
        }
        passed.add(`${k.catalogue?.join(',') ?? ''}|${k.finding}`);
      });

    if (part === 0)
      test('etcd.v2-disabled (C02): an etcd 3.4 without --enable-v2; its fix line, run against a stand-in systemctl, turns v2 on', async (t: TestContext) => {
        const dir = join(lab.dir, 'doctor-etcd-v2off');
        const url = 'http://127.0.0.1:22379';
        const startEtcd = (v2: boolean): ChildProcess =>
          spawn(
            'ip',
            [
              'netns',
              'exec',
              c.h21.netns,
              'etcd',
              '--name',
              'v2off',
              '--data-dir',
              dir,
              '--listen-client-urls',
              url,
              '--advertise-client-urls',
              url,
              '--listen-peer-urls',
              'http://127.0.0.1:22380',
              '--initial-advertise-peer-urls',
              'http://127.0.0.1:22380',
              '--initial-cluster',
              'v2off=http://127.0.0.1:22380',
              `--enable-v2=${v2}`,
            ],
            { stdio: 'ignore' },
          );
        let etcd = startEtcd(false);
        const stop = async () => {
          const exited = new Promise((r) => etcd.once('exit', r));
          etcd.kill('SIGKILL'); // `ip netns exec` execs etcd: this pid is etcd's
          await exited;
        };
        t.after(stop);
        const up = async () =>
          c.waitFor(
            'the test etcd',
            async () =>
              (await lab.exec(c.h21.netns, ['curl', '-sf', `${url}/version`], { okStatus: [7, 22, 52, 56] })).status ===
              0,
          );
        await up();
        const d = await c.drift(c.h21, ['--endpoints', url]);
        assert.equal(d.status, 3);
        const fixes = new Set<string>();
        for (const mode of ['cluster', 'flags'] as const) {
          const r = await c.doctor(c.h21, mode, ['--endpoints', url]);
          const f = r.found.find((x) => x.id === 'etcd.v2-disabled');
          assert.ok(f?.fix, r.text);
          fixes.add(f.fix);
        }
        // the line acts on the etcd host's /etc/default/etcd and its systemd unit: run it in a
        // private mount namespace whose /etc/default is empty and whose systemctl records its call
        const shim = join(lab.dir, 'shim');
        mkdirSync(shim, { recursive: true });
        writeFileSync(join(shim, 'systemctl'), `#!/bin/sh\necho "$@" >> ${join(shim, 'calls')}\n`, { mode: 0o755 });
        for (const fix of fixes) {
          const r = await lab.exec(c.h21.netns, [
            'unshare',
            '-m',
            'sh',
            '-c',
            `mount -t tmpfs tmpfs /etc/default && PATH=${shim}:$PATH && ${fix} && cat /etc/default/etcd`,
          ]);
          assert.equal(r.stdout, 'ETCD_ENABLE_V2=true\n');
        }
        assert.match((await lab.exec(c.h21.netns, ['cat', join(shim, 'calls')])).stdout, /^restart etcd\n/);
        // what systemctl restart would do with ETCD_ENABLE_V2=true: etcd again with v2 on
        await stop();
        etcd = startEtcd(true);
        await up();
        const r = await c.doctor(c.h21, 'cluster', ['--endpoints', url]);
        assert.ok(!r.found.some((f) => f.id === 'etcd.v2-disabled'), r.text);
      });

    test('every case of this lab ran to the end', () => {
      assert.deepEqual(
        cases.map((k) => `${k.catalogue?.join(',') ?? ''}|${k.finding}`).filter((x) => !passed.has(x)),
        [],
      );
    });
  });
}
