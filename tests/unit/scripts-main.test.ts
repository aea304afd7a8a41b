// Every script's main(argv, host), run in-process against a memory host (tests/support) and,
// where it talks to etcd, a real etcd on loopback: one path that applies, one refusal (a usage
// error, nothing run), and for the mutating steps --dry-run (only observations run; the printed
// script is what the recording Host recorded).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../lib/core/errors.ts';
import { captureOutput } from '../../lib/cli/output.ts';
import { v2Put } from '../../lib/host/etcd.ts';
import { makePki } from '../../lab/pki.ts';
import { main as certs } from '../../scripts/certs.ts';
import { main as doctor } from '../../scripts/doctor.ts';
import { main as drift } from '../../scripts/drift.ts';
import { main as etcdConfig } from '../../scripts/etcd-config.ts';
import { main as fleet } from '../../scripts/fleet.ts';
import { main as install } from '../../scripts/install.ts';
import { main as snatFix } from '../../scripts/snat-fix.ts';
import { main as start } from '../../scripts/start.ts';
import { main as verifyPing } from '../../scripts/verify-ping.ts';
import { hasEtcd, startEtcd, stopEtcd, type Etcd } from '../support/etcd.ts';
import { h21Args, h21Fixture, h21Host } from '../support/h21-host.ts';
import { MemoryHost } from '../support/memory-host.ts';
import { readFileSync } from 'node:fs';

/** main()'s stdout, and its exit code (printed through cli/output, captured in-process). */
async function run(f: () => Promise<number>): Promise<{ code: number; stdout: string }> {
  const r = await captureOutput(f);
  return { code: r.value, stdout: r.stdout };
}

const DOCKER = '-A POSTROUTING -s 172.7.21.0/24 ! -o docker0 -j MASQUERADE';
const SNAT = '-A POSTROUTING -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE';

describe('scripts: main(argv, host) on a memory host', () => {
  test('snat-fix: one iptables-restore, the rules persisted from iptables-save; --dry-run runs only iptables-save', async () => {
    const before = h21Fixture('h21-iptables-save.txt').replace(SNAT, DOCKER);
    const host = new MemoryHost()
      .answer(['iptables-save'], { stdout: before })
      .answer(['iptables-restore'], {})
      .answer(['ip', '-j', '-4', 'addr'], { stdout: h21Fixture('h21-ip-addr.json') });
    const dry = await run(() => snatFix(['--subnet', '172.7.21.0/24', '--network', '172.7.0.0/16', '--dry-run'], host));
    assert.equal(dry.code, 0);
    assert.deepEqual(
      host.ran.map((c) => c.argv[0]),
      ['ip', 'iptables-save'],
    );
    assert.match(
      dry.stdout,
      /^set -e\n[\s\S]*iptables-restore --noflush <<'FLANNEL_RUNBOOK_EOF'\n\*nat\n-I POSTROUTING 1 /,
    );
    assert.equal(host.files.has('/etc/sysconfig/iptables'), false, '--dry-run writes nothing');

    const r = await run(() => snatFix(['--subnet', '172.7.21.0/24', '--network', '172.7.0.0/16'], host));
    assert.equal(r.code, 0);
    const restore = host.ran.find((c) => c.argv[0] === 'iptables-restore')!;
    assert.match(restore.input!, new RegExp(`-D ${DOCKER.slice(3).replaceAll(/[.*/!]/g, '\\$&')}`));
    assert.equal(host.files.get('/etc/sysconfig/iptables')?.mode, 0o600);
    await assert.rejects(
      snatFix(['--subnet', '172.7.21.5/24', '--network', '172.7.0.0/16'], new MemoryHost()),
      (e: unknown) => e instanceof UsageError && /--subnet "172\.7\.21\.5\/24": host bits are set/.test(e.message),
    );
    // another node's subnet: docker0 (172.7.21.1/24) says whose node this is; nothing runs but the look
    const other = host.ran.length;
    await assert.rejects(
      snatFix(['--subnet', '172.7.22.0/24', '--network', '172.7.0.0/16'], host),
      (e: unknown) =>
        e instanceof UsageError && /^--subnet "172\.7\.22\.0\/24": docker0 has 172\.7\.21\.1\/24/.test(e.message),
    );
    assert.deepEqual(
      host.ran.slice(other).map((c) => c.argv[0]),
      ['ip'],
    );
  });

  test('install: download, verify, unpack, switch the link; a bad --url is refused before anything runs', async () => {
    const host: MemoryHost = new MemoryHost()
      .answer(['curl'], {})
      .answer(['sh'], { stdout: `${'a'.repeat(64)}\n` })
      .answer(['tar'], (cmd) => {
        host.put(`${cmd.argv[cmd.argv.indexOf('-C') + 1]}/flanneld`, '#!/bin/sh\n', 0o755);
        return {};
      })
      .answer(['test'], {});
    const r = await run(() =>
      install(['--url', 'http://10.4.7.200:8080/flannel-v0.11.0-linux-amd64.tar.gz', '--sha256', 'a'.repeat(64)], host),
    );
    assert.equal(r.code, 0);
    assert.deepEqual(
      host.ran.map((c) => c.argv[0]),
      ['curl', 'sh', 'tar', 'test', 'sh'],
    );
    assert.equal(host.links.get('/opt/flannel'), 'flannel-v0.11.0');
    assert.equal(host.files.get('/opt/flannel-v0.11.0/.sha256')?.content, `${'a'.repeat(64)}\n`);
    const again = await run(() => install(['--url', 'http://10.4.7.200:8080/f.tgz'], host));
    assert.equal(again.code, 0);
    assert.match(again.stdout, /install: nothing to do/);
    const fresh = new MemoryHost();
    await assert.rejects(
      install(['--url', 'ftp://x/f.tgz'], fresh),
      /--url "ftp:\/\/x\/f\.tgz": must be an http\(s\) or file URL/,
    );
    assert.deepEqual(fresh.ran, []);
  });
});

