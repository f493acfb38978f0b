// V4L2 capture into dma-bufs (V4L2_MEMORY_DMABUF): the camera, or vivid, writes frames
// straight into buffers this library allocated. Struct layouts from
// include/uapi/linux/videodev2.h on 64-bit Linux.
import { native } from '../platform/binding';
import { inCpuAccess, type DmaBuf } from '../core/dma-buf';
import { DmaBufError, codes, closedError } from '../platform/errors';
import { READABLE, Readiness } from '../fences/readiness';
import { namedIoctl } from './ioctl';
import * as v from '../platform/validate';
import { IOW, IOWR } from '../platform/uapi';

const V4L2_FORMAT_SIZE = 208;
const V4L2_BUFFER_SIZE = 88;
const V4L2_REQUESTBUFFERS_SIZE = 20;

/** VIDIOC_* numbers (type 'V'). */
export const VIDIOC = {
  G_FMT: IOWR('V', 4, V4L2_FORMAT_SIZE),
  REQBUFS: IOWR('V', 8, V4L2_REQUESTBUFFERS_SIZE),
  QBUF: IOWR('V', 15, V4L2_BUFFER_SIZE),
  DQBUF: IOWR('V', 17, V4L2_BUFFER_SIZE),
  STREAMON: IOW('V', 18, 4),
  STREAMOFF: IOW('V', 19, 4),
} as const;

/** The V4l2Capture method behind each ioctl, for ERR_DMABUF_CLOSED. */
const METHOD: Record<keyof typeof VIDIOC, string> = {
  G_FMT: 'format',
  REQBUFS: 'requestBuffers',
  QBUF: 'queue',
  DQBUF: 'dequeue',
  STREAMON: 'streamOn',
  STREAMOFF: 'streamOff',
};

const BUF_TYPE_VIDEO_CAPTURE = 1;
const MEMORY_DMABUF = 4;

export interface V4l2Format {
  width: number;
  height: number;
  /** FourCC, e.g. 'YUYV'. */
  pixelFormat: string;
  bytesPerLine: number;
  /** Bytes a frame needs; buffers must be at least this large. */
  sizeImage: number;
}

export interface CapturedFrame {
  /** The queue slot, as given to queue(). */
  index: number;
  buffer: DmaBuf;
  bytesUsed: number;
  /** The driver's frame counter. */
  sequence: number;
  /** Capture time (CLOCK_MONOTONIC), microseconds. */
  timestampUs: number;
  /**
   * Copies the frame's bytes at offset (within bytesUsed) into target: the copy-mode path
   * (Electron), where buffer.mmap() is refused. Inside your read bracket if one is open,
   * else inside one of its own (DMA_BUF_IOCTL_SYNC START|READ … END|READ).
   */
  read(offset: number, target: ArrayBufferView): void;
}

/** CapturedFrame.read. */
function readCaptured(buffer: DmaBuf, bytesUsed: number, offset: number, target: ArrayBufferView): void {
  const bytes = v.bytes(target, 'target');
  const off = v.range(offset, bytes.byteLength, bytesUsed);
  if (inCpuAccess(buffer, false)) {
    buffer.read(off, bytes);
    return;
  }
  buffer.beginCpuAccess('read');
  try {
    buffer.read(off, bytes);
  } finally {
    buffer.endCpuAccess('read');
  }
}

/** A V4L2 capture node (/dev/videoN) streaming into dma-bufs. */
export class V4l2Capture implements Disposable {
  readonly path: string;
  #fd: number;
  readonly #ready: Readiness;
  #slots: Array<DmaBuf | null> = [];
  #streaming = false;

  constructor(path = '/dev/video0') {
    v.str(path, 'path');
    const b = native();
    this.path = path;
    this.#fd = b.open(path, b.constants.O_RDWR | b.constants.O_NONBLOCK);
    this.#ready = new Readiness(this.#fd);
  }

