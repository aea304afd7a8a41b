// What a node already says about itself, read from its own files, for the values neither a flag
// nor the cluster file gives (cli/settings.ts: flag, then cluster file, then these, then the
// default):
//   flanneld.sh     - public IP, interface, etcd endpoints, the three cert paths, healthz port,
//                     etcd prefix (the runbook's own file, whether start wrote it or a person did)
//   subnet.env      - network, subnet, MTU (the file flanneld.sh names with --subnet-file)
//   /opt/flannel    - the installed release (its link target flannel-vX.Y.Z): the flannel
//                     version, and so the etcd API for `--etcd-api auto`
//   supervisord.d   - the program that runs flanneld.sh (the runbook's flanneld-7-21)
// Files that are missing or do not parse give nothing; which files were looked at is kept for
// the one line that says a value could not be found anywhere.

import { posix } from 'node:path';
import type { Ip4Net } from '../core/ip4.ts';
import { rooted, unrooted } from '../core/paths.ts';
import { FLANNELD_DEFAULTS, parseFlanneldSh } from '../model/flanneld-files.ts';
import { parseSubnetEnv } from '../model/subnet-env.ts';
import { programRunning } from '../model/supervisor.ts';
import type { Host } from './host.ts';

export const FLANNEL_DIR = '/opt/flannel';
export const LAUNCHER = `${FLANNEL_DIR}/flanneld.sh`;
const SUPERVISOR_DIR = '/etc/supervisord.d';

export interface NodeDefaults {
  readonly publicIp?: string;
  readonly iface?: string;
  readonly endpoints?: readonly string[];
  /** host paths (not under --root) */
  readonly cafile?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
  readonly healthzPort?: number;
  readonly etcdPrefix?: string;
  readonly network?: Ip4Net;
  /** the lease form (subnet.env's FLANNEL_SUBNET is its first address) */
  readonly subnet?: Ip4Net;
  readonly mtu?: number;
  readonly flannelVersion?: string;
  readonly program?: string;
  /** flanneld.sh runs flanneld with exec (the runbook's does not) */
  readonly exec?: boolean;
  /** the value -> the host file it came from */
  readonly from: Readonly<Record<string, string>>;
  /** every host file looked at (for "not found in ...") */
  readonly looked: readonly string[];
}

/** A path flanneld.sh names, as a host path: `./cert/ca.pem` is inside /opt/flannel; a rooted one loses its root. */
function launcherPath(root: string, p: string): string {
  return p.startsWith('/') ? unrooted(root, p) : posix.join(FLANNEL_DIR, p);
}

export async function readNodeDefaults(host: Host, root: string): Promise<NodeDefaults> {
  const r = (p: string) => rooted(root, p);
  const looked: string[] = [];
  const from: Record<string, string> = {};
  const out: { -readonly [K in keyof NodeDefaults]?: NodeDefaults[K] } = {};
  const set = <K extends keyof NodeDefaults>(k: K, v: NodeDefaults[K] | undefined, file: string) => {
    if (v === undefined) return;
    out[k] = v;
    from[k] = file;
  };
  const read = async (p: string) => {
    looked.push(p);
    return host.readFile(r(p), { maxBytes: 1 << 20 }).catch(() => undefined);
  };

  let subnetFile = `${FLANNEL_DIR}/subnet.env`;
  const sh = await read(LAUNCHER);
  if (sh !== undefined) {
    try {
      const parsed = parseFlanneldSh(sh);
      const flag = (n: string) => parsed.flags.find((f) => f.name === n)?.value;
      set('publicIp', flag('public-ip'), LAUNCHER);
      set('iface', flag('iface'), LAUNCHER);
      const eps = flag('etcd-endpoints');
      set('endpoints', eps ? eps.split(',').filter(Boolean) : undefined, LAUNCHER);
      for (const [k, n] of [
        ['cafile', 'etcd-cafile'],
        ['certfile', 'etcd-certfile'],
        ['keyfile', 'etcd-keyfile'],
      ] as const) {
        const v = flag(n);
        set(k, v ? launcherPath(root, v) : undefined, LAUNCHER);
      }
      const port = flag('healthz-port');
      set('healthzPort', port && /^\d+$/.test(port) && Number(port) > 0 ? Number(port) : undefined, LAUNCHER);
      set('etcdPrefix', flag('etcd-prefix') ?? (eps ? FLANNELD_DEFAULTS['etcd-prefix'] : undefined), LAUNCHER);
      const sf = flag('subnet-file');
      if (sf) subnetFile = launcherPath(root, sf);
      set('exec', parsed.exec, LAUNCHER);
    } catch {
      /* not a launcher we can read: nothing from it */
    }
  }

  const env = await read(subnetFile);
  if (env !== undefined) {
    try {
      const e = parseSubnetEnv(env, subnetFile);
      set('network', e.network, subnetFile);
      set('subnet', e.subnet.network(), subnetFile);
      set('mtu', e.mtu, subnetFile);
    } catch {
      /* a broken subnet.env is drift's to report, not a default */
    }
  }

  looked.push(FLANNEL_DIR);
  const target = await host.readlink(r(FLANNEL_DIR));
  const version = target ? /flannel-(v\d+\.\d+\.\d+)\/?$/.exec(target)?.[1] : undefined;
  set('flannelVersion', version, FLANNEL_DIR);

  looked.push(`${SUPERVISOR_DIR}/*.ini`);
  const inis = (await host.listDir(r(SUPERVISOR_DIR)))?.filter((n) => /\.(ini|conf)$/.test(n)) ?? [];
  // the runbook's flannel.ini first
  for (const name of inis.sort((a, b) => (a === 'flannel.ini' ? -1 : b === 'flannel.ini' ? 1 : 0))) {
    const text = await host.readFile(r(`${SUPERVISOR_DIR}/${name}`), { maxBytes: 1 << 20 }).catch(() => undefined);
    const program = text === undefined ? undefined : programRunning(text, r(LAUNCHER));
    const runbook = text === undefined || program ? program : programRunning(text, LAUNCHER);
    if (runbook) {
      set('program', runbook, `${SUPERVISOR_DIR}/${name}`);
      break;
    }
  }
  return { ...out, from, looked };
}

/** For messages: `not found in /opt/flannel/flanneld.sh, /opt/flannel/subnet.env`. */
export function lookedAt(d: NodeDefaults): string {
  return d.looked.join(', ');
}
