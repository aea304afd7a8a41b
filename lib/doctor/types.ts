// What doctor says and what it knows. A Finding has a stable id (README: doctor findings),
// what is wrong, the evidence, the likely cause and ONE shell line that fixes it. A rule (one
// module per finding area, doctor/rules/) reads the drift checks' typed details, doctor's own
// probes and flanneld's log, never another module's sentences.

import type { Ip4, Ip4Net } from '../core/ip4.ts';
import type { Check } from '../checks/types.ts';
import type { CheckContext } from '../checks/context.ts';
import type { NodeExpectation } from '../checks/expectation.ts';
import type { DoctorProbes, NodeObservation } from '../host/observe.ts';
import type { FlanneldLogState } from './log.ts';

/**
 * 'problem': something is wrong (exit 1); 'unexamined': something could not be looked at (exit
 * 3 when nothing else is wrong); 'note': worth knowing, nothing to fix (an error flanneld logged
 * that is over): exit 0, and no fix line.
 */
export type FindingKind = 'problem' | 'unexamined' | 'note';

export interface Finding {
  /** stable id, e.g. `config.written-v3` (the list is in this file's header) */
  readonly id: string;
  /** 'unexamined': something could not be looked at, and nothing says why */
  readonly kind: FindingKind;
  /** what is wrong, one line */
  readonly what: string;
  /** the route, rule, key or log line that shows it */
  readonly evidence: readonly string[];
  readonly cause: string;
  /** one shell line that fixes it (a note has none) */
  readonly fix?: string;
  /** what to do after, or instead, when the fix alone is not the whole story */
  readonly then?: string;
  /** the drift check ids this finding explains */
  readonly checks: readonly string[];
}

/** How the operator runs the toolkit on this node, so a fix is a line to paste. */
export interface Invocation {
  /** the toolkit's scripts directory, e.g. /opt/flannel-runbook/scripts (or its dist/ bundle) */
  readonly scriptsDir: string;
  /** the scripts' extension there: `.ts` (default), `.mjs` in the dist/ bundle */
  readonly ext?: string;
  /** flags that make a per-node script act as this node (`--cluster F --node N [--root R]`, or the node flags) */
  readonly nodeArgs: readonly string[];
  /** flags that make etcd-config act on this cluster (`--cluster F [--root R]`, or endpoints, network, backend) */
  readonly clusterArgs: readonly string[];
  /** where scripts/certs.ts copies the certificates from */
  readonly certsFrom: string;
}

export interface ClusterPeer {
  readonly name: string;
  readonly publicIp: Ip4;
  readonly subnet: Ip4Net;
  readonly program?: string;
}

export interface DoctorContext {
  readonly expect: NodeExpectation;
  readonly flannelVersion: string;
  /** the connection the probe used: endpoints and the TLS files, as paths on this host */
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly cafile?: string;
    readonly certfile?: string;
    readonly keyfile?: string;
  };
  readonly healthzPort: number;
  /** every node of the cluster file (to name the owner of a subnet); empty without one */
  readonly peers: readonly ClusterPeer[];
  readonly run: Invocation;
}

/** Everything a rule reads, prepared once (doctor/scope.ts). */
export interface Scope {
  readonly ctx: DoctorContext;
  readonly e: NodeExpectation;
  readonly obs: NodeObservation;
  readonly checks: readonly Check[];
  readonly probes: DoctorProbes;
  /** what drift's checks derived (config, leases, this node's, the interface) */
  readonly derived: CheckContext;
  readonly log?: FlanneldLogState;
  /** the findings of the rules before this one (a later rule may defer to an earlier fix) */
  readonly found: readonly Finding[];
  /** a toolkit script as the operator runs it on this node (or, 'cluster', etcd-config) */
  T(script: string, extra?: readonly string[], scope?: 'node' | 'cluster'): string;
  /** flanneld's log lines for known error ids still going on, as evidence */
  logEvidence(...ids: string[]): string[];
  /** `supervisorctl -c CONF VERB PROGRAM` for this node */
  supervisorctl(verb: string): string;
}

/** One finding area: its rules, given what the earlier areas found. */
export interface DoctorRule {
  readonly name: string;
  run(scope: Scope): Finding[];
}

/** A finding as a rule states it (kind defaults to 'problem'). */
export type FindingInput = Omit<Finding, 'kind'> & { readonly kind?: FindingKind };

export function finding(f: FindingInput): Finding {
  return {
    id: f.id,
    kind: f.kind ?? 'problem',
    what: f.what,
    evidence: f.evidence,
    cause: f.cause,
    ...(f.fix !== undefined && { fix: f.fix }),
    ...(f.then !== undefined && { then: f.then }),
    checks: f.checks,
  };
}
