// Electron's shared textures with real dma-bufs (VM suite only): nativePixmaps built as
// Electron documents them over udmabuf, DMA-heap and vgem PRIME buffers, imported with
// importNativePixmap (fds dup'ed and counted, offsets, strides, refusals), and frames of a
// pool described by toNativePixmap for sharedTexture.importSharedTexture (a stub with
// Electron's documented shapes and its fd handling), given back only once every reference
// is released. Runs in copy mode too (npm run test:kernel:copy-mode).
import assert from 'node:assert/strict';
import {
  Channel,
  FrameConsumer,
  FrameProducer,
  PAGE_SIZE,
  allocate,
  importNativePixmap,
  openVgem,
  toNativePixmap,
  type DmaBuf,
  type NativePixmap,
} from '../../lib';
import { native } from '../../lib/platform/binding';
import { FakeSharedTexture, paintTexture } from '../fixtures/electron-stub';
import { COPY_MODE, assertCode, checkFds, isOpen, onlyWith, openFds } from '../helpers';
import { assertPending } from '../loop';

const roundUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
const byte = (i: number) => (i * 13 + 5) & 0xff;

/** A buffer filled with byte(i) at every offset i. */
function patterned(exporter: 'udmabuf' | 'dma-heap', size: number): DmaBuf {
  const buf = allocate(roundUp(size), { exporter });
  buf.write(
    0,
    Uint8Array.from({ length: buf.size }, (_, i) => byte(i)),
  );
  return buf;
}

/** What Electron holds: its own fd on the buffer (a dup), the buffer's other holders gone. */
function electronsFd(buf: DmaBuf): number {
  const fd = native().dup(buf.fd);
  buf.close();
  return fd;
}

