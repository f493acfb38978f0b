// The import exporter: a dma-buf fd made elsewhere (another process, V4L2 EXPBUF,
// DRM PRIME, a heap or udmabuf), as dma_buf_get. Size comes from the fd.
import { native } from '../platform/binding';
import { DmaBufError, codes, systemError } from '../platform/errors';
import { fdKind, fdLink, readFdInfo } from '../platform/fdinfo';
import type { Layout } from '../core/layout';
import { FdOps } from './fd-ops';
import { preferredLayout } from './storage';

export class ImportOps extends FdOps {
  readonly exporter = 'import';
  /** The exporter that made the buffer (fdinfo exp_name), e.g. 'udmabuf', 'system'. */
  readonly origin: string;

  /** Takes ownership of `fd`, which must be a dma-buf. */
  constructor(fd: number, size: number) {
    super(size, preferredLayout(size, 1), false);
    this.adopt(fd);
    this.origin = readFdInfo(fd).exp_name ?? '';
  }

  protected allocate(_layout: Layout): number {
    throw new Error('unreachable: imported storage is adopted');
  }
}

/** Checks that fd is a dma-buf (fdinfo exp_name, readlink /dmabuf:) or, when allowed, a memfd. */
export function checkImportable(fd: number, allowMemfd: boolean): 'dmabuf' | 'memfd' {
  const kind = fdKind(fd);
  if (kind === 'closed') {
    throw systemError('EBADF', { syscall: 'fcntl', fd }, `bad file descriptor: fd ${fd} is not open`);
  }
  if (kind === 'dmabuf') {
    const info = readFdInfo(fd);
    const magic = native().fstatfsType(fd);
    if (info.exp_name !== undefined && magic === native().constants.DMA_BUF_MAGIC) return 'dmabuf';
  }
  if (kind === 'memfd' && allowMemfd) return 'memfd';
  throw new DmaBufError(codes.NOT_DMABUF, `fromFd: fd ${fd} is not a dma-buf${allowMemfd ? ' or memfd' : ''} (it is ${fdLink(fd)})`);
}
