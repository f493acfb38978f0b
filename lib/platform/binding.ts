// The one loader of the native addon. Everything native is declared here; no `any`.
//
// Every native function is synchronous, validates its arguments (TypeError, code
// 'ERR_INVALID_ARG_TYPE'; RangeError, code 'ERR_OUT_OF_RANGE'), and turns a failed
// syscall into an Error shaped like Node's SystemError: `code` ('EINVAL'), `errno`
// (negative, -22), `syscall` ('ioctl', 'memfd_create', …), and where known `ioctl`
// ('UDMABUF_CREATE') and `path`.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';
import { DmaBufError, codes } from './codes';

/** exports.constants (native/constants.cc): what the C headers or the running kernel decide.
 *  Numbers the uapi headers fix for every architecture are in uapi.ts. */
export interface NativeConstants {
  readonly PAGE_SIZE: number;
  readonly MFD_CLOEXEC: number;
  readonly MFD_ALLOW_SEALING: number;
  readonly MFD_HUGETLB: number;
  readonly F_SEAL_SEAL: number;
  readonly F_SEAL_SHRINK: number;
  readonly F_SEAL_GROW: number;
  readonly F_SEAL_WRITE: number;
  readonly F_SEAL_FUTURE_WRITE: number;
  readonly O_RDONLY: number;
  readonly O_RDWR: number;
  readonly O_WRONLY: number;
  readonly O_ACCMODE: number;
  readonly O_CLOEXEC: number;
  readonly O_NONBLOCK: number;
  readonly POLLIN: number;
  readonly POLLOUT: number;
  readonly DMA_BUF_MAGIC: number;
  readonly UDMABUF_FLAGS_CLOEXEC: number;
}

export interface NativeStat {
  size: number;
  ino: number;
  mode: number;
  dev: number;
  rdev: number;
  nlink: number;
}

/** probeFd(fd): what fromFd() asks of an fd, in one call (see native/sys/fd.h). */
export interface NativeProbe {
  /** fcntl(F_GETFL), or -errno (-EBADF: not open; every other field then has its default). */
  flags: number;
  /** readlink /proc/self/fd/<fd>, '' if that failed. */
  link: string;
  /** fstatfs f_type, 0 if that failed. */
  fsType: number;
  /** fstat st_mode, st_ino, st_dev (zeroes if that failed). */
  mode: number;
  ino: number;
  dev: number;
  /** F_GET_SEALS (regular files on shmem or hugetlbfs only), or -errno. */
  seals: number;
  /** lseek(SEEK_END) as fdSize() (dma-bufs and memfds only), or -errno. */
  size: number;
  /** fdinfo exp_name of a /dmabuf: link on the dma-buf filesystem, or null. */
  expName: string | null;
}

/** One message from socketRecv. */
export interface NativeReceived {
  bytes: number;
  /** Received fds (O_CLOEXEC), owned by the caller. */
  fds: number[];
  /** MSG_TRUNC: the message was longer than `data`; the rest is lost. */
  truncated: boolean;
  /** End of stream: the peer shut down and everything it sent has been read. A record of
   *  0 bytes and no fds from a peer still there is not the end (eof false). */
  eof: boolean;
}

/** Readiness of an fd on the event loop (uv_poll_t). */
export interface NativeFdWatcher {
  /** Watch for UV_READABLE (1, POLLIN) and/or UV_WRITABLE (2, POLLOUT); idempotent. */
  start(events: number): void;
  stop(): void;
  /** Stops and frees the watcher; further start() fails with EBADF. */
  close(): void;
}

export interface NativeFenceInfo {
  objName: string;
  driverName: string;
  status: number;
  flags: number;
  timestampNs: bigint;
}

export interface NativeSyncFileInfo {
  name: string;
  status: number;
  flags: number;
  fences: NativeFenceInfo[];
}

/** One errno the addon knows: Linux's name for it and its description, as errors show them. */
export interface NativeErrno {
  /** Negative, as Node's `err.errno`: -22. */
  readonly errno: number;
  /** 'EINVAL'. */
  readonly code: string;
  /** 'invalid argument': libuv's words (uv_strerror), or strerror's, lower-cased, for errnos libuv does not know. */
  readonly description: string;
}

/** The syscalls whose errnos tests can inject (native/sys/seam.h). */
export type NativeSeamCall = 'ioctl' | 'sendmsg' | 'recvmsg';

/**
 * Internal, for tests only: the fault-injection seam under the sys layer. The kernel cannot
 * be made to return EINTR or EAGAIN on cue, so a test queues errnos that the calling
 * thread's next calls of one kind fail with, before (and instead of) the real call. Each
 * thread (the main thread, every worker) has its own queues.
 */
