// The import exporter: a dma-buf fd made elsewhere (another process, V4L2 EXPBUF,
// DRM PRIME, a heap or udmabuf), as dma_buf_get. Size comes from the fd.
import { native, type NativeProbe } from '../platform/binding';
import { DmaBufError, codes, systemError } from '../platform/errors';
import { readFdInfo } from '../platform/fdinfo';
import type { Layout } from '../core/layout';
import { FdOps } from './fd-ops';
import { preferredLayout } from './storage';

export class ImportOps extends FdOps {
  readonly exporter = 'import';
  /** The exporter that made the buffer (fdinfo exp_name), e.g. 'udmabuf', 'system'. */
  readonly origin: string;

  /** Takes ownership of `fd`, which must be a dma-buf; `probe` (of it or of an fd of the same
   *  file) spares asking the kernel again. */
  constructor(fd: number, size: number, probe?: NativeProbe) {
    super(size, preferredLayout(size, 1), false);
    this.adopt(fd);
    if (probe) this.knownWritable((probe.flags & 3) !== native().constants.O_RDONLY);
    this.origin = probe?.expName ?? readFdInfo(fd).exp_name ?? '';
  }

  protected allocate(_layout: Layout): number {
    throw new Error('unreachable: imported storage is adopted');
  }
}

/** Checks that fd is a dma-buf (readlink /dmabuf:, statfs DMA_BUF_MAGIC, fdinfo exp_name) or,
 *  when allowed, a memfd (readlink /memfd:), from one probeFd(). */
export function checkImportable(fd: number, probe: NativeProbe, allowMemfd: boolean): 'dmabuf' | 'memfd' {
  const p = probe;
  if (p.flags < 0 || p.link === '') {
    throw systemError('EBADF', { syscall: 'fcntl', fd }, `bad file descriptor: fd ${fd} is not open`);
  }
  if (p.link.startsWith('/dmabuf:') && p.expName !== null && p.fsType === native().constants.DMA_BUF_MAGIC) return 'dmabuf';
  if (p.link.startsWith('/memfd:') && allowMemfd) return 'memfd';
  throw new DmaBufError(codes.NOT_DMABUF, `fromFd: fd ${fd} is not a dma-buf${allowMemfd ? ' or memfd' : ''} (it is ${p.link})`);
}
