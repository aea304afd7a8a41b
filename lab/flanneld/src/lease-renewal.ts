// main.MonitorLease (v0.11.0; v0.20.2's LocalManager.CompleteLease): the lease renewed
// renew-margin before it expires ("Waiting for 22h59m59.99...s to renew lease", "Lease renewed,
// new expiration: ..."), and the daemon stopped when its lease is deleted ("Lease has been
// revoked. Shutting down daemon.").
import { log } from './glog.ts';
import { type Context, sleep } from './go-context.ts';
import { goDuration, goTimeUTC, goTimeWithMono, nowNs } from './go-time.ts';
import { watchLease } from './lease-watch.ts';
import type { LocalManager } from './subnet-manager.ts';
import type { Lease, LeaseEvent } from './subnet-lease.ts';
import { T, V020 } from './version.ts';

/** How monitoring ended: the context was cancelled, or the lease was revoked. */
export type MonitorResult = 'canceled' | 'interrupted';

/** main.MonitorLease: renews the lease renew-margin before expiry; exits on revocation. */
export async function monitorLease(
  ctx: Context,
  sm: LocalManager,
  bn: { readonly lease: Lease },
  renewMarginMin: number,
): Promise<MonitorResult> {
  const margin = BigInt(renewMarginMin) * 60n * 1000000000n;
  const MIN_DURATION = -(1n << 63n);
  // Go: Expiration.Sub(now) saturates (a zero expiration gives the minimum duration); then
  // "- renewMargin" wraps around int64, so a lease without TTL is "renewed" in 292 years.
  const until = (exp: bigint): bigint => BigInt.asIntN(64, (exp === 0n ? MIN_DURATION : exp - nowNs()) - margin);

  const events: LeaseEvent[] = [];
  let wake = (): void => {};
  const watchDone = watchLease(ctx, sm, bn.lease.subnet, (e) => {
    events.push(e);
    wake();
  });
  const done = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });

  let dur = until(bn.lease.expiration);
  for (;;) {
    // like Go's select over time.After(dur), the lease events and ctx.Done()
    const timer = new AbortController();
    const evt = new Promise<void>((resolve) => {
      wake = resolve;
      if (events.length > 0) resolve();
    });
    const ms = dur <= 0n ? 0 : Number(dur / 1000000n);
    const which = await Promise.race([
      sleep(ms, timer.signal).then((fired) => (fired ? 'renew' : 'never')),
      evt.then(() => 'event'),
      done.then(() => 'done'),
    ]);
    timer.abort();
    wake = () => {};
    if (which === 'done' || ctx.signal.aborted) {
      if (!V020) log.info('main.go:437', 'Stopped monitoring lease');
      await watchDone;
      return 'canceled';
    }
    if (which === 'renew') {
      try {
        await sm.renewLease(bn.lease, ctx.signal);
      } catch (e) {
        if (ctx.signal.aborted) continue;
        log.error(
          T('main.go:416', 'local_manager.go:386'),
          `Error renewing lease (trying again in 1 min): ${(e as Error).message}`,
        );
        dur = 60n * 1000000000n;
        continue;
      }
      if (V020)
        log.info('local_manager.go:391', `Lease renewed, new expiration: ${goTimeWithMono(bn.lease.expiration)}`);
      else log.info('main.go:421', `Lease renewed, new expiration: ${goTimeUTC(bn.lease.expiration)}`);
      dur = until(bn.lease.expiration);
      continue;
    }
    const e = events.shift()!;
    if (e.type === 'added') {
      bn.lease.expiration = e.lease.expiration;
      dur = until(bn.lease.expiration);
      log.info(T('main.go:429', 'local_manager.go:403'), `Waiting for ${goDuration(dur)} to renew lease`);
    } else {
      log.error(T('main.go:432', 'local_manager.go:406'), 'Lease has been revoked. Shutting down daemon.');
      return 'interrupted';
    }
  }
}
