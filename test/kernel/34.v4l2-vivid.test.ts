// A real V4L2 driver (vivid) captures straight into our dma-bufs (V4L2_MEMORY_DMABUF):
// the kernel's own dma_buf_attach/map run for the capture device. VM suite only.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { allocate, PAGE_SIZE, V4l2Capture } from '../../lib';
import { COPY_MODE, checkFds, onlyWith } from '../helpers';

const roundUp = (n: number) => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;

for (const exporter of ['udmabuf', 'dma-heap', 'memfd'] as const) {
  describe(`34 V4L2 capture (vivid) into ${exporter}`, () => {
    before(function () {
      if (!existsSync('/dev/video0')) this.skip(); // vivid did not load (the VM console says so)
    });
    onlyWith(exporter);
    checkFds();

    if (exporter === 'memfd') {
      it('a memfd is not a dma-buf: QBUF refuses it', () => {
        using cam = new V4l2Capture('/dev/video0');
        const fmt = cam.format();
        using buf = allocate(roundUp(fmt.sizeImage), { exporter });
        cam.requestBuffers(1);
        assert.throws(
          () => cam.queue(0, buf),
          (err: NodeJS.ErrnoException & { ioctl: string }) =>
            err.ioctl === 'VIDIOC_QBUF' && typeof err.errno === 'number' && err.errno < 0 && /VIDIOC_QBUF/.test(err.message),
        );
      });
      return;
    }

    it('streams frames into our buffers, waited for on the event loop', async () => {
      using cam = new V4l2Capture('/dev/video0');
      const fmt = cam.format();
      assert.equal(fmt.pixelFormat, 'YUYV');
      assert.equal(fmt.sizeImage, fmt.bytesPerLine * fmt.height);
      const bufs = [0, 1].map(() => allocate(roundUp(fmt.sizeImage), { exporter }));
      try {
        assert.equal(cam.requestBuffers(2), 2);
        bufs.forEach((b, i) => cam.queue(i, b));
        cam.streamOn();
        const sequences: number[] = [];
        for (let n = 0; n < 4; n++) {
          const frame = await cam.dequeue({ timeout: 30000 });
          assert.equal(frame.buffer, bufs[frame.index]);
          assert.equal(frame.bytesUsed, fmt.sizeImage);
          sequences.push(frame.sequence);
          {
            await frame.buffer.beginCpuAccessAsync('read', { timeout: 5000 });
            // Copy mode (Electron): no view; read() copies inside the bracket that is open.
            const px = new Uint8Array(4);
            frame.read(0, px);
            // vivid's default pattern: 75 % colour bars, white first (Y 0xb3/0xb4, U/V 0x80)
            assert.ok(px[0] >= 0xb0 && px[0] <= 0xb5 && px[1] === 0x80 && px[3] === 0x80, `first pixels ${[...px]}`);
            if (COPY_MODE) assert.throws(() => frame.buffer.mmap(), { code: 'ERR_DMABUF_NO_EXTERNAL_BUFFERS' });
            else assert.deepEqual([...frame.buffer.mmap().subarray(0, 4)], [...px], 'the view and the copy agree');
            frame.buffer.endCpuAccess('read');
            // Without a bracket of yours, read() opens and ends one of its own.
            const tail = new Uint8Array(2);
            frame.read(frame.bytesUsed - 2, tail);
            assert.equal(tail[1], 0x80, 'the last pixel pair ends with V');
            assert.equal(frame.buffer.cpuAccessCount.read, 0);
            // Only the bytes the driver wrote: bytesUsed bounds it, not the buffer's size.
            assert.throws(() => frame.read(frame.bytesUsed - 1, tail), { code: 'ERR_OUT_OF_RANGE' });
          }
          cam.queue(frame.index, frame.buffer);
        }
        assert.ok(
          sequences.every((s, i) => i === 0 || s > sequences[i - 1]),
          `sequence numbers rise: ${sequences}`,
        );
        cam.streamOff();
      } finally {
        cam.close();
        for (const b of bufs) b.close();
      }
    });
  });
}
