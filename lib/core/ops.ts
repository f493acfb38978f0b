// The exporter interface: the operations of the 2011 dma_buf_ops, plus optional
// userspace extras. Built-in exporters and custom ones implement the same interface;
// DmaBuf runs the state machine (references, attachments, mappings, CPU-access
// brackets, release once) and calls these only in valid states.
import type { Device, Segment } from './layout';
import type { CpuAccess, DmaDirection } from '../platform/validate';
import type { DmaBufInfo } from '../platform/fdinfo';

/** What an exporter sees of an attachment. */
export interface AttachmentInfo {
  readonly device: Device;
}

export interface DmaBufOps {
  /** Shown as `buf.exporter`. */
  readonly exporter: string;
  /** Fixed size in bytes. */
  readonly size: number;

  /** Optional: accept the device (return), refuse it (throw), or ask DmaBuf to
   *  migrate the storage once every mapping is gone (return 'migrate'). */
  attach?(attachment: AttachmentInfo, all: readonly AttachmentInfo[]): void | 'migrate';
  /** Optional. */
  detach?(attachment: AttachmentInfo, all: readonly AttachmentInfo[]): void;
  /** Required: the scatter-gather table for this attachment. May allocate deferred storage. */
  map(attachment: AttachmentInfo, direction: DmaDirection, all: readonly AttachmentInfo[]): Segment[];
  /** Required. */
  unmap(attachment: AttachmentInfo, table: readonly Segment[], direction: DmaDirection): void;
  /** Required: frees the storage. Called exactly once. */
  release(): void;
  /** Required if attach may return 'migrate': move storage, contents preserved. */
  migrate?(all: readonly AttachmentInfo[]): void;

  /** Optional: prepare for CPU access; may throw, and then nothing is left prepared. */
  beginCpuAccess?(direction: CpuAccess): void;
  /** Optional. */
  endCpuAccess?(direction: CpuAccess): void;
  /** Optional: resolves when the buffer's fences allow this access (never blocks). */
  waitFences?(direction: CpuAccess, timeoutMs: number): Promise<void>;
  /** Optional: one page, only called inside a CPU-access bracket. */
  kmap?(page: number): Uint8Array;
  /** Optional: as kmap, and must never wait. */
  kmapAtomic?(page: number): Uint8Array;
  /** Optional: ends a kmap; the view must not be used afterwards. */
  kunmap?(page: number, view: Uint8Array): void;
  /** Optional: the whole buffer, zero-copy. */
  mmap?(): Uint8Array;

  // Userspace extras, optional.
  /** The dma-buf fd (may allocate deferred storage for these devices). */
  fd?(all: readonly AttachmentInfo[]): number;
  /** Raw DMA_BUF_IOCTL_SYNC flags, checked as the kernel checks them. */
  sync?(flags: number): void;
  /** Copy out of / into the buffer (works where external buffers are forbidden). */
  read?(offset: number, target: Uint8Array): void;
  write?(offset: number, source: Uint8Array): void;
  setName?(name: string): void;
  name?(): string;
  info?(): DmaBufInfo;
  inode?(): number;
  /** DMA_BUF_IOCTL_EXPORT_SYNC_FILE: returns a sync_file fd (owned by the caller). */
  exportSyncFile?(direction: CpuAccess): number;
  /** DMA_BUF_IOCTL_IMPORT_SYNC_FILE. */
  importSyncFile?(syncFileFd: number, direction: CpuAccess): void;
  /** The current storage chunks, or null while allocation is deferred. */
  layout?(): readonly Segment[] | null;
}
