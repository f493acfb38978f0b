// Owning fds on the way in: an fd this code just made, took or dup'ed is closed again if
// what was to own it fails, so no failure leaks one. The caller's own fd is never closed.
import { native } from './binding';

/** Closes each fd, ignoring errors: a cleanup path, where the error being reported matters more. */
export function closeQuietly(fds: Iterable<number>): void {
  const b = native();
  for (const fd of fds) {
    try {
      b.close(fd);
    } catch {
      // already gone; nothing else to do with it
    }
  }
}

/** Runs `use()`; if it throws, closes `fds` (ours: just made or taken over) and rethrows. */
export function closeOnThrow<R>(fds: number | readonly number[], use: () => R): R {
  try {
    return use();
  } catch (err) {
    closeQuietly(typeof fds === 'number' ? [fds] : fds);
    throw err;
  }
}

/**
 * Runs `use(own)` on a dup of `fd`, or on `fd` itself when `take` (ownership passes to
 * whatever `use` builds). If it throws, a dup is closed and `fd` stays the caller's.
 */
export function withDup<R>(fd: number, take: boolean, use: (own: number) => R): R {
  if (take) return use(fd);
  const own = native().dup(fd);
  return closeOnThrow(own, () => use(own));
}
