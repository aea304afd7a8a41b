// lib/host/iproute.ts: the node's routes, links, neighbours and fdb through the Host, JSON
// first, text where the tools have no JSON, detected once per Host. A memory host answers as
// each iproute2 does (the answers are the captured fixtures of tests/fixtures/iproute-text):
// a current one in JSON, 4.11 (CentOS 7) with exit 255 for every `ip -j` but JSON for
// `bridge -j`, 4.15 (Ubuntu 18.04) with text for `ip -j route`.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CommandError } from '../../lib/core/errors.ts';
import {
  knownForm,
  readAddresses,
  readFdb,
  readLinks,
  readNeighbours,
  readNetnsLinks,
  readRoutes,
} from '../../lib/host/iproute.ts';
import { parseIpAddr } from '../../lib/model/interfaces.ts';
import { parseIpRoute } from '../../lib/model/routes.ts';
import { parseFdb, parseNeighbours } from '../../lib/model/vxlan.ts';
import { MemoryHost } from '../support/memory-host.ts';

const fx = (f: string) => readFileSync(new URL(`../fixtures/iproute-text/${f}`, import.meta.url), 'utf8');
const UNKNOWN_J = { status: 255, stderr: 'Option "-j" is unknown, try "ip -help".\n' };
const argvs = (h: MemoryHost) => h.ran.map((c) => c.argv.join(' '));

/** A node with iproute2 as current Debian has it: JSON everywhere. */
function modern(): MemoryHost {
  return new MemoryHost()
    .answer(['ip', '-j', 'route', 'show'], { stdout: fx('route.json') })
    .answer(['ip', '-j', '-d', 'addr', 'show'], { stdout: fx('addr-d.json') })
    .answer(['ip', '-j', '-4', 'addr', 'show'], { stdout: fx('addr-4.json') })
    .answer(['ip', '-j', 'neigh', 'show'], { stdout: fx('neigh.json') })
    .answer(['bridge', '-j', 'fdb', 'show'], { stdout: fx('fdb.json') })
    .answer(['ip', 'netns', 'exec', 'pod1', 'ip', '-j', '-d', 'addr', 'show'], { stdout: fx('pod-addr-d.json') });
}

/** A CentOS 7 node: iproute2 4.11. */
function el7(): MemoryHost {
  return new MemoryHost()
    .answer(['ip', '-j'], UNKNOWN_J)
    .answer(['ip', 'route', 'show'], { stdout: fx('route.txt') })
    .answer(['ip', '-d', 'addr', 'show'], { stdout: fx('addr-d.txt') })
    .answer(['ip', '-4', 'addr', 'show'], { stdout: fx('addr-4.txt') })
    .answer(['ip', 'neigh', 'show'], { stdout: fx('neigh.txt') })
    .answer(['bridge', '-j', 'fdb', 'show'], { stdout: fx('fdb.json') })
    .answer(['ip', 'netns', 'exec', 'pod1', 'ip', '-j'], UNKNOWN_J)
    .answer(['ip', 'netns', 'exec', 'pod1', 'ip', '-d', 'addr', 'show'], { stdout: fx('pod-addr-d.txt') });
}

