// What the kernel says about an fd: /proc/self/fdinfo/<fd> and /proc/self/fd/<fd>.
import { readFileSync, readlinkSync } from 'node:fs';

/** Parsed /proc/self/fdinfo/<fd> of a dma-buf (fields the kernel printed, by name). */
export interface DmaBufInfo {
  /** Size in bytes (`size:`). */
  size: number;
  /** Open references to the file, procfs' own excluded (`count:`). */
  count: number;
  /** Exporter name (`exp_name:`), e.g. 'udmabuf', 'system'. */
  expName: string;
  /** Name set with setName (`name:`), or '' when none. */
  name: string;
  /** Inode number (`ino:`), unique per dma-buf. */
  ino: number;
  /** Open flags (`flags:`, octal in the file). */
  flags: number;
  /** Every line, raw. */
  raw: Record<string, string>;
}

/** /proc/self/fdinfo/<fd> as key → value. The kernel writes `key:\tvalue`; only that tab is
 *  dropped, so a dma-buf name keeps its own leading and trailing spaces. */
export function readFdInfo(fd: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const value = line.slice(i + 1);
    out[line.slice(0, i)] = value.startsWith('\t') ? value.slice(1) : value.trim();
  }
  return out;
}

export function parseDmaBufInfo(raw: Record<string, string>): DmaBufInfo {
  return {
    size: Number(raw.size),
    count: Number(raw.count),
    expName: raw.exp_name ?? '',
    name: raw.name ?? '',
    ino: Number(raw.ino),
    flags: parseInt(raw.flags ?? '0', 8),
    raw,
  };
}

/** readlink /proc/self/fd/<fd>, or null when the fd is not open. */
export function fdLink(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

export type FdKind = 'dmabuf' | 'memfd' | 'other' | 'closed';

/** A dma-buf links to `/dmabuf:<name>`; a memfd to `/memfd:<name> (deleted)`. */
export function fdKind(fd: number): FdKind {
  const link = fdLink(fd);
  if (link === null) return 'closed';
  if (link.startsWith('/dmabuf:')) return 'dmabuf';
  if (link.startsWith('/memfd:')) return 'memfd';
  return 'other';
}

/** Whether fd is an open dma-buf (readlink /dmabuf:…). */
export function isDmaBuf(fd: number): boolean {
  return fdKind(fd) === 'dmabuf';
}
