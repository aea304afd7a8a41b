// vxlan checks on the real daemon's vxlan state (the observed v0.11.0 vxlan run, docs/flannel-facts.md fixtures): the
// JSON fixtures for neighbours and fdb are the `ip neigh` / `bridge fdb` lines of
// 61-vxlan-vxlan-dev.txt in iproute2's -j form (this machine's kernel has no vxlan devices).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkNode, planFixes, type NodeExpectation } from '../../lib/checks/index.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { parseV2Tree } from '../../lib/model/lease.ts';
import { parseIpRoute } from '../../lib/model/routes.ts';
import { parseIptablesSave } from '../../lib/model/iptables.ts';
import { formatPlan } from '../../lib/core/plan.ts';
import type { NodeObservation } from '../../lib/host/observe.ts';
import {
  checkVxlanDevice,
  diffVxlanPeers,
  parseFdb,
  parseNeighbours,
  planVxlanPeerCommands,
  vxlanPeers,
} from '../../lib/model/vxlan.ts';

const fx = (f: string) => readFileSync(`tests/fixtures/v0.11.0/${f}`, 'utf8');
const tree = parseV2Tree(fx('61-vxlan-etcd.json'));
const self = { publicIp: Ip4.parse('10.4.7.21') };
const flannel1 = {
  name: 'flannel.1',
  mtu: 1450,
  up: true,
  kind: 'vxlan',
  mac: '72:af:40:82:41:23',
  addrs: [Ip4Net.parse('172.7.21.0/32')],
  vxlan: { id: 1, local: '10.4.7.21', port: 8472, learning: false },
};
const eth0 = { name: 'eth0', mtu: 1500, up: true, addrs: [Ip4Net.parse('10.4.7.21/16')] };
// dockerd restarted with mk-docker-opts.sh's --mtu=1450 (the observed run left docker0 at 1500: mtu.bridge catches that)
const docker0 = { name: 'docker0', mtu: 1450, up: true, addrs: [Ip4Net.parse('172.7.21.1/24')] };
const SAVE =
  '*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 172.7.0.0/16 -j ACCEPT\n-A FORWARD -d 172.7.0.0/16 -j ACCEPT\nCOMMIT\n';

