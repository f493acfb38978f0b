// Electron's nativePixmap, as its docs give it (SharedTextureHandle.nativePixmap:
// { planes: [{ fd, stride, offset, size }], modifier, supportsZeroCopyWebGpuImport }), from
// hostile hands: every malformed field is an error with a code, never a crash, and nothing
// is dup'ed or closed that should not be. What needs real dma-bufs: kernel/39.
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import {
  Channel,
  FrameConsumer,
  FrameProducer,
  PAGE_SIZE,
  allocate,
  importNativePixmap,
  toNativePixmap,
  type NativePixmap,
  type PixmapInfo,
} from '../lib';
import { assertCode, assertSysError, checkFds, isOpen, subjects } from './helpers';

const INFO: PixmapInfo = { pixelFormat: 'bgra', codedSize: { width: 16, height: 16 } };
const hasMemfd = subjects().some((s) => s.exporter === 'memfd');

/** A pixmap as Electron documents it, one plane on `fd`, with `plane` fields replaced. */
function pixmap(fd: number, plane: Record<string, unknown> = {}, rest: Record<string, unknown> = {}): NativePixmap {
  return {
    planes: [{ fd, stride: 64, offset: 0, size: 64 * 16, ...plane }],
    modifier: '0',
    supportsZeroCopyWebGpuImport: false,
    ...rest,
  } as NativePixmap;
}

