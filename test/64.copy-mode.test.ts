// Copy mode as a public switch (DMABUF_COPY_MODE=1, setCopyMode(), capabilities().copyMode),
// as Electron's V8 memory cage forces it, and the copy paths of the APIs that hand out
// views: frames of a pool, and read()/write() without an allocation per call. Pages that
// kmap() would give: 20.conformance in a copy-mode run; V4L2 capture: kernel/34.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import { Channel, DmaBuf, FrameConsumer, FrameProducer, PAGE_SIZE, capabilities, setCopyMode, type DmaBufOps, type Segment } from '../lib';
import { copyModeOption, restoreCopyMode } from '../lib/platform/copy-mode';
import { assertCode, checkFds, subjects } from './helpers';

const LIB = resolve(__dirname, '../lib');
const fdExporters = [
  ...new Set(
    subjects()
      .filter((s) => s.fd && s.exporter !== 'import')
      .map((s) => s.exporter),
  ),
];

/** What a child process with `env` sees of copy mode, in its main thread and in a worker. */
function childSees(env: Record<string, string>): Record<string, unknown> {
  const script = `
    const d = require(${JSON.stringify(LIB)});
    const { Worker } = require('node:worker_threads');
    const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
    const out = { caps: d.capabilities().copyMode };
    const buf = d.allocate(d.PAGE_SIZE, { exporter: 'memfd' });
    out.mmap = code(() => buf.mmap());
    buf.write(1, Uint8Array.of(9));
    const b = new Uint8Array(2);
    buf.read(0, b);
    out.read = [...b];
    const w = new Worker(\`
      const d = require(${JSON.stringify(LIB)});
      const b = d.allocate(d.PAGE_SIZE, { exporter: 'memfd' });
      let mmap = 'ok';
      try { b.mmap(); } catch (e) { mmap = e.code; }
      b.close();
      require('node:worker_threads').parentPort.postMessage({ mmap, caps: d.capabilities().copyMode });\`, { eval: true });
    w.once('message', (m) => {
      out.worker = m;
      d.setCopyMode(false);
      out.after = d.capabilities().copyMode;
      out.view = buf.mmap()[1];
      buf.close();
      console.log(JSON.stringify(out));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** An exporter over one ArrayBuffer that records the views read() and write() hand it. */
class SeenOps implements DmaBufOps {
  readonly exporter = 'seen';
  readonly seen: Uint8Array[] = [];
  readonly #mem: Uint8Array;
  constructor(readonly size: number) {
    this.#mem = new Uint8Array(size);
  }
  map(): Segment[] {
    return [{ offset: 0, length: this.size }];
  }
  unmap(): void {}
  release(): void {}
  read(offset: number, target: Uint8Array): void {
    this.seen.push(target);
    target.set(this.#mem.subarray(offset, offset + target.length));
  }
  write(offset: number, source: Uint8Array): void {
    this.seen.push(source);
    this.#mem.set(source, offset);
  }
}

describe('64 copy mode', () => {
  checkFds();

  if (fdExporters.includes('memfd')) {
    it('DMABUF_COPY_MODE=1: on in the main thread and in workers, reported with why; setCopyMode(false) gives views back', () => {
      assert.deepEqual(childSees({ DMABUF_COPY_MODE: '1' }), {
        caps: { enabled: true, why: 'DMABUF_COPY_MODE=1' },
        mmap: 'ERR_DMABUF_NO_EXTERNAL_BUFFERS',
        read: [0, 9],
        worker: { mmap: 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', caps: { enabled: true, why: 'DMABUF_COPY_MODE=1' } },
        after: { enabled: false },
        view: 9,
      });
    });

    it('DMABUF_COPY_MODE=0 (or anything but 1) leaves it off, in each worker that loads the addon', async () => {
      for (const value of ['0', '', 'yes', '1']) {
        const w = new Worker(
          `const d = require(${JSON.stringify(LIB)});
           const b = d.allocate(d.PAGE_SIZE, { exporter: 'memfd' });
           let mmap = 'ok';
           try { b.mmap(); } catch (e) { mmap = e.code; }
           b.close();
           require('node:worker_threads').parentPort.postMessage([d.capabilities().copyMode.enabled, mmap]);`,
          { eval: true, env: { ...process.env, DMABUF_COPY_MODE: value } },
        );
        // Listening for 'exit' first: a worker that ends before its message is delivered emits
        // 'message' and then 'exit' in one go, and a listener added after 'message' never runs.
        const exited = once(w, 'exit');
        const [seen] = (await once(w, 'message')) as [[boolean, string]];
        await exited;
        assert.deepEqual(
          seen,
          value === '1' ? [true, 'ERR_DMABUF_NO_EXTERNAL_BUFFERS'] : [false, 'ok'],
          `DMABUF_COPY_MODE=${JSON.stringify(value)}`,
        );
      }
    });
  }

  it('setCopyMode takes a boolean only', () => {
    for (const bad of ['1', 1, null, undefined, {}]) assertCode(() => setCopyMode(bad as boolean), 'ERR_INVALID_ARG_TYPE', /"enabled"/);
  });

  it("read()/write() hand the caller's Uint8Array or Buffer to the exporter as it is: no allocation per call", () => {
    const ops = new SeenOps(PAGE_SIZE);
    using buf = new DmaBuf(ops);
    const u8 = new Uint8Array(16).fill(3);
    const b = Buffer.alloc(16);
    buf.write(8, u8);
    buf.read(8, b);
    assert.equal(ops.seen[0], u8);
    assert.equal(ops.seen[1], b);
    assert.deepEqual([...b], [...u8]);
    const words = new Uint32Array(2);
    buf.read(8, words);
    assert.notEqual(ops.seen[2], words, 'other views are wrapped in a Uint8Array over the same bytes');
    assert.equal(ops.seen[2].buffer, words.buffer);
    assert.deepEqual([...words], [0x03030303, 0x03030303]);
    const gone = new Uint8Array(new ArrayBuffer(8));
    structuredClone(gone.buffer, { transfer: [gone.buffer] }); // detaches it
    assertCode(() => buf.read(0, gone), 'ERR_INVALID_ARG_VALUE', /not detached/);
  });

  for (const exporter of fdExporters) {
    describe(`frames of a ${exporter} pool, copy mode on`, () => {
      let saved: boolean | undefined;
      before(() => {
        saved = copyModeOption();
        setCopyMode(true);
      });
      after(() => restoreCopyMode(saved));

      it('view() is refused naming the frame’s read()/write(); those copy inside the pool’s brackets, only while the frame is held', async () => {
        assert.equal(capabilities().copyMode.enabled, true);
        const [a, bFd] = Channel.pair();
        const b = Channel.fromFd(bFd, { takeOwnership: true });
        const [producer, consumer] = await Promise.all([
          FrameProducer.create(a, 4 * PAGE_SIZE, { count: 2, exporter }),
          FrameConsumer.attach(b),
        ]);
        try {
          const frame = await producer.acquire();
          assert.throws(
            () => frame.view(),
            (err: Error & { code: string; cause: { code: string } }) =>
              err.code === 'ERR_DMABUF_NO_EXTERNAL_BUFFERS' &&
              /^Frame\.view: copy mode is on \(setCopyMode\(true\)\); use frame\.write\(offset, source\) and frame\.read\(offset, target\)/.test(
                err.message,
              ) &&
              err.cause.code === 'ERR_DMABUF_NO_EXTERNAL_BUFFERS',
          );
          assert.equal(frame.buffer.cpuAccessCount.write, 1, 'acquire() opened the write bracket the copies go in');
          const src = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
          frame.write(PAGE_SIZE - 100, src);
          const back = new Uint8Array(300);
          frame.read(PAGE_SIZE - 100, back);
          assert.deepEqual(back, src);
          assertCode(() => frame.write(4 * PAGE_SIZE - 1, new Uint8Array(2)), 'ERR_OUT_OF_RANGE');
          await producer.submit(frame, { n: 1 });
          assertCode(() => frame.write(0, src), 'ERR_DMABUF_POOL_STATE', /was submitted/);
          assertCode(() => frame.read(0, back), 'ERR_DMABUF_POOL_STATE', /was submitted/);

          const got = await consumer.next();
          assert.ok(got);
          assertCode(() => got.view(), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /^ReceivedFrame\.view: .*use frame\.read\(offset, target\)/);
          assert.equal(got.buffer.cpuAccessCount.read, 1, 'next() opened the read bracket the copies go in');
          const seen = new Uint8Array(300);
          got.read(PAGE_SIZE - 100, seen);
          assert.deepEqual(seen, src);
          await got.release();
          assertCode(() => got.read(0, seen), 'ERR_DMABUF_POOL_STATE', /was released/);
          assert.equal(got.buffer.cpuAccessCount.read, 0);
        } finally {
          producer.close();
          consumer.close();
          a.close();
          b.close();
        }
      });
    });
  }
});
