// Handing buffers to worker threads: a dup of the fd for every exporter with one, the
// SharedArrayBuffer for memory buffers allocated with { shared: true }, an error for any
// other memory buffer; a transferable is received once, and one never received can be released.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import {
  Channel,
  PAGE_SIZE,
  allocate,
  fromTransferable,
  pendingTransfers,
  releaseTransferable,
  toTransferable,
  type DmaBuf,
  type TransferableDmaBuf,
} from '../lib';
import type { TransferJob } from './fixtures/channel-transfer-worker';
import { assertCode, checkFds, count, subjects } from './helpers';

const WORKER = join(__dirname, 'fixtures', 'channel-transfer-worker.js');
const SIZE = 32 * PAGE_SIZE;
const pattern = (seed: number, i: number) => (i * 31 + seed) & 0xff;

interface Reply {
  ok: boolean;
  code?: string;
  message?: string;
  ignored?: boolean;
  replied?: boolean;
  open?: boolean;
  info?: { exporter: string; size: number; name: string; inode?: number };
  back?: TransferableDmaBuf;
}

function runWorker(job: TransferJob): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { workerData: job });
    let msg: Reply | undefined;
    w.on('message', (m: Reply) => (msg = m));
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && msg ? resolve(msg) : reject(new Error(`worker exited ${code}: ${JSON.stringify(msg)}`))));
  });
}

function checkFill(buf: DmaBuf, seed: number): void {
  const view = buf.mmap();
  for (let i = 0; i < view.length; i += 61) if (view[i] !== pattern(seed, i)) assert.fail(`byte ${i}: ${view[i]} !== ${pattern(seed, i)}`);
  assert.equal(view[view.length - 1], pattern(seed, view.length - 1));
}

