// hdss7-21 as a MemoryHost, from a real lab node's outputs (tests/fixtures/doctor): its links,
// routes and rules, subnet.env, flanneld.sh for `endpoint`, supervisord answering through
// supervisorctl, healthz through curl, ip_forward on. A test breaks what its case is about.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ip4 } from '../../lib/core/ip4.ts';
import { renderFlanneldSh } from '../../lib/model/flanneld-files.ts';
import { launcherSettings } from '../../lib/steps/start.ts';
import { MemoryHost } from './memory-host.ts';

const FIX = join(import.meta.dirname, '../fixtures/doctor');
export const h21Fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');

/** The flags of every per-node script for hdss7-21 without a cluster file. */
export function h21Args(endpoint: string): string[] {
  return [
    '--endpoints',
    endpoint,
    '--public-ip',
    '10.4.7.21',
    '--subnet',
    '172.7.21.0/24',
    '--iface',
    'eth0',
    '--network',
    '172.7.0.0/16',
  ];
}

export function h21Host(endpoint: string): MemoryHost {
  const addr = h21Fixture('h21-ip-addr.json');
  const save = h21Fixture('h21-iptables-save.txt');
  const sh = renderFlanneldSh(
    launcherSettings({
      root: '/',
      publicIp: Ip4.parse('10.4.7.21'),
      endpoints: [endpoint],
      iface: 'eth0',
      healthzPort: 2401,
      etcdPrefix: '/coreos.com/network',
    }),
  );
  return new MemoryHost({
    '/opt/flannel/subnet.env': h21Fixture('h21-subnet.env'),
    '/opt/flannel/flanneld.sh': sh,
    '/etc/supervisord.conf': '[supervisord]\nlogfile=/tmp/s.log\n',
    '/etc/sysconfig/iptables': save,
    '/proc/sys/net/ipv4/ip_forward': '1\n',
    '/data/logs/flanneld/flanneld.stdout.log': h21Fixture('h21-flanneld-healthy.log'),
  })
    .answer(['ip', '-j', '-d', 'addr'], { stdout: addr })
    .answer(['ip', '-j', '-4', 'addr'], { stdout: addr })
    .answer(['ip', '-j', 'route'], { stdout: h21Fixture('h21-routes.json') })
    .answer(['iptables-save'], { stdout: save })
    .answer(['supervisorctl'], { stdout: 'flanneld-7-21                    RUNNING   pid 42, uptime 1:00:00\n' })
    .answer(['curl'], { stdout: 'flanneld is running\n200' })
    .answer(['ip', '-batch'], {})
    .answer(['iptables-restore'], {});
}
