// Go's context as the stand-in's loops use it: a Context is an AbortSignal, a cancelled call
// fails with `context canceled` (errCanceled), and sleep() is a select over time.After and
// ctx.Done().
import { GoError } from './go-errors.ts';

/** context.Context: what the loops watch for cancellation. */
export interface Context {
  readonly signal: AbortSignal;
}

/** context.Canceled: what a call fails with once its context is cancelled. */
export const errCanceled = new GoError('context canceled');
export const isCanceled = (e: unknown): boolean => e === errCanceled;

/** Resolves true after ms, or false as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    let t: NodeJS.Timeout | undefined;
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const arm = (left: number): void => {
      t = setTimeout(
        () => {
          if (left > 2147483647) return arm(left - 2147483647);
          if (signal) signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
        Math.max(0, Math.min(left, 2147483647)),
      );
    };
    arm(ms);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}
