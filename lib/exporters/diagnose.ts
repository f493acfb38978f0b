// Why an exporter or feature is missing here, and what fixes it: the facts of
// platform/kernel-info.ts turned into words, and sync_file support tried on a real
// dma-buf. capabilities() and `dmabuf doctor` say the same things from here.
import { constants as fsc } from 'node:fs';
import { native, nativeOrNull } from '../platform/binding';
import {
  describeMode,
  detectContainer,
  drmNodes,
  kernelRelease,
  moduleParams,
  moduleState,
  nodesIn,
  probeNode,
  readKernelConfig,
  releaseAtLeast,
  videoNodes,
  type ContainerInfo,
  type KernelConfig,
  type ModuleInfo,
  type NodeFacts,
} from '../platform/kernel-info';
import { DMA_BUF_SYNC_READ, PAGE_SIZE } from '../platform/uapi';
import { sealedMemfd } from './memfd-util';

const UDMABUF = '/dev/udmabuf';
const HEAPS = '/dev/dma_heap';

/** What a reader needs to know about one capability: there or not, why not, and what to do. */
export interface Finding {
  ok: boolean;
  /** Why it is missing or limited (absent when ok). */
  why?: string;
  /** What makes it work (a command, a udev rule, a container flag). */
  fix?: string;
}

export interface SystemFacts {
  root: string;
  linux: boolean;
  release: string;
  config: KernelConfig;
  container: ContainerInfo | null;
  udmabuf: { module: ModuleInfo; node: NodeFacts; sizeLimitMb?: number; listLimit?: number };
  heaps: NodeFacts[];
  drm: Array<NodeFacts & { driver: string }>;
  video: Array<NodeFacts & { name: string }>;
  /** This process's uid and groups, for permission advice. */
  uid: number;
  groups: number[];
}

/** Reads everything diagnose needs; `root` other than '/' reads a fabricated or mounted tree. */
export function systemFacts(root = '/'): SystemFacts {
  const linux = root !== '/' || process.platform === 'linux';
  const release = kernelRelease(root);
  const config = readKernelConfig(root, release);
  const params = moduleParams('udmabuf', root);
  const num = (s: string | undefined) => (s !== undefined && s !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);
  return {
    root,
    linux,
    release,
    config,
    container: detectContainer(root),
    udmabuf: {
      module: moduleState('udmabuf', 'CONFIG_UDMABUF', root, config),
      node: probeNode(UDMABUF, root, fsc.O_RDWR),
      sizeLimitMb: num(params.size_limit_mb),
      listLimit: num(params.list_limit),
    },
    heaps: nodesIn(HEAPS, '', root).map((p) => probeNode(p, root, fsc.O_RDONLY)),
    drm: drmNodes(root).map((d) => ({ ...probeNode(d.path, root, fsc.O_RDWR), driver: d.driver })),
    video: videoNodes(root).map((v) => ({ ...probeNode(v.path, root, fsc.O_RDWR), name: v.name })),
    uid: process.getuid?.() ?? -1,
    groups: process.getgroups?.() ?? [],
  };
}

function configSays(f: SystemFacts, name: string): string {
  const v = f.config.options.get(name);
  if (!f.config.source) return `kernel config not readable: no /proc/config.gz or /boot/config-${f.release}`;
  if (v === undefined) return `${name} absent from ${f.config.source}`;
  return v === 'n' ? `${name} is not set in ${f.config.source}` : `${name}=${v} in ${f.config.source}`;
}

