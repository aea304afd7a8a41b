// subnet/watch.go: the watch of all leases (the backends' routes) and of the node's own lease
// (its renewal and revocation), snapshots and events turned into added / removed batches, the
// node's own lease left out. Errors: "Watch subnets: ..." / "Subnet watch failed: ..." every second.
import { log } from './glog.ts';
import { type Context, isCanceled, sleep } from './go-context.ts';
import type { IP4Net } from './ip4.ts';
import type { LocalManager, WatchResult } from './subnet-manager.ts';
import type { Lease, LeaseEvent } from './subnet-lease.ts';
import { V020 } from './version.ts';

/** subnet/watch.go leaseWatcher: turns snapshots and events into added/removed batches. */
class LeaseWatcher {
  private leases: Lease[] = [];
  constructor(private readonly ownLease: Lease | null) {}
  private isOwn(sn: IP4Net): boolean {
    return this.ownLease !== null && sn.equal(this.ownLease.subnet);
  }
  reset(leases: Lease[]): LeaseEvent[] {
    const batch: LeaseEvent[] = [];
    for (const nl of leases) {
      if (this.isOwn(nl.subnet)) continue;
      const i = this.leases.findIndex((ol) => ol.subnet.equal(nl.subnet));
      if (i >= 0) {
        this.leases[i] = this.leases[this.leases.length - 1]!;
        this.leases.pop();
      } else {
        batch.push({ type: 'added', lease: nl });
      }
    }
    for (const l of this.leases) {
      if (this.isOwn(l.subnet)) continue;
      batch.push({ type: 'removed', lease: l });
    }
    this.leases = [...leases];
    return batch;
  }
  update(events: LeaseEvent[]): LeaseEvent[] {
    const batch: LeaseEvent[] = [];
    for (const e of events) {
      if (this.isOwn(e.lease.subnet)) continue;
      if (e.type === 'added') {
        const i = this.leases.findIndex((l) => l.subnet.equal(e.lease.subnet));
        if (i >= 0) this.leases[i] = e.lease;
        else this.leases.push(e.lease);
        batch.push({ type: 'added', lease: e.lease });
      } else {
        const i = this.leases.findIndex((l) => l.subnet.equal(e.lease.subnet));
        if (i >= 0) {
          const old = this.leases[i]!;
          this.leases[i] = this.leases[this.leases.length - 1]!;
          this.leases.pop();
          batch.push({ type: 'removed', lease: old });
        } else {
          if (V020)
            log.error('watch.go:224', `Removed subnet (${e.lease.subnet}) and ipv6 subnet (::/0) were not found`);
          else log.error('watch.go:148', `Removed subnet (${e.lease.subnet}) was not found`);
          batch.push({ type: 'removed', lease: e.lease });
        }
      }
    }
    return batch;
  }
}

/** subnet.WatchLeases: long-term watch of all leases; batches go to onBatch in order. */
export async function watchLeases(
  ctx: Context,
  sm: LocalManager,
  ownLease: Lease,
  onBatch: (batch: LeaseEvent[]) => Promise<void>,
): Promise<void> {
  const lw = new LeaseWatcher(ownLease);
  let cursor: number | null = null;
  while (!ctx.signal.aborted) {
    let res: WatchResult;
    try {
      res = await sm.watchLeases(cursor, ctx.signal);
    } catch (e) {
      if (isCanceled(e) || ctx.signal.aborted) return;
      log.error('watch.go:43', `Watch subnets: ${(e as Error).message}`);
      await sleep(1000, ctx.signal);
      continue;
    }
    cursor = res.cursor;
    const batch = res.events.length > 0 ? lw.update(res.events) : lw.reset(res.snapshot);
    if (batch.length > 0) await onBatch(batch);
  }
}

/** subnet.WatchLease: the node's own lease; the snapshot counts as an "added" event. */
export async function watchLease(
  ctx: Context,
  sm: LocalManager,
  sn: IP4Net,
  onEvent: (e: LeaseEvent) => void,
): Promise<void> {
  let cursor: number | null = null;
  while (!ctx.signal.aborted) {
    let wr: WatchResult;
    try {
      wr = await sm.watchLease(sn, cursor, ctx.signal);
    } catch (e) {
      if (isCanceled(e) || ctx.signal.aborted) return;
      log.error('watch.go:171', `Subnet watch failed: ${(e as Error).message}`);
      await sleep(1000, ctx.signal);
      continue;
    }
    onEvent(wr.snapshot.length > 0 ? { type: 'added', lease: wr.snapshot[0]! } : wr.events[0]!);
    cursor = wr.cursor;
  }
}