describe('scripts: certs main(argv, host) with real certificates', () => {
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frbmain-pki-'));
    await makePki(join(dir, 'pki'), []);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("installs the set with the key 0600; a set whose key is not the certificate's is refused and nothing is installed", async () => {
    const pem = (n: string) => readFileSync(join(dir, 'pki', n), 'utf8');
    const set = { 'ca.pem': pem('ca.pem'), 'client.pem': pem('client.pem'), 'client-key.pem': pem('client-key.pem') };
    const host = new MemoryHost({
      '/src/ca.pem': set['ca.pem'],
      '/src/client.pem': set['client.pem'],
      '/src/client-key.pem': set['client-key.pem'],
    });
    host.answer(['cp'], (cmd) => {
      const to = cmd.argv.at(-1)!;
      for (const from of cmd.argv.slice(1, -1))
        host.put(`${to}${from.slice(from.lastIndexOf('/') + 1)}`, host.files.get(from)!.content);
      return {};
    });
    const r = await run(() => certs(['--from', '/src'], host));
    assert.equal(r.code, 0);
    assert.equal(host.files.get('/opt/flannel/cert/client-key.pem')?.mode, 0o600);
    assert.equal(host.files.get('/opt/flannel/cert/ca.pem')?.content, set['ca.pem']);
    assert.equal(
      [...host.files.keys()].some((k) => k.includes('flannel-certs-')),
      false,
      'staging removed',
    );

    const bad = new MemoryHost({
      '/src/ca.pem': set['ca.pem'],
      '/src/client.pem': set['client.pem'],
      '/src/client-key.pem': pem('ca-key.pem'),
    });
    bad.answer(['cp'], (cmd) => {
      const to = cmd.argv.at(-1)!;
      for (const from of cmd.argv.slice(1, -1))
        bad.put(`${to}${from.slice(from.lastIndexOf('/') + 1)}`, bad.files.get(from)!.content);
      return {};
    });
    await assert.rejects(
      certs(['--from', '/src'], bad),
      (e: unknown) => e instanceof UsageError && /is refused; the installed files stay/.test(e.message),
    );
    assert.equal(bad.files.has('/opt/flannel/cert/ca.pem'), false);
  });
});

