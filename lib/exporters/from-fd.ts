// fromFd(): dma_buf_get on an fd from elsewhere: the import exporter for a dma-buf, the
// memfd exporter for a sealed memfd.
import { native, type NativeProbe } from '../platform/binding';
import { DmaBuf, installFactories } from '../core/dma-buf';
import { withDup } from '../platform/fds';
import { systemError } from '../platform/errors';
import { checkImportable, ImportOps } from './import';
import { MemfdOps } from './memfd';
import * as v from '../platform/validate';

export interface FromFdOptions {
  /** Take over `fd` (it is closed on release) instead of dup'ing it. Default false. */
  takeOwnership?: boolean;
}

/**
 * dma_buf_get: a buffer object for a dma-buf fd (or a sealed memfd, as the memfd
 * exporter makes). The size is taken from the fd. The fd is dup'ed unless
 * `takeOwnership` is set; on failure the caller still owns `fd`.
 */
export function fromFd(fd: number, options: FromFdOptions = {}): DmaBuf {
  v.fd(fd);
  const opts = v.object<FromFdOptions>(options, 'options');
  const take = v.bool(opts.takeOwnership, 'options.takeOwnership', false);
  return fromProbedFd(fd, native().probeFd(fd), take);
}

/** @internal fromFd with the fd already probed (the channel probes received fds itself). */
export function fromProbedFd(fd: number, probe: NativeProbe, take: boolean): DmaBuf {
  const kind = checkImportable(fd, probe, true);
  const b = native();
  if ((probe.flags & b.constants.O_ACCMODE) === b.constants.O_WRONLY) {
    // Nothing works on it: every mapping, read() and write() need read access.
    throw systemError('EACCES', { syscall: 'fcntl', fd }, `fd ${fd} is open write-only (O_WRONLY); a buffer must be readable to be mapped`);
  }
  return withDup(fd, take, (own) => {
    // The probe's lseek saw the same open file description as `own`.
    if (probe.size < 0) throw systemError(probe.size, { syscall: 'lseek', fd: own });
    return new DmaBuf(kind === 'dmabuf' ? new ImportOps(own, probe.size, probe) : new MemfdOps(probe.size, {}, own, probe));
  });
}

installFactories({ fromFd });