/** Advice for a node that exists but does not open. */
function permissionFinding(f: SystemFacts, n: NodeFacts, udev: string): Finding {
  const mode = describeMode(n);
  if (n.error === 'EPERM' && f.container) {
    return {
      ok: false,
      why: `${n.path} is there but the ${f.container.kind} container's device cgroup refuses it (open: EPERM)`,
      fix: `start the container with --device ${n.path}`,
    };
  }
  if (n.error === 'EACCES' || n.error === 'EPERM') {
    const groupOpen = n.mode !== undefined && (n.mode & 0o060) === 0o060 && n.gid !== undefined && n.gid !== 0;
    if (groupOpen && !f.groups.includes(n.gid!)) {
      const g = n.group ?? String(n.gid);
      return {
        ok: false,
        why: `no permission to open ${n.path} (${mode}); you are not in group ${g}`,
        fix: `sudo usermod -aG ${g} $USER, then log in again`,
      };
    }
    return {
      ok: false,
      why: `no permission to open ${n.path} (${mode})`,
      fix: `add a udev rule such as ${udev} (e.g. in /etc/udev/rules.d/70-dmabuf.rules), run "sudo udevadm control --reload && sudo udevadm trigger", add your user to that group (sudo usermod -aG ${/GROUP="(\w+)"/.exec(udev)?.[1] ?? 'video'} $USER) and log in again`,
    };
  }
  return { ok: false, why: `${n.path} does not open (${n.error})` };
}

const inContainer = (f: SystemFacts, path: string) =>
  f.container ? ` or, inside this ${f.container.kind} container, start it with --device ${path}` : '';

/** "sudo modprobe vgem", or on the host and then --device when in a container. */
const loadModule = (f: SystemFacts, mod: string, path: string) =>
  f.container
    ? `on the host, sudo modprobe ${mod}; then start this ${f.container.kind} container with --device ${path}`
    : `sudo modprobe ${mod}`;

/** Whether /dev/udmabuf is usable, and if not why. */
export function explainUdmabuf(f: SystemFacts): Finding {
  if (!f.linux) return { ok: false, why: `udmabuf is Linux-only (this is ${process.platform})` };
  const n = f.udmabuf.node;
  if (n.present) return n.openable ? { ok: true } : permissionFinding(f, n, 'KERNEL=="udmabuf", GROUP="video", MODE="0660"');
  const m = f.udmabuf.module;
  if (m.state === 'builtin' || m.state === 'loaded') {
    const has = `the kernel has udmabuf (${m.state}: ${m.evidence}) but there is no ${UDMABUF}`;
    return f.container
      ? { ok: false, why: `${has} in this ${f.container.kind} container`, fix: `start the container with --device ${UDMABUF}` }
      : { ok: false, why: has, fix: 'mount devtmpfs on /dev (mount -t devtmpfs devtmpfs /dev), or check udev did not remove it' };
  }
  if (m.state === 'available') {
    return {
      ok: false,
      why: `udmabuf is a module that is not loaded (${m.evidence})`,
      fix: `${loadModule(f, 'udmabuf', UDMABUF)} (add udmabuf to /etc/modules-load.d/dmabuf.conf to load it at every boot)`,
    };
  }
  if (m.state === 'absent') {
    return {
      ok: false,
      why: `Linux ${f.release} is built without udmabuf (${configSays(f, 'CONFIG_UDMABUF')})`,
      fix: "use a kernel with CONFIG_UDMABUF=y (Linux 4.20+; Debian 12's 6.12 kernel has it), or the exporters 'dma-heap' or 'memfd'",
    };
  }
  return {
    ok: false,
    why: `no ${UDMABUF} and no udmabuf module: the kernel most likely lacks CONFIG_UDMABUF (${configSays(f, 'CONFIG_UDMABUF')})`,
    fix: `use a kernel with CONFIG_UDMABUF=y (Linux 4.20+)${inContainer(f, UDMABUF)}`,
  };
}

