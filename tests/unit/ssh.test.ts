// lib/host/ssh.ts without an sshd: the destination validator, the ssh command lines built
// (asserted word for word), the remote line read back by a shell, and the whole Host contract
// over a stand-in ssh (tests/support/fake-ssh.sh) that runs each remote line with sh on this
// machine, so the node-side scripts run for real. tests/ns/ssh-host.test.ts does it again
// against real sshds on lab nodes.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, RuntimeError, TimeoutError, UsageError } from '../../lib/core/errors.ts';
import {
  checkSshDestination,
  configDumpArgv,
  EXIT_MARK,
  exitArgv,
  formatSshDestination,
  masterArgv,
  MAX_SESSIONS,
  parseSshConfigDump,
  remoteLine,
  sessionArgv,
  splitExit,
  SshHost,
  type SshInvocation,
  sshOptions,
} from '../../lib/host/ssh.ts';

const FAKE_SSH = fileURLToPath(new URL('../support/fake-ssh.sh', import.meta.url));

describe('ssh destinations', () => {
  test('[USER@]HOST[:PORT] is read into its parts and printed back the same', () => {
    const cases: [string, object][] = [
      ['root@10.4.7.21', { user: 'root', host: '10.4.7.21' }],
      ['10.4.7.21', { host: '10.4.7.21' }],
      ['hdss7-21', { host: 'hdss7-21' }],
      ['ops.admin@hdss7-21.host.com:2222', { user: 'ops.admin', host: 'hdss7-21.host.com', port: 2222 }],
      ['root@[fd00::21]:22', { user: 'root', host: 'fd00::21', port: 22 }],
      ['_svc@node1', { user: '_svc', host: 'node1' }],
    ];
    for (const [text, want] of cases) {
      const d = checkSshDestination('--ssh', text);
      assert.deepEqual(d, want, text);
      assert.equal(formatSshDestination(d), text);
    }
  });

  test('bad destinations are one line naming the flag, the value and the rule, with an example', () => {
    const cases: [string, RegExp][] = [
      ['', /--ssh "": must be a non-empty string, e\.g\. root@10\.4\.7\.21$/],
      ['-oProxyCommand=x', /--ssh "-oProxyCommand=x": the host must be a host name/],
      ['-l@host', /the user must be 1-32 of/],
      ['root@', /needs a host/],
      ['root@host:0', /the port must be 1-65535/],
      ['root@host:65536', /the port must be 1-65535/],
      ['root@host:22x', /the port must be 1-65535/],
      ['fd00::21', /must be \[USER@\]HOST\[:PORT\]/],
      ['root@[host]:22', /only an IPv6 address goes in brackets/],
      ['a@b@c', /must be \[USER@\]HOST\[:PORT\]/],
      ['root@ho st', /the host must be a host name/],
      ["root@host'; rm -rf /", /the host must be a host name|must be \[USER@\]HOST/],
      ['root@host\n', /must not contain control characters/],
    ];
    for (const [text, says] of cases) {
      assert.throws(
        () => checkSshDestination('--ssh', text),
        (e: unknown) => e instanceof UsageError && says.test(e.message) && !e.message.includes('\n'),
        text,
      );
    }
  });
});

