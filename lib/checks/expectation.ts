// What a node should be, for drift and doctor: its identity, the config etcd must hold, the
// flanneld flags start writes, its files. Built once at the edge (cli/node-target.ts).

import type { Ip4, Ip4Net } from '../core/ip4.ts';
import type { FlanneldSettings } from '../model/flanneld-files.ts';

export interface NodeExpectation {
  readonly name: string;
  readonly publicIp: Ip4;
  readonly subnet: Ip4Net;
  readonly iface: string;
  readonly network: Ip4Net;
  readonly bridge: string;
  readonly program: string;
  /** the config the cluster file (or flags) says etcd must hold; undefined: not compared */
  readonly desiredConfig?: string;
  readonly api: 'v2' | 'v3';
  readonly prefix: string;
  /** iptables-services' REJECT catch-alls: must be gone (the runbook removes them) or kept */
  readonly reject: 'drop' | 'keep';
  /** the flanneld flags start would write (compared with flanneld.sh) */
  readonly flanneld: FlanneldSettings;
  readonly paths: { readonly subnetEnv: string; readonly supervisorConf: string; readonly persist: string };
  readonly certWarnDays: number;
}
