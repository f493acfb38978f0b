// Electron's shared textures on Linux, in both directions. Offscreen rendering with
// `useSharedTexture` hands out `texture.textureInfo.handle.nativePixmap`
// ({ planes: [{ fd, stride, offset, size }], modifier, supportsZeroCopyWebGpuImport }), whose
// fds die at `texture.release()`: importNativePixmap() dups them into DmaBufs. The other way,
// toNativePixmap() describes a frame of ours as the options `sharedTexture.importSharedTexture`
// takes, and gives the frame back to its pool once Electron has released every reference.
import { DmaBuf, inCpuAccess, type CpuAccessGuard } from '../core/dma-buf';
import { fromFd } from '../exporters/from-fd';
import { ReceivedFrame, kHold } from '../sharing/pool';
import { copyMode } from '../platform/copy-mode';
import {
  DmaBufError,
  argType,
  argValue,
  argValueMessage,
  closedError,
  codes,
  outOfRange,
  outOfRangeMessage,
  systemError,
} from '../platform/errors';
import { fdKind } from '../platform/fdinfo';
import * as v from '../platform/validate';
import type { CpuAccess } from '../platform/validate';

/** Electron's pixel formats (SharedTextureImportTextureInfo.pixelFormat). */
export type PixelFormat = 'rgba' | 'bgra' | 'rgbaf16' | 'nv12' | 'nv16' | 'p010le';

/** One plane of Electron's nativePixmap. */
export interface NativePixmapPlane {
  fd: number;
  stride: number;
  offset: number;
  size: number;
}

/** Electron's `textureInfo.handle.nativePixmap` (SharedTextureHandle, Linux). */
export interface NativePixmap {
  planes: NativePixmapPlane[];
  /** The DRM format modifier, a 64-bit number in decimal ('0' is DRM_FORMAT_MOD_LINEAR). */
  modifier: string;
  supportsZeroCopyWebGpuImport: boolean;
}

export interface Size {
  width: number;
  height: number;
}

/** What importNativePixmap needs of the texture: `texture.textureInfo` itself will do. */
export interface PixmapInfo {
  pixelFormat: PixelFormat;
  codedSize: Size;
}

/** Electron's SharedTextureImportTextureInfo, for a nativePixmap. */
export interface SharedTextureInfo {
  pixelFormat: PixelFormat;
  codedSize: Size;
  visibleRect: { x: number; y: number; width: number; height: number };
  timestamp?: number;
  handle: { nativePixmap: NativePixmap };
}

/** The options of Electron's `sharedTexture.importSharedTexture()`. */
export interface ImportSharedTextureOptions {
  textureInfo: SharedTextureInfo;
  /** Electron calls it once every process has released the texture; the frame then goes back to its pool. Idempotent. */
  allReferencesReleased: () => void;
}

export interface ToNativePixmapOptions extends PixmapInfo {
  /** Bytes per row of every plane (default: the widest plane's row, unpadded); some GPUs want 64 or 256. */
  stride?: number;
  /** Where the first plane starts in the buffer (default 0); the others follow it. */
  offset?: number;
  /** Microseconds, passed on to the VideoFrame Electron makes. */
  timestamp?: number;
}

/** DRM_FORMAT_MOD_LINEAR: rows one after another, as a CPU reads them. */
export const DRM_FORMAT_MOD_LINEAR = 0n;
/** DRM_FORMAT_MOD_INVALID: no modifier; the layout is whatever the driver chose (implicit). */
export const DRM_FORMAT_MOD_INVALID = (1n << 56n) - 1n;

interface PlaneGeometry {
  /** Bytes per block of one row (a pixel, or a 2×1 / 2×2 chroma pair). */
  bytes: number;
  /** Horizontal and vertical subsampling. */
  h: number;
  v: number;
}

