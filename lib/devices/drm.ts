// DRM devices as importers and exporters of dma-bufs: PRIME import (the kernel's own
// dma_buf_attach + map run), dumb buffers exported through PRIME, and vgem's fences.
// Struct layouts from include/uapi/drm/drm.h, drm_mode.h and vgem_drm.h.
import { readdirSync, readlinkSync } from 'node:fs';
import { native } from '../platform/binding';
import { fromFd } from '../exporters/from-fd';
import type { DmaBuf } from '../core/dma-buf';
import { DmaBufError, closedError, codes } from '../platform/errors';
import { IOW, IOWR } from '../platform/uapi';
import { namedIoctl } from './ioctl';

const DRM_COMMAND_BASE = 0x40;

/** DRM_IOCTL_* numbers (type 'd'). */
export const DRM_IOCTL = {
  GEM_CLOSE: IOW('d', 0x09, 8),
  PRIME_HANDLE_TO_FD: IOWR('d', 0x2d, 12),
  PRIME_FD_TO_HANDLE: IOWR('d', 0x2e, 12),
  MODE_CREATE_DUMB: IOWR('d', 0xb2, 32),
  VGEM_FENCE_ATTACH: IOWR('d', DRM_COMMAND_BASE + 0x1, 16),
  VGEM_FENCE_SIGNAL: IOW('d', DRM_COMMAND_BASE + 0x2, 8),
} as const;

/** The DrmDevice method behind each ioctl, for ERR_DMABUF_CLOSED. */
const METHOD: Record<keyof typeof DRM_IOCTL, string> = {
  GEM_CLOSE: 'ioctl',
  PRIME_HANDLE_TO_FD: 'exportDmaBuf',
  PRIME_FD_TO_HANDLE: 'importDmaBuf',
  MODE_CREATE_DUMB: 'createDumb',
  VGEM_FENCE_ATTACH: 'vgemFenceAttach',
  VGEM_FENCE_SIGNAL: 'vgemFenceSignal',
};

const DRM_RDWR = 2;
const DRM_CLOEXEC = 0o2000000;
const VGEM_FENCE_WRITE = 1;

/** A GEM object on a DRM device, by handle. */
export class GemObject implements Disposable {
  #dev: DrmDevice | null;
  constructor(
    dev: DrmDevice,
    readonly handle: number,
  ) {
    this.#dev = dev;
  }
  /** DRM_IOCTL_GEM_CLOSE (once). */
  close(): void {
    const dev = this.#dev;
    this.#dev = null;
    if (dev && !dev.closed) dev.ioctl('GEM_CLOSE', u32s(8, [this.handle]));
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

function u32s(size: number, values: number[]): DataView {
  const d = new DataView(new ArrayBuffer(size));
  values.forEach((v, i) => d.setUint32(i * 4, v >>> 0, true));
  return d;
}

/** An open DRM node (/dev/dri/cardN or renderDN). */
export class DrmDevice implements Disposable {
  #fd: number;
  constructor(
    readonly path: string,
    readonly driver: string,
  ) {
    this.#fd = native().open(path, native().constants.O_RDWR);
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  get fd(): number {
    if (this.#fd < 0) throw closedError('DrmDevice', 'fd');
    return this.#fd;
  }

  /** @internal */
  ioctl(name: keyof typeof DRM_IOCTL, data: DataView): void {
    if (this.#fd < 0) throw closedError('DrmDevice', METHOD[name]);
    namedIoctl(this.#fd, DRM_IOCTL[name], `DRM_IOCTL_${name}`, this.path, data);
  }

  /** DRM_IOCTL_PRIME_FD_TO_HANDLE: the device imports the buffer (dma_buf_attach + map in the kernel). */
  importDmaBuf(buf: DmaBuf): GemObject {
    const d = u32s(12, [0, 0, buf.fd]);
    this.ioctl('PRIME_FD_TO_HANDLE', d);
    return new GemObject(this, d.getUint32(0, true));
  }

  /** DRM_IOCTL_MODE_CREATE_DUMB: a buffer the device allocates. */
  createDumb(width: number, height: number, bpp: number): { gem: GemObject; pitch: number; size: number } {
    const d = u32s(32, [height, width, bpp, 0]);
    this.ioctl('MODE_CREATE_DUMB', d);
    return { gem: new GemObject(this, d.getUint32(16, true)), pitch: d.getUint32(20, true), size: Number(d.getBigUint64(24, true)) };
  }

  /** DRM_IOCTL_PRIME_HANDLE_TO_FD: the device exports a GEM object as a dma-buf. */
  exportDmaBuf(gem: GemObject): DmaBuf {
    const d = u32s(12, [gem.handle, DRM_RDWR | DRM_CLOEXEC, 0]);
    this.ioctl('PRIME_HANDLE_TO_FD', d);
    return fromFd(d.getInt32(8, true), { takeOwnership: true });
  }

  /** DRM_IOCTL_VGEM_FENCE_ATTACH: an unsignalled fence on the object (write: exclusive). Returns its id. */
  vgemFenceAttach(gem: GemObject, write: boolean): number {
    const d = u32s(16, [gem.handle, write ? VGEM_FENCE_WRITE : 0, 0, 0]);
    this.ioctl('VGEM_FENCE_ATTACH', d);
    return d.getUint32(8, true);
  }

  /** DRM_IOCTL_VGEM_FENCE_SIGNAL. */
  vgemFenceSignal(fence: number): void {
    this.ioctl('VGEM_FENCE_SIGNAL', u32s(8, [fence, 0]));
  }

  close(): void {
    if (this.#fd >= 0) native().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function basename(link: string): string {
  try {
    return readlinkSync(link).split('/').pop() ?? '';
  } catch {
    return '';
  }
}

/** DRM card nodes and their drivers (the device's driver link; vgem's platform device has none, so its own name). */
export function drmDevices(): Array<{ path: string; driver: string }> {
  let names: string[] = [];
  try {
    names = readdirSync('/sys/class/drm').filter((n) => /^card\d+$/.test(n));
  } catch {
    return [];
  }
  return names.sort().map((n) => {
    return { path: `/dev/dri/${n}`, driver: basename(`/sys/class/drm/${n}/device/driver`) || basename(`/sys/class/drm/${n}/device`) };
  });
}

/** Opens the vgem card (modprobe vgem first). */
export function openVgem(): DrmDevice {
  const found = drmDevices().find((d) => d.driver === 'vgem');
  if (!found) throw new DmaBufError(codes.UNAVAILABLE, 'no vgem DRM device: load the vgem module (modprobe vgem)');
  return new DrmDevice(found.path, found.driver);
}
