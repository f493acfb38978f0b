// dmabuf: real Linux dma-buf buffers for Node.js.
export { DmaBuf, Attachment, CpuAccessGuard, type SgTable, type WaitOptions } from './core/dma-buf';
export { allocate } from './exporters/allocate';
export { fromFd, type FromFdOptions } from './exporters/from-fd';
export { registerExporter, type AllocateOptions, type ExporterFactory } from './exporters/registry';
export { capabilities, type Capabilities, type BuiltinExporter } from './exporters/capabilities';
export { setCopyMode, copyMode, type CopyModeInfo } from './platform/copy-mode';
export { DmaBufError, codes, type DmaBufErrorCode } from './platform/errors';
export type { DmaBufOps, AttachmentInfo } from './core/ops';
export type { Device, DeviceConstraints, Segment } from './core/layout';
export type { CpuAccess, DmaDirection } from './platform/validate';
export { PAGE_SIZE } from './platform/uapi';
export { isDmaBuf, fdKind, type DmaBufInfo, type FdKind } from './platform/fdinfo';
export { listHeaps } from './exporters/dma-heap';
export { udmabufLimits } from './exporters/udmabuf';
export type { UdmabufOptions } from './exporters/udmabuf';
export type { DmaHeapOptions } from './exporters/dma-heap';
export type { MemfdOptions } from './exporters/memfd';
export type { MemoryOptions } from './exporters/memory';
export { StorageOps, type StorageOptions } from './exporters/storage';
export { SyncFile, type SyncFileInfo, type FenceInfo, type FenceStatus, type SyncFileFromFdOptions } from './fences/sync-file';
export { DrmDevice, GemObject, drmDevices, openVgem } from './devices/drm';
export {
  Channel,
  ChannelServer,
  listen,
  connect,
  channelCodes,
  MAX_BUFFERS,
  MAX_PAYLOAD,
  type ChannelMessage,
  type ChannelOptions,
  type ChannelFromFdOptions,
  type ListenOptions,
  type ConnectOptions,
  type PeerCredentials,
} from './sharing/channel';
export {
  toTransferable,
  fromTransferable,
  releaseTransferable,
  pendingTransfers,
  type TransferableDmaBuf,
  type TransferableFd,
  type TransferableMemory,
} from './sharing/transfer';
export { FrameProducer, FrameConsumer, Frame, ReceivedFrame, type ProducerOptions, type SubmitOptions } from './sharing/pool';
export { V4l2Capture, type V4l2Format, type CapturedFrame } from './devices/v4l2';
export {
  importNativePixmap,
  toNativePixmap,
  ImportedPixmap,
  PixmapPlane,
  PixmapCpuAccess,
  DRM_FORMAT_MOD_LINEAR,
  DRM_FORMAT_MOD_INVALID,
  type NativePixmap,
  type NativePixmapPlane,
  type PixelFormat,
  type PixmapInfo,
  type SharedTextureInfo,
  type ImportSharedTextureOptions,
  type ToNativePixmapOptions,
} from './electron/native-pixmap';
