// lib/doctor: the rules, one case per finding id, on observations built from a real lab node's
// outputs (tests/fixtures/doctor: `ip -j route`, `iptables-save`, `ip -j -d addr`, subnet.env,
// flanneld's log) and the real daemons' logs (tests/fixtures/logs), each broken one way.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkNode, type NodeExpectation } from '../../lib/checks/index.ts';
import {
  diagnose,
  doctorExit,
  formatDoctorReport,
  type DoctorContext,
  type Finding,
  type Invocation,
} from '../../lib/doctor/index.ts';
import { deleteKeyCommand, mergeArgs, toolkitCommand } from '../../lib/doctor/commands.ts';
import { analyseFlanneldLog, glogTime } from '../../lib/doctor/log.ts';
import { hdss721 } from '../support/expectation.ts';
import { MemoryHost } from '../support/memory-host.ts';
import { renderFlanneldSh } from '../../lib/model/flanneld-files.ts';
import { launcherSettings } from '../../lib/steps/start.ts';
import { parseIpAddr } from '../../lib/model/interfaces.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { parseIptablesSave } from '../../lib/model/iptables.ts';
import { parseV2Tree, type Lease } from '../../lib/model/lease.ts';
import type { DoctorProbes, Link, NodeObservation, Outcome } from '../../lib/host/observe.ts';
import { parseIpRoute } from '../../lib/model/routes.ts';
import type { ProcessState } from '../../lib/model/supervisor.ts';
import { UsageError } from '../../lib/core/errors.ts';
import { main } from '../../scripts/doctor.ts';
import { parseFdb, parseNeighbours } from '../../lib/model/vxlan.ts';
import { h21Args } from '../support/h21-host.ts';

const FIX = 'tests/fixtures/doctor';
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const realLog = (name: string) => readFileSync(join('tests/fixtures/logs', name), 'utf8');

const CONFIG = '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}';
const S = '/opt/flannel-runbook/scripts';
const C = '/etc/flannel-runbook/cluster.json';
const NODE = `--cluster ${C} --node hdss7-21`;
const CTL = 'supervisorctl -c /etc/supervisord.conf';
/** when the healthy fixture log was written (plus a minute) */
const AT = new Date(2026, 10, 26, 13, 34, 0);

const lease = (subnet: string, ip: string, extra: Partial<Lease> = {}): Lease => ({
  subnet: Ip4Net.parse(subnet),
  publicIp: Ip4.parse(ip),
  backendType: 'host-gw',
  ttl: 86000,
  key: `/coreos.com/network/subnets/${subnet.replace('/', '-')}`,
  api: 'v2',
  ...extra,
});

/** Everything a case may break: raw command outputs and files, as the observers read them. */
interface State {
  e: NodeExpectation;
  at: Date;
  flannelVersion: string;
  etcd: Outcome<{ config?: string; leases: Lease[] }>;
  routes: string;
  save: string;
  addr: string;
  supervisor: ProcessState | 'unknown';
  healthz: Outcome<{ status: number; body: string }>;
  subnetEnv?: string;
  ipForward: string;
  other?: Outcome<{ api: 'v2' | 'v3'; config?: string }>;
  log: string;
  pods: { netns: string; links: Outcome<Link[]> }[];
  etcdConn: DoctorContext['etcd'];
  vxlan?: NodeObservation['vxlan'];
  /** flanneld.sh as on the node (default: what start writes for this expectation) */
  flanneldSh?: string;
  arp?: string;
  rpFilter?: Record<string, string>;
  peers?: DoctorProbes['peers'];
  /** the persisted rules file (default: the live rules) */
  persisted?: string;
  otherPrefixes?: { key: string; api: 'v2' | 'v3'; config: string; leases: number }[];
  arpAfter?: string;
  legacySave?: string;
}

function healthy(): State {
  const flanneld = launcherSettings({
    root: '/',
    publicIp: Ip4.parse('10.4.7.21'),
    endpoints: ['http://10.4.7.12:2379'],
    iface: 'eth0',
    healthzPort: 2401,
    etcdPrefix: '/coreos.com/network',
  });
  const e: NodeExpectation = hdss721({ flanneld, desiredConfig: CONFIG });
  return {
    e,
    at: AT,
    flannelVersion: 'v0.11.0',
    etcd: {
      ok: true,
      value: { config: CONFIG, leases: [lease('172.7.21.0/24', '10.4.7.21'), lease('172.7.22.0/24', '10.4.7.22')] },
    },
    routes: fixture('h21-routes.json'),
    save: fixture('h21-iptables-save.txt'),
    addr: fixture('h21-ip-addr.json'),
    supervisor: 'RUNNING',
    healthz: { ok: true, value: { status: 200, body: 'flanneld is running' } },
    subnetEnv: fixture('h21-subnet.env'),
    ipForward: '1',
    log: fixture('h21-flanneld-healthy.log'),
    pods: [],
    etcdConn: { endpoints: ['http://10.4.7.12:2379'] },
  };
}

const RUN: Invocation = {
  scriptsDir: S,
  nodeArgs: ['--cluster', C, '--node', 'hdss7-21'],
  clusterArgs: ['--cluster', C],
  certsFrom: 'root@hdss7-200:/opt/certs',
};

function examine(s: State): { findings: Finding[]; checks: ReturnType<typeof checkNode> } {
  return examineWith(s, {});
}

function examineWith(
  s: State,
  extraProbes: Partial<DoctorProbes>,
): { findings: Finding[]; checks: ReturnType<typeof checkNode> } {
  const obs: NodeObservation = {
    at: s.at,
    etcd: s.etcd.ok ? { ok: true, value: { ...s.etcd.value, invalid: [], api: s.e.api } } : s.etcd,
    routes: { ok: true, value: parseIpRoute(s.routes) },
    iptablesSave: { ok: true, value: s.save },
    ruleset: { ok: true, value: parseIptablesSave(s.save) },
    ifaces: { ok: true, value: parseIpAddr(s.addr) },
    supervisor: {
      ok: true,
      value:
        s.supervisor === 'unknown'
          ? undefined
          : {
              program: s.e.program,
              state: s.supervisor,
              detail: s.supervisor === 'RUNNING' ? 'pid 15215, uptime 0:01:00' : '',
            },
    },
    healthz: s.healthz,
    files: {
      subnetEnv: s.subnetEnv,
      flanneldSh: s.flanneldSh ?? renderFlanneldSh(s.e.flanneld),
      persisted: s.persisted ?? s.save,
      ipForward: s.ipForward,
      ...(s.arp !== undefined && { arp: s.arp }),
      ...(s.rpFilter && { rpFilter: s.rpFilter }),
    },
    ...(s.legacySave !== undefined && {
      legacy: {
        save: { ok: true, value: s.legacySave },
        ruleset: { ok: true, value: parseIptablesSave(s.legacySave) },
      },
    }),
    ...(s.vxlan && { vxlan: s.vxlan }),
    processes: 3,
  };
  const probes: DoctorProbes = {
    ...(s.other && { otherKeySpace: s.other }),
    logFile: '/data/logs/flanneld/flanneld.stdout.log',
    log: { ok: true, value: s.log },
    links: { ok: true, value: parseIpAddr(s.addr) },
    pods: s.pods,
    ...(s.peers && { peers: s.peers }),
    ...(s.arpAfter !== undefined && { arpAfter: s.arpAfter }),
    ...(s.otherPrefixes && { otherPrefixes: { ok: true as const, value: s.otherPrefixes } }),
    processes: 1,
    ...extraProbes,
  };
  const checks = checkNode(s.e, obs);
  const ctx: DoctorContext = {
    expect: s.e,
    flannelVersion: s.flannelVersion,
    etcd: s.etcdConn,
    healthzPort: 2401,
    peers: [
      {
        name: 'hdss7-21',
        publicIp: Ip4.parse('10.4.7.21'),
        subnet: Ip4Net.parse('172.7.21.0/24'),
        program: 'flanneld-7-21',
      },
      {
        name: 'hdss7-22',
        publicIp: Ip4.parse('10.4.7.22'),
        subnet: Ip4Net.parse('172.7.22.0/24'),
        program: 'flanneld-7-22',
      },
    ],
    run: RUN,
  };
  return { findings: diagnose(ctx, obs, checks, probes), checks };
}

