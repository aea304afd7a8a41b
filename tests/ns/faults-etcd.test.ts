// Issue 11 on one lab after the runbook, etcd and the node's network under faults: 2 of 3
// members frozen is "could not check" for every step, within seconds, naming every endpoint,
// and nothing is mended from a stale answer (item 2); all 3 down is exit 3 within the 6 s etcd budget past start-up, with
// nothing removed; etcd prefixes are checked and the status prefix never overlaps flannel's
// (5); an etcd API the cluster's flannel does not read is refused without --force (6); a
// failing --fix still reports, re-checks, writes the textfile and publishes (7); snat-fix
// refuses another node's subnet (9); a lease takeover is refused; foreign routes, ip rules and
// iptables rules are untouched; limits: 20 silent endpoints, 10,000 targets, 120 KB values
// (12); messages and exit codes (15).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { runbookWithScripts, runStep, type StepName, writeClusterFile } from '../../lab/runbook-steps.ts';
import { ETCD_REQUEST_BUDGET_MS } from '../../lib/host/etcd.ts';
import { comparableSave } from '../../lib/model/iptables.ts';
import { etcdKeys, fileTree, nodeState, dockerMasqBack } from './node-state.ts';
import { etcdMembers, freeze, onFullDisk, stepPath, Tally, thaw, waitEtcdHealthy } from './faults-support.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, etcd, iptables, mounts' : false;

let lab: Lab;
let h21: LabNode;
let h22: LabNode;
let cluster: string;
const tally = new Tally();
const STATUS_KEY = '/flannel-runbook/status/hdss7-21';

/** What a step may change on the node without etcd: files, routes, rules. */
async function localState(n: LabNode) {
  const [routes, rules, ipt] = await Promise.all([
    lab.exec(n.netns, ['ip', 'route', 'show', 'table', 'all']),
    lab.exec(n.netns, ['ip', 'rule', 'show']),
    lab.exec(n.netns, ['iptables-save']),
  ]);
  return { files: fileTree(n.root), routes: routes.stdout, rules: rules.stdout, iptables: comparableSave(ipt.stdout) };
}

const timed = async (f: () => Promise<{ status: number; stdout: string; stderr: string }>) => {
  const t0 = Date.now();
  const r = await f();
  return { ...r, ms: Date.now() - t0 };
};

