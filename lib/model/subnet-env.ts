// subnet.env: the file flanneld writes after taking a lease (temp file + rename) and that
// mk-docker-opts.sh sources to give dockerd --bip/--mtu/--ip-masq. Exactly four lines:
//   FLANNEL_NETWORK=172.7.0.0/16
//   FLANNEL_SUBNET=172.7.21.1/24     <- the lease's first address, lease prefix (docker0's bip)
//   FLANNEL_MTU=1500
//   FLANNEL_IPMASQ=false
// The runbook writes it by hand before the first start so that flanneld reclaims the subnet
// docker0 already uses, which is why the parser is strict: the file is read by a shell
// (`. subnet.env`), so a CR, a space around `=` or `True` breaks dockerd, not flanneld.

import { UsageError, invalid } from '../core/errors.ts';
import { Ip4Net } from '../core/ip4.ts';
import type { Lease } from './lease.ts';
import { defaultSubnetLen, defaultSubnetMin } from './netconfig.ts';

export interface SubnetEnv {
  /** FLANNEL_NETWORK, network form */
  readonly network: Ip4Net;
  /** FLANNEL_SUBNET in first-host form: 172.7.21.1/24 for the lease 172.7.21.0/24 */
  readonly subnet: Ip4Net;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

const KEYS = ['FLANNEL_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ'] as const;
type Key = (typeof KEYS)[number];

const EXAMPLE: Record<Key, string> = {
  FLANNEL_NETWORK: 'FLANNEL_NETWORK=172.7.0.0/16',
  FLANNEL_SUBNET: 'FLANNEL_SUBNET=172.7.21.1/24',
  FLANNEL_MTU: 'FLANNEL_MTU=1500',
  FLANNEL_IPMASQ: 'FLANNEL_IPMASQ=false',
};

function checkMtu(field: string, mtu: unknown): number {
  // 68 is the IPv4 minimum link MTU; the kernel refuses less on docker0
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid(field, mtu, 'must be a whole number 68-65535', '1500');
  }
  return mtu;
}

/** FLANNEL_SUBNET must be an address of a lease inside the network, not its network or broadcast address. */
/** The first subnet flannel would lease in `network`, in subnet.env form (172.7.1.1/24). */
function exampleSubnet(network: Ip4Net): string {
  const len = defaultSubnetLen(network) ?? 30;
  return Ip4Net.of(defaultSubnetMin(network, len), len).gatewayForm().toString();
}

function checkSubnet(field: string, shown: string, network: Ip4Net, subnet: Ip4Net): void {
  if (!network.containsNet(subnet.network()) || subnet.prefix <= network.prefix) {
    throw invalid(
      field,
      shown,
      `must be a subnet inside FLANNEL_NETWORK ${network}, with a longer prefix`,
      exampleSubnet(network),
    );
  }
  const ip = subnet.ip.value;
  if (subnet.prefix < 31 && (ip === subnet.network().ip.value || ip === subnet.lastAddress().value)) {
    // flannel always writes network+1; docker cannot use the network or broadcast address as bip
    throw invalid(
      field,
      shown,
      'must be a host address of the lease (flanneld writes its first address)',
      subnet.gatewayForm().toString(),
    );
  }
}

function checkEnv(env: SubnetEnv): void {
  if (!env.network.isNetwork()) {
    throw invalid(
      'FLANNEL_NETWORK',
      env.network.toString(),
      `host bits are set (the network is ${env.network.network()})`,
      env.network.network().toString(),
    );
  }
  checkSubnet('FLANNEL_SUBNET', env.subnet.toString(), env.network, env.subnet);
  checkMtu('FLANNEL_MTU', env.mtu);
}

/** The four lines flanneld writes, in its order, with the trailing newline. */
export function formatSubnetEnv(env: SubnetEnv): string {
  checkEnv(env);
  return (
    `FLANNEL_NETWORK=${env.network}\n` +
    `FLANNEL_SUBNET=${env.subnet}\n` +
    `FLANNEL_MTU=${env.mtu}\n` +
    `FLANNEL_IPMASQ=${env.ipMasq}\n`
  );
}