/** Whether any DMA heap opens, and if not why. */
export function explainHeaps(f: SystemFacts): Finding {
  if (!f.linux) return { ok: false, why: `DMA heaps are Linux-only (this is ${process.platform})` };
  if (f.heaps.some((h) => h.openable)) return { ok: true };
  if (f.heaps.length) return permissionFinding(f, f.heaps[0], 'SUBSYSTEM=="dma_heap", GROUP="video", MODE="0660"');
  const heaps = f.config.options.get('CONFIG_DMABUF_HEAPS');
  const system = f.config.options.get('CONFIG_DMABUF_HEAPS_SYSTEM');
  const cma = f.config.options.get('CONFIG_DMABUF_HEAPS_CMA');
  if (heaps === 'n' || (f.config.source && heaps === undefined)) {
    return {
      ok: false,
      why: `Linux ${f.release} is built without DMA heaps (${configSays(f, 'CONFIG_DMABUF_HEAPS')})`,
      fix: 'use a kernel with CONFIG_DMABUF_HEAPS=y and CONFIG_DMABUF_HEAPS_SYSTEM=y, or the exporters udmabuf or memfd',
    };
  }
  if (heaps === 'y' && system !== 'y' && cma !== 'y') {
    return {
      ok: false,
      why: `the kernel has DMA heaps but no heap is built (${configSays(f, 'CONFIG_DMABUF_HEAPS_SYSTEM')}, ${configSays(f, 'CONFIG_DMABUF_HEAPS_CMA')})`,
      fix: 'use a kernel with CONFIG_DMABUF_HEAPS_SYSTEM=y',
    };
  }
  if (heaps === 'y') {
    if (f.container)
      return {
        ok: false,
        why: `the kernel has DMA heaps (${configSays(f, 'CONFIG_DMABUF_HEAPS')}) but there is no ${HEAPS} in this ${f.container.kind} container`,
        fix: `start the container with --device ${HEAPS}/system`,
      };
    if (system !== 'y')
      return {
        ok: false,
        why: `only the CMA heap is built (${configSays(f, 'CONFIG_DMABUF_HEAPS_CMA')}) and it did not appear: no CMA area`,
        fix: 'boot with cma=64M (or a CMA area in the device tree)',
      };
    return { ok: false, why: `the kernel has DMA heaps but there is no ${HEAPS}`, fix: 'mount devtmpfs on /dev' };
  }
  return {
    ok: false,
    why: `no ${HEAPS}: the kernel most likely lacks CONFIG_DMABUF_HEAPS (${configSays(f, 'CONFIG_DMABUF_HEAPS')})`,
    fix: `use a kernel with CONFIG_DMABUF_HEAPS=y and CONFIG_DMABUF_HEAPS_SYSTEM=y${inContainer(f, `${HEAPS}/system`)}`,
  };
}

/** Whether DRM nodes are there (for PRIME import/export and vgem tests). */
export function explainDrm(f: SystemFacts): Finding {
  if (f.drm.some((d) => d.openable)) return { ok: true };
  if (f.drm.length) return permissionFinding(f, f.drm[0], 'SUBSYSTEM=="drm", GROUP="render", MODE="0660"');
  return {
    ok: false,
    why: 'no DRM device (/dev/dri)',
    fix: `for tests, load vgem: ${loadModule(f, 'vgem', '/dev/dri')}`,
  };
}

/** Whether V4L2 nodes are there (cameras, vivid). */
export function explainVideo(f: SystemFacts): Finding {
  if (f.video.some((d) => d.openable)) return { ok: true };
  if (f.video.length) return permissionFinding(f, f.video[0], 'SUBSYSTEM=="video4linux", GROUP="video", MODE="0660"');
  return {
    ok: false,
    why: 'no V4L2 device (/dev/video*)',
    fix: `plug in a camera, or for tests load vivid: ${loadModule(f, 'vivid', '/dev/video0')}`,
  };
}

export interface SyncFileCheck extends Finding {
  /** 'tried': DMA_BUF_IOCTL_EXPORT_SYNC_FILE on a real dma-buf; 'inferred': from the kernel version and config (no dma-buf could be made). */
  check: 'tried' | 'inferred';
  /** The buffer it was tried on: 'udmabuf' or 'dma-heap:<name>'. */
  on?: string;
  /** When inferred: what it was inferred from, and why it was not tried. */
  note?: string;
}

let syncFileCache: SyncFileCheck | undefined;

