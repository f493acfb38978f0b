// dmabuf: real Linux dma-buf buffers for Node.js.
export { DmaBuf, Attachment, CpuAccessGuard, type SgTable, type WaitOptions } from './dma-buf';
export { allocate, fromFd, registerExporter, type AllocateOptions, type FromFdOptions, type ExporterFactory } from './allocate';
export { capabilities, type Capabilities, type BuiltinExporter } from './capabilities';
export { DmaBufError, codes, type DmaBufErrorCode } from './errors';
export type { DmaBufOps, AttachmentInfo } from './ops';
export type { Device, DeviceConstraints, Segment } from './layout';
export type { CpuAccess, DmaDirection } from './validate';
export { PAGE_SIZE } from './validate';
export { isDmaBuf, fdKind, type DmaBufInfo, type FdKind } from './fdinfo';
export { listHeaps } from './exporters/dma-heap';
export { udmabufLimits } from './exporters/udmabuf';
export type { UdmabufOptions } from './exporters/udmabuf';
export type { DmaHeapOptions } from './exporters/dma-heap';
export type { MemfdOptions } from './exporters/memfd';
export type { MemoryOptions } from './fallback/memory';
export { StorageOps, type StorageOptions } from './exporters/storage';
export { SyncFile, type SyncFileInfo, type FenceInfo, type FenceStatus, type SyncFileFromFdOptions } from './sync-file';
export { DrmDevice, GemObject, drmDevices, openVgem } from './devices/drm';
export {
  Channel, ChannelServer, listen, connect, channelCodes, MAX_BUFFERS, MAX_PAYLOAD,
  type ChannelMessage, type ChannelOptions, type ChannelFromFdOptions, type ListenOptions, type ConnectOptions, type PeerCredentials,
} from './channel';
export { toTransferable, fromTransferable, releaseTransferable, pendingTransfers, type TransferableDmaBuf, type TransferableFd, type TransferableMemory } from './transfer';
export { FrameProducer, FrameConsumer, Frame, ReceivedFrame, type ProducerOptions, type SubmitOptions } from './pool';
export { V4l2Capture, type V4l2Format, type CapturedFrame } from './devices/v4l2';
