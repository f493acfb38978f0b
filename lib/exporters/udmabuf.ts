// The udmabuf exporter: sealed memfds turned into a dma-buf by /dev/udmabuf
// (UDMABUF_CREATE for one chunk, UDMABUF_CREATE_LIST for several).
import { readFileSync } from 'node:fs';
import { native } from '../platform/binding';
import { explained, isErrno } from '../platform/errors';
import type { Layout } from '../core/layout';
import { PAGE_SIZE, hugePageSize } from '../platform/uapi';
import { FdOps } from './fd-ops';
import { memfdProblem, sealedMemfd } from './memfd-util';
import { preferredLayout, type StorageOptions } from './storage';

export const UDMABUF_PATH = '/dev/udmabuf';
const PARAMS = '/sys/module/udmabuf/parameters';

export interface UdmabufOptions extends StorageOptions {
  /** Back the memfds with huge pages (MFD_HUGETLB); size (each segment's, with `segments`) must be a
   *  multiple of the huge page size (Hugepagesize in /proc/meminfo: 2 MiB on x86-64, 32 MiB on arm64 with 16 KiB pages). */
  hugetlb?: boolean;
  /** Use this memfd (sealed with F_SEAL_SHRINK, not write-sealed) instead of making one; not closed by us. */
  memfd?: number;
  /** Offset into `memfd`, page-aligned. */
  offset?: number;
  /** The device node (default /dev/udmabuf). */
  device?: string;
}

/** udmabuf's module parameters, or null where they cannot be read. */
export function udmabufLimits(): { sizeLimitMb: number; listLimit: number } | null {
  try {
    return {
      sizeLimitMb: Number(readFileSync(`${PARAMS}/size_limit_mb`, 'utf8')),
      listLimit: Number(readFileSync(`${PARAMS}/list_limit`, 'utf8')),
    };
  } catch {
    return null;
  }
}

/** open(/dev/udmabuf) with advice for the two usual failures. */
function openUdmabuf(path = UDMABUF_PATH): number {
  const b = native();
  try {
    return b.open(path, b.constants.O_RDWR);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      throw explained(err, {
        advice: `${path} does not exist: this kernel lacks CONFIG_UDMABUF (Linux 4.20+); use exporter 'dma-heap', 'memfd' or 'auto'`,
      });
    }
    if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) {
      throw explained(err, {
        advice:
          `no permission to open ${path}: add a udev rule such as ` +
          `KERNEL=="udmabuf", GROUP="video", MODE="0660" (e.g. /etc/udev/rules.d/70-udmabuf.rules), ` +
          'then add your user to that group (usermod -aG video $USER) and log in again',
      });
    }
    throw err;
  }
}

export class UdmabufOps extends FdOps {
  readonly exporter = 'udmabuf';
  readonly #hugetlb: boolean;
  readonly #device: string;

  constructor(size: number, opts: UdmabufOptions) {
    const own = opts.memfd === undefined;
    super(size, preferredLayout(size, opts.segments), own);
    this.knownWritable(true); // udmabuf files are always O_RDWR
    this.#hugetlb = opts.hugetlb ?? false;
    this.#device = opts.device ?? UDMABUF_PATH;
    if (!own) this.adopt(this.#fromMemfd(opts.memfd!, opts.offset ?? 0));
    else if (!opts.deferred) this.storage();
  }

  protected allocate(layout: Layout): number {
    const b = native();
    const dev = openUdmabuf(this.#device);
    const memfds: number[] = [];
    try {
      for (const chunk of layout) memfds.push(sealedMemfd('dmabuf', chunk.length, this.#hugetlb));
      const flags = b.constants.UDMABUF_FLAGS_CLOEXEC;
      if (layout.length === 1) return this.#create(() => b.udmabufCreate(dev, memfds[0], 0, layout[0].length, flags), 1);
      const items = layout.flatMap((chunk, i) => [memfds[i], 0, chunk.length]);
      return this.#create(() => b.udmabufCreateList(dev, items, flags), layout.length);
    } finally {
      for (const m of memfds) b.close(m);
      b.close(dev);
    }
  }

  #fromMemfd(memfd: number, offset: number): number {
    const b = native();
    const dev = openUdmabuf(this.#device);
    try {
      return b.udmabufCreate(dev, memfd, offset, this.size, b.constants.UDMABUF_FLAGS_CLOEXEC);
    } catch (err) {
      // udmabuf checks offset and size against PAGE_SIZE, hugetlbfs memfds included.
      const p = isErrno(err, 'EINVAL') || isErrno(err, 'EBADFD') ? memfdProblem(memfd, offset, this.size, PAGE_SIZE) : null;
      throw p ? explained(err, { detail: p.why }) : this.#explain(err, 1);
    } finally {
      b.close(dev);
    }
  }

  #create(fn: () => number, chunks: number): number {
    try {
      return fn();
    } catch (err) {
      throw this.#explain(err, chunks);
    }
  }

  /** Names the module parameter behind an EINVAL from a size or count over its limit. */
  #explain(err: unknown, chunks: number): unknown {
    if (!isErrno(err, 'EINVAL')) return err;
    const lim = udmabufLimits();
    if (lim && this.size > lim.sizeLimitMb * 1024 * 1024) {
      const mb = Math.ceil(this.size / (1024 * 1024));
      return explained(err, {
        advice:
          `${this.size} bytes exceeds udmabuf's size_limit_mb (${lim.sizeLimitMb} MiB); raise it with ` +
          `"echo ${mb} | sudo tee ${PARAMS}/size_limit_mb" or boot with udmabuf.size_limit_mb=${mb}`,
      });
    }
    if (lim && chunks > lim.listLimit) {
      return explained(err, {
        advice: `${chunks} segments exceed udmabuf's list_limit (${lim.listLimit}); raise ${PARAMS}/list_limit or use fewer segments`,
      });
    }
    const huge = this.#hugetlb ? hugePageSize() : null;
    if (huge !== null && this.size % huge !== 0) {
      return explained(err, { advice: `hugetlb buffers must be a multiple of the huge page size (${huge} bytes)` });
    }
    return err;
  }
}
