// What ps, pgrep, pidof and `ss -p` see: a Go binary named flanneld with the arguments as
// invoked ("./flanneld --public-ip=..."), not "node ./flanneld ...". (/proc/PID/exe stays node.)
import { fs } from './node-builtins.ts';

let invokedAsName = process.argv[1] ?? 'flanneld';

/** os.Args[0]: the name the usage text starts with. */
export const invokedAs = (): string => invokedAsName;

/**
 * comm "flanneld" and the command line as invoked: node's own arguments (and its execArgv) are
 * dropped from the title.
 */
export function setProcessName(): void {
  try {
    const argv = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    const own = argv.slice(1 + process.execArgv.length);
    if (own.length === 0) return;
    invokedAsName = own[0]!;
    process.title = own.join(' ');
    fs.writeFileSync('/proc/self/comm', own[0]!.split('/').pop()!.slice(0, 15));
  } catch {
    // not Linux, or /proc not mounted: keep node's name
  }
}
