// What an operator hit at 3 a.m. (issue 14), each reproduced on one lab after the runbook:
//   the shipped cron line and systemd timer run under cron's environment (PATH=/usr/bin:/bin);
//   -q means the same everywhere; one REJECT policy for snat-fix and drift; a mistyped flag
//   gets a "did you mean"; drift --nagios maps states to the plugin codes; with etcd down drift
//   says the cause once, naming every endpoint, and verify-ping still pings the targets it was
//   given; a flanneld that cannot start is explained by start (supervisorctl's words, the log
//   tail, what it means) and repaired by install, with progress as it happens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { readOnlyRoot, runbookWithScripts, runStep, writeClusterFile } from '../../lab/runbook-steps.ts';
import { nodeState, dockerMasqBack } from './node-state.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(REPO, 'deploy');

let lab: Lab;
let h21: LabNode;
let h22: LabNode;
/** nodes with their "root": a command run in the node's namespace needs nothing else */
let cluster: string;

/** A shipped command line as the lab runs it: the checkout for /opt/flannel-runbook, the lab's cluster file. */
const inLab = (line: string) =>
  line.replaceAll('/opt/flannel-runbook/', REPO).replaceAll('/etc/flannel-runbook/cluster.json', cluster);
/** cron's environment: `env -i` and what cron sets */
const cronEnv = (path = '/usr/bin:/bin') => [
  'env',
  '-i',
  `PATH=${path}`,
  'SHELL=/bin/sh',
  'HOME=/root',
  'LOGNAME=root',
];
const jobOf = (cronFile: string) => {
  const job = readFileSync(join(DEPLOY, cronFile), 'utf8')
    .split('\n')
    .find((l) => /^\* \* \* \* \* root /.test(l));
  assert.ok(job, `${cronFile} has a job line`);
  return job.replace(/^\* \* \* \* \* root /, '');
};

