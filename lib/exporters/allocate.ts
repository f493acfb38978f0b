// allocate(): checks the options, then the exporter they name makes the storage.
import { DmaBuf, installFactories } from '../core/dma-buf';
import { exporterFactory, type AllocateOptions } from './registry';
import * as v from '../platform/validate';
import { PAGE_SIZE } from '../platform/uapi';

/** Allocates a buffer of `size` bytes (a multiple of the page size). */
export function allocate(size: number, options: AllocateOptions = {}): DmaBuf {
  const opts = v.object<AllocateOptions>(options, 'options');
  v.bufferSize(size);
  if (opts.segments !== undefined) v.integer(opts.segments, 'options.segments', 1, size / PAGE_SIZE);
  v.bool(opts.deferred, 'options.deferred', false);
  v.bool(opts.hugetlb, 'options.hugetlb', false);
  if (opts.name !== undefined) v.str(opts.name, 'options.name');
  if (opts.memfd !== undefined) v.fd(opts.memfd, 'options.memfd');
  if (opts.offset !== undefined) v.integer(opts.offset, 'options.offset');
  const factory = exporterFactory(opts.exporter ?? 'auto');
  const buf = new DmaBuf(factory(size, opts));
  try {
    if (opts.name !== undefined) buf.setName(opts.name);
  } catch (err) {
    buf.close();
    throw err;
  }
  return buf;
}

installFactories({ allocate });