describe('vxlan', () => {
  test('the peer of hdss7-21 is hdss7-22 with its VtepMAC from the lease', () => {
    assert.deepEqual(
      vxlanPeers(tree.leases, self).map((p) => [p.subnet.toString(), p.publicIp.toString(), p.vtepMac]),
      [['172.7.22.0/24', '10.4.7.22', '5a:3f:40:67:88:d9']],
    );
  });

  test("the real daemon's neighbour and fdb entries are in sync with the leases", () => {
    const d = diffVxlanPeers(
      vxlanPeers(tree.leases, self),
      parseNeighbours(fx('61-vxlan-h21-neigh.json')),
      parseFdb(fx('61-vxlan-h21-fdb.json')),
    );
    assert.deepEqual(d, { neighbours: [], fdb: [] });
  });

  test('missing entries are restored with one ip -batch and one bridge -batch', () => {
    const d = diffVxlanPeers(vxlanPeers(tree.leases, self), [], []);
    assert.deepEqual(
      planVxlanPeerCommands(d, 'flannel.1').map((c) => [c.argv.join(' '), c.input]),
      [
        ['ip -batch -', 'neigh replace 172.7.22.0 lladdr 5a:3f:40:67:88:d9 dev flannel.1 nud permanent\n'],
        ['bridge -batch -', 'fdb replace 5a:3f:40:67:88:d9 dev flannel.1 dst 10.4.7.22 self permanent\n'],
      ],
    );
  });

  test('a stale MAC and a wrong fdb destination are named', () => {
    const d = diffVxlanPeers(
      vxlanPeers(tree.leases, self),
      parseNeighbours('[{"dst":"172.7.22.0","lladdr":"aa:aa:aa:aa:aa:aa","state":["PERMANENT"]}]'),
      parseFdb('[{"mac":"5a:3f:40:67:88:d9","dst":"10.4.7.99","flags":["self"],"state":"permanent"}]'),
    );
    assert.match(d.neighbours[0]!.why, /is aa:aa:aa:aa:aa:aa, the lease says 5a:3f:40:67:88:d9/);
    assert.match(d.fdb[0]!.why, /goes to 10\.4\.7\.99, the lease says 10\.4\.7\.22/);
  });

  test('DirectRouting: a same-L2 peer gets no neighbour or fdb entry', () => {
    assert.deepEqual(vxlanPeers(tree.leases, self, { directRouting: true, sameL2: () => true }), []);
  });

  test('the device is checked for kind, VNI, local IP, MTU 1450 and its /32 address', () => {
    const want = {
      name: 'flannel.1',
      vni: 1,
      publicIp: self.publicIp,
      mtu: 1450,
      subnet: Ip4Net.parse('172.7.21.0/24'),
      port: 8472,
    };
    assert.deepEqual(checkVxlanDevice(flannel1, want), []);
    assert.deepEqual(checkVxlanDevice({ ...flannel1, mtu: 1500 }, want), [
      'flannel.1 MTU 1500, not 1450 (iface MTU - 50)',
    ]);
    assert.deepEqual(checkVxlanDevice(undefined, want), [
      'no flannel.1 device (flanneld with the vxlan backend creates it)',
    ]);
  });

  test('bad neighbour/fdb output is refused with one line', () => {
    assert.throws(() => parseNeighbours('nope'), /ip -j neigh output "nope": is not JSON/);
    assert.throws(() => parseFdb('{}'), /bridge -j fdb output "\{\}": must be a JSON array/);
  });

  test('drift on the vxlan node: in sync; a deleted vxlan route (flanneld never restores it) is mended by --fix', () => {
    const expect: NodeExpectation = {
      name: 'hdss7-21',
      publicIp: self.publicIp,
      subnet: Ip4Net.parse('172.7.21.0/24'),
      iface: 'eth0',
      network: Ip4Net.parse('172.7.0.0/16'),
      bridge: 'docker0',
      program: 'flanneld-7-21',
      api: 'v2',
      prefix: '/coreos.com/network',
      reject: 'drop',
      flanneld: {
        publicIp: '10.4.7.21',
        endpoints: ['http://10.4.7.21:2379'],
        iface: 'eth0',
        subnetFile: './subnet.env',
        healthzPort: 2401,
        exec: true,
      },
      paths: {
        subnetEnv: '/opt/flannel/subnet.env',
        supervisorConf: '/etc/supervisord.conf',
        persist: '/etc/sysconfig/iptables',
      },
      certWarnDays: 30,
    };
    const obs = (routes: string): NodeObservation => ({
      at: new Date('2026-11-26T12:25:00Z'),
      etcd: { ok: true, value: { ...tree, api: 'v2' } },
      routes: { ok: true, value: parseIpRoute(routes) },
      iptablesSave: { ok: true, value: SAVE },
      ruleset: { ok: true, value: parseIptablesSave(SAVE) },
      ifaces: { ok: true, value: [eth0, docker0, flannel1] },
      supervisor: { ok: true, value: { program: 'flanneld-7-21', state: 'RUNNING', detail: 'pid 1, uptime 0:01:00' } },
      healthz: { ok: true, value: { status: 200, body: 'flanneld is running' } },
      files: {
        subnetEnv: fx('61-vxlan-subnet-h21.env'),
        flanneldSh:
          '#!/bin/sh\nexec ./flanneld --public-ip=10.4.7.21 --etcd-endpoints=http://10.4.7.21:2379 --iface=eth0 --subnet-file=./subnet.env --healthz-port=2401\n',
        persisted: SAVE,
        ipForward: '1',
      },
      vxlan: {
        dev: 'flannel.1',
        neighbours: { ok: true, value: parseNeighbours(fx('61-vxlan-h21-neigh.json')) },
        fdb: { ok: true, value: parseFdb(fx('61-vxlan-h21-fdb.json')) },
      },
      processes: 5,
    });
    const inSync = checkNode(expect, obs(fx('61-vxlan-route.json')));
    assert.deepEqual(
      inSync.filter((c) => c.status !== 'ok').map((c) => c.id),
      [],
    );
    const deleted = checkNode(
      expect,
      obs(JSON.stringify(JSON.parse(fx('61-vxlan-route.json')).filter((r: { dev: string }) => r.dev !== 'flannel.1'))),
    );
    assert.deepEqual(
      deleted.filter((c) => c.status !== 'ok').map((c) => c.id),
      ['routes.peers'],
    );
    assert.match(
      formatPlan(planFixes(deleted)),
      /route replace 172\.7\.22\.0\/24 via 172\.7\.22\.0 dev flannel\.1 onlink/,
    );
  });
});