describe('issue 14 on a kept lab: the operator at 3 a.m.', { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab, { roots: true, file: 'cluster-roots.json' });
  });
  after(async () => {
    await lab?.destroy();
  });

  test('the README cron line runs as cron runs it: PATH=/usr/bin:/bin, silent in sync, the textfile written', async () => {
    const job = jobOf('flannel-drift.cron');
    assert.ok(readFileSync(join(REPO, 'README.md'), 'utf8').includes(job), 'the README prints the shipped cron line');
    const prom = join(h21.root, 'var/lib/node_exporter/textfile/flannel.prom');
    rmSync(prom, { force: true });
    const r = await lab.exec(h21.netns, readOnlyRoot([...cronEnv(), 'sh', '-c', inLab(job)]), { okStatus: [1, 2, 3] });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout + r.stderr, '', 'cron mails nothing when in sync');
    assert.match(readFileSync(prom, 'utf8'), /^flannel_runbook_drift_exit_code\{node="hdss7-21"\} 0$/m);
    assert.doesNotMatch(readFileSync(prom, 'utf8'), / -1$/m);
  });

  test("the systemd timer's service runs its ExecStart with its Environment (Persistent=, every minute)", async () => {
    const unit = readFileSync(join(DEPLOY, 'flannel-drift.service'), 'utf8');
    const timer = readFileSync(join(DEPLOY, 'flannel-drift.timer'), 'utf8');
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /^OnCalendar=\*-\*-\* \*:\*:00$/m);
    assert.match(timer, /^WantedBy=timers\.target$/m);
    const path = /^Environment=PATH=(\S+)$/m.exec(unit)?.[1];
    const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1];
    assert.ok(path && exec, 'the service sets PATH and ExecStart');
    const r = await lab.exec(h22.netns, readOnlyRoot([...cronEnv(path), 'sh', '-c', inLab(exec)]), {
      okStatus: [1, 2, 3],
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      readFileSync(join(h22.root, 'var/lib/node_exporter/textfile/flannel.prom'), 'utf8'),
      /^flannel_runbook_drift_exit_code\{node="hdss7-22"\} 0$/m,
    );
  });

  test('a missing tool is named with the PATH that was searched (the sbin directories added)', async () => {
    const r = await lab.exec(
      h21.netns,
      readOnlyRoot([...cronEnv('/nonexistent'), process.execPath, join(REPO, 'dist/drift.mjs'), '--cluster', cluster]),
      { okStatus: [1, 2, 3] },
    );
    // ip and iptables-save are found in sbin; flock (util-linux, /usr/bin) is not on this PATH
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /flock not found in PATH \(\/nonexistent:\/usr\/local\/sbin:\/usr\/sbin:\/sbin\)/);
  });

  test('dist/ stands alone: copied where there is no node_modules, drift (v2 and v3) and a step run', async () => {
    const copy = mkdtempSync(join(tmpdir(), `${lab.prefix}-dist-`));
    try {
      cpSync(join(REPO, 'dist'), copy, { recursive: true });
      for (const api of ['v2', 'v3']) {
        const r = await lab.exec(
          h21.netns,
          readOnlyRoot([...cronEnv(), join(copy, 'drift.mjs'), '--cluster', cluster, '--etcd-api', api, '--json']),
          { okStatus: [1, 2, 3] },
        );
        assert.doesNotMatch(r.stderr, /Cannot find (package|module)/, r.stderr);
        const reach = (JSON.parse(r.stdout) as { checks: { id: string; status: string }[] }).checks.find(
          (c) => c.id === 'etcd.reachable',
        );
        assert.equal(reach?.status, 'ok', `${api}: ${r.stdout}`);
      }
      // a step's commands go through zx: its bundle is beside the scripts
      const st = await lab.exec(
        h21.netns,
        readOnlyRoot([...cronEnv(), join(copy, 'snat-fix.mjs'), '--cluster', cluster]),
        {
          okStatus: [1, 2, 3],
        },
      );
      assert.equal(st.status, 0, st.stderr);
      assert.match(st.stdout, /snat-fix: nothing to do/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('-q is the same everywhere: nothing on stdout when nothing is wrong, no list of changes', async () => {
    for (const step of ['drift', 'doctor', 'snat-fix', 'start', 'install', 'etcd-config'] as const) {
      const extra = step === 'install' ? ['--url', lab.tarball.url, '--sha256', lab.tarball.sha256] : [];
      const r = await runStep(lab, h21, step, ['--cluster', cluster, ...extra, '-q']);
      assert.equal(r.status, 0, `${step}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', `${step} -q printed`);
    }
    // a change made under -q: done, and not listed
    await dockerMasqBack(lab, h21);
    const fixed = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster, '-q']);
    assert.equal(fixed.status, 0, fixed.stderr);
    assert.equal(fixed.stdout, '');
    const save = (await lab.exec(h21.netns, ['iptables-save', '-t', 'nat'])).stdout;
    assert.doesNotMatch(
      save,
      new RegExp(`-A POSTROUTING -s ${h21.subnet.replace('.', '\\.')} ! -o docker0 -j MASQUERADE`),
    );
  });

  test('one REJECT policy: after a default snat-fix on REJECT rules, drift is in sync; the cluster file can keep them', async () => {
    const reject = ['-t', 'filter', '-A', 'FORWARD', '-j', 'REJECT', '--reject-with', 'icmp-host-prohibited'];
    await lab.exec(h22.netns, ['iptables', ...reject]);
    const fix = await runStep(lab, h22, 'snat-fix', ['--cluster', cluster]);
    assert.equal(fix.status, 0, fix.stderr);
    assert.match(fix.stdout, /deleted: -A FORWARD -j REJECT --reject-with icmp-host-prohibited/);
    const drift = await runStep(lab, h22, 'drift', ['--cluster', cluster]);
    assert.equal(drift.status, 0, drift.stdout + drift.stderr);
    // "reject": "keep" in the cluster file: both follow it
    const keep = join(lab.dir, 'cluster-keep.json');
    writeFileSync(keep, JSON.stringify({ ...JSON.parse(readFileSync(cluster, 'utf8')), reject: 'keep' }));
    const planned = await runStep(lab, h22, 'snat-fix', ['--cluster', keep, '--dry-run']);
    assert.equal(planned.status, 0, planned.stderr);
    assert.doesNotMatch(planned.stdout, /REJECT/);
  });

  test('a mistyped flag: one line with a "did you mean", exit 2, nothing changed', async () => {
    const before = await nodeState(lab, h21);
    const r = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster, '--dryrun']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'snat-fix: unknown flag --dryrun; did you mean --dry-run? see --help\n');
    const k = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--rejcet', 'keep']);
    assert.match(k.stderr, /did you mean --reject\?/);
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test('issue 14.5: drift --node OTHER on this host: refused in one line (exit 2), --fix too; nothing changed', async () => {
    const before = await nodeState(lab, h21);
    for (const extra of [[], ['--fix']]) {
      const r = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--node', 'hdss7-22', ...extra]);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        /^drift: node hdss7-22 \(10\.4\.7\.22\) is not this host: no interface here has 10\.4\.7\.22 \(have [^)]*10\.4\.7\.21[^)]*\); run it on hdss7-22\n$/,
      );
    }
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test('issue 14.6: start never renames the running program unless asked: --program other is refused (exit 2), nothing changed', async () => {
    const before = await nodeState(lab, h21);
    const ini = readFileSync(join(h21.root, 'etc/supervisord.d/flannel.ini'), 'utf8');
    const r = await runStep(lab, h21, 'start', ['--cluster', cluster, '--program', 'flanneld', '--startsecs', '2']);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /runs flanneld\.sh as \[program:flanneld-7-21\], and --program names it flanneld: supervisord would stop flanneld-7-21 and start flanneld; nothing changed\. Give --program flanneld-7-21 to keep the name, or --rename to rename it/,
    );
    assert.equal(readFileSync(join(h21.root, 'etc/supervisord.d/flannel.ini'), 'utf8'), ini);
    assert.deepEqual(await nodeState(lab, h21), before);
    const status = await lab.exec(h21.netns, ['supervisorctl', '-c', h21.supervisordConf, 'status', h21.program]);
    assert.match(status.stdout, /RUNNING/);
  });

  test('issue 14.7: install compares with what is installed: a wrong --sha256 is refused (exit 2, the hash not suggested); none given: a warning', async () => {
    const before = await nodeState(lab, h21);
    const wrong = 'b'.repeat(64);
    const r = await runStep(lab, h21, 'install', ['--cluster', cluster, '--url', lab.tarball.url, '--sha256', wrong]);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /differs from the sha256 recorded when \S+flannel-v0\.11\.0 was installed/);
    assert.ok(!r.stderr.includes(`e.g. ${lab.tarball.sha256}`), 'the recorded hash is never the example');
    const none = await runStep(lab, h21, 'install', ['--cluster', cluster, '--url', lab.tarball.url]);
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stderr, /^install: warning: nothing verified \S+flannel-v0\.11\.0 \(no --sha256\)/m);
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test('drift --nagios: OK, WARNING on a repairable drift, CRITICAL on an outage, with perfdata', async () => {
    const nagios = (n: LabNode) => runStep(lab, n, 'drift', ['--cluster', cluster, '--nagios']);
    const ok = await nagios(h21);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      /^FLANNEL OK - hdss7-21: in sync \| ok=\d+;;;0 drift=0;;;0 error=0;;;0 duration=[\d.]+s;;;0\n$/,
    );
    const persisted = join(h21.root, 'etc/sysconfig/iptables');
    const saved = readFileSync(persisted, 'utf8');
    writeFileSync(persisted, saved.replace(/^-A POSTROUTING .*MASQUERADE\n/m, ''));
    const warn = await nagios(h21);
    writeFileSync(persisted, saved);
    assert.equal(warn.status, 1, warn.stdout);
    assert.match(warn.stdout, /^FLANNEL WARNING - hdss7-21: drift: iptables\.persisted \|/);
    await lab.exec(h21.netns, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    const crit = await nagios(h21);
    await lab.exec(h21.netns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    assert.equal(crit.status, 2, crit.stdout);
    assert.match(crit.stdout, /^FLANNEL CRITICAL - hdss7-21: outage: sysctl\.ip-forward/);
    const usage = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--nagios', '--node', 'hdss7-99']);
    assert.equal(usage.status, 3, 'a plugin never exits 2 for a usage error');
    assert.match(usage.stdout, /^FLANNEL UNKNOWN - --node "hdss7-99": no such node/);
  });

  test("issue 14.1: verify-ping's default target is a pod the peer published, behind its FORWARD chain; else it says only the bridge was reached", async () => {
    const ping = async () => {
      const r = await runStep(lab, h21, 'verify-ping', ['--cluster', cluster, '--json']);
      return {
        status: r.status,
        j: JSON.parse(r.stdout) as { rows: { target: string; ok: boolean }[]; bridgeOnly: string[] },
        r,
      };
    };
    // no published results: the peer's bridge, and the note that FORWARD was not crossed
    await lab.etcdctl(['rm', '-r', '/flannel-runbook/status'], { api: 2, okStatus: [4] });
    const bridge = await ping();
    assert.equal(bridge.status, 0, bridge.r.stderr);
    assert.deepEqual([bridge.j.rows.map((x) => x.target), bridge.j.bridgeOnly], [[h22.bridgeIp], [h22.bridgeIp]]);
    const text = await runStep(lab, h21, 'verify-ping', ['--cluster', cluster]);
    assert.match(
      text.stdout,
      new RegExp(`^note: only the bridge was reached at ${h22.bridgeIp.replaceAll('.', '\\.')}: `, 'm'),
    );
    // hdss7-22 publishes its pods (its bridge has talked to its pod): that pod is the target
    await lab.exec(h22.netns, ['ping', '-c1', '-W1', h22.pod.ip]);
    const pub = await runStep(lab, h22, 'drift', ['--cluster', cluster, '--publish']);
    assert.equal(pub.status, 0, pub.stdout + pub.stderr);
    const pod = await ping();
    assert.equal(pod.status, 0, pod.r.stderr);
    assert.deepEqual([pod.j.rows.map((x) => x.target), pod.j.bridgeOnly], [[h22.pod.ip], []]);
    // the DROP ahead of flannel's rules on hdss7-22: the default run now fails, as pods do
    const drop = (op: '-I' | '-D') =>
      lab.exec(h22.netns, ['iptables', op, 'FORWARD', ...(op === '-I' ? ['1'] : []), '-d', h22.subnet, '-j', 'DROP']);
    await drop('-I');
    try {
      const blocked = await ping();
      assert.equal(blocked.status, 1, JSON.stringify(blocked.j));
      assert.deepEqual(
        blocked.j.rows.map((x) => [x.target, x.ok]),
        [[h22.pod.ip, false]],
      );
    } finally {
      await drop('-D');
    }
  });

  test('etcd down: one line naming every endpoint and what it answered; explicit targets are still pinged', async () => {
    const block = (op: '-I' | '-D') =>
      lab.exec(h21.netns, [
        'iptables',
        op,
        'OUTPUT',
        '-p',
        'tcp',
        '--dport',
        '2379',
        '-j',
        'REJECT',
        '--reject-with',
        'tcp-reset',
      ]);
    await block('-I');
    try {
      const t0 = Date.now();
      const r = await runStep(lab, h21, 'drift', ['--cluster', cluster]);
      const ms = Date.now() - t0;
      assert.equal(r.status, 3, r.stdout + r.stderr);
      assert.ok(ms < 8000, `${ms} ms`);
      const lines = r.stdout.trim().split('\n');
      const reach = lines.filter((l) => /etcd\.reachable/.test(l));
      assert.equal(reach.length, 1, r.stdout);
      for (const ep of lab.etcd.endpoints) assert.ok(reach[0]!.includes(ep), `${ep} named: ${reach[0]}`);
      assert.match(r.stdout, /\(needs etcd\) +not checked: .*lease\.own/);
      assert.ok(lines.filter((l) => /^ {2}ERROR/.test(l)).length <= 3, r.stdout);

      const ping = await runStep(lab, h21, 'verify-ping', ['--cluster', cluster, '--targets', h22.pod.ip]);
      assert.match(ping.stdout + ping.stderr, new RegExp(`${h22.pod.ip.replaceAll('.', '\\.')}.*\\bok\\b`));
      assert.equal(ping.status, 3, 'the routes could not be checked against the leases');
    } finally {
      await block('-D');
    }
  });

  test('flanneld cannot start: start says why (supervisorctl, the log, what it means); install repairs it; progress', async () => {
    const bin = join(h22.root, 'opt/flannel/flanneld');
    await lab.supervisorctl(h22, ['stop', h22.program]);
    chmodSync(bin, 0o644);
    const r = await runStep(lab, h22, 'start', ['--cluster', cluster, '--startsecs', '2', '--timeout', '30']);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^start: ran supervisorctl -c \S+.*: flanneld-7-22 is STOPPED$/m,
      'the action as it happens',
    );
    assert.match(r.stderr, /--- supervisorctl said: start flanneld-7-22 exited \d+: .*ERROR/);
    assert.match(r.stderr, /--- last lines of \S+flanneld\.stdout\.log:\n[\s\S]*Permission denied/);
    assert.match(
      r.stderr,
      /--- what they mean:\n[\s\S]*Permission denied\n +-> flanneld\.sh cannot run flanneld: the binary is not executable/,
    );
    // install sees the broken release and puts it right
    const inst = await runStep(lab, h22, 'install', [
      '--cluster',
      cluster,
      '--url',
      lab.tarball.url,
      '--sha256',
      lab.tarball.sha256,
    ]);
    assert.equal(inst.status, 0, inst.stderr);
    assert.doesNotMatch(inst.stdout, /nothing to do/);
    assert.ok(existsSync(bin));
    const up = await runStep(lab, h22, 'start', ['--cluster', cluster, '--startsecs', '2']);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    const secs = Number(/is up after (\d+)s/.exec(up.stdout)?.[1]);
    assert.ok(secs >= 2, `the true elapsed time, startsecs included: ${up.stdout}`);
  });
});
