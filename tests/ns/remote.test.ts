// The remote mode as an operator of CentOS 7 nodes uses it (issue 12): one lab with a control
// host namespace, each node reached over ssh (an sshd without Node.js, iproute2 4.11 as ip and
// bridge). From the control host: scripts/runbook.ts does the whole runbook, a second run
// does nothing; each step over ssh plans what it plans when run on the node, and the node it
// leaves is the one the local steps call done; drift --all-nodes names a route deleted on one
// node and --fix mends it over ssh; a wrong host key and an unreachable node are refused
// (exit 3, within 10 s); bad input is one line, exit 2, and nothing changes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import {
  nodeArgs,
  runbookRemote,
  runStep,
  readOnlyRoot,
  SCRIPTS_DIR,
  writeClusterFile,
  type StepName,
} from '../../lab/runbook-steps.ts';
import { nodeState } from './node-state.ts';
import { commandLines, readmeBlock } from '../support/readme.ts';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, sshd, mounts' : false;

let lab: Lab;
let h21: LabNode;
let h22: LabNode;
/** the cluster file as the control host has it (nodes with "ssh" and "root") */
let cluster: string;
/** the same cluster as a node has it (no "ssh": the steps run where they are started) */
let onNode: string;

/** A script run on the control host (its namespace), as the operator runs it there. */
function fromControl(script: StepName | 'runbook', args: readonly string[], timeoutMs = 180_000) {
  return lab.exec(lab.remote!.control.netns, readOnlyRoot([join(SCRIPTS_DIR, `${script}.ts`), ...args]), {
    timeoutMs,
    okStatus: [0, 1, 2, 3],
  });
}

