// The runbook's hdss7-21 as drift and doctor expect it (lib/checks/expectation.ts), built once
// for every test that needs a NodeExpectation; a test changes only what its case is about.

import { Ip4, Ip4Net } from '../../lib/core/ip4.ts';
import type { NodeExpectation } from '../../lib/checks/expectation.ts';
import type { FlanneldSettings } from '../../lib/model/flanneld-files.ts';

export const RUNBOOK_CONFIG = '{"Network": "172.7.0.0/16", "Backend": {"Type": "host-gw"}}';

/** flanneld.sh's flags for hdss7-21 against a plain-http etcd at `endpoint`. */
export function runbookFlanneld(endpoint = 'http://10.4.7.21:2379'): FlanneldSettings {
  return {
    publicIp: '10.4.7.21',
    endpoints: [endpoint],
    iface: 'eth0',
    subnetFile: './subnet.env',
    healthzPort: 2401,
    exec: true,
  };
}

export function hdss721(over: Partial<NodeExpectation> = {}): NodeExpectation {
  return {
    name: 'hdss7-21',
    publicIp: Ip4.parse('10.4.7.21'),
    subnet: Ip4Net.parse('172.7.21.0/24'),
    iface: 'eth0',
    network: Ip4Net.parse('172.7.0.0/16'),
    bridge: 'docker0',
    program: 'flanneld-7-21',
    desiredConfig: RUNBOOK_CONFIG,
    api: 'v2',
    prefix: '/coreos.com/network',
    reject: 'drop',
    flanneld: runbookFlanneld(),
    paths: {
      subnetEnv: '/opt/flannel/subnet.env',
      supervisorConf: '/etc/supervisord.conf',
      persist: '/etc/sysconfig/iptables',
    },
    certWarnDays: 30,
    ...over,
  };
}