const FORMATS: Readonly<Record<PixelFormat, { fourcc: string; planes: readonly PlaneGeometry[] }>> = {
  rgba: { fourcc: 'AB24', planes: [{ bytes: 4, h: 1, v: 1 }] }, // DRM_FORMAT_ABGR8888: bytes R, G, B, A
  bgra: { fourcc: 'AR24', planes: [{ bytes: 4, h: 1, v: 1 }] }, // DRM_FORMAT_ARGB8888: bytes B, G, R, A
  rgbaf16: { fourcc: 'AB4H', planes: [{ bytes: 8, h: 1, v: 1 }] }, // DRM_FORMAT_ABGR16161616F
  nv12: {
    fourcc: 'NV12',
    planes: [
      { bytes: 1, h: 1, v: 1 },
      { bytes: 2, h: 2, v: 2 },
    ],
  },
  nv16: {
    fourcc: 'NV16',
    planes: [
      { bytes: 1, h: 1, v: 1 },
      { bytes: 2, h: 2, v: 1 },
    ],
  },
  p010le: {
    fourcc: 'P010',
    planes: [
      { bytes: 2, h: 1, v: 1 },
      { bytes: 4, h: 2, v: 2 },
    ],
  },
};

/** Vendors of format modifiers (the top 8 bits), as drm_fourcc.h numbers them. */
const VENDORS = ['NONE', 'INTEL', 'AMD', 'NVIDIA', 'SAMSUNG', 'QCOM', 'VIVANTE', 'BROADCOM', 'ARM', 'ALLWINNER', 'AMLOGIC'];

/** Electron's largest texture side is far below this; it keeps every product a safe integer. */
const MAX_SIDE = 1 << 15;
/** DRM planes per framebuffer (drm_mode_fb_cmd2). */
const MAX_PLANES = 4;

function pixelFormat(value: unknown, name: string): PixelFormat {
  if (typeof value !== 'string') throw argType(name, 'of type string', value);
  if (!Object.hasOwn(FORMATS, value)) throw argValue(name, `one of ${Object.keys(FORMATS).join(', ')}`, value);
  return value as PixelFormat;
}

function size(value: unknown, name: string): Size {
  if (value === null || typeof value !== 'object') throw argType(name, 'an object { width, height }', value);
  const { width, height } = value as Partial<Size>;
  return { width: v.integer(width, `${name}.width`, 1, MAX_SIDE), height: v.integer(height, `${name}.height`, 1, MAX_SIDE) };
}

function info(value: unknown, name: string): PixmapInfo {
  if (value === null || typeof value !== 'object') throw argType(name, 'an object { pixelFormat, codedSize }', value);
  const o = value as Partial<PixmapInfo>;
  return { pixelFormat: pixelFormat(o.pixelFormat, `${name}.pixelFormat`), codedSize: size(o.codedSize, `${name}.codedSize`) };
}

/** A modifier as Electron gives it (a decimal string), or a bigint. */
function modifier(value: unknown, name: string): bigint {
  let m: bigint;
  if (typeof value === 'bigint') m = value;
  else if (typeof value === 'string' && /^[0-9]{1,20}$/.test(value)) m = BigInt(value);
  else if (typeof value === 'string') throw argValue(name, 'a 64-bit number in decimal, as Electron gives it', value);
  else throw argType(name, 'a string (or a bigint)', value);
  if (m < 0n || m >= 1n << 64n) throw outOfRange(name, '>= 0 and < 2 ** 64', m);
  return m;
}

function hex(m: bigint): string {
  return `0x${m.toString(16).padStart(16, '0')}`;
}

/** Why a CPU view or copy of this modifier is refused, or null for DRM_FORMAT_MOD_LINEAR. */
function nonLinear(m: bigint): string | null {
  if (m === DRM_FORMAT_MOD_LINEAR) return null;
  if (m === DRM_FORMAT_MOD_INVALID) {
    return 'is DRM_FORMAT_MOD_INVALID: the layout is implicit (whatever the driver chose), so it cannot be known to be linear';
  }
  const vendor = VENDORS[Number(m >> 56n)] ?? `vendor ${Number(m >> 56n)}`;
  return `is ${hex(m)} (${vendor}), not DRM_FORMAT_MOD_LINEAR (0): the GPU keeps these bytes in tiles or compressed, so a CPU view or copy would show them scrambled`;
}