/** Delete `dst` on `n` just after flanneld's route check put it back: ~10 s until the next one. */
async function deleteAfterFlannelCheck(n: LabNode, dst: string): Promise<void> {
  const has = async () => (await routesOf(n)).split('\n').some((l) => l.startsWith(`${dst} `));
  await lab.exec(n.netns, ['ip', 'route', 'del', dst]);
  const t0 = Date.now();
  while (!(await has())) {
    if (Date.now() - t0 > 15_000) throw new Error(`flanneld on ${n.name} did not put ${dst} back within 15 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await lab.exec(n.netns, ['ip', 'route', 'del', dst]);
}

const viaSsh = (n: LabNode) => ['--ssh', lab.remote!.destination(n), '--ssh-config', lab.remote!.sshConfig];
const routesOf = async (n: LabNode) => (await lab.exec(n.netns, ['ip', 'route', 'show'])).stdout;

describe('remote mode: the runbook and drift from a control host over ssh', { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({ remote: true });
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    cluster = writeClusterFile(lab, { remote: true, file: 'cluster-remote.json' });
    onNode = writeClusterFile(lab, { file: 'cluster-on-node.json' });
  });
  after(async () => {
    await lab?.destroy();
  });

  test('bad input: one line, exit 2, nothing changed', async () => {
    const before = await nodeState(lab, h21);
    const bad = join(lab.dir, 'cluster-bad-root.json');
    const doc = JSON.parse(readFileSync(cluster, 'utf8'));
    doc.nodes[0].root = 'tmp/relative';
    writeFileSync(bad, JSON.stringify(doc));
    const cases: [StepName | 'runbook', string[], RegExp][] = [
      ['drift', ['--ssh', 'root@@10.4.7.21'], /^drift: --ssh "root@@10\.4\.7\.21": /],
      ['drift', ['--ssh', 'root@10.4.7.21', '--ssh-config', '/nonexistent/ssh_config'], /--ssh-config .*no such file/],
      ['drift', ['--all-nodes'], /^drift: --all-nodes: needs --cluster FILE/],
      [
        'drift',
        ['--cluster', bad, '--node', h21.name],
        /nodes\[0\]\.root "tmp\/relative": must be an absolute directory/,
      ],
      ['runbook', ['--cluster', cluster, '--nodes', 'hdss7-99'], /^runbook: --nodes "hdss7-99": no such node/],
      ['runbook', ['--cluster', cluster, '--steps', 'install,reboot'], /^runbook: --steps "reboot": no such step/],
    ];
    for (const [script, args, says] of cases) {
      const r = await fromControl(script, args);
      assert.equal(r.status, 2, `${script} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), says);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test('a wrong host key is refused; an unreachable node is exit 3 within 10 s, naming it and what ssh said', async () => {
    const r = lab.remote!;
    const otherKey = readFileSync(join(h22.root, 'etc', 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').split(' ');
    const kh = join(lab.dir, 'control', 'known_hosts.wrong');
    writeFileSync(kh, `${h21.name},${h21.ip} ${otherKey[0]} ${otherKey[1]}\n`);
    const conf = join(lab.dir, 'control', 'ssh_config.wrong');
    writeFileSync(conf, readFileSync(r.sshConfig, 'utf8').replace(r.knownHosts, kh), { mode: 0o600 });
    const wrong = await fromControl('drift', ['--root', h21.root, '--ssh', r.destination(h21), '--ssh-config', conf]);
    assert.equal(wrong.status, 3, wrong.stderr);
    assert.match(wrong.stderr, /root@10\.4\.7\.21: cannot connect over ssh: Host key verification failed\./);

    const t0 = Date.now();
    const gone = await fromControl('drift', ['--ssh', 'root@10.4.7.99', '--ssh-config', r.sshConfig]);
    const ms = Date.now() - t0;
    assert.equal(gone.status, 3, gone.stderr);
    assert.match(
      gone.stderr.trim(),
      /^drift: .*root@10\.4\.7\.99.*cannot connect over ssh: ssh: connect to host 10\.4\.7\.99/,
    );
    assert.ok(ms < 20_000, `${ms} ms`); // ARP gives up in about 3 s; the rest is start-up under load
  });

  test('install and certs over ssh plan what they plan on the node itself (--dry-run, fresh nodes)', async () => {
    const ch = lab.certHost;
    const plans: [StepName, string[]][] = [
      ['install', ['--url', lab.tarball.url, '--sha256', lab.tarball.sha256]],
      [
        'certs',
        ['--from', `${ch.user}@${ch.name}:${ch.certsDir}`, '--identity', ch.identity, '--known-hosts', ch.knownHosts],
      ],
    ];
    for (const [step, extra] of plans) {
      const local = await runStep(lab, h21, step, [...nodeArgs(onNode, h21), ...extra, '--dry-run']);
      const remote = await fromControl(step, [...nodeArgs(onNode, h21), ...viaSsh(h21), ...extra, '--dry-run']);
      assert.equal(local.status, 0, local.stderr);
      assert.equal(remote.status, 0, remote.stderr);
      assert.equal(remote.stdout, local.stdout, `${step}: the remote plan differs`);
    }
  });

  test('runbook.ts from the control host: every step on every node, one line each, then a table; routes, keys, files', async () => {
    const { result, seconds } = await runbookRemote(lab, { startsecs: 2 });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    for (const n of lab.nodes)
      for (const step of ['install', 'certs', 'start', 'snat-fix', 'verify-ping'])
        assert.match(result.stderr, new RegExp(`^runbook: ${n.name} ${step}: (changed|ok) \\(`, 'm'));
    assert.match(result.stderr, new RegExp(`^runbook: ${h21.name} etcd-config: changed`, 'm'));
    assert.doesNotMatch(result.stderr, new RegExp(`${h22.name} etcd-config`), 'etcd-config runs once');
    assert.match(result.stdout, /^NODE +STEP +RESULT +TIME\n/);
    assert.match(result.stdout, /runbook: done \(9 of 11 steps changed something\)\n$/);
    assert.ok(seconds < 120, `${seconds} s`);
    // what the operator checks by hand: the host-gw routes, the SNAT rule, the lease, the key mode
    assert.match(await routesOf(h21), /^172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0/m);
    assert.match(await routesOf(h22), /^172\.7\.21\.0\/24 via 10\.4\.7\.21 dev eth0/m);
    const nat = (await lab.exec(h22.netns, ['iptables-save', '-t', 'nat'])).stdout;
    assert.match(nat, /-A POSTROUTING -s 172\.7\.22\.0\/24 ! -d 172\.7\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
    const leases = await lab.etcdctl(['ls', '/coreos.com/network/subnets'], { api: 2 });
    assert.match(leases.stdout, /172\.7\.21\.0-24/);
    assert.match(leases.stdout, /172\.7\.22\.0-24/);
    const mode = await lab.exec(h21.netns, ['stat', '-c', '%a', join(h21.root, 'opt/flannel/cert/client-key.pem')]);
    assert.equal(mode.stdout.trim(), '600');
  });

  test('a second runbook run changes nothing and says so; the local steps call the node done too', async () => {
    const before = [await nodeState(lab, h21), await nodeState(lab, h22)];
    const { result } = await runbookRemote(lab, { startsecs: 2 });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(result.stdout, /runbook: nothing to do \(every step on every node was already done\)\n$/);
    assert.deepEqual([await nodeState(lab, h21), await nodeState(lab, h22)], before);
    // the node the remote run left is the one the steps, run on the node, leave
    for (const step of ['install', 'etcd-config', 'start', 'snat-fix'] as const) {
      const extra =
        step === 'install'
          ? ['--url', lab.tarball.url, '--sha256', lab.tarball.sha256]
          : step === 'start'
            ? ['--startsecs', '2']
            : [];
      const local = await runStep(lab, h22, step, [...nodeArgs(onNode, h22), ...extra]);
      assert.equal(local.status, 0, `${step}: ${local.stderr}`);
      assert.match(local.stdout, /nothing to do/, step);
    }
  });

  test('drift --all-nodes names a route deleted on one node; --fix mends it over ssh; textfile and JSON for all', async () => {
    const r = lab.remote!;
    const base = ['--cluster', cluster, '--all-nodes', '--ssh-config', r.sshConfig];
    const ok = await fromControl('drift', base);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`^drift ${h21.name}: in sync .*\\ndrift ${h22.name}: in sync `));

    // flanneld puts a deleted host-gw route back at its next check (every 10 s): delete it
    // right after one, so the runs below see it gone
    await deleteAfterFlannelCheck(h22, '172.7.21.0/24');
    const textfile = join(lab.dir, 'control', 'flannel.prom');
    const seen = await fromControl('drift', [...base, '--textfile', textfile]);
    assert.equal(seen.status, 1, seen.stdout + seen.stderr);
    assert.match(seen.stdout, new RegExp(`^drift ${h21.name}: in sync `, 'm'));
    assert.match(
      seen.stdout,
      new RegExp(`^drift ${h22.name}: DRIFT .*\\n {2}DRIFT routes\\.peers .*172\\.7\\.21\\.0/24`, 'm'),
    );
    const prom = readFileSync(textfile, 'utf8');
    assert.match(prom, new RegExp(`^flannel_runbook_drift_exit_code\\{node="${h21.name}"\\} 0$`, 'm'));
    assert.match(prom, new RegExp(`^flannel_runbook_drift_exit_code\\{node="${h22.name}"\\} 1$`, 'm'));
    assert.equal(prom.match(/^# TYPE flannel_runbook_check gauge$/gm)?.length, 1);

    const json = await fromControl('drift', [...base, '--json']);
    assert.equal(json.status, 1);
    const doc = JSON.parse(json.stdout) as { exit: number; nodes: { node: string; exit: number }[] };
    assert.deepEqual(
      doc.nodes.map((n) => [n.node, n.exit]),
      [
        [h21.name, 0],
        [h22.name, 1],
      ],
    );

    // the mend planned over ssh is the one planned on the node
    const planLocal = await runStep(lab, h22, 'drift', [...nodeArgs(onNode, h22), '--fix', '--dry-run']);
    const planRemote = await fromControl('drift', [...nodeArgs(onNode, h22), ...viaSsh(h22), '--fix', '--dry-run']);
    assert.equal(planLocal.status, 1, planLocal.stderr);
    assert.equal(planRemote.status, 1, planRemote.stderr);
    assert.match(planLocal.stdout, /172\.7\.21\.0\/24 via 10\.4\.7\.21/);
    assert.equal(planRemote.stdout, planLocal.stdout);

    const fixed = await fromControl('drift', [...base, '--fix']);
    assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
    assert.match(await routesOf(h22), /^172\.7\.21\.0\/24 via 10\.4\.7\.21 dev eth0/m);
    const quiet = await fromControl('drift', [...base, '--quiet']);
    assert.equal(quiet.status, 0);
    assert.equal(quiet.stdout, '');
  });

  test("the README's control-host setup, as printed: ssh key, known hosts, ssh_config; then runbook.ts and the fleet cron line", async () => {
    const r = lab.remote!;
    const ctl = r.control.netns;
    const etc = join(lab.dir, 'control', 'etc-flannel-runbook');
    const ch = lab.certHost;
    // the lab's form of a README line: its /etc/flannel-runbook, its checkout, its cluster file
    const labForm = (line: string) =>
      line
        .replaceAll('/etc/flannel-runbook/cluster.json', cluster)
        .replaceAll('$C', cluster)
        .replaceAll('/etc/flannel-runbook', etc)
        .replaceAll('/opt/flannel-runbook/', REPO)
        .replace(/^scripts\//, `${REPO}scripts/`)
        .replaceAll('<sha256 of a trusted copy>', lab.tarball.sha256)
        .replace(
          / --from (\S+)/,
          ` --from $1 --url ${lab.tarball.url} --identity ${ch.identity} --known-hosts ${ch.knownHosts}`,
        );
    // the control host's root home is the lab's (ssh-copy-id keeps its temp files in ~/.ssh)
    const home = join(lab.dir, 'control', 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    const run = async (line: string) => {
      const res = await lab.exec(ctl, readOnlyRoot(['env', `HOME=${home}`, 'bash', '-c', line]), {
        okStatus: [0, 1, 2, 3],
        timeoutMs: 180_000,
      });
      assert.equal(res.status, 0, `${line}\n${res.stdout}${res.stderr}`);
      return res;
    };
    const setup = commandLines(readmeBlock('CentOS 7 and other old hosts', 'ssh-keygen'));
    assert.equal(setup.length, 4);
    for (const line of setup) {
      const l = labForm(line);
      if (l.startsWith('ssh-copy-id')) {
        // the lab's nodes take the lab's key: log in with it to install the new one (as a password would)
        for (const n of lab.nodes)
          await run(
            l
              .replace(
                'root@10.4.7.21',
                `-o IdentityFile=${r.identity} -o UserKnownHostsFile=${r.knownHosts} -o StrictHostKeyChecking=yes root@${n.ip}`,
              )
              .replace('ssh-copy-id', 'ssh-copy-id -f'),
          );
      } else await run(l);
    }
    writeFileSync(
      join(etc, 'ssh_config'),
      labForm(readmeBlock('CentOS 7 and other old hosts', 'Host hdss7-21 10.4.7.21')),
    );
    // the node's key is pinned from ssh-keyscan: the same as the lab's own known_hosts says
    for (const n of lab.nodes) assert.ok(readFileSync(join(etc, 'known_hosts'), 'utf8').includes(n.ip));

    const runbook = commandLines(readmeBlock('The whole runbook in one command', 'scripts/runbook.ts --cluster $C'));
    assert.equal(runbook.length, 1);
    const again = await run(`${labForm(runbook[0]!)} --startsecs 2`);
    assert.match(again.stdout, /runbook: nothing to do/);

    const fleetCron = commandLines(readmeBlock('CentOS 7 and other old hosts', '--all-nodes'))[0]!;
    assert.equal(
      `${fleetCron}\n`,
      `${readFileSync(join(REPO, 'deploy/flannel-drift-fleet.cron'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('* '))
        .join('\n')}\n`,
    );
    const job = labForm(fleetCron.replace(/^(\S+\s+){5}root\s+/, '')).replace(
      '/var/lib/node_exporter/textfile/flannel.prom',
      join(etc, 'flannel.prom'),
    );
    const res = await lab.exec(ctl, readOnlyRoot(['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/root', 'sh', '-c', job]), {
      okStatus: [1, 2, 3],
    });
    assert.equal(res.status, 0, res.stdout + res.stderr);
    assert.equal(res.stdout + res.stderr, '');
    const prom = readFileSync(join(etc, 'flannel.prom'), 'utf8');
    for (const n of lab.nodes)
      assert.match(prom, new RegExp(`^flannel_runbook_drift_exit_code\\{node="${n.name}"\\} 0$`, 'm'));
  });
});