export interface NativeTesting {
  /** Queues positive errnos (1..4095, at most 64 pending per call) for this thread's next `call`s, in order. */
  injectErrno(call: NativeSeamCall, errnos: readonly number[]): void;
  /** Injected errnos this thread's `call`s have not taken yet. */
  pendingInjected(call: NativeSeamCall): number;
  /** Drops every errno this thread queued, for every call. */
  clearInjected(): void;
}

export interface NativeBinding {
  readonly constants: NativeConstants;
  /** Every errno name native/errors.cc knows: the table both native and JS errno errors are made from. */
  readonly errnos: readonly NativeErrno[];
  /** new FdWatcher(fd, cb): cb(status, events) runs on the event loop; status is 0 or -errno.
   *  Fails (EPERM, syscall uv_poll_init) for fds epoll cannot watch, such as memfds and regular files. */
  readonly FdWatcher: new (fd: number, callback: (status: number, events: number) => void) => NativeFdWatcher;

  // memfd and plain fds
  memfdCreate(name: string, flags: number): number;
  addSeals(fd: number, seals: number): void;
  getSeals(fd: number): number;
  ftruncate(fd: number, size: number): void;
  /** fallocate(2); tests use it to punch holes (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) as a peer could. */
  fallocate(fd: number, mode: number, offset: number, length: number): void;
  /** open(2) with O_CLOEXEC always added; the error carries `path`. */
  open(path: string, flags: number): number;
  close(fd: number): void;
  /** fcntl(F_DUPFD_CLOEXEC). */
  dup(fd: number): number;
  /** dup3(oldfd, newfd, O_CLOEXEC): atomically points newfd at oldfd's file. */
  dup2(oldfd: number, newfd: number): void;
  /**
   * This environment (the main thread, or a worker) now owns fd, taken over from a caller or
   * made by an ioctl. Every fd a native function makes is owned by the calling environment
   * already, and close() forgets it; whatever an environment still owns when it ends
   * (worker.terminate() runs no JS) is closed then, if it still names the same file.
   */
  ownFd(fd: number): void;
  /** fds this environment owns (for leak checks). */
  ownedFdCount(): number;
  /** lseek(fd, 0, SEEK_END), restoring SEEK_SET; falls back to fstat st_size on ESPIPE. */
  fdSize(fd: number): number;
  fstat(fd: number): NativeStat;
  /** fstatfs(fd).f_type (DMA_BUF_MAGIC for a dma-buf). */
  fstatfsType(fd: number): number;
  /** fcntl(F_GETFL). */
  getFlags(fd: number): number;
  /** fromFd's checks in one call: F_GETFL, readlink, fstatfs, fstat, seals, size, fdinfo exp_name. */
  probeFd(fd: number): NativeProbe;
  /** Which file fd is: out = [F_GETFL or -errno, st_dev, st_ino, st_size]. Makes no object. */
  fdIdentity(fd: number, out: Float64Array): void;
  /** poll(2) on one fd; returns revents (0 on timeout). Restarts on EINTR. */
  poll(fd: number, events: number, timeoutMs: number): number;

  // /dev/udmabuf and /dev/dma_heap/*
  /** UDMABUF_CREATE; returns the new dma-buf fd. */
  udmabufCreate(devFd: number, memfd: number, offset: number, size: number, flags: number): number;
  /** UDMABUF_CREATE_LIST; items is a flat list of [memfd, offset, size] triples. */
  udmabufCreateList(devFd: number, items: number[], flags: number): number;
  /** DMA_HEAP_IOCTL_ALLOC; returns the new dma-buf fd. */
  dmaHeapAlloc(heapFd: number, len: number, fdFlags: number, heapFlags: number): number;

  // dma-buf fd ioctls
  /** DMA_BUF_IOCTL_SYNC, restarted on EINTR/EAGAIN as the kernel asks. */
  dmaBufSync(fd: number, flags: number): void;
  /** DMA_BUF_SET_NAME_B. */
  dmaBufSetName(fd: number, name: string): void;
  /** DMA_BUF_IOCTL_EXPORT_SYNC_FILE; returns the sync_file fd. */
  dmaBufExportSyncFile(fd: number, flags: number): number;
  /** DMA_BUF_IOCTL_IMPORT_SYNC_FILE. */
  dmaBufImportSyncFile(fd: number, flags: number, syncFileFd: number): void;

  /** SYNC_IOC_FILE_INFO with every fence. status: 1 signalled, 0 active, < 0 error. */
  syncFileInfo(fd: number): NativeSyncFileInfo;
  /** SYNC_IOC_MERGE; returns the new sync_file fd. */
  syncFileMerge(fd: number, fd2: number, name: string): number;