interface PlaneIn extends NativePixmapPlane {
  index: number;
}

/** Reads every field once (a getter cannot change its answer between check and use). */
function planesOf(value: unknown, name: string): PlaneIn[] {
  if (!Array.isArray(value)) throw argType(name, 'an array of { fd, stride, offset, size }', value);
  if (value.length === 0 || value.length > MAX_PLANES) throw argValue(name, `1 to ${MAX_PLANES} planes`, value);
  return (value as unknown[]).map((p, index) => {
    const at = `${name}[${index}]`;
    if (p === null || typeof p !== 'object') throw argType(at, 'an object { fd, stride, offset, size }', p);
    const o = p as Partial<NativePixmapPlane>;
    return {
      index,
      fd: v.fd(o.fd, `${at}.fd`),
      stride: v.integer(o.stride, `${at}.stride`, 0, 0xffffffff),
      offset: v.integer(o.offset, `${at}.offset`),
      size: v.integer(o.size, `${at}.size`, 1),
    };
  });
}

/** Bytes one row of a plane holds, and its rows. */
function geometry(g: PlaneGeometry, s: Size): { rowBytes: number; rows: number; width: number } {
  const width = Math.ceil(s.width / g.h);
  return { width, rowBytes: width * g.bytes, rows: Math.ceil(s.height / g.v) };
}

/** A CPU-access bracket over every buffer of a pixmap; end() (or dispose) ends them all once. */
export class PixmapCpuAccess implements Disposable {
  #guards: CpuAccessGuard[] | null;
  /** @internal */
  constructor(guards: CpuAccessGuard[]) {
    this.#guards = guards;
  }
  end(): void {
    const guards = this.#guards;
    this.#guards = null;
    for (const g of guards ?? []) g.end();
  }
  [Symbol.dispose](): void {
    this.end();
  }
}

/** One plane of an imported pixmap: where it lies in its buffer and how its rows run. */
export class PixmapPlane {
  readonly #pixmap: ImportedPixmap;
  /** @internal */
  constructor(
    pixmap: ImportedPixmap,
    readonly index: number,
    readonly buffer: DmaBuf,
    readonly offset: number,
    readonly stride: number,
    readonly size: number,
    /** Samples per row (pixels; chroma pairs for the UV plane of nv12, nv16, p010le). */
    readonly width: number,
    /** Rows. */
    readonly height: number,
    /** Bytes of a row's samples (stride minus padding). */
    readonly rowBytes: number,
  ) {
    this.#pixmap = pixmap;
  }

  /** The plane's bytes, zero-copy: [offset, offset + size) of the buffer's mmap(). Linear
   *  pixmaps only; in copy mode ERR_DMABUF_NO_EXTERNAL_BUFFERS (use read()/write()). */
  view(): Uint8Array {
    this.#pixmap.check('view');
    try {
      return this.buffer.mmap().subarray(this.offset, this.offset + this.size);
    } catch (err) {
      if ((err as DmaBufError).code !== codes.NO_EXTERNAL_BUFFERS) throw err;
      throw new DmaBufError(
        codes.NO_EXTERNAL_BUFFERS,
        `PixmapPlane.view: copy mode is on (${copyMode().why ?? 'forced'}); use plane.read(offset, target) and plane.write(offset, source), which copy`,
        { cause: err },
      );
    }
  }

  /** Copies plane bytes [offset, offset + target.byteLength) into target, inside the pixmap's
   *  read bracket if one is open (cpuAccess('read')), else inside one of its own. */
  read(offset: number, target: ArrayBufferView): void {
    this.#copy('read', offset, target);
  }

