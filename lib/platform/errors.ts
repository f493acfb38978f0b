// Error codes and factories. Kernel failures keep Node's SystemError shape
// (code 'EINVAL', errno -22, syscall 'ioctl', ioctl 'DMA_BUF_IOCTL_SYNC');
// misuse of the object model gets an ERR_DMABUF_* code.
import { constants as osConstants } from 'node:os';

export const codes = {
  /** Use after release (last put(), close() or dispose). */
  CLOSED: 'ERR_DMABUF_CLOSED',
  /** map() without an attachment, or on a detached attachment. */
  NOT_ATTACHED: 'ERR_DMABUF_NOT_ATTACHED',
  /** detach() while the attachment still has mappings. */
  MAPPED: 'ERR_DMABUF_MAPPED',
  /** kmap outside a beginCpuAccess/endCpuAccess bracket. */
  NO_CPU_ACCESS: 'ERR_DMABUF_NO_CPU_ACCESS',
  /** The exporter does not implement this operation (e.g. mmap). */
  NOT_SUPPORTED: 'ERR_DMABUF_NOT_SUPPORTED',
  /** A device's constraints cannot be met by this buffer; `constraint` names which. */
  INCOMPATIBLE: 'ERR_DMABUF_INCOMPATIBLE',
  /** Storage cannot move because another process or fd holds the buffer. */
  SHARED: 'ERR_DMABUF_SHARED',
  /** The fd is not a dma-buf (nor a memfd where one is accepted). */
  NOT_DMABUF: 'ERR_DMABUF_NOT_DMABUF',
  /** The exporter asked for is not available on this machine. */
  UNAVAILABLE: 'ERR_DMABUF_UNAVAILABLE',
  /** The runtime forbids external ArrayBuffers; use read()/write(). */
  NO_EXTERNAL_BUFFERS: 'ERR_DMABUF_NO_EXTERNAL_BUFFERS',
  /** The native addon is not loadable here. */
  NO_NATIVE: 'ERR_DMABUF_NO_NATIVE',
  /** A frame pool was used out of order: submit without acquire, release twice, … */
  POOL_STATE: 'ERR_DMABUF_POOL_STATE',
  /** The fd is not a sync_file. */
  NOT_SYNC_FILE: 'ERR_DMABUF_NOT_SYNC_FILE',
  /** A wait (fences, outstanding mappings) ran out of time. */
  TIMEOUT: 'ERR_DMABUF_TIMEOUT',
  UNSAFE_TO_SHARE: 'ERR_DMABUF_UNSAFE_TO_SHARE', // a hugetlb memfd to or from another process: a hole punch there is SIGBUS here
  INVALID_ARG_TYPE: 'ERR_INVALID_ARG_TYPE',
  INVALID_ARG_VALUE: 'ERR_INVALID_ARG_VALUE',
  OUT_OF_RANGE: 'ERR_OUT_OF_RANGE',
} as const;

export type DmaBufErrorCode = (typeof codes)[keyof typeof codes];

/** An error of the object model. `code` is one of `codes`. */
export class DmaBufError extends Error {
  readonly code: string;
  constraint?: string;
  constructor(code: string, message: string, extra?: Record<string, unknown>) {
    super(message);
    this.name = code.startsWith('ERR_INVALID') || code === codes.OUT_OF_RANGE ? 'TypeError' : 'DmaBufError';
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}

export function closedError(what: string): DmaBufError {
  return new DmaBufError(codes.CLOSED, `${what}: the dma-buf has been released`);
}

export function argType(name: string, expected: string, value: unknown): DmaBufError {
  return new DmaBufError(codes.INVALID_ARG_TYPE, `The "${name}" argument must be ${expected}. Received ${describe(value)}`);
}

export function argValue(name: string, expected: string, value: unknown): DmaBufError {
  return new DmaBufError(codes.INVALID_ARG_VALUE, `The "${name}" argument must be ${expected}. Received ${describe(value)}`);
}

export function outOfRange(name: string, expected: string, value: unknown): DmaBufError {
  return new DmaBufError(codes.OUT_OF_RANGE, `The value of "${name}" is out of range. It must be ${expected}. Received ${describe(value)}`);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '…' : v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'function') return 'function';
  return `an instance of ${(v as object).constructor?.name ?? 'Object'}`;
}

/** Linux's EBADFD ("file descriptor in bad state"), which udmabuf returns; Node has no constant for it. */
const EBADFD = 77;

export interface SystemErrorFields {
  syscall: string;
  ioctl?: string;
  path?: string;
  fd?: number;
}

/**
 * A SystemError-shaped error made by the library itself: the fallback exporters use it
 * where the kernel would fail, with the kernel's errno, so both behave alike.
 */
export function systemError(
  code: keyof typeof osConstants.errno | 'EBADFD',
  fields: SystemErrorFields,
  detail?: string,
): NodeJS.ErrnoException {
  const errno = code === 'EBADFD' ? EBADFD : osConstants.errno[code];
  const what = fields.ioctl ? `${fields.syscall}(${fields.ioctl})` : fields.syscall;
  const err = new Error(
    `${code}: ${detail ?? 'invalid argument'}, ${what}${fields.path ? ` '${fields.path}'` : ''}`,
  ) as NodeJS.ErrnoException & SystemErrorFields;
  err.code = code;
  err.errno = -errno;
  Object.assign(err, fields);
  return err;
}

/** Adds advice to a kernel error's message, keeping its fields. */
export function withAdvice<E extends Error>(err: E, advice: string): E {
  err.message = `${err.message}. ${advice}`;
  return err;
}

export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
