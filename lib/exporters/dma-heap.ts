// The dma-heap exporter: DMA_HEAP_IOCTL_ALLOC on /dev/dma_heap/<name>.
import { readdirSync } from 'node:fs';
import { native } from '../platform/binding';
import { DmaBufError, codes, explained, isErrno } from '../platform/errors';
import type { Layout } from '../core/layout';
import { FdOps } from './fd-ops';
import { preferredLayout } from './storage';

export const DMA_HEAP_DIR = '/dev/dma_heap';
/** Probe order when no heap is named, as libcamera does: CMA first, then system. */
const HEAP_PROBE_ORDER = ['linux,cma', 'reserved', 'system'] as const;

export interface DmaHeapOptions {
  /** Heap name under /dev/dma_heap (default: the first of linux,cma, reserved, system). */
  heap?: string;
  /** Open the buffer read-only (fd_flags O_RDONLY): mmap is then read-only. */
  readOnly?: boolean;
  /** Allocate at the first map instead of now. */
  deferred?: boolean;
}

/** Heaps present on this machine. */
export function listHeaps(): string[] {
  try {
    return readdirSync(DMA_HEAP_DIR).sort();
  } catch {
    return [];
  }
}

/** The heap the probe order picks, or null when there is none. */
function defaultHeap(): string | null {
  const present = listHeaps();
  return HEAP_PROBE_ORDER.find((h) => present.includes(h)) ?? null;
}

export class DmaHeapOps extends FdOps {
  readonly exporter = 'dma-heap';
  readonly heap: string;
  readonly #readOnly: boolean;

  constructor(size: number, opts: DmaHeapOptions) {
    super(size, preferredLayout(size, 1), false);
    const heap = opts.heap ?? defaultHeap();
    if (heap === null) {
      throw new DmaBufError(
        codes.UNAVAILABLE,
        `dma-heap: no DMA heap under ${DMA_HEAP_DIR} (the kernel needs CONFIG_DMABUF_HEAPS and a heap such as CONFIG_DMABUF_HEAPS_SYSTEM)`,
      );
    }
    this.heap = heap;
    this.#readOnly = opts.readOnly ?? false;
    this.knownWritable(!this.#readOnly);
    if (!opts.deferred) this.storage();
  }

  protected allocate(_layout: Layout): number {
    const b = native();
    const c = b.constants;
    const path = `${DMA_HEAP_DIR}/${this.heap}`;
    let heapFd: number;
    try {
      heapFd = b.open(path, c.O_RDONLY);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw explained(err, { advice: `no such heap; heaps here: ${listHeaps().join(', ') || 'none'}` });
      if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) {
        throw explained(err, {
          advice:
            `no permission to open ${path}: add a udev rule such as ` +
            'SUBSYSTEM=="dma_heap", GROUP="video", MODE="0660" (e.g. /etc/udev/rules.d/70-dma-heap.rules) and add your user to that group',
        });
      }
      throw err;
    }
    try {
      return b.dmaHeapAlloc(heapFd, this.size, (this.#readOnly ? c.O_RDONLY : c.O_RDWR) | c.O_CLOEXEC, 0);
    } catch (err) {
      throw explained(err, { path });
    } finally {
      b.close(heapFd);
    }
  }
}
