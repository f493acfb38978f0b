// Waiting for an event with a time limit: one promise, one timer, one registration,
// each cleaned up once, whichever way the wait ends.
import { DmaBufError, codes } from './errors';

/** The longest delay setTimeout honours (2^31-1 ms, about 24.8 days); longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 0x7fffffff;

/** How an event source ends a wait. Only the first call counts. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

/**
 * A promise settled by an event, or rejected with ERR_DMABUF_TIMEOUT (`message()` says
 * what ran out) after `timeout` ms.
 *
 * `register` hands `settle` to the event source and returns how to take it back. Once
 * the promise settles, whichever way, the timer is cleared and that unregister runs
 * (also when `register` itself settled the wait), so it must tolerate a waiter the
 * source already dropped.
 *
 * `timeout`: undefined or Infinity waits without limit; 0 or less times out on the next
 * turn of the timer queue. Limits beyond setTimeout's 2^31-1 ms are honoured by chaining
 * timers, so they never fire early.
 */
export function waitFor<T>(register: (settle: Settle<T>) => () => void, timeout: number | undefined, message: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let unregister: (() => void) | null = null; // null while register runs
    let done = false;
    const end = (settleNow: () => void): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      try {
        unregister?.();
      } finally {
        settleNow();
      }
    };
    const settle: Settle<T> = {
      resolve: (value) => end(() => resolve(value)),
      reject: (err) => end(() => reject(err)),
    };
    unregister = register(settle);
    if (done) {
      unregister();
      return;
    }
    if (timeout === undefined || timeout === Infinity) return;
    let left = Math.max(0, timeout);
    const arm = (): void => {
      const step = Math.min(left, MAX_TIMER_MS);
      timer = setTimeout(() => {
        left -= step;
        if (left > 0) arm();
        else settle.reject(new DmaBufError(codes.TIMEOUT, message()));
      }, step);
    };
    arm();
  });
}
