// The safety net under close(): frees what an owner held when the owner is collected
// without being closed, or when a worker thread ends (fds are process-wide, and a
// worker's end runs no finalizers). close() stays the lifetime mechanism.
import { isMainThread } from 'node:worker_threads';

export class SafetyNet<T> {
  readonly #free: (held: T) => void;
  readonly #live = new Set<T>();
  readonly #registry: FinalizationRegistry<T>;

  /** `free` releases what an owner held; its errors are swallowed (there is no one to report them to). */
  constructor(free: (held: T) => void) {
    this.#free = free;
    this.#registry = new FinalizationRegistry((held) => this.#release(held));
    if (!isMainThread) process.once('exit', () => this.closeAll());
  }

  /** Frees `held` if `owner` is collected while registered, or at this worker's end. */
  register(owner: object, held: T): void {
    this.#live.add(held);
    this.#registry.register(owner, held, owner);
  }

  /** The owner frees `held` itself (close()): the net lets go of it. */
  unregister(owner: object, held: T): void {
    this.#registry.unregister(owner);
    this.#live.delete(held);
  }

  /** Frees everything still registered. */
  closeAll(): void {
    for (const held of [...this.#live]) this.#release(held);
  }

  #release(held: T): void {
    this.#live.delete(held);
    try {
      this.#free(held);
    } catch {
      // a safety net only; close() is the lifetime mechanism
    }
  }
}
