// Waits for an fd to become readable (POLLIN) or writable (POLLOUT) on the event loop,
// never blocking it. One FdWatcher per fd (epoll takes one registration per fd and
// loop), shared by every waiter.
import { native, type NativeFdWatcher } from '../platform/binding';
import { DmaBufError, codes, closedError, isErrno, type ClosedKind } from '../platform/errors';
import { waitFor, type Settle } from '../platform/wait';

export const READABLE = 1;
export const WRITABLE = 2;

interface Waiter {
  events: number;
  settle: Settle<void>;
}

export class Readiness {
  readonly #fd: number;
  #watcher: NativeFdWatcher | null = null;
  /** The fd cannot be polled through epoll (memfd, regular file): it is always ready. */
  #unpollable = false;
  readonly #waiters = new Set<Waiter>();

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Whether the fd is ready for these events now. */
  ready(events: number): boolean {
    const b = native();
    const want = (events & READABLE ? b.constants.POLLIN : 0) | (events & WRITABLE ? b.constants.POLLOUT : 0);
    return (b.poll(this.#fd, want, 0) & want) === want;
  }

  /** Resolves when the fd is ready for `events`; rejects with ERR_DMABUF_TIMEOUT after timeoutMs (< 0: never). */
  wait(events: number, timeoutMs: number, what: string): Promise<void> {
    if (this.#unpollable || this.ready(events)) return Promise.resolve();
    return waitFor<void>(
      (settle) => {
        const w: Waiter = { events, settle };
        this.#waiters.add(w);
        try {
          this.#arm();
        } catch (err) {
          this.#settle(w, err as Error);
        }
        // A timed-out waiter leaves: watch only for what the others still want.
        return () => {
          if (this.#waiters.delete(w)) this.#arm();
        };
      },
      timeoutMs < 0 ? undefined : timeoutMs,
      () => `${what}: not ready within ${timeoutMs} ms`,
    );
  }

  /** Stops watching; pending waits reject with ERR_DMABUF_CLOSED naming the closed object and the waiting operation. */
  close(kind: ClosedKind, op: string): void {
    this.#drop();
    for (const w of [...this.#waiters]) this.#settle(w, closedError(kind, op));
  }

  /** The fd now names another file (migration): watch that one instead. */
  reset(): void {
    this.#drop();
    this.#arm();
  }

  #drop(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }

  #settle(w: Waiter, err?: Error): void {
    this.#waiters.delete(w);
    if (err) w.settle.reject(err);
    else w.settle.resolve();
  }

  #arm(): void {
    let events = 0;
    for (const w of this.#waiters) events |= w.events;
    if (events === 0) {
      this.#watcher?.stop();
      return;
    }
    if (this.#watcher === null) {
      try {
        this.#watcher = new (native().FdWatcher)(this.#fd, (status, ev) => this.#onPoll(status, ev));
      } catch (err) {
        if (!isErrno(err, 'EPERM')) throw err;
        this.#unpollable = true;
        for (const w of [...this.#waiters]) this.#settle(w);
        return;
      }
    }
    this.#watcher.start(events);
  }

  #onPoll(status: number, events: number): void {
    if (status < 0) {
      const err = new DmaBufError(codes.NOT_SUPPORTED, `poll on fd ${this.#fd} failed with errno ${status}`);
      for (const w of [...this.#waiters]) this.#settle(w, err);
    } else {
      for (const w of [...this.#waiters]) if ((w.events & events) === w.events) this.#settle(w);
    }
    this.#arm();
  }
}