/** Edit the `ip -j -d addr` fixture: one link's fields. */
function editLink(addr: string, name: string, edit: (l: Record<string, unknown>) => void): string {
  const doc = JSON.parse(addr) as Record<string, unknown>[];
  edit(doc.find((l) => l.ifname === name)!);
  return JSON.stringify(doc);
}
/** A log cut after the last line matching `re` (the moment that error was still going on). */
const until = (text: string, re: RegExp) => {
  const lines = text.split('\n');
  let last = -1;
  lines.forEach((l, i) => {
    if (re.test(l)) last = i;
  });
  return `${lines.slice(0, last + 1).join('\n')}\n`;
};
/** h21 as flanneld v0.11.0 leaves it with the vxlan backend: flannel.1, MTU 1450 everywhere, the real neighbour and fdb entries. */
function vxlanNode(s: State, config: string, leases: Lease[]): void {
  s.etcd = { ok: true, value: { config, leases } };
  s.e = { ...s.e, desiredConfig: config };
  s.subnetEnv = s.subnetEnv!.replace('FLANNEL_MTU=1500', 'FLANNEL_MTU=1450');
  for (const n of ['docker0', 'veth21']) s.addr = editLink(s.addr, n, (l) => (l.mtu = 1450));
  const flannel1 = {
    ifname: 'flannel.1',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1450,
    address: '72:af:40:82:41:23',
    linkinfo: { info_kind: 'vxlan', info_data: { id: 1, local: '10.4.7.21', port: 8472, learning: false } },
    addr_info: [{ family: 'inet', local: '172.7.21.0', prefixlen: 32 }],
  };
  s.addr = JSON.stringify([...(JSON.parse(s.addr) as object[]), flannel1]);
  const v = (f: string) => readFileSync(join('tests/fixtures/v0.11.0', f), 'utf8');
  s.vxlan = {
    dev: 'flannel.1',
    neighbours: { ok: true, value: parseNeighbours(v('61-vxlan-h21-neigh.json')) },
    fdb: { ok: true, value: parseFdb(v('61-vxlan-h21-fdb.json')) },
  };
}
/** flanneld.sh as if written for another etcd endpoint (the probe's endpoints are the expected ones). */
function otherEtcdSh(s: State): void {
  s.flanneldSh = renderFlanneldSh({ ...s.e.flanneld, endpoints: ['http://10.4.7.99:2379'] });
}
const withRoute = (routes: string, r: object) => JSON.stringify([...(JSON.parse(routes) as object[]), r]);
const withoutRoute = (routes: string, dst: string) =>
  JSON.stringify((JSON.parse(routes) as { dst: string }[]).filter((r) => r.dst !== dst));
