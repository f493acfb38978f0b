// dmabuf doctor: what this machine offers for dma-bufs, why anything is missing, and
// what fixes it. Exit 0 when real dma-bufs (udmabuf or a DMA heap) are usable, 1 when
// only the fallbacks are, 2 on error.
import { arch, machine } from 'node:os';
import { capabilities, type BuiltinExporter } from '../exporters/capabilities';
import {
  explainDrm,
  explainHeaps,
  explainUdmabuf,
  explainVideo,
  syncFileSupport,
  systemFacts,
  type Finding,
  type SystemFacts,
} from '../exporters/diagnose';
import { nativeLoadError, nativeOrNull } from '../platform/binding';
import { describeMode, type ContainerInfo, type ModuleInfo, type NodeFacts } from '../platform/kernel-info';
import { PAGE_SIZE } from '../platform/uapi';
import { EXIT, colours, fail, parse, type Io } from './common';

export const DOCTOR_HELP = `usage: dmabuf doctor [--json] [--no-color] [--root <dir>]

Checks what this machine offers for dma-bufs and says why anything is missing and what
fixes it: the kernel and its config (CONFIG_UDMABUF, CONFIG_DMABUF_HEAPS*, CONFIG_SYNC_FILE),
udmabuf (built in, module loaded, available, absent), /dev/udmabuf and every
/dev/dma_heap/* (present, opens; a udev rule or group, or in a container the --device flag,
when not), udmabuf's size_limit_mb and list_limit, sync_file export tried on a real
dma-buf, DRM and V4L2 devices, external buffers, page size and architecture, and which
exporter 'auto' picks and why.

  --json        the report as JSON (schema 1, see README "dmabuf doctor")
  --no-color    no colours (also: NO_COLOR set, or output not a terminal)
  --root <dir>  inspect the system tree under <dir> (proc, sys, dev, boot, etc) instead of
                this machine; nothing is allocated there

exit status: 0 real dma-bufs (udmabuf or a DMA heap) are usable; 1 only the fallback
exporters (memfd, memory) are; 2 error`;

/** The configuration options doctor reports. */
const CONFIG_OPTIONS = [
  'CONFIG_DMA_SHARED_BUFFER',
  'CONFIG_UDMABUF',
  'CONFIG_DMABUF_HEAPS',
  'CONFIG_DMABUF_HEAPS_SYSTEM',
  'CONFIG_DMABUF_HEAPS_CMA',
  'CONFIG_SYNC_FILE',
  'CONFIG_DMABUF_SYSFS_STATS',
  'CONFIG_DRM_VGEM',
  'CONFIG_VIDEO_VIVID',
];

export interface DoctorNode {
  path: string;
  present: boolean;
  openable: boolean;
  /** open()'s error code when it failed. */
  error?: string;
  /** e.g. 'crw-rw---- 0:video'. */
  mode?: string;
}

export interface DoctorReport {
  schema: 1;
  /** 'dma-buf': udmabuf or a DMA heap is usable (exit 0); 'fallback': only memfd/memory (exit 1). */
  verdict: 'dma-buf' | 'fallback';
  system: {
    kernel: string;
    /** uname -m, and Node's process.arch. */
    machine: string;
    arch: string;
    pageSize: number;
    node: string;
    container: ContainerInfo | null;
    uid: number;
    /** The tree inspected: '/' for this machine. */
    root: string;
  };
  kernelConfig: { source: string | null; options: Record<string, string | null> };
  native: { loaded: boolean; error?: string };
  udmabuf: Finding & { module: ModuleInfo; device: DoctorNode; sizeLimitMb: number | null; listLimit: number | null };
  heaps: Finding & { devices: Array<DoctorNode & { name: string }> };
  syncFile: Finding & { check: 'tried' | 'inferred'; on?: string; note?: string };
  drm: Finding & { devices: Array<DoctorNode & { driver: string }> };
  video: Finding & { devices: Array<DoctorNode & { name: string }> };
  externalBuffers: Finding;
  /** Usable exporters in the order 'auto' tries them, what it picks, and why. */
  exporters: BuiltinExporter[];
  auto: BuiltinExporter;
  autoWhy: string;
}

function node(n: NodeFacts): DoctorNode {
  return {
    path: n.path,
    present: n.present,
    openable: n.openable,
    ...(n.error ? { error: n.error } : {}),
    ...(n.mode !== undefined ? { mode: describeMode(n) } : {}),
  };
}