/** What flanneld would write for this lease: FLANNEL_SUBNET is the lease's first address. */
export function subnetEnvFromLease(
  network: Ip4Net,
  lease: Pick<Lease, 'subnet'> | Ip4Net,
  mtu: number,
  ipMasq: boolean,
): SubnetEnv {
  const leased = lease instanceof Ip4Net ? lease : lease.subnet;
  const env = { network: network.network(), subnet: leased.gatewayForm(), mtu, ipMasq };
  checkEnv(env);
  return env;
}

/**
 * Parse subnet.env as written by flanneld (or by hand, as in the runbook). Tolerates blank
 * lines, `#` comments, quotes around a value and the IPv6 keys of newer releases. Rejects,
 * one line each: a missing or repeated key, a line that is not KEY=VALUE, a CR line end,
 * a variable that is not FLANNEL_* (flanneld rewrites the file and would drop it), and bad
 * values (MTU not 68-65535, IPMASQ not true/false, a subnet outside the network).
 */
export function parseSubnetEnv(text: string, source = 'subnet.env'): SubnetEnv {
  const seen = new Map<string, { value: string; line: number }>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    const where = `${source} line ${n}`;
    if (raw.endsWith('\r')) {
      // `. subnet.env` keeps the CR in the value: dockerd gets --mtu=1500\r
      throw invalid(
        where,
        raw,
        'ends in a carriage return (Windows line endings); save it with LF only',
        EXAMPLE.FLANNEL_MTU,
      );
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m)
      throw invalid(
        where,
        raw,
        'must be KEY=VALUE with nothing around the = (the file is sourced by sh)',
        EXAMPLE.FLANNEL_MTU,
      );
    const key = m[1]!;
    let value = m[2]!;
    const q = /^(["'])(.*)\1$/.exec(value);
    if (q) value = q[2]!;
    if (!key.startsWith('FLANNEL_')) {
      throw invalid(
        where,
        raw,
        `${key} is not a flannel variable; flanneld rewrites this file and would drop it`,
        EXAMPLE.FLANNEL_MTU,
      );
    }
    const prev = seen.get(key);
    if (prev)
      throw invalid(
        key,
        value,
        `is set twice (lines ${prev.line} and ${n}); keep one`,
        EXAMPLE[key as Key] ?? `${key}=...`,
      );
    seen.set(key, { value, line: n });
  });

  const get = (key: Key): string => {
    const v = seen.get(key);
    if (v === undefined) throw new UsageError(`${source}: ${key} is missing, e.g. ${EXAMPLE[key]}`);
    return v.value;
  };
  // Report a missing key before judging values. Other FLANNEL_* keys pass: later releases
  // add some (FLANNEL_IPV6_NETWORK, FLANNEL_IPV6_SUBNET).
  for (const key of KEYS) get(key);

  const network = Ip4Net.parse(get('FLANNEL_NETWORK'), 'FLANNEL_NETWORK', { strict: true });
  const subnetText = get('FLANNEL_SUBNET');
  const subnet = Ip4Net.parse(subnetText, 'FLANNEL_SUBNET');
  checkSubnet('FLANNEL_SUBNET', subnetText, network, subnet);

  const mtuText = get('FLANNEL_MTU');
  if (!/^\d{1,5}$/.test(mtuText)) throw invalid('FLANNEL_MTU', mtuText, 'must be a whole number 68-65535', '1500');
  const mtu = checkMtu('FLANNEL_MTU', Number(mtuText));
  if (String(mtu) !== mtuText)
    throw invalid('FLANNEL_MTU', mtuText, 'must be written without leading zeros', String(mtu));

  const masq = get('FLANNEL_IPMASQ');
  // mk-docker-opts.sh tests `= true`: "True" or "1" would silently mean false there
  if (masq !== 'true' && masq !== 'false')
    throw invalid('FLANNEL_IPMASQ', masq, 'must be true or false (lowercase)', 'false');

  return { network, subnet, mtu, ipMasq: masq === 'true' };
}
