// iptables: the runbook's SNAT rule exactly once, Docker's blanket MASQUERADE rule gone, pod
// traffic forwarded (each flow that matters judged in rule order with the chain policy: to this
// node's subnet from every peer subnet, and back), the REJECT catch-alls as the policy says, no
// rule of the other (legacy) backend acting on pod traffic, and the persisted rules file equal
// to the live rules. All mends of the live rules are ONE iptables-restore --noflush; the
// persisted file is written only from live rules that these checks found right.

import { capture, run as runAction, type Action } from '../core/plan.ts';
import type { Ip4Net } from '../core/ip4.ts';
import {
  allRules,
  comparableSave,
  countRule,
  countSnatRules,
  flannelForwardRules,
  formatRule,
  forwards,
  judgeFlows,
  masquerades,
  planSnatFix,
  podFlows,
  rejectRules,
  type FlowDecision,
  type PodFlow,
  type Rule,
  type Ruleset,
} from '../model/iptables.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface CountDetail {
  readonly rule: string;
  readonly count: number;
}
/** A pod flow FORWARD does not let through, and what stops it. */
export interface BlockedFlow {
  readonly flow: string;
  /** DROP, REJECT, or the chain policy's word */
  readonly target: string;
  /** the rule that stops it (`-A CHAIN ...`); absent when the policy does */
  readonly rule?: string;
  /** the rule's table and chain (a user chain reached through a jump) */
  readonly table?: string;
  readonly chain?: string;
}
export interface ForwardDetail {
  readonly allowed: boolean;
  readonly policy?: string;
  /** flannel's ACCEPT rules that are not there */
  readonly missing: readonly string[];
  /** how many flows were judged (to this node's subnet from each peer subnet, and back) */
  readonly flows: number;
  readonly blocked: readonly BlockedFlow[];
}
/** A rule of the legacy backend that changes what pod traffic gets. */
export interface LegacyEffect {
  readonly table: string;
  readonly chain: string;
  /** `-A CHAIN ...` as iptables-legacy-save prints it, or `-P CHAIN DROP` when the policy decides */
  readonly rule: string;
  /** `masquerades`: pod-to-pod traffic leaves with the node's address; `blocks`: FORWARD drops it */
  readonly effect: 'masquerades' | 'blocks';
  readonly flows: readonly string[];
}
export interface BackendDetail {
  /** whether iptables-save warned that the legacy backend holds tables */
  readonly legacyTables: boolean;
  /** rules in the legacy backend */
  readonly legacyRules: number;
  readonly effects: readonly LegacyEffect[];
}
export interface RejectDetail {
  readonly present: readonly string[];
  readonly policy: 'drop' | 'keep';
}
export interface PersistedDetail {
  readonly state: 'missing' | 'differs' | 'equal';
  /** rule lines in the live set the file lacks, and in the file the live set lacks */
  readonly onlyLive: readonly string[];
  readonly onlyFile: readonly string[];
  /** the live-rule checks that must be right before the file may be rewritten */
  readonly blockedBy: readonly string[];
}

export const IPTABLES_SNAT = checkKey<CountDetail>('iptables.snat');
export const IPTABLES_DOCKER_MASQ = checkKey<CountDetail>('iptables.docker-masq');
export const IPTABLES_FORWARD = checkKey<ForwardDetail>('iptables.forward');
export const IPTABLES_REJECT = checkKey<RejectDetail>('iptables.reject');
export const IPTABLES_PERSISTED = checkKey<PersistedDetail>('iptables.persisted');
export const IPTABLES_BACKEND = checkKey<BackendDetail>('iptables.backend');
const IDS = [
  IPTABLES_SNAT.id,
  IPTABLES_DOCKER_MASQ.id,
  IPTABLES_FORWARD.id,
  IPTABLES_REJECT.id,
  IPTABLES_BACKEND.id,
  IPTABLES_PERSISTED.id,
];

/**
 * The flows drift judges: this node's subnet to and from each peer subnet (each with the
 * interface its route uses), or, while the leases are not known, the whole network.
 */
