// lib/host/ssh.ts against real sshds (root only): ONE lab in remote mode (lab/remote.ts), each
// node's sshd in a mount namespace without Node.js and with iproute2 4.11, driven from the
// control host's namespace with its ssh client config. The node is what a CentOS 7 node is to
// the toolkit; the Host contract holds over it (commands, reads, atomic writes with a mode,
// stat, rename, links, remove, temp dirs, the lock, the timeout), the toolkit's own iproute
// reads fall back to 4.11's text and agree with this machine's JSON, a wrong host key is
// refused, and an unreachable node is a RuntimeError naming it within 10 s. Teardown kills the
// processes the lab started and leaves no mount behind.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, TimeoutError } from '../../lib/core/errors.ts';
import { loadTls } from '../../lib/host/etcd.ts';
import { knownForm, readAddresses, readLinks, readRoutes } from '../../lib/host/iproute.ts';
import { probeHealthz } from '../../lib/host/observe.ts';
import { programStatus } from '../../lib/host/supervisord.ts';
import type { SshHost } from '../../lib/host/ssh.ts';
import { parseIpAddr } from '../../lib/model/interfaces.ts';
import { parseIpRoute } from '../../lib/model/routes.ts';
import { createLab, destroyLab, listLabs, readState, type Lab, type LabNode } from '../../lab/lab.ts';
import { listNetns } from '../../lab/netns.ts';
import { pidAlive } from '../../lab/proc.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, sshd, mounts' : false;
const PREFIX_OF_MINE = /^frbssh[0-9a-f]{4}$/;

let lab: Lab;
let h21: LabNode;
let h22: LabNode;
let ssh21: SshHost;
const opened: SshHost[] = [];
const open = (h: SshHost) => {
  opened.push(h);
  return h;
};

const sh = async (host: SshHost, script: string, ...args: string[]) =>
  (await host.run({ argv: ['sh', '-c', script, 'sh', ...args], why: 'test', readOnly: true, okStatus: [1, 2, 127] }))
    .stdout;

/** Mount lines of a process's mount namespace that the remote mode made. */
const labMounts = (pid: number | 'self') =>
  readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.includes('frb-remote'));