  /** Copies source into the plane at offset, inside the pixmap's write bracket if one is open, else one of its own. */
  write(offset: number, source: ArrayBufferView): void {
    this.#copy('write', offset, source);
  }

  #copy(what: 'read' | 'write', offset: number, bytes: ArrayBufferView): void {
    const b = v.bytes(bytes, what === 'read' ? 'target' : 'source');
    const off = v.range(offset, b.byteLength, this.size);
    this.#pixmap.check(what);
    const write = what === 'write';
    const buf = this.buffer;
    if (inCpuAccess(buf, write)) {
      if (write) buf.write(this.offset + off, b);
      else buf.read(this.offset + off, b);
      return;
    }
    buf.beginCpuAccess(what);
    try {
      if (write) buf.write(this.offset + off, b);
      else buf.read(this.offset + off, b);
    } finally {
      buf.endCpuAccess(what);
    }
  }
}

/** A nativePixmap taken over from Electron: one DmaBuf per distinct fd (a dup), its planes, its format. */
export class ImportedPixmap implements Disposable {
  readonly pixelFormat: PixelFormat;
  /** The DRM fourcc of the pixel format ('AB24' for rgba, 'AR24' for bgra, 'NV12', …). */
  readonly fourcc: string;
  readonly codedSize: Readonly<Size>;
  readonly modifier: bigint;
  /** modifier === DRM_FORMAT_MOD_LINEAR: the only layout a CPU view or copy is allowed on. */
  readonly linear: boolean;
  readonly supportsZeroCopyWebGpuImport: boolean;
  /** The distinct buffers, in the order their fds first appear in the planes. */
  readonly buffers: readonly DmaBuf[];
  readonly planes: readonly PixmapPlane[];
  #closed = false;

