// Every dma-buf on the system, as /proc shows them: the fds processes hold
// (/proc/<pid>/fd → `/dmabuf:<name>`, /proc/<pid>/fdinfo/<fd>: size, exp_name, ino), the
// mappings they have (/proc/<pid>/maps lines named `/dmabuf:…`, by inode), and, where the
// kernel has CONFIG_DMABUF_SYSFS_STATS, /sys/kernel/dmabuf/buffers/<ino> for buffers no
// inspectable process holds. The roots are parameters and file access goes through a
// small interface, so tests run on fabricated trees with failures injected.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DmaBufError, codes } from './errors';

/** The three file operations a scan uses; the default is node:fs. */
export interface ScanFs {
  readdir(path: string): string[];
  readlink(path: string): string;
  readFile(path: string): string;
}

export const nodeScanFs: ScanFs = {
  readdir: (p) => readdirSync(p),
  readlink: (p) => readlinkSync(p),
  readFile: (p) => readFileSync(p, 'utf8'),
};

export interface ScanOptions {
  /** The procfs root (default /proc). */
  proc?: string;
  /** The sysfs root (default /sys). */
  sys?: string;
  /** Only these processes (and the buffers they hold or map); the whole system is still read to name every holder. */
  pids?: readonly number[];
  fs?: ScanFs;
}

export interface DmaBufHolder {
  pid: number;
  /** The process's fds that refer to the buffer. */
  fds: number[];
}

export interface DmaBufMapper {
  pid: number;
  /** Bytes mapped, over every mapping of the buffer in that process. */
  bytes: number;
  mappings: number;
}

export interface ScannedBuffer {
  /** The dma-buf's inode number (fdinfo `ino`, the maps inode column): unique per buffer. */
  inode: number;
  /** Bytes: from fdinfo or sysfs; from the largest mapping when only mappings show it (`sizeFrom: 'maps'`, a lower bound). */
  size: number;
  sizeFrom: 'fdinfo' | 'sysfs' | 'maps';
  /** fdinfo `exp_name` ('udmabuf', 'system', 'drm', …), or null when only a mapping shows the buffer. */
  exporter: string | null;
  /** Its name (DMA_BUF_SET_NAME), '' when none. */
  name: string;
  heldBy: DmaBufHolder[];
  mappedBy: DmaBufMapper[];
}

export interface ScannedProcess {
  pid: number;
  /** The command line, arguments joined by spaces; `[comm]` when it has none (kernel threads, zombies). */
  command: string;
  /** dma-buf fds it holds. */
  fds: number;
  /** Distinct dma-bufs it holds or maps. */
  buffers: number;
  /** Bytes of its dma-buf mappings. */
  mapped: number;
  /** Size of the distinct dma-bufs it holds or maps. */
  bytes: number;
}

export interface UninspectableProcess {
  pid: number;
  command: string;
  /** The error reading its fd table (EACCES: another user's process). */
  reason: string;
}

export interface ExporterTotal {
  /** The exporter name, or null for buffers only a mapping shows. */
  exporter: string | null;
  buffers: number;
  bytes: number;
}

export interface DmaBufScan {
  /** Processes holding or mapping at least one dma-buf. */
  processes: ScannedProcess[];
  buffers: ScannedBuffer[];
  /** Per exporter, over `buffers`. */
  totals: ExporterTotal[];
  total: { buffers: number; bytes: number };
  /** Processes whose fds and maps could not be read (another user's: requires root or CAP_SYS_PTRACE); their buffers are not in `buffers`. */
  uninspectable: UninspectableProcess[];
  /** Buffers sysfs lists that no inspected process holds or maps: held by uninspectable processes or only by the kernel. Empty without sysfs stats. */
  unattributed: Array<{ inode: number; size: number; exporter: string | null }>;
  /** Processes that exited while being read. */
  vanished: number;
  /** Kernel threads whose fd tables could not be read: they hold no dma-buf fds, so they are not in `uninspectable`. */
  kernelThreads: number;
  /** Processes looked at. */
  scanned: number;
  /** Whether /sys/kernel/dmabuf/buffers was there (CONFIG_DMABUF_SYSFS_STATS). */
  sysfs: boolean;
}

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code ?? 'EIO';
/** The process is gone (ENOENT), or a zombie whose files went away (ESRCH). */
const gone = (err: unknown) => code(err) === 'ENOENT' || code(err) === 'ESRCH';

function parseFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !(line.slice(0, i) in out)) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** /proc/<pid>/maps escapes a newline in a path as \012. */
const unescapeMapsPath = (p: string) => p.replace(/\\012/g, '\n');

const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) \S+ [0-9a-f]+ \S+ (\d+) +(\/dmabuf:.*)$/;

interface Raw {
  pid: number;
  command: string;
  fds: Array<{ fd: number; inode: number; size: number; exporter: string; name: string }>;
  maps: Map<number, { bytes: number; mappings: number; name: string }>;
}

function command(fs: ScanFs, dir: string): string {
  let cmdline = '';
  try {
    cmdline = fs.readFile(join(dir, 'cmdline'));
  } catch (err) {
    if (gone(err)) throw err;
  }
  const args = cmdline.replace(/\0+$/, '');
  if (args) return args.split('\0').join(' ');
  const comm = fs.readFile(join(dir, 'comm'));
  return `[${comm.endsWith('\n') ? comm.slice(0, -1) : comm}]`;
}

/** One process: its dma-buf fds and mappings; throws ENOENT/ESRCH when it is gone, EACCES when not ours. */
function readProcess(fs: ScanFs, proc: string, pid: number): Raw {
  const dir = join(proc, String(pid));
  const cmd = command(fs, dir);
  const raw: Raw = { pid, command: cmd, fds: [], maps: new Map() };
  try {
    readFds(fs, dir, raw);
  } catch (err) {
    if (err && typeof err === 'object') (err as { command?: string }).command = cmd;
    throw err;
  }
  return raw;
}

/** The dma-buf fds and mappings of the process in `dir`, into `raw`. */
function readFds(fs: ScanFs, dir: string, raw: Raw): void {
  const names = fs.readdir(join(dir, 'fd')).sort((a, b) => Number(a) - Number(b));
  for (const n of names) {
    const fd = Number(n);
    if (!Number.isInteger(fd)) continue;
    let link: string;
    let info: Record<string, string>;
    try {
      link = fs.readlink(join(dir, 'fd', n));
      if (!link.startsWith('/dmabuf:')) continue;
      info = parseFields(fs.readFile(join(dir, 'fdinfo', n)));
    } catch (err) {
      if (gone(err)) continue; // closed while we looked
      throw err;
    }
    const inode = Number(info.ino);
    if (!Number.isInteger(inode)) continue;
    raw.fds.push({ fd, inode, size: Number(info.size) || 0, exporter: info.exp_name ?? '', name: link.slice('/dmabuf:'.length) });
  }
  let maps = '';
  try {
    maps = fs.readFile(join(dir, 'maps'));
  } catch (err) {
    if (!gone(err)) throw err;
  }
  for (const line of maps.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    const inode = Number(m[3]);
    const bytes = parseInt(m[2], 16) - parseInt(m[1], 16);
    const had = raw.maps.get(inode);
    if (had) {
      had.bytes += bytes;
      had.mappings++;
    } else raw.maps.set(inode, { bytes, mappings: 1, name: unescapeMapsPath(m[4].slice('/dmabuf:'.length)) });
  }
}

/** PF_KTHREAD in /proc/<pid>/stat's flags (field 9; readable by anyone). */
const PF_KTHREAD = 0x00200000;

function isKernelThread(fs: ScanFs, proc: string, pid: number): boolean {
  try {
    const stat = fs.readFile(join(proc, String(pid), 'stat'));
    const flags = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[6]);
    return (flags & PF_KTHREAD) !== 0;
  } catch {
    return false;
  }
}

function readSysfs(fs: ScanFs, sys: string): Map<number, { size: number; exporter: string | null }> | null {
  const dir = join(sys, 'kernel', 'dmabuf', 'buffers');
  let names: string[];
  try {
    names = fs.readdir(dir);
  } catch {
    return null;
  }
  const out = new Map<number, { size: number; exporter: string | null }>();
  for (const n of names) {
    const inode = Number(n);
    if (!Number.isInteger(inode)) continue;
    try {
      const size = Number(fs.readFile(join(dir, n, 'size')).trim());
      let exporter: string | null = null;
      try {
        exporter = fs.readFile(join(dir, n, 'exporter_name')).trim();
      } catch {
        // size without exporter_name: keep what there is
      }
      out.set(inode, { size, exporter });
    } catch {
      // released while we looked
    }
  }
  return out;
}