describe('SshHost on lab nodes without Node.js, with iproute2 4.11', { skip: notRoot }, () => {
  after(async () => {
    for (const h of opened) await h.close();
    await lab?.destroy();
  });
  before(async () => {
    for (const l of listLabs()) if (PREFIX_OF_MINE.test(l.prefix) && !l.ownerAlive) await destroyLab(l.prefix);
    lab = await createLab({ prefix: `frbssh${randomBytes(2).toString('hex')}`, remote: true });
    [h21, h22] = lab.nodes as [LabNode, LabNode];
    ssh21 = open(lab.remote!.sshHost(h21));
  });

  test('over ssh the node has no node (command -v fails) and its ip is 4.11; the lab itself is unchanged', async () => {
    const r = lab.remote!;
    for (const n of lab.nodes) {
      const h = n === h21 ? ssh21 : open(r.sshHost(n));
      assert.equal(
        await sh(h, 'for p in node nodejs npm npx; do command -v "$p" && exit 1; done; echo none'),
        'none\n',
        n.name,
      );
      assert.match(await sh(h, 'ip -V; /sbin/ip -V; /usr/sbin/ip -V'), /^(ip utility, iproute2-ss170501\n){3}$/);
      assert.match(await sh(h, 'bridge -V; /sbin/bridge -V'), /^bridge utility, 0\.0\nbridge utility, 0\.0\n$/);
      assert.match(await sh(h, 'ip -4 -o addr show dev eth0'), new RegExp(` inet ${n.ip.replaceAll('.', '\\.')}/16 `));
    }
    // the same node's namespace, reached the lab's way: everything where it was
    const local = await lab.exec(h21.netns, ['sh', '-c', 'command -v node; ip -V']);
    assert.match(local.stdout, /^\/\S*\/node\nip utility, iproute2-/);
    assert.doesNotMatch(local.stdout, /ss170501/);
    // the overlays live in the sshds' own mount namespaces, not in this one
    assert.deepEqual(labMounts('self'), []);
    const sshd = readState(lab.prefix)!.pids.find((p) => p.what === `sshd ${h21.name}`)!;
    assert.equal(labMounts(sshd.pid).length, r.layers.length);
  });

  test("run: argv and stdin untouched on the node; a status is the command's, 255 included", async () => {
    const r = await ssh21.run({
      argv: ['sh', '-c', 'cat; printf "[%s]" "$@"', 'sh', "a 'b'", '$HOME', 'two words'],
      input: 'stdin\n',
      why: 'test',
    });
    assert.equal(r.stdout, "stdin\n[a 'b'][$HOME][two words]");
    await assert.rejects(
      ssh21.run({ argv: ['ip', '-j', 'route', 'show'], why: 'test', readOnly: true }),
      (e: unknown) => (e as { status?: number }).status === 255 && /Option "-j" is unknown/.test((e as Error).message),
    );
  });

  test("the toolkit's iproute reads over ssh fall back to 4.11's text and agree with this machine's JSON", async () => {
    const json = async (argv: string[]) => (await lab.exec(h21.netns, argv)).stdout;
    assert.deepEqual(await readRoutes(ssh21), parseIpRoute(await json(['ip', '-j', 'route', 'show'])));
    assert.deepEqual(await readLinks(ssh21), parseIpAddr(await json(['ip', '-j', '-d', 'addr', 'show'])));
    assert.deepEqual(await readAddresses(ssh21), parseIpAddr(await json(['ip', '-j', '-4', 'addr', 'show'])));
    assert.equal(knownForm(ssh21, 'ip-route'), 'text');
  });

  test('files on the node: writeFile atomic at its mode, readFile, stat, rename, symlink, remove, makeTempDir', async () => {
    const d = join(h21.root, 'srv', 'contract');
    const key = join(d, 'cert', 'client-key.pem');
    await ssh21.writeFile(key, '-----BEGIN KEY-----\n', { mode: 0o600 });
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.equal(await ssh21.readFile(key), '-----BEGIN KEY-----\n');
    assert.deepEqual(await ssh21.stat(key), { type: 'file', mode: 0o600, size: 20, uid: 0 });
    await ssh21.writeFile(key, 'replaced\n', { mode: 0o600 });
    assert.equal(readFileSync(key, 'utf8'), 'replaced\n');
    assert.deepEqual(await ssh21.listDir(join(d, 'cert')), ['client-key.pem'], 'no temp file left');
    await ssh21.rename(key, join(d, 'cert', 'moved.pem'));
    await ssh21.symlink('cert/moved.pem', join(d, 'current'));
    await ssh21.symlink('cert', join(d, 'current'));
    assert.equal(await ssh21.readlink(join(d, 'current')), 'cert');
    assert.equal((await ssh21.lstat(join(d, 'current')))?.type, 'symlink');
    assert.equal((await ssh21.stat(join(d, 'current')))?.type, 'dir');
    await ssh21.copyFile(join(d, 'cert', 'moved.pem'), join(d, 'copy.pem'), { mode: 0o640 });
    assert.equal(statSync(join(d, 'copy.pem')).mode & 0o777, 0o640);
    const tmp = await ssh21.makeTempDir(join(h21.root, 'tmp'), 'frb-certs-');
    assert.equal(statSync(tmp.path).mode & 0o777, 0o700);
    await tmp.remove();
    assert.equal(await ssh21.stat(tmp.path), undefined);
    await ssh21.remove(d, { recursive: true });
    assert.equal(await ssh21.stat(d), undefined);
    assert.equal(await ssh21.readFile(key), undefined);
  });

  test("etcd's TLS files are read over the connection into memory (loadTls through the Host)", async () => {
    const dir = join(h21.root, 'opt', 'flannel', 'cert');
    for (const [f, from] of [
      ['ca.pem', lab.etcd.cafile],
      ['client.pem', lab.etcd.certfile],
      ['client-key.pem', lab.etcd.keyfile],
    ] as const)
      await ssh21.writeFile(join(dir, f), readFileSync(from), { mode: f.endsWith('key.pem') ? 0o600 : 0o644 });
    const tls = await loadTls(ssh21, {
      endpoints: lab.etcd.endpoints,
      cafile: join(dir, 'ca.pem'),
      certfile: join(dir, 'client.pem'),
      keyfile: join(dir, 'client-key.pem'),
    });
    assert.deepEqual(tls.key, readFileSync(lab.etcd.keyfile));
    assert.deepEqual(tls.ca, readFileSync(lab.etcd.cafile));
  });

  test("supervisord is asked on its socket through the node's python (no supervisorctl); healthz with curl", async () => {
    const st = await programStatus(ssh21, h21.supervisordConf, h21.program);
    // the program is not installed yet: supervisord says so over XML-RPC, no process counted here
    assert.deepEqual(st, { status: undefined, processes: 0 });
    await assert.rejects(probeHealthz(ssh21, 2401), /healthz on 127\.0\.0\.1:2401: connection refused/);
    // a node without python: supervisorctl, as before (the same answer, one process)
    const nopy = open(lab.remote!.sshHost(h21));
    (nopy as unknown as { noPython: boolean }).noPython = true;
    assert.deepEqual(await programStatus(nopy, h21.supervisordConf, h21.program), {
      status: { program: h21.program, state: 'UNKNOWN', detail: 'no such process' },
      processes: 1,
    });
  });

  test('a command past its timeout is killed on the node too; the lock is flock(1) on the node', async () => {
    const t0 = Date.now();
    await assert.rejects(
      ssh21.run({ argv: ['sleep', '28.25'], why: 'test', readOnly: true, timeoutMs: 700 }),
      (e: unknown) => e instanceof TimeoutError,
    );
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    // gone within a few seconds (a request that reached the node late is killed late too)
    let ps = await lab.exec(h21.netns, ['ps', '-eo', 'args']);
    for (let i = 0; i < 50 && /^sleep 28\.25$/m.test(ps.stdout); i++) {
      await new Promise((r) => setTimeout(r, 100));
      ps = await lab.exec(h21.netns, ['ps', '-eo', 'args']);
    }
    assert.doesNotMatch(ps.stdout, /^sleep 28\.25$/m);

    const lockPath = join(h21.root, 'run', 'flannel-runbook', 'drift.lock');
    const l = await ssh21.lock(lockPath);
    assert.equal(l.held, false);
    // a cron drift on the node itself finds it taken
    const onNode = () => lab.exec(h21.netns, ['flock', '-n', lockPath, 'true'], { okStatus: [1] });
    assert.equal((await onNode()).status, 1);
    if (!l.held) await l.release();
    assert.equal((await onNode()).status, 0);
  });

  test('one master per run; when it ends under a run (ControlPersist, a kill), the next command connects again', async () => {
    // sshd's established connections from the control host (other Hosts of this file hold theirs)
    const conns = async () =>
      (await lab.exec(h22.netns, ['ss', '-Htn', 'state', 'established', 'sport', '=', ':22'])).stdout
        .split('\n')
        .filter((l) => l.includes(lab.remote!.control.ip)).length;
    const others = await conns();
    const h = open(lab.remote!.sshHost(h22));
    await Promise.all(Array.from({ length: 12 }, () => sh(h, 'true')));
    assert.equal(await conns(), others + 1, 'one connection, however many sessions ran');
    const sock = h.controlSocket!;
    await lab.exec(lab.remote!.control.netns, [
      'ssh',
      '-F',
      lab.remote!.sshConfig,
      '-o',
      `ControlPath=${sock}`,
      '-O',
      'exit',
      `root@${h22.ip}`,
    ]);
    assert.equal(await sh(h, 'echo again'), 'again\n');
    assert.equal(await conns(), others + 1);
  });

  test('a wrong host key is refused (and an unknown one); a config that says accept-new is obeyed', async () => {
    const r = lab.remote!;
    const otherKey = readFileSync(join(h22.root, 'etc', 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8').split(' ');
    const variant = (name: string, knownHosts: string, extra = '') => {
      const kh = join(lab.dir, 'control', `known_hosts.${name}`);
      writeFileSync(kh, knownHosts);
      const conf = join(lab.dir, 'control', `ssh_config.${name}`);
      writeFileSync(conf, `${extra}${readFileSync(r.sshConfig, 'utf8').replace(r.knownHosts, kh)}`, { mode: 0o600 });
      return { conf, kh };
    };
    const wrong = variant('wrong', `${h21.name},${h21.ip} ${otherKey[0]} ${otherKey[1]}\n`);
    for (const conf of [wrong.conf, variant('empty', '').conf]) {
      const h = open(r.sshHost(h21, { configFile: conf }));
      await assert.rejects(
        h.readFile('/etc/hostname'),
        (e: unknown) =>
          e instanceof RuntimeError &&
          e.message === `${h21.name} (root@${h21.ip}): cannot connect over ssh: Host key verification failed.`,
      );
    }
    // first match wins in ssh_config: the operator's "accept-new" before the lab's "yes"
    const trusting = variant('accept-new', '', 'Host *\n    StrictHostKeyChecking accept-new\n');
    const h = open(r.sshHost(h21, { configFile: trusting.conf }));
    assert.equal(await sh(h, 'echo in'), 'in\n');
    assert.match(readFileSync(trusting.kh, 'utf8'), /ssh-ed25519/);
  });

  test("an unreachable node is a RuntimeError within 10 s naming the node and ssh's line", async () => {
    const r = lab.remote!;
    const cases: [string, () => Promise<void>, RegExp][] = [
      ['hdss7-99', async () => {}, /ssh: connect to host 10\.4\.7\.99 port 22: No route to host$/],
      [
        h22.name,
        // a firewall that drops ssh: only ConnectTimeout ends the wait
        async () => {
          await lab.exec(h22.netns, ['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
        },
        /ssh: connect to host 10\.4\.7\.22 port 22: Connection timed out$/,
      ],
    ];
    try {
      for (const [node, setup, says] of cases) {
        await setup();
        const h = open(
          r.sshHost(
            h22,
            node === 'hdss7-99' ? { destination: 'root@10.4.7.99', node } : { destination: `root@${h22.ip}` },
          ),
        );
        const t0 = Date.now();
        await assert.rejects(
          h.run({ argv: ['true'], why: 'test', readOnly: true }),
          (e: unknown) =>
            e instanceof RuntimeError && e.exitCode === 3 && e.message.startsWith(`${node} (`) && says.test(e.message),
        );
        assert.ok(Date.now() - t0 < 10_000, `${node}: ${Date.now() - t0} ms`);
      }
    } finally {
      await lab.exec(h22.netns, ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP'], {
        okStatus: [1],
      });
    }
  });

  test('teardown kills the sshds by their recorded PIDs and leaves no mount or namespace', async () => {
    for (const h of opened) await h.close();
    const pids = readState(lab.prefix)!.pids.filter((p) => p.what.startsWith('sshd '));
    assert.equal(pids.length, lab.nodes.length + 1, 'one per node and the cert host');
    assert.ok(pids.every(pidAlive));
    const ns = [...lab.namespaces];
    await lab.destroy();
    assert.ok(!pids.some(pidAlive));
    assert.deepEqual(labMounts('self'), []);
    assert.deepEqual(
      (await listNetns()).filter((n) => ns.includes(n)),
      [],
    );
  });
});
