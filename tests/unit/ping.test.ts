import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePingOutput, pingCommand } from '../../lib/model/ping.ts';
import { mapBounded } from '../../lib/core/map-bounded.ts';

const OK = `PING 172.7.22.2 (172.7.22.2) 56(84) bytes of data.
64 bytes from 172.7.22.2: icmp_seq=1 ttl=63 time=0.084 ms
64 bytes from 172.7.22.2: icmp_seq=2 ttl=63 time=0.088 ms

--- 172.7.22.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1028ms
rtt min/avg/max/mdev = 0.084/0.086/0.088/0.002 ms
`;
// the runbook lab's real output before flannel ran (the observed v0.11.0 baseline, docs/flannel-facts.md fixtures)
const UNREACHABLE = `PING 172.7.22.2 (172.7.22.2) 56(84) bytes of data.
From 172.7.21.1 icmp_seq=1 Destination Net Unreachable
From 172.7.21.1 icmp_seq=2 Destination Net Unreachable

--- 172.7.22.2 ping statistics ---
2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 1028ms
`;

describe('ping', () => {
  test('parses replies: loss, TTL, average RTT', () => {
    assert.deepEqual(parsePingOutput(OK), {
      transmitted: 2,
      received: 2,
      loss: 0,
      ttl: 63,
      rttAvgMs: 0.086,
      icmpError: undefined,
      error: undefined,
    });
  });

  test('parses the ICMP error a router sent back', () => {
    const r = parsePingOutput(UNREACHABLE);
    assert.equal(r.loss, 100);
    assert.equal(r.icmpError, 'Destination Net Unreachable (from 172.7.21.1)');
  });

  test('parses ping failing before sending (no route)', () => {
    assert.deepEqual(parsePingOutput('ping: connect: Network is unreachable\n'), {
      transmitted: 0,
      received: 0,
      loss: 100,
      error: 'connect: Network is unreachable',
    });
  });

  test('refuses output that is not ping output', () => {
    assert.throws(() => parsePingOutput('hello'), /ping output "hello": has no statistics line/);
    assert.throws(() => parsePingOutput(''), /has no statistics line/);
  });

  test('pingCommand runs in the given namespace and treats no-reply as an answer', () => {
    const c = pingCommand('172.7.22.2', { count: 2, timeoutS: 1, intervalS: 0.2, fromNetns: 'pod21' });
    assert.deepEqual(c.argv, [
      'ip',
      'netns',
      'exec',
      'pod21',
      'ping',
      '-n',
      '-c',
      '2',
      '-W',
      '1',
      '-i',
      '0.2',
      '172.7.22.2',
    ]);
    assert.deepEqual(c.okStatus, [1, 2]);
  });

  test('mapBounded keeps order and never has more than the limit in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapBounded([5, 1, 4, 2, 3, 0, 6], 3, async (ms) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, ms * 3));
      inFlight--;
      return ms * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0, 60]);
    assert.equal(peak, 3);
    assert.deepEqual(await mapBounded([], 4, async () => 1), []);
  });
});