/** A one-page dma-buf to try things on, or null with the reason. */
function probeBuffer(f: SystemFacts): { fd: number; on: string } | { fd: null; why: string } {
  const b = native();
  const c = b.constants;
  const errors: string[] = [];
  if (f.udmabuf.node.openable) {
    const dev = b.open(UDMABUF, c.O_RDWR);
    let memfd = -1;
    try {
      memfd = sealedMemfd('dmabuf-probe', PAGE_SIZE, false);
      return { fd: b.udmabufCreate(dev, memfd, 0, PAGE_SIZE, c.UDMABUF_FLAGS_CLOEXEC), on: 'udmabuf' };
    } catch (err) {
      errors.push(`udmabuf: ${(err as Error).message}`);
    } finally {
      if (memfd >= 0) b.close(memfd);
      b.close(dev);
    }
  }
  for (const heap of f.heaps.filter((h) => h.openable)) {
    const hfd = b.open(heap.path, c.O_RDONLY);
    try {
      return { fd: b.dmaHeapAlloc(hfd, PAGE_SIZE, c.O_RDWR | c.O_CLOEXEC, 0), on: `dma-heap:${heap.path.slice(HEAPS.length + 1)}` };
    } catch (err) {
      errors.push(`${heap.path}: ${(err as Error).message}`);
    } finally {
      b.close(hfd);
    }
  }
  return { fd: null, why: errors.length ? errors.join('; ') : 'neither /dev/udmabuf nor a DMA heap opens here' };
}

function inferSyncFile(f: SystemFacts, notTried: string): SyncFileCheck {
  const check = 'inferred';
  if (!nativeOrNull()) return { ok: false, check, why: 'the native addon is not loaded' };
  if (!releaseAtLeast(f.release, 6, 0))
    return {
      ok: false,
      check,
      why: `Linux ${f.release} is older than 6.0, which added DMA_BUF_IOCTL_EXPORT_SYNC_FILE`,
      fix: 'use Linux 6.0 or newer',
    };
  if (f.config.options.get('CONFIG_SYNC_FILE') === 'n')
    return { ok: false, check, why: `the kernel is built without sync_file (${configSays(f, 'CONFIG_SYNC_FILE')})` };
  return { ok: true, check, note: `not tried (${notTried}): Linux ${f.release} ≥ 6.0, ${configSays(f, 'CONFIG_SYNC_FILE')}` };
}

/**
 * Whether DMA_BUF_IOCTL_EXPORT_SYNC_FILE works: tried on a one-page udmabuf or heap buffer
 * when one can be made (once per process; the answer is cached), else inferred from the
 * kernel version and config. `why` is set when not ok; `note` says what an inferred yes rests on.
 */
export function syncFileSupport(f: SystemFacts): SyncFileCheck {
  if (!f.linux || f.root !== '/') return inferSyncFile(f, 'not this machine');
  if (syncFileCache) return syncFileCache;
  if (!nativeOrNull()) return (syncFileCache = inferSyncFile(f, 'no addon'));
  const buf = probeBuffer(f);
  if (buf.fd === null) return (syncFileCache = inferSyncFile(f, `no dma-buf can be made here: ${buf.why}`));
  const b = native();
  try {
    b.close(b.dmaBufExportSyncFile(buf.fd, DMA_BUF_SYNC_READ));
    syncFileCache = { ok: true, check: 'tried', on: buf.on };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    syncFileCache = {
      ok: false,
      check: 'tried',
      on: buf.on,
      why:
        code === 'ENOTTY'
          ? `DMA_BUF_IOCTL_EXPORT_SYNC_FILE on a real ${buf.on} buffer answered ENOTTY: Linux ${f.release} is older than 6.0 or built without CONFIG_SYNC_FILE`
          : `DMA_BUF_IOCTL_EXPORT_SYNC_FILE on a real ${buf.on} buffer failed: ${(err as Error).message}`,
      ...(code === 'ENOTTY' ? { fix: 'use Linux 6.0+ with CONFIG_SYNC_FILE=y' } : {}),
    };
  } finally {
    b.close(buf.fd);
  }
  return syncFileCache;
}
