// The lab's second L2 segment (createLab({ segments: 2 })) checked for real: hdss7-31 on
// 10.5.0.0/16 behind a router is reachable at L3 (etcd, the cert host, the outside), host-gw
// cannot reach it (the kernel refuses a next hop that is not on-link), vxlan between the
// segments carries pod traffic (the runbook's "VxLAN" / "Directrouting" spelling, the stand-in
// as v0.11.0 over etcd v2 with TLS), and lab.restartEtcd({ enableV2: false }) leaves a
// v0.11.0 flanneld with "response is invalid json" while the v0.20.2 stand-in, served by the
// lab as its release (flannelVersion: 'v0.20.2'), works over v3.
// The flanneld stand-ins run directly in the node namespaces (no runbook step scripts here).
// One lab in before(), torn down in after() even when a test fails. Root only.
// Run: node --import tsx --test tests/ns/lab-segments.test.ts

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { standinPath } from '../../lab/flanneld/pack.ts';
import { cleanupLeftovers, createLab, type Lab, type LabNode } from '../../lab/lab.ts';
import { listNetns } from '../../lab/netns.ts';
import { ETC_NETNS, labDirOf } from '../../lab/state.ts';
import { pingTtl, routesIn, whoami } from '../../lab/verify.ts';

process.env.SHLVL ??= '1';
const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables and mounts' : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The stand-in as v0.11.0, bundled (run directly as `node STANDIN_PATH ...`). */
const STANDIN_PATH = await standinPath();

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A flanneld (the stand-in, or `bin`) in a node's namespace, its stderr collected. */
class Flanneld {
  readonly child: ChildProcess;
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(node: LabNode, args: readonly string[], bin?: string) {
    const argv = bin ? [bin, ...args] : [process.execPath, STANDIN_PATH, ...args];
    this.child = spawn('ip', ['netns', 'exec', node.netns, ...argv], {
      cwd: node.root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    running.add(this);
  }
  waitLog(re: RegExp, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      `${re} (stderr so far:\n${this.stderr.slice(-1200)})`,
      async () => this.stderr.split('\n').find((l) => re.test(l)),
      timeoutMs,
      50,
    );
  }
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    const code = await this.exited;
    running.delete(this);
    return code;
  }
}
const running = new Set<Flanneld>();