  get fd(): number {
    if (this.#fd < 0) throw closedError('V4l2Capture', 'fd');
    return this.#fd;
  }

  /** VIDIOC_G_FMT of the capture queue. */
  format(): V4l2Format {
    const d = new DataView(new ArrayBuffer(V4L2_FORMAT_SIZE));
    d.setUint32(0, BUF_TYPE_VIDEO_CAPTURE, true);
    this.#ioctl('G_FMT', d);
    const fourcc = d.getUint32(16, true);
    return {
      width: d.getUint32(8, true),
      height: d.getUint32(12, true),
      pixelFormat: String.fromCharCode(fourcc & 0xff, (fourcc >> 8) & 0xff, (fourcc >> 16) & 0xff, fourcc >>> 24),
      bytesPerLine: d.getUint32(24, true),
      sizeImage: d.getUint32(28, true),
    };
  }

  /** VIDIOC_REQBUFS with V4L2_MEMORY_DMABUF: `count` slots (0 frees them); returns what the driver granted. */
  requestBuffers(count: number): number {
    v.integer(count, 'count', 0, 64);
    const d = new DataView(new ArrayBuffer(V4L2_REQUESTBUFFERS_SIZE));
    d.setUint32(0, count, true);
    d.setUint32(4, BUF_TYPE_VIDEO_CAPTURE, true);
    d.setUint32(8, MEMORY_DMABUF, true);
    this.#ioctl('REQBUFS', d);
    const granted = d.getUint32(0, true);
    this.#slots = new Array<DmaBuf | null>(granted).fill(null);
    return granted;
  }

  /** VIDIOC_QBUF: the device will write the next frame into `buffer` (at least sizeImage bytes). */
  queue(index: number, buffer: DmaBuf): void {
    v.integer(index, 'index', 0, this.#slots.length - 1);
    const d = this.#v4l2Buffer(index);
    d.setInt32(64, buffer.fd, true);
    d.setUint32(72, buffer.size, true);
    this.#ioctl('QBUF', d);
    this.#slots[index] = buffer;
  }

  streamOn(): void {
    this.#ioctl('STREAMON', this.#type());
    this.#streaming = true;
  }

  streamOff(): void {
    if (!this.#streaming || this.#fd < 0) return;
    this.#ioctl('STREAMOFF', this.#type());
    this.#streaming = false;
  }

  /** VIDIOC_DQBUF once a frame is ready, waiting on the event loop (POLLIN). */
  async dequeue(options: { timeout?: number } = {}): Promise<CapturedFrame> {
    const timeout = options.timeout === undefined ? -1 : v.integer(options.timeout, 'options.timeout');
    if (this.#fd < 0) throw closedError('V4l2Capture', 'dequeue');
    for (;;) {
      await this.#ready.wait(READABLE, timeout, `${this.path}: dequeue`);
      const d = this.#v4l2Buffer(0);
      try {
        this.#ioctl('DQBUF', d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw err;
      }
      const index = d.getUint32(0, true);
      const buffer = this.#slots[index];
      if (!buffer) throw new DmaBufError(codes.NOT_SUPPORTED, `${this.path}: the driver returned slot ${index}, which was not queued`);
      const bytesUsed = d.getUint32(8, true);
      return {
        index,
        buffer,
        bytesUsed,
        read: (offset, target) => readCaptured(buffer, bytesUsed, offset, target),
        sequence: d.getUint32(56, true),
        timestampUs: Number(d.getBigInt64(24, true)) * 1e6 + Number(d.getBigInt64(32, true)),
      };
    }
  }

  /** Stops streaming, frees the slots (the buffers stay yours) and closes the node. */
  close(): void {
    if (this.#fd < 0) return;
    try {
      this.streamOff();
      if (this.#slots.length) this.requestBuffers(0);
    } finally {
      this.#ready.close('V4l2Capture', 'dequeue');
      native().close(this.#fd);
      this.#fd = -1;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #type(): DataView {
    const d = new DataView(new ArrayBuffer(4));
    d.setUint32(0, BUF_TYPE_VIDEO_CAPTURE, true);
    return d;
  }

  #v4l2Buffer(index: number): DataView {
    const d = new DataView(new ArrayBuffer(V4L2_BUFFER_SIZE));
    d.setUint32(0, index, true);
    d.setUint32(4, BUF_TYPE_VIDEO_CAPTURE, true);
    d.setUint32(60, MEMORY_DMABUF, true);
    return d;
  }

  #ioctl(name: keyof typeof VIDIOC, data: DataView): void {
    if (this.#fd < 0) throw closedError('V4l2Capture', METHOD[name]);
    namedIoctl(this.#fd, VIDIOC[name], `VIDIOC_${name}`, this.path, data);
  }
}