/** The report for this machine (root '/') or a system tree under `root`. */
export function diagnose(root = '/'): DoctorReport {
  const f: SystemFacts = systemFacts(root);
  const here = root === '/';
  const b = nativeOrNull();
  const loaded = !!b && f.linux;
  const udmabuf = explainUdmabuf(f);
  const heaps = explainHeaps(f);
  const caps = here ? capabilities() : null;
  const sync = syncFileSupport(f);
  const external = b ? b.externalBuffersAllowed() : true;
  let exporters: BuiltinExporter[];
  let autoWhy: string;
  if (caps) {
    exporters = caps.exporters;
    autoWhy = caps.autoWhy;
  } else {
    exporters = [
      ...(loaded && udmabuf.ok ? ['udmabuf' as const] : []),
      ...(loaded && heaps.ok ? ['dma-heap' as const] : []),
      ...(loaded ? ['memfd' as const] : []),
      'memory',
    ];
    autoWhy =
      exporters[0] === 'udmabuf'
        ? 'udmabuf: /dev/udmabuf opens'
        : `${exporters[0]}: not udmabuf: ${udmabuf.why}${exporters[0] === 'dma-heap' ? '' : `; not dma-heap: ${heaps.why}`}`;
  }
  const err = nativeLoadError();
  return {
    schema: 1,
    verdict: exporters.includes('udmabuf') || exporters.includes('dma-heap') ? 'dma-buf' : 'fallback',
    system: {
      kernel: f.release,
      machine: here ? machine() : '',
      arch: arch(),
      pageSize: PAGE_SIZE,
      node: process.version,
      container: f.container,
      uid: f.uid,
      root,
    },
    kernelConfig: { source: f.config.source, options: Object.fromEntries(CONFIG_OPTIONS.map((o) => [o, f.config.options.get(o) ?? null])) },
    native: loaded
      ? { loaded: true }
      : { loaded: false, error: f.linux ? (err?.message ?? 'not built') : `Linux-only (this is ${process.platform})` },
    udmabuf: {
      ...udmabuf,
      module: f.udmabuf.module,
      device: node(f.udmabuf.node),
      sizeLimitMb: f.udmabuf.sizeLimitMb ?? null,
      listLimit: f.udmabuf.listLimit ?? null,
    },
    heaps: { ...heaps, devices: f.heaps.map((h) => ({ name: h.path.slice('/dev/dma_heap/'.length), ...node(h) })) },
    syncFile: sync,
    drm: { ...explainDrm(f), devices: f.drm.map((d) => ({ ...node(d), driver: d.driver })) },
    video: { ...explainVideo(f), devices: f.video.map((v) => ({ ...node(v), name: v.name })) },
    externalBuffers: external
      ? { ok: true }
      : {
          ok: false,
          why: "this runtime forbids external ArrayBuffers (Electron's V8 memory cage): mmap() and kmap() are unavailable",
          fix: 'use read() and write(), which copy',
        },
    exporters,
    auto: exporters[0],
    autoWhy,
  };
}

const STATE_WORDS: Record<ModuleInfo['state'], string> = {
  builtin: 'built in',
  loaded: 'module, loaded',
  available: 'module, not loaded',
  absent: 'not in this kernel',
  unknown: 'state unknown',
};

