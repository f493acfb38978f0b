// The frame pool: ownership handoff over a channel, backpressure, misuse. Runs against
// every exporter with an fd (memfd here; udmabuf and dma-heap in the VM).
import assert from 'node:assert/strict';
import { Channel, FrameConsumer, FrameProducer, PAGE_SIZE } from '../lib';
import { assertRejects, checkFds, subjects } from './helpers';
import { turnsUntil } from './loop';

const SIZE = 8 * PAGE_SIZE;

async function pair(exporter: string, count = 3): Promise<{ producer: FrameProducer; consumer: FrameConsumer; close(): void }> {
  const [a, bFd] = Channel.pair();
  const b = Channel.fromFd(bFd, { takeOwnership: true });
  const [producer, consumer] = await Promise.all([FrameProducer.create(a, SIZE, { count, exporter }), FrameConsumer.attach(b)]);
  return {
    producer,
    consumer,
    close() {
      producer.close();
      consumer.close();
      a.close();
      b.close();
    },
  };
}

const exporters = [
  ...new Set(
    subjects()
      .filter((s) => s.fd && s.exporter !== 'import')
      .map((s) => s.exporter),
  ),
];

describe('47 frame pool', () => {
  checkFds();

  for (const exporter of exporters) {
    describe(exporter, () => {
      it('frames go round: acquire → fill → submit → consume → release, zero-copy, in order', async () => {
        const p = await pair(exporter);
        try {
          assert.equal(p.producer.exporter, exporter);
          assert.equal(p.consumer.count, 3);
          const consumed: number[] = [];
          const consuming = (async () => {
            for await (const f of p.consumer) {
              const words = new Uint32Array(f.view().buffer, f.view().byteOffset, SIZE / 4);
              assert.equal(words[0], f.seq);
              assert.equal(words[words.length - 1], f.seq);
              assert.deepEqual(f.meta, { n: f.seq });
              consumed.push(f.seq);
              await f.release();
              if (consumed.length === 20) return;
            }
          })();
          for (let i = 0; i < 20; i++) {
            const frame = await p.producer.acquire({ timeout: 10000 });
            assert.equal(frame.seq, i);
            new Uint32Array(frame.view().buffer, frame.view().byteOffset, SIZE / 4).fill(i);
            await p.producer.submit(frame, { n: i });
          }
          await consuming;
          assert.deepEqual(consumed, [...Array(20).keys()]);
        } finally {
          p.close();
        }
      });

      it('a slow consumer holds the producer back: acquire waits until a frame is released', async () => {
        const p = await pair(exporter, 2);
        try {
          for (let i = 0; i < 2; i++) await p.producer.submit(await p.producer.acquire(), null);
          assert.equal(p.producer.free, 0);
          await assertRejects(p.producer.acquire({ timeout: 30 }), 'ERR_DMABUF_TIMEOUT', /consumer holds all 2/);
          const waiting = p.producer.acquire({ timeout: 10000 });
          const first = await p.consumer.next();
          assert.ok(first);
          await first.release();
          const again = await waiting;
          assert.equal(again.index, first.index, 'the released frame is the one handed out');
          await p.producer.submit(again, null);
        } finally {
          p.close();
        }
      });

      it('misuse: submit twice, submit a frame not acquired, release twice → ERR_DMABUF_POOL_STATE', async () => {
        const p = await pair(exporter);
        try {
          const f = await p.producer.acquire();
          await p.producer.submit(f, null);
          await assertRejects(p.producer.submit(f, null), 'ERR_DMABUF_POOL_STATE', /not held by the producer/);
          await assertRejects(p.producer.submit({ index: 1, seq: 9 } as never, null), 'ERR_INVALID_ARG_TYPE');
          const r = await p.consumer.next();
          assert.ok(r);
          await r.release();
          await assertRejects(r.release(), 'ERR_DMABUF_POOL_STATE', /already released/);
          await turnsUntil(() => p.producer.free === 3, 'the release reached the producer');
        } finally {
          p.close();
        }
      });

      it('close: pending acquires reject, the consumer sees the end', async () => {
        const p = await pair(exporter, 2);
        try {
          for (let i = 0; i < 2; i++) await p.producer.submit(await p.producer.acquire(), null);
          const waiting = p.producer.acquire();
          p.producer.close();
          await assertRejects(waiting, 'ERR_DMABUF_CLOSED');
          await assertRejects(p.producer.acquire(), 'ERR_DMABUF_CLOSED');
          assert.ok(await p.consumer.next());
        } finally {
          p.close();
        }
      });
    });
  }

  it('attach refuses a channel whose first message is not a pool', async () => {
    const [a, bFd] = Channel.pair();
    const b = Channel.fromFd(bFd, { takeOwnership: true });
    try {
      await a.send([], { hello: 1 });
      await assertRejects(FrameConsumer.attach(b), 'ERR_DMABUF_POOL_STATE', /not a frame pool/);
    } finally {
      a.close();
      b.close();
    }
  });
});