export function nodeFlows(ctx: CheckContext): PodFlow[] {
  const e = ctx.expect;
  const peers = ctx.leases.filter((l) => !l.subnet.equals(e.subnet)).map((l) => l.subnet.network());
  const routes = ctx.obs.routes.ok ? ctx.obs.routes.value : [];
  const backend = ctx.config?.backend;
  // by subnet (a number: address and prefix): one lookup per peer, not a scan of every route
  // and lease (5,000 peers)
  const key = (n: Ip4Net) => n.ip.value * 64 + n.prefix;
  const leaseOf = new Map(ctx.leases.map((l) => [key(l.subnet.network()), l]));
  const routeDev = new Map<number, string>();
  for (const r of routes) if (r.dev && !routeDev.has(key(r.dst))) routeDev.set(key(r.dst), r.dev);
  const expectedDev = (p: Ip4Net) => {
    if (backend?.type !== 'vxlan') return e.iface;
    const lease = leaseOf.get(key(p));
    if (backend.directRouting && lease && ctx.sameL2(lease.publicIp)) return e.iface;
    return `flannel.${backend.vni ?? 1}`;
  };
  const devOf = (p: Ip4Net) => routeDev.get(key(p)) ?? expectedDev(p);
  if (peers.length === 0) {
    // no peer known (etcd silent, or a single node): the whole network, interfaces unknown
    const n = e.network.network();
    const own = e.subnet.network();
    return [
      { name: `${n} -> ${own}`, src: n, dst: own, out: e.bridge },
      { name: `${own} -> ${n}`, src: own, dst: n, in: e.bridge },
    ];
  }
  return podFlows({ own: e.subnet, peers, bridge: e.bridge, devOf });
}

function blockedFlows(rs: Ruleset, flows: readonly PodFlow[]): BlockedFlow[] {
  return judgeFlows(rs, 'filter', 'FORWARD', flows).flatMap((d: FlowDecision, i) =>
    forwards(d)
      ? []
      : [
          {
            flow: flows[i]!.name,
            target: d.target,
            ...(d.rule && {
              rule: formatRule(d.rule),
              table: d.rule.table,
              chain: d.rule.chain,
            }),
          },
        ],
  );
}

/** What the legacy backend's rules do to pod traffic: masquerade pod-to-pod flows, or stop them in FORWARD. */
export function legacyEffects(rs: Ruleset, flows: readonly PodFlow[]): LegacyEffect[] {
  const byRule = new Map<string, LegacyEffect & { flows: string[] }>();
  const add = (d: FlowDecision, effect: LegacyEffect['effect'], flow: string, table: string, chain: string) => {
    // no rule decided: the chain's policy did (`-P FORWARD DROP` in the legacy filter table)
    const rule = d.rule ? formatRule(d.rule) : `-P ${chain} ${d.target}`;
    const key = `${table} ${rule}`;
    const cur = byRule.get(key) ?? { table, chain: d.rule?.chain ?? chain, rule, effect, flows: [] };
    cur.flows.push(flow);
    byRule.set(key, cur);
  };
  // pod to pod leaves this node towards a peer: only those flows must keep the pod's address
  const outbound = flows.filter((f) => f.in !== undefined && f.out !== f.in);
  judgeFlows(rs, 'nat', 'POSTROUTING', outbound).forEach((d, i) => {
    if (masquerades(d)) add(d, 'masquerades', outbound[i]!.name, 'nat', 'POSTROUTING');
  });
  judgeFlows(rs, 'filter', 'FORWARD', flows).forEach((d, i) => {
    if (!forwards(d)) add(d, 'blocks', flows[i]!.name, 'filter', 'FORWARD');
  });
  return [...byRule.values()];
}