describe('ssh command lines', () => {
  const inv = (effective: Record<string, string>, extra: Partial<SshInvocation> = {}): SshInvocation => ({
    ssh: ['ssh'],
    configFile: '/etc/flannel-runbook/ssh_config',
    destination: { user: 'root', host: '10.4.7.21', port: 2222 },
    controlPath: '/tmp/frb-ssh-Ab12Cd/master',
    effective: new Map(Object.entries(effective)),
    connectTimeoutSec: 5,
    persistSec: 30,
    ...extra,
  });
  const NOTHING_SET = { stricthostkeychecking: 'ask', connecttimeout: 'none', serveraliveinterval: '0' };

  test('nothing set in the config: strict host keys, batch mode, a connect timeout, keepalives, the private socket', () => {
    assert.deepEqual(sshOptions(inv(NOTHING_SET)), [
      '-F',
      '/etc/flannel-runbook/ssh_config',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'ConnectTimeout=5',
      '-o',
      'ServerAliveInterval=5',
      '-o',
      'ServerAliveCountMax=3',
      '-o',
      'ControlPath=/tmp/frb-ssh-Ab12Cd/master',
      '-o',
      'ControlPersist=30',
      '-l',
      'root',
      '-p',
      '2222',
    ]);
  });

  test('what the config says is left to it (accept-new, its own timeouts); BatchMode is always on', () => {
    const o = sshOptions(
      inv(
        { stricthostkeychecking: 'accept-new', connecttimeout: '3', serveraliveinterval: '15' },
        { configFile: undefined },
      ),
    );
    assert.ok(!o.includes('-F'));
    assert.ok(!o.some((w) => w.startsWith('StrictHostKeyChecking')));
    assert.ok(!o.some((w) => w.startsWith('ConnectTimeout')));
    assert.ok(!o.some((w) => w.startsWith('ServerAlive')));
    assert.ok(o.includes('BatchMode=yes'));
    // "yes" in the config ("true" in ssh -G) needs nothing added either
    assert.ok(
      !sshOptions(inv({ ...NOTHING_SET, stricthostkeychecking: 'true' })).includes('StrictHostKeyChecking=yes'),
    );
  });

  test('the master, a session, the exit and ssh -G, word for word', () => {
    const i = inv(NOTHING_SET, { ssh: ['ip', 'netns', 'exec', 'ctl', 'ssh'], destination: { host: 'hdss7-21' } });
    const opts = sshOptions(i);
    assert.deepEqual(masterArgv(i), [
      'ip',
      'netns',
      'exec',
      'ctl',
      'ssh',
      ...opts,
      '-o',
      'ControlMaster=yes',
      '-N',
      '-f',
      '-T',
      '--',
      'hdss7-21',
    ]);
    assert.deepEqual(sessionArgv(i, 'LINE'), [
      'ip',
      'netns',
      'exec',
      'ctl',
      'ssh',
      ...opts,
      '-o',
      'ControlMaster=auto',
      '-T',
      '--',
      'hdss7-21',
      'LINE',
    ]);
    assert.deepEqual(exitArgv(i).slice(-4), ['-O', 'exit', '--', 'hdss7-21']);
    assert.deepEqual(configDumpArgv({ ssh: ['ssh'], destination: { user: 'root', host: 'h', port: 22 } }), [
      'ssh',
      '-l',
      'root',
      '-p',
      '22',
      '-T',
      '-G',
      '--',
      'h',
    ]);
  });

  test("ssh -G's dump is read by its lowercase keys", () => {
    const m = parseSshConfigDump(
      'user root\nhostname 10.4.7.21\nStrictHostKeyChecking true\nidentityfile a\nidentityfile b\n',
    );
    assert.equal(m.get('stricthostkeychecking'), 'true');
    assert.equal(m.get('identityfile'), 'a');
  });

  test('the remote line gives the remote shell the argv untouched and stdin, under timeout, with the status marked', () => {
    const argv = ['sh', '-c', 'cat; printf "[%s]" "$@"; echo oops >&2; exit 255', 'sh', "a 'b'", '$HOME', 'x\ny', ''];
    const line = remoteLine(argv, 5);
    assert.match(
      line,
      /^sh -c 't=\$1; shift; PATH="\$PATH:\/usr\/local\/sbin:\/usr\/sbin:\/sbin"; export PATH; timeout -s KILL "\$t" "\$@"; /,
    );
    let out = '';
    let err = '';
    try {
      execFileSync('bash', ['-c', line], { input: 'in\n', stdio: 'pipe' });
    } catch (e) {
      const x = e as { stdout: Buffer; stderr: Buffer; status: number };
      out = x.stdout.toString();
      err = x.stderr.toString();
      assert.equal(x.status, 255);
    }
    assert.equal(out, "in\n[a 'b'][$HOME][x\ny][]");
    assert.equal(err, `oops\n\n${EXIT_MARK} 255\n`);
    assert.deepEqual(splitExit(err), { status: 255, stderr: 'oops\n' });
  });

  test('stderr without the marker is ssh failing, not the command', () => {
    assert.deepEqual(splitExit('Connection closed by 10.4.7.21 port 22\r\n'), {
      stderr: 'Connection closed by 10.4.7.21 port 22\r\n',
    });
    assert.deepEqual(splitExit(`no newline\n${EXIT_MARK} 0\n`), { status: 0, stderr: 'no newline' });
  });
});

