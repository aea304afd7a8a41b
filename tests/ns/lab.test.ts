// The lab (lab/lab.ts) checked for real: one lab is built in before() and torn down in
// after() (which runs even when a test fails); every test asserts what crossed the wire or
// what the kernel holds: etcd answers over TLS and refuses a client without a certificate,
// scp copies the cert host's /opt/certs byte for byte, the tarball's sha256 over HTTP, TTLs,
// routes, leases in etcd v2, the source address a server saw. Then teardown must leave
// nothing behind and the root namespace exactly as it was.
// Root only (namespaces, iptables, mounts): skipped with a reason otherwise.
// With LAB_FLANNELD_BIN=/path/to/flanneld (or LAB_FLANNEL_TARBALL=release.tar.gz) the
// runbook runs with that flanneld instead of the stand-in.
// Run: node --import tsx --test tests/ns/lab.test.ts

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standinPath } from '../../lab/flanneld/pack.ts';
import { runbookByHand } from '../../lab/runbook-by-hand.ts';
import { cleanupLeftovers, createLab, destroyLab, listLabs, readState, type Lab, type LabNode } from '../../lab/lab.ts';
import { listNetns } from '../../lab/netns.ts';
import { pidAlive, run } from '../../lab/proc.ts';
import { ETC_NETNS, labDirOf, type LabState } from '../../lab/state.ts';
import { planNetnsBatch, planTopology, planVethBatch, renderNodeFirewall, tarballUrlPath } from '../../lab/topology.ts';
import { missingHostGwRoutes, pingTtl, rowOk, routesIn, verifyLab, whoami } from '../../lab/verify.ts';

process.env.SHLVL ??= '1';

const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces, iptables and mounts' : false;
const flanneldBin = process.env.LAB_FLANNELD_BIN;
const flannelTarball = process.env.LAB_FLANNEL_TARBALL;

/** The stand-in as v0.11.0, bundled (a failed build fails this file rather than skipping it). */
const STANDIN_PATH = await standinPath();

/** The stand-in counts as there once its source no longer calls itself a stub. */
function standinReady(): boolean {
  try {
    const head = readFileSync(STANDIN_PATH, 'utf8').split('\n').slice(0, 4).join('\n');
    return !/\bstub\b/i.test(head);
  } catch {
    return false;
  }
}
const noFlanneld =
  flanneldBin || flannelTarball || standinReady()
    ? false
    : 'the flanneld stand-in (lab/flanneld/src/) is still a stub; LAB_FLANNELD_BIN=/path/to/flanneld runs these with another flanneld';

// ---------------------------------------------------------------------------------------------
// the root namespace, before and after

interface RootSnapshot {
  readonly addr: unknown;
  readonly route: unknown;
  readonly route6: unknown;
  readonly rule: unknown;
  readonly link: unknown;
  readonly iptables: string;
}

const VOLATILE = new Set(['valid_life_time', 'preferred_life_time', 'stats', 'stats64', 'expires', 'used']);
function stripVolatile(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripVolatile);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, x]) => [k, stripVolatile(x)]),
    );
  }
  return v;
}

async function snapshotRoot(): Promise<RootSnapshot> {
  const j = async (argv: string[]) => stripVolatile(JSON.parse((await run(argv)).stdout || '[]'));
  const ipt = (await run(['iptables-save'])).stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
  return {
    addr: await j(['ip', '-j', 'addr', 'show']),
    route: await j(['ip', '-j', 'route', 'show']),
    route6: await j(['ip', '-j', '-6', 'route', 'show']),
    rule: await j(['ip', '-j', 'rule', 'show']),
    link: await j(['ip', '-j', 'link', 'show']),
    iptables: ipt,
  };
}

/** PIDs of processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Everything of one run still on the machine (empty lists = nothing left). */
async function leftoversOf(prefix: string, state: LabState | undefined) {
  return {
    netns: (await listNetns()).filter((n) => n.startsWith(`${prefix}-`)),
    etcNetns: existsSync(ETC_NETNS) ? readdirSync(ETC_NETNS).filter((d) => d.startsWith(`${prefix}-`)) : [],
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(prefix)),
    labdir: existsSync(labDirOf(prefix)) ? [labDirOf(prefix)] : [],
    recordedPids: (state?.pids ?? []).filter(pidAlive).map((p) => `${p.pid} ${p.what}`),
    processes: processesMentioning(labDirOf(prefix)).map(String),
  };
}
const NOTHING = { netns: [], etcNetns: [], mounts: [], labdir: [], recordedPids: [], processes: [] };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------