/** Reads every process under `proc` (and sysfs stats under `sys`) and lists the dma-bufs they hold or map. */
export function scanDmaBufs(options: ScanOptions = {}): DmaBufScan {
  const fs = options.fs ?? nodeScanFs;
  const proc = options.proc ?? '/proc';
  let entries: string[];
  try {
    entries = fs.readdir(proc);
  } catch (err) {
    throw new DmaBufError(codes.UNAVAILABLE, `cannot list processes: ${proc} is not readable (${code(err)})`);
  }
  const pids = entries
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  const raws: Raw[] = [];
  const uninspectable: UninspectableProcess[] = [];
  let vanished = 0;
  let kernelThreads = 0;
  for (const pid of pids) {
    try {
      raws.push(readProcess(fs, proc, pid));
    } catch (err) {
      if (gone(err)) vanished++;
      else if (isKernelThread(fs, proc, pid)) kernelThreads++;
      else uninspectable.push({ pid, command: (err as { command?: string }).command ?? '', reason: code(err) });
    }
  }
  const sysfs = readSysfs(fs, options.sys ?? '/sys');

  const buffers = new Map<number, ScannedBuffer>();
  const buffer = (inode: number): ScannedBuffer => {
    let b = buffers.get(inode);
    if (!b) {
      const s = sysfs?.get(inode);
      b = { inode, size: s?.size ?? 0, sizeFrom: s ? 'sysfs' : 'maps', exporter: s?.exporter ?? null, name: '', heldBy: [], mappedBy: [] };
      buffers.set(inode, b);
    }
    return b;
  };
  for (const r of raws) {
    for (const f of r.fds) {
      const b = buffer(f.inode);
      if (b.sizeFrom !== 'fdinfo') Object.assign(b, { size: f.size, sizeFrom: 'fdinfo', exporter: f.exporter || b.exporter });
      if (!b.name) b.name = f.name;
      const h = b.heldBy.find((x) => x.pid === r.pid);
      if (h) h.fds.push(f.fd);
      else b.heldBy.push({ pid: r.pid, fds: [f.fd] });
    }
  }
  for (const r of raws) {
    for (const [inode, m] of r.maps) {
      const b = buffer(inode);
      if (b.sizeFrom === 'maps') b.size = Math.max(b.size, m.bytes);
      if (!b.name) b.name = m.name;
      b.mappedBy.push({ pid: r.pid, bytes: m.bytes, mappings: m.mappings });
    }
  }

  const only = options.pids ? new Set(options.pids) : null;
  const touches = (b: ScannedBuffer, pid: number) => b.heldBy.some((h) => h.pid === pid) || b.mappedBy.some((m) => m.pid === pid);
  const processes: ScannedProcess[] = [];
  for (const r of raws) {
    if ((only && !only.has(r.pid)) || (!r.fds.length && !r.maps.size)) continue;
    const mine = [...buffers.values()].filter((b) => touches(b, r.pid));
    processes.push({
      pid: r.pid,
      command: r.command,
      fds: r.fds.length,
      buffers: mine.length,
      mapped: [...r.maps.values()].reduce((n, m) => n + m.bytes, 0),
      bytes: mine.reduce((n, b) => n + b.size, 0),
    });
  }
  const listed = [...buffers.values()].filter((b) => !only || [...only].some((pid) => touches(b, pid))).sort((a, b) => a.inode - b.inode);
  const totals = new Map<string | null, ExporterTotal>();
  for (const b of listed) {
    const t = totals.get(b.exporter) ?? { exporter: b.exporter, buffers: 0, bytes: 0 };
    t.buffers++;
    t.bytes += b.size;
    totals.set(b.exporter, t);
  }
  const unattributed = only
    ? []
    : [...(sysfs ?? new Map<number, { size: number; exporter: string | null }>())]
        .filter(([inode]) => !buffers.has(inode))
        .map(([inode, s]) => ({ inode, ...s }))
        .sort((a, b) => a.inode - b.inode);
  return {
    processes,
    buffers: listed,
    totals: [...totals.values()].sort((a, b) => b.bytes - a.bytes || String(a.exporter).localeCompare(String(b.exporter))),
    total: { buffers: listed.length, bytes: listed.reduce((n, b) => n + b.size, 0) },
    uninspectable: only ? uninspectable.filter((u) => only.has(u.pid)) : uninspectable,
    unattributed,
    vanished,
    kernelThreads,
    scanned: pids.length,
    sysfs: sysfs !== null,
  };
}
