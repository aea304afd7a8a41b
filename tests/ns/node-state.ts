// What a step may change on a lab node, captured whole so a test can prove "nothing changed":
// the node's files (path, mode, link target, sha256 — logs, sockets and pid files excluded),
// its routes, its iptables rules (comments and counters dropped), and the flannel keys in
// etcd in both key spaces (values only: TTLs tick).

import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Lab, LabNode } from '../../lab/lab.ts';
import { comparableSave } from '../../lib/model/iptables.ts';

const VOLATILE = [/^data\/(logs|etcd)\//, /^var\//, /^run\//, /\.(pid|sock|log)$/];

export function fileTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (VOLATILE.some((re) => re.test(rel))) continue;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode}`;
        walk(p);
      } else if (st.isFile())
        out[rel] = `file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    }
  };
  walk(root);
  return out;
}

export interface NodeState {
  readonly files: Record<string, string>;
  readonly routes: string;
  readonly iptables: string;
  readonly etcd: string;
}

/** The flannel keys in etcd, both APIs, key=value lines (no TTLs or indices). */
export async function etcdKeys(lab: Lab): Promise<string> {
  const v3 = await lab.etcdctl(['get', '--prefix', '/coreos.com/network']);
  const v2 = await lab.etcdctl(['ls', '-r', '-p', '/coreos.com/network'], { api: 2, okStatus: [4] });
  const v2lines: string[] = [];
  for (const key of v2.stdout.split('\n').filter((k) => k && !k.endsWith('/'))) {
    const got = await lab.etcdctl(['get', key], { api: 2 });
    v2lines.push(`v2 ${key}=${got.stdout.trim()}`);
  }
  return [...v2lines.sort(), `v3 ${v3.stdout.trim().split('\n').join(' ')}`].join('\n');
}

export async function nodeState(lab: Lab, node: LabNode): Promise<NodeState> {
  const [routes, ipt, etcd] = await Promise.all([
    lab.exec(node.netns, ['ip', '-j', 'route', 'show']),
    lab.exec(node.netns, ['iptables-save']),
    etcdKeys(lab),
  ]);
  return { files: fileTree(node.root), routes: routes.stdout, iptables: comparableSave(ipt.stdout), etcd };
}

/** Docker's blanket MASQUERADE rule back at the top of POSTROUTING (a dockerd restart): what snat-fix mends. */
export async function dockerMasqBack(lab: Lab, node: LabNode): Promise<void> {
  await lab.exec(node.netns, [
    'iptables',
    '-t',
    'nat',
    '-I',
    'POSTROUTING',
    '-s',
    node.subnet,
    '!',
    '-o',
    'docker0',
    '-j',
    'MASQUERADE',
  ]);
}