  /**
   * ioctl(fd, request, data): the struct is read from and written back to `data`; returns the
   * ioctl's result. Only what the request number bounds is allowed:
   * - with a direction (_IOR/_IOW/_IOWR), `data` must hold at least _IOC_SIZE(request) bytes
   *   (RangeError ERR_OUT_OF_RANGE), and a size of 0 is refused (ERR_INVALID_ARG_VALUE);
   * - _IOC_NONE (_IO, and legacy numbers such as FIONREAD, TCGETS, SIOCGIFCONF, which encode
   *   no size yet write through a pointer) never gets a pointer: the kernel sees arg 0, and
   *   `data` must be empty (ERR_INVALID_ARG_VALUE otherwise). Integer arguments are not supported.
   */
  ioctl(fd: number, request: number, data: ArrayBufferView): number;

  // mappings: mmap(MAP_SHARED) returns a handle owned by this Node environment
  /** mmap(MAP_SHARED) of skip + length bytes at `offset`; views and copies see [skip, skip + length). */
  mmap(fd: number, length: number, offset: number, writable: boolean, skip?: number): number;
  /**
   * Detaches the mapping's view (if any), then munmaps. Unknown handle: EINVAL-shaped error.
   * If transfer() had moved a view's memory into another ArrayBuffer, the range is replaced by
   * anonymous memory instead (the file is released now; a stale view sees zeros), and
   * unmapped once the last ArrayBuffer over it is collected.
   */
  munmap(handle: number): void;
  /**
   * The mapping as an external ArrayBuffer, the same object on every call while mapped (a new
   * one if transfer() detached the last).
   * Throws code 'ERR_DMABUF_NO_EXTERNAL_BUFFERS' where the runtime forbids external
   * buffers (napi_no_external_buffers_allowed) or copy mode is forced, and
   * 'ERR_DMABUF_READ_ONLY' for a mapping made with writable false: JS has no read-only
   * ArrayBuffer, and a store into a PROT_READ mapping would kill the process (SIGSEGV).
   */
  mapView(handle: number): ArrayBuffer;
  /** Copies mapping[offset, offset + target.byteLength) into target. */
  mapRead(handle: number, offset: number, target: ArrayBufferView): void;
  /** Copies source into mapping[offset, offset + source.byteLength). */
  mapWrite(handle: number, offset: number, source: ArrayBufferView): void;
  /** Forces copy mode (true) or restores the runtime's own ability (false). */
  setCopyMode(forced: boolean): void;
  /** Whether mapView can hand out external ArrayBuffers here. */
  externalBuffersAllowed(): boolean;
  /**
   * Internal, for the loader: install(hooks, abi, mark) of the V8 fast path (dmabuf-v8-abi<N>.so)
   * fills in this environment's view hooks; from then on mapView makes views V8 does not count
   * as external memory and that only munmap can detach (transfer() throws a TypeError), and
   * calls mark(buffer) on each new one. Returns the ABI the fast path was built for. Throws,
   * leaving views as they were, if install throws or mappings already exist.
   */
  installViewHooks(install: unknown, abi: string, mark: (buffer: ArrayBuffer) => void): number;
  /** Number of live mappings in this environment (for leak checks). */
  mappingCount(): number;
  /**
   * Mappings unmapped while a view's memory had been moved out of reach by
   * ArrayBuffer.prototype.transfer(), in this process: their range is anonymous zeroed
   * memory (the dma-buf is released) until the last ArrayBuffer over it is collected.
   */
  parkedMappingCount(): number;

  // AF_UNIX SOCK_SEQPACKET sockets carrying fds (SCM_RIGHTS); every socket is
  // SOCK_NONBLOCK | SOCK_CLOEXEC. EAGAIN is a value (null), never thrown.
  /** socketpair(2): writes the two ends into out[0] and out[1] (out: an Int32Array of length ≥ 2). */
  socketPair(out: Int32Array): void;
  /** bind + listen on a filesystem path; a stale socket file (connect refused) is replaced, any other file is not. */
  socketListen(path: string, backlog: number, mode: number): number;
  /** A connected socket, or null when the listener's backlog is full (EAGAIN). */
  socketConnect(path: string): number | null;
  /** accept4, or null when no connection is pending. */
  socketAccept(fd: number): number | null;
  /** Checks fd is an AF_UNIX SOCK_SEQPACKET socket (ENOTSOCK / EPROTOTYPE otherwise); sets O_NONBLOCK and FD_CLOEXEC. */
  socketAdopt(fd: number): void;
  /** sendmsg(MSG_NOSIGNAL) of `data` with up to 253 fds (SCM_RIGHTS): bytes sent, or null when the socket is full. */
  socketSend(fd: number, data: ArrayBufferView, fds: readonly number[]): number | null;
  /**
   * recvmsg(MSG_CMSG_CLOEXEC) of one message into `data`, with room for maxFds (≤ 253) fds; null when
   * nothing is queued. `eof` marks the end of stream (not every 0-byte record is). `truncated`: MSG_TRUNC. On MSG_CTRUNC the
   * fds that arrived are closed and an EMSGSIZE error (syscall 'recvmsg', `closedFds`) is thrown.
   */
  socketRecv(fd: number, data: ArrayBufferView, maxFds: number): NativeReceived | null;
  /** SO_PEERCRED: the peer's credentials as of connect() / socketpair(). */
  socketPeerCred(fd: number): { pid: number; uid: number; gid: number };
  /** SO_ERROR: the pending socket error as a negative errno, or 0; reading it clears it. */
  socketError(fd: number): number;
  /** shutdown(2): how 0 (SHUT_RD), 1 (SHUT_WR), 2 (SHUT_RDWR). */
  socketShutdown(fd: number, how: number): void;
  // fds in transit to worker threads: one process-wide table
  /** Dups fd (F_DUPFD_CLOEXEC) and records the dup as in transit. */
  transferPut(fd: number): { fd: number; token: number };
  /** Takes an in-transit fd out of the table: true once (the caller and its environment now own fd), false after. */
  transferTake(fd: number, token: number): boolean;
  /** fds in transit (put, not yet taken). */
  transferPending(): number;

