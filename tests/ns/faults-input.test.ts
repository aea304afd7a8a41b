// Issue 11 on one lab after the runbook, bad input and security: TLS files judged here before
// etcd is asked, exit 2 naming the flag and the file (item 10); path flags refused with one
// line and nothing created (11); an oversized certificate refused by name (12); certs shows
// ssh's own line when the host key is wrong or unknown, exit 3 (13); the printed certs script
// stages in `mktemp -d` (16); no shell injection through any flag, a pasted --dry-run script
// included; no key material in any output, --json, textfile, published report, cache or trace;
// etcd's server certificate is checked against --cafile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { run } from '../../lab/proc.ts';
import { runbookWithScripts, runStep, type StepName, writeClusterFile } from '../../lab/runbook-steps.ts';
import { fileTree, nodeState, dockerMasqBack } from './node-state.ts';
import { keyLines, runIn, Tally } from './faults-support.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, etcd, sshd, iptables' : false;

let lab: Lab;
let h21: LabNode;
let cluster: string;
let from: string[];
const tally = new Tally();
const CERT = '/opt/flannel/cert';

/** One line on stderr, the exit, nothing on stdout. */
function oneLine(r: { status: number; stdout: string; stderr: string }, exit: number, says: RegExp, what: string) {
  assert.equal(r.status, exit, `${what}: ${r.stdout}${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr.trim(), says, what);
}

describe('issue 11: bad input and security (certs, paths, host keys, injection, key material)', {
  skip: notRoot,
}, () => {
  before(async () => {
    lab = await createLab({});
    h21 = lab.nodes[0]!;
    await runbookWithScripts(lab, { startsecs: 2 });
    cluster = writeClusterFile(lab, { roots: true, file: 'cluster-roots.json' });
    const ch = lab.certHost;
    from = [
      '--from',
      `${ch.user}@${ch.name}:${ch.certsDir}`,
      '--identity',
      ch.identity,
      '--known-hosts',
      ch.knownHosts,
    ];
  });
  after(async () => {
    await lab?.destroy();
  });

  test('TLS files that cannot work are refused before etcd is asked: exit 2 naming the flag and the file (item 10)', async () => {
    const before = await nodeState(lab, h21);
    const pki = join(lab.dir, 'pki');
    const bad = join(h21.root, 'badcerts');
    const sets = ['mismatch', 'garbage', 'encrypted', 'expired'] as const;
    for (const s of sets) {
      mkdirSync(join(bad, s), { recursive: true });
      for (const f of ['ca.pem', 'client.pem', 'client-key.pem'])
        copyFileSync(join(h21.root, CERT, f), join(bad, s, f));
    }
    await run(['openssl', 'genrsa', '-out', join(bad, 'mismatch/client-key.pem'), '2048']);
    writeFileSync(
      join(bad, 'garbage/client.pem'),
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
    );
    await run([
      'openssl',
      'pkey',
      '-in',
      join(h21.root, CERT, 'client-key.pem'),
      '-aes256',
      '-passout',
      'pass:lab',
      '-out',
      join(bad, 'encrypted/client-key.pem'),
    ]);
    const csr = join(bad, 'expired/client.csr');
    await run([
      'openssl',
      'req',
      '-new',
      '-key',
      join(h21.root, CERT, 'client-key.pem'),
      '-subj',
      '/CN=expired',
      '-out',
      csr,
    ]);
    await run([
      'openssl',
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(pki, 'ca.pem'),
      '-CAkey',
      join(pki, 'ca-key.pem'),
      '-days',
      '-1',
      '-extfile',
      join(pki, 'client.ext'),
      '-extensions',
      'v3',
      '-out',
      join(bad, 'expired/client.pem'),
    ]);
    const says: Record<(typeof sets)[number], RegExp> = {
      mismatch: /--keyfile "\S+mismatch\/client-key\.pem": is not the key of \S+client\.pem/,
      garbage: /--certfile "\S+garbage\/client\.pem": a CERTIFICATE block is not a valid X\.509 certificate/,
      encrypted: /--keyfile "\S+encrypted\/client-key\.pem": the key is passphrase-protected/,
      expired: /--certfile "\S+expired\/client\.pem": expired on \d{4}-/,
    };
    for (const s of sets) {
      const files = [
        '--cafile',
        `/badcerts/${s}/ca.pem`,
        '--certfile',
        `/badcerts/${s}/client.pem`,
        '--keyfile',
        `/badcerts/${s}/client-key.pem`,
      ];
      for (const step of ['etcd-config', 'start', 'verify-ping'] as const)
        await tally.case('bad input', `${s} TLS files: ${step}`, async () => {
          const r = await runStep(lab, h21, step, [
            '--cluster',
            cluster,
            ...files,
            ...(step === 'start' ? ['--startsecs', '2'] : []),
          ]);
          oneLine(r, 2, new RegExp(`^${step}: ${says[s].source}.*; etcd was not asked$`), `${s} ${step}`);
          assert.doesNotMatch(r.stderr, /error:[0-9A-F]{8}|routines::|https:\/\//, 'no OpenSSL text, no endpoint');
        });
      // drift reports it with everything else (cron keeps its textfile): its certs checks name it
      await tally.case('bad input', `${s} TLS files: drift names it in its report`, async () => {
        const r = await runStep(lab, h21, 'drift', ['--cluster', cluster, ...files]);
        assert.equal(r.status, 3, r.stdout);
        assert.match(r.stdout, /DRIFT certs\.(chain|expiry) +\S+: /);
      });
    }
    rmSync(bad, { recursive: true, force: true });
    assert.deepEqual(await nodeState(lab, h21), before, 'nothing changed');
  });

  test('path flags: one line, exit 2, nothing created; --textfile is taken under --root (item 11)', async () => {
    const dir = join(lab.dir, 'a-directory');
    mkdirSync(dir);
    const before = fileTree(h21.root);
    const cases: [StepName, string[], RegExp][] = [
      ['drift', ['--root', '/nonexistent'], /^drift: --root "\/nonexistent": no such directory/],
      ['drift', ['--root', '/etc/passwd'], /^drift: --root "\/etc\/passwd": is a file, not a directory/],
      ['snat-fix', ['--persist', '/etc'], /^snat-fix: --persist "\/etc": is a directory; name a file/],
      [
        'snat-fix',
        ['--persist', 'etc/iptables'],
        /^snat-fix: --persist "etc\/iptables": must be an absolute path on the node/,
      ],
      ['drift', ['--lock', '/'], /^drift: --lock "\/": is a directory/],
      ['drift', ['--textfile', '/etc'], /^drift: --textfile "\/etc": is a directory/],
      ['drift', ['--textfile', 'flannel.prom'], /^drift: --textfile "flannel\.prom": must be an absolute path/],
      [
        'start',
        ['--supervisor-conf', '/etc/supervisord.d'],
        /^start: --supervisor-conf "\/etc\/supervisord\.d": is a directory/,
      ],
      [
        'verify-ping',
        ['--from-netns', 'no-such-ns'],
        /^verify-ping: --from-netns "no-such-ns": no such network namespace/,
      ],
      [
        'verify-ping',
        ['--from-netns', '../../etc'],
        /^verify-ping: --from-netns "\.\.\/\.\.\/etc": must be a network namespace name/,
      ],
      ['doctor', ['--pod-netns', 'no-such-ns'], /^doctor: --pod-netns "no-such-ns": no such network namespace/],
      ['doctor', ['--log', '/var/log/no-such.log'], /^doctor: --log "\/var\/log\/no-such\.log": no such file/],
      ['doctor', ['--certs-from', '/no-such-dir'], /^doctor: --certs-from "\/no-such-dir": no such directory/],
      [
        'certs',
        ['--root', h21.root, ...from.slice(0, 2), '--identity', dir],
        /^certs: --identity "\S+a-directory": is a directory, not a file/,
      ],
      [
        'certs',
        ['--root', h21.root, ...from.slice(0, 4), '--known-hosts', dir],
        /^certs: --known-hosts "\S+a-directory": is a directory, not a file/,
      ],
      ['certs', ['--root', h21.root, '--from', '/no-such-dir'], /^certs: --from "\/no-such-dir": no such directory/],
      [
        'drift',
        ['--endpoints', 'https://10.4.7.12:2379,https://10.4.7.12:2379'],
        /^drift: --endpoints "https:\/\/10\.4\.7\.12:2379": is listed twice/,
      ],
      ['drift', ['--all-nodes', '--textfile', 'x.prom'], /^drift: --textfile "x\.prom": must be an absolute path/],
    ];
    for (const [step, args, says] of cases)
      await tally.case('bad input', `${step} ${args.join(' ')}`, async () => {
        const r = await runStep(lab, h21, step, [...(step === 'certs' ? [] : ['--cluster', cluster]), ...args]);
        oneLine(r, 2, says, `${step} ${args.join(' ')}`);
        assert.equal(r.stdout, '');
      });
    assert.deepEqual(fileTree(h21.root), before, 'nothing created under the root');
    assert.equal(existsSync('/nonexistent'), false);
    await tally.case('bad input', '--textfile is a host path under --root', async () => {
      const r = await runStep(lab, h21, 'drift', ['--cluster', cluster, '--textfile', '/var/lib/faults/t.prom', '-q']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(existsSync(join(h21.root, 'var/lib/faults/t.prom')));
      assert.equal(existsSync('/var/lib/faults'), false);
    });
    rmSync(join(h21.root, 'var/lib/faults'), { recursive: true, force: true });
  });

  test('an oversized certificate is refused by name and nothing is installed (item 12)', async () => {
    const big = join(h21.root, 'bigcerts');
    mkdirSync(big);
    for (const f of ['ca.pem', 'client.pem', 'client-key.pem']) copyFileSync(join(h21.root, CERT, f), join(big, f));
    writeFileSync(
      join(big, 'ca.pem'),
      `${readFileSync(join(h21.root, CERT, 'ca.pem'), 'utf8')}${'#'.repeat(20 << 20)}\n`,
    );
    const before = fileTree(join(h21.root, 'opt'));
    await tally.case('bad input', 'a 20 MB ca.pem', async () => {
      const r = await runStep(lab, h21, 'certs', ['--root', h21.root, '--from', '/bigcerts']);
      oneLine(
        r,
        2,
        /^certs: --from \/bigcerts: ca\.pem is 209\d{5} bytes; a PEM file is at most 65536: not installed, nothing changed$/,
        'big ca.pem',
      );
    });
    assert.deepEqual(fileTree(join(h21.root, 'opt')), before);
    rmSync(big, { recursive: true, force: true });
  });

  test("certs says ssh's own line when the host key is wrong or unknown, with the fix, exit 3 (item 13)", async () => {
    const ch = lab.certHost;
    const words = readFileSync(ch.knownHosts, 'utf8').trim().split(' ');
    // another host's real key under the cert host's names
    const other = readFileSync(join(lab.dir, 'ssh', 'id_ed25519.pub'), 'utf8').split(' ');
    const wrong = join(lab.dir, 'known_hosts.wrong');
    writeFileSync(wrong, `${words[0]} ${other[0]} ${other[1]}\n`);
    const empty = join(lab.dir, 'known_hosts.empty');
    writeFileSync(empty, '');
    const before = await nodeState(lab, h21);
    const cases: [string, string, RegExp][] = [
      [
        'a changed host key',
        wrong,
        /^certs: --from root@hdss7-200:\/opt\/certs: ssh said "Host key verification failed\.": the key hdss7-200 offered is not the one in \S+known_hosts\.wrong; .*ssh-keygen -R hdss7-200 -f \S+known_hosts\.wrong.*; nothing changed$/,
      ],
      [
        'an unknown host',
        empty,
        /^certs: --from root@hdss7-200:\/opt\/certs: ssh said "Host key verification failed\.": \S+known_hosts\.empty has no key for hdss7-200; add it once its fingerprint is checked \(ssh-keyscan hdss7-200 >> \S+\); nothing changed$/,
      ],
    ];
    for (const [name, kh, says] of cases)
      await tally.case('security', `host key checked: ${name}`, async () => {
        const r = await runStep(lab, h21, 'certs', ['--root', h21.root, ...from.slice(0, 4), '--known-hosts', kh]);
        oneLine(r, 3, says, name);
      });
    assert.deepEqual(await nodeState(lab, h21), before);
  });

  test("etcd's server certificate is checked against --cafile", async () => {
    const other = join(lab.dir, 'other-ca');
    mkdirSync(other);
    await run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(other, 'ca-key.pem'),
      '-subj',
      '/CN=another CA',
      '-days',
      '30',
      '-out',
      join(other, 'ca.pem'),
    ]);
    copyFileSync(join(other, 'ca.pem'), join(h21.root, CERT, 'other-ca.pem'));
    for (const step of ['etcd-config', 'drift'] as const)
      await tally.case('security', `a server certificate not signed by --cafile: ${step}`, async () => {
        const r = await runStep(lab, h21, step, ['--cluster', cluster, '--cafile', `${CERT}/other-ca.pem`]);
        assert.equal(r.status, 3, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /TLS: the server's certificate is not trusted by --cafile \S+other-ca\.pem/);
      });
    rmSync(join(h21.root, CERT, 'other-ca.pem'));
  });

  test('the printed certs script stages in its own mktemp -d dir, never a fixed /tmp name (item 16)', async () => {
    const root = join(lab.dir, 'fresh-root');
    mkdirSync(root);
    await tally.case('security', 'certs --dry-run: mktemp -d', async () => {
      const r = await runStep(lab, h21, 'certs', ['--root', root, ...from, '--dry-run']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^d=\$\(mktemp -d \/tmp\/flannel-certs-XXXXXXXXXX\)$/m);
      assert.doesNotMatch(r.stdout, /mkdir -p \/tmp\/flannel-certs/);
      assert.match(r.stdout, /^scp -o BatchMode=yes .* "\$d"\/$/m);
    });
    rmSync(root, { recursive: true, force: true });
  });

  test('no shell injection through any flag, nor through a pasted --dry-run script', async () => {
    const canary = join(lab.dir, 'INJECTED');
    const p = (how: (cmd: string) => string) => how(`touch ${canary}`);
    const before = await nodeState(lab, h21);
    const refused: [StepName, string[]][] = [
      ['drift', ['--node', p((c) => `$(${c})`)]],
      ['snat-fix', ['--bridge', p((c) => `docker0;${c}`)]],
      ['snat-fix', ['--subnet', p((c) => `172.7.21.0/24$(${c})`)]],
      ['start', ['--iface', p((c) => `eth0\`${c}\``)]],
      ['start', ['--program', p((c) => `flanneld-7-21$(${c})`)]],
      ['start', ['--public-ip', p((c) => `10.4.7.21;${c}`)]],
      ['etcd-config', ['--etcd-prefix', p((c) => `/coreos.com/network$(${c})`)]],
      ['etcd-config', ['--endpoints', p((c) => `https://10.4.7.12:2379;${c}`)]],
      ['etcd-config', ['--network', p((c) => `172.7.0.0/16|${c}`)]],
      ['etcd-config', ['--backend', p((c) => `host-gw;${c}`)]],
      ['verify-ping', ['--targets', p((c) => `172.7.22.2;${c}`)]],
      ['verify-ping', ['--from-netns', p((c) => `x;${c}`)]],
      ['drift', ['--ssh', p((c) => `root@10.4.7.21;${c}`)]],
      ['drift', ['--ssh', '-oProxyCommand=sh -c "touch /tmp/x"']],
      ['doctor', ['--pod-netns', p((c) => `$(${c})`)]],
      ['install', ['--version', p((c) => `v0.11.0;${c}`)]],
      ['install', ['--sha256', p((c) => `$(${c})`)]],
      ['certs', ['--root', h21.root, '--from', `root@hdss7-200:/opt/certs/$(touch\${IFS}${canary})`, ...from.slice(2)]],
      ['certs', ['--root', h21.root, '--from', p((c) => `root@hdss7-200:/opt/certs;${c}`), ...from.slice(2)]],
    ];
    for (const [step, args] of refused)
      await tally.case('security', `injection refused: ${step} ${args[args[0] === '--root' ? 3 : 0]}`, async () => {
        const r = await runStep(lab, h21, step, [...(step === 'certs' ? [] : ['--cluster', cluster]), ...args]);
        assert.equal(r.status, 2, `${step} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.equal(existsSync(canary), false, `${step} ${args.join(' ')} ran the payload`);
      });
    assert.deepEqual(await nodeState(lab, h21), before);
    // a path may hold such characters: taken as a name, quoted in the printed script, which runs as printed
    const odd = '/etc/sysconfig/ipt$(touch INJECTED)`id`;rules';
    await tally.case('security', 'a pasted snat-fix --dry-run with a path holding $( ) ` ;', async () => {
      await dockerMasqBack(lab, h21);
      const dry = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster, '--persist', odd, '--dry-run']);
      assert.equal(dry.status, 0, dry.stderr);
      // pasted where the payload would land: the labdir (the rest of / is read-only)
      const pasted = await runIn(lab, h21, ['sh', '-c', 'cd "$1" && exec sh -c "$2"', 'sh', lab.dir, dry.stdout]);
      assert.equal(pasted.status, 0, pasted.stderr);
      assert.equal(existsSync(canary), false, 'the pasted script ran the payload');
      const made = readdirSync(join(h21.root, 'etc/sysconfig')).filter((n) => n.startsWith('ipt$('));
      assert.equal(made.length, 1, 'the file got the name as given');
      rmSync(join(h21.root, 'etc/sysconfig', made[0]!));
    });
    const again = await runStep(lab, h21, 'snat-fix', ['--cluster', cluster]);
    assert.equal(again.status, 0, again.stderr);
  });

  test('no key material in any output, --json, textfile, published report, etcd cache or trace', async () => {
    const key = readFileSync(join(h21.root, CERT, 'client-key.pem'), 'utf8');
    const lines = keyLines(key);
    assert.ok(lines.length > 10);
    const trace = join(lab.dir, 'trace.jsonl');
    const fresh = join(lab.dir, 'fresh-certs');
    mkdirSync(fresh, { recursive: true });
    const textfile = '/var/lib/node_exporter/textfile/flannel.prom';
    const badKey = join(h21.root, 'badkey');
    mkdirSync(badKey);
    for (const f of ['ca.pem', 'client.pem']) copyFileSync(join(h21.root, CERT, f), join(badKey, f));
    // the key of another certificate: its refusal must not quote either key
    copyFileSync(join(lab.dir, 'pki', 'ca-key.pem'), join(badKey, 'client-key.pem'));
    const outputs: [string, () => Promise<string>][] = [];
    const step = (name: string, s: StepName, args: string[], env = false) =>
      outputs.push([
        name,
        async () => {
          const r = await runStep(
            lab,
            h21,
            s,
            args,
            env ? { env: { ...process.env, FLANNEL_RUNBOOK_TRACE: trace } } : {},
          );
          return r.stdout + r.stderr;
        },
      ]);
    const c = ['--cluster', cluster];
    step('certs (install)', 'certs', ['--root', fresh, ...from], true);
    step('certs --json', 'certs', ['--root', fresh, ...from, '--json']);
    step('certs --dry-run', 'certs', ['--root', join(lab.dir, 'fresh-dry'), ...from, '--dry-run']);
    step('certs refusing a key of another certificate', 'certs', ['--root', h21.root, '--from', '/badkey']);
    step('certs --from a local dir --dry-run', 'certs', ['--root', h21.root, '--from', '/badkey', '--dry-run']);
    step('drift', 'drift', [...c, '--all']);
    step('drift --json --publish --textfile', 'drift', [...c, '--json', '--publish', '--textfile', textfile], true);
    step('drift --etcd-api v3 --json (its cache)', 'drift', [...c, '--etcd-api', 'v3', '--json']);
    step('drift --fix --dry-run', 'drift', [...c, '--fix', '--dry-run']);
    step('drift --nagios', 'drift', [...c, '--nagios']);
    step('doctor', 'doctor', c);
    step('doctor --json', 'doctor', [...c, '--json']);
    step('doctor with a key of another certificate', 'doctor', [...c, '--keyfile', '/badkey/client-key.pem', '--json']);
    step('etcd-config --json', 'etcd-config', [...c, '--json']);
    step('etcd-config --dry-run --force', 'etcd-config', [...c, '--backend', 'vxlan', '--force', '--dry-run']);
    step('start --dry-run --check', 'start', [...c, '--check']);
    step('start --json', 'start', [...c, '--json', '--startsecs', '2'], true);
    step('verify-ping --json', 'verify-ping', [...c, '--json']);
    step('snat-fix --json', 'snat-fix', [...c, '--json']);
    step('fleet --json', 'fleet', [...c, '--json']);
    step('etcd-config with the key of another certificate', 'etcd-config', [
      ...c,
      '--keyfile',
      '/badkey/client-key.pem',
    ]);
    outputs.push(['the textfile', async () => readFileSync(join(h21.root, textfile), 'utf8')]);
    outputs.push([
      'the published report',
      async () => (await lab.etcdctl(['get', '/flannel-runbook/status/hdss7-21'], { api: 2 })).stdout,
    ]);
    outputs.push([
      'the v3 etcd cache',
      async () => readFileSync(join(h21.root, 'var/lib/flannel-runbook/etcd-cache.json'), 'utf8'),
    ]);
    outputs.push(['the change trace', async () => readFileSync(trace, 'utf8')]);
    const badKeyText = readFileSync(join(badKey, 'client-key.pem'), 'utf8');
    for (const [name, get] of outputs)
      await tally.case('security', `no key material: ${name}`, async () => {
        const out = await get();
        assert.ok(out.length > 0, `${name} printed something`);
        assert.doesNotMatch(out, /PRIVATE KEY/, name);
        for (const l of [...lines, ...keyLines(badKeyText)])
          assert.ok(!out.includes(l), `${name} holds a line of a key`);
      });
    rmSync(badKey, { recursive: true, force: true });
    rmSync(fresh, { recursive: true, force: true });
  });

  test('figures: every case tried held', (t) => {
    const c = tally.counts();
    t.diagnostic(tally.line('faults-input'));
    tally.assertReadmeRow('faults-input');
    for (const k of ['fault', 'bad input', 'security'] as const) assert.equal(c[k].held, c[k].tried, k);
    assert.ok(c['bad input'].tried >= 30 && c.security.tried >= 40, JSON.stringify(c));
  });
});
