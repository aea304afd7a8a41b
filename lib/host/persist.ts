// Where the live iptables rules are persisted: --persist, else Debian's file when that is the
// system's (/etc/iptables exists: iptables-persistent), else RHEL's iptables-services file.

import { rooted } from '../core/paths.ts';
import type { Host } from './host.ts';

export async function persistPath(host: Host, root: string, flag?: string): Promise<string> {
  if (flag) return rooted(root, flag);
  return (await host.stat(rooted(root, '/etc/iptables')))?.type === 'dir'
    ? rooted(root, '/etc/iptables/rules.v4')
    : rooted(root, '/etc/sysconfig/iptables');
}
