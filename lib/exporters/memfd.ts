// The memfd exporter: real shared memory behind a real fd, for Linux without udmabuf.
// Not a dma-buf: CPU-access brackets have nothing to sync, a raw sync() reaches the kernel
// (which answers ENOTTY, as to anyone holding the fd), names live here.
import { native, type NativeProbe } from '../platform/binding';
import { DmaBufError, codes, explained, isErrno, systemError } from '../platform/errors';
import type { DmaBufInfo } from '../platform/fdinfo';
import { checkName } from '../core/kernel-rules';
import type { Layout } from '../core/layout';
import { PAGE_SIZE } from '../platform/uapi';
import { FdOps } from './fd-ops';
import { memfdProblem, sealedMemfd } from './memfd-util';
import { preferredLayout } from './storage';

export interface MemfdOptions {
  /** Huge pages (MFD_HUGETLB); size must be a multiple of the huge page size (Hugepagesize in
   *  /proc/meminfo: 2 MiB on x86-64, 32 MiB on arm64 with 16 KiB pages). */
  hugetlb?: boolean;
  /** Allocate at the first use instead of now. */
  deferred?: boolean;
}

function notDmaBuf(what: string): DmaBufError {
  return new DmaBufError(codes.NOT_SUPPORTED, `${what}: a memfd is not a dma-buf and carries no fences`);
}

export class MemfdOps extends FdOps {
  readonly exporter = 'memfd';
  #name = '';
  readonly #hugetlb: boolean;

  /** A new memfd, or (with `adopt`) an existing one that we now own; `probe` (of it or of an fd
   *  of the same file) spares asking the kernel again. */
  constructor(size: number, opts: MemfdOptions, adopt?: number, probe?: NativeProbe) {
    super(size, preferredLayout(size, 1), false);
    if (adopt === undefined) this.knownWritable(true);
    this.#hugetlb = opts.hugetlb ?? false;
    if (adopt !== undefined) {
      const pr = probe ?? native().probeFd(adopt);
      const p = memfdProblem(adopt, 0, size, PAGE_SIZE, pr);
      if (p) throw systemError(p.code, { syscall: 'fcntl', fd: adopt }, p.why);
      this.adopt(adopt);
      this.knownWritable((pr.flags & 3) !== native().constants.O_RDONLY);
      const m = /^\/memfd:(.*?)(?: \(deleted\))?$/.exec(pr.link);
      this.#name = m && m[1] !== 'dmabuf' ? m[1] : '';
    } else if (!opts.deferred) {
      this.storage();
    }
  }

  protected allocate(_layout: Layout): number {
    return sealedMemfd('dmabuf', this.size, this.#hugetlb);
  }

  // A memfd's pages are coherent for the CPU: a bracket only makes deferred storage real.
  override beginCpuAccess(): void {
    this.storage();
  }

  override endCpuAccess(): void {}

  /** EPERM from a writable mmap: someone write-sealed a memfd whose seal set was open (one we imported). */
  protected override mapError(err: unknown): unknown {
    if (!isErrno(err, 'EPERM')) return err;
    const b = native();
    let seals: number;
    try {
      seals = b.getSeals(this.storage());
    } catch {
      return err;
    }
    if (!(seals & (b.constants.F_SEAL_WRITE | b.constants.F_SEAL_FUTURE_WRITE))) return err;
    return explained(err, {
      advice:
        'the memfd was write-sealed (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE) by another holder after fromFd() took it: its maker ' +
        'left the seal set open (no F_SEAL_SEAL; memfds this library makes have it). A writable mapping taken first ' +
        '(mmap() right after fromFd) makes a later F_SEAL_WRITE fail with EBUSY instead',
    });
  }

  /** The raw DMA_BUF_IOCTL_SYNC on the memfd, which the kernel answers with ENOTTY (a memfd
   *  is not a dma-buf), whatever the flags; deferred storage is made first, as the kernel
   *  exporters do (the ioctl needs the fd). */
  override sync(flags: number): void {
    this.storage();
    super.sync(flags);
  }

  override exportSyncFile(): number {
    throw notDmaBuf('exportSyncFile');
  }

  override importSyncFile(): void {
    throw notDmaBuf('importSyncFile');
  }

  override setName(name: string): void {
    this.storage();
    checkName(name);
    this.#name = name;
  }

  override name(): string {
    return this.#name;
  }

  override info(): DmaBufInfo {
    const fd = this.storage();
    const st = native().fstat(fd);
    const flags = native().getFlags(fd);
    return { size: this.size, count: 1, expName: 'memfd', name: this.#name, ino: st.ino, flags, raw: {} };
  }
}
