// The lab's remote mode (createLab({ remote: true })): the nodes as a CentOS 7 operator's
// control host sees them. Each node runs its own sshd (services.ts startNodeSshd) in a private
// mount namespace where
//   - Node.js is not there: `node`, `nodejs`, `npm`, `npx` and `corepack` are overlay
//     whiteouts, so `command -v node` fails as on a node that never had it (a /bin/false
//     bind-mounted over node would still be found by `command -v`);
//   - iproute2 4.11 (tests/fixtures/el7-tools) IS `ip` and `bridge`: /usr/bin/ip (which
//     /bin/ip, /sbin/ip and /usr/sbin/ip lead to on Debian 12's merged /usr) and
//     /usr/sbin/bridge (= /sbin/bridge);
//   - /root is the node's own (<root>/root, holding authorized_keys): its sessions never run
//     this machine's ~/.bashrc (which costs half a second per command here);
//   - / is read-only but for /tmp (where the lab's node roots are): a host path that a script
//     failed to put under the node's "root" fails there instead of changing this machine.
// Each masked directory (/usr/bin, /usr/sbin) gets a read-only overlay: a small layer of the
// lab's (the whiteouts and the 4.11 binaries) over the directory itself. The overlays are
// mounted inside the sshd's own mount namespace only (`ip netns exec` + `unshare --mount
// --propagation private`): they exist for it and its sessions, and end with it. Nothing is
// mounted in, or propagated to, any other mount namespace.
// The control host is a namespace on the l2 segment (10.4.7.10) holding an OpenSSH client
// config: one Host entry per node (its name and its address), the lab's identity, a
// known_hosts file with each node's real host key, strict checking.

import { existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, readFile, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './proc.ts';

/** The programs a node without Node.js does not have. */
export const NODE_PROGRAMS = ['node', 'nodejs', 'npm', 'npx', 'corepack'] as const;
/** The programs iproute2 4.11 stands in for. */
export const EL7_PROGRAMS = ['ip', 'bridge'] as const;
/** The PATH sshd gives root's sessions (Debian's SUPERUSER_PATH; CentOS 7's is the same set). */
export const SESSION_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const EL7_BIN = fileURLToPath(new URL('../tests/fixtures/el7-tools/bin/', import.meta.url));

/** One masked directory: an overlay of `layer` over `dir` in the node sshds' mount namespaces. */
export interface MaskLayer {
  /** the directory as it really is (symlinks resolved): /usr/bin */
  readonly dir: string;
  /** the lab's layer on top of it */
  readonly layer: string;
  /** names that are not there any more (whiteouts) */
  readonly hidden: readonly string[];
  /** names that are iproute2 4.11's */
  readonly replaced: readonly string[];
}

async function present(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Builds the layers under `root` (<labdir>/remote/layers): for each real directory of the
 * session PATH (and node's own) that holds one of the Node.js programs or `ip`/`bridge`, a
 * whiteout (a 0/0 character device, mknod) per Node.js program and a copy of the 4.11 binary.
 */
export async function buildMaskLayers(root: string, signal?: AbortSignal): Promise<MaskLayer[]> {
  // this process's PATH too: a session's shell may add to sshd's (a ~/.bashrc)
  const dirs = [...SESSION_PATH.split(':'), ...(process.env.PATH ?? '').split(':'), dirname(process.execPath)].filter(
    (d) => d.startsWith('/'),
  );
  const real = [...new Set(await Promise.all(dirs.filter(existsSync).map((d) => realpath(d))))];
  const layers: MaskLayer[] = [];
  for (const [i, dir] of real.entries()) {
    const hidden: string[] = [];
    const replaced: string[] = [];
    for (const n of NODE_PROGRAMS) if (await present(join(dir, n))) hidden.push(n);
    for (const n of EL7_PROGRAMS) if (await present(join(dir, n))) replaced.push(n);
    if (hidden.length === 0 && replaced.length === 0) continue;
    const layer = join(root, String(i));
    await mkdir(layer, { recursive: true, mode: 0o755 });
    for (const n of hidden) await run(['mknod', join(layer, n), 'c', '0', '0'], { signal });
    for (const n of replaced) await copyFile(join(EL7_BIN, n), join(layer, n));
    layers.push({ dir, layer, hidden, replaced });
  }
  return layers;
}

/** The sh script that mounts the node's home and layers, then becomes sshd: `sh -c SCRIPT sh CONF HOME DIR LAYER...`. */
export const MOUNT_AND_SSHD = [
  'conf=$1 home=$2; shift 2',
  'mount --bind "$home" /root || exit 1',
  'while [ $# -gt 0 ]; do',
  '  mount -t overlay frb-remote -o "ro,lowerdir=$2:$1" "$1" || exit 1',
  '  shift 2',
  'done',
  // a safety net: the sessions can write only under /tmp (the lab's dir, the node roots, mktemp);
  // a path a script failed to put under the node's root fails (EROFS) instead of reaching /
  'mount --bind /tmp /tmp || exit 1',
  'mount -o remount,bind,ro / || exit 1',
  'exec /usr/sbin/sshd -D -e -f "$conf"',
].join('\n');

/**
 * The argv (for inside the node's namespace) of its sshd: private mounts, then sshd. `home` is
 * the node's own /root (<root>/root): its sessions never read this machine's ~/.bashrc.
 */
export function nodeSshdArgv(conf: string, home: string, layers: readonly MaskLayer[]): string[] {
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    MOUNT_AND_SSHD,
    'sh',
    conf,
    home,
    ...layers.flatMap((l) => [l.dir, l.layer]),
  ];
}

export interface RemoteNodeSpec {
  readonly name: string;
  readonly ip: string;
  /** the node's sshd host key, `ssh-ed25519 AAAA...` */
  readonly hostPub: string;
}

/** known_hosts for the control host: each node's real key, under its name and its address. */
export function renderKnownHosts(nodes: readonly RemoteNodeSpec[]): string {
  return nodes
    .map((n) => {
      const [type, key] = n.hostPub.split(' ');
      return `${n.name},${n.ip} ${type} ${key}\n`;
    })
    .join('');
}

/** The control host's ssh client config (`ssh -F`), as an operator of such a cluster writes one. */
export function renderSshClientConfig(o: {
  readonly prefix: string;
  readonly nodes: readonly RemoteNodeSpec[];
  readonly identity: string;
  readonly knownHosts: string;
}): string {
  const lines = [`# flannel-runbook lab ${o.prefix}: the control host's ssh client config (ssh -F this file)`];
  for (const n of o.nodes) lines.push(`Host ${n.name} ${n.ip}`, `    HostName ${n.ip}`);
  lines.push(
    'Host *',
    '    User root',
    `    IdentityFile ${o.identity}`,
    '    IdentitiesOnly yes',
    `    UserKnownHostsFile ${o.knownHosts}`,
    '    GlobalKnownHostsFile /dev/null',
    '    StrictHostKeyChecking yes',
    '    BatchMode yes',
  );
  return `${lines.join('\n')}\n`;
}

/** A node's sshd host key, made in <root>/etc/ssh; returns its public line. */
export async function makeNodeHostKey(root: string, comment: string, signal?: AbortSignal): Promise<string> {
  const dir = join(root, 'etc', 'ssh');
  await mkdir(dir, { recursive: true });
  const key = join(dir, 'ssh_host_ed25519_key');
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', key], { signal });
  return (await readFile(`${key}.pub`, 'utf8')).trim();
}

/** root's authorized_keys on a node: the lab's identity. */
export async function authorizeIdentity(root: string, identityPub: string): Promise<void> {
  await mkdir(join(root, 'root', '.ssh'), { recursive: true, mode: 0o700 });
  await writeFile(join(root, 'root', '.ssh', 'authorized_keys'), `${identityPub}\n`, { mode: 0o600 });
}
