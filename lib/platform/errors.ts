// The library's error factories. Shapes as Node core makes them:
// - kernel failures (and the fallback exporters' imitations of them) are SystemError-shaped
//   Errors: `code` 'EINVAL', `errno` -22, `syscall` 'ioctl', and where known `ioctl`, `path`,
//   `fd`; message "EINVAL: invalid argument, ioctl(DMA_BUF_IOCTL_SYNC)". In JS they come
//   from one factory, systemError(), fed by the errno table the addon's own ErrnoError
//   (native/errors.cc) uses, in the same format, so both agree to the letter
//   (test/05.errors checks it);
// - bad arguments are TypeErrors (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE) and
//   RangeErrors (ERR_OUT_OF_RANGE) worded as Node words them;
// - misuse of the object model is a DmaBufError with an ERR_DMABUF_* code.
// Messages are complete when the error is made; nothing rewrites them afterwards.
import { getSystemErrorMap, inspect } from 'node:util';
import { nativeOrNull } from './binding';
import { DmaBufError, DmaBufRangeError, DmaBufTypeError, codes } from './codes';

export { codes, DmaBufError, DmaBufTypeError, DmaBufRangeError };
export type { DmaBufErrorCode, StateCode } from './codes';

// ---- arguments --------------------------------------------------------------------

/** Node's "argument" or "property" (for a dotted name such as "options.size"). */
function noun(name: string): string {
  return name.includes('.') ? 'property' : 'argument';
}

/** What was received, as Node's ERR_INVALID_ARG_TYPE says it: "type number (5)", "an instance of Foo". */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof ctor === 'string' && ctor ? `an instance of ${ctor}` : inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** ERR_INVALID_ARG_TYPE: `The "name" argument must be <expected>. Received type number (5)`. */
export function argType(name: string, expected: string, value: unknown): DmaBufTypeError {
  return new DmaBufTypeError(codes.INVALID_ARG_TYPE, `The "${name}" ${noun(name)} must be ${expected}. Received ${describe(value)}`);
}

/** ERR_INVALID_ARG_VALUE: `The argument 'name' must be <expected>. Received 'x'`. */
export function argValue(name: string, expected: string, value: unknown): DmaBufTypeError {
  let shown: string;
  try {
    shown = inspect(value);
  } catch {
    shown = describe(value); // util.inspect throws on a DataView whose ArrayBuffer is detached
  }
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return new DmaBufTypeError(codes.INVALID_ARG_VALUE, `The ${noun(name)} '${name}' must be ${expected}. Received ${shown}`);
}

/** ERR_INVALID_ARG_VALUE where the value is best described in words (a table that is not mapped here). */
export function argValueMessage(message: string): DmaBufTypeError {
  return new DmaBufTypeError(codes.INVALID_ARG_VALUE, message);
}

/** Node's addNumericalSeparator: 4294967296 → 4_294_967_296. */
function separated(digits: string): string {
  const sign = digits.startsWith('-') ? '-' : '';
  const d = sign ? digits.slice(1) : digits;
  let out = '';
  for (let i = d.length; i > 0; i -= 3) out = `${d.slice(Math.max(0, i - 3), i)}${out ? `_${out}` : ''}`;
  return sign + out;
}

/** ERR_OUT_OF_RANGE: `The value of "name" is out of range. It must be <expected>. Received 5`. */
export function outOfRange(name: string, expected: string, value: unknown): DmaBufRangeError {
  let shown: string;
  if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) > 2 ** 32) shown = separated(String(value));
  else if (typeof value === 'bigint') shown = `${value > 2n ** 32n || value < -(2n ** 32n) ? separated(String(value)) : value}n`;
  else shown = inspect(value);
  return new DmaBufRangeError(codes.OUT_OF_RANGE, `The value of "${name}" is out of range. It must be ${expected}. Received ${shown}`);
}

/** ERR_OUT_OF_RANGE where the range is best described in words. */
export function outOfRangeMessage(message: string): DmaBufRangeError {
  return new DmaBufRangeError(codes.OUT_OF_RANGE, message);
}

/** ERR_ILLEGAL_CONSTRUCTOR (a TypeError, as in Node): `new` on a class only the library instantiates. */
export function illegalConstructor(use: string): DmaBufTypeError {
  return new DmaBufTypeError(codes.ILLEGAL_CONSTRUCTOR, `Illegal constructor: use ${use}`);
}

// ---- closed objects ---------------------------------------------------------------

/** How each kind of object says that it is closed. */
const closedStates = {
  DmaBuf: 'the dma-buf has been released',
  Attachment: 'its dma-buf has been released',
  SyncFile: 'the sync_file is closed',
  DrmDevice: 'the device is closed',
  V4l2Capture: 'the capture is closed',
  FrameProducer: 'the producer is closed',
  FrameConsumer: 'the consumer is closed',
  ImportedPixmap: 'the pixmap is closed',
} as const;

export type ClosedKind = keyof typeof closedStates;

