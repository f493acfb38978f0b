// dmabuf: real Linux dma-buf buffers for Node.js.
export { DmaBuf, Attachment, CpuAccessGuard, type SgTable, type WaitOptions } from './dma-buf';
export { allocate, fromFd, registerExporter, type AllocateOptions, type FromFdOptions, type ExporterFactory } from './allocate';
export { capabilities, type Capabilities, type BuiltinExporter } from './capabilities';
export { DmaBufError, codes, type DmaBufErrorCode } from './errors';
export type { DmaBufOps, AttachmentInfo } from './ops';
export type { Device, DeviceConstraints, Segment } from './layout';
export type { CpuAccess, DmaDirection } from './validate';
export { PAGE_SIZE } from './validate';
export type { DmaBufInfo } from './fdinfo';
export { listHeaps } from './exporters/dma-heap';
export { udmabufLimits } from './exporters/udmabuf';
export type { UdmabufOptions } from './exporters/udmabuf';
export type { DmaHeapOptions } from './exporters/dma-heap';
export type { MemfdOptions } from './exporters/memfd';
export type { MemoryOptions } from './fallback/memory';
export { StorageOps, type StorageOptions } from './exporters/storage';
export { SyncFile, type SyncFileInfo, type FenceInfo, type FenceStatus, type SyncFileFromFdOptions } from './sync-file';
export { DrmDevice, GemObject, drmDevices, openVgem } from './devices/drm';
