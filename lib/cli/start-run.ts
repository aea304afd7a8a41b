// start's apply and wait as the operator sees them: each action printed as it happens, the
// wait (a blocking `supervisorctl start/restart` waits startsecs too) as one progress line with
// the true elapsed time and `x of N s` on a terminal, one line per change of state on a pipe.
// A supervisorctl that refuses to start the program is the start of the story, not all of it:
// its line is kept, and the wait stops as soon as the state will not come up by itself.

import { CommandError } from '../core/errors.ts';
import { describeAction, type Action } from '../core/plan.ts';
import { applyPlan, PartlyAppliedError } from '../host/apply.ts';
import type { Host } from '../host/host.ts';
import { readNetworkState, type StoreTarget } from '../host/network-store.ts';
import type { SubnetEnv } from '../model/subnet-env.ts';
import { waitUntilUp, type StartInput, type WaitProgress } from '../steps/start.ts';
import { note, printErr, stderrIsTty } from './output.ts';

export interface StartRun {
  /** the actions applied, described */
  readonly done: readonly string[];
  /** what supervisorctl said when it refused to start the program */
  readonly ctlFailed?: string;
  /** the wait's outcome; absent when there was no wait (--no-wait, systemd) */
  readonly wait?: Awaited<ReturnType<typeof waitUntilUp>>;
}

const isSupervisorctl = (a: Action) => a.kind === 'run' && a.cmd.argv[0] === 'supervisorctl';

/** Apply start's plan, then (unless `noWait`) wait until flanneld is up or `timeoutS` pass. */
export async function applyAndWait(o: {
  readonly host: Host;
  readonly actions: readonly Action[];
  readonly input: StartInput;
  readonly expectedEnv: SubnetEnv;
  readonly store: StoreTarget;
  readonly timeoutS: number;
  readonly noWait: boolean;
  readonly quiet: boolean;
}): Promise<StartRun> {
  const since = Date.now();
  const tty = stderrIsTty() && !o.quiet;
  const program = o.input.program;
  let ctlFailed: string | undefined;
  let done: string[] = [];
  const applying = applyPlan(o.actions, o.host, (a) => {
    if (!o.quiet) note(`start: ${describeAction(a)}`);
  }).then(
    (d) => {
      done = d;
    },
    (e: unknown) => {
      const cmd = e instanceof PartlyAppliedError ? e.cause : e;
      if (!(cmd instanceof CommandError) || cmd.argv[0] !== 'supervisorctl') throw e;
      done = e instanceof PartlyAppliedError ? [...e.done] : [];
      ctlFailed = `${cmd.argv.slice(-2).join(' ')} exited ${cmd.status}: ${cmd.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    },
  );
  const elapsed = () => `[${Math.round((Date.now() - since) / 1000)} of ${o.timeoutS} s]`;
  const ticking =
    tty && o.actions.some(isSupervisorctl)
      ? tick(applying, () =>
          printErr(`\rstart: supervisorctl is starting ${program} (it waits startsecs) ${elapsed()}\x1b[K`),
        )
      : undefined;
  await applying;
  await ticking;
  if (o.noWait || o.input.manager === 'systemd') return { done, ...(ctlFailed && { ctlFailed }) };

  let last = '';
  const progress = ({ seconds, timeoutSeconds, state }: WaitProgress) => {
    const line = `start: waiting for ${program}: supervisor ${state.supervisor}; lease ${state.lease}; subnet.env ${state.subnetEnv}`;
    if (tty) printErr(`\r${line} [${Math.round(seconds)} of ${timeoutSeconds} s]\x1b[K`);
    else if (line !== last && !o.quiet) note(line);
    last = line;
  };
  const wait = await waitUntilUp({
    host: o.host,
    input: o.input,
    expectedEnv: o.expectedEnv,
    readLeases: async () => (await readNetworkState(o.store)).leases,
    timeoutSeconds: o.timeoutS,
    onProgress: progress,
    since,
    stopWhenFailed: ctlFailed !== undefined,
  });
  if (tty) printErr('\n');
  return { done, wait, ...(ctlFailed && { ctlFailed }) };
}

/** Call `f` every second until `until` settles. */
async function tick(until: Promise<unknown>, f: () => void): Promise<void> {
  let settled = false;
  void until.finally(() => {
    settled = true;
  });
  while (!settled) {
    await new Promise((r) => setTimeout(r, 1000));
    if (!settled) f();
  }
}
