// Issue 11 on one lab after the runbook, the node's files under faults: a full disk (a tmpfs of
// one run's own, items 1 and 7) keeps every old file and leaves no temp file; the private key is
// never readable by another user while certs installs it (3); links planted at the names a naive
// writer would use are never followed (4); a SIGKILL loop on snat-fix always leaves exactly one
// outbound MASQUERADE rule and a whole persisted file, and what kills leave is cleaned by the
// next run, certs' scratch dir too (14); drift's lock is the kernel's: a PID in the file means
// nothing, a held lock skips at once, and of 10 concurrent `drift --fix` exactly one mends (8).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerMasqBack } from './node-state.ts';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { sleep } from '../../lab/proc.ts';
import { runbookWithScripts, runStep, writeClusterFile } from '../../lab/runbook-steps.ts';
import { comparableSave } from '../../lib/model/iptables.ts';
import {
  fullDiskAfter,
  keyLines,
  onFullDisk,
  runIn,
  spawnIn,
  spawnOwn,
  stepPath,
  Tally,
  type Spawned,
} from './faults-support.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, mounts, iptables, setpriv' : false;
const DIST_DRIFT = fileURLToPath(new URL('../../dist/drift.mjs', import.meta.url));

let lab: Lab;
let h21: LabNode;
let cluster: string;
const tally = new Tally();
/** processes this file started outside runStep (a reader, a lock holder): killed in after() */
const started: Spawned[] = [];
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const script = stepPath;

/** The pod subnet's outbound MASQUERADE rules on a node: Docker's blanket one or the runbook's. */
async function outboundMasq(n: LabNode): Promise<string[]> {
  const nat = (await lab.exec(n.netns, ['iptables-save', '-t', 'nat'])).stdout;
  return nat.split('\n').filter((l) => l.startsWith(`-A POSTROUTING -s ${n.subnet} `) && l.endsWith('-j MASQUERADE'));
}
const dockerRule = (n: LabNode) => `-A POSTROUTING -s ${n.subnet} ! -o docker0 -j MASQUERADE`;
const runbookRule = (n: LabNode) => `-A POSTROUTING -s ${n.subnet} ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE`;

/** Back to "Docker's rule, not the runbook's" in one transaction (never a moment with neither). */
async function dockerRuleBack(n: LabNode): Promise<void> {
  const rules = await outboundMasq(n);
  const lines = [
    ...(rules.includes(dockerRule(n)) ? [] : [`-I POSTROUTING 1 ${dockerRule(n).slice('-A POSTROUTING '.length)}`]),
    ...(rules.includes(runbookRule(n)) ? [`-D ${runbookRule(n).slice(3)}`] : []),
  ];
  if (lines.length)
    await lab.exec(n.netns, ['iptables-restore', '--noflush'], { input: `*nat\n${lines.join('\n')}\nCOMMIT\n` });
}

/** A step run with `dir` a full disk for that run only (faults-support.ts, onFullDisk). */
function onFull(n: LabNode, dir: string, size: string, prep: string, files: string[], argv: string[]) {
  return lab.exec(n.netns, onFullDisk(dir, size, prep, files, argv), { timeoutMs: 120_000, okStatus: [0, 1, 2, 3] });
}