describe('SshHost over a stand-in ssh (the remote scripts run with sh here)', () => {
  let dir: string;
  let log: string;
  const hosts: SshHost[] = [];
  const host = (o: Partial<ConstructorParameters<typeof SshHost>[0]> = {}) => {
    const h = new SshHost({ destination: 'root@10.4.7.21', node: 'hdss7-21', ssh: [FAKE_SSH], ...o });
    hosts.push(h);
    return h;
  };
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'frb-ssh-unit-'));
    log = join(dir, 'ssh.log');
    process.env.FAKE_SSH_LOG = log;
  });
  afterEach(() => {
    delete process.env.FAKE_SSH_MASTER_FAIL;
  });
  after(async () => {
    for (const h of hosts) await h.close();
    delete process.env.FAKE_SSH_LOG;
    rmSync(dir, { recursive: true, force: true });
  });

  test('run: argv and stdin untouched; a bad status is a CommandError with status and stderr, 255 included', async () => {
    const h = host();
    assert.equal(h.name, 'root@10.4.7.21');
    const r = await h.run({ argv: ['sh', '-c', 'cat; printf %s "$1"', 'sh', "a 'b' $c"], input: 'in\n', why: 't' });
    assert.deepEqual(r, { stdout: "in\na 'b' $c", stderr: '', status: 0 });
    await assert.rejects(
      h.run({ argv: ['sh', '-c', 'echo \'Option "-j" is unknown\' >&2; exit 255'], why: 't', readOnly: true }),
      (e: unknown) => e instanceof CommandError && e.status === 255 && /Option "-j" is unknown/.test(e.stderr),
    );
    assert.equal((await h.run({ argv: ['sh', '-c', 'exit 3'], why: 't', okStatus: [3] })).status, 3);
  });

  test('a program missing on the node is said plainly, naming the node', async () => {
    await assert.rejects(
      host().run({ argv: ['no-such-tool-frb'], why: 't' }),
      (e: unknown) =>
        e instanceof CommandError &&
        /^no-such-tool-frb not found in PATH on hdss7-21 \(root@10\.4\.7\.21\)/.test(e.message),
    );
  });

  test('one master per Host however many commands run at once; never more than MAX_SESSIONS of them', async () => {
    const h = host();
    const before = calls().length;
    const live = join(dir, 'live');
    mkdirSync(live);
    const cmd = (i: number) => ({
      argv: ['sh', '-c', 'touch "$1/$2"; sleep 0.15; ls "$1" | wc -l; rm "$1/$2"', 'sh', live, String(i)],
      why: 't',
      readOnly: true,
    });
    const counts = (await Promise.all(Array.from({ length: 20 }, (_, i) => h.run(cmd(i))))).map((r) =>
      Number(r.stdout),
    );
    assert.ok(Math.max(...counts) <= MAX_SESSIONS, `at most ${MAX_SESSIONS} at once: ${counts}`);
    assert.ok(Math.max(...counts) > 1, 'they do run in parallel');
    const mine = calls().slice(before);
    assert.equal(mine.filter((c) => / -N -f /.test(c)).length, 1);
    assert.equal(mine.filter((c) => / -G /.test(c)).length, 1);
    // the control socket's directory: mkdtemp's, 0700
    const cp = /ControlPath=(\S+)/.exec(mine.find((c) => / -N -f /.test(c))!)![1]!;
    assert.equal(statSync(dirname(cp)).mode & 0o777, 0o700);
    assert.equal(statSync(dirname(cp)).uid, process.getuid?.());
    await h.close();
    assert.ok(!existsSync(dirname(cp)), 'close() removes it');
    assert.ok(calls().some((c) => / -O exit /.test(c)));
    await assert.rejects(h.run({ argv: ['true'], why: 't' }), /was closed/);
  });

  test("a node that cannot be reached: a RuntimeError naming it and ssh's line, once (later calls do not retry)", async () => {
    process.env.FAKE_SSH_MASTER_FAIL = 'Host key verification failed.';
    const h = host();
    const before = calls().length;
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        h.readFile('/etc/hostname'),
        (e: unknown) =>
          e instanceof RuntimeError &&
          e.exitCode === 3 &&
          e.message === 'hdss7-21 (root@10.4.7.21): cannot connect over ssh: Host key verification failed.',
      );
    }
    assert.equal(
      calls()
        .slice(before)
        .filter((c) => / -N -f /.test(c)).length,
      1,
    );
  });

  test('a command past its timeout: TimeoutError at once, and it is killed on the node', async () => {
    const h = host();
    const t0 = Date.now();
    await assert.rejects(
      h.run({ argv: ['sleep', '29.75'], why: 't', readOnly: true, timeoutMs: 500 }),
      (e: unknown) => e instanceof TimeoutError && /^sleep 29\.75 did not finish within 500 ms/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 2500, `${Date.now() - t0} ms`);
    // gone within a few seconds (a request that reached the node late is killed late too)
    let ps = execFileSync('ps', ['-eo', 'args']).toString();
    for (let i = 0; i < 50 && /^sleep 29\.75$/m.test(ps); i++) {
      await new Promise((r) => setTimeout(r, 100));
      ps = execFileSync('ps', ['-eo', 'args']).toString();
    }
    assert.doesNotMatch(ps, /^sleep 29\.75$/m);
  });

  test("localRequest: a unix socket through the node's python (HTTP/1.0, the body both ways); a port or a missing socket is an error with a code", async () => {
    const h = host();
    const sock = join(dir, 'rpc.sock');
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`);
        res.writeHead(200, { 'Content-Type': 'text/xml' });
        res.end(`<answer>${body}</answer>`);
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const r = await h.localRequest({
        socketPath: sock,
        method: 'POST',
        path: '/RPC2',
        body: '<call>é</call>',
        contentType: 'text/xml',
        timeoutMs: 3000,
      });
      assert.deepEqual(r, { status: 200, body: '<answer><call>é</call></answer>' });
      assert.deepEqual(seen, ['POST /RPC2 text/xml <call>é</call>']);
    } finally {
      server.close();
    }
    await assert.rejects(
      h.localRequest({ socketPath: join(dir, 'nobody.sock'), method: 'GET', path: '/', timeoutMs: 1000 }),
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    await assert.rejects(
      h.localRequest({ port: 2401, method: 'GET', path: '/healthz', timeoutMs: 1000 }),
      (e: NodeJS.ErrnoException) => e.code === 'ENOTSUP',
    );
  });

  test('readFile, readTail: the text; undefined when missing; a size limit checked first', async () => {
    const h = host();
    const f = join(dir, 'read.txt');
    writeFileSync(f, 'line1\nline2\nlast\n');
    assert.equal(await h.readFile(f), 'line1\nline2\nlast\n');
    assert.equal(await h.readFile(join(dir, 'nope')), undefined);
    assert.equal(await h.readFile(join(dir, 'nope', 'deeper')), undefined);
    await assert.rejects(h.readFile(f, { maxBytes: 4 }), /read\.txt is 17 bytes; more than the 4 such a file can be/);
    assert.equal(await h.readTail(f, 100), 'line1\nline2\nlast\n');
    // the last 9 bytes are "ne2\nlast\n": from the first whole line
    assert.equal(await h.readTail(f, 9), 'last\n');
    assert.equal(await h.readTail(join(dir, 'nope'), 9), undefined);
  });

  test('stat, lstat, readlink, listDir: as LocalHost gives them; undefined when nothing is there', async () => {
    const h = host();
    const d = join(dir, 'list');
    mkdirSync(d);
    writeFileSync(join(d, 'b file'), 'xyz', { mode: 0o640 });
    writeFileSync(join(d, 'new\nline'), '');
    symlinkSync('b file', join(d, 'a-link'));
    symlinkSync('missing', join(d, 'dangling'));
    assert.deepEqual(await h.stat(join(d, 'a-link')), { type: 'file', mode: 0o640, size: 3, uid: 0 });
    assert.equal((await h.lstat(join(d, 'a-link')))?.type, 'symlink');
    assert.equal((await h.stat(d))?.type, 'dir');
    assert.equal(await h.stat(join(d, 'dangling')), undefined);
    assert.equal(await h.stat(join(d, 'nothing')), undefined);
    assert.equal(await h.readlink(join(d, 'a-link')), 'b file');
    assert.equal(await h.readlink(join(d, 'b file')), undefined);
    assert.deepEqual(await h.listDir(d), readdirSync(d).sort());
    assert.deepEqual(await h.listDir(d), ['a-link', 'b file', 'dangling', 'new\nline']);
    assert.equal(await h.listDir(join(d, 'nothing')), undefined);
  });

  test("writeFile: the exact mode before a byte, the bytes, over a link (not through it); a killed run's temp file goes", async () => {
    const h = host();
    const d = join(dir, 'write');
    const f = join(d, 'sub', 'client-key.pem');
    await h.writeFile(f, 'KEY\n', { mode: 0o600 });
    assert.equal(readFileSync(f, 'utf8'), 'KEY\n');
    assert.equal(statSync(f).mode & 0o7777, 0o600);
    const bytes = new Uint8Array([0, 1, 2, 255, 10]);
    await h.writeFile(f, bytes, { mode: 0o664 });
    assert.deepEqual(new Uint8Array(readFileSync(f)), bytes);
    assert.equal(statSync(f).mode & 0o7777, 0o664, 'exactly the mode asked, whatever the umask');
    await h.writeFile(join(d, 'empty'), '', { mode: 0o644 });
    assert.equal(readFileSync(join(d, 'empty'), 'utf8'), '');
    // a link at the target is replaced; what it pointed at is not written through it
    writeFileSync(join(d, 'elsewhere'), 'untouched');
    symlinkSync(join(d, 'elsewhere'), join(d, 'linked'));
    await h.writeFile(join(d, 'linked'), 'new', { mode: 0o644 });
    assert.ok(lstatSync(join(d, 'linked')).isFile());
    assert.equal(readFileSync(join(d, 'elsewhere'), 'utf8'), 'untouched');
    writeFileSync(join(d, 'sub', '.client-key.pem.frb-tmp-0123456789abcdef'), 'left by a kill');
    await h.writeFile(f, 'KEY2\n', { mode: 0o600 });
    assert.deepEqual(readdirSync(join(d, 'sub')), ['client-key.pem']);
  });

  test('writeFile that cannot be done: a RuntimeError naming the file; the old file stays, no temp file is left', async () => {
    const h = host();
    const d = join(dir, 'fail');
    mkdirSync(join(d, 'adir'), { recursive: true });
    await assert.rejects(
      h.writeFile(join(d, 'adir'), 'x', { mode: 0o644 }),
      /cannot write .*adir on hdss7-21 \(root@10\.4\.7\.21\): EISDIR \(it is a directory\); nothing was changed/,
    );
    writeFileSync(join(d, 'plain'), 'a file');
    await assert.rejects(
      h.writeFile(join(d, 'plain', 'below'), 'x', { mode: 0o644 }),
      (e: unknown) => e instanceof RuntimeError && /^cannot write .*below on hdss7-21/.test(e.message),
    );
    // a link to a directory is replaced, never followed into
    mkdirSync(join(d, 'full'));
    writeFileSync(join(d, 'full', 'x'), 'old');
    symlinkSync('full', join(d, 'to-full'));
    await h.writeFile(join(d, 'to-full'), 'replaces the link only', { mode: 0o644 });
    assert.deepEqual(readdirSync(join(d, 'full')), ['x']);
    assert.deepEqual(readdirSync(d).sort(), ['adir', 'full', 'plain', 'to-full']);
    // a directory nothing can be created in (immutable, even for root): the old file is kept
    const locked = join(d, 'locked');
    mkdirSync(locked);
    writeFileSync(join(locked, 'conf'), 'old');
    try {
      execFileSync('chattr', ['+i', locked], { stdio: 'ignore' });
    } catch {
      return; // no chattr, or a filesystem without the attribute: the cases above stand
    }
    try {
      await assert.rejects(
        h.writeFile(join(locked, 'conf'), 'new', { mode: 0o644 }),
        /^RuntimeError: cannot write .*conf on hdss7-21 \(root@10\.4\.7\.21\): mktemp: .*; the old file is kept$/,
      );
      assert.equal(readFileSync(join(locked, 'conf'), 'utf8'), 'old');
      assert.deepEqual(readdirSync(locked), ['conf']);
    } finally {
      execFileSync('chattr', ['-i', locked]);
    }
  });

  test('copyFile copies on the node (bytes and mode); writeOutput brings stdout back and refuses output without `expect`', async () => {
    const h = host();
    const d = join(dir, 'copy');
    mkdirSync(d);
    writeFileSync(join(d, 'src'), 'PEM\n');
    await h.copyFile(join(d, 'src'), join(d, 'dst'), { mode: 0o600 });
    assert.equal(readFileSync(join(d, 'dst'), 'utf8'), 'PEM\n');
    assert.equal(statSync(join(d, 'dst')).mode & 0o777, 0o600);
    await assert.rejects(
      h.copyFile(join(d, 'nope'), join(d, 'dst'), { mode: 0o600 }),
      /cannot read .*nope on hdss7-21.*ENOENT/,
    );
    assert.equal(readFileSync(join(d, 'dst'), 'utf8'), 'PEM\n');
    await h.writeOutput({ argv: ['printf', '*filter\\nCOMMIT\\n'], why: 't' }, join(d, 'rules'), {
      mode: 0o600,
      expect: 'COMMIT',
    });
    assert.equal(readFileSync(join(d, 'rules'), 'utf8'), '*filter\nCOMMIT\n');
    await assert.rejects(
      h.writeOutput({ argv: ['true'], why: 't' }, join(d, 'rules'), { mode: 0o600, expect: 'COMMIT' }),
      /printed no "COMMIT"/,
    );
    assert.equal(readFileSync(join(d, 'rules'), 'utf8'), '*filter\nCOMMIT\n');
  });

  test('rename, symlink (a new link renamed over the old), remove, mkdir with a mode, makeTempDir (0700)', async () => {
    const h = host();
    const d = join(dir, 'ops');
    await h.mkdir(join(d, 'a', 'b'), { mode: 0o750 });
    assert.equal(statSync(join(d, 'a', 'b')).mode & 0o777, 0o750);
    writeFileSync(join(d, 'f'), 'f');
    await h.rename(join(d, 'f'), join(d, 'g'));
    assert.equal(readFileSync(join(d, 'g'), 'utf8'), 'f');
    await h.symlink('g', join(d, 'current'));
    await h.symlink('a', join(d, 'current'));
    assert.equal(readlinkSync(join(d, 'current')), 'a');
    assert.deepEqual(readdirSync(d).sort(), ['a', 'current', 'g']);
    await assert.rejects(h.rename(join(d, 'nope'), join(d, 'x')), /cannot move .*nope to .*x on hdss7-21/);
    const t = await h.makeTempDir(join(d, 'scratch'), 'frb-certs-');
    assert.match(t.path, /\/scratch\/frb-certs-[A-Za-z0-9]{6}$/);
    assert.equal(statSync(t.path).mode & 0o777, 0o700);
    await t.remove();
    assert.ok(!existsSync(t.path));
    await h.remove(join(d, 'g'));
    await h.remove(join(d, 'g'));
    await h.remove(join(d, 'a'), { recursive: true });
    assert.deepEqual(readdirSync(d).sort(), ['current', 'scratch']);
  });

  test('lock: flock(1) on the node, held by its session; a second take is `held`, counted; release frees it', async () => {
    const h = host();
    const p = join(dir, 'run', 'drift.lock');
    const a = await h.lock(p);
    assert.equal(a.held, false);
    assert.deepEqual(await h.lock(p), { held: true });
    // another process (a cron drift on the node) finds it held as well
    assert.throws(() => execFileSync('flock', ['-n', p, 'true']));
    if (!a.held) await a.release();
    const b = await h.lock(p);
    assert.equal(b.held, false);
    if (!b.held) {
      assert.equal(b.overlaps, 1);
      await b.release();
    }
    execFileSync('flock', ['-n', p, 'true']);
  });
});
