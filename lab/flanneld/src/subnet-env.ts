// subnet.env: main.WriteSubnetFile (FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ
// written to .<name>, then renamed) and main.ReadCIDRFromSubnetFile (godotenv) for the previous
// subnet and network.
import { log } from './glog.ts';
import { GoError, goFsError } from './go-errors.ts';
import { IP4Net } from './ip4.ts';
import { fs } from './node-builtins.ts';
import type { Lease } from './subnet-lease.ts';

/** godotenv.Read, enough for subnet.env: KEY=VALUE lines, optional quotes, comments. */
function readEnvFile(path: string): Record<string, string> {
  const vals: Record<string, string> = {};
  for (const raw of fs.readFileSync(path, 'utf8').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new GoError(`Can't separate key from value`);
    let v = m[2]!.trim();
    if (/^'.*'$/.test(v) || /^".*"$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    vals[m[1]!] = v;
  }
  return vals;
}

/** main.ReadCIDRFromSubnetFile: the zero network when absent or unreadable. */
export function readCIDRFromSubnetFile(path: string, key: string): IP4Net {
  if (!fs.existsSync(path)) return IP4Net.zero();
  let vals: Record<string, string>;
  try {
    vals = readEnvFile(path);
  } catch (e) {
    log.error(
      'main.go:605',
      `Couldn't fetch previous ${key} from subnet file at ${path}: ${goFsError(e, 'open', path)}`,
    );
    return IP4Net.zero();
  }
  if (!(key in vals)) return IP4Net.zero();
  try {
    return IP4Net.parseCIDR(vals[key]!.replace(/^"|"$/g, ''));
  } catch (e) {
    log.error('main.go:609', `Couldn't parse previous ${key} from subnet file at ${path}: ${(e as Error).message}`);
    return IP4Net.zero();
  }
}

/** main.WriteSubnetFile: a dot-file beside the target, then rename(2). */
export function writeSubnetFile(
  path: string,
  network: IP4Net,
  ipMasq: boolean,
  bn: { readonly lease: Lease; readonly mtu: number },
): void {
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash + 1) : '';
  const name = path.slice(slash + 1);
  if (dir) {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch {
      // MkdirAll's error is ignored
    }
  }
  const temp = joinFsPath(dir, `.${name}`);
  const sn = new IP4Net(bn.lease.subnet.ip + 1, bn.lease.subnet.prefixLen);
  const body = `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${sn}\nFLANNEL_MTU=${bn.mtu}\nFLANNEL_IPMASQ=${ipMasq}\n`;
  try {
    fs.writeFileSync(temp, body, { mode: 0o666 });
  } catch (e) {
    throw new GoError(goFsError(e, 'open', temp));
  }
  try {
    fs.renameSync(temp, path);
  } catch (e) {
    throw new GoError(
      (e as NodeJS.ErrnoException | null)?.code
        ? `rename ${temp} ${path}: ${goFsError(e, 'rename', path).replace(/^\S+ \S+: /, '')}`
        : String(e),
    );
  }
}

/** filepath.Join(dir, name), cleaned like Go. */
function joinFsPath(dir: string, name: string): string {
  if (!dir) return name;
  const joined = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
  const abs = joined.startsWith('/');
  const segs: string[] = [];
  for (const p of joined.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && segs.length > 0 && segs[segs.length - 1] !== '..') segs.pop();
    else if (p === '..' && abs) continue;
    else segs.push(p);
  }
  return (abs ? '/' : '') + segs.join('/') || '.';
}
