// DmaBuf: the object model. One state machine for every exporter: references,
// attachments and their mappings, CPU-access brackets, kmaps, release exactly once.
import { DmaBufError, codes, closedError, systemError, argType, argValue, argValueMessage } from '../platform/errors';
import { validateDevice, type Device, type Segment } from './layout';
import type { AttachmentInfo, DmaBufOps } from './ops';
import type { DmaBufInfo } from '../platform/fdinfo';
import { SyncFile } from '../fences/sync-file';
import { waitFor, type Settle } from '../platform/wait';
// Types only: lib/exporters/allocate.ts and from-fd.ts install the factories below, so core loads no exporter.
import type { AllocateOptions } from '../exporters/registry';
import type { FromFdOptions } from '../exporters/from-fd';
import { SafetyNet } from '../platform/safety-net';
import * as v from '../platform/validate';
import type { CpuAccess, DmaDirection } from '../platform/validate';

/** allocate() and fromFd(), each installed by its module (lib/exporters/allocate.ts, from-fd.ts) when it loads. */
export interface Factories {
  allocate(size: number, options?: AllocateOptions): DmaBuf;
  fromFd(fd: number, options?: FromFdOptions): DmaBuf;
}
const installed: Partial<Factories> = {};

/** @internal Called once by each of lib/exporters/allocate.ts and from-fd.ts. */
export function installFactories(f: Partial<Factories>): void {
  Object.assign(installed, f);
}

function factory<K extends keyof Factories>(name: K): Factories[K] {
  // The package entry loads both; core itself never loads an exporter.
  const f = installed[name];
  if (!f) throw new DmaBufError(codes.UNAVAILABLE, `DmaBuf.${name}: no exporter registry is loaded; import the package entry`);
  return f;
}

const kOps = Symbol('ops');
const kAttachments = Symbol('attachments');
const kDetach = Symbol('detach');
const kIdle = Symbol('idle');
const kTables = Symbol('tables');
const kInCpuAccess = Symbol('inCpuAccess');

/**
 * @internal Whether `buf` has a CPU-access bracket open that covers writing ('write',
 * 'readwrite') or reading ('read', 'readwrite'); no allocation, for copies on a hot path.
 */
export function inCpuAccess(buf: DmaBuf, write: boolean): boolean {
  return buf[kInCpuAccess](write);
}

/** A scatter-gather table returned by Attachment.map(). */
export interface SgTable {
  readonly segments: readonly Segment[];
  readonly direction: DmaDirection;
}

export interface WaitOptions {
  /** Milliseconds to wait before failing with ERR_DMABUF_TIMEOUT (default: no limit). */
  timeout?: number;
}

/** A device attached to a buffer (dma_buf_attach). */
export class Attachment implements AttachmentInfo, Disposable {
  readonly device: Device;
  readonly #buf: DmaBuf;
  readonly #tables = new Set<SgTable>();
  #detached = false;

  /** @internal */
  constructor(buf: DmaBuf, device: Device) {
    this.#buf = buf;
    this.device = device;
  }

  get dmabuf(): DmaBuf {
    return this.#buf;
  }

  get detached(): boolean {
    return this.#detached || this.#buf.closed;
  }

  /** Outstanding mappings of this attachment. */
  get mapped(): number {
    return this.#tables.size;
  }

