// lib/model/iproute-text.ts, live: a fresh flannel-node state in namespaces of its own (see
// iproute-state.ts), read by this machine's iproute2 in JSON and by the CentOS 7 iproute2 4.11
// (tests/fixtures/el7-tools) in text. Every text reading must equal the JSON reading, before
// and after the state is changed by hand the way drift finds it.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execIn, ipBatch } from '../../lab/netns.ts';
import { parseIpAddr } from '../../lib/model/interfaces.ts';
import {
  detectJsonForm,
  parseFdbText,
  parseIpAddrText,
  parseIpRouteText,
  parseNeighboursText,
} from '../../lib/model/iproute-text.ts';
import { formatRoute, parseIpRoute } from '../../lib/model/routes.ts';
import { parseFdb, parseNeighbours } from '../../lib/model/vxlan.ts';
import {
  buildIprouteState,
  capture,
  captureJsonProbes,
  capturePairs,
  destroyIprouteState,
  type IprouteState,
  newPrefix,
  removeLeftovers,
} from './iproute-state.ts';

const notRoot = process.getuid?.() !== 0 ? 'needs root: network namespaces' : false;

type Parse = (s: string) => unknown;
const PARSERS: Record<string, [Parse, Parse]> = {
  route: [parseIpRoute, parseIpRouteText],
  'route-table-all': [parseIpRoute, parseIpRouteText],
  'addr-d': [parseIpAddr, parseIpAddrText],
  'addr-4': [parseIpAddr, parseIpAddrText],
  'addr-d-4': [parseIpAddr, parseIpAddrText],
  'pod-addr-d': [parseIpAddr, parseIpAddrText],
  neigh: [parseNeighbours, parseNeighboursText],
  fdb: [parseFdb, parseFdbText],
  'fdb-port': [parseFdb, parseFdbText],
};

/** Every capture pair read both ways; returns the JSON readings by name. */
async function compareAll(state: IprouteState): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  for (const p of capturePairs(state)) {
    const parsers = PARSERS[p.name];
    assert.ok(parsers, `no parsers for ${p.name}`);
    const got = await capture(p);
    const fromJson = parsers[0](got.json);
    assert.deepEqual(parsers[1](got.text), fromJson, `${p.text.join(' ')} vs ${p.json.join(' ')}`);
    seen[p.name] = fromJson;
  }
  return seen;
}

describe('iproute-text (live, iproute2 4.11 text against this machine’s JSON)', { skip: notRoot }, () => {
  const made: string[] = [];
  let state: IprouteState;

  // registered before anything exists: each namespace joins `made` the moment it is created
  after(() => destroyIprouteState(made));
  before(async () => {
    await removeLeftovers();
    state = await buildIprouteState(newPrefix(), (ns) => made.push(ns));
  });

  test('every observation of the fresh state reads the same in text as in JSON', async () => {
    const seen = await compareAll(state);
    assert.ok(
      (seen.route as Parameters<typeof formatRoute>[0][])
        .map(formatRoute)
        .includes('172.7.23.0/24 via 172.7.23.0 dev flannel.1 onlink'),
    );
  });

  test('4.11 refuses -j for ip (exit 255) but answers bridge -j in JSON; detectJsonForm tells them apart', async () => {
    const probes = (await captureJsonProbes(state)) as Record<
      string,
      { status: number; stdout: string; stderr: string }
    >;
    assert.equal(detectJsonForm(probes.el7IpJsonRoute!), 'unsupported');
    assert.equal(detectJsonForm(probes.el7IpJsonAddr!), 'unsupported');
    assert.equal(detectJsonForm(probes.el7BridgeJsonFdb!), 'json');
    assert.equal(detectJsonForm(probes.modernIpJsonRoute!), 'json');
  });

  test('after drift by hand (vxlan route, neighbour and fdb entry gone, MTUs changed) text still equals JSON', async () => {
    await ipBatch(state.node, [
      'route del 172.7.23.0/24 via 172.7.23.0 dev flannel.1 onlink',
      'route add 172.7.22.0/24 via 10.4.7.99 dev eth0 metric 5',
      'neigh del 172.7.23.0 dev flannel.1',
      'link set flannel.1 mtu 1400',
      'link set docker0 mtu 1500',
      `link set ${state.port} nomaster`,
    ]);
    await execIn(state.node, ['bridge', 'fdb', 'del', '5a:3f:40:67:88:d9', 'dev', 'flannel.1', 'dst', '10.5.7.23']);
    const seen = await compareAll(state);
    const routes = (seen.route as Parameters<typeof formatRoute>[0][]).map(formatRoute);
    assert.ok(!routes.some((r) => r.startsWith('172.7.23.0/24')));
    assert.ok(routes.includes('172.7.22.0/24 via 10.4.7.99 dev eth0 metric 5'));
    const links = seen['addr-d'] as ReturnType<typeof parseIpAddr>;
    assert.equal(links.find((l) => l.name === 'flannel.1')?.mtu, 1400);
    assert.equal(links.find((l) => l.name === state.port)?.master, undefined);
  });
});
