// The memory exporter: pure TypeScript, an ArrayBuffer (or SharedArrayBuffer) per
// buffer, the same state machine and errors as the kernel exporters. Runs anywhere.
import { checkName, checkSyncFlags } from '../core/kernel-rules';
import type { DmaBufInfo } from '../platform/fdinfo';
import type { Layout } from '../core/layout';
import { PAGE_SIZE } from '../platform/uapi';
import { preferredLayout, StorageOps, type StorageOptions } from './storage';

export interface MemoryOptions extends StorageOptions {
  /** Back with a SharedArrayBuffer (shareable with workers; its views cannot be detached). */
  shared?: boolean;
}

type Backing = ArrayBuffer | SharedArrayBuffer;

let nextInode = 1;

/** Detaches an ArrayBuffer so every view over it reads byteLength 0. */
function detach(ab: Backing): void {
  if (ab instanceof ArrayBuffer && ab.byteLength > 0) structuredClone(ab, { transfer: [ab] });
}

export class MemoryOps extends StorageOps<Backing> {
  readonly exporter = 'memory';
  readonly #shared: boolean;
  readonly #ino = nextInode++;
  #name = '';
  #view: Uint8Array | null = null;

  /** A new buffer, or (with `adopt`) one over a SharedArrayBuffer another thread shares.
   *  Shared storage never migrates: a worker holding the SharedArrayBuffer would keep the old one. */
  constructor(size: number, opts: MemoryOptions, adopt?: SharedArrayBuffer) {
    super(size, preferredLayout(size, opts.segments), adopt === undefined && !opts.shared);
    this.#shared = adopt !== undefined || (opts.shared ?? false);
    if (adopt !== undefined) this.adopt(adopt);
    else if (!opts.deferred) this.storage();
  }

  protected allocate(_layout: Layout): Backing {
    return this.#shared ? new SharedArrayBuffer(this.size) : new ArrayBuffer(this.size);
  }

  protected copy(from: Backing, to: Backing): void {
    new Uint8Array(to).set(new Uint8Array(from));
  }

  protected free(s: Backing): void {
    this.#view = null;
    detach(s);
  }

  mmap(): Uint8Array {
    if (this.#view === null) this.#view = new Uint8Array(this.storage());
    return this.#view;
  }

  read(offset: number, target: Uint8Array): void {
    target.set(new Uint8Array(this.storage(), offset, target.length));
  }

  write(offset: number, source: Uint8Array): void {
    new Uint8Array(this.storage(), offset, source.length).set(source);
  }

  /**
   * A view of the page in the buffer itself, as the kernel's kmap is a mapping of the page:
   * what it writes is in mmap() views and read() at once, and the other way round. JS can
   * only detach a whole ArrayBuffer, so kunmap cannot detach this view; release does, with
   * the storage (never, for shared storage).
   */
  kmap(page: number): Uint8Array {
    return new Uint8Array(this.storage(), page * PAGE_SIZE, PAGE_SIZE);
  }

  kmapAtomic(page: number): Uint8Array {
    return this.kmap(page);
  }

  kunmap(): void {}

  beginCpuAccess(): void {
    this.storage();
  }

  endCpuAccess(): void {}

  async waitFences(): Promise<void> {}

  // sync, setName, info and inode allocate deferred storage first, as the fd exporters must
  // (they need the fd), even when the kernel then refuses the flags or the name.
  sync(flags: number): void {
    this.storage();
    checkSyncFlags(flags);
  }

  setName(name: string): void {
    this.storage();
    checkName(name);
    this.#name = name;
  }

  name(): string {
    return this.#name;
  }

  info(): DmaBufInfo {
    this.storage();
    return { size: this.size, count: 1, expName: 'memory', name: this.#name, ino: this.#ino, flags: 2, raw: {} };
  }

  inode(): number {
    this.storage();
    return this.#ino;
  }
}
