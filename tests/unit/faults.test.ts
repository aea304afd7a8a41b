// The pure halves of issue 11's fixes (the namespace suite, tests/ns/faults-*.test.ts, shows
// each on a lab): --status-prefix kept apart from flannel's keys, ssh's own line when scp
// cannot connect, namespace names, a negative number read as a value, the TLS files judged
// before etcd is asked, snat-fix's --subnet against docker0 and the lease, one etcd request's
// time budget over all its endpoints, and scratch dirs a killed run left.
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError, UsageError } from '../../lib/core/errors.ts';
import { Ip4Net } from '../../lib/core/ip4.ts';
import { netnsPath } from '../../lib/core/validate.ts';
import { defineFlags, parseFlags } from '../../lib/cli/flags.ts';
import { checkTlsFiles, v2Request, EtcdError } from '../../lib/host/etcd.ts';
import { checkStatusPrefix } from '../../lib/host/status-store.ts';
import { makeLockedTempDir } from '../../lib/host/temp-dir.ts';
import { parseIpAddr } from '../../lib/model/interfaces.ts';
import { fetchFailure, parseSource } from '../../lib/steps/certs.ts';
import { checkSnatSubnet } from '../../lib/steps/snat-fix.ts';
import { makePki } from '../../lab/pki.ts';

const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && re.test(e.message);

describe('issue 11: the pure parts of the fixes', () => {
  test('--status-prefix: checked as an etcd prefix and never inside (or around) the network prefix', () => {
    assert.equal(checkStatusPrefix('/flannel-runbook/status', '/coreos.com/network'), '/flannel-runbook/status');
    assert.equal(checkStatusPrefix('/coreos.com/networks', '/coreos.com/network'), '/coreos.com/networks');
    const bad: [string, RegExp][] = [
      ['/flannel-runbook/../coreos.com/network/subnets', /must not contain "\." or "\.\." segments/],
      ['/flannel-runbook//status', /no trailing or double "\/"/],
      ['/flannel-runbook/status\n', /control characters/],
      ['/coreos.com/network/subnets', /overlaps the network prefix \/coreos\.com\/network/],
      ['/coreos.com', /overlaps the network prefix/],
      ['/', /overlaps the network prefix/],
    ];
    for (const [p, re] of bad)
      assert.throws(
        () => checkStatusPrefix(p, '/coreos.com/network'),
        usage(new RegExp(`^--status-prefix .*${re.source}`)),
      );
  });

  test("scp's failure: ssh's own line and the fix when ssh could not connect (exit 3), the copy's words otherwise (exit 2)", () => {
    const src = parseSource('root@hdss7-200:/opt/certs');
    const kh = { knownHosts: '/root/.ssh/known_hosts' };
    const changed = fetchFailure(
      'root@hdss7-200:/opt/certs',
      src,
      '@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@\r\nHost key verification failed.\r\nscp: Connection closed\n',
      kh,
    );
    assert.ok(changed instanceof RuntimeError && !(changed instanceof UsageError));
    assert.match(
      changed.message,
      /ssh said "Host key verification failed\.": the key hdss7-200 offered is not the one/,
    );
    assert.match(changed.message, /ssh-keygen -R hdss7-200 -f \/root\/\.ssh\/known_hosts/);
    const unknown = fetchFailure(
      'root@hdss7-200:/opt/certs',
      src,
      'No ED25519 host key is known for hdss7-200 and you have requested strict checking.\r\nHost key verification failed.\r\nscp: Connection closed\n',
      kh,
    );
    assert.match(unknown.message, /has no key for hdss7-200; add it once its fingerprint is checked/);
    const denied = fetchFailure('root@hdss7-200:/opt/certs', src, 'root@hdss7-200: Permission denied (publickey).\n', {
      identity: '/root/.ssh/id',
    });
    assert.match(denied.message, /Permission denied \(publickey\)\.": the key \/root\/\.ssh\/id is not accepted/);
    const missing = fetchFailure('root@hdss7-200:/opt/nope', src, 'scp: /opt/nope/ca.pem: No such file or directory\n');
    assert.ok(missing instanceof UsageError);
    assert.match(missing.message, /^--from "root@hdss7-200:\/opt\/nope": could not copy .*No such file or directory/);
  });

  test('namespace names: a file in /run/netns, no path tricks', () => {
    assert.equal(netnsPath('--from-netns', 'cni-1234'), '/run/netns/cni-1234');
    for (const bad of ['../etc', 'a/b', '..', 'a b', '$(id)', ''])
      assert.throws(() => netnsPath('--from-netns', bad), usage(/^--from-netns /));
  });

  test('a negative number is a value out of range, not a missing value', () => {
    const spec = defineFlags({ timeout: { type: 'number', min: 1, max: 3600, help: 'h', default: 120 } });
    assert.throws(() => parseFlags(['--timeout', '-5'], spec), usage(/^--timeout "-5": must be an integer 1-3600/));
    assert.throws(() => parseFlags(['--timeout', '--json'], spec), usage(/^--timeout: needs a value/));
  });

  test("snat-fix --subnet: the node's lease (subnet.env) and docker0's address decide; a bare node has nothing to check", () => {
    const ifaces = parseIpAddr(
      JSON.stringify([
        {
          ifname: 'docker0',
          mtu: 1500,
          flags: ['UP'],
          addr_info: [{ family: 'inet', local: '172.7.21.1', prefixlen: 24 }],
        },
      ]),
    );
    const s21 = Ip4Net.parse('172.7.21.0/24');
    const s22 = Ip4Net.parse('172.7.22.0/24');
    checkSnatSubnet(s21, 'docker0', ifaces, { subnet: s21, file: '/opt/flannel/subnet.env' });
    checkSnatSubnet(s22, 'docker0', [], undefined);
    assert.throws(
      () => checkSnatSubnet(s22, 'docker0', ifaces, { subnet: s21, file: '/opt/flannel/subnet.env' }),
      usage(
        /^--subnet "172\.7\.22\.0\/24": this node's lease is 172\.7\.21\.0\/24 \(FLANNEL_SUBNET in \/opt\/flannel\/subnet\.env\)/,
      ),
    );
    assert.throws(
      () => checkSnatSubnet(s22, 'docker0', ifaces),
      usage(/^--subnet "172\.7\.22\.0\/24": docker0 has 172\.7\.21\.1\/24, outside it/),
    );
  });
});

describe('issue 11: the TLS files judged before etcd is asked', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frb-unit-tls-'));
    await makePki(join(dir, 'pki'), []);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a garbage certificate, a key of another certificate: the flag and the file named; a good set passes', () => {
    const f = (n: string) => join(dir, 'pki', n);
    const tls = {
      ca: readFileSync(f('ca.pem')),
      cert: readFileSync(f('client.pem')),
      key: readFileSync(f('client-key.pem')),
    };
    const conn = {
      endpoints: ['https://10.4.7.12:2379'],
      cafile: f('ca.pem'),
      certfile: f('client.pem'),
      keyfile: f('client-key.pem'),
    };
    checkTlsFiles(tls, conn);
    assert.throws(
      () =>
        checkTlsFiles(
          { ...tls, cert: Buffer.from('-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n') },
          conn,
        ),
      usage(/^--certfile ".*client\.pem": a CERTIFICATE block is not a valid X\.509 certificate; etcd was not asked$/),
    );
    assert.throws(
      () => checkTlsFiles({ ...tls, key: readFileSync(f('ca-key.pem')) }, conn),
      usage(/^--keyfile ".*client-key\.pem": is not the key of .*client\.pem/),
    );
    // expired: judged at a time after its end
    assert.throws(
      () => checkTlsFiles(tls, conn, new Date(Date.now() + 20 * 365 * 86_400_000)),
      usage(/^--certfile ".*client\.pem": expired on /),
    );
  });
});