/** The report as lines of text. */
export function renderDoctor(r: DoctorReport, c: ReturnType<typeof colours>): string {
  const lines: string[] = [];
  const mark = (ok: boolean | null) => (ok === null ? c.dim('·') : ok ? c.green('✓') : c.red('✗'));
  const row = (ok: boolean | null, label: string, text: string, f?: Finding) => {
    lines.push(`  ${mark(ok)} ${label.padEnd(17)} ${text}`);
    if (f && !f.ok && f.fix) lines.push(`  ${' '.repeat(19)} ${c.yellow('fix:')} ${f.fix}`);
  };
  const s = r.system;
  lines.push(
    c.bold(
      `dmabuf doctor: Linux ${s.kernel}${s.machine ? `, ${s.machine}` : ''} (Node ${s.arch}), page size ${s.pageSize}, Node ${s.node}`,
    ) + (s.root !== '/' ? ` ${c.dim(`(tree under ${s.root})`)}` : ''),
  );
  row(r.native.loaded, 'native addon', r.native.loaded ? 'loaded' : (r.native.error ?? 'not loaded').split('\n')[0], {
    ok: r.native.loaded,
    fix: r.native.error?.startsWith('Linux-only')
      ? undefined
      : 'npm rebuild dmabuf (needs python3, make and g++); Linux x64 and arm64 have prebuilds',
  });
  const cfg = r.kernelConfig;
  const set = Object.entries(cfg.options)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k.slice(7)}=${v}`)
    .join(' ');
  row(
    null,
    'kernel config',
    cfg.source
      ? `${cfg.source}: ${set || '(none of the dma-buf options)'}`
      : 'not readable (no /proc/config.gz, no /boot/config-<release>)',
  );
  const u = r.udmabuf;
  const limits = u.sizeLimitMb !== null ? `; size_limit_mb ${u.sizeLimitMb}, list_limit ${u.listLimit ?? '?'}` : '';
  const dev = u.device.present
    ? `/dev/udmabuf ${u.device.openable ? 'opens' : `does not open (${u.device.error})`} (${u.device.mode})`
    : 'no /dev/udmabuf';
  row(u.ok, 'udmabuf', `${STATE_WORDS[u.module.state]}; ${dev}${limits}${u.ok ? '' : `\n${' '.repeat(22)}${u.why}`}`, u);
  const h = r.heaps;
  row(
    h.ok,
    'DMA heaps',
    h.devices.length
      ? h.devices.map((d) => `${d.name} (${d.openable ? 'opens' : `does not open: ${d.error}`}, ${d.mode})`).join(', ') +
          (h.ok ? '' : `\n${' '.repeat(22)}${h.why}`)
      : (h.why ?? 'none'),
    h,
  );
  const y = r.syncFile;
  row(
    y.check === 'tried' ? y.ok : y.ok ? null : false,
    'sync_file',
    y.check === 'tried'
      ? y.ok
        ? `DMA_BUF_IOCTL_EXPORT_SYNC_FILE works (tried on a ${y.on} buffer)`
        : (y.why ?? '')
      : y.ok
        ? `likely: ${y.note}`
        : `no: ${y.why}`,
    y,
  );
  row(
    r.drm.ok,
    'DRM devices',
    r.drm.devices.length
      ? r.drm.devices.map((d) => `${d.path} (${d.driver || '?'}${d.openable ? '' : `, ${d.error}`})`).join(', ')
      : (r.drm.why ?? ''),
    r.drm,
  );
  row(
    r.video.ok,
    'V4L2 devices',
    r.video.devices.length
      ? r.video.devices.map((d) => `${d.path} (${d.name || '?'}${d.openable ? '' : `, ${d.error}`})`).join(', ')
      : (r.video.why ?? ''),
    r.video,
  );
  row(
    r.externalBuffers.ok,
    'external buffers',
    r.externalBuffers.ok ? 'allowed: mmap() views work' : (r.externalBuffers.why ?? ''),
    r.externalBuffers,
  );
  row(null, 'container', s.container ? `${s.container.kind} (${s.container.evidence})` : 'none detected');
  lines.push(`  → exporters here: ${r.exporters.join(', ')}`);
  lines.push(`  → 'auto' picks ${r.autoWhy}`);
  lines.push(
    r.verdict === 'dma-buf'
      ? c.green('real dma-bufs are usable here (exit 0)')
      : c.yellow(`only the fallback exporters (${r.exporters.join(', ')}) are usable here (exit 1)`),
  );
  return lines.join('\n') + '\n';
}

export function doctor(argv: string[], io: Io): number {
  let json = argv.includes('--json');
  try {
    const { values } = parse('doctor', {
      args: argv,
      options: {
        json: { type: 'boolean' },
        'no-color': { type: 'boolean' },
        root: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    json = !!values.json;
    if (values.help) {
      io.out.write(DOCTOR_HELP + '\n');
      return EXIT.OK;
    }
    const report = diagnose(values.root ?? '/');
    io.out.write(json ? JSON.stringify(report, null, 2) + '\n' : renderDoctor(report, colours(io.out, io.env, values['no-color'])));
    return report.verdict === 'dma-buf' ? EXIT.OK : EXIT.FALLBACK;
  } catch (err) {
    return fail(io, 'doctor', err, json);
  }
}
