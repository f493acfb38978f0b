// What channels and servers share: their options, the socket handles and the safety
// net that closes a socket dropped without close() (or left open by a worker's end).
import type { NativeFdWatcher } from '../../platform/binding';
import { closeQuietly } from '../../platform/fds';
import { SafetyNet } from '../../platform/safety-net';
import { systemError } from '../../platform/errors';
import * as v from '../../platform/validate';
import type { DmaBuf } from '../../core/dma-buf';

/** SO_PEERCRED: who is at the other end (as of connect(), or of socketpair() for a pair). */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** One received message. The buffers are yours: close them when done. */
export interface ChannelMessage {
  readonly buffers: DmaBuf[];
  /** The sender's payload after JSON.stringify/JSON.parse; undefined when it sent none. */
  readonly payload: unknown;
}

export interface ChannelOptions {
  /**
   * Messages that may wait, in each direction: outgoing ones for room in the socket (one
   * more send() rejects with ERR_DMABUF_QUEUE_FULL), incoming ones for a reader (reading
   * then stops, so the kernel's buffer fills and the sender feels it). Default 16.
   */
  highWaterMark?: number;
  /**
   * Recognise a buffer that comes back. A buffer arriving while an earlier delivery of the
   * same file (same inode, size and access mode) is still open on this channel is delivered
   * as that same DmaBuf, with one more reference (`get()`): its fd, mapping and `mmap()` view
   * are reused, and no new external memory is made (a first view of 64 MiB or more starts
   * V8's incremental marking). Drop each delivery with `put()`; `close()` releases it for all.
   * Default false: every delivery is a new DmaBuf.
   */
  reuse?: boolean;
}

export interface ChannelFromFdOptions extends ChannelOptions {
  /** Take over `fd` (closed with the channel) instead of dup'ing it. Default false. */
  takeOwnership?: boolean;
}

export interface ListenOptions extends ChannelOptions {
  /** listen(2) backlog. Default 128. */
  backlog?: number;
  /**
   * Mode of the socket file (connecting needs write permission on it), set before
   * listen(2). Default 0o600: only this user (and root) can connect.
   */
  mode?: number;
  /**
   * Decides who may connect, from SO_PEERCRED; a refused connection is closed at once and
   * reported as 'refused'. Default: only peers running as this process's effective uid.
   */
  accept?: (peer: PeerCredentials) => boolean;
}

export interface ConnectOptions extends ChannelOptions {
  /** Milliseconds to keep retrying while the listener's backlog is full (EAGAIN). Default 10000. */
  timeout?: number;
}

export const UV_READABLE = 1;
export const UV_WRITABLE = 2;
export const UV_DISCONNECT = 4;
/** Messages (or connections) handled per readiness callback, so one busy peer cannot starve the loop. */
export const BATCH = 64;
const DEFAULT_HWM = 16;

/** Only this module's friends construct channels and servers. */
export const kCreate = Symbol('create');

/** A socket and its watcher. The watcher is held weakly: it holds its channel through its callback. */
export interface Handle {
  fd: number;
  watcher: WeakRef<NativeFdWatcher>;
}

/** Closes the watcher, then the fd: libuv must never watch an fd that is already closed. */
export function closeHandle(h: Handle): void {
  h.watcher.deref()?.close();
  if (h.fd < 0) return;
  const fd = h.fd;
  h.fd = -1;
  closeQuietly([fd]); // nothing to report to
}

/** Closes a socket a channel or server dropped without close(), or left open at a worker thread's end. */
export const sockets = new SafetyNet<Handle>(closeHandle);

/** The errors that mean the other end is gone. */
export function isPeerGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ENOTCONN';
}

export function errnoError(errno: number, syscall: string, fd: number, detail?: string): NodeJS.ErrnoException {
  return systemError(errno, { syscall, fd }, detail);
}

export function reuseOption(o: ChannelOptions): boolean {
  return v.bool(o.reuse, 'options.reuse', false);
}

export function hwmOption(o: ChannelOptions): number {
  return o.highWaterMark === undefined ? DEFAULT_HWM : v.integer(o.highWaterMark, 'options.highWaterMark', 0, 1 << 16);
}
