// --dry-run prints a script to paste; pasted as printed (bash, in the node's namespace, as
// root) it does what the step does, and pasted a second time it changes nothing and says so.
// The runbook by pasting: install, certs, etcd-config, start, snat-fix on one node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { nodeArgs, readOnlyRoot, runStep, writeClusterFile, type StepName } from '../../lab/runbook-steps.ts';
import { nodeState } from './node-state.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;

let lab: Lab;
let cluster: string;
let h21: LabNode;

/** The step's --dry-run script, pasted once (it must work) and again (it must change nothing). */
async function pasteTwice(step: StepName, args: string[], check: () => Promise<void>) {
  const printed = await runStep(lab, h21, step, [...nodeArgs(cluster, h21), ...args, '--dry-run']);
  assert.equal(printed.status, 0, printed.stderr);
  assert.match(printed.stdout, /^set -e\n/);
  const first = await lab.exec(h21.netns, readOnlyRoot(['bash', '-c', printed.stdout]), {
    okStatus: [0, 1, 2, 3],
    timeoutMs: 120_000,
  });
  assert.equal(
    first.status,
    0,
    `first paste of ${step}:\n${first.stdout}${first.stderr}\n--- script:\n${printed.stdout}`,
  );
  await check();
  const before = await nodeState(lab, h21);
  const second = await lab.exec(h21.netns, readOnlyRoot(['bash', '-c', printed.stdout]), {
    okStatus: [0, 1, 2, 3],
    timeoutMs: 120_000,
  });
  assert.equal(second.status, 0, `second paste of ${step}:\n${second.stdout}${second.stderr}`);
  assert.match(second.stdout, /nothing to do/);
  assert.deepEqual(await nodeState(lab, h21), before, `the second paste of ${step} changed the node`);
  // and the step itself agrees
  const again = await runStep(lab, h21, step, [...nodeArgs(cluster, h21), ...args]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing to do/);
}

describe('--dry-run scripts: pasted twice, the second paste changes nothing', { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    cluster = writeClusterFile(lab);
    h21 = lab.nodes[0]!;
  });
  after(async () => {
    await lab?.destroy();
  });

  test('install', async () => {
    await pasteTwice('install', ['--url', lab.tarball.url, '--sha256', lab.tarball.sha256], async () => {
      const r = await lab.exec(h21.netns, ['readlink', `${h21.root}/opt/flannel`]);
      assert.equal(r.stdout.trim(), 'flannel-v0.11.0');
    });
  });

  test('certs (its own mktemp -d dir, the checks as openssl commands)', async () => {
    const ch = lab.certHost;
    const from = [
      '--from',
      `${ch.user}@${ch.name}:${ch.certsDir}`,
      '--identity',
      ch.identity,
      '--known-hosts',
      ch.knownHosts,
    ];
    await pasteTwice('certs', from, async () => {
      const r = await lab.exec(h21.netns, ['stat', '-c', '%a', `${h21.root}/opt/flannel/cert/client-key.pem`]);
      assert.equal(r.stdout.trim(), '600');
    });
  });

  test('etcd-config (each endpoint in turn, create-only)', async () => {
    await pasteTwice('etcd-config', [], async () => {
      const got = await lab.etcdctl(['get', '/coreos.com/network/config'], { api: 2 });
      assert.match(got.stdout, /"Type": "host-gw"/);
    });
  });

  test('start (and its wait until RUNNING)', async () => {
    await pasteTwice('start', ['--startsecs', '2'], async () => {
      const r = await lab.supervisorctl(h21, ['status', h21.program], { okStatus: [3] });
      assert.match(r.stdout, /RUNNING/);
    });
  });

  test('snat-fix', async () => {
    await pasteTwice('snat-fix', ['--drop-reject'], async () => {
      const save = (await lab.exec(h21.netns, ['iptables-save', '-t', 'nat'])).stdout;
      assert.match(save, /-A POSTROUTING -s 172\.7\.21\.0\/24 ! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
    });
  });
});
