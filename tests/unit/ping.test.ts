import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  fpingCommand,
  fpingMissing,
  fpingRefusedOptions,
  fpingSendCheckCommand,
  lossPercent,
  parseFpingOutput,
  parseFpingSendErrors,
  parsePingOutput,
  pingCommand,
} from '../../lib/model/ping.ts';
import { mapBounded } from '../../lib/core/map-bounded.ts';
import { OutputError } from '../../lib/core/errors.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import { defaultTargets, probeTargets, type DefaultTarget } from '../../lib/steps/verify-ping.ts';
import { parseLeaseValue } from '../../lib/model/lease.ts';
import { bridgeNeighbours } from '../../lib/checks/routes.ts';
import type { NodeReport } from '../../lib/host/status-store.ts';
import { MemoryHost } from '../support/memory-host.ts';

const FIXTURES = new URL('../fixtures/fping/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');
// tests/fixtures/fping/README.md: the same six targets through fping 3.10, 4.2, 5.1 and ping
const TARGETS = ['127.0.0.1', '203.0.113.5', '203.0.113.6', '203.0.113.7', '192.0.2.1', '10.4.7.50'];
const FPINGS = ['3.10', '4.2', '5.1'] as const;

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

  test('parses ping failing before sending (no route), in the words an fping answer gets too', () => {
    assert.deepEqual(parsePingOutput('ping: connect: Network is unreachable\n'), {
      transmitted: 0,
      received: 0,
      loss: 100,
      error: 'cannot send: Network is unreachable',
    });
    // iputils' words for connect()'s EACCES (a prohibit route)
    assert.equal(
      parsePingOutput('ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\n').error,
      'cannot send: Permission denied',
    );
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

describe('fping', () => {
  const opts = { count: 2, timeoutS: 1, intervalS: 0.2 };

  test('one command for every target, with flags fping 3.x, 4.x and 5.x all have', () => {
    const c = fpingCommand(['172.7.22.2', '172.7.23.2'], opts);
    assert.deepEqual(c.argv, ['fping', '-c', '2', '-p', '200', '-t', '1000', '-i', '0', '172.7.22.2', '172.7.23.2']);
    assert.deepEqual(c.okStatus, [1]);
    assert.equal(c.readOnly, true);
    assert.deepEqual(fpingCommand(['172.7.22.2'], { ...opts, fromNetns: 'pod21' }, 1).argv.slice(0, 5), [
      'ip',
      'netns',
      'exec',
      'pod21',
      'fping',
    ]);
    assert.deepEqual(fpingSendCheckCommand(['192.0.2.1']).argv, ['fping', '-r', '0', '-t', '1', '192.0.2.1']);
  });

  test("loss is ping's figure: 100 * lost / sent as a C float printed with %g", () => {
    assert.deepEqual(
      [lossPercent(3, 1), lossPercent(3, 2), lossPercent(1, 1), lossPercent(2, 0), lossPercent(0, 0)],
      [66.6667, 33.3333, 0, 100, 100],
    );
  });

  for (const v of FPINGS) {
    test(`fping ${v}: every target's counts, RTT and ICMP error, as ping reads them`, () => {
      const got = parseFpingOutput(fixture(`${v}-count2.stdout`), fixture(`${v}-count2.stderr`), TARGETS);
      const byTarget = (t: string) => {
        const { rttAvgMs, timedOut: _, ...r } = got.get(t)!;
        return { ...r, answered: rttAvgMs !== undefined };
      };
      assert.deepEqual(byTarget('127.0.0.1'), { transmitted: 2, received: 2, loss: 0, answered: true });
      assert.deepEqual(byTarget('203.0.113.5'), {
        transmitted: 2,
        received: 0,
        loss: 100,
        icmpError: 'Destination Net Unreachable (from 10.4.7.21)',
        answered: false,
      });
      assert.equal(got.get('203.0.113.6')!.icmpError, 'Packet filtered (from 10.4.7.21)');
      for (const t of ['203.0.113.7', '192.0.2.1', '10.4.7.50'])
        assert.deepEqual(byTarget(t), { transmitted: 2, received: 0, loss: 100, answered: false });
      // only fping 5 says which probes timed out (so the others were never sent)
      assert.equal(got.get('10.4.7.50')!.timedOut, v === '5.1');
      assert.equal(got.get('192.0.2.1')!.timedOut, false);
    });

    test(`fping ${v}: why a probe was not sent (no route), EPERM left out as ping leaves it`, () => {
      assert.deepEqual(
        [...parseFpingSendErrors(`${fixture(`${v}-check.stdout`)}\n${fixture(`${v}-check.stderr`)}`)],
        [['192.0.2.1', 'cannot send: Network is unreachable']],
      );
    });
  }

  test('the same loss, ICMP error and verdict as ping gives for each target', () => {
    const f = parseFpingOutput(fixture('5.1-count2.stdout'), fixture('5.1-count2.stderr'), TARGETS);
    const sent = parseFpingSendErrors(fixture('5.1-check.stderr'));
    for (const t of TARGETS) {
      const p = parsePingOutput(fixture(`ping-${t}.txt`));
      const q = { ...f.get(t)!, ...(sent.has(t) && { error: sent.get(t) }) };
      assert.deepEqual(
        [q.loss, q.received > 0, q.icmpError, q.icmpError ? undefined : q.error],
        [p.loss, p.received > 0, p.icmpError, p.icmpError ? undefined : p.error],
        t,
      );
    }
  });

  test('fping before 3.14 refuses -i 0 (it prints its usage); later ones do not', () => {
    assert.equal(fpingRefusedOptions(fixture('3.10-i0.stderr')), true);
    for (const v of FPINGS) assert.equal(fpingRefusedOptions(fixture(`${v}-count2.stderr`)), false);
  });

  test('output without a statistics line for a target is output we cannot read', () => {
    assert.throws(
      () => parseFpingOutput('', "fping: can't create socket (must run as root?)\n", ['172.7.22.2']),
      (e: unknown) => e instanceof OutputError && /has no statistics line for 172\.7\.22\.2/.test(e.message),
    );
    assert.equal(fpingMissing('exec of "fping" failed: No such file or directory\n'), true);
  });
});

describe('probeTargets', () => {
  const ips = ['127.0.0.1', '192.0.2.1'].map((t) => Ip4.parse(t, 'target'));
  const opts = { count: 2, timeoutS: 0.5, intervalS: 0.2, concurrency: 4 };
  const fpingAnswer = {
    status: 1,
    stdout: '127.0.0.1 : [0], 64 bytes, 0.05 ms (0.05 avg, 0% loss)\n',
    stderr: '127.0.0.1 : xmt/rcv/%loss = 2/2/0%, min/avg/max = 0.04/0.05/0.06\n192.0.2.1 : xmt/rcv/%loss = 2/0/100%\n',
  };

  test('auto with fping installed: one fping for all targets, then one check for the target never sent', async () => {
    const h = new MemoryHost()
      .answer(['fping', '-c'], fpingAnswer)
      .answer(['fping', '-r'], { status: 1, stderr: '192.0.2.1: error while sending ping: Network is unreachable\n' });
    const got = await probeTargets(h, ips, { ...opts, prober: 'auto' });
    assert.equal(got.prober, 'fping');
    assert.deepEqual(
      h.ran.map((c) => c.argv.join(' ')),
      ['fping -c 2 -p 200 -t 500 -i 0 127.0.0.1 192.0.2.1', 'fping -r 0 -t 1 192.0.2.1'],
    );
    assert.deepEqual(
      got.results.map((r) => [r.received, r.loss, r.rttAvgMs, r.error]),
      [
        [2, 0, 0.05, undefined],
        [0, 100, undefined, 'cannot send: Network is unreachable'],
      ],
    );
  });

  test('fping before 3.14: the same probe again with -i 1', async () => {
    const h = new MemoryHost()
      .answer(['fping', '-c', '2', '-p', '200', '-t', '500', '-i', '0'], {
        status: 1,
        stderr: fixture('3.10-i0.stderr'),
      })
      .answer(['fping', '-c', '2', '-p', '200', '-t', '500', '-i', '1'], {
        ...fpingAnswer,
        stderr: fpingAnswer.stderr.replace(
          '192.0.2.1 : xmt/rcv/%loss = 2/0/100%',
          '192.0.2.1 : xmt/rcv/%loss = 2/2/0%, min/avg/max = 1/1/1',
        ),
      });
    const got = await probeTargets(h, ips, { ...opts, prober: 'auto' });
    assert.deepEqual(
      got.results.map((r) => r.received),
      [2, 2],
    );
    assert.equal(h.ran.length, 2);
  });

  test('auto without fping: one ping per target; --prober fping without it is a failure that says how to install it', async () => {
    const ping = 'PING x\n\n--- x ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, time 1ms\n';
    const h = new MemoryHost().answer(['ping'], { stdout: ping });
    const got = await probeTargets(h, ips, { ...opts, prober: 'auto' });
    assert.equal(got.prober, 'ping');
    assert.deepEqual(
      h.ran.map((c) => c.argv[0]),
      ['fping', 'ping', 'ping'],
    );
    await assert.rejects(probeTargets(new MemoryHost(), ips, { ...opts, prober: 'fping' }), /apt-get install fping/);
    const only = new MemoryHost().answer(['ping'], { stdout: ping });
    assert.equal((await probeTargets(only, ips, { ...opts, prober: 'ping' })).prober, 'ping');
    assert.deepEqual(
      only.ran.map((c) => c.argv[0]),
      ['ping', 'ping'],
    );
  });
});

describe('verify-ping default targets (issue 14.1: addresses behind the peer FORWARD chain)', () => {
  const lease = (n: number) =>
    parseLeaseValue(
      `{"PublicIP":"10.4.7.${n}","BackendType":"host-gw"}`,
      `/coreos.com/network/subnets/172.7.${n}.0-24`,
    );
  const report = (n: number, pods?: string[]): NodeReport => ({
    node: `hdss7-${n}`,
    publicIp: `10.4.7.${n}`,
    at: '2026-12-02T00:00:00.000Z',
    exit: 0,
    durationMs: 100,
    problems: [],
    checks: 32,
    ...(pods && { pods }),
  });
  const show = (t: DefaultTarget[]) => t.map((x) => `${x.ip} ${x.kind}`);

  test("a pod the peer published, inside its lease's subnet; else its bridge", () => {
    assert.deepEqual(
      show(
        defaultTargets(
          [lease(22), lease(23), lease(24), lease(25)],
          [
            report(22, ['172.7.22.2', '172.7.22.3']),
            // a pod outside its own lease (a stale report, a moved lease) is not taken, nor junk
            report(23, ['172.7.99.2', 'x', '172.7.23.7']),
            report(24, []),
            // no report for .25 at all
          ],
        ),
      ),
      ['172.7.22.2 pod', '172.7.23.7 pod', '172.7.24.1 bridge', '172.7.25.1 bridge'],
    );
  });

  test('a report is matched by public IP, not by name', () => {
    assert.deepEqual(show(defaultTargets([lease(22)], [{ ...report(21, ['172.7.22.2']), publicIp: '10.4.7.21' }])), [
      '172.7.22.1 bridge',
    ]);
  });

  test("the node's bridge neighbours from /proc/net/arp: resolved, on the bridge, in the subnet, not the bridge itself", () => {
    const arp = [
      'IP address       HW type     Flags       HW address            Mask     Device',
      '172.7.21.2       0x1         0x2         02:42:ac:07:15:02     *        docker0',
      '172.7.21.3       0x1         0x0         00:00:00:00:00:00     *        docker0',
      '172.7.21.1       0x1         0x2         02:42:ac:07:15:01     *        docker0',
      '10.4.7.22        0x1         0x2         52:54:00:00:07:22     *        eth0',
      '172.7.22.9       0x1         0x2         02:42:ac:07:16:09     *        docker0',
      '172.7.21.4       0x1         0x6         02:42:ac:07:15:04     *        docker0',
      '',
    ].join('\n');
    assert.deepEqual(bridgeNeighbours(arp, 'docker0', Ip4Net.parse('172.7.21.0/24')), ['172.7.21.2', '172.7.21.4']);
    assert.deepEqual(bridgeNeighbours(arp, 'cni0', Ip4Net.parse('172.7.21.0/24')), []);
    assert.deepEqual(bridgeNeighbours('', 'docker0', Ip4Net.parse('172.7.21.0/24')), []);
  });
});
