// Handing a buffer to a worker thread. fds are process-wide, so a worker can own a dup of
// the buffer's fd; the memory exporter has no fd and shares its SharedArrayBuffer instead.
// Both forms are plain objects that postMessage / workerData clone as they are.
//
// An fd in transit is recorded in a process-wide table until fromTransferable() takes it
// (once: a second receiver of a copy of the same object gets ERR_DMABUF_CLOSED) or
// releaseTransferable() closes it. A transferable that is never received keeps its dup
// open until one of those, or until the process exits.
import { fromFd } from '../exporters/from-fd';
import { native } from '../platform/binding';
import { closeOnThrow } from '../platform/fds';
import { DmaBuf } from '../core/dma-buf';
import { DmaBufError, argType, argValue, codes } from '../platform/errors';
import { MemoryOps } from '../exporters/memory';
import * as v from '../platform/validate';

/** A buffer with an fd (udmabuf, dma-heap, import, memfd, custom exporters with an fd). */
export interface TransferableFd {
  readonly kind: 'dmabuf-fd';
  /** A dup of the buffer's fd, O_CLOEXEC, owned by whoever receives this. */
  readonly fd: number;
  /** Pairs the fd with its entry in the in-transit table. */
  readonly token: number;
  /** The sender's view; the receiver takes the size from the fd. */
  readonly size: number;
  readonly exporter: string;
}

/** A memory-exporter buffer allocated with { shared: true }. */
export interface TransferableMemory {
  readonly kind: 'dmabuf-memory';
  readonly buffer: SharedArrayBuffer;
  readonly size: number;
  readonly exporter: 'memory';
  readonly name: string;
}

export type TransferableDmaBuf = TransferableFd | TransferableMemory;

/**
 * A structured-clone-able description of `buf` for another thread of this process
 * (postMessage, workerData). fd buffers: a dup of the fd. Memory buffers: the
 * SharedArrayBuffer of a `{ shared: true }` buffer; a non-shared one → ERR_DMABUF_NOT_SUPPORTED.
 * `buf` stays yours and usable: both threads then see the same memory.
 */
export function toTransferable(buf: DmaBuf): TransferableDmaBuf {
  if (!(buf instanceof DmaBuf)) throw argType('buf', 'an instance of DmaBuf', buf);
  if (buf.closed) throw new DmaBufError(codes.CLOSED, 'toTransferable: the dma-buf has been released');
  let fd: number | undefined;
  try {
    fd = buf.fd;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== codes.NOT_SUPPORTED) throw err;
  }
  if (fd !== undefined) {
    const t = native().transferPut(fd);
    return { kind: 'dmabuf-fd', fd: t.fd, token: t.token, size: buf.size, exporter: buf.exporter };
  }
  let view: Uint8Array | null = null;
  try {
    view = buf.mmap();
  } catch {
    // no mmap: not shareable either
  }
  const sab = view?.buffer;
  if (sab instanceof SharedArrayBuffer && view!.byteOffset === 0 && sab.byteLength === buf.size) {
    return { kind: 'dmabuf-memory', buffer: sab, size: buf.size, exporter: 'memory', name: buf.name };
  }
  throw new DmaBufError(
    codes.NOT_SUPPORTED,
    `toTransferable: this '${buf.exporter}' buffer has neither an fd nor SharedArrayBuffer storage; ` +
      "allocate it with { exporter: 'memory', shared: true } to share it with worker threads",
  );
}

/**
 * The buffer a transferable describes, in the receiving thread. An fd is taken over (as
 * fromFd with takeOwnership: size from the fd, checked to be a dma-buf or memfd) and can
 * be received once; memory shares the SharedArrayBuffer (size from it).
 */
export function fromTransferable(t: TransferableDmaBuf): DmaBuf {
  const expected = 'an object made by toTransferable()';
  if (t === null || typeof t !== 'object') throw argType('transferable', expected, t);
  if (t.kind === 'dmabuf-fd') {
    v.fd(t.fd, 'transferable.fd');
    v.integer(t.token, 'transferable.token', 1);
    const b = native();
    if (!b.transferTake(t.fd, t.token)) {
      throw new DmaBufError(codes.CLOSED, `fromTransferable: fd ${t.fd} was already received or released; a transferable is received once`);
    }
    return closeOnThrow(t.fd, () => fromFd(t.fd, { takeOwnership: true }));
  }
  if (t.kind === 'dmabuf-memory') {
    if (!(t.buffer instanceof SharedArrayBuffer)) throw argType('transferable.buffer', 'a SharedArrayBuffer', t.buffer);
    const buf = new DmaBuf(new MemoryOps(t.buffer.byteLength, {}, t.buffer));
    if (typeof t.name === 'string' && t.name !== '') buf.setName(t.name);
    return buf;
  }
  throw argValue('transferable.kind', "'dmabuf-fd' or 'dmabuf-memory'", (t as { kind?: unknown }).kind);
}

/**
 * Closes the fd of a transferable nobody received (a worker that exited first, a message
 * never sent). Returns true if it was still in transit, false if it had been received or
 * released already (then nothing is closed, so this is safe to call in any case).
 */
export function releaseTransferable(t: TransferableDmaBuf): boolean {
  if (t === null || typeof t !== 'object') throw argType('transferable', 'an object made by toTransferable()', t);
  if (t.kind !== 'dmabuf-fd') return false;
  v.fd(t.fd, 'transferable.fd');
  v.integer(t.token, 'transferable.token', 1);
  const b = native();
  if (!b.transferTake(t.fd, t.token)) return false;
  b.close(t.fd);
  return true;
}

/** fds in transit in this process: made by toTransferable, not yet received or released. */
export function pendingTransfers(): number {
  return native().transferPending();
}
