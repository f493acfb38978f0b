// The frame pool: ownership handoff over a channel, backpressure, misuse. Runs against
// every exporter with an fd (memfd here; udmabuf and dma-heap in the VM).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Channel, FrameConsumer, FrameProducer, PAGE_SIZE, SyncFile, allocate, type DmaBuf } from '../lib';
import { native } from '../lib/platform/binding';
import { COPY_MODE, assertRejects, checkFds, subjects } from './helpers';
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

/** `p`, or a failure after `ms` (a lost frame shows as a wait that never ends). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((res) => setImmediate(res));
  assert.ok(cond());
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
              const words = COPY_MODE ? new Uint32Array(SIZE / 4) : new Uint32Array(f.view().buffer, f.view().byteOffset, SIZE / 4);
              if (COPY_MODE) f.read(0, words); // copy mode: no view, read() copies out inside the read bracket
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
            if (COPY_MODE) frame.write(0, new Uint32Array(SIZE / 4).fill(i));
            else new Uint32Array(frame.view().buffer, frame.view().byteOffset, SIZE / 4).fill(i);
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

      it('next() checks its options before it takes a frame: a bad option loses nothing', async () => {
        const p = await pair(exporter);
        try {
          const f = await p.producer.acquire();
          await p.producer.submit(f, 'kept');
          await assertRejects(p.consumer.next({ timeout: -1 }), 'ERR_OUT_OF_RANGE');
          await assertRejects(p.consumer.next({ timeout: 0.5 }), 'ERR_OUT_OF_RANGE');
          await assertRejects(p.consumer.next(null as never), 'ERR_INVALID_ARG_TYPE');
          const r = await within(p.consumer.next(), 2000, 'next() after a bad option');
          assert.ok(r);
          assert.equal(r.seq, f.seq);
          assert.equal(r.meta, 'kept');
          await r.release();
          await until(() => p.producer.free === 3);
        } finally {
          p.close();
        }
      });

      it("a fence wait that times out puts the frame back: the next call gets it, and the producer's acquire() is not starved", async () => {
        const p = await pair(exporter, 2);
        try {
          // One round to reach the consumer's buffer of frame 0.
          await p.producer.submit(await p.producer.acquire(), null);
          const first = await p.consumer.next();
          assert.ok(first);
          const buf: DmaBuf = first.buffer;
          await first.release();
          await until(() => p.producer.free === 2);
          // Its fences will not signal in time once (a device still writing).
          const real = buf.beginCpuAccessAsync.bind(buf);
          let stalls = 1;
          buf.beginCpuAccessAsync = (dir, opts) => {
            if (stalls-- > 0)
              return Promise.reject(
                Object.assign(new Error('beginCpuAccessAsync: fences not signalled within 20 ms'), { code: 'ERR_DMABUF_TIMEOUT' }),
              );
            return real(dir, opts);
          };
          const f = await p.producer.acquire();
          assert.equal(f.index, 0);
          await p.producer.submit(f, 'late');
          await assertRejects(p.consumer.next({ timeout: 20 }), 'ERR_DMABUF_TIMEOUT');
          const again = await within(p.consumer.next({ timeout: 1000 }), 2000, 'next() after a fence timeout');
          assert.ok(again);
          assert.equal(again.seq, f.seq);
          assert.equal(again.meta, 'late');
          await again.release();
          await within(p.producer.acquire(), 2000, 'acquire() after the frame came back');
        } finally {
          p.close();
        }
      });

      it('submit() changes nothing when it fails before the handover: a fence it cannot import, a bad meta; the frame can be submitted again', async () => {
        const p = await pair(exporter);
        try {
          const f = await p.producer.acquire();
          assert.equal(f.buffer.cpuAccessCount.write, 1);
          await assert.rejects(p.producer.submit(f, null, { fence: {} as SyncFile }), { code: 'ERR_INVALID_ARG_TYPE' });
          if (f.buffer.exporter === 'memfd') {
            // Any sync_file: a memfd has no fences to import it into. (This machine may have no
            // sync_file to make; an object that passes instanceof SyncFile stands for one.)
            const sf = Object.setPrototypeOf({ fd: 0, closed: false }, SyncFile.prototype) as SyncFile;
            await assert.rejects(p.producer.submit(f, null, { fence: sf }), { code: 'ERR_DMABUF_NOT_SUPPORTED' });
          } else {
            const sf = f.buffer.exportSyncFile('read');
            sf.close();
            await assert.rejects(p.producer.submit(f, null, { fence: sf }), { code: 'ERR_DMABUF_CLOSED' });
          }
          await assert.rejects(p.producer.submit(f, { big: 1n }), { code: 'ERR_INVALID_ARG_VALUE' });
          await assert.rejects(p.producer.submit(f, 'x'.repeat(70000)), { code: 'ERR_OUT_OF_RANGE' });
          assert.equal(f.buffer.cpuAccessCount.write, 1, 'the write bracket is still open');
          assert.equal(p.producer.free, 2, 'the frame is still acquired');
          await p.producer.submit(f, 'second try');
          assert.equal(f.buffer.cpuAccessCount.write, 0);
          const r = await within(p.consumer.next(), 2000, 'next()');
          assert.equal(r?.meta, 'second try');
          await r?.release();
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

  it("a peer's malformed pool messages (index 0.5, -1, '0', 99, no seq; a frame submitted twice) are reported with a code; the valid ones go through", async () => {
    const ends = new Int32Array(2);
    native().socketPair(ends);
    const raw = ends[0]; // a's socket too (fromFd dups): for what Channel.send cannot encode
    const a = Channel.fromFd(raw);
    const b = Channel.fromFd(ends[1], { takeOwnership: true });
    const bufs = [0, 1].map(() => allocate(SIZE, { exporter: exporters[0] }));
    let consumer: FrameConsumer | undefined;
    try {
      const t = 'dmabuf-pool/1';
      const attached = FrameConsumer.attach(b);
      await a.send(bufs, { t, kind: 'pool', count: 2, size: SIZE });
      consumer = await attached;
      const errors: NodeJS.ErrnoException[] = [];
      b.on('messageerror', (e) => errors.push(e));
      for (const index of [0.5, -1, '0', 99, null]) await a.send([], { t, kind: 'frame', index, seq: 0 });
      // An index nested deeper than JSON.stringify can go: the report must not overflow the stack.
      const deep = '['.repeat(20000) + ']'.repeat(20000);
      const body = new TextEncoder().encode(`{"t":"${t}","kind":"frame","index":${deep},"seq":0}`);
      const record = new Uint8Array(8 + body.length);
      new DataView(record.buffer).setUint32(0, 0x31424d44, true);
      record[6] = 1; // HAS_PAYLOAD
      record.set(body, 8);
      native().socketSend(raw, record, []);
      await a.send([], { t, kind: 'frame', index: 1 });
      await a.send([], { t, kind: 'frame', index: 1, seq: 7, meta: 'valid' });
      await a.send([], { t, kind: 'frame', index: 1, seq: 8 });
      const r = await within(consumer.next(), 2000, 'next()');
      assert.ok(r);
      assert.equal(r.index, 1);
      assert.equal(r.meta, 'valid');
      await until(() => errors.length >= 8);
      assert.deepEqual(
        errors.map((e) => e.code),
        [...Array(7).fill('ERR_DMABUF_BAD_MESSAGE'), 'ERR_DMABUF_POOL_STATE'],
      );
      assert.match(errors[5].message, /names frame an array/);
      assert.match(errors[0].message, /frame 0\.5/);
      await r.release();
      const [released] = await once(a, 'message');
      assert.deepEqual(released.payload, { t, kind: 'release', index: 1, seq: 7 });
    } finally {
      consumer?.close();
      for (const x of bufs) x.close();
      a.close();
      b.close();
      native().close(raw);
    }
  });

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