describe('66 Electron nativePixmap: validation (host)', () => {
  checkFds();

  it('refuses what is not a pixmap, field by field, with codes', () => {
    const fd = 0; // never dup'ed: every case fails before the fds are looked at
    const cases: Array<[unknown, unknown, string, RegExp?]> = [
      [null, INFO, 'ERR_INVALID_ARG_TYPE', /"pixmap"/],
      [42, INFO, 'ERR_INVALID_ARG_TYPE', /"pixmap"/],
      [pixmap(fd), null, 'ERR_INVALID_ARG_TYPE', /"info"/],
      [pixmap(fd), { ...INFO, pixelFormat: 'yuv420' }, 'ERR_INVALID_ARG_VALUE', /info\.pixelFormat/],
      [pixmap(fd), { ...INFO, pixelFormat: 7 }, 'ERR_INVALID_ARG_TYPE', /info\.pixelFormat/],
      [pixmap(fd), { ...INFO, codedSize: { width: 0, height: 16 } }, 'ERR_OUT_OF_RANGE', /info\.codedSize\.width/],
      [pixmap(fd), { ...INFO, codedSize: { width: 16, height: 1e9 } }, 'ERR_OUT_OF_RANGE', /info\.codedSize\.height/],
      [pixmap(fd), { ...INFO, codedSize: '16x16' }, 'ERR_INVALID_ARG_TYPE', /info\.codedSize/],
      [{ ...pixmap(fd), planes: 'x' }, INFO, 'ERR_INVALID_ARG_TYPE', /pixmap\.planes/],
      [{ ...pixmap(fd), planes: [] }, INFO, 'ERR_INVALID_ARG_VALUE', /pixmap\.planes/],
      [{ ...pixmap(fd), planes: Array(5).fill(pixmap(fd).planes[0]) }, INFO, 'ERR_INVALID_ARG_VALUE', /1 to 4 planes/],
      [{ ...pixmap(fd), planes: [null] }, INFO, 'ERR_INVALID_ARG_TYPE', /pixmap\.planes\[0\]/],
      [pixmap(fd, { fd: -1 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.fd/],
      [pixmap(fd, { fd: 3.5 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.fd/],
      [pixmap(fd, { fd: '3' }), INFO, 'ERR_INVALID_ARG_TYPE', /planes\[0\]\.fd/],
      [pixmap(fd, { offset: -4096 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.offset/],
      [pixmap(fd, { offset: 2 ** 53 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.offset/],
      [pixmap(fd, { offset: NaN }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.offset/],
      [pixmap(fd, { size: 0 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.size/],
      [pixmap(fd, { size: Infinity }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.size/],
      [pixmap(fd, { stride: 2 ** 32 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.stride/],
      [pixmap(fd, { stride: 32 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.stride.*>= 64/],
      [pixmap(fd, { size: 64 * 15 }), INFO, 'ERR_OUT_OF_RANGE', /planes\[0\]\.size.*>= 1024/],
      [pixmap(fd, {}, { modifier: 0 }), INFO, 'ERR_INVALID_ARG_TYPE', /pixmap\.modifier/],
      [pixmap(fd, {}, { modifier: '0x0' }), INFO, 'ERR_INVALID_ARG_VALUE', /pixmap\.modifier.*decimal/],
      [pixmap(fd, {}, { modifier: '-1' }), INFO, 'ERR_INVALID_ARG_VALUE', /pixmap\.modifier/],
      [pixmap(fd, {}, { modifier: String(2n ** 64n) }), INFO, 'ERR_OUT_OF_RANGE', /pixmap\.modifier/],
      [pixmap(fd, {}, { modifier: -1n }), INFO, 'ERR_OUT_OF_RANGE', /pixmap\.modifier/],
      [pixmap(fd, {}, { supportsZeroCopyWebGpuImport: 'yes' }), INFO, 'ERR_INVALID_ARG_TYPE', /supportsZeroCopyWebGpuImport/],
      [pixmap(fd), { ...INFO, pixelFormat: 'nv12' }, 'ERR_INVALID_ARG_VALUE', /a linear nv12 pixmap has 2 plane\(s\); this one has 1/],
    ];
    for (const [p, info, code, message] of cases)
      assertCode(() => importNativePixmap(p as NativePixmap, info as PixmapInfo), code, message);
  });

  it('reads each field once: a getter cannot pass the check with one value and be used with another', () => {
    let reads = 0;
    const plane = {
      get fd() {
        reads++;
        return reads === 1 ? 999_999 : 0;
      },
      stride: 64,
      offset: 0,
      size: 1024,
    };
    assertSysError(() => importNativePixmap({ planes: [plane], modifier: '0', supportsZeroCopyWebGpuImport: false }, INFO), 'EBADF', -9);
    assert.equal(reads, 1);
    const boom = new Error('from a getter');
    assert.throws(
      () =>
        importNativePixmap(
          {
            planes: [
              Object.defineProperty({}, 'fd', {
                get() {
                  throw boom;
                },
              }),
            ],
          } as NativePixmap,
          INFO,
        ),
      (err) => err === boom,
    );
  });

  it('fds: one not open is EBADF; a socket or a file is not a dma-buf; a memfd is refused by name; none of them is closed or dup’ed', () => {
    const [ch, r] = Channel.pair();
    const w = openSync('/dev/null', 'r');
    const file = openSync(__filename, 'r');
    try {
      assertSysError(() => importNativePixmap(pixmap(999_999), INFO), 'EBADF', -9);
      assertCode(() => importNativePixmap(pixmap(r), INFO), 'ERR_DMABUF_NOT_DMABUF');
      assertCode(() => importNativePixmap(pixmap(file), INFO), 'ERR_DMABUF_NOT_DMABUF');
      assertCode(() => importNativePixmap(pixmap(w), INFO), 'ERR_DMABUF_NOT_DMABUF');
      if (hasMemfd) {
        using m = allocate(PAGE_SIZE, { exporter: 'memfd' });
        assertCode(() => importNativePixmap(pixmap(m.fd), INFO), 'ERR_DMABUF_NOT_DMABUF', /is a memfd, not a dma-buf/);
      }
      for (const fd of [r, w, file]) assert.ok(isOpen(fd), `fd ${fd} stays the caller's`);
    } finally {
      for (const fd of [r, w, file]) closeSync(fd);
      ch.close();
    }
  });

  it('toNativePixmap refuses what is not a dma-buf: memfd and memory buffers, a memfd pool frame; and bad options', async () => {
    using mem = allocate(PAGE_SIZE, { exporter: 'memory' });
    assertCode(() => toNativePixmap(mem, INFO), 'ERR_DMABUF_NOT_DMABUF', /'memory' buffer is not a dma-buf.*'udmabuf' or 'dma-heap'/);
    assertCode(() => toNativePixmap({} as never, INFO), 'ERR_INVALID_ARG_TYPE', /"frame"/);
    assertCode(() => toNativePixmap(mem, { ...INFO, pixelFormat: 'i420' as never }), 'ERR_INVALID_ARG_VALUE');
    if (!hasMemfd) return;
    using m = allocate(PAGE_SIZE, { exporter: 'memfd' });
    assertCode(() => toNativePixmap(m, INFO), 'ERR_DMABUF_NOT_DMABUF', /'memfd' buffer is not a dma-buf/);
    assert.equal(m.refs, 1, 'no reference taken');
    const [a, bFd] = Channel.pair();
    const b = Channel.fromFd(bFd, { takeOwnership: true });
    const [producer, consumer] = await Promise.all([
      FrameProducer.create(a, PAGE_SIZE, { count: 2, exporter: 'memfd' }),
      FrameConsumer.attach(b),
    ]);
    try {
      await producer.submit(await producer.acquire(), null);
      const f = await consumer.next();
      assert.ok(f);
      assertCode(() => toNativePixmap(f, INFO), 'ERR_DMABUF_NOT_DMABUF', /'memfd' buffer is not a dma-buf/);
      await f.release(); // no hold was taken: the frame goes straight back
      await producer.acquire({ timeout: 10000 });
    } finally {
      producer.close();
      consumer.close();
      a.close();
      b.close();
    }
  });
});