describe('lab with a second L2 segment behind a router (createLab({ segments: 2 }))', { skip: notRoot }, () => {
  let lab: Lab;
  const ac = new AbortController();
  const onSignal = () => {
    ac.abort();
    void Promise.resolve(lab?.destroy()).finally(() => process.exit(130));
  };

  before(async () => {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    await cleanupLeftovers();
    // no REJECT rules: the INPUT one would also refuse vxlan's UDP 8472 (the runbook's snat-fix drops them)
    lab = await createLab({ segments: 2, rejectRules: false, flannelVersion: 'v0.20.2', signal: ac.signal });
  });
  after(async () => {
    for (const f of running) f.child.kill('SIGKILL');
    await lab?.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  const node = (name: string) => lab.nodes.find((n) => n.name === name)!;
  const tls = () => [
    `--etcd-cafile=${lab.etcd.cafile}`,
    `--etcd-certfile=${lab.etcd.certfile}`,
    `--etcd-keyfile=${lab.etcd.keyfile}`,
  ];
  const args = (n: LabNode) => [
    `--public-ip=${n.ip}`,
    '--iface=eth0',
    `--etcd-endpoints=${lab.etcd.endpoints.join(',')}`,
    ...tls(),
    `--subnet-file=${join(n.root, 'subnet.env')}`,
    '--healthz-port=0',
  ];
  const writeSubnetEnv = (n: LabNode) =>
    writeFile(
      join(n.root, 'subnet.env'),
      `FLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET=${n.bridgeIp}/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`,
    );
  const podRoutes = async (n: LabNode) =>
    (await routesIn(lab, n.netns))
      .filter((r) => r.dst.startsWith('172.7.') && r.gateway)
      .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`)
      .sort();

  test('hdss7-31 is a node on l2b (10.5.7.31/16, default via the router); l2 hosts reach l2b via 10.4.0.254', async () => {
    const h31 = node('hdss7-31');
    assert.deepEqual(
      [h31.ip, h31.segment, h31.subnet, h31.pod.ip, h31.program],
      ['10.5.7.31', 'l2b', '172.7.31.0/24', '172.7.31.2', 'flanneld-7-31'],
    );
    assert.deepEqual(
      lab.nodes.map((n) => `${n.name} ${n.segment}`),
      ['hdss7-21 l2', 'hdss7-22 l2', 'hdss7-31 l2b'],
    );
    assert.deepEqual(lab.router?.ips, ['10.4.0.254', '10.5.0.1']);
    for (const ns of lab.namespaces) assert.ok(ns.startsWith(`${lab.prefix}-`), ns);
    const r31 = await routesIn(lab, h31.netns);
    assert.deepEqual(
      r31.find((r) => r.dst === 'default'),
      { dst: 'default', gateway: '10.5.0.1', dev: 'eth0', flags: [] },
    );
    for (const h of Object.values(lab.hosts).filter((x) => x.segment === 'l2')) {
      const r = await routesIn(lab, h.netns);
      assert.deepEqual(
        r.find((x) => x.dst === '10.5.0.0/16'),
        { dst: '10.5.0.0/16', gateway: '10.4.0.254', dev: 'eth0', flags: [] },
        h.name,
      );
      assert.equal(r.find((x) => x.dst === 'default')?.gateway, '10.4.0.1', h.name);
    }
    const ports = JSON.parse(
      (await lab.exec(lab.topology.segments[1]!.netns, ['ip', '-j', 'link', 'show', 'master', 'br0'])).stdout,
    ) as { ifname: string }[];
    assert.deepEqual(ports.map((p) => p.ifname).sort(), ['h31', 'rtr']);
    assert.match((await lab.exec(h31.netns, ['getent', 'hosts', 'hdss7-21'])).stdout, /^10\.4\.7\.21\s+hdss7-21\n$/);
  });

  test('reachable at L3 through the router: ping TTL 63, etcd over TLS, the (v0.20.2) tarball, the outside host', async () => {
    const h21 = node('hdss7-21');
    const h31 = node('hdss7-31');
    assert.equal(await pingTtl(lab, h21.netns, h31.ip), 63);
    assert.equal(await pingTtl(lab, h31.netns, '10.4.7.12'), 63);
    assert.equal(await pingTtl(lab, h31.pod.netns, h31.bridgeIp), 64);
    const health = await lab.exec(
      h31.netns,
      [
        'etcdctl',
        '--endpoints',
        lab.etcd.endpoints.join(','),
        '--cacert',
        lab.etcd.cafile,
        '--cert',
        lab.etcd.certfile,
        '--key',
        lab.etcd.keyfile,
        'endpoint',
        'health',
      ],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    assert.equal((health.stdout + health.stderr).split('\n').filter((l) => /is healthy/.test(l)).length, 3);
    assert.equal(lab.flannelVersion, 'v0.20.2');
    assert.equal(
      lab.tarball.url,
      'http://10.4.7.200:8080/flannel-io/flannel/releases/download/v0.20.2/flannel-v0.20.2-linux-amd64.tar.gz',
    );
    const dest = join(h31.root, 'flannel-v0.20.2-linux-amd64.tar.gz');
    await lab.exec(h31.netns, ['curl', '-sS', '--fail', '-o', dest, lab.tarball.url]);
    assert.equal(
      createHash('sha256')
        .update(await readFile(dest))
        .digest('hex'),
      lab.tarball.sha256,
    );
    assert.equal(await whoami(lab, h31.netns, lab.outside.ip), '10.5.7.31');
  });

  test('host-gw cannot reach it: the kernel refuses 10.5.7.31 as a next hop (not on-link); DirectRouting sees a gateway', async () => {
    const h21 = node('hdss7-21');
    const r = await lab.exec(h21.netns, ['ip', 'route', 'add', '172.7.31.0/24', 'via', '10.5.7.31', 'dev', 'eth0'], {
      okStatus: [2],
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Nexthop has invalid gateway|Network is unreachable/);
    const get = JSON.parse((await lab.exec(h21.netns, ['ip', '-j', 'route', 'get', '10.5.7.31'])).stdout) as {
      gateway?: string;
    }[];
    assert.equal(get[0]?.gateway, '10.4.0.254');
    const direct = JSON.parse((await lab.exec(h21.netns, ['ip', '-j', 'route', 'get', '10.4.7.22'])).stdout) as {
      gateway?: string;
    }[];
    assert.equal(direct[0]?.gateway, undefined);
  });

  test('vxlan between the segments (the runbook\'s "VxLAN" + "Directrouting", etcd v2 over TLS): hdss7-22 direct, hdss7-31 through flannel.1, pods ping', async () => {
    await lab.etcdctl(
      [
        'set',
        '/coreos.com/network/config',
        '{"Network": "172.7.0.0/16", "Backend": {"Type": "VxLAN", "Directrouting": true}}',
      ],
      { api: 2 },
    );
    const fs: Flanneld[] = [];
    for (const n of lab.nodes) {
      await writeSubnetEnv(n);
      fs.push(new Flanneld(n, args(n)));
    }
    const f21 = fs[0]!;
    await f21.waitLog(/\] Found network config - Backend type: VxLAN$/);
    await f21.waitLog(/\] VXLAN config: VNI=1 Port=0 GBP=false DirectRouting=true$/);
    const h21 = node('hdss7-21');
    const h31 = node('hdss7-31');
    await waitFor(
      'h21: h22 direct, h31 through flannel.1',
      async () =>
        JSON.stringify(await podRoutes(h21)) ===
        JSON.stringify(['172.7.22.0/24 via 10.4.7.22 dev eth0', '172.7.31.0/24 via 172.7.31.0 dev flannel.1']),
      8000,
    );
    await waitFor(
      'h31: both through flannel.1',
      async () =>
        JSON.stringify(await podRoutes(h31)) ===
        JSON.stringify(['172.7.21.0/24 via 172.7.21.0 dev flannel.1', '172.7.22.0/24 via 172.7.22.0 dev flannel.1']),
      8000,
    );
    for (const [a, b] of [
      ['hdss7-21', 'hdss7-31'],
      ['hdss7-31', 'hdss7-22'],
      ['hdss7-21', 'hdss7-22'],
    ] as const) {
      assert.equal(await pingTtl(lab, node(a).pod.netns, node(b).pod.ip), 62, `${a} pod -> ${b} pod`);
    }
    assert.match(await readFile(join(h31.root, 'subnet.env'), 'utf8'), /^FLANNEL_MTU=1450$/m);
    for (const f of fs) assert.equal(await f.stop(), 0);
  });

  test('etcd restarted without v2: flanneld v0.11.0 gets "response is invalid json"; v0.20.2 (etcd v3, TLS) carries vxlan across', async () => {
    await lab.restartEtcd({ enableV2: false });
    const h21 = node('hdss7-21');
    const h31 = node('hdss7-31');
    const v2 = await lab.exec(h21.netns, [
      'curl',
      '-sS',
      '--cacert',
      lab.etcd.cafile,
      '--cert',
      lab.etcd.certfile,
      '--key',
      lab.etcd.keyfile,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'https://10.4.7.12:2379/v2/keys/coreos.com/network/config',
    ]);
    assert.equal(v2.stdout, '404');
    const old = new Flanneld(h31, args(h31));
    await old.waitLog(
      /\] Couldn't fetch network config: client: response is invalid json\. The endpoint is probably not valid etcd cluster endpoint\.$/,
    );
    assert.equal(await old.stop(), 0);

    await lab.etcdctl([
      'put',
      '/coreos.com/network/config',
      '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}',
    ]);
    // the v0.11.0 run's routes are still there (stopping flanneld removes nothing): start clean
    for (const n of [h21, h31])
      for (const r of await podRoutes(n)) await lab.exec(n.netns, ['ip', 'route', 'del', r.split(' ')[0]!]);
    // the lab serves v0.20.2: each node runs the tarball's ./flanneld, as the runbook would
    for (const n of [h21, h31]) {
      await lab.exec(n.netns, ['curl', '-sS', '--fail', '-o', join(n.root, 'flannel.tgz'), lab.tarball.url]);
      await lab.exec(n.netns, ['tar', 'xf', join(n.root, 'flannel.tgz'), '-C', n.root]);
    }
    const bin = './flanneld';
    assert.equal((await lab.exec(h21.netns, [bin, '--version'], { cwd: h21.root })).stderr, 'v0.20.2\n');
    // one after the other: v0.20.2 reads only the first event of each etcd watch response, and a
    // peer's lease written while a fresh watch catches up can be lost (as docs/flannel-facts.md says)
    const fs: Flanneld[] = [];
    for (const n of [h21, h31]) {
      await writeSubnetEnv(n);
      fs.push(new Flanneld(n, args(n), bin));
      await fs.at(-1)!.waitLog(/\] Waiting for \S+ to renew lease$/);
    }
    const logs = () => fs.map((f) => f.stderr).join('\n----\n');
    await waitFor(
      'h21 -> h31 through flannel.1 (v3 leases)',
      async () => (await podRoutes(h21)).includes('172.7.31.0/24 via 172.7.31.0 dev flannel.1'),
      8000,
    ).catch((e) => assert.fail(`${e.message}\n${logs()}`));
    await waitFor(
      'h31 -> h21 through flannel.1 (v3 leases)',
      async () => (await podRoutes(h31)).includes('172.7.21.0/24 via 172.7.21.0 dev flannel.1'),
      8000,
    ).catch((e) => assert.fail(`${e.message}\n${logs()}`));
    assert.equal(await pingTtl(lab, h21.pod.netns, h31.pod.ip), 62);
    const leases = (await lab.etcdctl(['get', '--prefix', '/coreos.com/network/subnets/', '--print-value-only'])).stdout
      .trim()
      .split('\n')
      .filter(Boolean);
    assert.deepEqual(leases.map((v) => JSON.parse(v).PublicIP).sort(), ['10.4.7.21', '10.5.7.31']);
    for (const v of leases)
      assert.match(
        v,
        /^\{"PublicIP":"[\d.]+","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}\}$/,
      );
    // v0.20.2 ends in a panic on SIGTERM (exit 2)
    for (const f of fs) assert.equal(await f.stop(), 2);
  });

  test('teardown leaves no namespace, /etc/netns dir or labdir of this lab', async () => {
    const prefix = lab.prefix;
    await lab.destroy();
    assert.deepEqual(
      (await listNetns()).filter((n) => n.startsWith(`${prefix}-`)),
      [],
    );
    assert.deepEqual(existsSync(ETC_NETNS) ? readdirSync(ETC_NETNS).filter((d) => d.startsWith(`${prefix}-`)) : [], []);
    assert.equal(existsSync(labDirOf(prefix)), false);
  });
});