/** Lines of one rules text that the other lacks (comments and counters ignored). */
export function ruleLinesDiff(live: string, file: string): { onlyLive: string[]; onlyFile: string[] } {
  const a = comparableSave(live).split('\n');
  const b = comparableSave(file).split('\n');
  const inB = new Set(b);
  const inA = new Set(a);
  return { onlyLive: a.filter((l) => !inB.has(l)), onlyFile: b.filter((l) => !inA.has(l)) };
}

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const o = ctx.obs;
  if (!o.ruleset.ok) {
    const blocker = { kind: 'observation' as const, what: 'iptables-save', error: o.ruleset.error };
    return IDS.map((id) => cannot(id, blocker));
  }
  const rs = o.ruleset.value;
  const snatPlan = planSnatFix(rs, { subnet: e.subnet, network: e.network, bridge: e.bridge, dropReject: false });
  const natOnly = snatPlan.changes.filter((c) => c.rule.table === 'nat');
  const flows = nodeFlows(ctx);
  const blocked = blockedFlows(rs, flows);
  const allowed = blocked.length
    ? {
        ok: false,
        reason: `pod traffic stopped in FORWARD: ${blocked
          .slice(0, 3)
          .map(
            (b) =>
              `${b.flow} by ${b.rule ? `\`${b.rule}\`${b.chain !== 'FORWARD' ? ` (in ${b.chain})` : ''}` : `the policy ${b.target}`}`,
          )
          .join(
            '; ',
          )}${blocked.length > 3 ? `; ${blocked.length - 3} more` : ''} (${blocked.length} of ${flows.length} flows)`,
      }
    : { ok: true, reason: `pod traffic forwarded: all ${flows.length} flows to and from ${e.subnet} accepted` };
  // flannel's ACCEPT rules are put back only when absent (they are flanneld's, and ours to restore);
  // a DROP or REJECT above them is someone's rule: doctor names it, --fix never deletes it
  const missingFwd: Rule[] = allowed.ok ? [] : flannelForwardRules(e.network).filter((r) => countRule(rs, r) === 0);
  // one iptables-restore for every iptables mend: the nat part of the snat plan + FORWARD ACCEPTs
  const payload = [
    natOnly.length ? `${snatPlan.payload.split('*filter')[0]!.trimEnd()}\n` : '',
    missingFwd.length
      ? [
          '*filter',
          ...missingFwd.map((r) => `-I FORWARD 1 ${formatRule(r).replace(/^-A FORWARD /, '')}`),
          'COMMIT',
          '',
        ].join('\n')
      : '',
  ].join('');
  const iptFix: Action[] = payload
    ? [
        runAction({
          argv: ['iptables-restore', '--noflush'],
          input: payload,
          why: 'restore the SNAT rule / FORWARD ACCEPT rules in one transaction',
        }),
      ]
    : [];
  const out: Check[] = [];

  const counted = countSnatRules(rs, { subnet: e.subnet, network: e.network, bridge: e.bridge });
  const snat = counted.snat.rule;
  const nSnat = counted.snat.count;
  const snatDetail = { rule: formatRule(snat), count: nSnat };
  out.push(
    nSnat === 1
      ? ok<CountDetail>(IPTABLES_SNAT.id, `${formatRule(snat)} present once`, snatDetail)
      : drift<CountDetail>(
          IPTABLES_SNAT.id,
          nSnat === 0 ? `missing: ${formatRule(snat)}` : `present ${nSnat} times: ${formatRule(snat)}`,
          { detail: snatDetail, fix: iptFix, evidence: [formatRule(snat)] },
        ),
  );

  const docker = counted.dockerMasq.rule;
  const nDocker = counted.dockerMasq.count;
  const dockerDetail = { rule: formatRule(docker), count: nDocker };
  out.push(
    nDocker === 0
      ? ok<CountDetail>(IPTABLES_DOCKER_MASQ.id, "Docker's blanket MASQUERADE rule is absent", dockerDetail)
      : drift<CountDetail>(
          IPTABLES_DOCKER_MASQ.id,
          `Docker's rule is back (dockerd restarted?): ${formatRule(docker)}: pods on other nodes see this node's address`,
          { detail: dockerDetail, fix: iptFix, evidence: [formatRule(docker)] },
        ),
  );

  const policy = rs.tables.find((t) => t.name === 'filter')?.chains.find((c) => c.name === 'FORWARD')?.policy;
  const fwdDetail: ForwardDetail = {
    allowed: allowed.ok,
    ...(policy !== undefined && { policy }),
    missing: missingFwd.map(formatRule),
    flows: flows.length,
    blocked,
  };
  out.push(
    allowed.ok
      ? ok<ForwardDetail>(IPTABLES_FORWARD.id, allowed.reason, fwdDetail)
      : drift<ForwardDetail>(IPTABLES_FORWARD.id, allowed.reason, {
          detail: fwdDetail,
          ...(missingFwd.length && { fix: iptFix }),
        }),
  );

  const rejects = rejectRules().filter((r) => countRule(rs, r) > 0);
  const rejectDetail: RejectDetail = { present: rejects.map(formatRule), policy: e.reject };
  if (e.reject === 'drop')
    out.push(
      rejects.length
        ? drift<RejectDetail>(
            IPTABLES_REJECT.id,
            `REJECT catch-alls present: ${rejects.map(formatRule).join('; ')} (policy: dropped; snat-fix --reject drop removes them)`,
            { detail: rejectDetail, evidence: rejects.map(formatRule) },
          )
        : ok<RejectDetail>(IPTABLES_REJECT.id, 'no REJECT catch-all (policy: dropped)', rejectDetail),
    );
  else
    out.push(
      ok<RejectDetail>(
        IPTABLES_REJECT.id,
        `REJECT catch-alls kept by policy (${rejects.length} present)`,
        rejectDetail,
      ),
    );

  out.push(backend(ctx, flows));
  out.push(persisted(ctx, out));
  return out;
}

