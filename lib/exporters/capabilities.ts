// What this machine offers, and which exporter 'auto' picks.
import { accessSync, constants as fsc, existsSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { nativeLoadError, nativeOrNull } from '../platform/binding';
import { copyMode, type CopyModeInfo } from '../platform/copy-mode';
import { DMA_HEAP_DIR, listHeaps } from './dma-heap';
import { UDMABUF_PATH, udmabufLimits } from './udmabuf';

export type BuiltinExporter = 'udmabuf' | 'dma-heap' | 'memfd' | 'memory';

export interface Capabilities {
  platform: NodeJS.Platform;
  kernel: string;
  native: { loaded: boolean; error?: string };
  udmabuf: { present: boolean; accessible: boolean; sizeLimitMb?: number; listLimit?: number };
  heaps: Array<{ name: string; path: string; accessible: boolean }>;
  /** DMA_BUF_IOCTL_EXPORT/IMPORT_SYNC_FILE (Linux 6.0+). */
  syncFile: boolean;
  /** External ArrayBuffers allowed (false in Electron's memory cage): mmap() views work. */
  externalBuffers: boolean;
  /** Copy mode: views refused, read()/write() copy; on in Electron, with DMABUF_COPY_MODE=1, or after setCopyMode(true). */
  copyMode: CopyModeInfo;
  /** DRM nodes (/dev/dri/*) and V4L2 nodes (/dev/video*). */
  drm: string[];
  video: string[];
  /** Usable exporters, in the order 'auto' tries them. */
  exporters: BuiltinExporter[];
  /** What exporter: 'auto' picks here. */
  auto: BuiltinExporter;
}

function accessible(path: string): boolean {
  try {
    accessSync(path, fsc.R_OK | fsc.W_OK);
    return true;
  } catch {
    return false;
  }
}

function devices(dir: string, prefix: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.startsWith(prefix))
      .map((n) => `${dir}/${n}`)
      .sort();
  } catch {
    return [];
  }
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

export function capabilities(): Capabilities {
  const b = nativeOrNull();
  const linux = process.platform === 'linux';
  const present = linux && existsSync(UDMABUF_PATH);
  const lim = present ? udmabufLimits() : null;
  const heaps = listHeaps().map((name) => ({ name, path: `${DMA_HEAP_DIR}/${name}`, accessible: accessible(`${DMA_HEAP_DIR}/${name}`) }));
  const udmabuf = { present, accessible: present && accessible(UDMABUF_PATH), ...(lim ?? {}) };
  const exporters: BuiltinExporter[] = [];
  if (b && udmabuf.accessible) exporters.push('udmabuf');
  if (b && heaps.some((h) => h.accessible)) exporters.push('dma-heap');
  if (b) exporters.push('memfd');
  exporters.push('memory');
  const err = nativeLoadError();
  return {
    platform: process.platform,
    kernel: release(),
    native: b ? { loaded: true } : { loaded: false, error: err?.message ?? 'not built' },
    udmabuf,
    heaps,
    syncFile: !!b && linux && kernelAtLeast(6, 0),
    externalBuffers: b ? b.externalBuffersAllowed() : true,
    copyMode: copyMode(),
    drm: devices('/dev/dri', ''),
    video: devices('/dev', 'video'),
    exporters,
    auto: exporters[0],
  };
}
