import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkStartPreconditions,
  launcherPath,
  planStart,
  readiness,
  renderServiceFiles,
  servicePaths,
  type StartInput,
} from '../../lib/steps/start.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { parseV2Tree } from '../../lib/model/lease.ts';
import { parseNetworkConfig } from '../../lib/model/netconfig.ts';
import { formatPlan } from '../../lib/core/plan.ts';
import { readFileSync } from 'node:fs';

const input = (over: Partial<StartInput> = {}): StartInput => ({
  root: '/',
  program: 'flanneld-7-21',
  publicIp: Ip4.parse('10.4.7.21'),
  subnet: Ip4Net.parse('172.7.21.0/24'),
  network: Ip4Net.parse('172.7.0.0/16'),
  iface: 'eth0',
  mtu: 1500,
  endpoints: ['https://10.4.7.12:2379', 'https://10.4.7.21:2379', 'https://10.4.7.22:2379'],
  tls: {
    cafile: '/opt/flannel/cert/ca.pem',
    certfile: '/opt/flannel/cert/client.pem',
    keyfile: '/opt/flannel/cert/client-key.pem',
  },
  etcdPrefix: '/coreos.com/network',
  healthzPort: 2401,
  startSecs: 30,
  manager: 'supervisor',
  paths: servicePaths('/', { program: 'flanneld-7-21' }),
  ...over,
});
const leases = parseV2Tree(readFileSync('tests/fixtures/v0.11.0/22-hostgw-nomasq-etcd.json', 'utf8')).leases;
const config = parseNetworkConfig('{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}');

describe('flanneld-service', () => {
  test("for the runbook node the files are the runbook's, with exec so the stop signal reaches flanneld", () => {
    const f = renderServiceFiles(input());
    assert.equal(
      f.subnetEnv,
      'FLANNEL_NETWORK=172.7.0.0/16\nFLANNEL_SUBNET=172.7.21.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n',
    );
    const golden = readFileSync('tests/fixtures/flanneld-files/runbook-flanneld.sh.golden', 'utf8');
    assert.equal(f.flanneldSh, golden.replace('\n./flanneld', '\nexec ./flanneld'));
    assert.equal(f.ini, readFileSync('tests/fixtures/flanneld-files/runbook-flannel.ini.golden', 'utf8'));
  });

  test('TLS files inside /opt/flannel are named relative, as the runbook does; others absolute under --root', () => {
    assert.equal(launcherPath('/', '/opt/flannel/cert/ca.pem'), './cert/ca.pem');
    assert.equal(launcherPath('/tmp/lab/h21', '/etc/ssl/ca.pem'), '/tmp/lab/h21/etc/ssl/ca.pem');
  });

  test('supervisor: a new node writes everything and runs update; a running one with the same files: nothing', () => {
    const i = input();
    const f = renderServiceFiles(i);
    const fresh = formatPlan(planStart(i, f, { logDirExists: false }));
    assert.match(
      fresh,
      /mkdir -p -m 0755 \/data\/logs\/flanneld[\s\S]*\/opt\/flannel\/subnet\.env[\s\S]*\/opt\/flannel\/flanneld\.sh[\s\S]*\/etc\/supervisord\.d\/flannel\.ini[\s\S]*supervisorctl -c \/etc\/supervisord\.conf update\n$/,
    );
    const running = { program: 'flanneld-7-21', state: 'RUNNING' as const, detail: 'pid 1, uptime 0:01:00' };
    assert.deepEqual(
      planStart(i, f, {
        subnetEnv: f.subnetEnv,
        flanneldSh: f.flanneldSh,
        ini: f.ini,
        logDirExists: true,
        status: running,
      }),
      [],
    );
  });

  test('supervisor: changed flags while running -> restart; stopped -> start; BACKOFF -> start', () => {
    const i = input();
    const f = renderServiceFiles(i);
    const seen = {
      subnetEnv: f.subnetEnv,
      flanneldSh: 'old',
      ini: f.ini,
      logDirExists: true,
      status: { program: 'flanneld-7-21', state: 'RUNNING' as const, detail: '' },
    };
    assert.match(
      formatPlan(planStart(i, f, seen)),
      /supervisorctl -c \/etc\/supervisord\.conf restart flanneld-7-21\n$/,
    );
    assert.match(
      formatPlan(planStart(i, f, { ...seen, flanneldSh: f.flanneldSh, status: { ...seen.status, state: 'STOPPED' } })),
      /# flanneld-7-21 is STOPPED\nsupervisorctl -c \/etc\/supervisord\.conf start flanneld-7-21\n$/,
    );
  });

  test('systemd: the unit is written, daemon-reload, enable --now', () => {
    const i = input({ manager: 'systemd' });
    const plan = formatPlan(planStart(i, renderServiceFiles(i), { logDirExists: true }));
    assert.match(
      plan,
      /\/etc\/systemd\/system\/flanneld-7-21\.service[\s\S]*systemctl daemon-reload\n[\s\S]*systemctl enable --now flanneld-7-21\.service\n$/,
    );
    assert.doesNotMatch(plan, /supervisorctl/);
  });

  test('preconditions: the runbook node may start; a subnet held by another IP, an IP holding another subnet, no config, a subnet outside the config are refused', () => {
    checkStartPreconditions(
      { publicIp: Ip4.parse('10.4.7.21'), subnet: Ip4Net.parse('172.7.21.0/24') },
      config,
      leases,
      'v2',
    );
    assert.throws(
      () =>
        checkStartPreconditions(
          { publicIp: Ip4.parse('10.4.7.21'), subnet: Ip4Net.parse('172.7.22.0/24') },
          config,
          leases,
          'v2',
        ),
      /--subnet "172\.7\.22\.0\/24": is leased to 10\.4\.7\.22/,
    );
    assert.throws(
      () =>
        checkStartPreconditions(
          { publicIp: Ip4.parse('10.4.7.21'), subnet: Ip4Net.parse('172.7.30.0/24') },
          config,
          leases,
          'v2',
        ),
      /but 10\.4\.7\.21 already holds 172\.7\.21\.0\/24/,
    );
    assert.throws(
      () =>
        checkStartPreconditions(
          { publicIp: Ip4.parse('10.4.7.23'), subnet: Ip4Net.parse('172.7.23.0/24') },
          undefined,
          [],
          'v2',
        ),
      /no network config in etcd \(v2 API\)/,
    );
    assert.throws(
      () =>
        checkStartPreconditions(
          { publicIp: Ip4.parse('10.4.7.23'), subnet: Ip4Net.parse('172.7.23.0/25') },
          config,
          [],
          'v2',
        ),
      /does not fit the network config/,
    );
  });

  test('readiness needs RUNNING, our lease and subnet.env; healthz is not asked', () => {
    const i = input();
    const env = renderServiceFiles(i).expectedEnv;
    const running = { program: 'flanneld-7-21', state: 'RUNNING' as const, detail: '' };
    assert.equal(readiness(i, running, leases, env, env).ready, true);
    assert.equal(readiness(i, { ...running, state: 'STARTING' }, leases, env, env).ready, false);
    assert.equal(readiness(i, running, [], env, env).lease, 'no lease yet');
    assert.equal(readiness(i, running, undefined, env, env).lease, 'etcd not answering');
  });
});
