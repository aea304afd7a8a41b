// The README's commands, as printed, on a fresh lab (the README is where a user starts): its
// cluster file, the runbook's commands on every node, the flags-only commands, the drift,
// doctor and fleet commands, the cron line and the deploy/ install commands. What the lab must
// change in a command is only what makes it the lab: the node's root, the release served by
// hdss7-200 instead of GitHub, the lab's ssh key for hdss7-200, a short startsecs; the table
// `LAB` below is all of it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { readOnlyRoot } from '../../lab/runbook-steps.ts';
import { commandLines, readmeBlock } from '../support/readme.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables, supervisord' : false;
const REPO = fileURLToPath(new URL('../../', import.meta.url));

let lab: Lab;
let h21: LabNode;
let h22: LabNode;
let cluster: string;
let scratch: string;

/** What makes a README command the lab's (see the header). */
function labForm(line: string, n: LabNode): string {
  const ch = lab.certHost;
  let l = line
    .replaceAll('$C', cluster)
    .replaceAll('/etc/flannel-runbook/cluster.json', cluster)
    .replaceAll('/opt/flannel-runbook/', REPO)
    .replace(/^scripts\//, `${REPO}scripts/`)
    .replaceAll('<sha256 of a trusted copy>', lab.tarball.sha256)
    .replaceAll('~/.ssh/id_ed25519', `${ch.identity} --known-hosts ${ch.knownHosts}`);
  if (/scripts\/install\.ts/.test(l) && !/--url|--tarball/.test(l)) l += ` --url ${lab.tarball.url}`;
  if (/scripts\/start\.ts/.test(l)) l += ' --startsecs 2';
  // a command without a cluster file names no root: the lab's node has one
  if (!l.includes('--cluster')) l += ` --root ${n.root}`;
  return l;
}

async function sh(n: LabNode, line: string, ok: number[] = [0]) {
  const r = await lab.exec(n.netns, readOnlyRoot(['bash', '-c', line]), { okStatus: [0, 1, 2, 3], timeoutMs: 180_000 });
  assert.ok(ok.includes(r.status), `${n.name}: ${line}\nexit ${r.status}\n${r.stdout}${r.stderr}`);
  return r;
}

describe("the README's commands on a fresh lab", { skip: notRoot }, () => {
  before(async () => {
    lab = await createLab({});
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    scratch = mkdtempSync(join(tmpdir(), `${lab.prefix}-readme-`));
    // the README's cluster file, each node given its root in the lab
    const doc = JSON.parse(readmeBlock('The runbook, as commands', '"flannelVersion"')) as {
      etcd: { endpoints: string[] };
      nodes: { name: string; root?: string }[];
    };
    assert.deepEqual(doc.etcd.endpoints, lab.etcd.endpoints, "the README's etcd is the lab's");
    for (const n of doc.nodes) n.root = lab.nodes.find((x) => x.name === n.name)!.root;
    cluster = join(scratch, 'cluster.json');
    writeFileSync(cluster, JSON.stringify(doc, null, 2));
  });
  after(async () => {
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('the runbook on every node, in its order; then every command again says nothing to do', async () => {
    const lines = commandLines(readmeBlock('The runbook, as commands', 'scripts/install.ts --cluster $C'));
    assert.deepEqual(
      lines.map((l) => /scripts\/([\w-]+)\.ts/.exec(l)?.[1]),
      ['install', 'certs', 'etcd-config', 'start', 'snat-fix', 'verify-ping'],
    );
    for (const line of lines) {
      const nodes = /etcd-config/.test(line) ? [h21] : [h21, h22];
      for (const n of nodes) await sh(n, labForm(line, n));
    }
    for (const line of lines)
      for (const n of /etcd-config/.test(line) ? [h21] : [h21, h22]) {
        const again = await sh(n, labForm(line, n));
        if (!/verify-ping/.test(line)) assert.match(again.stdout, /nothing to do/, line);
      }
  });

  test('the flags-only commands, on hdss7-21: the same node, nothing to do', async () => {
    const lines = commandLines(readmeBlock('The runbook, as commands', 'scripts/etcd-config.ts --network'));
    assert.equal(lines.length, 3);
    for (const line of lines) {
      const r = await sh(h21, labForm(line, h21));
      assert.match(r.stdout, /nothing to do/, line);
    }
  });

  test('drift, doctor and fleet as printed; the cron line; the deploy/ install commands', async () => {
    const cron = readmeBlock('From cron, or a systemd timer', '* * * * * root');
    for (const n of [h21, h22]) await sh(n, labForm(commandLines(cron)[0]!.replace(/^(\S+\s+){5}root\s+/, ''), n));
    const block = commandLines(
      readmeBlock('Keeping it right: drift (cron), fleet, doctor', 'scripts/drift.ts --cluster $C'),
    );
    assert.equal(block.length, 5);
    for (const line of block) {
      const r = await sh(h21, labForm(line, h21));
      if (/fleet/.test(line)) assert.match(r.stdout, /hdss7-22\s+in sync/);
    }
    // the install lines, into a scratch / (systemctl is the host's business: not run here)
    const dest = join(scratch, 'root');
    const installs = commandLines(readmeBlock('From cron, or a systemd timer', 'deploy/flannel-drift.cron /etc/cron.d'))
      .concat(commandLines(readmeBlock('From cron, or a systemd timer', 'flannel-drift.timer /etc/systemd/system/')))
      .filter((l) => l.startsWith('install '));
    assert.equal(installs.length, 2);
    for (const line of installs) {
      const l = line.replaceAll('/opt/flannel-runbook/', REPO).replace(/ \/etc\//g, ` ${dest}/etc/`);
      execFileSync('mkdir', ['-p', join(dest, 'etc/cron.d'), join(dest, 'etc/systemd/system')]);
      execFileSync('bash', ['-c', l]);
    }
    assert.equal(
      readFileSync(join(dest, 'etc/cron.d/flannel-drift'), 'utf8'),
      readFileSync(join(REPO, 'deploy/flannel-drift.cron'), 'utf8'),
    );
    for (const f of ['flannel-drift.service', 'flannel-drift.timer'])
      assert.ok(existsSync(join(dest, 'etc/systemd/system', f)), f);
    // systemd's own check of the units, where systemd-analyze is installed
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find(existsSync);
    if (analyze) {
      const unitDir = join(scratch, 'units');
      execFileSync('mkdir', ['-p', unitDir]);
      for (const f of ['flannel-drift.service', 'flannel-drift.timer'])
        writeFileSync(
          join(unitDir, f),
          readFileSync(join(REPO, 'deploy', f), 'utf8').replaceAll('/opt/flannel-runbook/', REPO),
        );
      const out = execFileSync(
        analyze,
        ['verify', join(unitDir, 'flannel-drift.service'), join(unitDir, 'flannel-drift.timer')],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      assert.doesNotMatch(out, /flannel-drift/);
    }
  });
});
