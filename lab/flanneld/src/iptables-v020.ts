// network/iptables.go of v0.20.2: the rules live in chains of flannel's own (FLANNEL-FWD,
// FLANNEL-POSTRTG), each rule carries a comment, and the jump to a chain is inserted at position 1
// (above Docker's and the distro's rules), the kube-proxy mark rule first. A missing rule, jump or
// chain makes the whole set go in again through one `iptables-restore --noflush` (delete what
// exists, then add in order; "bootstrap done"), which also moves the jump back to the top.
import { log } from './glog.ts';
import { type Context, sleep } from './go-context.ts';
import { GoError } from './go-errors.ts';
import { runCmdInput } from './host-commands.ts';
import type { IP4Net } from './ip4.ts';
import { IPTables, type IPTablesRule, restoreLine } from './iptables.ts';
import type { Lease } from './subnet-lease.ts';

/** A rule and how it goes in: appended to its chain, or (the jumps) inserted at the top. */
export interface ChainRule extends IPTablesRule {
  action: '-A' | '-I';
}

/** kube-proxy's masquerade mark. */
const KUBE_PROXY_MARK = '0x4000/0x4000';

/** network.ForwardRules of v0.20.2. */
export function forwardRulesV020(network: string): ChainRule[] {
  const c = ['-m', 'comment', '--comment', 'flanneld forward'];
  return [
    // run flannel's rules before any other of the node
    { table: 'filter', action: '-I', chain: 'FORWARD', spec: [...c, '-j', 'FLANNEL-FWD'] },
    // forward what comes from or goes to the flannel network
    { table: 'filter', action: '-A', chain: 'FLANNEL-FWD', spec: ['-s', network, ...c, '-j', 'ACCEPT'] },
    { table: 'filter', action: '-A', chain: 'FLANNEL-FWD', spec: ['-d', network, ...c, '-j', 'ACCEPT'] },
  ];
}

/** network.MasqRules of v0.20.2. */
export function masqRulesV020(network: IP4Net, lease: Pick<Lease, 'subnet'>, randomFully: boolean): ChainRule[] {
  const n = network.toString();
  const sn = lease.subnet.toString();
  const c = ['-m', 'comment', '--comment', 'flanneld masq'];
  const rf = randomFully ? ['--random-fully'] : [];
  return [
    // run flannel's rules before any other of the node
    { table: 'nat', action: '-I', chain: 'POSTROUTING', spec: [...c, '-j', 'FLANNEL-POSTRTG'] },
    // kube-proxy's marked traffic is not masqueraded twice (the double NAT bug of some kernels)
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...c, '-j', 'RETURN'],
    },
    // don't NAT traffic within the overlay network (e.g. coming out of docker0)
    { table: 'nat', action: '-A', chain: 'FLANNEL-POSTRTG', spec: ['-s', n, '-d', n, ...c, '-j', 'RETURN'] },
    // NAT if it's not multicast traffic
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['-s', n, '!', '-d', '224.0.0.0/4', ...c, '-j', 'MASQUERADE', ...rf],
    },
    // don't masquerade external traffic arriving from the node that owns the pod IP
    { table: 'nat', action: '-A', chain: 'FLANNEL-POSTRTG', spec: ['!', '-s', n, '-d', sn, ...c, '-j', 'RETURN'] },
    // masquerade anything headed towards flannel from the host
    {
      table: 'nat',
      action: '-A',
      chain: 'FLANNEL-POSTRTG',
      spec: ['!', '-s', n, '-d', n, ...c, '-j', 'MASQUERADE', ...rf],
    },
  ];
}

const FLANNEL_CHAINS = ['FLANNEL-FWD', 'FLANNEL-POSTRTG'];

/** The flannel chain a rule lives in or jumps to, if any. */
const flannelChainOf = (rule: IPTablesRule): string | undefined =>
  FLANNEL_CHAINS.includes(rule.chain) ? rule.chain : FLANNEL_CHAINS.find((c) => rule.spec[rule.spec.length - 1] === c);

