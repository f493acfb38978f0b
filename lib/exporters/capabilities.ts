// What this machine offers, and which exporter 'auto' picks.
import { accessSync, constants as fsc, existsSync, readdirSync } from 'node:fs';
import { release } from 'node:os';
import { nativeLoadError, nativeOrNull, v8ViewPath } from '../platform/binding';
import { PAGE_SIZE } from '../platform/uapi';
import { copyMode, type CopyModeInfo } from '../platform/copy-mode';
import { DMA_HEAP_DIR, listHeaps } from './dma-heap';
import { UDMABUF_PATH, udmabufLimits } from './udmabuf';
import { explainDrm, explainHeaps, explainUdmabuf, explainVideo, syncFileSupport, systemFacts, type Finding } from './diagnose';

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
  /**
   * How mmap() and kmap() views are made in this thread: 'v8', the fast path (V8 does not count
   * them as external memory, so a large view starts no garbage collection; transfer() throws a
   * TypeError), 'node-api' (external ArrayBuffers), or 'copy' (no views: copy mode). `why`:
   * why not 'v8'. DMABUF_V8_VIEWS=0 turns the fast path off.
   */
  views: { path: 'v8' | 'node-api' | 'copy'; why?: string };
  /** DRM nodes (/dev/dri/*) and V4L2 nodes (/dev/video*). */
  drm: string[];
  video: string[];
  /** Usable exporters, in the order 'auto' tries them. */
  exporters: BuiltinExporter[];
  /** What exporter: 'auto' picks here. */
  auto: BuiltinExporter;
  /** Why 'auto' picks `auto`: what it passed over and why. */
  autoWhy: string;
  /** Why each missing capability is missing, with what fixes it; a key only for what is missing. */
  why: CapabilityReasons;
  /** How `syncFile` was decided: 'tried' (EXPORT_SYNC_FILE on a real dma-buf, once per process) or 'inferred' (kernel version and config, when no dma-buf can be made here). */
  syncFileCheck: 'tried' | 'inferred';
  /** The running kernel's page size (PAGE_SIZE) and Node's architecture (process.arch). */
  pageSize: number;
  arch: string;
}

/** Reasons, by capability; each says why it is missing and what to do. */
export interface CapabilityReasons {
  native?: string;
  udmabuf?: string;
  heaps?: string;
  syncFile?: string;
  externalBuffers?: string;
  drm?: string;
  video?: string;
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

const said = (f: Finding) => (f.ok ? undefined : f.fix ? `${f.why}; fix: ${f.fix}` : f.why);

export function capabilities(): Capabilities {
  const b = nativeOrNull();
  const linux = process.platform === 'linux';
  const facts = systemFacts();
  const present = linux && existsSync(UDMABUF_PATH);
  const lim = present ? udmabufLimits() : null;
  const heapOpens = new Map(facts.heaps.map((h) => [h.path, h.openable]));
  const heaps = listHeaps().map((name) => {
    const path = `${DMA_HEAP_DIR}/${name}`;
    return { name, path, accessible: heapOpens.get(path) ?? accessible(path) };
  });
  const udmabuf = { present, accessible: present && facts.udmabuf.node.openable, ...(lim ?? {}) };
  const exporters: BuiltinExporter[] = [];
  if (b && udmabuf.accessible) exporters.push('udmabuf');
  if (b && heaps.some((h) => h.accessible)) exporters.push('dma-heap');
  if (b) exporters.push('memfd');
  exporters.push('memory');
  const err = nativeLoadError();
  const nativeWhy = b
    ? undefined
    : linux
      ? `the native addon is not loaded (${err?.message.split('\n')[0] ?? 'not built'})`
      : `the native addon is Linux-only (this is ${process.platform})`;
  const sync = linux && b ? syncFileSupport(facts) : { ok: false, check: 'inferred' as const, why: nativeWhy };
  const externalBuffers = b ? b.externalBuffersAllowed() : true;
  const found = { udmabuf: explainUdmabuf(facts), heaps: explainHeaps(facts) };
  const why: CapabilityReasons = {
    native: nativeWhy && linux ? `${nativeWhy}; fix: npm rebuild dmabuf (needs python3, make and g++)` : nativeWhy,
    udmabuf: said(found.udmabuf),
    heaps: said(found.heaps),
    syncFile: said(sync),
    externalBuffers: externalBuffers
      ? undefined
      : "this runtime forbids external ArrayBuffers (Electron's V8 memory cage, or copy mode forced): mmap() and kmap() are unavailable; read() and write() copy",
    drm: said(explainDrm(facts)),
    video: said(explainVideo(facts)),
  };
  for (const k of Object.keys(why) as Array<keyof CapabilityReasons>) if (why[k] === undefined) delete why[k];
  return {
    platform: process.platform,
    kernel: release(),
    native: b ? { loaded: true } : { loaded: false, error: err?.message ?? 'not built' },
    udmabuf,
    heaps,
    syncFile: sync.ok,
    externalBuffers,
    copyMode: copyMode(),
    views: viewsInfo(),
    drm: devices('/dev/dri', ''),
    video: devices('/dev', 'video'),
    exporters,
    auto: exporters[0],
    autoWhy: autoWhy(exporters[0], { native: nativeWhy, udmabuf: found.udmabuf.why, heaps: found.heaps.why }, heaps),
    why,
    syncFileCheck: sync.check,
    pageSize: PAGE_SIZE,
    arch: process.arch,
  };
}

function viewsInfo(): Capabilities['views'] {
  const copy = copyMode();
  if (copy.enabled) return { path: 'copy', why: copy.why };
  return { ...v8ViewPath() };
}

/** `why` holds the bare reasons (no fixes): 'auto' explains itself in one line. */
function autoWhy(auto: BuiltinExporter, why: CapabilityReasons, heaps: Capabilities['heaps']): string {
  if (auto === 'udmabuf') return `udmabuf: ${UDMABUF_PATH} opens, and 'auto' tries it first`;
  const noUdmabuf = `not udmabuf: ${why.native ?? why.udmabuf}`;
  if (auto === 'dma-heap') {
    const heap =
      ['linux,cma', 'reserved', 'system'].find((h) => heaps.some((x) => x.name === h && x.accessible)) ??
      heaps.find((h) => h.accessible)?.name;
    return `dma-heap (heap ${heap}): ${noUdmabuf}`;
  }
  if (auto === 'memfd') return `memfd (shared memory with an fd, not a dma-buf): ${noUdmabuf}; not dma-heap: ${why.heaps}`;
  return `memory (in-process, no fd): ${why.native}`;
}
