// network/iptables.go of v0.11.0: the FORWARD ACCEPT rules and the four POSTROUTING masquerade
// rules as plain rules, checked every --iptables-resync seconds; one missing rule -> the whole
// set deleted and appended again, logged; recycleIPTables' teardown of a previous network's rules.
import { log } from './glog.ts';
import { type Context, sleep } from './go-context.ts';
import { GoError } from './go-errors.ts';
import type { IP4Net } from './ip4.ts';
import { IPTables, type IPTablesRule } from './iptables.ts';
import type { Lease } from './subnet-lease.ts';

/** network.MasqRules of v0.11.0: appended to nat POSTROUTING. */
export function masqRules(network: IP4Net, lease: Pick<Lease, 'subnet'>, randomFully: boolean): IPTablesRule[] {
  const n = network.toString();
  const sn = lease.subnet.toString();
  const rf = randomFully ? ['--random-fully'] : [];
  return [
    // don't NAT traffic within the overlay network (e.g. coming out of docker0)
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', n, '-d', n, '-j', 'RETURN'] },
    // NAT if it's not multicast traffic
    { table: 'nat', chain: 'POSTROUTING', spec: ['-s', n, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', ...rf] },
    // don't masquerade external traffic arriving from the node that owns the pod IP
    { table: 'nat', chain: 'POSTROUTING', spec: ['!', '-s', n, '-d', sn, '-j', 'RETURN'] },
    // masquerade anything headed towards flannel from the host
    { table: 'nat', chain: 'POSTROUTING', spec: ['!', '-s', n, '-d', n, '-j', 'MASQUERADE', ...rf] },
  ];
}

/** network.ForwardRules: Docker >= 1.13 sets the FORWARD policy to DROP. */
export function forwardRules(network: string): IPTablesRule[] {
  return [
    { table: 'filter', chain: 'FORWARD', spec: ['-s', network, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'FORWARD', spec: ['-d', network, '-j', 'ACCEPT'] },
  ];
}

async function ensureIPTables(ipt: IPTables, rules: IPTablesRule[]): Promise<void> {
  for (const r of rules) {
    let ok: boolean;
    try {
      ok = await ipt.exists(r.table, r.chain, r.spec);
    } catch (e) {
      throw new GoError(`Error checking rule existence: failed to check rule existence: ${(e as Error).message}`);
    }
    if (!ok) {
      // the order of the rules matters: delete the whole set and add it again
      log.info('iptables.go:145', 'Some iptables rules are missing; deleting and recreating rules');
      await teardownIPTables(ipt, rules);
      try {
        for (const rule of rules) {
          log.info('iptables.go:155', `Adding iptables rule: ${rule.spec.join(' ')}`);
          try {
            await ipt.appendUnique(rule.table, rule.chain, rule.spec);
          } catch (e) {
            throw new GoError(`failed to insert IPTables rule: ${(e as Error).message}`);
          }
        }
      } catch (e) {
        throw new GoError(`Error setting up rules: ${(e as Error).message}`);
      }
      return;
    }
  }
}

async function teardownIPTables(ipt: IPTables, rules: IPTablesRule[]): Promise<void> {
  for (const rule of rules) {
    log.info('iptables.go:167', `Deleting iptables rule: ${rule.spec.join(' ')}`);
    await ipt.delete(rule.table, rule.chain, rule.spec);
  }
}

export async function setupAndEnsureIPTables(
  ctx: Context,
  rules: IPTablesRule[],
  resyncSeconds: number,
): Promise<void> {
  let ipt: IPTables;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:103', `Failed to setup IPTables. iptables binary was not found: ${(e as Error).message}`);
    return;
  }
  try {
    await ensureIPTables(ipt, rules);
  } catch (e) {
    log.error('iptables.go:109', `Failed to bootstrap IPTables: ${(e as Error).message}`);
  }
  do {
    try {
      await ensureIPTables(ipt, rules);
    } catch (e) {
      log.error('iptables.go:115', `Failed to ensure iptables rules: ${(e as Error).message}`);
    }
  } while (await sleep(resyncSeconds * 1000, ctx.signal));
}

export async function deleteIPTables(rules: IPTablesRule[]): Promise<void> {
  let ipt: IPTables;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:127', `Failed to setup IPTables. iptables binary was not found: ${(e as Error).message}`);
    throw e;
  }
  await teardownIPTables(ipt, rules);
}