/** The legacy backend: its rules apply too; any that masquerade or stop pod traffic are drift. */
function backend(ctx: CheckContext, flows: readonly PodFlow[]): Check<BackendDetail> {
  const legacy = ctx.obs.legacy;
  if (!legacy)
    return ok<BackendDetail>(IPTABLES_BACKEND.id, 'one iptables backend (no legacy tables)', {
      legacyTables: false,
      legacyRules: 0,
      effects: [],
    });
  if (!legacy.ruleset.ok)
    return cannot(IPTABLES_BACKEND.id, {
      kind: 'observation',
      what: 'iptables-legacy-save',
      error: legacy.ruleset.error,
    });
  const rules = allRules(legacy.ruleset.value).length;
  const effects = legacyEffects(legacy.ruleset.value, flows);
  const detail: BackendDetail = { legacyTables: true, legacyRules: rules, effects };
  if (effects.length === 0)
    return ok<BackendDetail>(
      IPTABLES_BACKEND.id,
      `legacy tables present (${rules} rules), none acting on pod traffic`,
      detail,
    );
  const lines = effects.map((x) => `iptables-legacy -t ${x.table} ${x.rule}`);
  return drift<BackendDetail>(
    IPTABLES_BACKEND.id,
    `the legacy backend's rules act on pod traffic too (iptables-save shows only nft's): ${effects
      .map((x) => `${x.rule} ${x.effect} ${x.flows.join(', ')}`)
      .join('; ')}`,
    { detail, evidence: lines },
  );
}

/** The persisted file against the live rules; rewritten only from live rules found right. */
function persisted(ctx: CheckContext, live: readonly Check[]): Check<PersistedDetail> {
  const e = ctx.expect;
  const o = ctx.obs;
  const text = o.iptablesSave.ok ? o.iptablesSave.value : '';
  const wrongLive = live.filter((c) => c.status !== 'ok').map((c) => c.id);
  const fix = wrongLive.length
    ? undefined
    : [
        capture(
          { argv: ['iptables-save'], why: 'the live rules', readOnly: true },
          e.paths.persist,
          `persist the live rules to ${e.paths.persist} (atomically)`,
          { mode: 0o600, expect: 'COMMIT' },
        ),
      ];
  const held = wrongLive.length
    ? ` (not saved while ${wrongLive.join(', ')} ${wrongLive.length > 1 ? 'are' : 'is'} wrong)`
    : '';
  if (o.files.persisted === undefined) {
    return drift<PersistedDetail>(
      IPTABLES_PERSISTED.id,
      `${e.paths.persist} is missing: a reboot loses the snat fix${held}`,
      {
        detail: { state: 'missing', onlyLive: [], onlyFile: [], blockedBy: wrongLive },
        ...(fix && { fix }),
      },
    );
  }
  const d = ruleLinesDiff(text, o.files.persisted);
  if (d.onlyLive.length || d.onlyFile.length) {
    const shown = [
      ...d.onlyFile.slice(0, 3).map((l) => `have ${l}`),
      ...d.onlyLive.slice(0, 3).map((l) => `want ${l}`),
    ];
    const more = d.onlyLive.length + d.onlyFile.length - shown.length;
    return drift<PersistedDetail>(
      IPTABLES_PERSISTED.id,
      `${e.paths.persist} differs from the live rules: a reboot or 'systemctl restart iptables' would load other rules (${shown.join('; ')}${more > 0 ? `; ${more} more` : ''})${held}`,
      { detail: { state: 'differs', ...d, blockedBy: wrongLive }, ...(fix && { fix }), evidence: shown },
    );
  }
  return ok<PersistedDetail>(IPTABLES_PERSISTED.id, `${e.paths.persist} equals the live rules`, {
    state: 'equal',
    onlyLive: [],
    onlyFile: [],
    blockedBy: wrongLive,
  });
}

// the live rules' mends are stage 2; the persisted file's (only offered once they are right) last
export const iptablesChecks: CheckArea = { name: 'iptables', ids: IDS, fixStage: 2, run };
