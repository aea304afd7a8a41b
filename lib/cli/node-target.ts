// What drift and doctor compare a node against, built once from the same flags: the node's
// identity (cluster file or flags), where its files are, and the flanneld flags start writes.

import { formatNetworkConfig, parseNetworkConfig } from '../model/netconfig.ts';
import type { NodeExpectation } from '../checks/expectation.ts';
import { defineFlags, rejectFlags } from './flags.ts';
import type { Host } from '../host/host.ts';
import { connectionFor, hostFile, required, type Settings } from './settings.ts';
import { programNameFor } from '../model/flanneld-files.ts';
import { launcherSettings, servicePaths, type ServicePaths } from '../steps/start.ts';
import { persistPath } from '../host/persist.ts';
import type { EtcdConnection } from '../host/etcd.ts';
import type { Cluster, ClusterNode } from '../model/cluster.ts';
import { checkProgramName } from '../core/validate.ts';

/** The flags drift and doctor add to the steps' vocabulary. */
export const nodeCheckFlags = defineFlags({
  program: {
    type: 'string',
    placeholder: 'NAME',
    help: 'supervisord program name (else the cluster node name, hdss7-21 -> flanneld-7-21)',
    fromNode: 'the supervisord ini that runs /opt/flannel/flanneld.sh',
  },
  'supervisor-conf': {
    type: 'string',
    default: '/etc/supervisord.conf',
    placeholder: 'FILE',
    help: "supervisord's config (under --root)",
  },
  persist: {
    type: 'string',
    placeholder: 'FILE',
    help: 'the persisted rules file (default as snat-fix: /etc/iptables/rules.v4 when /etc/iptables exists, else /etc/sysconfig/iptables)',
  },
  ...rejectFlags,
});

export interface NodeTarget {
  readonly expect: NodeExpectation;
  readonly conn: EtcdConnection;
  readonly paths: ServicePaths;
  readonly persist: string;
}

/** The config a cluster file says etcd must hold, as etcd-config writes it. */
export function clusterConfig(cluster: Cluster): string {
  return formatNetworkConfig(
    parseNetworkConfig(
      JSON.stringify({
        Network: cluster.network.toString(),
        ...(cluster.subnetLen && { SubnetLen: cluster.subnetLen }),
        Backend: cluster.backend,
      }),
    ),
  );
}

export async function nodeTarget(
  host: Host,
  s: Settings,
  v: { program?: string; 'supervisor-conf': string; persist?: string },
  cluster: Cluster | undefined,
  node: ClusterNode | undefined,
): Promise<NodeTarget> {
  const publicIp = required(s.node.publicIp, '--public-ip', '10.4.7.21', s.looked);
  const subnet = required(s.node.subnet, '--subnet', '172.7.21.0/24', s.looked);
  const iface = required(s.node.iface, '--iface', 'eth0', s.looked);
  const network = required(s.network, '--network', '172.7.0.0/16', s.looked);
  const program = checkProgramName(
    '--program',
    v.program ?? node?.program ?? s.node.program ?? (s.node.name ? programNameFor(s.node.name) : 'flanneld'),
  );
  const conn = connectionFor(s);
  await hostFile(host, s.root, '--supervisor-conf', v['supervisor-conf'], '/etc/supervisord.conf');
  if (v.persist !== undefined) await hostFile(host, s.root, '--persist', v.persist, '/etc/sysconfig/iptables');
  const paths = servicePaths(s.root, { supervisorConf: v['supervisor-conf'], program });
  const persist = await persistPath(host, s.root, v.persist);
  const desiredConfig = cluster ? clusterConfig(cluster) : undefined;
  return {
    conn,
    paths,
    persist,
    expect: {
      name: node?.name ?? s.node.name ?? publicIp.toString(),
      publicIp,
      subnet,
      iface,
      network,
      bridge: s.bridge,
      program,
      ...(desiredConfig && { desiredConfig }),
      api: s.etcd.api,
      prefix: s.etcd.prefix,
      reject: s.reject,
      flanneld: launcherSettings({
        root: s.root,
        publicIp,
        endpoints: conn.endpoints,
        ...(conn.cafile && { tls: { cafile: s.etcd.cafile, certfile: s.etcd.certfile, keyfile: s.etcd.keyfile } }),
        iface,
        healthzPort: s.healthzPort,
        etcdPrefix: s.etcd.prefix,
      }),
      paths: { subnetEnv: paths.subnetEnv, supervisorConf: paths.supervisorConf, persist },
      certWarnDays: 30,
    },
  };
}
