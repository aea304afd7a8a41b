// The doctor run (scripts/doctor.ts): observe the node as drift does, judge it, run doctor's
// own probes, diagnose. Changes nothing. A TLS file that cannot be read is a finding here (the
// runbook never copies client-key.pem), not a usage error.

import { UsageError } from '../core/errors.ts';
import { otherNodeReason } from '../checks/context.ts';
import { checkNode, type Check } from '../checks/index.ts';
import type { NodeExpectation } from '../checks/expectation.ts';
import { diagnose, type DoctorContext, type Finding } from '../doctor/index.ts';
import type { EtcdConnection } from '../host/etcd.ts';
import type { Host } from '../host/host.ts';
import { storeTarget, type StoreTarget } from '../host/network-store.ts';
import {
  observeDoctorProbes,
  observeNode,
  type DoctorProbes,
  type NodeObservation,
  type ObservePaths,
} from '../host/observe.ts';
import type { EtcdApi } from '../model/lease.ts';

export interface Examination {
  readonly obs: NodeObservation;
  readonly checks: readonly Check[];
  readonly probes: DoctorProbes;
  readonly findings: readonly Finding[];
}

export async function examineNode(o: {
  readonly host: Host;
  readonly expect: NodeExpectation;
  readonly conn: EtcdConnection;
  readonly api: EtcdApi;
  readonly prefix: string;
  readonly paths: ObservePaths;
  readonly healthzPort: number;
  readonly podNetns: readonly string[];
  readonly context: Omit<DoctorContext, 'expect'>;
}): Promise<Examination> {
  let store: StoreTarget;
  let tlsFiles: string | undefined;
  try {
    store = await storeTarget(o.host, o.conn, o.api, o.prefix);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    tlsFiles = err.message;
    store = { conn: o.conn, tls: {}, api: o.api, prefix: o.prefix.replace(/\/+$/, '') };
  }
  let obs = await observeNode({
    host: o.host,
    store,
    program: o.expect.program,
    healthzPort: o.healthzPort,
    paths: o.paths,
  });
  if (tlsFiles) obs = { ...obs, etcd: { ok: false, error: tlsFiles, kind: 'tls-files' } };
  const other = otherNodeReason(o.expect, obs);
  if (other) throw new UsageError(other);
  const checks = checkNode(o.expect, obs);
  const probes = await observeDoctorProbes({
    host: o.host,
    store,
    obs,
    logFile: o.paths.logFile,
    podNetns: o.podNetns,
    node: { publicIp: o.expect.publicIp.toString(), iface: o.expect.iface, healthzPort: o.healthzPort },
  });
  const findings = diagnose({ ...o.context, expect: o.expect }, obs, checks, probes);
  return { obs, checks, probes, findings };
}