for (const exporter of ['udmabuf', 'dma-heap'] as const) {
  describe(`39 Electron nativePixmap on ${exporter}`, () => {
    onlyWith(exporter);
    checkFds();

    it("an offscreen bgra frame: one dup per fd, still readable after texture.release() closed Electron's fd, closed with the pixmap", () => {
      const fds0 = openFds();
      const fd = electronsFd(patterned(exporter, 256 * 40));
      const texture = paintTexture(
        { planes: [{ fd, stride: 256, offset: 0, size: 256 * 40 }], modifier: '0', supportsZeroCopyWebGpuImport: false },
        'bgra',
        60,
        40,
      );
      const pm = importNativePixmap(texture.textureInfo.handle.nativePixmap, texture.textureInfo);
      assert.equal(openFds(), fds0 + 2, "Electron's fd and our one dup");
      texture.release();
      assert.equal(isOpen(fd), false);
      assert.equal(pm.buffers.length, 1);
      assert.equal(pm.buffers[0].exporter, 'import');
      assert.deepEqual(
        { fourcc: pm.fourcc, linear: pm.linear, modifier: pm.modifier, size: pm.codedSize, zeroCopy: pm.supportsZeroCopyWebGpuImport },
        { fourcc: 'AR24', linear: true, modifier: 0n, size: { width: 60, height: 40 }, zeroCopy: false },
      );
      const [p] = pm.planes;
      assert.deepEqual([p.offset, p.stride, p.size, p.width, p.height, p.rowBytes], [0, 256, 10240, 60, 40, 240]);
      const row = new Uint8Array(240);
      p.read(39 * 256, row); // the last row, after texture.release()
      assert.deepEqual(
        row,
        Uint8Array.from({ length: 240 }, (_, i) => byte(39 * 256 + i)),
      );
      if (COPY_MODE)
        assertCode(() => p.view(), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /plane\.read\(offset, target\) and plane\.write\(offset, source\)/);
      else assert.equal(p.view()[39 * 256 + 7], byte(39 * 256 + 7));
      assert.equal(pm.buffers[0].cpuAccessCount.read, 0, 'read() bracketed itself');
      pm.close();
      pm.close();
      assert.equal(pm.closed, true);
      assertCode(() => p.read(0, row), 'ERR_DMABUF_CLOSED', /ImportedPixmap\.read: the pixmap is closed/);
      assert.equal(openFds(), fds0);
    });

    it('nv12 with odd sides: planes by offset and stride; one DmaBuf for a shared fd, one per fd when Chromium gives each plane its own', () => {
      // 33×17: Y rows of 33 bytes, UV rows of 17 pairs (34 bytes), 9 UV rows; stride 64
      const src = patterned(exporter, 64 * 17 + 64 * 9);
      try {
        const shared: NativePixmap = {
          planes: [
            { fd: src.fd, stride: 64, offset: 0, size: 64 * 17 },
            { fd: src.fd, stride: 64, offset: 64 * 17, size: 64 * 9 },
          ],
          modifier: '0',
          supportsZeroCopyWebGpuImport: false,
        };
        using one = importNativePixmap(shared, { pixelFormat: 'nv12', codedSize: { width: 33, height: 17 } });
        assert.equal(one.buffers.length, 1);
        assert.equal(one.planes[0].buffer, one.planes[1].buffer);
        assert.equal(one.fourcc, 'NV12');
        const uv = one.planes[1];
        assert.deepEqual([uv.offset, uv.stride, uv.width, uv.height, uv.rowBytes], [1088, 64, 17, 9, 34]);
        const pair = new Uint8Array(2);
        uv.read(8 * 64 + 32, pair); // the last chroma pair of the last UV row
        assert.deepEqual([...pair], [byte(1088 + 8 * 64 + 32), byte(1088 + 8 * 64 + 33)]);
        assertCode(() => uv.read(64 * 9 - 1, pair), 'ERR_OUT_OF_RANGE', /offset/);

        const b = native();
        const fds = [b.dup(src.fd), b.dup(src.fd)];
        try {
          const before = openFds();
          using two = importNativePixmap(
            { ...shared, planes: shared.planes.map((p, i) => ({ ...p, fd: fds[i] })) },
            { pixelFormat: 'nv12', codedSize: { width: 33, height: 17 } },
          );
          assert.equal(openFds(), before + 2);
          assert.equal(two.buffers.length, 2);
          assert.equal(two.buffers[0].inode, two.buffers[1].inode, 'the same dma-buf');
          two.planes[1].read(8 * 64 + 32, pair);
          assert.deepEqual([...pair], [byte(1088 + 8 * 64 + 32), byte(1088 + 8 * 64 + 33)]);
        } finally {
          for (const fd of fds) b.close(fd);
        }
      } finally {
        src.close();
      }
    });

    it('refusals: a plane beyond its buffer, an offset that would overflow, a second fd that is not a dma-buf; nothing kept, the caller’s fds untouched', () => {
      using src = allocate(PAGE_SIZE, { exporter });
      const fds0 = openFds();
      const one = (plane: Partial<NativePixmap['planes'][0]>): NativePixmap => ({
        planes: [{ fd: src.fd, stride: 64, offset: 0, size: 64 * 16, ...plane }],
        modifier: '0',
        supportsZeroCopyWebGpuImport: false,
      });
      const info = { pixelFormat: 'rgba', codedSize: { width: 16, height: 16 } } as const;
      assertCode(
        () => importNativePixmap(one({ offset: PAGE_SIZE - 64 * 16 + 1 }), info),
        'ERR_OUT_OF_RANGE',
        /lies beyond its dma-buf of \d+ bytes/,
      );
      assertCode(
        () => importNativePixmap(one({ offset: Number.MAX_SAFE_INTEGER, size: 64 * 16 }), info),
        'ERR_OUT_OF_RANGE',
        /lies beyond/,
      );
      assertCode(() => importNativePixmap(one({ size: PAGE_SIZE + 64 }), info), 'ERR_OUT_OF_RANGE', /lies beyond/);
      const [ch, sock] = Channel.pair();
      const withPair = openFds();
      try {
        const planes = [
          { fd: src.fd, stride: 16, offset: 0, size: 16 * 16 },
          { fd: sock, stride: 16, offset: 0, size: 16 * 8 },
        ];
        assertCode(
          () =>
            importNativePixmap(
              { planes, modifier: '0', supportsZeroCopyWebGpuImport: false },
              { pixelFormat: 'nv12', codedSize: { width: 16, height: 16 } },
            ),
          'ERR_DMABUF_NOT_DMABUF',
        );
        assert.equal(openFds(), withPair, 'the first plane’s dup was closed again');
        assert.ok(isOpen(sock));
      } finally {
        native().close(sock);
        ch.close();
      }
      assert.equal(openFds(), fds0);
      assert.equal(src.refs, 1);
    });

    it('a non-linear modifier: CPU views and copies refused, saying why; the dups still go to a GPU', () => {
      using src = allocate(PAGE_SIZE, { exporter });
      const cases: Array<[string, RegExp]> = [
        [
          String((1n << 56n) | 2n),
          /0x0100000000000002 \(INTEL\), not DRM_FORMAT_MOD_LINEAR \(0\): the GPU keeps these bytes in tiles or compressed/,
        ],
        [String((2n << 56n) | 0x1234n), /\(AMD\)/],
        [String((1n << 56n) - 1n), /DRM_FORMAT_MOD_INVALID: the layout is implicit/],
      ];
      for (const [modifier, why] of cases) {
        // Tiled layouts have no row geometry a CPU could use: strides and sizes are the GPU's.
        using pm = importNativePixmap(
          { planes: [{ fd: src.fd, stride: 8, offset: 0, size: PAGE_SIZE }], modifier, supportsZeroCopyWebGpuImport: true },
          { pixelFormat: 'bgra', codedSize: { width: 32, height: 32 } },
        );
        assert.equal(pm.linear, false);
        assert.equal(pm.modifier, BigInt(modifier));
        const p = pm.planes[0];
        for (const op of [
          () => p.view(),
          () => p.read(0, new Uint8Array(1)),
          () => p.write(0, new Uint8Array(1)),
          () => pm.cpuAccess('read'),
        ]) {
          assert.throws(op, (err: Error & { code: string; modifier: string }) => {
            assert.equal(err.code, 'ERR_DMABUF_NOT_LINEAR');
            assert.match(err.message, why);
            assert.match(err.message, /Hand it to a GPU instead/);
            assert.equal(err.modifier, modifier);
            return true;
          });
        }
        using vgem = openVgem();
        using gem = vgem.importDmaBuf(pm.buffers[0]);
        assert.ok(gem.handle > 0);
      }
    });

    it('toNativePixmap: a pool frame as importSharedTexture takes it; back to the producer only once we and every process released it', async () => {
      const [a, bFd] = Channel.pair();
      const b = Channel.fromFd(bFd, { takeOwnership: true });
      const width = 64;
      const height = 32;
      const [producer, consumer] = await Promise.all([
        FrameProducer.create(a, roundUp(width * 4 * height), { count: 2, exporter }),
        FrameConsumer.attach(b),
      ]);
      const electron = new FakeSharedTexture();
      const renderer = {};
      const drawing: Array<{ release(): void }> = [];
      electron.setSharedTextureReceiver(renderer, ({ importedSharedTexture }) => {
        drawing.push(importedSharedTexture); // a renderer keeps it while it draws
      });
      try {
        for (let n = 0; n < 2; n++) {
          const frame = await producer.acquire();
          frame.write(0, new Uint8Array(width * 4 * height).fill(0x40 + n));
          await producer.submit(frame, { n });
        }
        const f = await consumer.next();
        assert.ok(f);
        const options = toNativePixmap(f, { pixelFormat: 'rgba', codedSize: { width, height }, timestamp: 40_000 });
        assert.deepEqual(options.textureInfo, {
          pixelFormat: 'rgba',
          codedSize: { width, height },
          visibleRect: { x: 0, y: 0, width, height },
          timestamp: 40_000,
          handle: {
            nativePixmap: {
              planes: [{ fd: f.buffer.fd, stride: width * 4, offset: 0, size: width * 4 * height }],
              modifier: '0',
              supportsZeroCopyWebGpuImport: false,
            },
          },
        });
        // Our description reads back as the frame itself.
        using back = importNativePixmap(options.textureInfo.handle.nativePixmap, options.textureInfo);
        const px = new Uint8Array(4);
        back.planes[0].read(width * 4 * height - 4, px);
        assert.deepEqual([...px], [0x40, 0x40, 0x40, 0x40]);

        const fds0 = openFds();
        const imported = electron.importSharedTexture(options);
        assert.equal(openFds(), fds0 + 1, 'Electron dups the plane fd');
        await electron.sendSharedTexture({ frame: renderer, importedSharedTexture: imported }, { n: 0 });
        imported.release(); // main is done with it; the renderer still draws
        await f.release(); // and so are we
        assertCode(() => toNativePixmap(f, { pixelFormat: 'rgba', codedSize: { width, height } }), 'ERR_DMABUF_POOL_STATE', /was released/);
        const again = producer.acquire({ timeout: 60000 });
        await assertPending(again, 'the renderer still holds frame 0: it is not reused');
        assert.equal(f.buffer.cpuAccessCount.read, 1, 'the read bracket stays open while the GPU import lives');
        assert.equal(drawing.length, 1);
        drawing[0].release();
        const reused = await again;
        assert.equal(reused.index, f.index, 'the frame came back once the last reference was released');
        assert.equal(openFds(), fds0, "Electron's dup is closed");
        options.allReferencesReleased(); // a second call changes nothing
        await producer.submit(reused, null);
      } finally {
        producer.close();
        consumer.close();
        a.close();
        b.close();
      }
    });

    it('toNativePixmap twice (two windows): the frame goes back after the last of the three references, in any order', async () => {
      const [a, bFd] = Channel.pair();
      const b = Channel.fromFd(bFd, { takeOwnership: true });
      const [producer, consumer] = await Promise.all([FrameProducer.create(a, PAGE_SIZE, { count: 2, exporter }), FrameConsumer.attach(b)]);
      try {
        for (let n = 0; n < 2; n++) await producer.submit(await producer.acquire(), { n });
        const f = await consumer.next();
        assert.ok(f);
        const info = { pixelFormat: 'bgra', codedSize: { width: 16, height: 16 } } as const;
        const one = toNativePixmap(f, info);
        const two = toNativePixmap(f, info);
        const again = producer.acquire({ timeout: 60000 });
        one.allReferencesReleased();
        await assertPending(again, 'our reference and the second window’s remain');
        await f.release();
        await assertPending(again, 'the second window’s remains');
        two.allReferencesReleased();
        assert.equal((await again).index, f.index);
      } finally {
        producer.close();
        consumer.close();
        a.close();
        b.close();
      }
    });

    it('toNativePixmap of a DmaBuf: holds a reference until allReferencesReleased; nv12 planes follow each other; a frame too large is refused', () => {
      using buf = allocate(roundUp(96 * 64 * 3), { exporter });
      const options = toNativePixmap(buf, { pixelFormat: 'nv12', codedSize: { width: 96, height: 64 }, stride: 128, offset: 256 });
      assert.equal(buf.refs, 2);
      assert.deepEqual(options.textureInfo.handle.nativePixmap.planes, [
        { fd: buf.fd, stride: 128, offset: 256, size: 128 * 64 },
        { fd: buf.fd, stride: 128, offset: 256 + 128 * 64, size: 128 * 32 },
      ]);
      options.allReferencesReleased();
      options.allReferencesReleased();
      assert.equal(buf.refs, 1);
      assertCode(
        () => toNativePixmap(buf, { pixelFormat: 'rgba', codedSize: { width: 4096, height: 4096 } }),
        'ERR_OUT_OF_RANGE',
        /ends at byte 67108864; the buffer has/,
      );
      assertCode(
        () => toNativePixmap(buf, { pixelFormat: 'rgba', codedSize: { width: 96, height: 64 }, stride: 95 * 4 }),
        'ERR_OUT_OF_RANGE',
        /options\.stride/,
      );
      assert.equal(buf.refs, 1);
    });
  });
}

