// sync_file: an fd that signals when its fences have (DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
// SYNC_IOC_MERGE, SYNC_IOC_FILE_INFO). Waited on through the event loop.
import { native } from '../platform/binding';
import { withDup } from '../platform/fds';
import { DmaBufError, argType, codes, closedError } from '../platform/errors';
import { READABLE, Readiness } from './readiness';
import * as v from '../platform/validate';

export type FenceStatus = 'active' | 'signaled' | 'error';

export interface FenceInfo {
  /** The timeline, e.g. 'vgem_fence'. */
  objName: string;
  /** The driver, e.g. 'vgem'. */
  driverName: string;
  status: FenceStatus;
  /** The negative errno of a fence that failed. */
  error?: number;
  /** When it signalled (CLOCK_MONOTONIC ns), 0n while active. */
  timestampNs: bigint;
}

export interface SyncFileInfo {
  name: string;
  status: FenceStatus;
  error?: number;
  fences: FenceInfo[];
}

function status(n: number): { status: FenceStatus; error?: number } {
  return n > 0 ? { status: 'signaled' } : n === 0 ? { status: 'active' } : { status: 'error', error: n };
}

export interface SyncFileFromFdOptions {
  /** Take over the fd instead of dup'ing it. */
  takeOwnership?: boolean;
}

export class SyncFile implements Disposable {
  #fd: number;
  readonly #ready: Readiness;

  /** @internal: takes ownership of fd, which must be a sync_file. */
  constructor(fd: number) {
    this.#fd = fd;
    this.#ready = new Readiness(fd);
  }

  /** A SyncFile for a sync_file fd from elsewhere (checked with SYNC_IOC_FILE_INFO). */
  static fromFd(fd: number, options: SyncFileFromFdOptions = {}): SyncFile {
    v.fd(fd);
    const take = v.bool(v.object<SyncFileFromFdOptions>(options, 'options').takeOwnership, 'options.takeOwnership', false);
    const b = native();
    try {
      b.syncFileInfo(fd);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EBADF') throw e;
      throw new DmaBufError(codes.NOT_SYNC_FILE, `fd ${fd} is not a sync_file (${e.code})`);
    }
    if (take) native().ownFd(fd); // this environment's end closes it (worker.terminate())
    return withDup(fd, take, (own) => new SyncFile(own));
  }

  get fd(): number {
    return this.#live('fd');
  }

  /** The fd, or ERR_DMABUF_CLOSED naming `op`. */
  #live(op: string): number {
    if (this.#fd < 0) throw closedError('SyncFile', op);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Whether every fence has signalled (poll POLLIN, without waiting). */
  get signaled(): boolean {
    this.#live('signaled');
    return this.#ready.ready(READABLE);
  }

  /** SYNC_IOC_FILE_INFO. */
  info(): SyncFileInfo {
    const raw = native().syncFileInfo(this.#live('info'));
    return {
      name: raw.name,
      ...status(raw.status),
      fences: raw.fences.map((f) => ({ objName: f.objName, driverName: f.driverName, ...status(f.status), timestampNs: f.timestampNs })),
    };
  }

  /** Resolves when every fence has signalled; ERR_DMABUF_TIMEOUT after `timeout` ms. */
  wait(options: { timeout?: number } = {}): Promise<void> {
    const timeout = options.timeout === undefined ? -1 : v.integer(options.timeout, 'options.timeout');
    this.#live('wait');
    return this.#ready.wait(READABLE, timeout, 'SyncFile.wait');
  }

  /** Blocks until signalled; false when `timeoutMs` passed first (-1: no limit). */
  waitSync(timeoutMs = -1): boolean {
    v.integer(timeoutMs, 'timeoutMs', -1, 0x7fffffff);
    const b = native();
    return (b.poll(this.#live('waitSync'), b.constants.POLLIN, timeoutMs) & b.constants.POLLIN) !== 0;
  }

  /** SYNC_IOC_MERGE: a new sync_file that signals when both have. */
  merge(other: SyncFile, name = 'dmabuf-merge'): SyncFile {
    if (!(other instanceof SyncFile)) throw argType('other', 'an instance of SyncFile', other);
    v.str(name, 'name');
    return new SyncFile(native().syncFileMerge(this.#live('merge'), other.fd, name));
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#ready.close('SyncFile', 'wait');
    native().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
