// Exporter names: the built-in exporters, 'auto', and custom ones from registerExporter().
import { capabilities, type BuiltinExporter } from './capabilities';
import { argType, argValue, systemError } from '../platform/errors';
import { withDup } from '../platform/fds';
import { memfdProblem } from './memfd-util';
import { native } from '../platform/binding';
import { DmaHeapOps, type DmaHeapOptions } from './dma-heap';
import { MemfdOps } from './memfd';
import { UdmabufOps, type UdmabufOptions } from './udmabuf';
import { MemoryOps, type MemoryOptions } from './memory';
import type { DmaBufOps } from '../core/ops';
import * as v from '../platform/validate';
import { PAGE_SIZE } from '../platform/uapi';

/** allocate()'s options: every built-in exporter's, and the choice of exporter. */
export interface AllocateOptions extends UdmabufOptions, Omit<DmaHeapOptions, 'deferred'>, MemoryOptions {
  /** 'auto' (default) tries udmabuf → dma-heap → memfd → memory; the choice is `buf.exporter`. */
  exporter?: 'auto' | BuiltinExporter | (string & {});
  /** A name (DMA_BUF_SET_NAME_B), at most 31 bytes. */
  name?: string;
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
  const probe = native().probeFd(memfd);
  const p = memfdProblem(memfd, 0, size, PAGE_SIZE, probe);
  if (p) throw systemError(p.code, { syscall: 'fcntl', fd: memfd }, p.why);
  return withDup(memfd, false, (own) => new MemfdOps(size, {}, own, probe));
}

/** Makes `allocate(size, { exporter: name })` use your exporter. */
export function registerExporter(name: string, factory: ExporterFactory): void {
  v.str(name, 'name');
  if (typeof factory !== 'function') throw argType('factory', 'a function', factory);
  if (name === 'auto' || name === 'import' || Object.hasOwn(builtin, name)) throw argValue('name', 'not a built-in exporter name', name);
  custom.set(name, factory);
}

/** The factory `options.exporter` names; 'auto' is the first exporter this machine offers. */
export function exporterFactory(want: unknown): ExporterFactory {
  if (typeof want !== 'string') throw argType('options.exporter', 'a string', want);
  const name = want === 'auto' ? capabilities().auto : want;
  // Own properties only: '__proto__', 'toString' and the like name no built-in exporter.
  const factory = custom.get(name) ?? (Object.hasOwn(builtin, name) ? builtin[name as BuiltinExporter] : undefined);
  if (!factory) {
    throw argValue('options.exporter', `'auto', ${[...Object.keys(builtin), ...custom.keys()].map((n) => `'${n}'`).join(', ')}`, want);
  }
  return factory;
}
