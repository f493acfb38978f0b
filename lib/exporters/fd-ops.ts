// Storage behind a file descriptor (udmabuf, dma-heap, import, memfd): mmap views,
// page kmaps, SYNC brackets, names and fdinfo through the native addon.
// The fd number stays the same for the buffer's life, across migrations (dup3).
import { native } from '../platform/binding';
import { copyMode } from '../platform/copy-mode';
import { DmaBufError, codes } from '../platform/errors';
import { READABLE, Readiness, WRITABLE } from '../fences/readiness';
import { parseDmaBufInfo, readFdInfo, type DmaBufInfo } from '../platform/fdinfo';
import { CPU_ACCESS_FLAGS, type CpuAccess } from '../platform/validate';
import { DMA_BUF_SYNC_END, DMA_BUF_SYNC_START, PAGE_SIZE } from '../platform/uapi';
import { StorageOps } from './storage';

const COPY_CHUNK = 1 << 20;

/** ERR_DMABUF_NO_EXTERNAL_BUFFERS where mapView cannot make external ArrayBuffers (the addon's own check stays as a backstop). */
function checkViewsAllowed(op: 'mmap' | 'kmap'): void {
  if (native().externalBuffersAllowed()) return;
  throw new DmaBufError(
    codes.NO_EXTERNAL_BUFFERS,
    `${op}: copy mode is on (${copyMode().why ?? 'forced'}): views of buffer memory are unavailable; use read()/write(), which copy`,
  );
}

export abstract class FdOps extends StorageOps<number> {
  /** Mapping handle of the whole buffer, for mmap() and read()/write(). */
  #whole = 0;
  #wholeView: Uint8Array | null = null;
  readonly #kmaps = new Map<Uint8Array, number>();
  #writable: boolean | undefined;
  #readiness: Readiness | null = null;

  #fences(): Readiness {
    return (this.#readiness ??= new Readiness(this.storage()));
  }

  /** For storage we allocated: whether it is writable, so no fcntl is needed to find out. */
  protected knownWritable(writable: boolean): void {
    this.#writable = writable;
  }

  /** Whether the fd allows PROT_WRITE mappings (not an O_RDONLY heap buffer). */
  protected get writable(): boolean {
    if (this.#writable === undefined) {
      const b = native();
      this.#writable = (b.getFlags(this.storage()) & 3) !== b.constants.O_RDONLY;
    }
    return this.#writable;
  }

  /** Storage taken over (fromFd with takeOwnership, a received or transferred fd) is this
   *  environment's from now on: its end closes the fd if release never ran (worker.terminate()). */
  protected override adopt(fd: number): void {
    native().ownFd(fd);
    super.adopt(fd);
  }

  fd(all: Parameters<StorageOps<number>['map']>[2] = []): number {
    return this.storage(all);
  }

