// flanneld itself: the supervisord program is RUNNING, flanneld.sh passes the flags start
// would write, healthz answers (which proves only that the process runs: it answers before
// flanneld has a config or a lease, docs/flannel-facts.md, healthz).

import { run as runAction } from '../core/plan.ts';
import { compareFlanneldFlags, flanneldFlags, parseFlanneldSh, type FlagDifference } from '../model/flanneld-files.ts';
import { supervisorctlArgv, type ProcessState } from '../model/supervisor.ts';
import type { CheckContext } from './context.ts';
import { checkKey, drift, ok, type Check, type CheckArea } from './types.ts';

export interface RunningDetail {
  /** undefined: supervisord does not know the program */
  readonly state?: ProcessState;
  readonly detail?: string;
}
export interface FlagsDetail {
  readonly state: 'missing' | 'unreadable' | 'differs' | 'ok';
  readonly differences: readonly FlagDifference[];
  /** the launcher runs flanneld without exec (the runbook's own flanneld.sh) */
  readonly noExec?: boolean;
}
export interface HealthzDetail {
  readonly status?: number;
  readonly error?: string;
}

export const FLANNELD_RUNNING = checkKey<RunningDetail>('flanneld.running');
export const FLANNELD_FLAGS = checkKey<FlagsDetail>('flanneld.flags');
export const FLANNELD_HEALTHZ = checkKey<HealthzDetail>('flanneld.healthz');

/** States supervisorctl start gets out of. */
const STARTABLE: readonly ProcessState[] = ['STOPPED', 'EXITED', 'FATAL', 'BACKOFF'];

function run(ctx: CheckContext): Check[] {
  const e = ctx.expect;
  const o = ctx.obs;
  const out: Check[] = [];
  if (!o.supervisor.ok)
    out.push({
      id: FLANNELD_RUNNING.id,
      status: 'error',
      reason: o.supervisor.error,
      blockedBy: { kind: 'observation', what: 'supervisord', error: o.supervisor.error },
    });
  else if (!o.supervisor.value)
    out.push(
      drift<RunningDetail>(FLANNELD_RUNNING.id, `supervisord does not know ${e.program} (start was never run?)`, {
        detail: {},
      }),
    );
  else {
    const st = o.supervisor.value;
    const fix = STARTABLE.includes(st.state)
      ? [
          runAction({
            argv: supervisorctlArgv(e.paths.supervisorConf, 'start', e.program),
            why: `${e.program} is ${st.state}: start it through supervisord`,
          }),
        ]
      : undefined;
    const detail = { state: st.state, detail: st.detail };
    out.push(
      st.state === 'RUNNING'
        ? ok<RunningDetail>(FLANNELD_RUNNING.id, `${e.program} RUNNING (${st.detail})`, detail)
        : drift<RunningDetail>(
            FLANNELD_RUNNING.id,
            `${e.program} is ${st.state}${st.detail ? ` (${st.detail})` : ''}`,
            {
              detail,
              ...(fix && { fix }),
            },
          ),
    );
  }

  if (o.files.flanneldSh === undefined)
    out.push(
      drift<FlagsDetail>(FLANNELD_FLAGS.id, 'flanneld.sh is missing', {
        detail: { state: 'missing', differences: [] },
      }),
    );
  else {
    try {
      const launcher = parseFlanneldSh(o.files.flanneldSh);
      const differences = compareFlanneldFlags(flanneldFlags(e.flanneld), launcher.flags);
      // the same judgement as start's: a launcher start would rewrite is drift here
      const noExec = e.flanneld.exec === true && !launcher.exec;
      const lines = [
        ...differences.map((d) => `--${d.name}: have ${d.actual ?? '(absent)'}, want ${d.expected ?? '(absent)'}`),
        ...(noExec
          ? [
              `runs ${launcher.command} without exec: supervisord's stop signal reaches /bin/sh, not flanneld, which is left running`,
            ]
          : []),
      ];
      out.push(
        lines.length
          ? drift<FlagsDetail>(FLANNELD_FLAGS.id, `flanneld.sh differs: ${lines.join('; ')}`, {
              detail: { state: 'differs', differences, noExec },
            })
          : ok<FlagsDetail>(FLANNELD_FLAGS.id, 'flanneld.sh passes the expected flags', {
              state: 'ok',
              differences: [],
            }),
      );
    } catch (err) {
      out.push(
        drift<FlagsDetail>(FLANNELD_FLAGS.id, (err as Error).message, {
          detail: { state: 'unreadable', differences: [] },
        }),
      );
    }
  }

  if (!o.healthz.ok)
    out.push(drift<HealthzDetail>(FLANNELD_HEALTHZ.id, o.healthz.error, { detail: { error: o.healthz.error } }));
  else
    out.push(
      o.healthz.value.status === 200
        ? ok<HealthzDetail>(
            FLANNELD_HEALTHZ.id,
            `healthz 200 "${o.healthz.value.body}" (proves only that the process runs)`,
            { status: 200 },
          )
        : drift<HealthzDetail>(FLANNELD_HEALTHZ.id, `healthz answered ${o.healthz.value.status}`, {
            detail: { status: o.healthz.value.status },
          }),
    );
  return out;
}

export const flanneldChecks: CheckArea = {
  name: 'flanneld',
  ids: [FLANNELD_RUNNING.id, FLANNELD_FLAGS.id, FLANNELD_HEALTHZ.id],
  fixStage: 3,
  run,
};
