// allocate() and fromFd(): the built-in exporters, 'auto', and custom exporters.
import { native } from '../platform/binding';
import { withDup } from '../platform/fds';
import { capabilities, type BuiltinExporter } from './capabilities';
import { DmaBuf, installFactories } from '../core/dma-buf';
import { argType, argValue, systemError } from '../platform/errors';
import { memfdProblem } from './memfd-util';
import { DmaHeapOps, type DmaHeapOptions } from './dma-heap';
import { checkImportable, ImportOps } from './import';
import { MemfdOps } from './memfd';
import { UdmabufOps, type UdmabufOptions } from './udmabuf';
import { MemoryOps, type MemoryOptions } from './memory';
import type { DmaBufOps } from '../core/ops';
import * as v from '../platform/validate';

export interface AllocateOptions extends UdmabufOptions, Omit<DmaHeapOptions, 'deferred'>, MemoryOptions {
  /** 'auto' (default) tries udmabuf → dma-heap → memfd → memory; the choice is `buf.exporter`. */
  exporter?: 'auto' | BuiltinExporter | (string & {});
  /** A name (DMA_BUF_SET_NAME_B), at most 31 bytes. */
  name?: string;
}

export interface FromFdOptions {
  /** Take over `fd` (it is closed on release) instead of dup'ing it. Default false. */
  takeOwnership?: boolean;
}

export type ExporterFactory = (size: number, options: AllocateOptions) => DmaBufOps;

const custom = new Map<string, ExporterFactory>();
const builtin: Record<BuiltinExporter, ExporterFactory> = {
  udmabuf: (size, o) => new UdmabufOps(size, o),
  'dma-heap': (size, o) => new DmaHeapOps(size, o),
  memfd: (size, o) => (o.memfd === undefined ? new MemfdOps(size, o) : adoptMemfd(size, o.memfd)),
  memory: (size, o) => new MemoryOps(size, o),
};

/** The memfd exporter over a dup of the caller's memfd (checked as udmabuf checks it). */
function adoptMemfd(size: number, memfd: number): DmaBufOps {
  const p = memfdProblem(memfd, 0, size, v.PAGE_SIZE);
  if (p) throw systemError(p.code, { syscall: 'fcntl', fd: memfd }, p.why);
  return withDup(memfd, false, (own) => new MemfdOps(size, {}, own));
}

/** Makes `allocate(size, { exporter: name })` use your exporter. */
export function registerExporter(name: string, factory: ExporterFactory): void {
  v.str(name, 'name');
  if (typeof factory !== 'function') throw argType('factory', 'a function', factory);
  if (name === 'auto' || name === 'import' || name in builtin) throw argValue('name', 'not a built-in exporter name', name);
  custom.set(name, factory);
}

/** Allocates a buffer of `size` bytes (a multiple of the page size). */
export function allocate(size: number, options: AllocateOptions = {}): DmaBuf {
  const opts = v.object<AllocateOptions>(options, 'options');
  v.bufferSize(size);
  if (opts.segments !== undefined) v.integer(opts.segments, 'options.segments', 1, size / v.PAGE_SIZE);
  v.bool(opts.deferred, 'options.deferred', false);
  v.bool(opts.hugetlb, 'options.hugetlb', false);
  if (opts.name !== undefined) v.str(opts.name, 'options.name');
  if (opts.memfd !== undefined) v.fd(opts.memfd, 'options.memfd');
  if (opts.offset !== undefined) v.integer(opts.offset, 'options.offset');
  const want = opts.exporter ?? 'auto';
  if (typeof want !== 'string') throw argType('options.exporter', 'a string', want);
  const name = want === 'auto' ? capabilities().auto : want;
  const factory = custom.get(name) ?? (builtin as Record<string, ExporterFactory>)[name];
  if (!factory) {
    throw argValue('options.exporter', `'auto', ${[...Object.keys(builtin), ...custom.keys()].map((n) => `'${n}'`).join(', ')}`, want);
  }
  const buf = new DmaBuf(factory(size, opts));
  try {
    if (opts.name !== undefined) buf.setName(opts.name);
  } catch (err) {
    buf.close();
    throw err;
  }
  return buf;
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
  const kind = checkImportable(fd, true);
  return withDup(fd, take, (own) => {
    const size = native().fdSize(own);
    return new DmaBuf(kind === 'dmabuf' ? new ImportOps(own, size) : new MemfdOps(size, {}, own));
  });
}

installFactories({ allocate, fromFd });
