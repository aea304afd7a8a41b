// drift --nagios: one status line with perfdata, and the plugin's exit code (lib/checks/nagios.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNagios, nagiosState } from '../../lib/checks/nagios.ts';
import type { Check } from '../../lib/checks/types.ts';

const ok = (id: string): Check => ({ id, status: 'ok', reason: 'fine' });
const driftOf = (id: string, detail?: unknown): Check => ({
  id,
  status: 'drift',
  reason: 'wrong',
  ...(detail !== undefined && { detail }),
});
const err = (id: string): Check => ({
  id,
  status: 'error',
  reason: 'etcd did not answer',
  blockedBy: { kind: 'etcd', error: 'x' },
});
const node = (checks: Check[], name = 'hdss7-21') => ({ node: name, checks, durationS: 0.25 });
const route = { dst: '172.7.22.0/24', via: '10.4.7.22', dev: 'eth0' };

describe('drift --nagios', () => {
  test('in sync is OK, with perfdata', () => {
    const v = formatNagios([node([ok('etcd.reachable'), ok('routes.peers')])]);
    assert.deepEqual(v, {
      exit: 0,
      line: 'FLANNEL OK - hdss7-21: in sync | ok=2;;;0 drift=0;;;0 error=0;;;0 duration=0.250s;;;0',
    });
  });

  test('a repairable drift is WARNING; an outage is CRITICAL; etcd unreachable is UNKNOWN', () => {
    assert.equal(nagiosState(node([ok('etcd.reachable'), driftOf('iptables.persisted')])), 1);
    for (const id of ['flanneld.running', 'sysctl.ip-forward', 'lease.own', 'iptables.forward'])
      assert.equal(nagiosState(node([driftOf(id)])), 2, id);
    // routes: CRITICAL only when no peer has its route
    assert.equal(nagiosState(node([driftOf('routes.peers', { desired: 2, missing: [route], wrong: [] })])), 1);
    assert.equal(nagiosState(node([driftOf('routes.peers', { desired: 1, missing: [route], wrong: [] })])), 2);
    assert.equal(nagiosState(node([err('etcd.reachable'), err('lease.own'), ok('flanneld.running')])), 3);
    // an outage seen is CRITICAL even when etcd could not be asked
    assert.equal(nagiosState(node([err('etcd.reachable'), driftOf('flanneld.running')])), 2);
    assert.equal(nagiosState({ ...node([]), error: 'cannot connect over ssh' }), 3);
  });

  test('the line names what is wrong; several nodes: the worst state and only the nodes not in sync', () => {
    const v = formatNagios([
      node([ok('etcd.reachable')], 'hdss7-21'),
      node([driftOf('flanneld.running'), driftOf('iptables.snat')], 'hdss7-22'),
      node([ok('etcd.reachable')], 'hdss7-23'),
    ]);
    assert.equal(v.exit, 2);
    assert.equal(
      v.line,
      'FLANNEL CRITICAL - hdss7-22: outage: flanneld.running; drift: iptables.snat | ok=2;;;0 drift=2;;;0 error=0;;;0 nodes_not_ok=1;;;0;3 duration=0.250s;;;0',
    );
    assert.match(formatNagios([node([ok('a')]), node([ok('b')], 'hdss7-22')]).line, /^FLANNEL OK - 2 nodes in sync \|/);
  });
});
