// A node built by hand exactly as the runbook does it (lab/runbook-by-hand.ts: the runbook's
// flanneld.sh with `./flanneld`, no exec, and the runbook's ini): the scripts after start take
// every value from the node's own files (flanneld.sh, subnet.env, the installed release, the
// supervisord ini) and run with no flags at all (only --root, which is the lab's stand-in for
// "this host"), giving the right verdicts. A value that cannot be found anywhere is one line
// naming the flag, the files looked at and an example.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { runbookByHand } from '../../lab/runbook-by-hand.ts';
import { runStep } from '../../lab/runbook-steps.ts';

const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

let lab: Lab;
let h21: LabNode;
let h22: LabNode;

const step = (n: LabNode, name: Parameters<typeof runStep>[2], args: string[] = []) =>
  runStep(lab, n, name, ['--root', n.root, ...args]);
const notOk = (stdout: string) =>
  (JSON.parse(stdout) as { checks: { id: string; status: string }[] }).checks
    .filter((c) => c.status !== 'ok')
    .map((c) => `${c.id}:${c.status}`);

describe("the node's own files as defaults: a node built by hand, zero flags", { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    await runbookByHand(lab, { startSecs: 2, waitRunning: true });
  });
  after(async () => {
    await lab?.destroy();
  });

  test('drift: everything from the node; the runbook flanneld.sh without exec is its one drift, named as start would rewrite it', async () => {
    const r = await step(h21, 'drift', ['--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(notOk(r.stdout), ['flanneld.flags:drift']);
    assert.match(r.stdout, /without exec/);
    // start agrees: its dry run plans exactly that rewrite
    const plan = await step(h21, 'start', ['--dry-run', '--startsecs', '2']);
    assert.equal(plan.status, 0, plan.stderr);
    assert.match(plan.stdout, /flanneld\.sh/);
    assert.match(plan.stdout, /exec \.\/flanneld/);
    assert.doesNotMatch(plan.stdout, /subnet\.env\.XXXXXX|flannel\.ini\.XXXXXX/, 'only flanneld.sh changes');
    assert.match(plan.stdout, /supervisorctl -c \S+ restart flanneld-7-21/, 'the program keeps its name');
  });

  test('drift --fix changes nothing it should not: the same verdict, flanneld untouched', async () => {
    const before = (await lab.supervisorctl(h21, ['pid', h21.program])).stdout.trim();
    const r = await step(h21, 'drift', ['--fix', '--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(notOk(r.stdout), ['flanneld.flags:drift']);
    assert.equal((await lab.supervisorctl(h21, ['pid', h21.program])).stdout.trim(), before);
  });

  test('doctor: one finding, for flanneld.sh, whose fix is start', async () => {
    const r = await step(h21, 'doctor', ['--json']);
    assert.equal(r.status, 1, r.stderr);
    const findings = (JSON.parse(r.stdout) as { findings: { id: string; fix: string; checks: string[] }[] }).findings;
    assert.deepEqual(
      findings.flatMap((f) => f.checks),
      ['flanneld.flags'],
    );
    assert.match(findings[0]!.fix, /start\.ts/);
  });

  test('verify-ping: the peer pinged, exit 0', async () => {
    const r = await step(h21, 'verify-ping', ['--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { rows: unknown[] }).rows.length, 1);
  });

  test('snat-fix with only --drop-reject: subnet and network from subnet.env; the by-hand fix is already there', async () => {
    const r = await step(h22, 'snat-fix', ['--drop-reject']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /snat-fix: nothing to do/);
  });

  test('a value found nowhere is one line naming the flag, the files looked at and an example', async () => {
    const sh = join(h22.root, 'opt/flannel/flanneld.sh');
    const env = join(h22.root, 'opt/flannel/subnet.env');
    const saved = [await lab.exec(h22.netns, ['cat', sh]), await lab.exec(h22.netns, ['cat', env])];
    rmSync(sh);
    rmSync(env);
    try {
      const r = await step(h22, 'verify-ping');
      assert.equal(r.status, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(
        r.stderr,
        /^verify-ping: --public-ip: required; .*not found in \/opt\/flannel\/flanneld\.sh, .*e\.g\. --public-ip 10\.4\.7\.21$/m,
      );
    } finally {
      writeFileSync(sh, saved[0]!.stdout, { mode: 0o755 });
      writeFileSync(env, saved[1]!.stdout);
    }
  });

  test('an explicit value that disagrees with the node file is drift, naming both', async () => {
    const r = await step(h21, 'drift', ['--json', '--iface', 'eth9']);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /--iface: have eth0, want eth9/);
  });
});