describe('lab topology plan (pure)', () => {
  test("the default plan is the runbook's cluster", () => {
    const t = planTopology({ prefix: 'frb0000', dir: '/tmp/frb0000-lab' });
    assert.deepEqual(
      t.hosts.map((h) => [h.name, h.ip, h.netns, h.etcd, h.node?.subnet ?? null, h.certHost]),
      [
        ['hdss7-12', '10.4.7.12', 'frb0000-h12', true, null, false],
        ['hdss7-21', '10.4.7.21', 'frb0000-h21', true, '172.7.21.0/24', false],
        ['hdss7-22', '10.4.7.22', 'frb0000-h22', true, '172.7.22.0/24', false],
        ['hdss7-200', '10.4.7.200', 'frb0000-h200', false, null, true],
      ],
    );
    assert.equal(t.hosts[1]!.root, '/tmp/frb0000-lab/hdss7-21');
    // every veth is made with both ends already in lab namespaces
    for (const line of planVethBatch(t.veths))
      assert.match(line, /^link add \S+ netns frb0000-\S+ type veth peer name \S+ netns frb0000-\S+$/);
  });

  test('node i is hdss7-(21+i); only the first two nodes are etcd members', () => {
    const t = planTopology({ prefix: 'frb0000', dir: '/x', nodes: 4 });
    assert.deepEqual(
      t.hosts.filter((h) => h.node).map((h) => [h.name, h.node!.subnet, h.node!.program, h.etcd]),
      [
        ['hdss7-21', '172.7.21.0/24', 'flanneld-7-21', true],
        ['hdss7-22', '172.7.22.0/24', 'flanneld-7-22', true],
        ['hdss7-23', '172.7.23.0/24', 'flanneld-7-23', false],
        ['hdss7-24', '172.7.24.0/24', 'flanneld-7-24', false],
      ],
    );
    assert.throws(() => planTopology({ prefix: 'frb0000', dir: '/x', nodes: 1 }), /nodes 1: must be an integer 2-20/);
    assert.throws(() => planTopology({ prefix: 'Bad-', dir: '/x' }), /prefix "Bad-"/);
  });

  test('a node namespace: docker0 before its port, then addresses, then the default route', () => {
    const t = planTopology({ prefix: 'frb0000', dir: '/x' });
    assert.deepEqual(planNetnsBatch(t.namespaces.find((n) => n.netns === 'frb0000-h21')!, t.veths), [
      'link set lo up',
      'link add docker0 type bridge',
      'addr add 172.7.21.1/24 dev docker0',
      'link set docker0 up',
      'link set eth0 up',
      'link set veth21 master docker0',
      'link set veth21 up',
      'addr add 10.4.7.21/16 dev eth0',
      'route replace default via 10.4.0.1',
    ]);
  });

  test('segments: 2 adds l2b (10.5.0.0/16) behind a router and hdss7-31 on it; the default plan has neither', () => {
    const plain = planTopology({ prefix: 'frb0000', dir: '/x' });
    assert.equal(plain.router, undefined);
    assert.deepEqual(
      plain.segments.map((s) => s.name),
      ['l2'],
    );
    assert.ok(plain.namespaces.every((n) => !n.routes.some((r) => r.dst === '10.5.0.0/16')));

    const t = planTopology({ prefix: 'frb0000', dir: '/x', segments: 2 });
    assert.deepEqual(
      t.segments.map((s) => [s.name, s.netns, s.cidr, s.gateway]),
      [
        ['l2', 'frb0000-l2', '10.4.0.0/16', '10.4.0.1'],
        ['l2b', 'frb0000-l2b', '10.5.0.0/16', '10.5.0.1'],
      ],
    );
    assert.deepEqual(t.router, { netns: 'frb0000-rtr', ips: ['10.4.0.254', '10.5.0.1'] });
    const h31 = t.hosts.find((h) => h.name === 'hdss7-31')!;
    assert.deepEqual(
      [h31.ip, h31.cidr, h31.segment, h31.netns, h31.etcd, h31.node?.subnet, h31.node?.pod.ip],
      ['10.5.7.31', '10.5.7.31/16', 'l2b', 'frb0000-h31', false, '172.7.31.0/24', '172.7.31.2'],
    );
    const batch = (ns: string) => planNetnsBatch(t.namespaces.find((n) => n.netns === ns)!, t.veths);
    assert.deepEqual(batch('frb0000-rtr'), [
      'link set lo up',
      'link set eth0 up',
      'link set eth1 up',
      'addr add 10.4.0.254/16 dev eth0',
      'addr add 10.5.0.1/16 dev eth1',
      'route replace default via 10.4.0.1',
    ]);
    assert.deepEqual(batch('frb0000-h31').slice(-2), [
      'addr add 10.5.7.31/16 dev eth0',
      'route replace default via 10.5.0.1',
    ]);
    for (const ns of ['frb0000-h12', 'frb0000-h21', 'frb0000-h200', 'frb0000-gw'])
      assert.equal(batch(ns).at(-1), 'route replace 10.5.0.0/16 via 10.4.0.254', ns);
    assert.ok(t.namespaces.find((n) => n.netns === 'frb0000-rtr')!.forward);
    assert.deepEqual(
      planVethBatch(t.veths).filter((l) => /rtr|h31/.test(l)),
      [
        'link add eth0 netns frb0000-rtr type veth peer name rtr netns frb0000-l2',
        'link add eth1 netns frb0000-rtr type veth peer name rtr netns frb0000-l2b',
        'link add eth0 netns frb0000-h31 type veth peer name h31 netns frb0000-l2b',
        'link add eth0 netns frb0000-p31 type veth peer name veth31 netns frb0000-h31',
      ],
    );
    assert.deepEqual(
      planTopology({ prefix: 'frb0000', dir: '/x', segments: 2, remoteNodes: 2 })
        .hosts.filter((h) => h.segment === 'l2b')
        .map((h) => h.ip),
      ['10.5.7.31', '10.5.7.32'],
    );
    assert.throws(
      () => planTopology({ prefix: 'frb0000', dir: '/x', remoteNodes: 1 }),
      /remoteNodes 1: needs segments: 2/,
    );
    assert.throws(() => planTopology({ prefix: 'frb0000', dir: '/x', segments: 3 as 2 }), /segments 3: must be 1 or 2/);
    assert.throws(
      () => planTopology({ prefix: 'frb0000', dir: '/x', segments: 2, remoteNodes: 10 }),
      /remoteNodes 10: must be an integer 1-9/,
    );
  });

  test('the release tarball path follows the flannel version (coreos/flannel, later flannel-io/flannel)', () => {
    assert.equal(
      tarballUrlPath('v0.11.0'),
      '/coreos/flannel/releases/download/v0.11.0/flannel-v0.11.0-linux-amd64.tar.gz',
    );
    assert.equal(
      tarballUrlPath('v0.20.2'),
      '/flannel-io/flannel/releases/download/v0.20.2/flannel-v0.20.2-linux-amd64.tar.gz',
    );
  });

  test('the node firewall: REJECT rules only with rejectRules, etcd ports only on members', () => {
    const t = planTopology({ prefix: 'frb0000', dir: '/x', nodes: 3 });
    const h21 = t.hosts.find((h) => h.name === 'hdss7-21')!;
    const h23 = t.hosts.find((h) => h.name === 'hdss7-23')!;
    assert.match(
      renderNodeFirewall(h21, { rejectRules: true }),
      /-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n/,
    );
    assert.doesNotMatch(renderNodeFirewall(h21, { rejectRules: false }), /REJECT/);
    assert.match(renderNodeFirewall(h21, { rejectRules: true }), /--dport 2380 -j ACCEPT/);
    assert.doesNotMatch(renderNodeFirewall(h23, { rejectRules: true }), /--dport 2379/);
    assert.match(
      renderNodeFirewall(h23, { rejectRules: true }),
      /-A POSTROUTING -s 172\.7\.23\.0\/24 ! -o docker0 -j MASQUERADE\n/,
    );
  });
});

