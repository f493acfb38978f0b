// Every code the library gives its own errors, and the classes that carry them. A leaf
// module (no imports), so that the addon loader can throw ERR_DMABUF_NO_NATIVE too.
// Kernel failures are not here: they carry the errno's name ('EINVAL'); see errors.ts.

export const codes = {
  /** Use after release or close (of a dma-buf, sync_file, device, capture, frame pool). */
  CLOSED: 'ERR_DMABUF_CLOSED',
  /** map() without an attachment, or on a detached attachment. */
  NOT_ATTACHED: 'ERR_DMABUF_NOT_ATTACHED',
  /** detach() while the attachment still has mappings. */
  MAPPED: 'ERR_DMABUF_MAPPED',
  /** kmap outside a beginCpuAccess/endCpuAccess bracket. */
  NO_CPU_ACCESS: 'ERR_DMABUF_NO_CPU_ACCESS',
  /** The exporter does not implement this operation (e.g. fd on `memory`). */
  NOT_SUPPORTED: 'ERR_DMABUF_NOT_SUPPORTED',
  /** A device's constraints cannot be met by this buffer; `constraint` names which. */
  INCOMPATIBLE: 'ERR_DMABUF_INCOMPATIBLE',
  /** Storage cannot move because another process or fd holds the buffer. */
  SHARED: 'ERR_DMABUF_SHARED',
  /** The fd is not a dma-buf (nor a memfd where one is accepted). */
  NOT_DMABUF: 'ERR_DMABUF_NOT_DMABUF',
  /** The exporter or device asked for is not available on this machine. */
  UNAVAILABLE: 'ERR_DMABUF_UNAVAILABLE',
  /** The runtime forbids external ArrayBuffers; use read()/write(). */
  NO_EXTERNAL_BUFFERS: 'ERR_DMABUF_NO_EXTERNAL_BUFFERS',
  /** mmap()/kmap() of a read-only buffer (an fd opened O_RDONLY): use read(), which copies. */
  READ_ONLY: 'ERR_DMABUF_READ_ONLY',
  /** A CPU view or copy of a pixmap whose DRM format modifier is not DRM_FORMAT_MOD_LINEAR (tiled, compressed, or implicit). */
  NOT_LINEAR: 'ERR_DMABUF_NOT_LINEAR',
  /** A hugetlb memfd to or from another process: a hole punched there would be SIGBUS here; use udmabuf with hugetlb. */
  UNSAFE_TO_SHARE: 'ERR_DMABUF_UNSAFE_TO_SHARE',
  /** The native addon is not loadable here. */
  NO_NATIVE: 'ERR_DMABUF_NO_NATIVE',
  /** A frame pool was used out of order: submit without acquire, release twice, … */
  POOL_STATE: 'ERR_DMABUF_POOL_STATE',
  /** The fd is not a sync_file. */
  NOT_SYNC_FILE: 'ERR_DMABUF_NOT_SYNC_FILE',
  /** A wait (fences, outstanding mappings, a frame, a connection) ran out of time. */
  TIMEOUT: 'ERR_DMABUF_TIMEOUT',
  /** The channel is closed (by you, by the peer, or after an error): send() and queued sends. */
  CHANNEL_CLOSED: 'ERR_DMABUF_CHANNEL_CLOSED',
  /** send() found `highWaterMark` messages already waiting for the socket. */
  QUEUE_FULL: 'ERR_DMABUF_QUEUE_FULL',
  /** ('messageerror') A received message was dropped and its fds closed: not a channel message, or a buffer in it cannot be imported (`cause` says why). */
  BAD_MESSAGE: 'ERR_DMABUF_BAD_MESSAGE',
  /** TypeError: an argument of the wrong type. */
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  /** TypeError: an argument of the right type but a value that is not accepted. */
  INVALID_ARG_VALUE: 'ERR_INVALID_ARG_VALUE',
  /** RangeError: a number outside the accepted range. */
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
  /** TypeError: `new` on a class whose objects only the library makes (Channel, ChannelServer). */
  ILLEGAL_CONSTRUCTOR: 'ERR_ILLEGAL_CONSTRUCTOR',
} as const;

/** Every code in `codes`. */
export type DmaBufErrorCode = (typeof codes)[keyof typeof codes];
/** The codes a DmaBufError carries: every `ERR_DMABUF_*`. */
export type StateCode = Extract<DmaBufErrorCode, `ERR_DMABUF_${string}`>;
/** The codes that are TypeErrors, as in Node. */
export type TypeErrorCode = typeof codes.INVALID_ARG_TYPE | typeof codes.INVALID_ARG_VALUE | typeof codes.ILLEGAL_CONSTRUCTOR;
/** The codes that are RangeErrors, as in Node. */
export type RangeErrorCode = typeof codes.OUT_OF_RANGE;

/**
 * As Node's own errors do, shows the code in the stack's first line ("TypeError
 * [ERR_INVALID_ARG_TYPE]: …", what an uncaught error prints) without changing `name`.
 */
function codeInStack(err: Error, code: string): void {
  const name = err.name;
  Object.defineProperty(err, 'name', { value: `${name} [${code}]`, configurable: true, writable: true, enumerable: false });
  void err.stack; // formats the stack now, with that name
  delete (err as { name?: string }).name;
}

/** An error of the object model: `code` is one of the `ERR_DMABUF_*` codes. */
export class DmaBufError extends Error {
  readonly code: StateCode;
  /** ERR_DMABUF_INCOMPATIBLE, ERR_DMABUF_SHARED: which constraint cannot be met. */
  declare constraint?: string;
  constructor(code: StateCode, message: string, extra?: { cause?: unknown; [field: string]: unknown }) {
    const { cause, ...fields } = extra ?? {};
    super(message, extra && 'cause' in extra ? { cause } : undefined);
    this.code = code;
    Object.assign(this, fields);
    codeInStack(this, code);
  }
}
Object.defineProperty(DmaBufError.prototype, 'name', { value: 'DmaBufError', configurable: true, writable: true, enumerable: false });

/** A TypeError with a `code`, as Node makes ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_ILLEGAL_CONSTRUCTOR. */
export class DmaBufTypeError extends TypeError {
  readonly code: TypeErrorCode;
  constructor(code: TypeErrorCode, message: string) {
    super(message);
    this.code = code;
    codeInStack(this, code);
  }
}

/** A RangeError with a `code`, as Node makes ERR_OUT_OF_RANGE. */
export class DmaBufRangeError extends RangeError {
  readonly code: RangeErrorCode;
  constructor(code: RangeErrorCode, message: string) {
    super(message);
    this.code = code;
    codeInStack(this, code);
  }
}