  /** Internal: fault injection for tests (NativeTesting). Never used by the library. */
  readonly _testing: NativeTesting;
}

let cached: NativeBinding | null | undefined;
let loadError: Error | undefined;

/** How mapView makes views in this thread: 'v8', the fast path, or 'node-api', with why not 'v8'. */
export interface ViewPath {
  path: 'v8' | 'node-api';
  /** Why the fast path is not used (absent when it is). */
  why?: string;
}
let viewPath: ViewPath = { path: 'node-api', why: 'the native addon is not loaded' };

/** The package root: dist/lib/platform/ → ../../.. */
const ROOT = join(__dirname, '..', '..', '..');

/**
 * node-gyp-build picks build/Release (a local build) or else the prebuild in
 * prebuilds/<platform>-<arch>/ that matches this runtime (Node-API, so one per
 * architecture serves Node 20-24 and Electron).
 */
function tryLoad(): NativeBinding | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const file = (require('node-gyp-build') as { path(dir: string): string }).path(ROOT);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require(file) as NativeBinding;
    // Copy mode (copy-mode.ts) from the environment, in each thread that loads the addon.
    if (process.env.DMABUF_COPY_MODE === '1') b.setCopyMode(true);
    viewPath = installV8Views(b, file);
    return b;
  } catch (err) {
    loadError = err as Error;
    return null;
  }
}

/**
 * The optional V8 fast path for views (native/v8/views.cc): a file beside the main addon,
 * built for exactly one Node ABI and named by it, so a Node of another ABI never loads it.
 * Any failure leaves views on Node-API, and says why.
 */
function installV8Views(b: NativeBinding, file: string): ViewPath {
  if (process.versions.electron !== undefined) return { path: 'node-api', why: 'Electron: the fast path is built for Node only' };
  if (process.env.DMABUF_V8_VIEWS === '0') return { path: 'node-api', why: 'DMABUF_V8_VIEWS=0' };
  const abi = process.versions.modules;
  const fast = join(dirname(file), `dmabuf-v8-abi${abi}.so`);
  if (!/^\d+$/.test(abi) || !existsSync(fast)) return { path: 'node-api', why: `no fast path built for this Node's ABI ${abi} (${fast})` };
  try {
    const m = { exports: {} as { install?: unknown } };
    process.dlopen(m, fast);
    b.installViewHooks(m.exports.install, abi, markAsUntransferable);
    return { path: 'v8' };
  } catch (err) {
    return { path: 'node-api', why: `the fast path did not load: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** How this thread's views are made (the addon loaded first). */
export function v8ViewPath(): ViewPath {
  nativeOrNull();
  return viewPath;
}

/** The addon, or null where it is not built or not loadable (non-Linux). */
export function nativeOrNull(): NativeBinding | null {
  if (cached === undefined) cached = process.platform === 'linux' ? tryLoad() : null;
  return cached;
}

/** The addon; throws ERR_DMABUF_NO_NATIVE with the reason when it cannot be loaded. */
export function native(): NativeBinding {
  const b = nativeOrNull();
  if (b) return b;
  const why =
    process.platform !== 'linux'
      ? `the native addon is Linux-only (this is ${process.platform})`
      : `the native addon could not be loaded (${loadError?.message ?? 'not built'}); reinstall with a C++ compiler present, or run "npm rebuild dmabuf"`;
  throw new DmaBufError(codes.NO_NATIVE, why);
}

/** Why native() would fail, or undefined when it loads. */
export function nativeLoadError(): Error | undefined {
  return nativeOrNull() ? undefined : loadError;
}