describe('scripts: main(argv, host) with a real etcd on loopback', {
  skip: hasEtcd ? false : 'etcd is not installed (apt-get install etcd-server)',
}, () => {
  let dir = '';
  let etcd: Etcd | undefined;
  let url = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'frbmain-etcd-'));
    etcd = await startEtcd(join(dir, 'etcd'), true);
    url = etcd.url;
  });
  after(async () => {
    await stopEtcd(etcd);
    rmSync(dir, { recursive: true, force: true });
  });
  const lease = (subnet: string, ip: string) =>
    v2Put(
      { endpoints: [url] },
      {},
      `/coreos.com/network/subnets/${subnet}`,
      JSON.stringify({ PublicIP: ip, BackendType: 'host-gw' }),
      { ttl: 86400 },
    );

  test('etcd-config: writes the config through v2, then nothing to do; a different one is not replaced without --force (exit 1)', async () => {
    const args = ['--endpoints', url, '--network', '172.7.0.0/16', '--backend', 'host-gw'];
    const dry = await run(() => etcdConfig([...args, '--dry-run'], new MemoryHost()));
    assert.equal(dry.code, 0);
    // each endpoint in turn, create-only; and a second paste changes nothing
    assert.match(
      dry.stdout,
      /for ep in http:\/\/127\.0\.0\.1:\d+; do\n {2}code=\$\(curl .* -X PUT .*"\$ep"'\/v2\/keys\/coreos\.com\/network\/config\?prevExist=false'\)/,
    );
    assert.match(dry.stdout, /^if \( for ep in .*; then echo 'etcd-config: nothing to do/m);
    assert.equal((await run(() => etcdConfig(args, new MemoryHost()))).code, 0);
    assert.match((await run(() => etcdConfig(args, new MemoryHost()))).stdout, /etcd-config: nothing to do/);
    assert.equal(
      (
        await run(() =>
          etcdConfig(['--endpoints', url, '--network', '172.7.0.0/16', '--backend', 'vxlan'], new MemoryHost()),
        )
      ).code,
      1,
    );
    await assert.rejects(
      etcdConfig(['--endpoints', url, '--network', '172.7.0.0/16'], new MemoryHost()),
      /--backend: required/,
    );
    await lease('172.7.21.0-24', '10.4.7.21');
    await lease('172.7.22.0-24', '10.4.7.22');
  });

  test('drift: the healthy node is in sync (exit 0); a deleted peer route is drift (exit 1) that --fix mends with one ip -batch', async () => {
    const host = h21Host(url);
    const ok = await run(() => drift([...h21Args(url), '--program', 'flanneld-7-21', '--json'], host));
    const report = JSON.parse(ok.stdout) as { exit: number; checks: { id: string; status: string }[] };
    assert.deepEqual(
      report.checks.filter((c) => c.status !== 'ok').map((c) => c.id),
      [],
    );
    assert.equal(ok.code, 0);
    const routes = JSON.parse(h21Fixture('h21-routes.json')) as { dst: string }[];
    host.answer(['ip', '-j', 'route'], { stdout: JSON.stringify(routes.filter((r) => r.dst !== '172.7.22.0/24')) });
    const broken = await run(() => drift([...h21Args(url), '--program', 'flanneld-7-21', '--json'], host));
    assert.equal(broken.code, 1);
    assert.deepEqual(
      (JSON.parse(broken.stdout) as typeof report).checks.filter((c) => c.status !== 'ok').map((c) => c.id),
      ['routes.peers'],
    );
    await run(() => drift([...h21Args(url), '--program', 'flanneld-7-21', '--fix', '--quiet'], host));
    const batch = host.ran.find((c) => c.argv[0] === 'ip' && c.argv[1] === '-batch');
    assert.match(batch?.input ?? '', /^route replace 172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0/m);
    await assert.rejects(
      drift([...h21Args(url), '--reject', 'sometimes'], new MemoryHost()),
      /--reject "sometimes": must be one of drop, keep/,
    );
  });

  test('doctor: nothing wrong on the healthy node (exit 0); ip_forward off is its finding with the fix (exit 1)', async () => {
    const host = h21Host(url);
    const ok = await run(() => doctor([...h21Args(url), '--program', 'flanneld-7-21', '--json'], host));
    assert.equal(ok.code, 0, ok.stdout);
    host.put('/proc/sys/net/ipv4/ip_forward', '0\n');
    const r = await run(() => doctor([...h21Args(url), '--program', 'flanneld-7-21', '--json'], host));
    assert.equal(r.code, 1);
    const findings = (JSON.parse(r.stdout) as { findings: { id: string; fix: string }[] }).findings;
    assert.deepEqual(
      findings.map((f) => f.id),
      ['sysctl.ip-forward-off'],
    );
    assert.equal(findings[0]!.fix, 'sysctl -w net.ipv4.ip_forward=1');
    assert.deepEqual(
      host.ran.filter((c) => !c.readOnly),
      [],
      'doctor changes nothing',
    );
  });

  test('verify-ping: every route as the leases say and the peer answers (exit 0); without one the row fails (exit 1)', async () => {
    const host = h21Host(url).answer(['ping'], {
      stdout:
        'PING 172.7.22.1 (172.7.22.1) 56(84) bytes of data.\n64 bytes from 172.7.22.1: icmp_seq=1 ttl=63 time=0.1 ms\n\n--- 172.7.22.1 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 0.1/0.1/0.1/0.0 ms\n',
    });
    const ok = await run(() =>
      verifyPing(['--endpoints', url, '--public-ip', '10.4.7.21', '--iface', 'eth0', '--json'], host),
    );
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal((JSON.parse(ok.stdout) as { rows: { ttl: number }[] }).rows[0]!.ttl, 63);
    host.answer(['ping'], { status: 1, stdout: '1 packets transmitted, 0 received, 100% packet loss, time 0ms\n' });
    assert.equal(
      (await run(() => verifyPing(['--endpoints', url, '--public-ip', '10.4.7.21', '--iface', 'eth0'], host))).code,
      1,
    );
    await assert.rejects(
      verifyPing(['--endpoints', url, '--public-ip', '10.4.7.21'], new MemoryHost()),
      /--iface: required/,
    );
  });

  test('start: writes subnet.env, flanneld.sh and the ini, then supervisorctl update (--no-wait); a public IP not on the interface is refused and nothing is written', async () => {
    const host = h21Host(url).answer(['supervisorctl', '-c', '/etc/supervisord.conf', 'status'], {
      stdout: 'flanneld-7-21: ERROR (no such process)\n',
      status: 4,
    });
    host.files.delete('/opt/flannel/flanneld.sh');
    host.files.delete('/opt/flannel/subnet.env');
    const r = await run(() => start([...h21Args(url), '--program', 'flanneld-7-21', '--no-wait'], host));
    assert.equal(r.code, 0);
    assert.match(host.files.get('/etc/supervisord.d/flannel.ini')!.content, /^\[program:flanneld-7-21\]\n/);
    assert.equal(host.files.get('/opt/flannel/subnet.env')!.content, h21Fixture('h21-subnet.env'));
    assert.equal(host.files.get('/opt/flannel/flanneld.sh')!.mode, 0o755);
    assert.ok(host.ran.some((c) => c.argv.join(' ') === 'supervisorctl -c /etc/supervisord.conf update'));
    const other = h21Host(url);
    const before = new Map(other.files);
    await assert.rejects(
      start([...h21Args(url).map((a) => (a === '10.4.7.21' ? '10.4.7.99' : a)), '--no-wait'], other),
      /--public-ip "10\.4\.7\.99": is not an address of eth0/,
    );
    assert.deepEqual(other.files, before);
  });

  test('fleet: no published reports is not in sync (exit 1); a bad --stale-after is refused', async () => {
    const r = await run(() => fleet(['--endpoints', url], new MemoryHost()));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /no reports: run drift --publish on the nodes/);
    await assert.rejects(
      fleet(['--endpoints', url, '--stale-after', '0'], new MemoryHost()),
      /--stale-after "0": must be an integer/,
    );
  });
});