  /** @internal */
  constructor(fmt: PixmapInfo, m: bigint, zeroCopy: boolean, buffers: DmaBuf[], planes: Array<PlaneIn & { buffer: DmaBuf }>) {
    this.pixelFormat = fmt.pixelFormat;
    this.fourcc = FORMATS[fmt.pixelFormat].fourcc;
    this.codedSize = Object.freeze({ ...fmt.codedSize });
    this.modifier = m;
    this.linear = m === DRM_FORMAT_MOD_LINEAR;
    this.supportsZeroCopyWebGpuImport = zeroCopy;
    this.buffers = Object.freeze(buffers);
    const geo = FORMATS[fmt.pixelFormat].planes;
    this.planes = Object.freeze(
      planes.map((p) => {
        // Aux planes of a compressed layout (beyond the format's own) have no row geometry.
        const g = geo[p.index] ? geometry(geo[p.index], fmt.codedSize) : { width: 0, rows: 0, rowBytes: 0 };
        return new PixmapPlane(this, p.index, p.buffer, p.offset, p.stride, p.size, g.width, g.rows, g.rowBytes);
      }),
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Begins CPU access on every buffer (DMA_BUF_IOCTL_SYNC START); the guard ends it. Plane
   *  copies inside it need no bracket of their own. */
  cpuAccess(direction: CpuAccess): PixmapCpuAccess {
    const dir = v.cpuAccess(direction);
    this.check('cpuAccess');
    const guards: CpuAccessGuard[] = [];
    try {
      for (const b of this.buffers) guards.push(b.cpuAccess(dir));
    } catch (err) {
      for (const g of guards) g.end();
      throw err;
    }
    return new PixmapCpuAccess(guards);
  }

  /** Closes the dups (idempotent); Electron's own fds are not touched. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.buffers) b.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Refuses CPU access to a closed or non-linear pixmap. */
  check(what: string): void {
    if (this.#closed) throw closedError('ImportedPixmap', what);
    const why = nonLinear(this.modifier);
    if (why) {
      throw new DmaBufError(
        codes.NOT_LINEAR,
        `${what}: this pixmap's modifier ${why}. Hand it to a GPU instead (sharedTexture.importSharedTexture, a DRM device), ` +
          'or have the producer render linear (DRM_FORMAT_MOD_LINEAR)',
        { modifier: `${this.modifier}` },
      );
    }
  }
}

/**
 * Takes over Electron's `textureInfo.handle.nativePixmap`: dups each distinct plane fd into a
 * DmaBuf (Electron's fds die at texture.release(); the dups stay valid until close()), checks
 * every plane lies inside its buffer, and gives the planes by offset and stride. `info` is
 * `{ pixelFormat, codedSize }`, e.g. `texture.textureInfo` itself. Nothing is kept on failure;
 * Electron's fds stay Electron's either way.
 */
export function importNativePixmap(pixmap: NativePixmap, pixmapInfo: PixmapInfo): ImportedPixmap {
  if (pixmap === null || typeof pixmap !== 'object') throw argType('pixmap', 'an object { planes, modifier }', pixmap);
  const fmt = info(pixmapInfo, 'info');
  const p = pixmap as Partial<NativePixmap>;
  const planes = planesOf(p.planes, 'pixmap.planes');
  const m = modifier(p.modifier, 'pixmap.modifier');
  const zeroCopy = v.bool(p.supportsZeroCopyWebGpuImport, 'pixmap.supportsZeroCopyWebGpuImport', false);
  const geo = FORMATS[fmt.pixelFormat].planes;
  const linear = m === DRM_FORMAT_MOD_LINEAR;
  if (linear ? planes.length !== geo.length : planes.length < geo.length) {
    throw argValueMessage(
      `importNativePixmap: a ${linear ? 'linear ' : ''}${fmt.pixelFormat} pixmap has ${linear ? '' : 'at least '}${geo.length} plane(s); this one has ${planes.length}`,
    );
  }
  if (linear) {
    for (const pl of planes) {
      const g = geometry(geo[pl.index], fmt.codedSize);
      if (pl.stride < g.rowBytes) {
        throw outOfRange(
          `pixmap.planes[${pl.index}].stride`,
          `>= ${g.rowBytes} (a row of ${g.width} ${fmt.pixelFormat} samples)`,
          pl.stride,
        );
      }
      const need = pl.stride * (g.rows - 1) + g.rowBytes;
      if (pl.size < need)
        throw outOfRange(`pixmap.planes[${pl.index}].size`, `>= ${need} (${g.rows} rows of stride ${pl.stride})`, pl.size);
    }
  }
  // The fds, before anything is dup'ed: a memfd is refused by name (fromFd would take it).
  const fds = [...new Set(planes.map((pl) => pl.fd))];
  for (const fd of fds) {
    const kind = fdKind(fd);
    if (kind === 'closed') throw systemError('EBADF', { syscall: 'fcntl', fd }, `importNativePixmap: fd ${fd} is not open`);
    if (kind === 'memfd') {
      throw new DmaBufError(
        codes.NOT_DMABUF,
        `importNativePixmap: fd ${fd} is a memfd, not a dma-buf; a nativePixmap's planes are dma-bufs`,
      );
    }
  }
  const byFd = new Map<number, DmaBuf>();
  try {
    for (const fd of fds) byFd.set(fd, fromFd(fd));
    for (const pl of planes) {
      const buf = byFd.get(pl.fd)!;
      if (pl.offset > buf.size || pl.size > buf.size - pl.offset) {
        throw outOfRangeMessage(
          `importNativePixmap: plane ${pl.index} ([${pl.offset}, ${pl.offset + pl.size})) lies beyond its dma-buf of ${buf.size} bytes (fd ${pl.fd})`,
        );
      }
    }
  } catch (err) {
    for (const b of byFd.values()) b.close();
    throw err;
  }
  return new ImportedPixmap(
    fmt,
    m,
    zeroCopy,
    [...byFd.values()],
    planes.map((pl) => ({ ...pl, buffer: byFd.get(pl.fd)! })),
  );
}

/**
 * Describes a linear frame of ours as the options of Electron's
 * `sharedTexture.importSharedTexture()`: `{ textureInfo, allReferencesReleased }`. `frame` is a
 * ReceivedFrame of a pool (it goes back to the producer once you released it and Electron
 * called allReferencesReleased) or a DmaBuf (a reference is held until then). The buffer must
 * be a dma-buf (udmabuf, dma-heap, or one imported): a memfd is not one, and the GPU cannot
 * import it (ERR_DMABUF_NOT_DMABUF). The fds in it are the buffer's own: Electron dups them
 * when it imports; they stay valid while the frame is held. If importSharedTexture throws,
 * call allReferencesReleased yourself.
 */
export function toNativePixmap(frame: ReceivedFrame | DmaBuf, options: ToNativePixmapOptions): ImportSharedTextureOptions {
  const buffer = frame instanceof ReceivedFrame ? frame.buffer : frame instanceof DmaBuf ? frame : null;
  if (!buffer) throw argType('frame', 'a ReceivedFrame or a DmaBuf', frame);
  const fmt = info(options, 'options');
  const o = options as ToNativePixmapOptions;
  if (buffer.closed) throw closedError('DmaBuf', 'toNativePixmap');
  if (buffer.exporter === 'memfd' || buffer.exporter === 'memory') {
    throw new DmaBufError(
      codes.NOT_DMABUF,
      `toNativePixmap: a '${buffer.exporter}' buffer is not a dma-buf, and a GPU cannot import it; ` +
        "allocate the pool with exporter 'udmabuf' or 'dma-heap' (capabilities() tells which this machine has)",
    );
  }
  const fd = buffer.fd;
  if (fdKind(fd) !== 'dmabuf')
    throw new DmaBufError(codes.NOT_DMABUF, `toNativePixmap: fd ${fd} of this '${buffer.exporter}' buffer is not a dma-buf`);
  const geo = FORMATS[fmt.pixelFormat].planes.map((g) => geometry(g, fmt.codedSize));
  const widest = Math.max(...geo.map((g) => g.rowBytes));
  const stride = o.stride === undefined ? widest : v.integer(o.stride, 'options.stride', widest, 0xffffffff);
  let offset = o.offset === undefined ? 0 : v.integer(o.offset, 'options.offset');
  const timestamp = o.timestamp === undefined ? undefined : v.integer(o.timestamp, 'options.timestamp');
  const planes: NativePixmapPlane[] = geo.map((g) => {
    const plane = { fd, stride, offset, size: stride * g.rows };
    offset += plane.size;
    return plane;
  });
  if (offset > buffer.size) {
    throw outOfRangeMessage(
      `toNativePixmap: a ${fmt.codedSize.width}×${fmt.codedSize.height} ${fmt.pixelFormat} frame of stride ${stride} ends at byte ${offset}; the buffer has ${buffer.size}`,
    );
  }
  let drop: () => Promise<void>;
  if (frame instanceof ReceivedFrame) {
    drop = frame[kHold]('toNativePixmap');
  } else {
    buffer.get();
    drop = () => {
      if (!buffer.closed) buffer.put();
      return Promise.resolve();
    };
  }
  let released = false;
  const { width, height } = fmt.codedSize;
  return {
    textureInfo: {
      pixelFormat: fmt.pixelFormat,
      codedSize: { width, height },
      visibleRect: { x: 0, y: 0, width, height },
      ...(timestamp === undefined ? {} : { timestamp }),
      handle: { nativePixmap: { planes, modifier: `${DRM_FORMAT_MOD_LINEAR}`, supportsZeroCopyWebGpuImport: false } },
    },
    allReferencesReleased: () => {
      if (released) return;
      released = true;
      // Electron calls this with no one to catch: a failed give-back (the peer gone) is a warning.
      drop().catch((err: Error) => process.emitWarning(err));
    },
  };
}