describe("issue 11: the node's files under faults (full disk, planted links, kills, locks)", { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    h21 = lab.nodes[0]!;
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab, { roots: true, file: 'cluster-roots.json' });
  });
  after(async () => {
    for (const p of started) p.kill();
    await lab?.destroy();
  });

  test('a full disk keeps every old file, names the file and the errno, and leaves no temp file (items 1, 7)', async () => {
    const flannelDir = realpathSync(join(h21.root, 'opt/flannel'));
    const textDir = join(h21.root, 'var/lib/node_exporter/textfile');
    mkdirSync(textDir, { recursive: true });
    writeFileSync(join(textDir, 'flannel.prom'), 'old metrics\n');
    const env = readFileSync(join(flannelDir, 'subnet.env'), 'utf8');
    const sh = readFileSync(join(flannelDir, 'flanneld.sh'), 'utf8');
    const noTemp = (names: string[]) => names.filter((n) => /tmp|\.new$|~$/.test(n));
    const pidOf = async () => (await lab.supervisorctl(h21, ['pid', h21.program])).stdout.trim();
    const cases: {
      name: string;
      setup?: () => Promise<void>;
      dir: string;
      size: string;
      prep: string;
      file: string;
      keeps: string;
      argv: string[];
      exit: number;
      says: RegExp;
      more?: (stdout: string) => Promise<void>;
    }[] = [
      {
        name: "snat-fix's persisted rules (after a live change)",
        setup: () => dockerRuleBack(h21),
        dir: join(h21.root, 'etc/sysconfig'),
        size: '16k',
        prep: ':',
        file: 'iptables',
        keeps: readFileSync(join(h21.root, 'etc/sysconfig/iptables'), 'utf8'),
        argv: [script('snat-fix'), '--cluster', cluster],
        exit: 3,
        says: /^snat-fix: cannot write \S+\/etc\/sysconfig\/iptables: ENOSPC \(no space left on device[^)]*\); the old file is kept; already changed before the failure: ran iptables-restore/,
        more: async () => assert.deepEqual(await outboundMasq(h21), [runbookRule(h21)], 'the live fix stands'),
      },
      {
        name: "drift --fix's subnet.env",
        dir: flannelDir,
        size: '1m',
        prep: 'sed -i s/FLANNEL_MTU=1500/FLANNEL_MTU=1400/ subnet.env',
        file: 'subnet.env',
        keeps: env.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=1400'),
        argv: [script('drift'), '--cluster', cluster, '--fix', '--json'],
        exit: 1,
        says: /drift: hdss7-21: mending: wrote \S+subnet\.env/,
        more: async (stdout) => {
          const j = JSON.parse(stdout) as { failed: string[]; checks: { id: string; status: string }[] };
          assert.match(j.failed.join('\n'), /cannot write \S+\/subnet\.env: ENOSPC .*; the old file is kept/);
          assert.equal(
            j.checks.find((c) => c.id === 'subnet-env.lease')?.status,
            'drift',
            'checked again: still drift',
          );
        },
      },
      {
        name: "drift's --textfile (the report and its exit still come)",
        dir: textDir,
        size: '16k',
        prep: ':',
        file: 'flannel.prom',
        keeps: 'old metrics\n',
        argv: [script('drift'), '--cluster', cluster, '--textfile', '/var/lib/node_exporter/textfile/flannel.prom'],
        exit: 3,
        says: /^drift: cannot write \S+flannel\.prom: ENOSPC .*; the old file is kept$/m,
        more: async (stdout) => assert.match(stdout, /^drift hdss7-21: in sync /),
      },
      {
        name: "start's flanneld.sh (flanneld not restarted)",
        dir: flannelDir,
        size: '1m',
        prep: "echo '# edited by hand' >> flanneld.sh",
        file: 'flanneld.sh',
        keeps: `${sh}# edited by hand\n`,
        argv: [script('start'), '--cluster', cluster, '--startsecs', '2'],
        exit: 3,
        says: /cannot write \S+\/flanneld\.sh: ENOSPC .*; the old file is kept/,
      },
    ];
    for (const c of cases)
      await tally.case('fault', `full disk: ${c.name}`, async () => {
        await c.setup?.();
        const pid = await pidOf();
        const r = await onFull(h21, c.dir, c.size, c.prep, [c.file], c.argv);
        const disk = fullDiskAfter(r.stderr);
        assert.equal(r.status, c.exit, `${c.name}: ${r.stdout}${r.stderr}`);
        assert.match(disk.said, c.says, c.name);
        assert.equal(disk.sha[c.file], sha(c.keeps), `${c.name}: the old ${c.file} is kept byte for byte`);
        assert.deepEqual(noTemp(disk.names), [], `${c.name}: no temp file left (${disk.names.join(' ')})`);
        assert.equal(await pidOf(), pid, `${c.name}: flanneld was not restarted`);
        await c.more?.(r.stdout);
      });
  });

  test('the private key is never readable by another user while certs installs it (item 3)', async () => {
    const root = mkdtempSync(join(lab.dir, 'keyroot-'));
    // the reader must be able to reach the node's files: the labdir is 0700
    chmodSync(lab.dir, 0o711);
    chmodSync(root, 0o755);
    const certDir = join(root, 'opt/flannel/cert');
    mkdirSync(certDir, { recursive: true, mode: 0o755 });
    writeFileSync(join(certDir, 'canary.txt'), 'CANARY\n', { mode: 0o644 });
    const ch = lab.certHost;
    const key = readFileSync(join(ch.certsPath, 'client-key.pem'), 'utf8');
    // as nobody: read every name in the cert dir and in any scratch dir, as fast as it can
    const loop = `while :; do for f in "$1"/* "$1"/.[!.]* /tmp/flannel-certs-*/*; do cat "$f" 2>/dev/null; done; done`;
    const stop = spawnOwn([
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'sh',
      '-c',
      loop,
      'sh',
      certDir,
    ]);
    started.push(stop);
    try {
      for (let i = 0; i < 5; i++) {
        rmSync(join(certDir, 'client-key.pem'), { force: true });
        await tally.case('security', `key unreadable during install ${i + 1}`, async () => {
          const r = await runStep(lab, h21, 'certs', [
            '--root',
            root,
            '--from',
            `${ch.user}@${ch.name}:${ch.certsDir}`,
            '--identity',
            ch.identity,
            '--known-hosts',
            ch.knownHosts,
          ]);
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stdout, /install client-key\.pem \(0600: root only\)/);
          assert.equal(lstatSync(join(certDir, 'client-key.pem')).mode & 0o777, 0o600);
        });
      }
    } finally {
      stop.kill();
      chmodSync(lab.dir, 0o700);
    }
    const out = (await stop.done).stdout;
    assert.ok((out.match(/CANARY/g)?.length ?? 0) > 20, 'the reader ran and read what it may read');
    assert.doesNotMatch(out, /PRIVATE KEY/);
    for (const l of keyLines(key)) assert.ok(!out.includes(l), 'no line of the key reached the reader');
    rmSync(root, { recursive: true, force: true });
  });

  test('links planted at the names a naive writer would use are never followed; the lock file is never a link (item 4)', async () => {
    const victim = join(lab.dir, 'victim.conf');
    writeFileSync(victim, 'root-owned, must not change\n', { mode: 0o644 });
    const textDir = join(h21.root, 'var/lib/node_exporter/textfile');
    const sysconfig = join(h21.root, 'etc/sysconfig');
    const flannelDir = realpathSync(join(h21.root, 'opt/flannel'));
    mkdirSync(textDir, { recursive: true });
    rmSync(join(textDir, 'flannel.prom'), { force: true });
    const planted = [
      join(textDir, 'flannel.prom'),
      join(textDir, 'flannel.prom.tmp'),
      join(textDir, '.flannel.prom.tmp'),
      join(textDir, 'flannel.prom.new'),
      join(textDir, '.flannel.prom.frb-tmp-0123456789abcdef'),
      join(sysconfig, 'iptables.tmp'),
      join(sysconfig, '.iptables.tmp'),
      join(sysconfig, 'iptables.save'),
      join(sysconfig, '.iptables.frb-tmp-0123456789abcdef'),
      join(flannelDir, 'subnet.env.tmp'),
      join(flannelDir, '.subnet.env.tmp'),
      join(flannelDir, '.subnet.env.frb-tmp-0123456789abcdef'),
    ];
    for (const p of planted) symlinkSync(victim, p);
    try {
      // each writer has something to write: the persisted rules, subnet.env, the textfile
      await dockerRuleBack(h21);
      const envFile = join(flannelDir, 'subnet.env');
      writeFileSync(envFile, readFileSync(envFile, 'utf8').replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=1400'));
      const snat = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster]);
      assert.equal(snat.status, 0, snat.stderr);
      assert.match(snat.stdout, /persisted: /);
      const fix = await runStep(lab, h21, 'drift', [
        '--cluster',
        cluster,
        '--fix',
        '--textfile',
        '/var/lib/node_exporter/textfile/flannel.prom',
      ]);
      assert.equal(fix.status, 0, fix.stdout + fix.stderr);
      for (const p of planted)
        await tally.case('security', `planted link ${p.slice(h21.root.length)}`, () => {
          assert.equal(readFileSync(victim, 'utf8'), 'root-owned, must not change\n', `${p} was followed`);
        });
      assert.ok(lstatSync(join(textDir, 'flannel.prom')).isFile(), 'the textfile replaced the link, not its target');
      assert.match(
        readFileSync(join(textDir, 'flannel.prom'), 'utf8'),
        /flannel_runbook_drift_exit_code\{node="hdss7-21"\} 0/,
      );
      assert.ok(lstatSync(envFile).isFile());
      // the lock file itself planted as a link: refused (O_NOFOLLOW), nothing locked through it
      const lockLink = join(h21.root, 'run/flannel-runbook/planted.lock');
      mkdirSync(join(h21.root, 'run/flannel-runbook'), { recursive: true });
      symlinkSync(victim, lockLink);
      planted.push(lockLink);
      await tally.case('security', 'planted link at the lock file', async () => {
        const r = await runStep(lab, h21, 'drift', [
          '--cluster',
          cluster,
          '--lock',
          '/run/flannel-runbook/planted.lock',
        ]);
        assert.equal(r.status, 3, r.stdout + r.stderr);
        assert.match(r.stderr, /^drift: cannot open the lock file \S+planted\.lock: ELOOP$/m);
        assert.equal(readFileSync(victim, 'utf8'), 'root-owned, must not change\n');
      });
    } finally {
      for (const p of planted) rmSync(p, { force: true });
    }
  });

  test('a SIGKILL loop on snat-fix: always exactly one outbound MASQUERADE rule and a whole persisted file; the next run cleans up (item 14)', async (t) => {
    const persisted = join(h21.root, 'etc/sysconfig/iptables');
    // spread over the run: before the transaction, during it, during the save
    const delays = [350, 550, 700, 800, 900, 1000, 1100, 1200, 1350, 1500, 1700, 2000];
    let killedAfterFix = 0;
    for (const [i, ms] of delays.entries())
      await tally.case('fault', `SIGKILL snat-fix after ${ms} ms (${i + 1})`, async () => {
        await dockerRuleBack(h21);
        const run = spawnIn(lab, h21, [script('snat-fix'), '--cluster', cluster]);
        started.push(run);
        await sleep(ms);
        run.kill();
        await run.done;
        const rules = await outboundMasq(h21);
        assert.equal(rules.length, 1, `after a kill at ${ms} ms: ${rules.join(' | ')}`);
        if (rules[0] === runbookRule(h21)) killedAfterFix++;
        const saved = readFileSync(persisted, 'utf8');
        assert.match(saved, /^\*nat$[\s\S]*^COMMIT$/m, `the persisted file is whole after a kill at ${ms} ms`);
      });
    t.diagnostic(
      `${delays.length} kills: ${killedAfterFix} after the transaction, ${delays.length - killedAfterFix} before it`,
    );
    // what a kill during the save leaves (a temp file of that name) is removed, never read
    const leftover = join(h21.root, 'etc/sysconfig/.iptables.frb-tmp-deadbeefdeadbeef');
    writeFileSync(leftover, '*nat\n-A POSTROUTING -j ACCEPT\n', { mode: 0o600 });
    await tally.case('fault', 'a killed save leaves a temp file: the next run removes it', async () => {
      await dockerRuleBack(h21);
      const r = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        readdirSync(join(h21.root, 'etc/sysconfig')).filter((n) => n !== 'iptables'),
        [],
        'no temp file is left',
      );
      const live = (await lab.exec(h21.netns, ['iptables-save'])).stdout;
      assert.equal(comparableSave(readFileSync(persisted, 'utf8')), comparableSave(live));
      assert.deepEqual(await outboundMasq(h21), [runbookRule(h21)]);
    });
  });

  test('certs killed during scp leaves its scratch dir; the next run removes it and installs (item 14)', async () => {
    const scratch = join(lab.dir, 'certs-tmp');
    mkdirSync(scratch, { mode: 0o755 });
    const root = mkdtempSync(join(lab.dir, 'certroot-'));
    const ch = lab.certHost;
    const args = [
      '--root',
      root,
      '--from',
      `${ch.user}@${ch.name}:${ch.certsDir}`,
      '--identity',
      ch.identity,
      '--known-hosts',
      ch.knownHosts,
    ];
    await tally.case('fault', 'SIGKILL certs while it fetches', async () => {
      // TMPDIR: this run's scratch dirs only, apart from any other certs run on this machine
      const run = spawnIn(lab, h21, ['env', `TMPDIR=${scratch}`, script('certs'), ...args]);
      started.push(run);
      const t0 = Date.now();
      // (tsx keeps its cache under TMPDIR too)
      const mine = () => readdirSync(scratch).filter((n) => n.startsWith('flannel-certs-'));
      // killed once the dir is in use (its lock taken): scp is running or about to
      const inUse = () => mine().some((n) => existsSync(join(scratch, n, '.in-use.lock')));
      while (!inUse() && Date.now() - t0 < 20_000) await sleep(10);
      run.kill();
      await run.done;
      const left = mine();
      assert.equal(left.length, 1, 'the killed run left its scratch dir');
      assert.equal(lstatSync(join(scratch, left[0]!)).mode & 0o777, 0o700);
      const next = await runIn(lab, h21, ['env', `TMPDIR=${scratch}`, script('certs'), ...args]);
      assert.equal(next.status, 0, next.stderr);
      assert.deepEqual(mine(), [], 'the next run removed it (and its own)');
      assert.ok(existsSync(join(root, 'opt/flannel/cert/client-key.pem')));
    });
    rmSync(root, { recursive: true, force: true });
  });

  test("the lock is the kernel's: a PID in the file means nothing, a held lock skips at once, 10 concurrent --fix: one mends (item 8)", async () => {
    const lockFile = join(h21.root, 'run/flannel-runbook/drift.lock');
    mkdirSync(join(h21.root, 'run/flannel-runbook'), { recursive: true });
    await tally.case('fault', 'a lock file naming a live PID (1) that holds nothing', async () => {
      writeFileSync(lockFile, '1\n');
      const r = await runIn(lab, h21, [DIST_DRIFT, '--cluster', cluster]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^drift hdss7-21: in sync/);
    });
    await tally.case('fault', 'a lock held by a live process', async () => {
      const holder = spawnOwn(['flock', '-n', lockFile, 'sleep', '30']);
      started.push(holder);
      // until flock(1) holds it (a fixed 300 ms could pass before it did, under load)
      for (let i = 0; spawnSync('flock', ['-n', lockFile, 'true']).status === 0; i++) {
        assert.ok(i < 200, 'the holder never took the lock');
        await sleep(50);
      }
      const t0 = Date.now();
      const r = await runIn(lab, h21, [DIST_DRIFT, '--cluster', cluster]);
      assert.equal(r.status, 0);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^drift: hdss7-21: another drift run holds \S+drift\.lock; this one skipped/);
      assert.ok(Date.now() - t0 < 5000, 'at once');
      holder.kill();
      await holder.done;
      const again = await runIn(lab, h21, [DIST_DRIFT, '--cluster', cluster]);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /in sync/, 'the lock died with its holder');
    });
    await tally.case('fault', "10 concurrent drift --fix on Docker's rule back", async () => {
      // not a deleted route: flanneld's own route check re-adds one within 10 s, and under load
      // it could do so before any of the ten runs looked (CI saw none mend)
      await dockerMasqBack(lab, h21);
      const runs = Array.from({ length: 10 }, () =>
        spawnIn(lab, h21, [DIST_DRIFT, '--cluster', cluster, '--fix', '--json']),
      );
      started.push(...runs);
      const results = await Promise.all(runs.map((r) => r.done));
      const mended = results.filter((r) => r.stdout && (JSON.parse(r.stdout) as { fixed: string[] }).fixed.length > 0);
      assert.equal(mended.length, 1, results.map((r) => r.stdout + r.stderr).join('\n---\n'));
      for (const r of results) {
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.ok(r.stdout !== '' || /another drift run holds/.test(r.stderr), r.stderr);
      }
      const nat = (await lab.exec(h21.netns, ['iptables-save', '-t', 'nat'])).stdout;
      assert.equal(
        nat.split('\n').filter((l) => l === `-A POSTROUTING -s ${h21.subnet} ! -o docker0 -j MASQUERADE`).length,
        0,
        nat,
      );
    });
  });

  test('figures: every case tried held', (t) => {
    const c = tally.counts();
    t.diagnostic(tally.line('faults-files'));
    tally.assertReadmeRow('faults-files');
    assert.equal(c.fault.held, c.fault.tried);
    assert.equal(c.security.held, c.security.tried);
    assert.ok(c.fault.tried >= 20 && c.security.tried >= 18, JSON.stringify(c));
  });
});