const glog = (at: Date, level: string, src: string, msg: string) => {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${level}${p(at.getMonth() + 1)}${p(at.getDate())} ${p(at.getHours())}:${p(at.getMinutes())}:${p(at.getSeconds())}.000000   15215 ${src}] ${msg}`;
};

interface Case {
  readonly id: string;
  readonly name: string;
  readonly break: (s: State) => void;
  /** the exact fix line */
  readonly fix: string;
  /** evidence that must be shown */
  readonly evidence?: RegExp;
  readonly cause?: RegExp;
  /** drift check ids the finding must explain */
  readonly explains?: readonly string[];
  readonly exit?: 1 | 3;
}

/** flanneld.sh with a --public-ip not on eth0: the run died on host-gw's NAT refusal; supervisord in `state`. */
function diedOnNat(s: State, state: ProcessState): void {
  s.flanneldSh = renderFlanneldSh({ ...s.e.flanneld, publicIp: Ip4.parse('10.4.7.99') });
  s.supervisor = state;
  s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
  s.log += `${glog(AT, 'E', 'main.go:281', "Error fetching backend: your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend")}\n`;
}

const CASES: Case[] = [
  {
    id: 'config.written-v3',
    name: 'config only in the v3 key space while flannel v0.11 reads v2 (its log says Key not found)',
    break: (s) => {
      s.etcd = { ok: true, value: { leases: (s.etcd as { value: { leases: Lease[] } }).value.leases } };
      s.other = { ok: true, value: { api: 'v3', config: CONFIG } };
      s.log = until(realLog('v0.11.0-11-v3only-flanneld-h21.log'), /Couldn't fetch network config/);
      s.at = new Date(2026, 10, 26, 12, 18, 55);
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --etcd-api v2`,
    evidence: /v3 \/coreos\.com\/network\/config = [\s\S]*Couldn't fetch network config: 100: Key not found/,
    explains: ['etcd.config'],
  },
  {
    id: 'config.written-v2',
    name: 'config only in the v2 key space while flannel v0.20 reads v3',
    break: (s) => {
      s.e = { ...s.e, api: 'v3' };
      s.flannelVersion = 'v0.20.2';
      s.etcd = { ok: true, value: { leases: (s.etcd as { value: { leases: Lease[] } }).value.leases } };
      s.other = { ok: true, value: { api: 'v2', config: CONFIG } };
      s.log = realLog('v0.20.2-31-v2only-flanneld-h21.log');
      s.at = new Date(2026, 10, 26, 12, 51, 30);
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --migrate v2-to-v3`,
    evidence: /v2 \/coreos\.com\/network\/config = [\s\S]*Did you create your config using etcdv3 API/,
  },
  {
    id: 'config.missing',
    name: 'no config in either key space',
    break: (s) => {
      s.etcd = { ok: true, value: { leases: (s.etcd as { value: { leases: Lease[] } }).value.leases } };
      s.other = { ok: true, value: { api: 'v3' } };
    },
    fix: `${S}/etcd-config.ts --cluster ${C}`,
    explains: ['etcd.config', 'routes.peers'],
  },
  {
    id: 'etcd.v2-disabled',
    name: 'the probe finds v2 off (etcd 3.4 without --enable-v2)',
    break: (s) => {
      s.etcd = {
        ok: false,
        kind: 'v2-disabled',
        error:
          'etcd http://10.4.7.12:2379: the v2 API is off (etcd 3.4 needs --enable-v2=true; flannel < v0.18 reads only v2)',
      };
    },
    fix: "grep -qx 'ETCD_ENABLE_V2=true' /etc/default/etcd || echo 'ETCD_ENABLE_V2=true' >> /etc/default/etcd; systemctl restart etcd",
    explains: ['etcd.reachable', 'lease.own', 'routes.peers'],
  },
  {
    id: 'etcd.v2-disabled',
    name: "flanneld's own log says `client: response is invalid json` while the probe gets through (flanneld.sh names another etcd)",
    break: (s) => {
      s.log += `${glog(new Date(AT.getTime() - 5000), 'E', 'main.go:382', "Couldn't fetch network config: client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.")}\n`;
      otherEtcdSh(s);
    },
    fix: `${S}/start.ts ${NODE}`,
    evidence: /response is invalid json/,
  },
  {
    id: 'etcd.tls-ca',
    name: 'the probe with the node ca.pem cannot verify etcd (tls-ca)',
    break: (s) => {
      s.etcd = {
        ok: false,
        kind: 'tls-ca',
        error:
          "etcd https://10.4.7.12:2379: TLS: the server's certificate is not trusted by --cafile /opt/flannel/cert/ca.pem (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
      };
      s.etcdConn = {
        endpoints: ['https://10.4.7.12:2379'],
        cafile: '/opt/flannel/cert/ca.pem',
        certfile: '/opt/flannel/cert/client.pem',
        keyfile: '/opt/flannel/cert/client-key.pem',
      };
    },
    fix: `${S}/certs.ts ${NODE} --from root@hdss7-200:/opt/certs`,
    evidence: /not trusted by --cafile \/opt\/flannel\/cert\/ca\.pem/,
    cause: /ca\.pem is not the CA/,
  },
  {
    id: 'etcd.tls-ca',
    name: "flanneld's log says `x509: certificate signed by unknown authority` (real v0.11.0 log)",
    break: (s) => {
      s.log = realLog('v0.11.0-51-tls-neg-nocerts.log');
      otherEtcdSh(s);
      s.at = new Date(2026, 10, 26, 12, 23, 30);
    },
    fix: `${S}/start.ts ${NODE}`,
    evidence: /x509: certificate signed by unknown authority/,
  },
  {
    id: 'etcd.tls-client-cert',
    name: 'etcd refuses the client certificate (tls-client-cert)',
    break: (s) => {
      s.etcd = {
        ok: false,
        kind: 'tls-client-cert',
        error:
          'etcd https://10.4.7.12:2379: TLS: the server refused the client certificate --certfile /opt/flannel/cert/client.pem',
      };
      s.etcdConn = {
        endpoints: ['https://10.4.7.12:2379'],
        cafile: '/opt/flannel/cert/ca.pem',
        certfile: '/opt/flannel/cert/client.pem',
        keyfile: '/opt/flannel/cert/client-key.pem',
      };
    },
    fix: `${S}/certs.ts ${NODE} --from root@hdss7-200:/opt/certs`,
    cause: /client\.pem is not signed by the CA etcd trusts/,
  },
  {
    id: 'etcd.tls-client-cert',
    name: "flanneld's log says `remote error: tls: bad certificate` (real v0.11.0 log, CA only)",
    break: (s) => {
      s.log = realLog('v0.11.0-52-tls-neg-ca-only.log');
      otherEtcdSh(s);
      s.at = new Date(2026, 10, 26, 12, 23, 40);
    },
    fix: `${S}/start.ts ${NODE}`,
  },
  {
    id: 'etcd.tls-scheme',
    name: 'http:// endpoints on the TLS port (tls-scheme): the fix names the https:// ones',
    break: (s) => {
      s.etcd = {
        ok: false,
        kind: 'tls-scheme',
        error: 'etcd http://10.4.7.12:2379: TLS: endpoint is http:// but the port speaks TLS (use https://)',
      };
      s.etcdConn = { endpoints: ['http://10.4.7.12:2379', 'http://10.4.7.21:2379'] };
    },
    fix: `${S}/start.ts ${NODE} --endpoints https://10.4.7.12:2379,https://10.4.7.21:2379`,
  },
  {
    id: 'etcd.tls-scheme',
    name: "flanneld's log says `error #0: EOF` (real v0.11.0 log, http scheme)",
    break: (s) => {
      s.log = realLog('v0.11.0-50-tls-neg-http-scheme.log');
      otherEtcdSh(s);
      s.at = new Date(2026, 10, 26, 12, 23, 20);
    },
    fix: `${S}/start.ts ${NODE}`,
  },
  {
    id: 'etcd.unreachable',
    name: 'etcd does not answer and flanneld is not running: could not examine (exit 3)',
    break: (s) => {
      s.etcd = { ok: false, kind: 'unreachable', error: 'etcd http://10.4.7.12:2379: unreachable (ECONNREFUSED)' };
      s.supervisor = 'STOPPED';
    },
    fix: 'etcdctl --endpoints=http://10.4.7.12:2379 endpoint health',
  },
  {
    id: 'etcd.outage-degraded',
    name: 'etcd does not answer while flanneld runs with its routes: degraded, do not restart (exit 3)',
    break: (s) => {
      s.etcd = { ok: false, kind: 'unreachable', error: 'etcd http://10.4.7.12:2379: unreachable (ECONNREFUSED)' };
    },
    fix: 'etcdctl --endpoints=http://10.4.7.12:2379 endpoint health',
    cause: /do NOT restart flanneld/,
    explains: ['etcd.reachable', 'lease.own', 'routes.peers'],
    exit: 3,
  },
  {
    id: 'etcd.outage-degraded',
    name: "etcd cut off by this node's own OUTPUT rule: the fix deletes it",
    break: (s) => {
      s.etcd = { ok: false, kind: 'unreachable', error: 'etcd http://10.4.7.12:2379: unreachable (ECONNREFUSED)' };
      s.save = s.save.replace(
        ':OUTPUT ACCEPT [18592:2461868]\n',
        ':OUTPUT ACCEPT [18592:2461868]\n-A OUTPUT -p tcp -m tcp --dport 2379 -j REJECT --reject-with icmp-port-unreachable\n',
      );
    },
    fix: 'iptables -D OUTPUT -p tcp -m tcp --dport 2379 -j REJECT --reject-with icmp-port-unreachable',
  },
  {
    id: 'routes.peer-not-l2',
    name: "a lease whose PublicIP is outside eth0's subnets (host-gw cannot route there)",
    break: (s) => {
      (s.etcd as { value: { leases: Lease[] } }).value.leases.push(lease('172.7.30.0/24', '10.5.7.30'));
      s.log += `${glog(AT, 'E', 'route_network.go:114', 'Error adding route to 172.7.30.0/24 via 10.5.7.30 dev index 2: network is unreachable')}\n`;
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --backend vxlan --direct-routing --force`,
    evidence:
      /PublicIP 10\.5\.7\.30[\s\S]*missing route: 172\.7\.30\.0\/24 via 10\.5\.7\.30 dev eth0[\s\S]*network is unreachable/,
    explains: ['routes.peers'],
  },
  {
    id: 'routes.peer-not-l2',
    name: 'a peer inside the segment whose route the kernel refused (flanneld logged it)',
    break: (s) => {
      s.routes = withoutRoute(s.routes, '172.7.22.0/24');
      s.log += `${glog(AT, 'E', 'route_network.go:114', 'Error adding route to 172.7.22.0/24 via 10.4.7.22 dev index 2: invalid argument')}\n`;
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --backend vxlan --direct-routing --force`,
  },
  {
    id: 'iptables.docker-masq',
    name: "Docker's MASQUERADE rule is back at the top of POSTROUTING",
    break: (s) => {
      s.save = s.save.replace(
        ':POSTROUTING ACCEPT [319:19260]\n',
        ':POSTROUTING ACCEPT [319:19260]\n-A POSTROUTING -s 172.7.21.0/24 ! -o docker0 -j MASQUERADE\n',
      );
    },
    fix: `${S}/snat-fix.ts ${NODE}`,
    evidence: /-A POSTROUTING -s 172\.7\.21\.0\/24 ! -o docker0 -j MASQUERADE/,
    explains: ['iptables.docker-masq'],
  },
  {
    id: 'iptables.forward-drop',
    name: "FORWARD policy DROP and flannel's ACCEPT rules gone (flanneld stopped)",
    break: (s) => {
      s.save = s.save
        .replace(':FORWARD ACCEPT', ':FORWARD DROP')
        .replace(/-A FORWARD -[sd] 172\.7\.0\.0\/16 -j ACCEPT\n/g, '');
      s.supervisor = 'STOPPED';
      s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    evidence: /:FORWARD DROP[\s\S]*missing: -A FORWARD -d 172\.7\.0\.0\/16 -j ACCEPT/,
    cause: /flanneld is STOPPED/,
    explains: ['iptables.forward'],
  },
  {
    id: 'sysctl.ip-forward-off',
    name: 'net.ipv4.ip_forward = 0',
    break: (s) => {
      s.ipForward = '0';
    },
    fix: 'sysctl -w net.ipv4.ip_forward=1',
    explains: ['sysctl.ip-forward'],
  },
  {
    id: 'docker0.bip-mismatch',
    name: "docker0's address differs from the lease",
    break: (s) => {
      s.addr = editLink(s.addr, 'docker0', (l) => ((l.addr_info as { local: string }[])[0]!.local = '172.7.21.9'));
    },
    fix: 'ip -4 addr flush dev docker0 && ip addr add 172.7.21.1/24 dev docker0',
    evidence: /docker0: 172\.7\.21\.9\/24/,
    explains: ['docker0.bip'],
  },
  {
    id: 'lease.taken-over',
    name: "this node took hdss7-22's lease (subnet.env copied; the cluster file names the owner)",
    break: (s) => {
      s.e = {
        ...s.e,
        name: 'hdss7-22',
        publicIp: Ip4.parse('10.4.7.22'),
        subnet: Ip4Net.parse('172.7.22.0/24'),
        program: 'flanneld-7-22',
      };
      s.etcd = { ok: true, value: { config: CONFIG, leases: [lease('172.7.21.0/24', '10.4.7.22')] } };
      s.addr = s.addr.replaceAll('10.4.7.21', '10.4.7.22');
      s.log = fixture('v0.11.0-41-copied-subnetenv-flanneld-h22.log');
      s.at = new Date(2026, 10, 26, 12, 22, 45);
    },
    fix: `${CTL} stop flanneld-7-22 && curl -sS --fail-with-body -X DELETE http://10.4.7.12:2379/v2/keys/coreos.com/network/subnets/172.7.21.0-24 && ${S}/start.ts ${NODE}`,
    evidence:
      /172\.7\.21\.0-24 -> PublicIP 10\.4\.7\.22[\s\S]*Found lease \(172\.7\.21\.0\/24\) matching previously leased subnet, reusing/,
    explains: ['lease.own'],
  },
  {
    id: 'lease.taken-over',
    name: "the victim: this node's subnet is leased to hdss7-22",
    break: (s) => {
      s.etcd = { ok: true, value: { config: CONFIG, leases: [lease('172.7.21.0/24', '10.4.7.22')] } };
    },
    fix: `${CTL} restart flanneld-7-21`,
    cause: /hdss7-22's subnet\.env was copied from this host/,
    explains: ['lease.subnet-taken', 'lease.own'],
  },
  {
    id: 'lease.taken-over',
    name: 'subnet.env names another live lease: the next restart would take it over',
    break: (s) => {
      s.subnetEnv = s.subnetEnv!.replace('172.7.21.1/24', '172.7.22.1/24');
    },
    fix: `${S}/start.ts ${NODE}`,
    explains: ['subnet-env.lease'],
  },
  {
    id: 'flanneld.no-lease',
    name: 'healthz 200 but no lease for this IP (flanneld cannot get one)',
    break: (s) => {
      s.etcd = { ok: true, value: { config: CONFIG, leases: [lease('172.7.22.0/24', '10.4.7.22')] } };
    },
    fix: `${CTL} restart flanneld-7-21`,
    evidence: /healthz -> 200 "flanneld is running"[\s\S]*none for 10\.4\.7\.21/,
    explains: ['lease.own', 'lease.ttl'],
  },
  {
    id: 'flanneld.no-lease',
    name: "healthz 200, no lease, and flanneld's log says etcd refuses its certificate: the fix is flanneld's flags",
    break: (s) => {
      s.etcd = { ok: true, value: { config: CONFIG, leases: [lease('172.7.22.0/24', '10.4.7.22')] } };
      s.log += `${glog(new Date(AT.getTime() - 3000), 'E', 'main.go:382', "Couldn't fetch network config: client: etcd cluster is unavailable or misconfigured; error #0: remote error: tls: bad certificate")}\n`;
      otherEtcdSh(s);
    },
    fix: `${S}/start.ts ${NODE}`,
    evidence: /tls: bad certificate/,
    cause: /etcd refused the client certificate/,
  },
  {
    id: 'config.missing',
    name: 'healthz 200 and no lease because the config is missing: one finding, the config (it covers the lease)',
    break: (s) => {
      s.etcd = { ok: true, value: { leases: [lease('172.7.22.0/24', '10.4.7.22')] } };
      s.other = { ok: true, value: { api: 'v3' } };
    },
    fix: `${S}/etcd-config.ts --cluster ${C}`,
    explains: ['lease.own', 'lease.ttl'],
  },
  {
    id: 'flanneld.no-lease',
    name: 'healthz 200, no lease, flanneld.sh with another --etcd-prefix (it waits for a config there): start writes it back',
    break: (s) => {
      s.etcd = { ok: true, value: { config: CONFIG, leases: [lease('172.7.22.0/24', '10.4.7.22')] } };
      s.flanneldSh = renderFlanneldSh({ ...s.e.flanneld, etcdPrefix: '/other/network' });
    },
    fix: `${S}/start.ts ${NODE}`,
    explains: ['lease.own', 'flanneld.flags'],
  },
  {
    id: 'routes.vxlan-deleted',
    name: "a vxlan peer's route deleted (flanneld never restores it): real v0.11.0 vxlan state",
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = withoutRoute(fixture('v0.11.0-61-vxlan-routes-h21.json'), '172.7.22.0/24');
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    evidence: /missing route: 172\.7\.22\.0\/24 via 172\.7\.22\.0 dev flannel\.1 onlink/,
    explains: ['routes.peers'],
  },
  {
    id: 'routes.vxlan-deleted',
    name: "a vxlan peer's PERMANENT neighbour deleted too: one finding, one fix",
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = withoutRoute(fixture('v0.11.0-61-vxlan-routes-h21.json'), '172.7.22.0/24');
      s.vxlan = { ...s.vxlan!, neighbours: { ok: true, value: [] } };
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    evidence: /vxlan\.neighbours: /,
    explains: ['routes.peers', 'vxlan.neighbours'],
  },
  {
    id: 'routes.vxlan-deleted',
    name: 'vxlan with DirectRouting: the direct route to an L2 peer deleted',
    break: (s) => {
      const cfg = '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}';
      vxlanNode(s, cfg, [
        lease('172.7.21.0/24', '10.4.7.21', { backendType: 'vxlan', vtepMac: '72:af:40:82:41:23' }),
        lease('172.7.22.0/24', '10.4.7.22', { backendType: 'vxlan', vtepMac: '5a:3f:40:67:88:d9' }),
      ]);
      s.vxlan = { ...s.vxlan!, neighbours: { ok: true, value: [] }, fdb: { ok: true, value: [] } };
      s.routes = withoutRoute(s.routes, '172.7.22.0/24');
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    evidence: /missing route: 172\.7\.22\.0\/24 via 10\.4\.7\.22 dev eth0/,
    explains: ['routes.peers'],
  },
  {
    id: 'mtu.mismatch',
    name: "docker0's MTU differs from FLANNEL_MTU",
    break: (s) => {
      s.addr = editLink(s.addr, 'docker0', (l) => (l.mtu = 1400));
    },
    fix: 'ip link set dev docker0 mtu 1500',
    evidence: /FLANNEL_MTU=1500[\s\S]*docker0 mtu 1400/,
  },
  {
    id: 'mtu.mismatch',
    name: "a pod's MTU (a veth port of docker0, and --pod-netns) differs from FLANNEL_MTU",
    break: (s) => {
      s.addr = editLink(s.addr, 'veth21', (l) => (l.mtu = 9000));
      s.pods = [
        {
          netns: 'cni-21',
          links: {
            ok: true,
            value: [
              { name: 'lo', mtu: 65536 },
              { name: 'eth0', mtu: 9000 },
            ],
          },
        },
      ];
    },
    fix: 'ip link set dev veth21 mtu 1500 && ip netns exec cni-21 ip link set dev eth0 mtu 1500',
    evidence: /veth21 \(port of docker0\) mtu 9000[\s\S]*netns cni-21: eth0 mtu 9000/,
  },
  {
    id: 'mtu.mismatch',
    name: 'FLANNEL_MTU differs from what the backend gives on eth0 (vxlan: 1450)',
    break: (s) => {
      const cfg = '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan"}}';
      s.etcd = {
        ok: true,
        value: {
          config: cfg,
          leases: [lease('172.7.21.0/24', '10.4.7.21', { backendType: 'vxlan', vtepMac: '72:af:40:82:41:23' })],
        },
      };
      s.e = { ...s.e, desiredConfig: cfg };
      s.routes = withoutRoute(s.routes, '172.7.22.0/24');
    },
    fix: `${S}/drift.ts ${NODE} --fix && ip link set dev docker0 mtu 1450 && ip link set dev veth21 mtu 1450`,
    explains: ['subnet-env.lease'],
  },
  {
    id: 'flanneld.stopped',
    name: 'flanneld FATAL after a panic on a busy healthz port (the log says why)',
    break: (s) => {
      s.supervisor = 'FATAL';
      s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
      s.log += [
        glog(AT, 'I', 'main.go:527', 'Using interface with name eth0 and address 10.4.7.21'),
        glog(
          AT,
          'E',
          'main.go:595',
          'Start healthz server error. listen tcp 0.0.0.0:2401: bind: address already in use',
        ),
        'panic: listen tcp 0.0.0.0:2401: bind: address already in use',
        '',
      ].join('\n');
    },
    fix: `${CTL} start flanneld-7-21`,
    cause: /already holds the healthz port/,
    explains: ['flanneld.running', 'flanneld.healthz'],
  },
  {
    id: 'iptables.forward-blocked',
    name: "issue 14.1: `-I FORWARD 1 -d <this node's subnet> -j DROP` ahead of flannel's ACCEPTs; the fix deletes it, and saves nothing",
    break: (s) => {
      s.save = s.save.replace(
        ':OUTPUT ACCEPT [18592:2461868]\n',
        ':OUTPUT ACCEPT [18592:2461868]\n-A FORWARD -d 172.7.21.0/24 -j DROP\n',
      );
      // the persisted file was saved before: it lacks the DROP
      s.persisted = fixture('h21-iptables-save.txt');
    },
    fix: 'iptables -D FORWARD -d 172.7.21.0/24 -j DROP',
    evidence: /filter FORWARD: -A FORWARD -d 172\.7\.21\.0\/24 -j DROP[\s\S]*172\.7\.22\.0\/24 -> 172\.7\.21\.0\/24/,
    explains: ['iptables.forward', 'iptables.persisted'],
  },
  {
    id: 'iptables.forward-blocked',
    name: 'the same DROP saved into the persisted file too: delete it, then drift --fix saves the rules once they are right',
    break: (s) => {
      s.save = s.save.replace(
        ':OUTPUT ACCEPT [18592:2461868]\n',
        ':OUTPUT ACCEPT [18592:2461868]\n-A FORWARD -d 172.7.21.0/24 -j DROP\n',
      );
    },
    fix: `iptables -D FORWARD -d 172.7.21.0/24 -j DROP && ${S}/drift.ts ${NODE} --fix`,
  },
  {
    id: 'iptables.forward-reject',
    name: "CentOS's REJECT catch-all at the top of FORWARD: snat-fix --drop-reject, never `drift --fix` saving it",
    break: (s) => {
      s.save = s.save.replace(
        ':OUTPUT ACCEPT [18592:2461868]\n',
        ':OUTPUT ACCEPT [18592:2461868]\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n',
      );
      s.persisted = fixture('h21-iptables-save.txt');
    },
    fix: `${S}/snat-fix.ts ${NODE} --reject drop`,
    explains: ['iptables.forward', 'iptables.reject', 'iptables.persisted'],
  },
  {
    id: 'iptables.backend-mix',
    name: 'issue 14.2: a MASQUERADE rule in the legacy tables of an nft host',
    break: (s) => {
      s.legacySave =
        '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.7.21.0/24 ! -o docker0 -j MASQUERADE\nCOMMIT\n';
    },
    fix: "iptables-legacy -t nat -D POSTROUTING -s 172.7.21.0/24 '!' -o docker0 -j MASQUERADE",
    evidence: /iptables-legacy-save -t nat: -A POSTROUTING -s 172\.7\.21\.0\/24 ! -o docker0 -j MASQUERADE/,
    explains: ['iptables.backend'],
  },
  {
    id: 'iptables.no-egress-masq',
    name: "no SNAT rule and no Docker rule: nothing masquerades pods' traffic to the world",
    break: (s) => {
      s.save = s.save.replace('-A POSTROUTING -s 172.7.21.0/24 ! -d 172.7.0.0/16 ! -o docker0 -j MASQUERADE\n', '');
      s.persisted = fixture('h21-iptables-save.txt');
    },
    fix: `${S}/snat-fix.ts ${NODE}`,
    explains: ['iptables.snat', 'iptables.persisted'],
  },
  {
    id: 'routes.own-subnet',
    name: "this node's subnet routed via a peer in place of docker0's route: the fix puts docker0's route back (not just a delete)",
    break: (s) => {
      const r = (JSON.parse(s.routes) as { dst: string; dev?: string }[]).filter((x) => x.dst !== '172.7.21.0/24');
      s.routes = JSON.stringify([...r, { dst: '172.7.21.0/24', gateway: '10.4.7.22', dev: 'eth0', flags: [] }]);
    },
    fix: 'ip route replace 172.7.21.0/24 dev docker0 proto kernel scope link src 172.7.21.1',
    explains: ['routes.own-subnet'],
  },
  {
    id: 'routes.wrong-gateway',
    name: "a peer's route through another gateway than its lease (flanneld's route check cannot replace it)",
    break: (s) => {
      s.routes = withRoute(withoutRoute(s.routes, '172.7.22.0/24'), {
        dst: '172.7.22.0/24',
        gateway: '10.4.7.99',
        dev: 'eth0',
        flags: [],
      });
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    explains: ['routes.peers'],
  },
  {
    id: 'lease.stale',
    name: 'a lease of no node of the cluster file, routed to an address that answers no ARP',
    break: (s) => {
      (s.etcd as { value: { leases: Lease[] } }).value.leases.push(lease('172.7.40.0/24', '10.4.7.40', { ttl: 3000 }));
      s.routes = withRoute(s.routes, { dst: '172.7.40.0/24', gateway: '10.4.7.40', dev: 'eth0', flags: [] });
      s.arp =
        'IP address       HW type     Flags       HW address            Mask     Device\n10.4.7.40        0x1         0x0         00:00:00:00:00:00     *        eth0\n10.4.7.22        0x1         0x2         5a:3f:40:67:88:d9     *        eth0\n';
    },
    fix: 'curl -sS --fail-with-body -X DELETE http://10.4.7.12:2379/v2/keys/coreos.com/network/subnets/172.7.40.0-24',
    evidence: /10\.4\.7\.40 dev eth0: ARP not resolved/,
    explains: ['routes.next-hops'],
  },
  {
    id: 'lease.stale',
    name: "no ARP entry yet: doctor's probe pings the next hop and reads the table again",
    break: (s) => {
      (s.etcd as { value: { leases: Lease[] } }).value.leases.push(lease('172.7.40.0/24', '10.4.7.40'));
      s.routes = withRoute(s.routes, { dst: '172.7.40.0/24', gateway: '10.4.7.40', dev: 'eth0', flags: [] });
      s.peers = [
        { subnet: '172.7.22.0/24', publicIp: '10.4.7.22', underlay: true },
        { subnet: '172.7.40.0/24', publicIp: '10.4.7.40', underlay: false },
      ];
      s.arpAfter =
        'IP address       HW type     Flags       HW address            Mask     Device\n10.4.7.40        0x1         0x0         00:00:00:00:00:00     *        eth0\n';
    },
    fix: 'curl -sS --fail-with-body -X DELETE http://10.4.7.12:2379/v2/keys/coreos.com/network/subnets/172.7.40.0-24',
    evidence: /ping -c1 -W1: no answer/,
  },
  {
    id: 'lease.revoked',
    name: 'doctor while supervisord restarts flanneld after `Lease has been revoked` (the log read across the restart): start waits for it, no "stopped by hand"',
    break: (s) => {
      s.log = fixture('h21-flanneld-two-runs.log');
      s.at = new Date(2026, 10, 26, 13, 38, 20);
      s.supervisor = 'STARTING';
      s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
    },
    fix: `${S}/start.ts ${NODE}`,
    evidence: /Lease has been revoked/,
    explains: ['flanneld.running', 'flanneld.healthz'],
  },
  {
    id: 'lease.subnet-changed',
    name: 'the lease and subnet.env lost: flanneld took a random subnet, docker0 stayed',
    break: (s) => {
      s.etcd = {
        ok: true,
        value: { config: CONFIG, leases: [lease('172.7.57.0/24', '10.4.7.21'), lease('172.7.22.0/24', '10.4.7.22')] },
      };
      s.subnetEnv = s.subnetEnv!.replace('172.7.21.1/24', '172.7.57.1/24');
    },
    fix: `${CTL} stop flanneld-7-21 && curl -sS --fail-with-body -X DELETE http://10.4.7.12:2379/v2/keys/coreos.com/network/subnets/172.7.57.0-24 && ${S}/start.ts ${NODE}`,
    explains: ['lease.own', 'subnet-env.lease'],
  },
  {
    id: 'iface.missing',
    name: "flanneld.sh names --iface=eth9 (FATAL): start with the cluster's iface first, not supervisorctl start",
    break: (s) => {
      s.flanneldSh = renderFlanneldSh({ ...s.e.flanneld, iface: 'eth9' });
      s.supervisor = 'FATAL';
      s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
      s.log += `${glog(AT, 'E', 'main.go:223', 'Could not find valid interface matching eth9: error looking up interface eth9: route ip+net: no such network interface')}\n`;
    },
    fix: `${S}/start.ts ${NODE}`,
    explains: ['flanneld.flags', 'flanneld.running', 'flanneld.healthz'],
  },
  {
    id: 'iface.missing',
    name: 'doctor given --iface eth9 (not on this host): the fix names eth0, the interface that holds 10.4.7.21',
    break: (s) => {
      s.e = { ...s.e, iface: 'eth9', flanneld: { ...s.e.flanneld, iface: 'eth9' } };
    },
    fix: `${S}/start.ts ${NODE} --iface eth0`,
  },
  {
    id: 'iface.public-ip-mismatch',
    name: 'flanneld.sh names a --public-ip not on eth0: host-gw refuses (the NAT line)',
    break: (s) => diedOnNat(s, 'BACKOFF'),
    fix: `${S}/start.ts ${NODE}`,
    explains: ['flanneld.running', 'flanneld.flags'],
  },
  {
    id: 'iface.public-ip-mismatch',
    name: 'the same while supervisord restarts it (STARTING): the run that died says why, the new one has said nothing yet',
    // CI saw doctor run in that instant and say "flanneld.stopped: flanneld-7-21 is STARTING",
    // "stopped by hand": the NAT line was the last run's, and only the current run was read
    break: (s) => {
      diedOnNat(s, 'STARTING');
      s.log += `${glog(new Date(AT.getTime() + 1000), 'I', 'main.go:527', 'Using interface with name eth0 and address 10.4.7.21')}\n`;
    },
    fix: `${S}/start.ts ${NODE}`,
    explains: ['flanneld.running', 'flanneld.flags'],
  },
  {
    id: 'config.invalid',
    name: 'SubnetLen too large for the network: one finding covering every check the config blocks',
    break: (s) => {
      s.etcd = {
        ok: true,
        value: {
          config: '{"Network": "172.7.0.0/16", "SubnetLen": 8, "Backend": {"Type": "host-gw"}}',
          leases: (s.etcd as { value: { leases: Lease[] } }).value.leases,
        },
      };
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --force`,
    explains: ['etcd.config', 'routes.peers'],
  },
  {
    id: 'config.wrong-prefix',
    name: 'the config written under /atomic.io/network: flanneld reads /coreos.com/network/config',
    break: (s) => {
      s.etcd = { ok: true, value: { leases: (s.etcd as { value: { leases: Lease[] } }).value.leases } };
      s.other = { ok: true, value: { api: 'v3' } };
      s.otherPrefixes = [{ key: '/atomic.io/network/config', api: 'v2', config: CONFIG, leases: 0 }];
    },
    fix: `${S}/etcd-config.ts --cluster ${C}`,
    evidence: /v2 \/atomic\.io\/network\/config = /,
    explains: ['etcd.config'],
  },
  {
    id: 'config.wrong-prefix',
    name: "the cluster's config and leases under another prefix, none under this node's: start --etcd-prefix, never a second config",
    break: (s) => {
      s.etcd = { ok: true, value: { leases: [] } };
      s.other = { ok: true, value: { api: 'v3' } };
      s.otherPrefixes = [{ key: '/other/network/config', api: 'v2', config: CONFIG, leases: 2 }];
    },
    fix: `${S}/start.ts ${NODE} --etcd-prefix /other/network`,
    evidence: /v2 \/other\/network\/config = .* \(2 leases beside it\)/,
    explains: ['etcd.config', 'lease.own'],
  },
  {
    id: 'sysctl.rp-filter',
    name: 'strict rp_filter on flannel.1 with vxlan DirectRouting',
    break: (s) => {
      const cfg = '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}';
      vxlanNode(s, cfg, [
        lease('172.7.21.0/24', '10.4.7.21', { backendType: 'vxlan', vtepMac: '72:af:40:82:41:23' }),
        lease('172.7.22.0/24', '10.4.7.22', { backendType: 'vxlan', vtepMac: '5a:3f:40:67:88:d9' }),
      ]);
      s.vxlan = { ...s.vxlan!, neighbours: { ok: true, value: [] }, fdb: { ok: true, value: [] } };
      s.rpFilter = { all: '1', eth0: '0', 'flannel.1': '0', docker0: '0' };
    },
    fix: 'sysctl -w net.ipv4.conf.all.rp_filter=2',
    explains: ['sysctl.rp-filter'],
  },
  {
    id: 'vxlan.extra-address',
    name: 'flannel.1 with an old lease address besides its own: flanneld FATAL; delete it, then start',
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      s.addr = editLink(s.addr, 'flannel.1', (l) =>
        (l.addr_info as object[]).push({ family: 'inet', local: '172.7.99.0', prefixlen: 32 }),
      );
      s.supervisor = 'FATAL';
      s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
    },
    fix: `ip addr del 172.7.99.0/32 dev flannel.1 && ${CTL} start flanneld-7-21`,
    explains: ['vxlan.addresses', 'flanneld.running'],
  },
  {
    id: 'vxlan.mac-mismatch',
    name: "flannel.1's MAC changed after flanneld published it (udev)",
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      s.addr = editLink(s.addr, 'flannel.1', (l) => (l.address = '02:11:22:33:44:55'));
    },
    fix: `${CTL} restart flanneld-7-21`,
    explains: ['vxlan.vtep-mac'],
  },
  {
    id: 'vxlan.stale-neighbour',
    name: "a peer's neighbour and fdb entry hold its old MAC (it rebooted; this flanneld missed the change)",
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      const peer = tree.leases.find((l) => l.publicIp.toString() === '10.4.7.22')!;
      s.vxlan = {
        ...s.vxlan!,
        neighbours: {
          ok: true,
          value: [{ ip: peer.subnet.network().ip, mac: '02:00:00:00:00:01', states: ['PERMANENT'] }],
        },
        fdb: {
          ok: true,
          value: [{ mac: '02:00:00:00:00:01', dst: peer.publicIp, flags: ['self'], state: 'permanent' }],
        },
      };
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
    explains: ['vxlan.neighbours', 'vxlan.fdb'],
  },
  {
    id: 'vxlan.device-missing',
    name: 'flannel.1 gone while flanneld runs (its underlay flapped)',
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.addr = JSON.stringify((JSON.parse(s.addr) as { ifname: string }[]).filter((l) => l.ifname !== 'flannel.1'));
      s.routes = withoutRoute(fixture('v0.11.0-61-vxlan-routes-h21.json'), '172.7.22.0/24');
      delete s.vxlan;
    },
    fix: `${CTL} restart flanneld-7-21`,
    explains: ['vxlan.device', 'routes.peers'],
  },
  {
    id: 'vxlan.port-blocked',
    name: 'the peer answers on the underlay, its VTEP through flannel.1 does not, entries right: udp/8472 dropped on the way',
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      s.peers = [{ subnet: '172.7.22.0/24', publicIp: '10.4.7.22', underlay: true, tunnel: false }];
    },
    fix: `${S}/etcd-config.ts --cluster ${C} --backend vxlan --direct-routing --force`,
  },
  {
    id: 'vxlan.port-blocked',
    name: "this node's own INPUT drops udp/8472: the fix deletes that rule",
    break: (s) => {
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      s.peers = [{ subnet: '172.7.22.0/24', publicIp: '10.4.7.22', underlay: true, tunnel: false }];
      s.save = s.save.replace(
        '-A INPUT -i lo -j ACCEPT\n',
        '-A INPUT -i lo -j ACCEPT\n-A INPUT -p udp -m udp --dport 8472 -j DROP\n',
      );
    },
    fix: 'iptables -D INPUT -p udp -m udp --dport 8472 -j DROP',
  },
  {
    id: 'drift.routes.stale',
    name: 'anything else drift finds keeps its check id and gets its fix (a stale route)',
    break: (s) => {
      s.routes = withRoute(s.routes, { dst: '172.7.99.0/24', gateway: '10.4.7.99', dev: 'eth0', flags: [] });
    },
    fix: `${S}/drift.ts ${NODE} --fix`,
  },
];

describe('doctor: diagnose', () => {
  test("a healthy node (a real lab node's outputs) has no finding: exit 0", () => {
    const { findings, checks } = examine(healthy());
    assert.deepEqual(findings, []);
    assert.equal(doctorExit(findings), 0);
    assert.equal(
      formatDoctorReport('hdss7-21', findings, checks),
      `doctor hdss7-21: nothing wrong (${checks.length} checks ok)`,
    );
  });

  for (const c of CASES) {
    test(`${c.id}: ${c.name}`, () => {
      const s = healthy();
      c.break(s);
      const { findings } = examine(s);
      const f = findings.find((x) => x.id === c.id);
      assert.ok(f, `no ${c.id} among ${findings.map((x) => x.id).join(', ') || 'none'}`);
      assert.equal(f.fix, c.fix);
      assert.ok(f.what && f.cause, 'says what and why');
      assert.ok(f.evidence.length > 0, 'shows evidence');
      if (c.evidence) assert.match(f.evidence.join('\n'), c.evidence);
      if (c.cause) assert.match(f.cause, c.cause);
      for (const id of c.explains ?? [])
        assert.ok(f.checks.includes(id), `${c.id} should explain ${id}: ${f.checks.join(',')}`);
      // the checks it explains are not reported a second time
      for (const id of f.checks)
        assert.ok(!findings.some((x) => x !== f && x.id === `drift.${id}`), `drift.${id} reported beside ${c.id}`);
      assert.equal(doctorExit(findings), c.exit ?? 1);
    });
  }

  test('issue 14.4: etcd errors flanneld logged while etcd was away, with flanneld.sh as expected: a note, exit 0, as drift says', () => {
    const s = healthy();
    s.log += `${glog(new Date(AT.getTime() - 20_000), 'E', 'main.go:382', "Couldn't fetch network config: client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 10.4.7.12:2379: connect: connection refused")}\n`;
    const { findings, checks } = examine(s);
    assert.deepEqual(
      findings.map((f) => [f.id, f.kind, f.fix]),
      [['etcd.recovered', 'note', undefined]],
    );
    assert.match(findings[0]!.what, /^flanneld logged etcd errors 20 s ago; etcd answers now$/);
    assert.equal(doctorExit(findings), 0);
    assert.equal(checks.filter((c) => c.status !== 'ok').length, 0, 'drift: in sync');
    assert.match(
      formatDoctorReport('hdss7-21', findings, checks),
      /^doctor hdss7-21: nothing wrong \(\d+ checks ok\); 1 note\n\[1\] etcd\.recovered \(note\):/,
    );
  });

  test('C31: vxlan on a kernel before 5.7: a note with the ethtool line, exit 0; none on 5.7+, on host-gw, or an unreadable release', () => {
    const vx = () => {
      const s = healthy();
      const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
      vxlanNode(s, tree.config!, tree.leases);
      s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
      return s;
    };
    const old = examineWith(vx(), { kernel: '3.10.0-1160.el7.x86_64' });
    const note = old.findings.find((f) => f.id === 'vxlan.checksum-offload');
    assert.ok(note, JSON.stringify(old.findings.map((f) => f.id)));
    assert.deepEqual([note.kind, note.fix], ['note', undefined]);
    assert.match(note.then!, /ethtool -K flannel\.1 tx-checksum-ip-generic off/);
    assert.match(note.what, /^kernel 3\.10\.0-1160\.el7\.x86_64 is older than 5\.7/);
    assert.equal(doctorExit(old.findings.filter((f) => f.kind === 'note')), 0);
    for (const kernel of ['5.7.0', '6.18.44-fc-v1045', 'garbage'])
      assert.ok(!examineWith(vx(), { kernel }).findings.some((f) => f.id === 'vxlan.checksum-offload'), kernel);
    // host-gw: no VXLAN, no note
    assert.ok(
      !examineWith(healthy(), { kernel: '3.10.0-1160.el7.x86_64' }).findings.some(
        (f) => f.id === 'vxlan.checksum-offload',
      ),
    );
  });

  test('a revoked lease that supervisord got over: a note (exit 0), read from the rotated log', () => {
    const s = healthy();
    s.log = fixture('h21-flanneld-two-runs.log');
    s.at = new Date(2026, 10, 26, 13, 45, 0);
    const { findings } = examine(s);
    assert.deepEqual(
      findings.map((f) => [f.id, f.kind]),
      [['lease.revoked', 'note']],
    );
    assert.equal(doctorExit(findings), 0);
  });

  /** One flanneld run, `sec` seconds before AT, that died on a healthz port someone else holds. */
  const diedOnPort = (sec: number) => {
    const at = new Date(AT.getTime() - sec * 1000);
    return [
      glog(at, 'I', 'main.go:527', 'Using interface with name eth0 and address 10.4.7.21'),
      glog(at, 'E', 'main.go:595', 'Start healthz server error. listen tcp 0.0.0.0:2401: bind: address already in use'),
      'panic: listen tcp 0.0.0.0:2401: bind: address already in use',
    ].join('\n');
  };

  test('flanneld.restart-loop: each start dies on the healthz port an orphaned flanneld holds', () => {
    const s = healthy();
    s.log += `${[diedOnPort(9), diedOnPort(6), diedOnPort(2)].join('\n')}\n`;
    s.supervisor = 'FATAL';
    const { findings } = examineWith(s, { portOwner: { port: 2401, pid: 4242, process: 'flanneld' } });
    const f = findings.find((x) => x.id === 'flanneld.restart-loop');
    assert.ok(f, findings.map((x) => x.id).join(','));
    assert.equal(f.fix, `kill 4242 && ${S}/start.ts ${NODE}`);
    assert.ok(!findings.some((x) => x.id === 'flanneld.stopped'));
  });

  test('a restart loop that a healthy run came after is over: stopped by hand is flanneld.stopped, not restart-loop', () => {
    const s = healthy();
    const healthyRun = s.log;
    s.log = `${[diedOnPort(300), diedOnPort(290), diedOnPort(280)].join('\n')}\n${healthyRun}`;
    s.supervisor = 'STOPPED';
    const { findings } = examine(s);
    assert.deepEqual(
      findings.filter((f) => f.kind === 'problem').map((f) => f.id),
      ['flanneld.stopped'],
    );
  });

  test('STARTING with no known fatal line: flanneld.stopped says supervisord is restarting it, not "stopped by hand"', () => {
    const s = healthy();
    s.supervisor = 'STARTING';
    s.healthz = { ok: false, error: 'healthz on 127.0.0.1:2401: connection refused' };
    const { findings } = examine(s);
    const stopped = findings.find((f) => f.id === 'flanneld.stopped');
    assert.ok(stopped, findings.map((f) => f.id).join(', '));
    assert.match(stopped.cause, /^supervisord is restarting it: it has not stayed up for startsecs/);
    assert.doesNotMatch(stopped.cause, /by hand/);
  });

  test('vxlan.directrouting-mismatch: DirectRouting in the config, the running flanneld started without it', () => {
    const s = healthy();
    const cfg = '{"Network": "172.7.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}';
    const tree = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/61-vxlan-etcd.json', 'utf8'));
    vxlanNode(s, cfg, tree.leases);
    s.routes = fixture('v0.11.0-61-vxlan-routes-h21.json');
    s.log += `${glog(AT, 'I', 'vxlan.go:120', 'VXLAN config: VNI=1 Port=0 GBP=false DirectRouting=false')}\n`;
    const { findings } = examine(s);
    const f = findings.find((x) => x.id === 'vxlan.directrouting-mismatch');
    assert.ok(f, findings.map((x) => x.id).join(','));
    assert.equal(f.fix, `${CTL} restart flanneld-7-21`);
    assert.ok(f.checks.includes('routes.peers'));
  });

  test('fix lines without a cluster file carry to each script only the flags it takes (snat-fix and certs refuse --endpoints)', async () => {
    const flagsOnly: Invocation = {
      scriptsDir: S,
      nodeArgs: [...h21Args('https://10.4.7.12:2379'), '--bridge', 'docker0', '--cafile', '/c/ca.pem', '--root', '/r'],
      clusterArgs: [],
      certsFrom: 'root@hdss7-200:/opt/certs',
    };
    for (const script of ['snat-fix', 'certs', 'start', 'drift'] as const) {
      const mod = (await import(`../../scripts/${script}.ts`)) as { flags: Record<string, unknown> };
      const words = toolkitCommand(flagsOnly, script).split(' ').slice(1);
      for (const w of words.filter((x) => x.startsWith('--')))
        assert.ok(w.slice(2) in mod.flags, `${script} does not take ${w}: ${words.join(' ')}`);
    }
    assert.equal(
      toolkitCommand(flagsOnly, 'snat-fix'),
      `${S}/snat-fix.ts --subnet 172.7.21.0/24 --network 172.7.0.0/16 --bridge docker0 --root /r`,
    );
    assert.equal(
      toolkitCommand(flagsOnly, 'certs', ['--from', 'x:/y']),
      `${S}/certs.ts --cafile /c/ca.pem --root /r --from x:/y`,
    );
  });

  test('issue 14.1: drift does not offer to save live rules it found wrong (the DROP would survive a reboot)', () => {
    const s = healthy();
    s.save = s.save.replace(
      ':OUTPUT ACCEPT [18592:2461868]\n',
      ':OUTPUT ACCEPT [18592:2461868]\n-A FORWARD -d 172.7.21.0/24 -j DROP\n',
    );
    s.persisted = fixture('h21-iptables-save.txt');
    const { checks } = examine(s);
    const fwd = checks.find((c) => c.id === 'iptables.forward')!;
    const saved = checks.find((c) => c.id === 'iptables.persisted')!;
    assert.equal(fwd.status, 'drift');
    assert.match(fwd.reason, /172\.7\.22\.0\/24 -> 172\.7\.21\.0\/24 by `-A FORWARD -d 172\.7\.21\.0\/24 -j DROP`/);
    assert.equal(fwd.fix, undefined, "someone's DROP is never deleted by --fix");
    assert.equal(saved.status, 'drift');
    assert.equal(saved.fix, undefined);
    assert.match(saved.reason, /have -A FORWARD|want -A FORWARD -d 172\.7\.21\.0\/24 -j DROP/);
  });

  test('issue 14.2: legacy tables that hold no rule acting on pods are not drift; ones that do block saving', () => {
    const s = healthy();
    s.legacySave =
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 9 -j DROP\nCOMMIT\n';
    assert.equal(examine(s).checks.find((c) => c.id === 'iptables.backend')!.status, 'ok');
    s.legacySave = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';
    const { checks, findings } = examine(s);
    assert.equal(checks.find((c) => c.id === 'iptables.backend')!.status, 'drift');
    assert.ok(findings.some((f) => f.id === 'iptables.backend-mix'));
  });

  test('every finding id of the brief has a case', () => {
    const ids = new Set(CASES.map((c) => c.id));
    for (const id of [
      'config.written-v3',
      'config.written-v2',
      'etcd.v2-disabled',
      'etcd.tls-ca',
      'etcd.tls-client-cert',
      'etcd.tls-scheme',
      'routes.peer-not-l2',
      'iptables.docker-masq',
      'iptables.forward-drop',
      'sysctl.ip-forward-off',
      'docker0.bip-mismatch',
      'lease.taken-over',
      'flanneld.no-lease',
      'routes.vxlan-deleted',
      'mtu.mismatch',
      'iptables.forward-blocked',
      'iptables.forward-reject',
      'iptables.backend-mix',
      'iptables.no-egress-masq',
      'routes.own-subnet',
      'routes.wrong-gateway',
      'lease.stale',
      'lease.revoked',
      'lease.subnet-changed',
      'iface.missing',
      'iface.public-ip-mismatch',
      'config.invalid',
      'config.wrong-prefix',
      'etcd.outage-degraded',
      'sysctl.rp-filter',
      'vxlan.extra-address',
      'vxlan.mac-mismatch',
      'vxlan.stale-neighbour',
      'vxlan.device-missing',
      'vxlan.port-blocked',
    ]) {
      assert.ok(ids.has(id), id);
    }
  });

  test('the report prints each finding with its evidence, cause and fix line', () => {
    const s = healthy();
    s.ipForward = '0';
    const { findings, checks } = examine(s);
    assert.equal(
      formatDoctorReport('hdss7-21', findings, checks),
      [
        'doctor hdss7-21: 1 finding',
        '[1] sysctl.ip-forward-off: net.ipv4.ip_forward = 0: this node routes no pod traffic, in or out',
        '    evidence: /proc/sys/net/ipv4/ip_forward: 0',
        `    cause:    ${findings[0]!.cause}`,
        '    fix:      sysctl -w net.ipv4.ip_forward=1',
        "    then:     make it last: echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/99-flannel.conf",
      ].join('\n'),
    );
  });
});

describe('doctor: flanneld log', () => {
  test('only the last run counts: a revoked lease before the restart is history', () => {
    const st = analyseFlanneldLog(fixture('h21-flanneld-two-runs.log'), AT);
    assert.match(st.lines[0]!.raw, /32522 main\.go:527\] Using interface/);
    assert.equal(st.current.size, 0);
    assert.deepEqual(st.routeErrors, []);
  });

  test('a route the kernel refused is kept with its subnet', () => {
    const text = fixture('h21-flanneld-two-runs.log').split('\n').slice(0, 22).join('\n');
    const st = analyseFlanneldLog(text, AT);
    assert.deepEqual(
      st.routeErrors.map((r) => r.subnet),
      ['172.7.30.0/24'],
    );
  });

  test('a repeating error is current only while it repeats: a minute old, or followed by success, it is over', () => {
    // the real run: Key not found every second until the config was written through v2, then found
    const full = realLog('v0.11.0-11-v3only-flanneld-h21.log');
    const waiting = until(full, /Couldn't fetch network config/);
    const at = new Date(2026, 10, 26, 12, 18, 55);
    assert.ok(analyseFlanneldLog(waiting, at).current.has('config-v2-missing'));
    assert.ok(!analyseFlanneldLog(waiting, new Date(2026, 10, 26, 12, 25, 0)).current.has('config-v2-missing'));
    assert.ok(!analyseFlanneldLog(full, at).current.has('config-v2-missing'));
    const t = new Date(2026, 10, 26, 12, 0, 0);
    const later = new Date(t.getTime() + 2000);
    const resolved = [
      glog(t, 'I', 'main.go:527', 'Using interface with name eth0 and address 10.4.7.21'),
      glog(t, 'E', 'main.go:382', "Couldn't fetch network config: 100: Key not found (/coreos.com/network/config) [3]"),
      glog(later, 'I', 'main.go:386', 'Found network config - Backend type: host-gw'),
    ].join('\n');
    assert.equal(analyseFlanneldLog(resolved, later).current.size, 0);
  });

  test('a takeover is read from the real v0.11.0 log of a copied subnet.env', () => {
    const st = analyseFlanneldLog(
      fixture('v0.11.0-41-copied-subnetenv-flanneld-h22.log'),
      new Date(2026, 10, 26, 12, 23, 0),
    );
    assert.deepEqual(
      st.takeovers.map((t) => t.subnet),
      ['172.7.21.0/24'],
    );
  });

  test('glog times are local, in the year that puts them just before now', () => {
    assert.deepEqual(
      glogTime('I1126 12:18:29.817824   10584 main.go:527] x', new Date(2026, 10, 26, 13, 0, 0)),
      new Date(2026, 10, 26, 12, 18, 29, 817),
    );
    assert.equal(
      glogTime('I1231 23:59:59.000000   1 main.go:1] x', new Date(2027, 0, 1, 0, 0, 5))!.getFullYear(),
      2026,
    );
    assert.equal(glogTime('panic: boom', new Date()), undefined);
  });
});

describe('scripts/doctor: usage', () => {
  const refused = (argv: string[], says: RegExp) =>
    assert.rejects(
      main(argv, new MemoryHost()),
      (e: unknown) => e instanceof UsageError && says.test(e.message) && !e.message.includes('\n'),
    );
  test('bad input is a one-line usage error (exit 2) before anything is observed', async () => {
    await refused(['--bogus'], /unknown flag --bogus/);
    await refused(['--public-ip', '10.4.7.21'], /--subnet/);
    await refused(['--pod-netns', ''], /--pod-netns/);
    await refused(['--node', 'hdss7-21'], /--node "hdss7-21": needs --cluster FILE/);
    await refused(['--reject', 'sometimes'], /--reject "sometimes": must be one of drop, keep/);
  });
});

describe('doctor: fix commands', () => {
  test('mergeArgs replaces a flag the fix gives (and its value), keeps the rest in order', () => {
    assert.deepEqual(
      mergeArgs(['--cluster', C, '--endpoints', 'http://a:2379', '--root', '/x'], ['--endpoints', 'https://a:2379']),
      ['--cluster', C, '--root', '/x', '--endpoints', 'https://a:2379'],
    );
    assert.deepEqual(mergeArgs(['--quiet', '--node', 'n'], ['--quiet']), ['--node', 'n', '--quiet']);
  });

  test('toolkitCommand quotes what needs quoting', () => {
    assert.equal(
      toolkitCommand({ ...RUN, nodeArgs: ['--root', '/tmp/my lab'] }, 'drift', ['--fix']),
      `${S}/drift.ts --root '/tmp/my lab' --fix`,
    );
    assert.equal(
      toolkitCommand(RUN, 'etcd-config', ['--force'], 'cluster'),
      `${S}/etcd-config.ts --cluster ${C} --force`,
    );
    assert.equal(
      toolkitCommand({ ...RUN, scriptsDir: '/opt/flannel-runbook/dist', ext: '.mjs' }, 'snat-fix'),
      `/opt/flannel-runbook/dist/snat-fix.mjs --cluster ${C} --node hdss7-21`,
    );
  });

  test('deleteKeyCommand: curl DELETE for v2, etcdctl del for v3, file paths only', () => {
    const etcd = {
      endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379'],
      cafile: '/c/ca.pem',
      certfile: '/c/client.pem',
      keyfile: '/c/client-key.pem',
    };
    assert.equal(
      deleteKeyCommand({ etcd }, 'v2', '/coreos.com/network/subnets/172.7.21.0-24'),
      'curl -sS --fail-with-body --cacert /c/ca.pem --cert /c/client.pem --key /c/client-key.pem -X DELETE https://10.4.7.12:2379/v2/keys/coreos.com/network/subnets/172.7.21.0-24',
    );
    assert.equal(
      deleteKeyCommand({ etcd }, 'v3', '/coreos.com/network/subnets/172.7.21.0-24'),
      'etcdctl --endpoints=https://10.4.7.12:2379,https://10.4.7.21:2379 --cacert=/c/ca.pem --cert=/c/client.pem --key=/c/client-key.pem del /coreos.com/network/subnets/172.7.21.0-24',
    );
  });
});