async function chainExists(ipt: IPTables, table: string, chain: string): Promise<boolean> {
  const r = await ipt.run(['-t', table, '-S', chain, '1']);
  return r.code === 0;
}

async function ipTablesRulesExist(ipt: IPTables, rules: ChainRule[]): Promise<boolean> {
  for (const rule of rules) {
    const chain = flannelChainOf(rule);
    if (chain && !(await chainExists(ipt, rule.table, chain))) return false;
    let ok: boolean;
    try {
      ok = await ipt.exists(rule.table, rule.chain, rule.spec);
    } catch (e) {
      throw new GoError(`failed to check rule existence: ${(e as Error).message}`);
    }
    if (!ok) return false;
  }
  return true;
}

/** ipTablesBootstrap: chains made, existing rules deleted and every rule added again, in order. */
async function ipTablesBootstrap(ipt: IPTables, rules: ChainRule[]): Promise<void> {
  const tables = new Map<string, string[]>();
  for (const rule of rules) {
    const chain = flannelChainOf(rule);
    if (chain && !(await chainExists(ipt, rule.table, chain))) {
      const r = await ipt.run(['-t', rule.table, '-N', chain]);
      if (r.code !== 0)
        throw new GoError(
          `failed to check existing rules: failed to create rule chain: running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`,
        );
    }
    let exists: boolean;
    try {
      exists = await ipt.exists(rule.table, rule.chain, rule.spec);
    } catch (e) {
      throw new GoError(`failed to check existing rules: failed to check rule existence: ${(e as Error).message}`);
    }
    if (!tables.has(rule.table)) tables.set(rule.table, []);
    if (exists) tables.get(rule.table)!.push(restoreLine(['-D', rule.chain, ...rule.spec]));
    tables.get(rule.table)!.push(restoreLine([rule.action, rule.chain, ...rule.spec]));
  }
  let payload = '';
  for (const [table, lines] of tables) payload += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  const r = await runCmdInput(['iptables-restore', '--noflush', ...(ipt.hasWait ? ['--wait'] : [])], payload);
  if (r.code !== 0) throw new GoError(`failed to apply partial iptables-restore exit status ${r.code}: ${r.stderr}`);
  log.info('iptables.go:270', 'bootstrap done');
}

export async function setupAndEnsureIPTablesV020(
  ctx: Context,
  rules: ChainRule[],
  resyncSeconds: number,
): Promise<void> {
  let ipt: IPTables;
  try {
    ipt = await IPTables.create();
  } catch (e) {
    log.error('iptables.go:245', `Failed to setup IPTables. iptables binary was not found: ${(e as Error).message}`);
    return;
  }
  try {
    await ipTablesBootstrap(ipt, rules);
  } catch (e) {
    log.error('iptables.go:258', `Failed to bootstrap IPTables: ${(e as Error).message}`);
  }
  // (v0.20.2 defers a teardown here that never runs: the loop below only ends with the process)
  while (await sleep(resyncSeconds * 1000, ctx.signal)) {
    try {
      if (await ipTablesRulesExist(ipt, rules)) continue;
      log.info('iptables.go:405', 'Some iptables rules are missing; deleting and recreating rules');
      await ipTablesBootstrap(ipt, rules);
    } catch (e) {
      log.error('iptables.go:267', `Failed to ensure iptables rules: error setting up rules: ${(e as Error).message}`);
    }
  }
}

/** DeleteIP4Tables of v0.20.2: the rules that exist are deleted through iptables-restore. */
export async function deleteIPTablesV020(rules: ChainRule[]): Promise<void> {
  const ipt = await IPTables.create();
  const tables = new Map<string, string[]>();
  for (const rule of rules) {
    if (!(await ipt.exists(rule.table, rule.chain, rule.spec).catch(() => false))) continue;
    if (!tables.has(rule.table)) tables.set(rule.table, []);
    tables.get(rule.table)!.push(restoreLine(['-D', rule.chain, ...rule.spec]));
  }
  let payload = '';
  for (const [table, lines] of tables) payload += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  if (payload) await runCmdInput(['iptables-restore', '--noflush'], payload);
}
