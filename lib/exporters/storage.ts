// Storage shared by the built-in exporters: deferred allocation from every attachment's
// constraints, scatter-gather tables, and migration with contents preserved.
import { evenLayout, incompatibility, planLayout, sgTable, type Layout, type Segment } from '../core/layout';
import type { AttachmentInfo, DmaBufOps } from '../core/ops';
import type { DmaDirection } from '../platform/validate';

export interface StorageOptions {
  /** Preferred number of storage chunks (udmabuf: memfds in UDMABUF_CREATE_LIST). Default 1. */
  segments?: number;
  /** Choose storage at the first map (or first use), from every attachment's constraints. */
  deferred?: boolean;
}

/** The default of storage(): one shared empty list, so a call allocates nothing (brackets call it). */
const NONE: readonly AttachmentInfo[] = Object.freeze([]);

export abstract class StorageOps<S> implements DmaBufOps {
  abstract readonly exporter: string;
  readonly size: number;
  #storage: S | null = null;
  #layout: Layout | null = null;
  readonly #preferred: Layout;
  readonly #migratable: boolean;

  constructor(size: number, preferred: Layout, migratable: boolean) {
    this.size = size;
    this.#preferred = preferred;
    this.#migratable = migratable;
  }

  /** Allocates storage with this layout. */
  protected abstract allocate(layout: Layout): S;
  /** Copies every byte of `from` into `to`. */
  protected abstract copy(from: S, to: S): void;
  /** Frees storage (and invalidates every view of it). */
  protected abstract free(s: S): void;
  /** Puts `next` in the place of `old` and frees `old`; returns what is current now. */
  protected replace(old: S, next: S): S {
    this.free(old);
    return next;
  }
  /** Throws when the storage may not move now (e.g. another process holds it). */
  protected assertMovable(_s: S): void {}

  /** Adopts storage made elsewhere (import), with a single-chunk layout. */
  protected adopt(s: S): void {
    this.#storage = s;
    this.#layout = [{ offset: 0, length: this.size }];
  }

  /** The storage, allocated now if deferred. */
  protected storage(all: readonly AttachmentInfo[] = NONE): S {
    if (this.#storage === null) {
      const layout = this.#plan(all);
      this.#storage = this.allocate(layout);
      this.#layout = layout;
    }
    return this.#storage;
  }

  protected get allocated(): boolean {
    return this.#storage !== null;
  }

  layout(): readonly Segment[] | null {
    return this.#layout;
  }

  attach(att: AttachmentInfo, all: readonly AttachmentInfo[]): void | 'migrate' {
    if (this.#layout === null) {
      this.#plan(all); // throws now if no layout can ever suit
      return;
    }
    const err = incompatibility(this.#layout, att.device);
    if (!err) return;
    if (!this.#migratable) throw err;
    this.#plan(all);
    return 'migrate';
  }

  map(att: AttachmentInfo, _dir: DmaDirection, all: readonly AttachmentInfo[]): Segment[] {
    this.storage(all);
    return sgTable(this.#layout!, att.device);
  }

  unmap(): void {}

  migrate(all: readonly AttachmentInfo[]): void {
    const old = this.storage(all);
    const layout = this.#plan(all);
    this.assertMovable(old);
    const next = this.allocate(layout);
    try {
      this.copy(old, next);
    } catch (err) {
      this.free(next);
      throw err;
    }
    this.#storage = this.replace(old, next);
    this.#layout = layout;
  }

  release(): void {
    const s = this.#storage;
    this.#storage = null;
    if (s !== null) this.free(s);
  }

  /** The layout for every attachment's device; throws when none suits them all. */
  #plan(all: readonly AttachmentInfo[]): Layout {
    return planLayout(
      this.size,
      this.#preferred,
      all.map((a) => a.device),
    );
  }
}

export function preferredLayout(size: number, segments: number | undefined): Layout {
  return evenLayout(size, segments ?? 1);
}