/** ERR_DMABUF_CLOSED, naming the object and the operation: "SyncFile.wait: the sync_file is closed". */
export function closedError(kind: ClosedKind, op: string): DmaBufError {
  return new DmaBufError(codes.CLOSED, `${kind}.${op}: ${closedStates[kind]}`);
}

// ---- kernel failures --------------------------------------------------------------

/** What failed: the error's syscall/ioctl/path/fd properties and its message. */
export interface SystemErrorFields {
  syscall: string;
  ioctl?: string;
  path?: string;
  fd?: number;
}

/** A kernel failure, shaped as Node's SystemError. */
export interface SystemError extends Error, SystemErrorFields {
  /** Negative, as in Node: -22. */
  errno: number;
  /** The errno's name: 'EINVAL'. */
  code: string;
}

interface ErrnoTable {
  byErrno: Map<number, { code: string; description: string }>;
  byCode: Map<string, { errno: number; description: string }>;
}

/** Linux's EBADFD, which udmabuf returns; libuv (so util.getSystemErrorMap) has no name for it. */
const EBADFD = { errno: -77, code: 'EBADFD', description: 'file descriptor in bad state' };

let errnoTable: ErrnoTable | undefined;

/**
 * The errnos errors are made from: the addon's own table (native/errors.cc, the one that
 * makes native errors) or, where the addon cannot load, Node's util.getSystemErrorMap()
 * plus Linux's EBADFD.
 */
function table(): ErrnoTable {
  if (errnoTable) return errnoTable;
  const b = nativeOrNull();
  const entries = b ? b.errnos : [...getSystemErrorMap()].map(([errno, [code, description]]) => ({ errno, code, description }));
  const t: ErrnoTable = { byErrno: new Map(), byCode: new Map() };
  for (const { errno, code, description } of entries) {
    if (!t.byErrno.has(errno)) t.byErrno.set(errno, { code, description });
    if (!t.byCode.has(code)) t.byCode.set(code, { errno, description });
  }
  if (!b && process.platform === 'linux' && !t.byErrno.has(EBADFD.errno)) {
    t.byErrno.set(EBADFD.errno, EBADFD);
    t.byCode.set(EBADFD.code, EBADFD);
  }
  return (errnoTable = t);
}

/** Every errno this library names, as its errors carry them. */
export function errnos(): Array<{ errno: number; code: string; description: string }> {
  return [...table().byErrno].map(([errno, e]) => ({ errno, ...e }));
}

/**
 * The one errno error factory. `code` is an errno's name ('EINVAL') or a negative errno
 * (-22, as syscalls and libuv return them). The message is Node's,
 * "EINVAL: invalid argument, ioctl(DMA_BUF_IOCTL_SYNC) '/dev/x'", then " (detail)" saying
 * exactly what was wrong, then ". advice" saying what to do. The fallback exporters make
 * here the errors the kernel would (same errno, same shape as the addon's own).
 */
export function systemError(code: string | number, fields: SystemErrorFields, detail?: string, advice?: string): SystemError {
  const t = table();
  let errno: number;
  let name: string;
  let description: string;
  if (typeof code === 'number') {
    const e = t.byErrno.get(code);
    errno = code;
    name = e?.code ?? 'UNKNOWN';
    description = e?.description ?? `unknown error ${-code}`;
  } else {
    const e = t.byCode.get(code);
    if (!e) throw new Error(`dmabuf internal error: no errno is named ${code} here`);
    errno = e.errno;
    name = code;
    description = e.description;
  }
  let message = `${name}: ${description}, ${fields.syscall}`;
  if (fields.ioctl) message += `(${fields.ioctl})`;
  if (fields.path) message += ` '${fields.path}'`;
  if (detail) message += ` (${detail})`;
  if (advice) message += `. ${advice}`;
  const err = new Error(message) as SystemError;
  Error.captureStackTrace(err, systemError);
  // The properties in the order the addon sets them.
  err.errno = errno;
  err.code = name;
  err.syscall = fields.syscall;
  if (fields.ioctl !== undefined) err.ioctl = fields.ioctl;
  if (fields.path !== undefined) err.path = fields.path;
  if (fields.fd !== undefined) err.fd = fields.fd;
  return err;
}

/** Whether err is SystemError-shaped (a kernel failure, from the addon or systemError). */
export function isSystemError(err: unknown): err is SystemError {
  const e = err as Partial<SystemError> | null;
  return err instanceof Error && typeof e!.errno === 'number' && typeof e!.code === 'string' && typeof e!.syscall === 'string';
}

/**
 * The same kernel failure told with what the caller knows (which ioctl, which path, what
 * to do): a new error from systemError(), so its message is right from the start. Anything
 * that is not a kernel failure comes back unchanged.
 */
export function explained(err: unknown, more: Partial<SystemErrorFields> & { detail?: string; advice?: string }): unknown {
  if (!isSystemError(err)) return err;
  const { detail, advice, ...fields } = more;
  const { syscall, ioctl, path, fd } = err;
  return systemError(err.errno, { syscall, ioctl, path, fd, ...fields }, detail, advice);
}

export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
