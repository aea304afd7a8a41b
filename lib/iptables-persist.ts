// Where the live iptables rules are persisted: --persist, else Debian's file when that is the
// system's (/etc/iptables exists: iptables-persistent), else RHEL's iptables-services file.

import { existsSync } from 'node:fs';
import { rooted } from './flags.ts';

export function persistPath(root: string, flag?: string): string {
  if (flag) return rooted(root, flag);
  return existsSync(rooted(root, '/etc/iptables'))
    ? rooted(root, '/etc/iptables/rules.v4')
    : rooted(root, '/etc/sysconfig/iptables');
}