describe('issue 11: one etcd request has a time budget over all its endpoints', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const endpoints: string[] = [];
  before(async () => {
    // each accepts and never answers: a member that is frozen (SIGSTOP) or behind a black hole
    for (const host of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']) {
      const server = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      servers.push(server);
      endpoints.push(`http://${host}:${(server.address() as { port: number }).port}`);
    }
  });
  after(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  test('endpoints past the budget are named as not asked; the run ends within it', async () => {
    const t0 = Date.now();
    await assert.rejects(
      // 2.4 s over attempts of 1 s: the second is asked even when a timer fires 0.9 s late
      // (under load; the attempt below 0.5 s left is skipped), the third and fourth never
      v2Request({ endpoints, timeoutMs: 1000, budgetMs: 2400 }, {}, 'GET', '/coreos.com/network'),
      (e: unknown) =>
        e instanceof EtcdError &&
        /127\.0\.0\.1:\d+: no answer within 1000 ms; http:\/\/127\.0\.0\.2:\d+: no answer within \d+ ms/.test(
          e.message,
        ) &&
        /http:\/\/127\.0\.0\.3:\d+, http:\/\/127\.0\.0\.4:\d+: not asked \(the 2\.4 s budget/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  });
});

describe('issue 11: scratch dirs a killed run left are removed by the next one, never one in use', () => {
  let parent: string;
  before(() => {
    parent = mkdtempSync(join(tmpdir(), 'frb-unit-scratch-'));
  });
  after(() => rmSync(parent, { recursive: true, force: true }));

  test('a dead run: removed; a live one: kept; one without its lock: removed only when over a minute old', async () => {
    const live = await makeLockedTempDir(parent, 'flannel-certs-');
    writeFileSync(join(live.path, 'client-key.pem'), 'x', { mode: 0o600 });
    // a killed run: its lock file is there, nobody holds it
    const dead = join(parent, 'flannel-certs-dead');
    mkdirSync(dead, { mode: 0o700 });
    writeFileSync(join(dead, '.in-use.lock'), '');
    writeFileSync(join(dead, 'client-key.pem'), 'x', { mode: 0o600 });
    const fresh = join(parent, 'flannel-certs-fresh');
    mkdirSync(fresh, { mode: 0o700 });
    const old = join(parent, 'flannel-certs-old');
    mkdirSync(old, { mode: 0o700 });
    utimesSync(old, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    const other = join(parent, 'other-dead');
    mkdirSync(other);
    writeFileSync(join(other, '.in-use.lock'), '');

    const next = await makeLockedTempDir(parent, 'flannel-certs-');
    assert.equal(existsSync(dead), false, 'a killed run left it: removed');
    assert.equal(existsSync(old), false, 'no lock and over a minute old: removed');
    assert.equal(existsSync(fresh), true, 'no lock yet and young: being made now, kept');
    assert.equal(existsSync(join(live.path, 'client-key.pem')), true, 'in use: kept');
    assert.equal(existsSync(other), true, 'another prefix: not ours');
    await next.remove();
    await live.remove();
    assert.equal(existsSync(live.path), false);
  });

  test('runs at once never remove each other: a directory is locked before it has its name', async () => {
    // CI saw it: a certs run removed another's staging dir that had its lock file but not yet
    // its lock (mkdtemp, open, then flock(1) starting). Now a directory is made under a hidden
    // name, locked, then renamed: the instant before the lock is under `.<prefix>`, kept while young
    const making = join(parent, '.flannel-race-abc123');
    mkdirSync(making, { mode: 0o700 });
    writeFileSync(join(making, '.in-use.lock'), '');
    const other = await makeLockedTempDir(parent, 'flannel-race-');
    assert.equal(existsSync(making), true, 'a directory being made by another run is kept');
    assert.match(other.path, /\/flannel-race-[A-Za-z0-9]{6}$/);
    assert.equal(existsSync(join(other.path, '.in-use.lock')), true);
    // many at once: each keeps its own
    const dirs = await Promise.all(Array.from({ length: 12 }, () => makeLockedTempDir(parent, 'flannel-race-')));
    for (const d of [other, ...dirs]) assert.equal(existsSync(d.path), true, `${d.path} was removed under its run`);
    await Promise.all([other, ...dirs].map((d) => d.remove()));
    // left by a kill in that instant: removed once over a minute old
    utimesSync(making, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await (await makeLockedTempDir(parent, 'flannel-race-')).remove();
    assert.equal(existsSync(making), false);
  });

  test('runs at once, each removing its own while the others sweep: no ENOTEMPTY, nothing left', async () => {
    // CI saw it (stop 17): `certs: ENOTEMPTY: directory not empty, rmdir '/tmp/flannel-certs-51D7i7'`.
    // A sweep had seen the lock file of a directory its owner was emptying, then opened it with
    // O_CREAT after the owner unlinked it: a new file in a directory about to be rmdir'd. It takes
    // processes at once (three certs runs on three lab nodes), and a directory with many entries
    // to widen the instant; before the fix this failed in every run (several of 432).
    const shared = join(parent, 'shared');
    mkdirSync(shared);
    const code = `
      import { writeFileSync } from 'node:fs';
      import { join } from 'node:path';
      import { makeLockedTempDir } from ${JSON.stringify(new URL('../../lib/host/temp-dir.ts', import.meta.url).pathname)};
      let errors = 0;
      for (let round = 0; round < 12; round++) {
        await Promise.all(Array.from({ length: 12 }, async () => {
          try {
            const d = await makeLockedTempDir(${JSON.stringify(shared)}, 'flannel-race-');
            for (let i = 0; i < 120; i++) writeFileSync(join(d.path, 'f' + i), 'x');
            await d.remove();
          } catch (e) {
            errors++;
            if (errors === 1) process.stderr.write(String(e) + '\\n');
          }
        }));
      }
      process.stdout.write(String(errors));
    `;
    const one = () =>
      new Promise<{ errors: number; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.stdout.on('data', (b: Buffer) => {
          out += b;
        });
        child.stderr.on('data', (b: Buffer) => {
          err += b;
        });
        child.on('error', reject);
        child.on('close', (status) => {
          clearTimeout(timer);
          if (status !== 0) reject(new Error(`the racing run exited ${status}: ${err}`));
          else resolve({ errors: Number(out), stderr: err });
        });
      });
    const runs = await Promise.all([one(), one(), one()]);
    for (const r of runs) assert.equal(r.errors, 0, `a run failed to remove its own directory: ${r.stderr}`);
    assert.deepEqual(readdirSync(shared), [], 'every directory (and every hidden .gone one) is removed');
  });
});