  /** dma_buf_map_attachment: the scatter-gather table for this device. */
  map(direction: DmaDirection = 'bidirectional'): SgTable {
    const dir = v.dmaDirection(direction);
    if (this.#buf.closed) throw closedError('Attachment', 'map');
    if (this.#detached || !this.#buf.attachments.includes(this))
      throw new DmaBufError(
        codes.NOT_ATTACHED,
        `map: the attachment of '${this.device.name}' is not attached (detached, or never attached)`,
      );
    const segments = this.#buf[kOps].map(this, dir, this.#buf[kAttachments]());
    const table: SgTable = Object.freeze({ segments: Object.freeze(segments.map((s) => Object.freeze({ ...s }))), direction: dir });
    this.#tables.add(table);
    return table;
  }

  /** dma_buf_unmap_attachment. */
  unmap(table: SgTable, direction?: DmaDirection): void {
    if (this.#buf.closed) throw closedError('Attachment', 'unmap');
    if (!this.#tables.has(table)) {
      throw argValueMessage(`unmap: this table is not mapped by the attachment of '${this.device.name}'`);
    }
    if (direction !== undefined && v.dmaDirection(direction) !== table.direction) {
      throw argValueMessage(`unmap: the table was mapped '${table.direction}', not '${direction}'`);
    }
    this.#buf[kOps].unmap(this, table.segments, table.direction);
    this.#tables.delete(table);
    this.#buf[kIdle]();
  }

  /** dma_buf_detach. Refused while this attachment has mappings. */
  detach(): void {
    if (this.#detached) return;
    if (this.#buf.closed) {
      this.#detached = true;
      return;
    }
    if (this.#tables.size > 0) {
      throw new DmaBufError(
        codes.MAPPED,
        `detach: the attachment of '${this.device.name}' still has ${this.#tables.size} mapping(s); unmap them first`,
      );
    }
    this.#buf[kDetach](this);
    this.#detached = true;
  }

  [Symbol.dispose](): void {
    if (!this.#detached && !this.#buf.closed) {
      for (const t of [...this.#tables]) this.unmap(t);
      this.detach();
    }
  }

  /** @internal */
  [kTables](): number {
    return this.#tables.size;
  }
}

/** Ends a CPU-access bracket when disposed (`using access = buf.cpuAccess('write')`). */
export class CpuAccessGuard implements Disposable {
  #buf: DmaBuf | null;
  readonly direction: CpuAccess;
  /** @internal */
  constructor(buf: DmaBuf, direction: CpuAccess) {
    this.#buf = buf;
    this.direction = direction;
  }
  /** Ends the bracket (once). */
  end(): void {
    const buf = this.#buf;
    this.#buf = null;
    if (buf && !buf.closed) buf.endCpuAccess(this.direction);
  }
  [Symbol.dispose](): void {
    this.end();
  }
}

const NO_ATTACHMENTS: readonly Attachment[] = Object.freeze([]);

/** Releases storage a buffer dropped without close(), or left at a worker thread's end (its fds are process-wide). */
const unreleased = new SafetyNet<DmaBufOps>((ops) => ops.release());

/** A dma-buf: fixed size, an exporter, references, attachments, CPU access. */
export class DmaBuf implements Disposable {
  readonly [kOps]: DmaBufOps;
  #refs = 1;
  #closed = false;
  readonly #attachments = new Set<Attachment>();
  readonly #cpu: Record<CpuAccess, number> = { read: 0, write: 0, readwrite: 0 };
  readonly #kmaps = new Map<number, Uint8Array[]>();
  #idleWaiters: Array<Settle<void>> = [];

  /**
   * dma_buf_export: wraps an exporter's operations in a buffer. Built-in exporters go
   * through allocate() and fromFd(); call this for a custom exporter.
   */
  constructor(ops: DmaBufOps) {
    if (ops === null || typeof ops !== 'object') throw argType('ops', 'an object implementing DmaBufOps', ops);
    for (const req of ['map', 'unmap', 'release'] as const) {
      if (typeof ops[req] !== 'function') throw argType(`ops.${req}`, 'a function', ops[req]);
    }
    if (typeof ops.exporter !== 'string' || ops.exporter === '') throw argType('ops.exporter', 'a non-empty string', ops.exporter);
    v.bufferSize(ops.size, 'ops.size');
    this[kOps] = ops;
    unreleased.register(this, ops);
  }

  /** Allocates a buffer; see allocate(). */
  static allocate(size: number, options?: AllocateOptions): DmaBuf {
    return factory('allocate')(size, options);
  }

  /** dma_buf_get from an fd; see fromFd(). */
  static fromFd(fd: number, options?: FromFdOptions): DmaBuf {
    return factory('fromFd')(fd, options);
  }

  get size(): number {
    return this[kOps].size;
  }

  /** Which exporter made the storage: 'udmabuf', 'dma-heap', 'import', 'memfd', 'memory' or a custom name. */
  get exporter(): string {
    return this[kOps].exporter;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** References held (get/put); 0 once released. */
  get refs(): number {
    return this.#closed ? 0 : this.#refs;
  }

  /** The dma-buf fd, owned by this object (dup it to keep it beyond release). */
  get fd(): number {
    this.#check('fd');
    const ops = this[kOps];
    if (!ops.fd) throw new DmaBufError(codes.NOT_SUPPORTED, `fd: the '${ops.exporter}' exporter has no file descriptor`);
    return ops.fd(this[kAttachments]());
  }

  /** The name set with setName (or at allocation), '' when none. */
  get name(): string {
    this.#check('name');
    return this[kOps].name?.() ?? '';
  }

  /** The inode number of the dma-buf file (unique per buffer). */
  get inode(): number {
    this.#check('inode');
    const ops = this[kOps];
    if (!ops.inode) throw new DmaBufError(codes.NOT_SUPPORTED, `inode: the '${ops.exporter}' exporter has no inode`);
    return ops.inode();
  }

  /** The storage chunks, or null while allocation is deferred to the first map. */
  get layout(): readonly Segment[] | null {
    this.#check('layout');
    return this[kOps].layout?.() ?? null;
  }

  get attachments(): readonly Attachment[] {
    return [...this.#attachments];
  }

  /** Takes a reference (dma_buf_get on an object you hold). */
  get(): this {
    this.#check('get');
    this.#refs++;
    return this;
  }

  /** Drops a reference; the last one releases the buffer. */
  put(): void {
    this.#check('put');
    if (--this.#refs === 0) this.#release();
  }

  /** Releases now, whatever the reference count. Idempotent. */
  close(): void {
    if (!this.#closed) this.#release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** dma_buf_attach. Throws ERR_DMABUF_INCOMPATIBLE when the device's constraints cannot be
   *  met now; attachAsync() waits for outstanding mappings and migrates instead. */
  attach(device: Device): Attachment {
    this.#check('attach');
    const dev = validateDevice(device);
    const att = new Attachment(this, dev);
    const verdict = this.#offer(att);
    if (verdict === 'migrate') {
      if (!this.#idle()) {
        this.#attachments.delete(att);
        throw new DmaBufError(
          codes.INCOMPATIBLE,
          `attach: device '${dev.name}' needs the storage to move, and ${this.#busyReason()}; unmap first or use attachAsync() to wait`,
          { constraint: 'busy', device: dev.name },
        );
      }
      this.#migrate(att);
    }
    return att;
  }

  /** dma_buf_attach that, when the storage must move for this device, waits until every
   *  mapping, CPU-access bracket and kmap has ended, then migrates (contents preserved). */
  async attachAsync(device: Device, options: WaitOptions = {}): Promise<Attachment> {
    this.#check('attachAsync');
    const dev = validateDevice(device);
    const timeout = options.timeout === undefined ? undefined : v.integer(options.timeout, 'options.timeout');
    const att = new Attachment(this, dev);
    if (this.#offer(att) !== 'migrate') return att;
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    while (!this.#idle()) {
      try {
        await this.#whenIdle(deadline - Date.now(), dev.name);
      } catch (err) {
        this.#attachments.delete(att);
        throw err;
      }
      if (this.#closed) throw closedError('DmaBuf', 'attachAsync');
    }
    this.#migrate(att);
    return att;
  }

  /** Begins CPU access (DMA_BUF_IOCTL_SYNC START). Blocks while the kernel waits for fences. */
  beginCpuAccess(direction: CpuAccess): void {
    const dir = v.cpuAccess(direction);
    this.#check('beginCpuAccess');
    this[kOps].beginCpuAccess?.(dir);
    this.#cpu[dir]++;
  }

  /** As beginCpuAccess, but waits for the buffer's fences without blocking the event loop. */
  async beginCpuAccessAsync(direction: CpuAccess, options: WaitOptions = {}): Promise<void> {
    const dir = v.cpuAccess(direction);
    const timeout = options.timeout === undefined ? -1 : v.integer(options.timeout, 'options.timeout');
    this.#check('beginCpuAccess');
    await this[kOps].waitFences?.(dir, timeout);
    this.beginCpuAccess(dir);
  }

  /** Ends CPU access (DMA_BUF_IOCTL_SYNC END). Without a matching begin: EINVAL, as udmabuf answers. */
  endCpuAccess(direction: CpuAccess): void {
    const dir = v.cpuAccess(direction);
    this.#check('endCpuAccess');
    if (this.#cpu[dir] === 0) {
      throw systemError(
        'EINVAL',
        { syscall: 'ioctl', ioctl: 'DMA_BUF_IOCTL_SYNC' },
        `endCpuAccess('${dir}') without a matching beginCpuAccess('${dir}')`,
      );
    }
    if (this.#cpuTotal() === 1) this.#kunmapAll();
    this[kOps].endCpuAccess?.(dir);
    this.#cpu[dir]--;
    this.#idle();
  }

  /** Begins CPU access and returns a guard that ends it: `using access = buf.cpuAccess('write')`. */
  cpuAccess(direction: CpuAccess): CpuAccessGuard {
    this.beginCpuAccess(direction);
    return new CpuAccessGuard(this, direction);
  }

  /** As cpuAccess, waiting for fences without blocking the event loop. */
  async cpuAccessAsync(direction: CpuAccess, options: WaitOptions = {}): Promise<CpuAccessGuard> {
    await this.beginCpuAccessAsync(direction, options);
    return new CpuAccessGuard(this, direction);
  }

  /** CPU-access brackets currently open, by direction. */
  get cpuAccessCount(): Readonly<Record<CpuAccess, number>> {
    return { ...this.#cpu };
  }

  /** Raw DMA_BUF_IOCTL_SYNC with numeric flags (no bracket bookkeeping). */
  sync(flags: number): void {
    v.integer(flags, 'flags', 0, 0xffffffff);
    this.#check('sync');
    const ops = this[kOps];
    if (!ops.sync) throw new DmaBufError(codes.NOT_SUPPORTED, `sync: the '${ops.exporter}' exporter has no sync`);
    ops.sync(flags);
  }

  /** One page as a Uint8Array; only inside a CPU-access bracket. */
  kmap(page: number): Uint8Array {
    return this.#kmap('kmap', page);
  }

  /** As kmap, and never waits. */
  kmapAtomic(page: number): Uint8Array {
    return this.#kmap('kmapAtomic', page);
  }

  /** Ends a kmap of `page` (the given view, or the latest of that page); the view is detached. */
  kunmap(page: number, view?: Uint8Array): void {
    this.#check('kunmap');
    const p = v.page(page, this.size);
    const views = this.#kmaps.get(p);
    const i = views ? (view === undefined ? views.length - 1 : views.indexOf(view)) : -1;
    if (!views || i < 0) throw argValueMessage(`kunmap: page ${p} is not kmapped${view ? ' by this view' : ''}`);
    const [vw] = views.splice(i, 1);
    if (views.length === 0) this.#kmaps.delete(p);
    this[kOps].kunmap?.(p, vw);
    this.#idle();
  }

  /** The whole buffer as a zero-copy Uint8Array (MAP_SHARED). Detached on release. */
  mmap(): Uint8Array {
    this.#check('mmap');
    const ops = this[kOps];
    if (!ops.mmap) throw new DmaBufError(codes.NOT_SUPPORTED, `mmap: the '${ops.exporter}' exporter does not implement mmap`);
    return ops.mmap();
  }

  /** Copies buffer[offset, offset + target.byteLength) into target. */
  read(offset: number, target: ArrayBufferView): void {
    const bytes = v.bytes(target, 'target');
    const off = v.range(offset, bytes.byteLength, this.size);
    this.#check('read');
    const ops = this[kOps];
    if (ops.read) ops.read(off, bytes);
    else bytes.set(this.mmap().subarray(off, off + bytes.length));
  }

  /** Copies source into buffer[offset, offset + source.byteLength). */
  write(offset: number, source: ArrayBufferView): void {
    const bytes = v.bytes(source, 'source');
    const off = v.range(offset, bytes.byteLength, this.size);
    this.#check('write');
    const ops = this[kOps];
    if (ops.write) ops.write(off, bytes);
    else this.mmap().set(bytes, off);
  }

  /** The buffer's implicit fences as a sync_file (Linux 6.0+): 'read' waits for
   *  writers, 'write'/'readwrite' for every user. */
  exportSyncFile(direction: CpuAccess): SyncFile {
    const dir = v.cpuAccess(direction);
    this.#check('exportSyncFile');
    const ops = this[kOps];
    if (!ops.exportSyncFile) throw new DmaBufError(codes.NOT_SUPPORTED, `exportSyncFile: the '${ops.exporter}' exporter has no fences`);
    return new SyncFile(ops.exportSyncFile(dir));
  }

  /** Adds a sync_file's fences to the buffer, as read ('read') or write fences. */
  importSyncFile(file: SyncFile, direction: CpuAccess): void {
    if (!(file instanceof SyncFile)) throw argType('file', 'a SyncFile', file);
    const dir = v.cpuAccess(direction);
    this.#check('importSyncFile');
    const ops = this[kOps];
    if (!ops.importSyncFile) throw new DmaBufError(codes.NOT_SUPPORTED, `importSyncFile: the '${ops.exporter}' exporter has no fences`);
    ops.importSyncFile(file.fd, dir);
  }

  /** DMA_BUF_SET_NAME_B: at most 31 bytes; longer names fail with EINVAL, as in the kernel.
   *  A NUL byte is refused (ERR_INVALID_ARG_VALUE) before any exporter sees the name. */
  setName(name: string): void {
    v.str(name, 'name');
    if (name.includes('\0')) throw argValue('name', 'a string without null bytes', name);
    this.#check('setName');
    const ops = this[kOps];
    if (!ops.setName) throw new DmaBufError(codes.NOT_SUPPORTED, `setName: the '${ops.exporter}' exporter cannot be named`);
    ops.setName(name);
  }

  /** /proc/self/fdinfo of the buffer's fd, parsed. */
  info(): DmaBufInfo {
    this.#check('info');
    const ops = this[kOps];
    if (!ops.info) throw new DmaBufError(codes.NOT_SUPPORTED, `info: the '${ops.exporter}' exporter has no fdinfo`);
    return ops.info();
  }

  /** @internal */
  [kInCpuAccess](write: boolean): boolean {
    return !this.#closed && (this.#cpu.readwrite > 0 || (write ? this.#cpu.write : this.#cpu.read) > 0);
  }

  /** @internal The attachments as a list (one shared frozen empty list when there are none:
   *  sending or reading `fd` allocates nothing then). */
  [kAttachments](): readonly Attachment[] {
    return this.#attachments.size === 0 ? NO_ATTACHMENTS : [...this.#attachments];
  }

  /** @internal */
  [kDetach](att: Attachment): void {
    this[kOps].detach?.(
      att,
      this[kAttachments]().filter((a) => a !== att),
    );
    this.#attachments.delete(att);
  }

  /** @internal: called when a mapping, bracket or kmap ends. */
  [kIdle](): void {
    this.#idle();
  }

  #check(what: string): void {
    if (this.#closed) throw closedError('DmaBuf', what);
  }

  #kmap(what: 'kmap' | 'kmapAtomic', page: number): Uint8Array {
    const p = v.page(page, this.size);
    this.#check(what);
    const ops = this[kOps];
    const fn = ops[what];
    if (!fn) throw new DmaBufError(codes.NOT_SUPPORTED, `${what}: the '${ops.exporter}' exporter does not implement ${what}`);
    if (this.#cpuTotal() === 0) {
      throw new DmaBufError(
        codes.NO_CPU_ACCESS,
        `${what}: call beginCpuAccess() first; pages may only be mapped inside a CPU-access bracket`,
      );
    }
    const view = fn.call(ops, p);
    const list = this.#kmaps.get(p) ?? [];
    list.push(view);
    this.#kmaps.set(p, list);
    return view;
  }

  #kunmapAll(): void {
    if (this.#kmaps.size === 0) return; // no iterator: a bracket allocates nothing
    for (const [p, views] of this.#kmaps) for (const vw of views) this[kOps].kunmap?.(p, vw);
    this.#kmaps.clear();
  }

  #cpuTotal(): number {
    return this.#cpu.read + this.#cpu.write + this.#cpu.readwrite;
  }

  /** Adds the attachment and asks the exporter; removes it again if refused. */
  #offer(att: Attachment): void | 'migrate' {
    const all = [...this.#attachments, att];
    const verdict = this[kOps].attach?.(att, all);
    this.#attachments.add(att);
    if (verdict === 'migrate' && !this[kOps].migrate) {
      this.#attachments.delete(att);
      throw new DmaBufError(codes.NOT_SUPPORTED, `attach: the '${this.exporter}' exporter asked to migrate but cannot`);
    }
    return verdict;
  }

  #migrate(att: Attachment): void {
    try {
      this[kOps].migrate!(this[kAttachments]());
    } catch (err) {
      this.#attachments.delete(att);
      throw err;
    }
  }

  #busy(): number {
    if (this.#attachments.size === 0) return 0; // no iterator: a bracket allocates nothing
    let n = 0;
    for (const a of this.#attachments) n += a[kTables]();
    return n;
  }

  #busyReason(): string {
    return `${this.#busy()} mapping(s), ${this.#cpuTotal()} CPU-access bracket(s) and ${this.#kmaps.size} kmapped page(s) are outstanding`;
  }

  #idle(): boolean {
    const idle = this.#closed || (this.#busy() === 0 && this.#cpuTotal() === 0 && this.#kmaps.size === 0);
    if (idle && this.#idleWaiters.length) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w.resolve();
    }
    return idle;
  }

  #whenIdle(ms: number, device: string): Promise<void> {
    return waitFor<void>(
      (w) => {
        this.#idleWaiters.push(w);
        return () => (this.#idleWaiters = this.#idleWaiters.filter((x) => x !== w));
      },
      ms,
      () => `attach: device '${device}' waited ${Math.max(0, Math.round(ms))} ms, and ${this.#busyReason()}`,
    );
  }

  #release(): void {
    this.#closed = true;
    unreleased.unregister(this, this[kOps]);
    this.#kunmapAll();
    this.#attachments.clear();
    this.#idle();
    this[kOps].release();
  }
}