describe('issue 11: etcd and the network under faults (quorum, outage, prefixes, API, fixes, limits)', {
  skip: notRoot,
}, () => {
  before(async () => {
    lab = await createLab({});
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab, { roots: true, file: 'cluster-roots.json' });
  });
  after(async () => {
    // a test that failed mid-way must not leave members frozen for the teardown
    try {
      thaw(etcdMembers(lab));
    } catch {
      /* gone already */
    }
    await lab?.destroy();
  });

  /**
   * `step` on hdss7-21 exits 3 within etcd's budget past its own start-up. A bound on the clock
   * alone failed on a loaded CI (8029 ms: three test files at once, a cold tsx start), so the
   * start-up (`--help`: the same imports) is measured just before, under the same load. Idle:
   * 6.4 s in all, 0.4 s of it start-up (README).
   */
  async function withinEtcdBudget(step: StepName, args: string[]) {
    const startUp = await timed(() => runStep(lab, h21, step, ['--help']));
    assert.equal(startUp.status, 0, startUp.stderr);
    const r = await timed(() => runStep(lab, h21, step, args));
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.ok(
      r.ms - startUp.ms < ETCD_REQUEST_BUDGET_MS + 1000,
      `${step}: ${r.ms} ms, ${startUp.ms} ms of it start-up; etcd's budget ${ETCD_REQUEST_BUDGET_MS} ms`,
    );
    return r;
  }

  test('quorum lost (2 of 3 members frozen): every step exits 3 within seconds naming every endpoint; nothing mended from stale data (item 2)', async () => {
    // a stale route a fresh read would remove (flanneld never removes one, so only the toolkit could)
    await lab.exec(h21.netns, ['ip', 'route', 'add', '172.7.99.0/24', 'via', h22.ip, 'dev', 'eth0']);
    const before = await localState(h21);
    const members = etcdMembers(lab).filter((m) => m.what !== 'etcd hdss7-12');
    assert.equal(members.length, 2);
    const steps: [StepName, string[]][] = [
      ['drift', []],
      ['drift', ['--fix']],
      ['drift', ['--etcd-api', 'v3']],
      ['start', ['--startsecs', '2']],
      ['verify-ping', []],
      ['doctor', []],
      ['etcd-config', []],
    ];
    // each step's own start-up (`--help`), three at a time as below, under the same load: the
    // bound is past it (a clock-only bound failed on a loaded CI for etcd fully down)
    const startUps: number[] = [];
    for (let i = 0; i < steps.length; i += 3)
      startUps.push(
        ...(await Promise.all(
          steps.slice(i, i + 3).map(async ([step]) => {
            const r = await timed(() => runStep(lab, h21, step, ['--help']));
            assert.equal(r.status, 0, r.stderr);
            return r.ms;
          }),
        )),
      );
    freeze(members);
    const results: { status: number; stdout: string; stderr: string; ms: number }[] = [];
    try {
      // three at a time (two cores, each a node process); each drift with its own lock
      for (let i = 0; i < steps.length; i += 3)
        results.push(
          ...(await Promise.all(
            steps
              .slice(i, i + 3)
              .map(([step, extra], j) =>
                timed(() =>
                  runStep(lab, h21, step, [
                    '--cluster',
                    cluster,
                    ...extra,
                    ...(step === 'drift' ? ['--lock', `/run/flannel-runbook/quorum-${i + j}.lock`] : []),
                  ]),
                ),
              ),
          )),
        );
    } finally {
      thaw(members);
    }
    for (const [i, [step, extra]] of steps.entries())
      await tally.case('fault', `2 of 3 etcd members frozen: ${step} ${extra.join(' ')}`, () => {
        const r = results[i]!;
        assert.equal(r.status, 3, `${step} ${extra}: ${r.stdout}${r.stderr}`);
        assert.ok(r.ms - startUps[i]! < 10_000, `${step}: ${r.ms} ms, ${startUps[i]} ms of it start-up`);
        const said = r.stdout + r.stderr;
        for (const ep of lab.etcd.endpoints.map((e) => e.replace('https://', '')))
          assert.ok(said.includes(ep), `${step} ${extra} names ${ep}: ${said}`);
      });
    await waitEtcdHealthy(lab);
    assert.deepEqual(await localState(h21), before, 'no route or rule changed, no file written');
    const back = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--fix']);
    assert.equal(back.status, 0, back.stdout);
  });

  test('etcd fully down: exit 3 within the etcd budget past start-up (6.4 s idle), nothing removed (routes, rules, files)', async () => {
    const before = await localState(h21);
    const members = etcdMembers(lab);
    freeze(members);
    try {
      for (const [step, extra] of [
        ['drift', ['--fix']],
        ['verify-ping', []],
      ] as [StepName, string[]][])
        await tally.case('fault', `etcd fully down: ${step} ${extra.join(' ')}`, async () => {
          const r = await withinEtcdBudget(step, ['--cluster', cluster, ...extra]);
          assert.match(r.stdout + r.stderr, /no endpoint answered: .*no answer within \d+ ms/);
        });
    } finally {
      thaw(members);
    }
    await waitEtcdHealthy(lab);
    assert.deepEqual(await localState(h21), before);
  });

  test('etcd prefixes are checked; the status prefix never overlaps the network prefix (item 5)', async () => {
    const keys = await etcdKeys(lab);
    const bad = join(lab.dir, 'cluster-bad-prefix.json');
    const doc = JSON.parse(readFileSync(cluster, 'utf8'));
    writeFileSync(bad, JSON.stringify({ ...doc, etcd: { ...doc.etcd, prefix: '/coreos.com/../evil' } }));
    const cases: [StepName, string[], RegExp][] = [
      [
        'etcd-config',
        ['--etcd-prefix', '/coreos.com/../evil'],
        /^--etcd-prefix "\/coreos\.com\/\.\.\/evil": must not contain/,
      ],
      ['etcd-config', ['--etcd-prefix', '/coreos.com/network/'], /no trailing or double "\/"/],
      ['etcd-config', ['--etcd-prefix', '//evil'], /no trailing or double "\/"/],
      ['etcd-config', ['--etcd-prefix', '/coreos.com/net\u0001work'], /control characters/],
      ['etcd-config', ['--etcd-prefix', '/coreos.com/net%2F..%2Fevil'], /must not contain blanks, \?, #, %/],
      ['etcd-config', ['--cluster', bad], /etcd\.prefix "\/coreos\.com\/\.\.\/evil": must not contain/],
      [
        'drift',
        ['--publish', '--status-prefix', '/flannel-runbook/../coreos.com/network/subnets'],
        /^--status-prefix "\/flannel-runbook\/\.\.\/coreos\.com\/network\/subnets": must not contain "\." or "\.\." segments/,
      ],
      [
        'drift',
        ['--publish', '--status-prefix', '/coreos.com/network/subnets'],
        /overlaps the network prefix \/coreos\.com\/network/,
      ],
      ['drift', ['--publish', '--status-prefix', '/'], /overlaps the network prefix/],
      ['drift', ['--publish', '--status-prefix', '/flannel-runbook/status/'], /no trailing or double/],
      ['fleet', ['--status-prefix', '/coreos.com'], /overlaps the network prefix/],
    ];
    for (const [step, args, says] of cases)
      await tally.case('bad input', `${step} ${args.join(' ')}`, async () => {
        const r = await runStep(lab, h21, step, [...(args[0] === '--cluster' ? [] : ['--cluster', cluster]), ...args]);
        assert.equal(r.status, 2, `${step} ${args}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr.trim().replace(/^[a-z-]+: /, ''), says);
      });
    assert.equal(await etcdKeys(lab), keys, 'nothing written under the network prefix');
    assert.equal((await lab.etcdctl(['get', '/evil/config'], { api: 2, okStatus: [4] })).status, 4);
    assert.equal((await lab.etcdctl(['get', STATUS_KEY], { api: 2, okStatus: [4] })).status, 4, 'nothing published');
    // the default is apart from flannel's keys: published where fleet reads it
    const ok = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--publish']);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match((await lab.etcdctl(['get', STATUS_KEY], { api: 2 })).stdout, /"node":"hdss7-21"/);
    const fleet = await runStep(lab, h21, 'fleet', ['--cluster', cluster]);
    assert.match(fleet.stdout, /^hdss7-21 +in sync/m);
  });

  test("an etcd API the cluster's flannel does not read is refused without --force, naming which versions read which (item 6)", async () => {
    const v3 = () => lab.etcdctl(['get', '--prefix', '--keys-only', '/v3test']);
    const bad = join(lab.dir, 'cluster-api-v3.json');
    const doc = JSON.parse(readFileSync(cluster, 'utf8'));
    writeFileSync(bad, JSON.stringify({ ...doc, etcd: { ...doc.etcd, api: 'v3', prefix: '/v3test/network' } }));
    for (const args of [
      ['--cluster', cluster, '--etcd-api', 'v3', '--etcd-prefix', '/v3test/network'],
      ['--cluster', bad],
    ])
      await tally.case(
        'bad input',
        `etcd-config ${args.slice(2).join(' ') || 'api v3 in the cluster file'}`,
        async () => {
          const r = await runStep(lab, h21, 'etcd-config', args);
          assert.equal(r.status, 2, r.stdout + r.stderr);
          assert.match(
            r.stderr,
            /^etcd-config: etcd\.api "v3": flannel v0\.11\.0 reads only the etcd v2 key space \(flannel v0\.11\.0-v0\.17\.x read v2, v0\.18\.0 and later v3\); a config written with v3 is invisible to it; nothing written\. Give --etcd-api auto, or --force/,
          );
          assert.equal((await v3()).stdout.trim(), '', 'nothing in v3');
        },
      );
    const forced = await runStep(lab, h21, 'etcd-config', ['--cluster', bad, '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal((await v3()).stdout.trim(), '/v3test/network/config');
    await lab.etcdctl(['del', '--prefix', '/v3test']);
  });

  test('a failing --fix action: the rest is applied and reported, the node checked again, textfile and publish written (item 7)', async () => {
    // a stale route to mend (a deleted peer route would race flanneld's own route check)
    await lab.exec(h21.netns, ['ip', 'route', 'add', '172.7.99.0/24', 'via', h22.ip, 'dev', 'eth0']);
    await lab.etcdctl(['rm', STATUS_KEY], { api: 2, okStatus: [4] });
    const flannelDir = realpathSync(join(h21.root, 'opt/flannel'));
    const prom = join(h21.root, 'var/lib/node_exporter/textfile/flannel.prom');
    rmSync(prom, { force: true });
    await tally.case('fault', 'drift --fix with subnet.env unwritable (full disk) and a route to mend', async () => {
      const r = await lab.exec(
        h21.netns,
        onFullDisk(
          flannelDir,
          '1m',
          'sed -i s/FLANNEL_MTU=1500/FLANNEL_MTU=1400/ subnet.env',
          ['subnet.env'],
          [
            stepPath('drift'),
            '--cluster',
            cluster,
            '--fix',
            '--json',
            '--publish',
            '--textfile',
            '/var/lib/node_exporter/textfile/flannel.prom',
          ],
        ),
        { timeoutMs: 120_000, okStatus: [0, 1, 2, 3] },
      );
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const j = JSON.parse(r.stdout) as {
        exit: number;
        fixed: string[];
        failed: string[];
        checks: { id: string; status: string }[];
      };
      assert.match(
        j.fixed.join('\n'),
        /ran ip -batch -: make the kernel's flannel routes match the leases \(remove 1 stale\)/,
      );
      assert.match(j.failed.join('\n'), /subnet\.env.*: cannot write \S+subnet\.env: ENOSPC/);
      const st = (id: string) => j.checks.find((c) => c.id === id)?.status;
      assert.equal(st('routes.stale'), 'ok', 'checked again after the mends');
      assert.equal(st('subnet-env.lease'), 'drift');
      const text = readFileSync(prom, 'utf8');
      assert.match(text, /^flannel_runbook_drift_exit_code\{node="hdss7-21"\} 1$/m);
      assert.match(text, /^flannel_runbook_check\{node="hdss7-21",check="subnet-env.lease"\} 0$/m);
      assert.match(text, /^flannel_runbook_check\{node="hdss7-21",check="routes.stale"\} 1$/m);
      const pub = JSON.parse((await lab.etcdctl(['get', STATUS_KEY], { api: 2 })).stdout) as {
        exit: number;
        problems: { id: string }[];
      };
      assert.equal(pub.exit, 1);
      assert.deepEqual(
        pub.problems.map((p) => p.id),
        ['subnet-env.lease'],
      );
    });
    assert.doesNotMatch((await lab.exec(h21.netns, ['ip', 'route'])).stdout, /172\.7\.99\.0/);
  });

  test("snat-fix refuses another node's subnet: against this node's lease and docker0's address (item 9)", async () => {
    const before = await nodeState(lab, h21);
    const bare = mkdtempSync(join(lab.dir, 'bare-'));
    const cases: [string, string[], RegExp][] = [
      [
        'the lease (subnet.env)',
        ['--cluster', cluster, '--subnet', h22.subnet],
        /^snat-fix: --subnet "172\.7\.22\.0\/24": this node's lease is 172\.7\.21\.0\/24 \(FLANNEL_SUBNET in \/opt\/flannel\/subnet\.env\)/,
      ],
      [
        "docker0's address (no subnet.env)",
        ['--root', bare, '--subnet', h22.subnet, '--network', '172.7.0.0/16'],
        /^snat-fix: --subnet "172\.7\.22\.0\/24": docker0 has 172\.7\.21\.1\/24, outside it/,
      ],
    ];
    for (const [name, args, says] of cases)
      await tally.case('bad input', `snat-fix --subnet of another node: ${name}`, async () => {
        const r = await runStep(lab, h21, 'snat-fix', args);
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, says);
        assert.equal(r.stdout, '');
      });
    assert.deepEqual(await nodeState(lab, h21), before);
    assert.doesNotMatch((await lab.exec(h21.netns, ['iptables-save', '-t', 'nat'])).stdout, /172\.7\.22\.0\/24/);
    rmSync(bare, { recursive: true, force: true });
  });

  test('a lease takeover is refused, naming the holder; its example is not the refused subnet (items 15, and what held)', async () => {
    const before = await nodeState(lab, h21);
    await tally.case('bad input', 'start --subnet of a live lease of another node', async () => {
      const r = await runStep(lab, h21, 'start', ['--cluster', cluster, '--subnet', h22.subnet, '--startsecs', '2']);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /^start: --subnet "172\.7\.22\.0\/24": is leased to 10\.4\.7\.22 \(\/coreos\.com\/network\/subnets\/172\.7\.22\.0-24\); flanneld would silently take that live lease over/,
      );
      assert.doesNotMatch(r.stderr, /e\.g\. 172\.7\.22\.0\/24/);
    });
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test('foreign routes, ip rules and iptables rules are untouched by drift --fix and snat-fix', async () => {
    const gw = lab.gateway.ip;
    const foreign: { what: string; add: string[]; present: () => Promise<boolean> }[] = [];
    const route = (spec: string[], show: string[], re: RegExp) =>
      foreign.push({
        what: `route ${spec.join(' ')}`,
        add: ['ip', 'route', 'add', ...spec],
        present: async () => re.test((await lab.exec(h21.netns, ['ip', 'route', 'show', ...show])).stdout),
      });
    route(['10.99.0.0/16', 'via', gw, 'dev', 'eth0'], ['10.99.0.0/16'], /^10\.99\.0\.0\/16 via /m);
    route(['blackhole', '10.98.0.0/16'], ['10.98.0.0/16'], /^blackhole 10\.98\.0\.0\/16/m);
    route(['192.168.50.0/24', 'dev', 'docker0'], ['192.168.50.0/24'], /^192\.168\.50\.0\/24 dev docker0/m);
    route(['172.7.0.0/16', 'via', gw, 'dev', 'eth0', 'table', '100'], ['table', '100'], /^172\.7\.0\.0\/16 via /m);
    foreign.push({
      what: 'ip rule from 10.99.0.0/16 lookup 100',
      add: ['ip', 'rule', 'add', 'from', '10.99.0.0/16', 'lookup', '100', 'priority', '900'],
      present: async () =>
        /^900:\s+from 10\.99\.0\.0\/16 lookup 100/m.test((await lab.exec(h21.netns, ['ip', 'rule'])).stdout),
    });
    const rule = (table: string, spec: string) =>
      foreign.push({
        what: `iptables -t ${table} ${spec}`,
        add: ['iptables', '-t', table, ...spec.split(' ')],
        present: async () =>
          (await lab.exec(h21.netns, ['iptables-save', '-t', table])).stdout
            .split('\n')
            .includes(spec.replace(/^-I (\S+) 1 /, '-A $1 ')),
      });
    rule('nat', '-A POSTROUTING -s 10.99.0.0/16 -j MASQUERADE');
    rule('nat', '-I POSTROUTING 1 -s 172.7.21.0/24 -d 10.99.0.0/16 -j RETURN');
    rule('filter', '-N FOREIGN');
    rule('filter', '-A FOREIGN -j RETURN');
    rule('filter', '-A FORWARD -s 10.99.0.0/16 -j FOREIGN');
    rule('mangle', '-A PREROUTING -s 10.99.0.0/16 -j MARK --set-xmark 0x63/0xffffffff');
    for (const f of foreign) await lab.exec(h21.netns, f.add);
    foreign[foreign.findIndex((f) => f.what.startsWith('iptables -t filter -N'))]!.present = async () =>
      /^:FOREIGN - /m.test((await lab.exec(h21.netns, ['iptables-save', '-t', 'filter'])).stdout);
    // what the toolkit owns, broken: a peer route gone, a stale one in the flannel network, Docker's rule back
    await lab.exec(h21.netns, ['ip', 'route', 'del', h22.subnet]);
    await lab.exec(h21.netns, ['ip', 'route', 'add', '172.7.99.0/24', 'via', h22.ip, 'dev', 'eth0']);
    await dockerMasqBack(lab, h21);
    const snat = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster]);
    assert.equal(snat.status, 0, snat.stderr);
    const fix = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--fix']);
    assert.equal(fix.status, 0, fix.stdout + fix.stderr);
    for (const f of foreign)
      await tally.case('security', `foreign ${f.what} untouched`, async () => assert.ok(await f.present(), f.what));
    const routes = (await lab.exec(h21.netns, ['ip', 'route'])).stdout;
    assert.match(routes, /^172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0/m, 'the peer route mended');
    assert.doesNotMatch(routes, /172\.7\.99\.0\/24/, 'the stale route inside the flannel network removed');
    // leave the node as the runbook left it
    await lab.exec(h21.netns, ['ip', 'rule', 'del', 'priority', '900']);
    for (const r of [['10.99.0.0/16'], ['blackhole', '10.98.0.0/16'], ['192.168.50.0/24']])
      await lab.exec(h21.netns, ['ip', 'route', 'del', ...r]);
    await lab.exec(h21.netns, ['ip', 'route', 'flush', 'table', '100']);
    for (const [t, spec] of [
      ['nat', '-D POSTROUTING -s 10.99.0.0/16 -j MASQUERADE'],
      ['nat', '-D POSTROUTING -s 172.7.21.0/24 -d 10.99.0.0/16 -j RETURN'],
      ['filter', '-D FORWARD -s 10.99.0.0/16 -j FOREIGN'],
      ['filter', '-F FOREIGN'],
      ['filter', '-X FOREIGN'],
      ['mangle', '-D PREROUTING -s 10.99.0.0/16 -j MARK --set-xmark 0x63/0xffffffff'],
    ])
      await lab.exec(h21.netns, ['iptables', '-t', t!, ...spec!.split(' ')]);
    const persist = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster]);
    assert.equal(persist.status, 0, persist.stderr);
  });

  test('limits: 20 silent endpoints, 10,000 targets, 120 KB values: one short line each, within the budget (item 12)', async () => {
    const silent = Array.from({ length: 20 }, (_, i) => `https://10.4.9.${i + 1}:2379`).join(',');
    await tally.case('fault', '20 unreachable etcd endpoints', async () => {
      const r = await withinEtcdBudget('drift', ['--cluster', cluster, '--endpoints', silent]);
      assert.match(r.stdout, /10\.4\.9\.20:2379: not asked \(the 6 s budget of one etcd request was spent\)/);
    });
    const huge = 'a'.repeat(120_000);
    const targets = Array.from({ length: 10_000 }, (_, i) => `172.7.${(i >> 8) & 255}.${(i & 255) + 1}`).join(',');
    const cases: [StepName, string[], RegExp][] = [
      [
        'verify-ping',
        ['--targets', targets],
        /^--targets "172\.7\.0\.1,.*"\.\.\. \(\d+ characters\): is 10000 addresses; at most 1024/,
      ],
      [
        'drift',
        ['--etcd-prefix', `/${huge}`],
        /^--etcd-prefix "\/a+"\.\.\. \(120001 characters\): must be at most 256 characters/,
      ],
      [
        'drift',
        ['--publish', '--status-prefix', `/${huge}`],
        /^--status-prefix "\/a+"\.\.\. \(120001 characters\): must be at most 256/,
      ],
      ['start', ['--subnet', huge], /^--subnet "a+"\.\.\. \(120000 characters\): /],
      [
        'etcd-config',
        ['--network', `172.7.0.0/16${huge}`],
        /^--network "172\.7\.0\.0\/16a+"\.\.\. \(120012 characters\): /,
      ],
      [
        'drift',
        ['--endpoints', `https://${huge}:2379`],
        /^--endpoints "https:\/\/a+"\.\.\. \(120013 characters\): the host must be at most 253/,
      ],
    ];
    for (const [step, args, says] of cases)
      await tally.case('bad input', `${step} ${args[0]} (${args.at(-1)!.length} characters)`, async () => {
        const r = await runStep(lab, h21, step, ['--cluster', cluster, ...args]);
        assert.equal(r.status, 2, `${step}: ${r.stderr.slice(0, 300)}`);
        const line = r.stderr.trim();
        assert.equal(line.split('\n').length, 1);
        assert.ok(line.length < 300, `${line.length} characters: ${line.slice(0, 300)}`);
        const quoted = /"([^"]*)"\.\.\./.exec(line)?.[1] ?? '';
        assert.ok(quoted.length <= 80, `quotes ${quoted.length} characters`);
        assert.match(line.replace(/^[a-z-]+: /, ''), says);
      });
  });

  test('messages and exit codes: a negative number, supervisord down, a wrong SAN, --root a file (item 15)', async () => {
    const down = join(h21.root, 'etc/supervisord-down.conf');
    writeFileSync(
      down,
      readFileSync(join(h21.root, 'etc/supervisord.conf'), 'utf8').replaceAll('run/supervisor.sock', 'run/nosuch.sock'),
    );
    const cases: [string, StepName, string[], number, RegExp][] = [
      ['--timeout -5', 'start', ['--timeout', '-5'], 2, /^start: --timeout "-5": must be an integer 1-3600/],
      ['--count -1', 'verify-ping', ['--count', '-1'], 2, /^verify-ping: --count "-1": must be an integer 1-100/],
      [
        'supervisord down: start',
        'start',
        ['--supervisor-conf', '/etc/supervisord-down.conf', '--startsecs', '2'],
        3,
        /^start: supervisord not answering on \S+nosuch\.sock \(ENOENT\)/,
      ],
      [
        'supervisord down: drift',
        'drift',
        ['--supervisor-conf', '/etc/supervisord-down.conf'],
        3,
        /ERROR flanneld\.running +supervisord not answering on \S+nosuch\.sock/,
      ],
      [
        'an endpoint its certificate does not name',
        'etcd-config',
        ['--endpoints', 'https://hdss7-21:2379'],
        3,
        /^etcd-config: etcd https:\/\/hdss7-21:2379: TLS: the server's certificate does not name hdss7-21 \(it names IP Address:10\.4\.7\.21, IP Address:127\.0\.0\.1\)/,
      ],
      [
        '--root a file',
        'drift',
        ['--root', '/etc/passwd'],
        2,
        /^drift: --root "\/etc\/passwd": is a file, not a directory/,
      ],
    ];
    for (const [name, step, args, exit, says] of cases)
      await tally.case(exit === 2 ? 'bad input' : 'fault', name, async () => {
        const r = await runStep(lab, h21, step, ['--cluster', cluster, ...args]);
        assert.equal(r.status, exit, `${name}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout + r.stderr, says);
        assert.doesNotMatch(r.stderr, /--cafile/, `${name} blames no TLS file`);
      });
    rmSync(down);
  });

  test('figures: every case tried held', (t) => {
    const c = tally.counts();
    t.diagnostic(tally.line('faults-etcd'));
    tally.assertReadmeRow('faults-etcd');
    for (const k of ['fault', 'bad input', 'security'] as const) assert.equal(c[k].held, c[k].tried, k);
    assert.ok(c.fault.tried >= 12 && c['bad input'].tried >= 20 && c.security.tried >= 10, JSON.stringify(c));
  });
});
