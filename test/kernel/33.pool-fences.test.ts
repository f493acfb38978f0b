// The frame pool where the kernel gives fences: a frame submitted with a pending device
// fence reaches the consumer only once the fence signals. VM suite only.
import assert from 'node:assert/strict';
import { Channel, FrameConsumer, FrameProducer, openVgem, PAGE_SIZE } from '../../lib';
import { checkFds } from '../helpers';

for (const exporter of ['udmabuf', 'dma-heap'] as const) {
  describe(`33 frame pool with vgem fences on ${exporter}`, () => {
    checkFds();

    it('consume waits for the fence passed to submit, without blocking the event loop', async () => {
      const [a, bFd] = Channel.pair();
      const b = Channel.fromFd(bFd, { takeOwnership: true });
      using vgem = openVgem();
      const [producer, consumer] = await Promise.all([
        FrameProducer.create(a, 4 * PAGE_SIZE, { count: 2, exporter }),
        FrameConsumer.attach(b),
      ]);
      try {
        const frame = await producer.acquire();
        frame.view().fill(7);
        using gem = vgem.importDmaBuf(frame.buffer);
        const fence = vgem.vgemFenceAttach(gem, true);
        using sf = frame.buffer.exportSyncFile('write');
        assert.equal(sf.signaled, false);
        await producer.submit(frame, { gpu: true }, { fence: sf });
        let got = false;
        const next = consumer.next({ timeout: 20000 }).then((f) => {
          got = true;
          return f;
        });
        let ticks = 0;
        const ticker = setInterval(() => ticks++, 1);
        await new Promise((r) => setTimeout(r, 150));
        clearInterval(ticker);
        assert.equal(got, false, 'the consumer waits for the pending fence');
        assert.ok(ticks >= 10, `the event loop kept running (${ticks} ticks)`);
        vgem.vgemFenceSignal(fence);
        const f = await next;
        assert.ok(f);
        assert.equal(f.view()[PAGE_SIZE], 7);
        assert.deepEqual(f.meta, { gpu: true });
        await f.release();
      } finally {
        producer.close();
        consumer.close();
        a.close();
        b.close();
      }
    });
  });
}