describe('46 transfer', () => {
  checkFds();

  for (const s of subjects().filter((x) => x.fd)) {
    it(`${s.label}: to a worker (a dup of the fd) and back; both threads see the same memory`, async () => {
      using buf = s.make(SIZE);
      const view = buf.mmap();
      const pending = pendingTransfers();
      const t = toTransferable(buf);
      assert.equal(t.kind, 'dmabuf-fd');
      assert.notEqual(t.kind === 'dmabuf-fd' && t.fd, buf.fd, "a dup, not the buffer's own fd");
      assert.equal(pendingTransfers(), pending + 1);
      const r = await runWorker({ t, seed: 5, back: true });
      assert.equal(r.ok, true, r.message);
      assert.deepEqual(r.info, { exporter: s.dmabuf ? 'import' : 'memfd', size: SIZE, name: r.info!.name, inode: buf.inode });
      assert.equal(buf.mmap(), view);
      checkFill(buf, 5);
      // The worker closed its buffer; what it handed back is still in transit, then ours.
      assert.equal(pendingTransfers(), pending + 1);
      using back = fromTransferable(r.back!);
      assert.equal(pendingTransfers(), pending);
      assert.equal(back.inode, buf.inode);
      assert.equal(back.size, SIZE);
      checkFill(back, 5);
      count(s.label);
    });
  }

  it('a shared memory buffer: the worker writes into the same SharedArrayBuffer, and hands it back', async () => {
    using buf = allocate(SIZE, { exporter: 'memory', shared: true, name: 'shared-frame' });
    const t = toTransferable(buf);
    assert.equal(t.kind, 'dmabuf-memory');
    assert.equal(t.kind === 'dmabuf-memory' && t.buffer, buf.mmap().buffer);
    const r = await runWorker({ t, seed: 9, back: true });
    assert.equal(r.ok, true, r.message);
    assert.deepEqual(r.info, { exporter: 'memory', size: SIZE, name: 'shared-frame', inode: undefined });
    checkFill(buf, 9);
    using back = fromTransferable(r.back!);
    assert.equal(back.exporter, 'memory');
    back.mmap()[7] = 0xee;
    assert.equal(buf.mmap()[7], 0xee, 'the same memory came back');
    assert.equal(releaseTransferable(t), false, 'memory transferables hold no fd');
    count('memory');
  });

  it('a memory buffer without { shared: true } → ERR_DMABUF_NOT_SUPPORTED, saying how to share it', () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
    assertCode(() => toTransferable(buf), 'ERR_DMABUF_NOT_SUPPORTED', /shared: true/);
  });

  it('a released buffer → ERR_DMABUF_CLOSED; not a buffer → ERR_INVALID_ARG_TYPE', () => {
    const buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
    buf.close();
    assertCode(() => toTransferable(buf), 'ERR_DMABUF_CLOSED');
    assertCode(() => toTransferable({} as DmaBuf), 'ERR_INVALID_ARG_TYPE');
    assertCode(() => toTransferable(undefined as unknown as DmaBuf), 'ERR_INVALID_ARG_TYPE');
  });

  it('received once: a second fromTransferable of a copy → ERR_DMABUF_CLOSED, and releasing after receipt closes nothing', () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
    const t = toTransferable(buf);
    const copy = structuredClone(t);
    using first = fromTransferable(t);
    assertCode(() => fromTransferable(copy), 'ERR_DMABUF_CLOSED', /received once/);
    assert.equal(releaseTransferable(copy), false);
    assert.equal(first.info().size, PAGE_SIZE, "the received buffer's fd is still open");
  });

  it('never received: a worker that exits without taking it leaves the dup in transit; releaseTransferable closes it', async () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
    const pending = pendingTransfers();
    const t = toTransferable(buf);
    const r = await runWorker({ t, seed: 1, ignore: true });
    assert.equal(r.ignored, true);
    assert.equal(pendingTransfers(), pending + 1, 'the dup is still open, waiting for a receiver');
    assert.equal(releaseTransferable(t), true);
    assert.equal(releaseTransferable(t), false, 'released once');
    assert.equal(pendingTransfers(), pending);
  });

  it("a channel end in a worker: the worker receives a buffer over it (FdWatcher on the worker's loop), writes, replies", async () => {
    const [ch, fd] = Channel.pair();
    try {
      using buf = allocate(SIZE, { exporter: 'memfd' });
      const worker = runWorker({ channelFd: fd, seed: 13 });
      await ch.send(buf, 'write');
      const reply = await ch.receive();
      assert.deepEqual(reply?.payload, { done: 1 });
      const r = await worker;
      assert.equal(r.replied, true, r.message);
      checkFill(buf, 13);
      assert.equal(await ch.receive(), null, 'the worker closed its end');
    } finally {
      ch.close();
    }
  });

  it("a worker that exits with its channel end open: the end is closed at exit, the parent sees 'close'", async () => {
    const [ch, fd] = Channel.pair();
    try {
      const closed = once(ch, 'close');
      const r = await runWorker({ channelFd: fd, seed: 0, exitOpen: true });
      assert.equal(r.open, true);
      await closed;
    } finally {
      ch.close();
    }
  });

  it('forged or malformed transferables are refused and close nothing', () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
    const forged = { kind: 'dmabuf-fd', fd: buf.fd, token: 1, size: PAGE_SIZE, exporter: 'memfd' } as const;
    assertCode(() => fromTransferable(forged), 'ERR_DMABUF_CLOSED');
    assert.equal(releaseTransferable(forged), false);
    assert.equal(buf.info().size, PAGE_SIZE, "the buffer's own fd was not taken");
    assertCode(() => fromTransferable(null as unknown as TransferableDmaBuf), 'ERR_INVALID_ARG_TYPE');
    assertCode(() => fromTransferable({ kind: 'x' } as unknown as TransferableDmaBuf), 'ERR_INVALID_ARG_VALUE');
    assertCode(() => fromTransferable({ kind: 'dmabuf-fd', fd: -1, token: 1 } as unknown as TransferableDmaBuf), 'ERR_OUT_OF_RANGE');
    assertCode(
      () => fromTransferable({ kind: 'dmabuf-memory', buffer: new ArrayBuffer(4096) } as unknown as TransferableDmaBuf),
      'ERR_INVALID_ARG_TYPE',
    );
  });
});
