// The kernel's user-space ABI, in one place: the numbers the uapi headers fix
// (include/uapi/linux/dma-buf.h, the ioctl encoding of asm-generic/ioctl.h and its
// exceptions) and the ones the running kernel decides (page size, huge page size), read at
// run time. No other file in lib/ writes a page size, a DMA_BUF_SYNC_* flag or an ioctl
// encoding.
//
// Flags whose values the libc and the architecture decide (O_*, POLL*, MFD_*, F_SEAL_*)
// come from the addon's C headers: native().constants (native/constants.cc).
import { readFileSync } from 'node:fs';
import { DmaBufError, codes } from './errors';
import { nativeOrNull } from './binding';

// ---------------------------------------------------------------------------------------
// What the running kernel decides

/**
 * Where the addon cannot be loaded (not Linux, or not built), only the pure-TypeScript
 * `memory` exporter runs: no kernel is involved, so any page size is self-consistent. It
 * uses 4096, the page size of x86-64 and of most arm64 kernels.
 */
const FALLBACK_PAGE_SIZE = 4096;

/**
 * The running kernel's page size, sysconf(_SC_PAGESIZE) through the addon: 4096 on
 * x86-64, 16384 on arm64 kernels built with 16 KiB pages (Raspberry Pi 5), 65536 on some
 * arm64 and ppc64 kernels. Buffer sizes, udmabuf offsets and sizes, heap lengths, mmap
 * offsets and kmap page numbers are all in these units.
 */
export const PAGE_SIZE: number = nativeOrNull()?.constants.PAGE_SIZE ?? FALLBACK_PAGE_SIZE;

let hugePage: number | null | undefined;

/**
 * The default huge page size (Hugepagesize in /proc/meminfo), which MFD_HUGETLB memfds
 * use; a hugetlbfs file's size must be a multiple of it (ftruncate fails with EINVAL
 * otherwise). 2 MiB on x86-64 and on arm64 with 4 KiB pages, 32 MiB on arm64 with 16 KiB
 * pages. null where the kernel has no hugetlbfs (or /proc cannot be read). Fixed at boot
 * (default_hugepagesz=), so read once.
 */
export function hugePageSize(): number | null {
  if (hugePage === undefined) {
    let kb: RegExpExecArray | null = null;
    try {
      kb = /^Hugepagesize:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'latin1'));
    } catch {
      // no /proc: no huge pages we can name
    }
    hugePage = kb ? Number(kb[1]) * 1024 : null;
  }
  return hugePage;
}

// ---------------------------------------------------------------------------------------
// include/uapi/linux/dma-buf.h: the same on every architecture

/** DMA_BUF_IOCTL_SYNC flags. */
export const DMA_BUF_SYNC_READ = 1 << 0;
export const DMA_BUF_SYNC_WRITE = 2 << 0;
export const DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
export const DMA_BUF_SYNC_START = 0 << 2;
export const DMA_BUF_SYNC_END = 1 << 2;
export const DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;

/** DMA_BUF_SET_NAME copies at most this many bytes, NUL included (strndup_user). */
export const DMA_BUF_NAME_LEN = 32;

// ---------------------------------------------------------------------------------------
// ioctl numbers: _IOC(dir, type, nr, size)

/**
 * How an architecture packs an ioctl number: nr in bits 0-7, type in bits 8-15, the
 * argument's size from bit 16 (`sizeBits` wide), the direction above it.
 */
export interface IocLayout {
  readonly sizeBits: 13 | 14;
  readonly none: number;
  readonly write: number;
  readonly read: number;
}

/** asm-generic/ioctl.h: x86, arm, arm64, riscv, loongarch, s390. */
const GENERIC: IocLayout = Object.freeze({ sizeBits: 14, none: 0, write: 1, read: 2 });
/** arch/{powerpc,mips,sparc,alpha}/include/uapi/asm/ioctl.h: 13 size bits, 3 direction bits, a bit for NONE. */
const THREE_DIR_BITS: IocLayout = Object.freeze({ sizeBits: 13, none: 1, write: 4, read: 2 });

/**
 * process.arch → layout. Every architecture Node is built for is listed (sparc and alpha
 * too, which Node has no port for). parisc (generic widths, READ and WRITE swapped) and
 * any other is refused rather than guessed, since a wrong number would reach some other
 * ioctl. devices/drm.ts and devices/v4l2.ts encode their tables at import, so on such an
 * architecture the library refuses to load, naming it.
 */
const LAYOUTS: Readonly<Record<string, IocLayout>> = {
  x64: GENERIC,
  ia32: GENERIC,
  arm: GENERIC,
  arm64: GENERIC,
  riscv64: GENERIC,
  loong64: GENERIC,
  s390: GENERIC,
  s390x: GENERIC,
  ppc: THREE_DIR_BITS,
  ppc64: THREE_DIR_BITS,
  mips: THREE_DIR_BITS,
  mipsel: THREE_DIR_BITS,
  mips64: THREE_DIR_BITS,
  mips64el: THREE_DIR_BITS,
  sparc: THREE_DIR_BITS,
  sparc64: THREE_DIR_BITS,
  alpha: THREE_DIR_BITS,
};

/** The ioctl layout of `arch` (default: this process's); throws ERR_DMABUF_NOT_SUPPORTED for an unknown one. */
export function iocLayout(arch: string = process.arch): IocLayout {
  const layout = Object.hasOwn(LAYOUTS, arch) ? LAYOUTS[arch] : undefined;
  if (!layout) {
    throw new DmaBufError(
      codes.NOT_SUPPORTED,
      `ioctl numbers are not known for architecture '${arch}' (known: ${Object.keys(LAYOUTS).join(', ')})`,
    );
  }
  return layout;
}

let current: IocLayout | undefined;
const here = (): IocLayout => (current ??= iocLayout());

/** The type byte: a one-character string ('b') or a number. */
function typeByte(type: string | number): number {
  const t = typeof type === 'string' && type.length === 1 ? type.charCodeAt(0) : type;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xff)
    throw new RangeError(`ioctl type ${String(type)} is not one byte`);
  return t;
}

/** _IOC(dir, type, nr, size), `dir` in the layout's bits (layout.read | layout.write, …). */
export function ioc(dir: number, type: string | number, nr: number, size: number, layout: IocLayout = here()): number {
  if (!Number.isInteger(nr) || nr < 0 || nr > 0xff) throw new RangeError(`ioctl nr ${nr} is not one byte`);
  if (!Number.isInteger(size) || size < 0 || size >= 2 ** layout.sizeBits) {
    throw new RangeError(`ioctl size ${size} does not fit in ${layout.sizeBits} bits`);
  }
  return ((dir << (16 + layout.sizeBits)) | (size << 16) | (typeByte(type) << 8) | nr) >>> 0;
}

/** _IO(type, nr): no argument. */
export function IO(type: string | number, nr: number, layout: IocLayout = here()): number {
  return ioc(layout.none, type, nr, 0, layout);
}

/** _IOR(type, nr, size): the kernel writes `size` bytes to the argument. */
export function IOR(type: string | number, nr: number, size: number, layout: IocLayout = here()): number {
  return ioc(layout.read, type, nr, size, layout);
}

/** _IOW(type, nr, size): the kernel reads `size` bytes from the argument. */
export function IOW(type: string | number, nr: number, size: number, layout: IocLayout = here()): number {
  return ioc(layout.write, type, nr, size, layout);
}

/** _IOWR(type, nr, size): both. */
export function IOWR(type: string | number, nr: number, size: number, layout: IocLayout = here()): number {
  return ioc(layout.read | layout.write, type, nr, size, layout);
}
