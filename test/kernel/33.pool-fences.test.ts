// The frame pool where the kernel gives fences: a frame submitted with a pending device
// fence reaches the consumer only once the fence signals, and a wait that times out keeps
// the frame. VM suite only.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Channel, FrameConsumer, FrameProducer, openVgem, PAGE_SIZE } from '../../lib';
import { COPY_MODE, checkFds, onlyWith } from '../helpers';
import type { DrmDevice, Frame, ReceivedFrame } from '../../lib';
import { assertPending } from '../loop';

/** Fills a producer's frame: through its view, or in copy mode (npm run test:kernel:copy-mode) with write(). */
function fillFrame(frame: Frame, value: number): void {
  if (COPY_MODE) frame.write(0, new Uint8Array(frame.buffer.size).fill(value));
  else frame.view().fill(value);
}

/** One byte of a consumer's frame: from its view, or in copy mode with read(). */
function byteAt(f: ReceivedFrame, offset: number): number {
  if (!COPY_MODE) return f.view()[offset];
  const b = new Uint8Array(1);
  f.read(offset, b);
  return b[0];
}

interface Rig {
  /** The consumer's end, for once(b, 'message'). */
  b: Channel;
  vgem: DrmDevice;
  producer: FrameProducer;
  consumer: FrameConsumer;
}

/** A two-frame pool over a channel pair, and vgem to fence its frames; all closed after `body`. */
async function withPool(exporter: 'udmabuf' | 'dma-heap', body: (rig: Rig) => Promise<void>): Promise<void> {
  const [a, bFd] = Channel.pair();
  const b = Channel.fromFd(bFd, { takeOwnership: true });
  using vgem = openVgem();
  const [producer, consumer] = await Promise.all([FrameProducer.create(a, 4 * PAGE_SIZE, { count: 2, exporter }), FrameConsumer.attach(b)]);
  try {
    await body({ b, vgem, producer, consumer });
  } finally {
    producer.close();
    consumer.close();
    a.close();
    b.close();
  }
}

for (const exporter of ['udmabuf', 'dma-heap'] as const) {
  describe(`33 frame pool with vgem fences on ${exporter}`, () => {
    onlyWith(exporter);
    checkFds();

    it('consume waits for the fence passed to submit, without blocking the event loop', async () => {
      await withPool(exporter, async ({ b, vgem, producer, consumer }) => {
        const frame = await producer.acquire();
        fillFrame(frame, 7);
        using gem = vgem.importDmaBuf(frame.buffer);
        const fence = vgem.vgemFenceAttach(gem, true);
        using sf = frame.buffer.exportSyncFile('write');
        assert.equal(sf.signaled, false);
        // The consumer listened first, so the frame message has reached it when this resolves.
        const arrived = once(b, 'message');
        await producer.submit(frame, { gpu: true }, { fence: sf });
        const next = consumer.next({ timeout: 20000 });
        await arrived;
        // Ten full turns of the event loop complete while the fence is pending: the event loop
        // keeps running (a blocking wait would hold it until vgem's own 10 s fence timeout).
        await assertPending(next, 'the consumer waits for the pending fence', 10);
        vgem.vgemFenceSignal(fence);
        const f = await next;
        assert.ok(f);
        assert.equal(byteAt(f, PAGE_SIZE), 7);
        assert.deepEqual(f.meta, { gpu: true });
        await f.release();
      });
    });

    it('a fence that does not signal in time: next() rejects with ERR_DMABUF_TIMEOUT and keeps the frame; once it signals, next() returns it', async () => {
      await withPool(exporter, async ({ vgem, producer, consumer }) => {
        const frame = await producer.acquire();
        fillFrame(frame, 9);
        using gem = vgem.importDmaBuf(frame.buffer);
        const fence = vgem.vgemFenceAttach(gem, true);
        using sf = frame.buffer.exportSyncFile('write');
        await producer.submit(frame, { late: true }, { fence: sf });
        await assert.rejects(consumer.next({ timeout: 50 }), { code: 'ERR_DMABUF_TIMEOUT' });
        await assert.rejects(consumer.next({ timeout: 50 }), { code: 'ERR_DMABUF_TIMEOUT' }, 'still there, still pending');
        vgem.vgemFenceSignal(fence);
        const f = await consumer.next({ timeout: 5000 });
        assert.ok(f);
        assert.equal(f.seq, frame.seq, 'the frame that timed out, not lost');
        assert.deepEqual(f.meta, { late: true });
        assert.equal(byteAt(f, 0), 9);
        await f.release();
        const again = await producer.acquire({ timeout: 5000 });
        await producer.submit(again, null);
      });
    });
  });
}
