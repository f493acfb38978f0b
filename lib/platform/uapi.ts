// The kernel's user-space ABI, in one place: the numbers the uapi headers fix
// (include/uapi/linux/dma-buf.h) and the ones the running kernel decides (the page
// size), read at run time. No other file in lib/ writes a page size or a
// DMA_BUF_SYNC_* flag.
//
// Flags whose values the libc and the architecture decide (O_*, POLL*, MFD_*, F_SEAL_*)
// come from the addon's C headers: native().constants (native/constants.cc).
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
