// The runbook in one command (scripts/runbook.ts): the six steps for every node of the
// cluster file, in the runbook's order, as a list of step calls (pure):
//   1. install and certs on each node;   2. etcd-config once (from the first node);
//   3. start, node after node;           4. snat-fix on each node;
//   5. verify-ping on each node, across the cluster.
// Each call is the step script's own argv (`--cluster FILE --node NAME ...`): the step reaches
// the node itself (over ssh where the node has "ssh", else here, under its "root").
// The inputs that are not per node (release source and sha256, the certs source, the REJECT
// policy) come from runbook.ts's flags, spelled as the steps spell them, over the cluster
// file's "runbook" object and "reject" key.

import { invalid, UsageError } from '../core/errors.ts';
import type { Cluster, RunbookInputs } from '../model/cluster.ts';

export const RUNBOOK_STEPS = ['install', 'certs', 'etcd-config', 'start', 'snat-fix', 'verify-ping'] as const;
export type RunbookStep = (typeof RUNBOOK_STEPS)[number];

export interface StepCall {
  readonly node: string;
  readonly step: RunbookStep;
  readonly argv: readonly string[];
}

export interface RunbookRequest {
  readonly clusterFile: string;
  /** --nodes (default: every node of the file, in its order) */
  readonly nodes?: readonly string[];
  /** --steps (default: all six) */
  readonly steps?: readonly string[];
  /** flags over the cluster file's "runbook" */
  readonly inputs: RunbookInputs;
  /** --drop-reject / --reject, over the cluster file's "reject" (the steps read the file themselves) */
  readonly reject?: 'drop' | 'keep';
  readonly sshConfig?: string;
  /** start's --startsecs and --timeout, when given */
  readonly startsecs?: number;
  readonly timeout?: number;
}

/** --nodes and --steps, checked against the file and the six steps (one line each, exit 2). */
export function selectRunbook(cluster: Cluster, req: Pick<RunbookRequest, 'nodes' | 'steps'>) {
  const names = cluster.nodes.map((n) => n.name);
  for (const n of req.nodes ?? [])
    if (!names.includes(n))
      throw invalid('--nodes', n, `no such node in the cluster file (nodes: ${names.join(', ')})`, names[0]);
  for (const s of req.steps ?? [])
    if (!(RUNBOOK_STEPS as readonly string[]).includes(s))
      throw invalid('--steps', s, `no such step (steps: ${RUNBOOK_STEPS.join(', ')})`, 'install,certs');
  return {
    nodes: names.filter((n) => !req.nodes || req.nodes.includes(n)),
    steps: RUNBOOK_STEPS.filter((s) => !req.steps || req.steps.includes(s)),
  };
}

/** The step calls, in the runbook's order. */
export function planRunbook(cluster: Cluster, req: RunbookRequest): StepCall[] {
  const { nodes, steps } = selectRunbook(cluster, req);
  const inputs = { ...cluster.runbook, ...req.inputs };
  if (req.inputs.url !== undefined && req.inputs.tarball === undefined) delete (inputs as { tarball?: string }).tarball;
  if (req.inputs.tarball !== undefined && req.inputs.url === undefined) delete (inputs as { url?: string }).url;
  const has = (s: RunbookStep) => steps.includes(s);
  if (has('certs') && inputs.from === undefined)
    throw new UsageError(
      'runbook: the certs step needs --from (or "runbook": {"from": ...} in the cluster file), e.g. --from root@hdss7-200:/opt/certs',
    );
  const common = ['--cluster', req.clusterFile, ...(req.sshConfig ? ['--ssh-config', req.sshConfig] : [])];
  const at = (node: string) => [...common, '--node', node];
  const opt = (flag: string, v: string | number | undefined) => (v === undefined ? [] : [flag, String(v)]);
  const args: Record<RunbookStep, (node: string) => string[]> = {
    install: (n) => [
      ...at(n),
      '--version',
      cluster.flannelVersion,
      ...opt('--url', inputs.url),
      ...opt('--tarball', inputs.tarball),
      ...opt('--sha256', inputs.sha256),
    ],
    certs: (n) => [
      ...at(n),
      ...opt('--from', inputs.from),
      ...opt('--identity', inputs.identity),
      ...opt('--known-hosts', inputs.knownHosts),
    ],
    'etcd-config': (n) => at(n),
    start: (n) => [...at(n), ...opt('--startsecs', req.startsecs), ...opt('--timeout', req.timeout)],
    'snat-fix': (n) => [...at(n), ...opt('--reject', req.reject)],
    'verify-ping': (n) => at(n),
  };
  const calls: StepCall[] = [];
  const add = (step: RunbookStep, node: string) => {
    if (has(step)) calls.push({ node, step, argv: args[step](node) });
  };
  for (const n of nodes) {
    add('install', n);
    add('certs', n);
  }
  if (nodes[0] !== undefined) add('etcd-config', nodes[0]);
  for (const step of ['start', 'snat-fix', 'verify-ping'] as const) for (const n of nodes) add(step, n);
  return calls;
}