  mmap(): Uint8Array {
    this.#assertViewable('mmap');
    checkViewsAllowed('mmap');
    // byteLength 0: the caller moved the view's memory away (ArrayBuffer.prototype.transfer()).
    if (this.#wholeView === null || this.#wholeView.byteLength === 0)
      this.#wholeView = new Uint8Array(native().mapView(this.#wholeHandle()));
    return this.#wholeView;
  }

  read(offset: number, target: Uint8Array): void {
    native().mapRead(this.#wholeHandle(), offset, target);
  }

  write(offset: number, source: Uint8Array): void {
    native().mapWrite(this.#wholeHandle(), offset, source);
  }

  /** Maps from offset 0 and views one page (a one-page ArrayBuffer): DRM's shmem helpers
   *  (vgem PRIME exports) ignore mmap's page offset and would show page 0 at any offset. */
  kmap(page: number): Uint8Array {
    this.#assertViewable('kmap');
    checkViewsAllowed('kmap');
    const b = native();
    const h = this.#mmap(PAGE_SIZE, page * PAGE_SIZE);
    try {
      const view = new Uint8Array(b.mapView(h));
      this.#kmaps.set(view, h);
      return view;
    } catch (err) {
      b.munmap(h);
      throw err;
    }
  }

  kmapAtomic(page: number): Uint8Array {
    return this.kmap(page);
  }

  kunmap(_page: number, view: Uint8Array): void {
    const h = this.#kmaps.get(view);
    if (h === undefined) return;
    this.#kmaps.delete(view);
    native().munmap(h);
  }

  beginCpuAccess(dir: CpuAccess): void {
    this.sync(DMA_BUF_SYNC_START | CPU_ACCESS_FLAGS[dir]);
  }

  endCpuAccess(dir: CpuAccess): void {
    this.sync(DMA_BUF_SYNC_END | CPU_ACCESS_FLAGS[dir]);
  }

  sync(flags: number): void {
    native().dmaBufSync(this.storage(), flags);
  }

  /** Waits on the event loop for the implicit fences: POLLIN means no pending writer
   *  (enough to read), POLLOUT no pending user at all (needed to write). */
  waitFences(dir: CpuAccess, timeoutMs: number): Promise<void> {
    return this.#fences().wait(dir === 'read' ? READABLE : WRITABLE, timeoutMs, `beginCpuAccessAsync('${dir}'): the buffer's fences`);
  }

  /** DMA_BUF_IOCTL_EXPORT_SYNC_FILE: READ waits for writers, WRITE/RW for every user. */
  exportSyncFile(dir: CpuAccess): number {
    return native().dmaBufExportSyncFile(this.storage(), CPU_ACCESS_FLAGS[dir]);
  }

  /** DMA_BUF_IOCTL_IMPORT_SYNC_FILE: adds the fences as read (READ) or write fences. */
  importSyncFile(syncFd: number, dir: CpuAccess): void {
    native().dmaBufImportSyncFile(this.storage(), CPU_ACCESS_FLAGS[dir], syncFd);
  }

  setName(name: string): void {
    native().dmaBufSetName(this.storage(), name);
  }

  /** '' while deferred: setName allocates, so storage not made yet has no name. */
  name(): string {
    if (!this.allocated) return '';
    return this.info().name;
  }

  info(): DmaBufInfo {
    return parseDmaBufInfo(readFdInfo(this.storage()));
  }

  inode(): number {
    return native().fstat(this.storage()).ino;
  }

  protected copy(from: number, to: number): void {
    const b = native();
    const src = b.mmap(from, this.size, 0, false);
    const dst = b.mmap(to, this.size, 0, true);
    try {
      const chunk = new Uint8Array(Math.min(COPY_CHUNK, this.size));
      for (let off = 0; off < this.size; off += chunk.length) {
        b.mapRead(src, off, chunk);
        b.mapWrite(dst, off, chunk);
      }
    } finally {
      b.munmap(src);
      b.munmap(dst);
    }
  }

  /** The new storage takes the old fd number, so `buf.fd` never changes. */
  protected override replace(old: number, next: number): number {
    this.#unmapViews();
    const b = native();
    b.dup2(next, old);
    b.close(next);
    this.#readiness?.reset();
    return old;
  }

  /** Our own mappings hold the file too; anyone else holding it (a dup, another
   *  process) would keep the old storage, so refuse. */
  protected override assertMovable(fd: number): void {
    this.#unmapViews();
    const count = Number(readFdInfo(fd).count);
    if (count > 1) {
      throw new DmaBufError(
        codes.SHARED,
        `migrate: ${count - 1} other reference(s) to this dma-buf exist (dup'ed fds or other processes); storage cannot move under them`,
        { constraint: 'shared' },
      );
    }
  }

  protected free(fd: number): void {
    this.#readiness?.close('DmaBuf', 'beginCpuAccessAsync');
    this.#readiness = null;
    this.#unmapViews();
    native().close(fd);
  }

  /** A view over a PROT_READ mapping would still be writable (JS has no read-only
   *  ArrayBuffer), and one store would kill the process with SIGSEGV: refuse. */
  #assertViewable(what: string): void {
    if (this.writable) return;
    throw new DmaBufError(
      codes.READ_ONLY,
      `${what}: this buffer is read-only (its fd was opened O_RDONLY) and a JavaScript view cannot be; ` +
        'use read(offset, target), which copies',
    );
  }

  #wholeHandle(): number {
    if (this.#whole === 0) this.#whole = this.#mmap(this.size);
    return this.#whole;
  }

  #mmap(length: number, skip?: number): number {
    try {
      return native().mmap(this.storage(), length, 0, this.writable, skip);
    } catch (err) {
      throw this.mapError(err);
    }
  }

  /** The error of a failed mmap, with advice where the exporter knows why. */
  protected mapError(err: unknown): unknown {
    return err;
  }

  #unmapViews(): void {
    const b = native();
    for (const h of this.#kmaps.values()) b.munmap(h);
    this.#kmaps.clear();
    if (this.#whole !== 0) b.munmap(this.#whole);
    this.#whole = 0;
    this.#wholeView = null;
  }
}