describe('host/iproute', () => {
  test('a current iproute2: one JSON command per read, nothing else', async () => {
    const h = modern();
    assert.deepEqual(await readRoutes(h), parseIpRoute(fx('route.json')));
    assert.deepEqual(await readLinks(h), parseIpAddr(fx('addr-d.json')));
    assert.deepEqual(await readRoutes(h), parseIpRoute(fx('route.json')));
    assert.deepEqual(argvs(h), ['ip -j route show', 'ip -j -d addr show', 'ip -j route show']);
    assert.equal(knownForm(h, 'ip-route'), 'json');
    assert.ok(h.ran.every((c) => c.readOnly));
  });

  test('iproute2 4.11: the first `ip -j` refusal switches every ip read to text; the results equal the JSON ones', async () => {
    const h = el7();
    assert.deepEqual(await readRoutes(h), parseIpRoute(fx('route.json')));
    // refused once for the whole `ip`: addr and neigh go to text without asking
    assert.deepEqual(await readLinks(h), parseIpAddr(fx('addr-d.json')));
    assert.deepEqual(await readAddresses(h), parseIpAddr(fx('addr-4.json')));
    assert.deepEqual(await readNeighbours(h, 'flannel.1'), parseNeighbours(fx('neigh.json')));
    assert.deepEqual(await readRoutes(h), parseIpRoute(fx('route.json')));
    assert.deepEqual(argvs(h), [
      'ip -j route show',
      'ip route show',
      'ip -d addr show',
      'ip -4 addr show',
      'ip neigh show dev flannel.1',
      'ip route show',
    ]);
  });

  test("iproute2 4.11's `bridge -j fdb` answers in JSON and is used, even after `ip -j` was refused", async () => {
    const h = el7();
    await readRoutes(h);
    assert.deepEqual(await readFdb(h, 'flannel.1'), parseFdb(fx('fdb.json')));
    assert.equal(knownForm(h, 'bridge-fdb'), 'json');
    assert.deepEqual(argvs(h).slice(-1), ['bridge -j fdb show dev flannel.1']);
  });

  test('reads in flight together on 4.11 (as observeNode makes them) each fall back once, then never ask again', async () => {
    const h = el7();
    const [routes, links] = await Promise.all([readRoutes(h), readLinks(h)]);
    assert.equal(routes.length, 18);
    assert.equal(links.length, 9);
    const before = h.ran.length;
    await Promise.all([readRoutes(h), readLinks(h)]);
    assert.deepEqual(argvs(h).slice(before), ['ip route show', 'ip -d addr show']);
  });

  test('iproute2 4.15: the text answer to `ip -j route` is parsed as it is (no second process), then text is asked', async () => {
    const h = modern().answer(['ip', '-j', 'route', 'show'], { stdout: fx('route.txt') });
    h.answer(['ip', 'route', 'show'], { stdout: fx('route.txt') });
    assert.deepEqual(await readRoutes(h), parseIpRoute(fx('route.json')));
    assert.deepEqual(argvs(h), ['ip -j route show']);
    assert.equal(knownForm(h, 'ip-route'), 'text');
    // addresses keep their JSON (4.15 has `ip -j addr`)
    await readLinks(h);
    assert.equal(knownForm(h, 'ip-addr'), 'json');
    await readRoutes(h);
    assert.deepEqual(argvs(h), ['ip -j route show', 'ip -j -d addr show', 'ip route show']);
  });

  test("a pod's links through `ip netns exec`: the same fallback, and the same answers", async () => {
    for (const h of [modern(), el7()]) {
      assert.deepEqual(await readNetnsLinks(h, 'pod1'), parseIpAddr(fx('pod-addr-d.json')));
    }
    const h = el7();
    await readNetnsLinks(h, 'pod1');
    assert.deepEqual(argvs(h), ['ip netns exec pod1 ip -j -d addr show', 'ip netns exec pod1 ip -d addr show']);
  });

  test('any other failure is the answer: it is thrown as it came, and nothing is remembered', async () => {
    const h = new MemoryHost().answer(['ip', '-j', 'neigh'], { status: 1, stderr: 'Cannot find device "flannel.1"\n' });
    await assert.rejects(
      readNeighbours(h, 'flannel.1'),
      (e: unknown) => e instanceof CommandError && e.status === 1 && /Cannot find device/.test(e.message),
    );
    assert.equal(knownForm(h, 'ip-neigh'), undefined);
  });

  test('what one Host answered says nothing about another', async () => {
    const old = el7();
    await readRoutes(old);
    const h = modern();
    await readRoutes(h);
    assert.deepEqual(argvs(h), ['ip -j route show']);
    assert.equal(knownForm(old, 'ip-route'), 'text');
    assert.equal(knownForm(h, 'ip-route'), 'json');
  });
});
