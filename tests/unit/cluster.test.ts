import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  etcdApiFor,
  etcdApiMismatch,
  formatClusterFile,
  parseClusterFile,
  runbookCluster,
  selectNode,
  subnetLenOf,
} from '../../lib/model/cluster.ts';
import { UsageError } from '../../lib/core/errors.ts';
import { Ip4Net } from '../../lib/core/ip4.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/cluster/${name}`, import.meta.url), 'utf8');
const runbookText = fixture('runbook-cluster.json');

/** The runbook cluster file with one change made by `edit` on its JSON. */
// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary JSON paths of the file
type Doc = Record<string, any>;
function edited(edit: (doc: Doc) => void): string {
  const doc = JSON.parse(runbookText);
  edit(doc);
  return JSON.stringify(doc);
}

describe('cluster', () => {
  test('reads the runbook cluster file as the runbook cluster', () => {
    assert.deepEqual(parseClusterFile(runbookText, 'runbook-cluster.json'), runbookCluster());
  });

  test('writes the runbook cluster as the fixture file, and reads its own output back', () => {
    assert.equal(formatClusterFile(runbookCluster()), runbookText);
    const minimal = parseClusterFile(fixture('minimal-cluster.json'), 'minimal-cluster.json');
    assert.deepEqual(parseClusterFile(formatClusterFile(minimal), 'x'), minimal);
  });

  test('fills the defaults of a minimal file', () => {
    const c = parseClusterFile(fixture('minimal-cluster.json'), 'minimal-cluster.json');
    assert.equal(c.flannelVersion, 'v0.11.0');
    assert.deepEqual(
      { ...c.etcd },
      {
        endpoints: ['http://127.0.0.1:2379'],
        cafile: '/opt/flannel/cert/ca.pem',
        certfile: '/opt/flannel/cert/client.pem',
        keyfile: '/opt/flannel/cert/client-key.pem',
        prefix: '/coreos.com/network',
        api: 'auto',
      },
    );
    assert.equal(c.bridge, 'docker0');
    assert.equal(c.healthzPort, 2401);
    assert.equal(c.subnetLen, undefined);
    assert.deepEqual(c.backend, { Type: 'vxlan', DirectRouting: true });
    assert.deepEqual(
      c.nodes.map((n) => n.program),
      ['flanneld-node-a', 'flanneld-node-b'],
    );
  });

  test("keeps the backend object raw, accepting flannel's case-insensitive spellings", () => {
    const c = parseClusterFile(
      edited((d) => (d.backend = { Type: 'VxLAN', Directrouting: true })),
      'c.json',
    );
    assert.deepEqual(c.backend, { Type: 'VxLAN', Directrouting: true });
  });

  test("a node's subnet in the runbook's FLANNEL_SUBNET form is the same lease", () => {
    const c = parseClusterFile(
      edited((d) => {
        d.nodes[0].subnet = '172.7.21.1/24';
      }),
      'c.json',
    );
    assert.equal(c.nodes[0]!.subnet.toString(), '172.7.21.0/24');
  });

  test('rejects bad values with one line naming the file, the JSON path, the value and the rule', () => {
    const cases: [(d: Doc) => void, RegExp][] = [
      [
        (d) => (d.nodes[1].publicIp = '10.4.7'),
        /^c\.json: nodes\[1\]\.publicIp "10\.4\.7": must be an IPv4 address .*, e\.g\. 10\.4\.7\.21$/,
      ],
      [
        (d) => (d.nodes[1].name = 'hdss7-21'),
        /^c\.json: nodes\[1\]\.name "hdss7-21": is already used by nodes\[0\] \(hdss7-21\)/,
      ],
      [
        (d) => (d.nodes[1].publicIp = '10.4.7.21'),
        /^c\.json: nodes\[1\]\.publicIp "10\.4\.7\.21": is already used by nodes\[0\]/,
      ],
      [
        (d) => (d.nodes[1].subnet = '172.7.21.0/24'),
        /^c\.json: nodes\[1\]\.subnet "172\.7\.21\.0\/24": overlaps nodes\[0\]\.subnet/,
      ],
      [(d) => (d.nodes[1].program = 'flanneld-7-21'), /^c\.json: nodes\[1\]\.program "flanneld-7-21": is already used/],
      [
        (d) => (d.nodes[0].subnet = '172.8.21.0/24'),
        /^c\.json: nodes\[0\]\.subnet "172\.8\.21\.0\/24": must lie inside the network 172\.7\.0\.0\/16, e\.g\. 172\.7\.1\.0\/24$/,
      ],
      [
        (d) => (d.nodes[0].subnet = '172.7.21.9/24'),
        /^c\.json: nodes\[0\]\.subnet "172\.7\.21\.9\/24": host bits are set: write the lease 172\.7\.21\.0\/24 or its FLANNEL_SUBNET form/,
      ],
      [(d) => (d.nodes[0].subnet = '172.7.21.0/25'), /must be a \/24 \(every flannel lease has the SubnetLen\)/],
      [(d) => (d.nodes[0].subnet = '172.7.0.0/24'), /flannel never leases the first subnet of 172\.7\.0\.0\/16/],
      [
        (d) => (d.nodes[0].publicIp = '172.7.3.4'),
        /nodes\[0\]\.publicIp "172\.7\.3\.4": must be the host's address, outside the pod network/,
      ],
      [(d) => (d.nodes[0].iface = 'eth 0'), /^c\.json: nodes\[0\]\.iface "eth 0": must be an interface name/],
      [(d) => (d.nodes[0].program = 'flanneld:7-21'), /^c\.json: nodes\[0\]\.program/],
      [(d) => (d.nodes[0].name = 'hdss_7'), /^c\.json: nodes\[0\]\.name "hdss_7": must be a host name/],
      [(d) => delete d.nodes[0].subnet, /^c\.json: nodes\[0\]\.subnet null: must be a non-empty string/],
      [(d) => (d.nodes = []), /^c\.json: nodes \[\]: must be a non-empty list of nodes/],
      [(d) => (d.network = '172.7.0.0/33'), /^c\.json: network "172\.7\.0\.0\/33": prefix must be 0-32/],
      [(d) => (d.network = '172.7.0.0/29'), /flannel needs a network of \/28 or larger/],
      [(d) => (d.subnetLen = 31), /^c\.json: subnetLen 31: must be an integer 17-30/],
      [(d) => (d.subnetLen = 16), /^c\.json: subnetLen 16: must be an integer 17-30/],
      [(d) => delete d.backend, /^c\.json: backend: missing; flannel would use udp/],
      [(d) => (d.backend = { Type: 'vxlam' }), /^c\.json: backend\.Type "vxlam": must be one of .*host-gw.*vxlan/],
      [(d) => (d.backend = { Type: 'vxlan', type: 'udp' }), /^c\.json: backend .*must have exactly one "Type"/],
      [
        (d) => (d.etcd.endpoints = ['10.4.7.12:2379']),
        /^c\.json: etcd\.endpoints\[0\] "10\.4\.7\.12:2379": must start with http:\/\/ or https:\/\//,
      ],
      [(d) => (d.etcd.endpoints = []), /^c\.json: etcd\.endpoints \[\]: must be a non-empty list/],
      [(d) => (d.etcd.api = 'v4'), /^c\.json: etcd\.api "v4": must be v2, v3 or auto/],
      [
        (d) => (d.etcd.prefix = 'coreos.com/network'),
        /^c\.json: etcd\.prefix "coreos\.com\/network": must start with "\/"/,
      ],
      [(d) => (d.flannelVersion = '0.11'), /^c\.json: flannelVersion "0\.11": must be a flannel release version/],
      [(d) => (d.healthzPort = 70000), /^c\.json: healthzPort 70000: must be a port number 1-65535/],
      [(d) => (d.bridge = ''), /^c\.json: bridge "": must be a non-empty string/],
    ];
    for (const [edit, re] of cases) {
      assert.throws(
        () => parseClusterFile(edited(edit), 'c.json'),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'),
        edit.toString(),
      );
    }
  });

  test('rejects unknown keys and lists the known ones', () => {
    const cases: [(d: Doc) => void, string][] = [
      [
        (d) => (d.Network = '172.7.0.0/16'),
        'c.json: Network: unknown key; did you mean network? known keys: flannelVersion, etcd, network, backend, subnetLen, bridge, healthzPort, reject, runbook, nodes',
      ],
      [
        (d) => (d.etcd.ca = 'x'),
        'c.json: etcd.ca: unknown key; known keys of etcd: endpoints, cafile, certfile, keyfile, prefix, api',
      ],
      [
        (d) => (d.nodes[1].publicIP = '10.4.7.22'),
        'c.json: nodes[1].publicIP: unknown key; did you mean publicIp? known keys of nodes[1]: name, publicIp, iface, subnet, program, ssh, root',
      ],
    ];
    for (const [edit, msg] of cases)
      assert.throws(() => parseClusterFile(edited(edit), 'c.json'), { name: 'UsageError', message: msg });
  });

  test('rejects text that is not a JSON object, with the line and column', () => {
    assert.throws(
      () => parseClusterFile('{\n  "network": "172.7.0.0/16",\n}', 'c.json'),
      (e: unknown) => e instanceof UsageError && /^c\.json: not valid JSON: .* at line 3 column 1$/.test(e.message),
    );
    assert.throws(() => parseClusterFile('[]', 'c.json'), /c\.json: must hold a JSON object/);
    assert.throws(() => parseClusterFile('', 'c.json'), /c\.json: not valid JSON/);
  });

  test('selects the node by name, else by a local address', () => {
    const c = runbookCluster();
    assert.equal(selectNode(c, { name: 'hdss7-22', localIps: ['10.4.7.21'] }).name, 'hdss7-22');
    assert.equal(selectNode(c, { localIps: ['127.0.0.1', '10.4.7.21', '172.7.21.1', 'fe80::1'] }).name, 'hdss7-21');
    assert.equal(selectNode(c, { localIps: ['10.4.7.22'] }).program, 'flanneld-7-22');
  });

  test('explains why no node could be selected', () => {
    const c = runbookCluster();
    const twoLocal = { ...c, nodes: c.nodes };
    const cases: [{ name?: string; localIps: string[] }, RegExp][] = [
      [
        { name: 'hdss7-23', localIps: [] },
        /^--node "hdss7-23": no such node in the cluster file \(nodes: hdss7-21, hdss7-22\), e\.g\. hdss7-21$/,
      ],
      [
        { localIps: ['10.4.7.200'] },
        /^--node: not given, and no node's publicIp is an address of this host \(local IPv4: 10\.4\.7\.200; nodes: hdss7-21, hdss7-22\); pass --node NAME/,
      ],
      [{ localIps: [] }, /local IPv4: none/],
      [
        { localIps: ['10.4.7.21', '10.4.7.22'] },
        /^--node: not given, and several nodes' publicIp are addresses of this host \(hdss7-21 10\.4\.7\.21, hdss7-22 10\.4\.7\.22\)/,
      ],
    ];
    for (const [opts, re] of cases)
      assert.throws(
        () => selectNode(twoLocal, opts),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
        JSON.stringify(opts),
      );
  });

  test('picks the etcd API the flannel version speaks', () => {
    const cases: [string, 'v2' | 'v3' | 'auto', 'v2' | 'v3'][] = [
      ['v0.11.0', 'auto', 'v2'],
      ['0.11.0', 'auto', 'v2'],
      ['v0.17.0', 'auto', 'v2'],
      ['v0.18.0', 'auto', 'v3'],
      ['v0.18.0-rc1', 'auto', 'v3'],
      ['v0.20.2', 'auto', 'v3'],
      ['v1.0.0', 'auto', 'v3'],
      ['v0.11.0', 'v3', 'v3'],
      ['v0.20.2', 'v2', 'v2'],
    ];
    for (const [version, api, want] of cases) assert.equal(etcdApiFor(version, api), want, `${version} ${api}`);
    for (const bad of ['', 'latest', 'v0.11', 'v0.11.0.1'])
      assert.throws(() => etcdApiFor(bad, 'auto'), UsageError, bad);
    assert.throws(() => etcdApiFor('v0.11.0', 'v4' as 'v2'), /etcd\.api "v4"/);
  });

  test('warns when an explicit etcd API is not the one the version reads', () => {
    assert.equal(etcdApiMismatch('v0.11.0', 'auto'), undefined);
    assert.equal(etcdApiMismatch('v0.11.0', 'v2'), undefined);
    assert.match(etcdApiMismatch('v0.11.0', 'v3')!, /flannel v0\.11\.0 reads only the etcd v2 key space/);
  });

  test('defaults SubnetLen as flannel does', () => {
    const cases: [string, number | undefined, number][] = [
      ['172.7.0.0/16', undefined, 24],
      ['10.0.0.0/8', undefined, 24],
      ['172.7.0.0/22', undefined, 24],
      ['172.7.0.0/23', undefined, 25],
      ['172.7.0.0/16', 26, 26],
    ];
    for (const [net, len, want] of cases) assert.equal(subnetLenOf(Ip4Net.parse(net), len), want, net);
  });
});
