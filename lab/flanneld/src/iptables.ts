// coreos/go-iptables as flannel uses it: `iptables ... --wait` (iptables >= 1.4.20), `-C` exit 1
// meaning absent, --random-fully known from iptables >= 1.6.2; and the iptables-restore line
// format v0.20.2 writes. iptables is looked up in $PATH, as go-iptables does.
import { GoError } from './go-errors.ts';
import { type CmdResult, runCmd } from './host-commands.ts';

/** One rule: a table, a chain and the rule's spec (the words after `-A CHAIN`). */
export interface IPTablesRule {
  table: string;
  chain: string;
  spec: string[];
}

/** coreos/go-iptables as flannel uses it: `iptables ... --wait`, -C exit 1 = absent. */
export class IPTables {
  hasWait = false;
  hasRandomFully = false;

  static async create(): Promise<IPTables> {
    let r: CmdResult;
    try {
      r = await runCmd(['iptables', '--version']);
    } catch {
      throw new GoError('exec: "iptables": executable file not found in $PATH');
    }
    const m = /v(\d+)\.(\d+)\.(\d+)/.exec(r.stdout + r.stderr);
    const ipt = new IPTables();
    const v = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
    const [x, y, z] = v as [number, number, number];
    const atLeast = (a: number, b: number, c: number): boolean => x > a || (x === a && (y > b || (y === b && z >= c)));
    ipt.hasWait = atLeast(1, 4, 20);
    ipt.hasRandomFully = atLeast(1, 6, 2);
    return ipt;
  }

  async run(args: string[]): Promise<CmdResult & { argv: string[] }> {
    const argv = ['iptables', ...args];
    if (this.hasWait) argv.push('--wait');
    const r = await runCmd(argv);
    return { ...r, argv };
  }

  async exists(table: string, chain: string, spec: string[]): Promise<boolean> {
    const r = await this.run(['-t', table, '-C', chain, ...spec]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw new GoError(`running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`);
  }

  async append(table: string, chain: string, spec: string[]): Promise<void> {
    const r = await this.run(['-t', table, '-A', chain, ...spec]);
    if (r.code !== 0) throw new GoError(`running [${r.argv.join(' ')}]: exit status ${r.code}: ${r.stderr}`);
  }

  async appendUnique(table: string, chain: string, spec: string[]): Promise<void> {
    if (!(await this.exists(table, chain, spec))) await this.append(table, chain, spec);
  }

  /** -D, its failure ignored. */
  async delete(table: string, chain: string, spec: string[]): Promise<void> {
    await this.run(['-t', table, '-D', chain, ...spec]);
  }
}

/** One iptables-restore line: quoted where a word holds a blank (the comments). */
export const restoreLine = (words: string[]): string => words.map((w) => (/\s/.test(w) ? `"${w}"` : w)).join(' ');
