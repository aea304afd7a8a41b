import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../lib/core/errors.ts';
import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';

/** The error is a one-line UsageError that quotes the field and the value as given. */
function assertRejects(fn: () => unknown, field: string, value: string) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    assert.ok(err.message.startsWith(`${field} `), `field "${field}" not first in: ${err.message}`);
    assert.ok(err.message.includes(JSON.stringify(value)), `value ${JSON.stringify(value)} not in: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('ip4', () => {
  test('parses a dotted quad and prints it back', () => {
    assert.equal(Ip4.parse('10.4.7.21').toString(), '10.4.7.21');
    assert.equal(Ip4.parse('255.255.255.255').value, 0xffffffff);
    assert.equal(Ip4.parse('0.0.0.0').value, 0);
  });

  for (const bad of [
    '010.4.7.21',
    '10.4.7',
    '10.4.7.21.1',
    '256.4.7.21',
    '0x0a.4.7.21',
    ' 10.4.7.21',
    '10.4.7.21/32',
    '',
  ]) {
    test(`refuses the address ${JSON.stringify(bad)}, naming field and value`, () => {
      assertRejects(() => Ip4.parse(bad, '--public-ip'), '--public-ip', bad);
    });
  }

  test('parses a CIDR, keeping host bits unless strict', () => {
    const net = Ip4Net.parse('172.7.21.1/24');
    assert.equal(net.toString(), '172.7.21.1/24');
    assert.equal(net.network().toString(), '172.7.21.0/24');
    assert.equal(net.isNetwork(), false);
    assert.equal(Ip4Net.parse('172.7.0.0/16', 'Network', { strict: true }).toString(), '172.7.0.0/16');
  });

  const badCidrs: [string, string, { strict?: boolean }?][] = [
    ['172.7.0.0/33', 'prefix must be 0-32'],
    ['172.7.0.0', 'must be a CIDR'],
    ['172.7.0/16', 'is not an IPv4 address'],
    ['fd00::/8', 'is not an IPv4 address'],
    ['172.7.0.0/-1', 'prefix must be 0-32'],
    ['172.7.21.1/24', 'host bits are set (the network is 172.7.21.0/24)', { strict: true }],
  ];
  for (const [bad, rule, opts] of badCidrs) {
    test(`refuses the CIDR ${bad}: ${rule}`, () => {
      assertRejects(() => Ip4Net.parse(bad, 'Network', opts), 'Network', bad);
      assert.throws(() => Ip4Net.parse(bad, 'Network', opts), { message: new RegExp(rule.replace(/[()]/g, '\\$&')) });
    });
  }

  test('the example in a CIDR error is the house one', () => {
    assert.throws(() => Ip4Net.parse('172.7.0.0/33', 'Network'), {
      message: 'Network "172.7.0.0/33": prefix must be 0-32, e.g. 172.7.0.0/16',
    });
  });

  test('contains: an address inside the network, host bits of the network ignored', () => {
    const net = Ip4Net.parse('172.7.0.0/16');
    assert.equal(net.contains(Ip4.parse('172.7.21.2')), true);
    assert.equal(net.contains(Ip4.parse('172.8.0.1')), false);
    assert.equal(Ip4Net.parse('172.7.21.1/24').contains(Ip4.parse('172.7.21.255')), true);
    assert.equal(Ip4Net.parse('0.0.0.0/0').contains(Ip4.parse('10.4.7.21')), true);
    assert.equal(Ip4Net.parse('10.4.7.21/32').contains(Ip4.parse('10.4.7.22')), false);
  });

  test('containsNet: a whole subnet inside, never a larger one', () => {
    const net = Ip4Net.parse('172.7.0.0/16');
    assert.equal(net.containsNet(Ip4Net.parse('172.7.21.0/24')), true);
    assert.equal(net.containsNet(Ip4Net.parse('172.7.0.0/16')), true);
    assert.equal(net.containsNet(Ip4Net.parse('172.0.0.0/8')), false);
    assert.equal(Ip4Net.parse('172.7.21.0/24').containsNet(Ip4Net.parse('172.7.0.0/16')), false);
  });

  test('overlaps: either way round, disjoint neighbours do not', () => {
    const a = Ip4Net.parse('172.7.0.0/16');
    const b = Ip4Net.parse('172.7.21.0/24');
    assert.equal(a.overlaps(b), true);
    assert.equal(b.overlaps(a), true);
    assert.equal(Ip4Net.parse('172.7.21.0/24').overlaps(Ip4Net.parse('172.7.22.0/24')), false);
    assert.equal(Ip4Net.parse('10.4.0.0/16').overlaps(a), false);
  });

  test('network, first host, gateway form and last address of a lease', () => {
    const lease = Ip4Net.parse('172.7.21.0/24');
    assert.equal(lease.firstHost().toString(), '172.7.21.1');
    assert.equal(lease.gatewayForm().toString(), '172.7.21.1/24');
    assert.equal(lease.lastAddress().toString(), '172.7.21.255');
    assert.equal(Ip4Net.parse('172.7.21.77/24').firstHost().toString(), '172.7.21.1');
    assert.equal(Ip4Net.parse('172.7.0.0/16').size(), 65536);
    assert.equal(Ip4Net.parse('10.0.0.0/32').lastAddress().toString(), '10.0.0.0');
  });

  test('equals ignores host bits, identical does not', () => {
    assert.equal(Ip4Net.parse('172.7.21.1/24').equals(Ip4Net.parse('172.7.21.0/24')), true);
    assert.equal(Ip4Net.parse('172.7.21.1/24').identical(Ip4Net.parse('172.7.21.0/24')), false);
    assert.equal(Ip4Net.parse('172.7.21.0/24').equals(Ip4Net.parse('172.7.21.0/25')), false);
  });

  test('lease key both ways: 172.7.21.0/24 <-> 172.7.21.0-24', () => {
    const subnet = Ip4Net.parseLeaseKey('172.7.21.0-24');
    assert.equal(subnet.toString(), '172.7.21.0/24');
    assert.equal(subnet.toLeaseKey(), '172.7.21.0-24');
    assert.equal(Ip4Net.parseLeaseKey(Ip4Net.parse('10.0.0.0/8').toLeaseKey()).toString(), '10.0.0.0/8');
  });

  const badKeys: [string, string][] = [
    ['172.7.21.0/24', 'ADDR-PREFIX'],
    ['172.7.21.5-24', 'host bits are set'],
    ['172.7.21.0-33', 'prefix must be 0-32'],
    ['172.7.321.0-24', 'is not an IPv4 address'],
    ['172.7.21.0-', 'ADDR-PREFIX'],
  ];
  for (const [bad, rule] of badKeys) {
    test(`refuses the lease key ${bad}, quoting it as written`, () => {
      assertRejects(() => Ip4Net.parseLeaseKey(bad), 'lease key', bad);
      assert.throws(() => Ip4Net.parseLeaseKey(bad), { message: new RegExp(rule) });
    });
  }

  test('a host-bits lease key suggests the key it probably meant', () => {
    assert.throws(() => Ip4Net.parseLeaseKey('172.7.21.5-24'), {
      message: 'lease key "172.7.21.5-24": host bits are set (the network is 172.7.21.0/24), e.g. 172.7.21.0-24',
    });
  });
});

describe('ip4 grammar', () => {
  test("accepts exactly what ipaddr.js's isValidFourPartDecimal accepts (cross-checked)", async () => {
    const { default: ipaddr } = await import('ipaddr.js');
    const words = [
      '0',
      '1',
      '9',
      '10',
      '99',
      '100',
      '199',
      '255',
      '256',
      '300',
      '999',
      '1000',
      '00',
      '01',
      '010',
      '-1',
      '+1',
      '1e2',
      '0x10',
      ' 1',
      '1 ',
      '',
      'a',
    ];
    const cases = new Set<string>([
      '10.4.7.21',
      '0.0.0.0',
      '255.255.255.255',
      '1.2.3',
      '1.2.3.4.5',
      '1..2.3',
      '1.2.3.4\n',
      '١.2.3.4',
      '1.2.3.4/24',
    ]);
    for (const w of words) {
      cases.add(`${w}.4.7.21`);
      cases.add(`10.${w}.7.21`);
      cases.add(`10.4.${w}.21`);
      cases.add(`10.4.7.${w}`);
    }
    for (const c of cases) assert.equal(Ip4.isValid(c), ipaddr.IPv4.isValidFourPartDecimal(c), JSON.stringify(c));
  });
});