describe('lab', { skip: notRoot }, () => {
  let rootBefore: RootSnapshot;
  let lab: Lab;
  let buildMs = 0;

  // Ctrl-C (SIGINT) or the runner's SIGTERM: stop a build in progress (it removes what it
  // made) or tear the lab down, then leave. A SIGKILL is left to the next run's cleanupLeftovers.
  const ac = new AbortController();
  let building: Promise<unknown> = Promise.resolve();
  const onSignal = () => {
    if (ac.signal.aborted) return;
    // the runner exits at once on Ctrl-C: writing results to its closed pipe must not kill us
    // before the teardown is done
    for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
    process.on('uncaughtException', () => {});
    ac.abort();
    void building
      .catch(() => {})
      .then(() => lab?.destroy())
      .catch(() => {})
      .finally(() => process.exit(130));
  };

  before(async () => {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // a crashed earlier run's leftovers (its owner is dead): ours to remove, nobody else's
    await cleanupLeftovers();
    rootBefore = await snapshotRoot();
    const t0 = performance.now();
    const b = createLab({
      ...(flanneldBin && { flanneldBin }),
      ...(flannelTarball && { flannelTarball }),
      signal: ac.signal,
    });
    building = b;
    lab = await b;
    buildMs = performance.now() - t0;
  });
  // registered at once: runs even when before() or a test fails; destroy() is idempotent
  after(async () => {
    await lab?.destroy();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  const h = (name: string) => lab.hosts[name]!;
  const n = (i: number): LabNode => lab.nodes[i]!;

  describe('topology', () => {
    test('the lab is built with a unique prefix on every namespace', (t) => {
      t.diagnostic(`lab build: ${(buildMs / 1000).toFixed(2)} s (${lab.prefix}, ${lab.namespaces.length} namespaces)`);
      assert.match(lab.prefix, /^frb[0-9a-f]{4}$/);
      for (const ns of lab.namespaces) assert.ok(ns.startsWith(`${lab.prefix}-`), ns);
      assert.deepEqual(Object.keys(lab.hosts).sort(), ['hdss7-12', 'hdss7-200', 'hdss7-21', 'hdss7-22']);
      assert.deepEqual(
        lab.nodes.map((x) => [x.name, x.ip, x.subnet, x.program]),
        [
          ['hdss7-21', '10.4.7.21', '172.7.21.0/24', 'flanneld-7-21'],
          ['hdss7-22', '10.4.7.22', '172.7.22.0/24', 'flanneld-7-22'],
        ],
      );
    });

    test('every host has its address on eth0 and a default route via the gateway', async () => {
      for (const host of Object.values(lab.hosts)) {
        const addrs = JSON.parse(
          (await lab.exec(host.netns, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout,
        );
        assert.equal(addrs[0].addr_info[0].local, host.ip, host.name);
        assert.equal(addrs[0].addr_info[0].prefixlen, 16, host.name);
        const def = (await routesIn(lab, host.netns)).find((r) => r.dst === 'default');
        assert.deepEqual({ gateway: def?.gateway, dev: def?.dev }, { gateway: '10.4.0.1', dev: 'eth0' }, host.name);
      }
    });

    test('the L2 segment bridge lives in its own namespace, not in the root namespace', async () => {
      const seg = lab.topology.segments[0]!;
      const ports = JSON.parse(
        (await lab.exec(seg.netns, ['ip', '-j', 'link', 'show', 'master', seg.bridge])).stdout,
      ) as { ifname: string }[];
      assert.deepEqual(ports.map((p) => p.ifname).sort(), ['gw', 'h12', 'h200', 'h21', 'h22']);
      const rootLinks = JSON.parse((await run(['ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[];
      assert.deepEqual(
        rootLinks.filter((l) =>
          ['br0', 'h12', 'h21', 'h22', 'h200', 'gw', 'docker0', 'veth21', 'veth22'].includes(l.ifname),
        ),
        [],
      );
    });

    test('host names resolve per namespace through /etc/netns/<ns>/hosts, without DNS', async () => {
      const t0 = performance.now();
      const r = await lab.exec(n(0).netns, ['getent', 'hosts', 'hdss7-200', 'hdss7-12', 'hdss7-22']);
      assert.ok(performance.now() - t0 < 2000, 'no resolver timeout');
      assert.deepEqual(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(/\s+/)),
        [
          ['10.4.7.200', 'hdss7-200'],
          ['10.4.7.12', 'hdss7-12'],
          ['10.4.7.22', 'hdss7-22'],
        ],
      );
      assert.ok(existsSync(join(ETC_NETNS, n(0).netns, 'hosts')));
      // the root namespace's resolution is untouched
      assert.equal((await run(['getent', 'hosts', 'hdss7-200'], { okStatus: [2] })).status, 2);
    });

    test('nodes forward and carry the firewall of a CentOS node with Docker (one iptables-restore)', async () => {
      for (const node of lab.nodes) {
        assert.equal((await lab.exec(node.netns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
        const saved = (await lab.exec(node.netns, ['iptables-save'])).stdout;
        for (const rule of [
          `-A POSTROUTING -s ${node.subnet} ! -o docker0 -j MASQUERADE`,
          '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
          '-A INPUT -p icmp -j ACCEPT',
          '-A INPUT -i lo -j ACCEPT',
          '-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT',
          '-A INPUT -p tcp -m state --state NEW -m tcp --dport 2379 -j ACCEPT',
          '-A INPUT -p tcp -m state --state NEW -m tcp --dport 2380 -j ACCEPT',
          '-A INPUT -j REJECT --reject-with icmp-host-prohibited',
          '-A FORWARD -j REJECT --reject-with icmp-host-prohibited',
        ]) {
          assert.ok(saved.includes(`${rule}\n`), `${node.name}: ${rule}`);
        }
      }
    });

    test('pods reach their docker0 bridge (ttl=64: no hop)', async () => {
      for (const node of lab.nodes) {
        assert.equal(await pingTtl(lab, node.pod.netns, node.bridgeIp), 64, node.name);
        assert.equal(await pingTtl(lab, node.netns, node.pod.ip), 64, node.name);
      }
    });

    test('the outside host is reached through the gateway, no NAT: it sees the host address', async () => {
      assert.equal(await whoami(lab, h('hdss7-12').netns, lab.outside.ip, lab.outside.port), '10.4.7.12');
      assert.equal(await whoami(lab, n(0).netns, lab.outside.ip, lab.outside.port), '10.4.7.21');
      assert.equal(await pingTtl(lab, n(1).netns, lab.outside.ip), 63);
    });

    test('before the runbook, a pod cannot leave its node (FORWARD REJECT) and no host-gw route exists', async () => {
      assert.equal(await whoami(lab, n(0).pod.netns, lab.outside.ip, lab.outside.port), '');
      assert.deepEqual(await missingHostGwRoutes(lab, n(0)), [
        { dst: '172.7.22.0/24', gateway: '10.4.7.22', dev: 'eth0' },
      ]);
    });
  });

  describe('etcd', () => {
    test('three members are healthy over TLS with the client certificate', async () => {
      const health = await lab.etcdctl(['endpoint', 'health']);
      const lines = (health.stdout + health.stderr).trim().split('\n');
      assert.equal(lines.filter((l) => /is healthy/.test(l)).length, 3, lines.join('\n'));
      for (const ep of ['https://10.4.7.12:2379', 'https://10.4.7.21:2379', 'https://10.4.7.22:2379']) {
        assert.ok(
          lines.some((l) => l.startsWith(`${ep} is healthy`)),
          ep,
        );
      }
      const members = (await lab.etcdctl(['member', 'list', '-w', 'json'])).stdout;
      const list = JSON.parse(members).members as { name: string; peerURLs: string[]; clientURLs: string[] }[];
      assert.deepEqual(list.map((m) => [m.name, m.peerURLs[0], m.clientURLs[0]]).sort(), [
        ['etcd-server-7-12', 'https://10.4.7.12:2380', 'https://10.4.7.12:2379'],
        ['etcd-server-7-21', 'https://10.4.7.21:2380', 'https://10.4.7.21:2379'],
        ['etcd-server-7-22', 'https://10.4.7.22:2380', 'https://10.4.7.22:2379'],
      ]);
    });

    test('a client without a certificate is refused (client-cert auth)', async () => {
      const url = 'https://10.4.7.12:2379/version';
      const tls = ['--cacert', lab.etcd.cafile];
      const withCert = await lab.exec(n(0).netns, [
        'curl',
        '-sS',
        '--fail',
        '--max-time',
        '5',
        ...tls,
        '--cert',
        lab.etcd.certfile,
        '--key',
        lab.etcd.keyfile,
        url,
      ]);
      assert.match(withCert.stdout, /"etcdserver":"3\.4\./);
      // TLS 1.3 refuses the certificate-less client after the handshake: curl reports 35, 55 or 56
      const anyFailure = Array.from({ length: 99 }, (_, i) => i + 1);
      const without = await lab.exec(n(0).netns, ['curl', '-sS', '--max-time', '5', ...tls, url], {
        okStatus: anyFailure,
      });
      assert.notEqual(without.status, 0, without.stdout);
      assert.equal(without.stdout, '');
      const ctl = await lab.exec(
        n(0).netns,
        [
          'etcdctl',
          '--endpoints',
          'https://10.4.7.22:2379',
          ...tls,
          '--dial-timeout',
          '1s',
          '--command-timeout',
          '1s',
          'endpoint',
          'health',
        ],
        { env: { ...process.env, ETCDCTL_API: '3' }, okStatus: [1] },
      );
      assert.equal(ctl.status, 1);
    });

    test('the v2 API is enabled: a v2 set is read back over v2 HTTP, and is not in the v3 key space', async () => {
      const key = `/lab-test/${lab.prefix}`;
      await lab.etcdctl(['set', key, 'v2-value'], { api: 2 });
      const r = await lab.exec(n(1).netns, [
        'curl',
        '-sS',
        '--fail',
        '--cacert',
        lab.etcd.cafile,
        '--cert',
        lab.etcd.certfile,
        '--key',
        lab.etcd.keyfile,
        `https://10.4.7.22:2379/v2/keys${key}`,
      ]);
      assert.equal(JSON.parse(r.stdout).node.value, 'v2-value');
      assert.equal((await lab.etcdctl(['get', key, '--print-value-only'])).stdout.trim(), '');
      await lab.etcdctl(['rm', key], { api: 2 });
    });

    test('member certificates carry IP SANs (member, 127.0.0.1); the client certificate is clientAuth', async () => {
      const ca = new X509Certificate(await readFile(lab.etcd.cafile));
      const client = new X509Certificate(await readFile(lab.etcd.certfile));
      assert.ok(client.verify(ca.publicKey) && client.checkIssued(ca));
      assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      assert.ok(
        client.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(lab.etcd.keyfile))),
      );
      for (const m of ['hdss7-12', 'hdss7-21', 'hdss7-22']) {
        const cert = new X509Certificate(await readFile(join(h(m).root, 'opt', 'etcd', 'certs', 'etcd-peer.pem')));
        assert.equal(cert.subjectAltName, `IP Address:${h(m).ip}, IP Address:127.0.0.1`, m);
        assert.ok(cert.verify(ca.publicKey), m);
      }
    });
  });

  describe('cert host', () => {
    test("scp over the real sshd copies /opt/certs byte for byte (the bind mount is sshd's only)", async () => {
      const dest = await mkdtemp(join(tmpdir(), `${lab.prefix}-scp-`));
      try {
        for (const f of ['ca.pem', 'client.pem', 'client-key.pem']) {
          await lab.exec(n(0).netns, [
            'scp',
            '-i',
            lab.certHost.identity,
            '-o',
            'BatchMode=yes',
            '-o',
            `UserKnownHostsFile=${lab.certHost.knownHosts}`,
            `root@hdss7-200:/opt/certs/${f}`,
            join(dest, f),
          ]);
          assert.deepEqual(await readFile(join(dest, f)), await readFile(join(lab.certHost.certsPath, f)), f);
        }
        assert.deepEqual(await readFile(join(dest, 'ca.pem')), await readFile(lab.etcd.cafile));
        assert.equal(statSync(join(lab.certHost.certsPath, 'client-key.pem')).mode & 0o777, 0o600);
        // the machine's own /opt is untouched
        assert.equal(
          existsSync('/opt/certs/client-key.pem') &&
            readFileSync('/opt/certs/client-key.pem').equals(readFileSync(lab.etcd.keyfile)),
          false,
        );
      } finally {
        await rm(dest, { recursive: true, force: true });
      }
    });

    test('host key checking stays on: an unknown host key is refused', async () => {
      const r = await lab.exec(
        n(1).netns,
        [
          'ssh',
          '-i',
          lab.certHost.identity,
          '-o',
          'BatchMode=yes',
          '-o',
          'UserKnownHostsFile=/dev/null',
          '-o',
          'StrictHostKeyChecking=yes',
          'root@hdss7-200',
          'true',
        ],
        { okStatus: [255] },
      );
      assert.equal(r.status, 255);
      assert.match(r.stderr, /Host key verification failed/);
    });

    test('the release tarball is fetched over HTTP from hdss7-200 with the right sha256', async () => {
      assert.equal(
        lab.tarball.url,
        'http://10.4.7.200:8080/coreos/flannel/releases/download/v0.11.0/flannel-v0.11.0-linux-amd64.tar.gz',
      );
      const dest = join(lab.dir, `fetch-test.tar.gz`);
      await lab.exec(n(1).netns, ['curl', '-sS', '--fail', '-o', dest, lab.tarball.url]);
      assert.equal(sha256(await readFile(dest)), lab.tarball.sha256);
      assert.equal(sha256(await readFile(lab.tarball.path)), lab.tarball.sha256);
      const list = (await run(['tar', 'tzf', dest])).stdout.trim().split('\n').sort();
      assert.deepEqual(list, ['README.md', 'flanneld', 'mk-docker-opts.sh']);
      const missing = await lab.exec(n(1).netns, [
        'curl',
        '-sS',
        '--path-as-is',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        'http://10.4.7.200:8080/../../etc/passwd',
      ]);
      assert.equal(missing.stdout, '404');
    });
  });

  describe('supervisord', () => {
    test("every node's supervisord answers supervisorctl status with its own config", async () => {
      for (const node of lab.nodes) {
        const r = await lab.supervisorctl(node, ['status'], { okStatus: [3, 4] });
        assert.doesNotMatch(r.stdout + r.stderr, /no such file|refused|error/i, node.name);
        const pid = (await lab.supervisorctl(node, ['pid'])).stdout.trim();
        assert.match(pid, /^\d+$/);
        // it runs inside the node's namespace
        const inNs = (await run(['ip', 'netns', 'pids', node.netns])).stdout.split('\n');
        assert.ok(inNs.includes(pid), `${node.name}: supervisord ${pid} not in ${node.netns}`);
      }
    });
  });

  describe('runbook by hand', { skip: noFlanneld }, () => {
    before(() => runbookByHand(lab));

    test('flanneld runs under supervisord on every node', async () => {
      for (const node of lab.nodes) {
        const r = await lab.supervisorctl(node, ['status', node.program], { okStatus: [3] });
        assert.match(r.stdout, new RegExp(`^${node.program}\\s+(STARTING|RUNNING)`), r.stdout);
      }
    });

    test("both leases are in etcd v2 with the runbook's public IPs and a TTL", async () => {
      const r = await lab.exec(n(0).netns, [
        'curl',
        '-sS',
        '--fail',
        '--cacert',
        lab.etcd.cafile,
        '--cert',
        lab.etcd.certfile,
        '--key',
        lab.etcd.keyfile,
        'https://10.4.7.12:2379/v2/keys/coreos.com/network/subnets',
      ]);
      const nodes = JSON.parse(r.stdout).node.nodes as { key: string; value: string; ttl?: number }[];
      const leases = nodes.map((x) => [x.key, JSON.parse(x.value).PublicIP, JSON.parse(x.value).BackendType]).sort();
      assert.deepEqual(leases, [
        ['/coreos.com/network/subnets/172.7.21.0-24', '10.4.7.21', 'host-gw'],
        ['/coreos.com/network/subnets/172.7.22.0-24', '10.4.7.22', 'host-gw'],
      ]);
      for (const x of nodes) assert.ok(x.ttl !== undefined && x.ttl > 0 && x.ttl <= 86400, `${x.key} ttl ${x.ttl}`);
    });

    test('host-gw routes: one per other node, via its address, on eth0', async () => {
      for (const [node, other] of [
        [n(0), n(1)],
        [n(1), n(0)],
      ] as const) {
        const routes = await routesIn(lab, node.netns);
        const r = routes.find((x) => x.dst === other.subnet);
        assert.deepEqual({ gateway: r?.gateway, dev: r?.dev }, { gateway: other.ip, dev: 'eth0' }, node.name);
        assert.equal(
          routes.find((x) => x.dst === node.subnet)?.dev,
          'docker0',
          `${node.name}: no route for its own lease`,
        );
      }
    });

    test('ping hdss7-21 -> 172.7.22.2 has ttl=63, pod -> remote pod ttl=62', async () => {
      assert.equal(await pingTtl(lab, n(0).netns, n(1).pod.ip), 63);
      assert.equal(await pingTtl(lab, n(0).pod.netns, n(1).pod.ip), 62);
      assert.equal(await pingTtl(lab, n(1).pod.netns, n(0).pod.ip), 62);
    });

    test('after the snat-fix the pod on hdss7-22 sees 172.7.21.2; the outside sees 10.4.7.21', async () => {
      assert.equal(await whoami(lab, n(0).pod.netns, n(1).pod.ip), '172.7.21.2');
      assert.equal(await whoami(lab, n(1).pod.netns, n(0).pod.ip), '172.7.22.2');
      assert.equal(await whoami(lab, n(0).pod.netns, lab.outside.ip, lab.outside.port), '10.4.7.21');
    });

    test('the verification table of `npm run lab` is all ok', async () => {
      const rows = await verifyLab(lab, { allPairs: true });
      assert.deepEqual(
        rows.filter((r) => !rowOk(r)),
        [],
      );
    });
  });

  describe('teardown', () => {
    test('leaves no namespace, process, /etc/netns dir, mount or labdir, and the root namespace as it was', async (t) => {
      const state = readState(lab.prefix);
      assert.ok(state && state.pids.length >= 8, 'the state file records the daemons');
      const t0 = performance.now();
      const report = await lab.destroy();
      t.diagnostic(
        `lab teardown: ${((performance.now() - t0) / 1000).toFixed(2)} s (killed ${report.killed} processes, ${report.netns.length} namespaces)`,
      );
      assert.deepEqual(await leftoversOf(lab.prefix, state), NOTHING);
      assert.deepEqual(await snapshotRoot(), rootBefore);
    });
  });
});

describe('a crashed run', { skip: notRoot }, () => {
  let prefix: string | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  after(async () => {
    child?.kill('SIGKILL');
    if (prefix) await destroyLab(prefix, { force: true });
  });

  test('is left alone while its owner lives, and removed by cleanupLeftovers() once it is dead', async (t) => {
    // a lab owned by another process that dies without tearing down
    const code = `
      import { createLab } from ${JSON.stringify(new URL('../../lab/lab.ts', import.meta.url).pathname)};
      const lab = await createLab();
      process.stdout.write(lab.prefix + '\\n');
      setInterval(() => {}, 1000);
    `;
    child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    prefix = await new Promise<string>((resolve, reject) => {
      let out = '';
      child!.stdout!.on('data', (b: Buffer) => {
        out += b;
        if (out.includes('\n')) resolve(out.trim());
      });
      child!.on('exit', (c) => reject(new Error(`lab child exited ${c} before building`)));
    });
    assert.match(prefix, /^frb[0-9a-f]{4}$/);
    assert.equal(listLabs().find((l) => l.prefix === prefix)?.ownerAlive, true);
    // (other runs' leftovers may be removed meanwhile: assert only about this one)
    assert.ok(!(await cleanupLeftovers()).includes(prefix), "a live owner's lab is not a leftover");
    assert.ok(existsSync(labDirOf(prefix)));
    await assert.rejects(destroyLab(prefix), /still owned by running process/);

    const state = readState(prefix);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    // its daemons outlive it: a leftover now
    assert.ok(state!.pids.some(pidAlive));
    const t0 = performance.now();
    assert.ok((await cleanupLeftovers()).includes(prefix));
    t.diagnostic(`leftover cleanup: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    assert.deepEqual(await leftoversOf(prefix, state), NOTHING);
  });
});

describe('an interrupted build (Ctrl-C in `npm run lab`)', { skip: notRoot }, () => {
  // abort when a build phase has reported: right after the namespaces are made (the PKI may
  // still be in the making), and 200 ms into the daemons' start (etcd electing a leader);
  // the build must remove everything it had made before it rejects
  for (const { phase, delayMs } of [
    { phase: 'network', delayMs: 0 },
    { phase: 'host roots', delayMs: 200 },
  ]) {
    test(`aborted ${delayMs ? `${delayMs} ms after` : 'right after'} "${phase}" leaves nothing behind`, async () => {
      const ac = new AbortController();
      let state: LabState | undefined;
      const mine = () => listLabs().find((l) => l.state.owner.pid === process.pid)?.prefix;
      const built = createLab({
        signal: ac.signal,
        log: (line) => {
          if (!line.startsWith(phase)) return;
          setTimeout(() => {
            state = readState(mine()!);
            ac.abort();
          }, delayMs);
        },
      });
      // the prefix is in the state file as soon as the build starts
      let prefix: string | undefined;
      for (let i = 0; i < 200 && !prefix; i++) {
        prefix = mine();
        if (!prefix) await new Promise((r) => setTimeout(r, 5));
      }
      await assert.rejects(built, /abort/i);
      assert.ok(prefix, 'the build recorded its prefix');
      assert.ok(state && state.netns.length > 0, 'the abort came after namespaces were made');
      if (delayMs) assert.ok(state!.pids.length > 0, 'the abort came while daemons were starting');
      assert.deepEqual(await leftoversOf(prefix!, state), NOTHING);
    });
  }
});
