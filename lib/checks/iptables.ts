// iptables: the runbook's SNAT rule exactly once, Docker's blanket MASQUERADE rule gone, pod
// traffic forwarded, the REJECT catch-alls as the policy says, and the persisted rules file
// equal to the live rules. All mends of the live rules are ONE iptables-restore --noflush; the
// persisted file is written only from live rules that these checks found right.

import { capture, run as runAction, type Action } from '../core/plan.ts';
import {
  comparableSave,
  countRule,
  countSnatRules,
  flannelForwardRules,
  formatRule,
  forwardAllowed,
  planSnatFix,
  rejectRules,
  type Rule,
} from '../model/iptables.ts';
import type { CheckContext } from './context.ts';
import { cannot, checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface CountDetail {
  readonly rule: string;
  readonly count: number;
}
export interface ForwardDetail {
  readonly allowed: boolean;
  readonly policy?: string;
  /** flannel's ACCEPT rules that are not there */
  readonly missing: readonly string[];
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
const IDS = [IPTABLES_SNAT.id, IPTABLES_DOCKER_MASQ.id, IPTABLES_FORWARD.id, IPTABLES_REJECT.id, IPTABLES_PERSISTED.id];

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
  const allowed = forwardAllowed(rs, e.network);
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
            `REJECT catch-alls present: ${rejects.map(formatRule).join('; ')} (policy: dropped; snat-fix --drop-reject removes them)`,
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

  out.push(persisted(ctx, out));
  return out;
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