describe('39 Electron nativePixmap from a second device (vgem PRIME)', () => {
  before(function () {
    try {
      openVgem().close();
    } catch {
      this.skip();
    }
  });
  checkFds();

  it('a dumb buffer exported by vgem, as a GPU would hand one out: planes by its pitch; our writes show through the exporter’s own fd', () => {
    using vgem = openVgem();
    const { gem, pitch } = vgem.createDumb(48, 20, 32);
    using _gem = gem;
    using exported = vgem.exportDmaBuf(gem);
    const fds0 = openFds();
    using pm = importNativePixmap(
      { planes: [{ fd: exported.fd, stride: pitch, offset: 0, size: pitch * 20 }], modifier: '0', supportsZeroCopyWebGpuImport: false },
      { pixelFormat: 'rgba', codedSize: { width: 48, height: 20 } },
    );
    assert.equal(openFds(), fds0 + 1);
    assert.equal(pm.buffers[0].info().expName, exported.info().expName);
    {
      using access = pm.cpuAccess('write');
      void access;
      assert.equal(pm.buffers[0].cpuAccessCount.write, 1);
      pm.planes[0].write(19 * pitch, Uint8Array.of(1, 2, 3, 4)); // inside the pixmap's bracket: none of its own
      assert.equal(pm.buffers[0].cpuAccessCount.write, 1);
    }
    assert.equal(pm.buffers[0].cpuAccessCount.write, 0);
    const px = new Uint8Array(4);
    exported.read(19 * pitch, px);
    assert.deepEqual([...px], [1, 2, 3, 4]);
  });
});
