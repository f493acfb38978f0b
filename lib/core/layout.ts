// Device constraints, the exporter's storage layout, and scatter-gather tables.
//
// A layout is the list of chunks the exporter's storage is made of (one memfd per
// chunk for udmabuf, one ArrayBuffer region per chunk for the memory exporter).
// A mapping's scatter-gather table splits the chunks further to honour a device's
// maxSegmentSize; a chunk is never merged with its neighbour.
import { DmaBufError, codes, argType, outOfRange } from '../platform/errors';
import { integer } from '../platform/validate';
import { PAGE_SIZE } from '../platform/uapi';

/** What a device can address. Every field is optional; absent means "no limit". */
export interface DeviceConstraints {
  /** Largest single segment the device can take, in bytes (>= page size). */
  maxSegmentSize?: number;
  /** Most segments the device can take in one table. */
  maxSegments?: number;
  /** The device needs the whole buffer as one segment. */
  contiguous?: boolean;
  /** Every segment's offset and length must be a multiple of this (a power of two). */
  alignment?: number;
}

/** A device (importer) as seen by an exporter: a name and its constraints. */
export interface Device extends DeviceConstraints {
  name: string;
}

export interface Segment {
  /** Offset of the segment in the buffer, in bytes. */
  offset: number;
  /** Length in bytes. */
  length: number;
}

export type Layout = readonly Segment[];

export function validateDevice(device: unknown): Device {
  if (device === null || typeof device !== 'object') throw argType('device', 'of type object', device);
  const d = device as Record<string, unknown>;
  if (typeof d.name !== 'string' || d.name === '') throw argType('device.name', 'a non-empty string', d.name);
  const out: Device = { name: d.name };
  if (d.maxSegmentSize !== undefined) {
    out.maxSegmentSize = integer(d.maxSegmentSize, 'device.maxSegmentSize', PAGE_SIZE);
  }
  if (d.maxSegments !== undefined) out.maxSegments = integer(d.maxSegments, 'device.maxSegments', 1);
  if (d.contiguous !== undefined) {
    if (typeof d.contiguous !== 'boolean') throw argType('device.contiguous', 'of type boolean', d.contiguous);
    out.contiguous = d.contiguous;
  }
  if (d.alignment !== undefined) {
    const a = integer(d.alignment, 'device.alignment', 1);
    if (!Number.isInteger(Math.log2(a))) throw outOfRange('device.alignment', 'a power of two', a);
    out.alignment = a;
  }
  return out;
}

/** Splits a size into `count` page-multiple chunks, as even as possible. */
export function evenLayout(size: number, count: number): Layout {
  const pages = size / PAGE_SIZE;
  const n = Math.max(1, Math.min(count, pages));
  const out: Segment[] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const length = (Math.floor((pages * (i + 1)) / n) - Math.floor((pages * i) / n)) * PAGE_SIZE;
    out.push({ offset, length });
    offset += length;
  }
  return out;
}

function segmentCap(c: DeviceConstraints): number {
  if (c.maxSegmentSize === undefined) return Infinity;
  const align = Math.max(c.alignment ?? 1, 1);
  return Math.floor(c.maxSegmentSize / align) * align;
}

/** The scatter-gather table of a layout for one device. */
export function sgTable(layout: Layout, c: DeviceConstraints): Segment[] {
  const cap = segmentCap(c);
  const out: Segment[] = [];
  for (const chunk of layout) {
    for (let off = 0; off < chunk.length; off += Math.min(cap, chunk.length - off)) {
      out.push({ offset: chunk.offset + off, length: Math.min(cap, chunk.length - off) });
    }
  }
  return out;
}

/** Why `layout` does not suit `device`, or null when it does. */
export function incompatibility(layout: Layout, device: Device): DmaBufError | null {
  const size = layout.reduce((n, s) => n + s.length, 0);
  const fail = (constraint: keyof DeviceConstraints, why: string) =>
    new DmaBufError(codes.INCOMPATIBLE, `device '${device.name}': ${constraint} cannot be met: ${why}`, {
      constraint,
      device: device.name,
    });
  const cap = segmentCap(device);
  if (device.contiguous && cap < size) {
    return fail('maxSegmentSize', `a contiguous buffer of ${size} bytes needs maxSegmentSize >= ${size} (has ${device.maxSegmentSize})`);
  }
  if (cap === 0) return fail('maxSegmentSize', `maxSegmentSize ${device.maxSegmentSize} is below the alignment ${device.alignment}`);
  if (device.contiguous && layout.length > 1) {
    return fail('contiguous', `the storage is made of ${layout.length} chunks`);
  }
  if (device.alignment !== undefined) {
    const bad = layout.find((s) => s.offset % device.alignment! !== 0 || s.length % device.alignment! !== 0);
    if (bad) return fail('alignment', `chunk at offset ${bad.offset} (length ${bad.length}) is not ${device.alignment}-byte aligned`);
  }
  if (device.maxSegments !== undefined) {
    const n = sgTable(layout, device).length;
    if (n > device.maxSegments)
      return fail('maxSegments', `the buffer needs ${n} segments, the device takes at most ${device.maxSegments}`);
  }
  return null;
}

/**
 * The layout the exporter allocates for these devices: the preferred one when every
 * device accepts it, else one chunk. Throws the first constraint no layout can meet.
 */
export function planLayout(size: number, preferred: Layout, devices: readonly Device[]): Layout {
  if (devices.every((d) => incompatibility(preferred, d) === null)) return preferred;
  const single: Layout = [{ offset: 0, length: size }];
  for (const d of devices) {
    const err = incompatibility(single, d);
    if (err) throw err;
  }
  return single;
}
