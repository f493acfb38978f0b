// Argument checks shared by every exporter. Errors use Node's ERR_INVALID_ARG_* codes.
import { totalmem } from 'node:os';
import { argType, argValue, outOfRange } from './errors';
import { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_WRITE, PAGE_SIZE } from './uapi';

/** CPU access direction: DMA_BUF_SYNC_READ, _WRITE or _RW. */
export type CpuAccess = 'read' | 'write' | 'readwrite';
/** DMA direction of a mapping, as dma_data_direction. */
export type DmaDirection = 'to-device' | 'from-device' | 'bidirectional';

/** The DMA_BUF_SYNC_* direction bits of each CpuAccess. */
export const CPU_ACCESS_FLAGS: Readonly<Record<CpuAccess, number>> = Object.freeze({
  read: DMA_BUF_SYNC_READ,
  write: DMA_BUF_SYNC_WRITE,
  readwrite: DMA_BUF_SYNC_RW,
});
const DMA_DIRECTIONS: readonly DmaDirection[] = ['to-device', 'from-device', 'bidirectional'];

export function cpuAccess(dir: unknown, name = 'direction'): CpuAccess {
  if (typeof dir !== 'string') throw argType(name, "one of 'read', 'write', 'readwrite'", dir);
  if (!Object.hasOwn(CPU_ACCESS_FLAGS, dir)) throw argValue(name, "one of 'read', 'write', 'readwrite'", dir);
  return dir as CpuAccess;
}

export function dmaDirection(dir: unknown, name = 'direction'): DmaDirection {
  if (typeof dir !== 'string') throw argType(name, "one of 'to-device', 'from-device', 'bidirectional'", dir);
  if (!DMA_DIRECTIONS.includes(dir as DmaDirection)) throw argValue(name, "one of 'to-device', 'from-device', 'bidirectional'", dir);
  return dir as DmaDirection;
}

export function integer(v: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number') throw argType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, v);
  return v;
}

export function fd(v: unknown, name = 'fd'): number {
  return integer(v, name, 0, 0x7fffffff);
}

/** os.totalmem() reads /proc/meminfo (tens of µs): once is enough. */
let machineMemory: number | undefined;

/** A buffer size: a positive multiple of the page size, not beyond this machine's memory. */
export function bufferSize(v: unknown, name = 'size'): number {
  if (typeof v !== 'number') throw argType(name, 'of type number', v);
  if (!Number.isInteger(v) || v <= 0) throw outOfRange(name, `a positive integer multiple of the page size (${PAGE_SIZE})`, v);
  if (v % PAGE_SIZE !== 0)
    throw outOfRange(name, `a multiple of the page size (${PAGE_SIZE}); round up to ${Math.ceil(v / PAGE_SIZE) * PAGE_SIZE}`, v);
  const mem = (machineMemory ??= totalmem());
  if (v > mem) throw outOfRange(name, `no larger than this machine's memory (${mem} bytes)`, v);
  return v;
}

export function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw argType(name, 'of type boolean', v);
  return v;
}

export function str(v: unknown, name: string): string {
  if (typeof v !== 'string') throw argType(name, 'of type string', v);
  return v;
}

export function object<T extends object>(v: unknown, name: string): T {
  if (v === undefined) return {} as T;
  if (v === null || typeof v !== 'object') throw argType(name, 'of type object', v);
  return v as T;
}

export function view(v: unknown, name: string): ArrayBufferView {
  if (!ArrayBuffer.isView(v)) throw argType(name, 'an instance of Buffer, TypedArray, or DataView', v);
  return v;
}

/**
 * The bytes of a view. A view whose ArrayBuffer was detached (transferred, or a mapping
 * unmapped) has no bytes to give: ERR_INVALID_ARG_VALUE, not V8's code-less TypeError.
 */
export function bytes(v: unknown, name: string): Uint8Array {
  const t = view(v, name);
  // A Uint8Array (or Buffer) is used as it is: no allocation per read()/write(). Only an
  // empty one can be over a detached ArrayBuffer; the constructor below tells.
  if (t instanceof Uint8Array && t.byteLength > 0) return t;
  try {
    return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  } catch {
    throw argValue(name, 'a view whose ArrayBuffer is not detached', v);
  }
}

/** Checks [offset, offset + length) lies within size. */
export function range(offset: unknown, length: number, size: number, name = 'offset'): number {
  const off = integer(offset, name);
  if (off + length > size) throw outOfRange(name, `such that offset + length (${off} + ${length}) <= size (${size})`, off);
  return off;
}

export function page(v: unknown, size: number): number {
  return integer(v, 'page', 0, size / PAGE_SIZE - 1);
}
