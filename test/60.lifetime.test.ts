// Lifetime (better-sqlite3 style): every operation × {normally, while mapped, while in
// CPU access, after close}; release exactly once; `using`; the FinalizationRegistry
// safety net; worker threads; copy mode.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openSync, closeSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PAGE_SIZE, allocate, capabilities, type Attachment, type DmaBuf, type SgTable } from '../lib';
import { native } from '../lib/platform/binding';
import { copyModeOption, restoreCopyMode, setCopyMode } from '../lib/platform/copy-mode';
import { fill, type WorkerJob } from './fixtures/worker';
import { COPY_MODE, assertCode, assertSysError, checkFds, count, subjects, type Subject, isOpen } from './helpers';

const SIZE = 8 * PAGE_SIZE;
type State = 'normally' | 'while mapped' | 'while in CPU access' | 'after close';
const STATES: State[] = ['normally', 'while mapped', 'while in CPU access', 'after close'];

interface Ctx {
  s: Subject;
  buf: DmaBuf;
  state: State;
  /** An attachment; in 'while mapped' (and before 'after close') it has `table` mapped. */
  att: Attachment;
  table?: SgTable;
  /** The fd the buffer had, for fd subjects. */
  fd?: number;
}

/** Wraps the exporter's release() of a built-in buffer with a counter. */
function spyRelease(buf: DmaBuf): { calls: number } {
  const spy = { calls: 0 };
  for (const sym of Object.getOwnPropertySymbols(buf)) {
    const ops = (buf as unknown as Record<symbol, { release?: () => void }>)[sym];
    if (ops && typeof ops.release === 'function') {
      const release = ops.release.bind(ops);
      ops.release = () => {
        spy.calls++;
        release();
      };
      return spy;
    }
  }
  throw new Error('could not find the exporter operations on the buffer');
}

function expect(seed: number, i: number): number {
  return (i * 31 + seed) & 0xff;
}

function checkSampled(view: Uint8Array, seed: number, samples = 4096): void {
  assert.equal(view[0], expect(seed, 0), 'byte 0');
  assert.equal(view[view.length - 1], expect(seed, view.length - 1), 'last byte');
  for (let k = 0; k < samples; k++) {
    const i = Math.floor(Math.random() * view.length);
    if (view[i] !== expect(seed, i)) assert.fail(`byte ${i} is ${view[i]}, expected ${expect(seed, i)}`);
  }
}

/** Runs `op` in `state`; an op returns nothing and asserts what it expects itself. */
type Op = (c: Ctx) => void;

/** Operations, each asserting its own outcome in the normal, mapped and CPU-access states. */
const OPS: Record<string, Op> = {
  fd(c) {
    if (!c.s.fd) return assertCode(() => c.buf.fd, 'ERR_DMABUF_NOT_SUPPORTED');
    const fd = c.buf.fd;
    assert.equal(fd, c.buf.fd);
    assert.ok(isOpen(fd));
  },
  mmap(c) {
    const v = c.buf.mmap();
    assert.equal(v.byteLength, SIZE);
    v[5] = 55;
    const b = new Uint8Array(1);
    c.buf.read(5, b);
    assert.equal(b[0], 55);
  },
  read(c) {
    const b = new Uint8Array(16);
    c.buf.read(SIZE - 16, b);
    assert.deepEqual([...b], Array(16).fill(0));
  },
  write(c) {
    c.buf.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
    const b = new Uint8Array(3);
    c.buf.read(PAGE_SIZE, b);
    assert.deepEqual([...b], [1, 2, 3]);
  },
  attach(c) {
    const n = c.buf.attachments.length;
    const a = c.buf.attach({ name: 'another' });
    assert.equal(c.buf.attachments.length, n + 1);
    a.detach();
    assert.equal(c.buf.attachments.length, n);
  },
  map(c) {
    const before = c.att.mapped;
    const t = c.att.map('to-device');
    assert.equal(
      t.segments.reduce((n, seg) => n + seg.length, 0),
      SIZE,
    );
    assert.equal(c.att.mapped, before + 1);
    c.att.unmap(t, 'to-device');
  },
  unmap(c) {
    const t = c.table ?? c.att.map();
    const before = c.att.mapped;
    c.att.unmap(t);
    assert.equal(c.att.mapped, before - 1);
    assertCode(() => c.att.unmap(t), 'ERR_INVALID_ARG_VALUE', /not mapped/);
    if (c.table) c.table = undefined;
  },
  detach(c) {
    if (c.table) {
      assertCode(() => c.att.detach(), 'ERR_DMABUF_MAPPED', /unmap/);
      assert.equal(c.att.detached, false);
      const other = c.buf.attach({ name: 'unmapped' });
      other.detach();
      assert.equal(other.detached, true);
      return;
    }
    c.att.detach();
    assert.equal(c.att.detached, true);
    assert.equal(c.buf.attachments.includes(c.att), false);
    c.att.detach(); // idempotent
    assertCode(() => c.att.map(), 'ERR_DMABUF_NOT_ATTACHED');
  },
  beginCpuAccess(c) {
    const before = c.buf.cpuAccessCount.read;
    c.buf.beginCpuAccess('read');
    assert.equal(c.buf.cpuAccessCount.read, before + 1);
    c.buf.endCpuAccess('read');
  },
  endCpuAccess(c) {
    if (c.state === 'while in CPU access') {
      c.buf.endCpuAccess('readwrite');
      assert.deepEqual(c.buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
      c.buf.beginCpuAccess('readwrite'); // the state's teardown ends it
    } else {
      assertSysError(() => c.buf.endCpuAccess('readwrite'), 'EINVAL', -22, 'ioctl');
    }
  },
  kmap(c) {
    if (c.state !== 'while in CPU access') return assertCode(() => c.buf.kmap(0), 'ERR_DMABUF_NO_CPU_ACCESS', /beginCpuAccess/);
    const v = c.buf.kmap(1);
    assert.equal(v.byteLength, PAGE_SIZE);
    v[0] = 77;
    c.buf.kunmap(1, v);
    const b = new Uint8Array(1);
    c.buf.read(PAGE_SIZE, b);
    assert.equal(b[0], 77, 'a kmap write reaches the buffer');
  },
  kunmap(c) {
    if (c.state !== 'while in CPU access') return assertCode(() => c.buf.kunmap(0), 'ERR_INVALID_ARG_VALUE', /not kmapped/);
    const v = c.buf.kmap(2);
    c.buf.kunmap(2);
    if (c.s.fd) assert.equal(v.byteLength, 0, 'a kunmapped view is detached');
    assertCode(() => c.buf.kunmap(2), 'ERR_INVALID_ARG_VALUE', /not kmapped/);
  },
  setName(c) {
    c.buf.setName('lifetime');
    assert.equal(c.buf.name, 'lifetime');
  },
  info(c) {
    const i = c.buf.info();
    assert.equal(i.size, SIZE);
    assert.equal(i.expName, c.s.expName);
  },
  sync(c) {
    if (c.s.fd && !c.s.dmabuf) {
      // A memfd is not a dma-buf: the kernel answers ENOTTY.
      assert.throws(() => c.buf.sync(1), { code: 'ENOTTY', errno: -25, syscall: 'ioctl' });
      return;
    }
    c.buf.sync(1); // START | READ
    c.buf.sync(5); // END | READ
  },
  get(c) {
    assert.equal(c.buf.get(), c.buf);
    assert.equal(c.buf.refs, 2);
    c.buf.put();
    assert.equal(c.buf.refs, 1);
    assert.equal(c.buf.closed, false);
  },
  put(c) {
    const spy = spyRelease(c.buf);
    c.buf.put();
    assert.equal(c.buf.closed, true);
    assert.equal(c.buf.refs, 0);
    assert.equal(spy.calls, 1);
    if (c.fd !== undefined) assert.equal(isOpen(c.fd), false, 'the fd is closed by the last put()');
  },
  close(c) {
    const spy = spyRelease(c.buf);
    c.buf.close();
    c.buf.close();
    assert.equal(c.buf.closed, true);
    assert.equal(spy.calls, 1);
    if (c.fd !== undefined) assert.equal(isOpen(c.fd), false, 'the fd is closed by close()');
  },
};

/** After close: what each operation does (ERR_DMABUF_CLOSED unless said otherwise). */
const AFTER_CLOSE: Record<keyof typeof OPS, (c: Ctx) => unknown> = {
  fd: (c) => c.buf.fd,
  mmap: (c) => c.buf.mmap(),
  read: (c) => c.buf.read(0, new Uint8Array(1)),
  write: (c) => c.buf.write(0, new Uint8Array(1)),
  attach: (c) => c.buf.attach({ name: 'late' }),
  map: (c) => c.att.map(),
  unmap: (c) => c.att.unmap(c.table!),
  detach: (c) => c.att.detach(),
  beginCpuAccess: (c) => c.buf.beginCpuAccess('read'),
  endCpuAccess: (c) => c.buf.endCpuAccess('read'),
  kmap: (c) => c.buf.kmap(0),
  kunmap: (c) => c.buf.kunmap(0),
  setName: (c) => c.buf.setName('late'),
  info: (c) => c.buf.info(),
  sync: (c) => c.buf.sync(1),
  get: (c) => c.buf.get(),
  put: (c) => c.buf.put(),
  close: (c) => c.buf.close(),
};
/** Teardown that stays quiet after release: close() is idempotent, and an attachment the
 *  release already detached can be detached (or disposed) again. */
const QUIET_AFTER_CLOSE = new Set(['close', 'detach']);

function setup(s: Subject, state: State): Ctx {
  const buf = s.make(SIZE);
  const c: Ctx = { s, buf, state, att: buf.attach({ name: 'dev' }), fd: s.fd ? buf.fd : undefined };
  if (state === 'while mapped' || state === 'after close') c.table = c.att.map();
  if (state === 'while in CPU access') buf.beginCpuAccess('readwrite');
  if (state === 'after close') buf.close();
  return c;
}

function teardown(c: Ctx): void {
  if (c.buf.closed) return;
  if (c.state === 'while in CPU access' && c.buf.cpuAccessCount.readwrite > 0) c.buf.endCpuAccess('readwrite');
  assert.deepEqual(c.buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 }, 'an operation left a CPU-access bracket open');
  if (c.table) c.att.unmap(c.table);
  c.buf.close();
}

describe('60 lifetime', () => {
  checkFds();

  for (const s of subjects()) {
    describe(`integrity matrix: ${s.label}`, () => {
      afterEach(() => count(s.label));
      for (const state of STATES) {
        for (const [name, op] of Object.entries(OPS)) {
          const quiet = QUIET_AFTER_CLOSE.has(name);
          const title =
            state === 'after close' ? `${name} after close ${quiet ? 'is a no-op' : '→ ERR_DMABUF_CLOSED'}` : `${name} ${state}`;
          it(title, () => {
            const c = setup(s, state);
            try {
              if (state !== 'after close') return op(c);
              const maps = native().mappingCount();
              if (quiet) {
                AFTER_CLOSE[name](c);
                AFTER_CLOSE[name](c);
              } else {
                assertCode(() => AFTER_CLOSE[name](c), 'ERR_DMABUF_CLOSED', /released/);
              }
              assert.equal(c.buf.closed, true);
              assert.equal(c.buf.size, SIZE);
              assert.equal(c.buf.exporter, s.exporter);
              assert.equal(c.att.detached, true);
              assert.equal(native().mappingCount(), maps, 'an operation after close made a mapping');
            } finally {
              teardown(c);
            }
          });
        }
      }
    });

    describe(`release: ${s.label}`, () => {
      afterEach(() => count(s.label));

      it('detaches every mmap and kmap view, unmaps, closes the fd', () => {
        const maps = native().mappingCount();
        const buf = s.make(SIZE);
        const fd = s.fd ? buf.fd : -1;
        const view = buf.mmap();
        const sub = view.subarray(PAGE_SIZE, 2 * PAGE_SIZE);
        buf.beginCpuAccess('write');
        const page = buf.kmap(3);
        assert.equal(page.byteLength, PAGE_SIZE);
        if (s.fd) assert.ok(native().mappingCount() > maps);
        buf.close();
        assert.equal(view.byteLength, 0, 'the mmap view is detached');
        assert.equal(sub.byteLength, 0, 'views over the mmap view are detached');
        assert.equal(view.buffer.byteLength, 0, 'the ArrayBuffer itself is detached');
        assert.equal(page.byteLength, 0, 'the kmap view is detached');
        assert.equal(view[0], undefined, 'a detached view reads nothing');
        assert.equal(native().mappingCount(), maps, 'every mapping is unmapped');
        if (s.fd) assert.throws(() => readlinkSync(`/proc/self/fd/${fd}`), { code: 'ENOENT' });
      });

      it('runs exactly once, whatever put()/close()/dispose/get() follow, and never closes a reused fd number', () => {
        for (const order of [
          ['close', 'close', 'dispose', 'put'],
          ['put'],
          ['get', 'put', 'put', 'close'],
          ['dispose', 'dispose', 'close'],
          ['get', 'get', 'close', 'put', 'dispose'],
        ]) {
          const buf = s.make(SIZE);
          const fd = s.fd ? buf.fd : -1;
          const spy = spyRelease(buf);
          let reused = -1;
          for (const step of order) {
            if (buf.closed && s.fd && reused < 0) {
              reused = openSync('/dev/null', 'r'); // likely takes the released number
            }
            if (step === 'close') buf.close();
            else if (step === 'dispose') buf[Symbol.dispose]();
            else if (step === 'get') {
              if (buf.closed) assertCode(() => buf.get(), 'ERR_DMABUF_CLOSED');
              else buf.get();
            } else if (buf.closed) assertCode(() => buf.put(), 'ERR_DMABUF_CLOSED');
            else buf.put();
          }
          assert.equal(buf.closed, true, `order ${order}`);
          assert.equal(spy.calls, 1, `release ran ${spy.calls} times for ${order}`);
          if (reused >= 0) {
            if (reused === fd)
              assert.equal(readlinkSync(`/proc/self/fd/${fd}`), '/dev/null', 'a second release closed the reused fd number');
            closeSync(reused);
          }
        }
      });

      it('an attachment disposed after release stays quiet; a stale table cannot be unmapped', () => {
        const buf = s.make(SIZE);
        const att = buf.attach({ name: 'dev' });
        const t = att.map();
        buf.close();
        att[Symbol.dispose]();
        att.detach();
        assert.equal(att.detached, true);
        assertCode(() => att.unmap(t), 'ERR_DMABUF_CLOSED');
      });
    });

    describe(`using: ${s.label}`, () => {
      afterEach(() => count(s.label));

      it('`using buf = …` releases at the end of the block', () => {
        let outer: DmaBuf;
        let fd = -1;
        {
          using buf = s.make(SIZE);
          outer = buf;
          if (s.fd) fd = buf.fd;
          buf.write(0, new Uint8Array([1]));
        }
        assert.equal(outer.closed, true);
        if (s.fd) assert.equal(isOpen(fd), false);
      });

      it('`using buf` releases when the block throws too', () => {
        let outer: DmaBuf | undefined;
        assert.throws(() => {
          using buf = s.make(SIZE);
          outer = buf;
          throw new Error('boom');
        }, /boom/);
        assert.equal(outer!.closed, true);
      });

      it('`using access = buf.cpuAccess(…)` ends the bracket, also on throw', () => {
        using buf = s.make(SIZE);
        {
          using access = buf.cpuAccess('write');
          assert.equal(access.direction, 'write');
          assert.equal(buf.cpuAccessCount.write, 1);
          buf.kmap(0)[0] = 9;
        }
        assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
        assert.throws(() => {
          using access = buf.cpuAccess('readwrite');
          void access;
          throw new Error('inside');
        }, /inside/);
        assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
        assertCode(() => buf.kmap(0), 'ERR_DMABUF_NO_CPU_ACCESS');
        const b = new Uint8Array(1);
        buf.read(0, b);
        assert.equal(b[0], 9);
      });

      it('a CPU-access guard ends once; after the buffer is released it is a no-op', () => {
        const buf = s.make(SIZE);
        const g = buf.cpuAccess('read');
        g.end();
        g.end();
        g[Symbol.dispose]();
        assert.equal(buf.cpuAccessCount.read, 0);
        const g2 = buf.cpuAccess('read');
        buf.close();
        g2[Symbol.dispose]();
      });

      it('`using att = buf.attach(…)` unmaps its tables and detaches', () => {
        using buf = s.make(SIZE);
        let outer: Attachment;
        {
          using att = buf.attach({ name: 'scoped' });
          outer = att;
          att.map();
          att.map('from-device');
          assert.equal(att.mapped, 2);
        }
        assert.equal(outer.mapped, 0);
        assert.equal(outer.detached, true);
        assert.equal(buf.attachments.length, 0);
      });
    });
  }

  describe('the FinalizationRegistry safety net', () => {
    for (const exporter of capabilities().exporters.filter((e) => e !== 'memory')) {
      it(`${exporter}: 200 buffers dropped without close() have their fds closed and views unmapped after gc()`, function () {
        this.timeout(120000);
        const r = spawnSync(process.execPath, ['--expose-gc', join(__dirname, 'fixtures', 'gc-safety.js'), '200', exporter], {
          encoding: 'utf8',
          timeout: 110000,
        });
        assert.equal(r.status, 0, `child failed (${r.signal ?? r.status}): ${r.stderr}`);
        const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
        assert.ok(o.peak - o.baseline >= 200, `the buffers were not open at once: ${r.stdout}`);
        assert.ok(o.peakMappings - o.baseMappings >= 100, `the views were not mapped: ${r.stdout}`);
        assert.ok(o.after - o.baseline <= 3, `fds did not return near the baseline: ${r.stdout}`);
        assert.equal(o.mappings, o.baseMappings, `mappings left: ${r.stdout}`);
      });
    }
  });

  describe('worker threads', () => {
    function runWorker(job: WorkerJob): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const w = new Worker(join(__dirname, 'fixtures', 'worker.js'), { workerData: job });
        let msg: Record<string, unknown> | undefined;
        w.on('message', (m) => (msg = m));
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 && msg ? resolve(msg) : reject(new Error(`worker exited ${code}: ${JSON.stringify(msg)}`))));
      });
    }

    for (const s of subjects().filter((x) => x.fd)) {
      it(`${s.label}: a worker imports the fd, writes in a cpuAccess('write') bracket; the main thread's mmap view sees it`, async () => {
        using buf = s.make(64 * PAGE_SIZE);
        const view = buf.mmap(); // mapped before the worker writes
        const mainMappings = native().mappingCount();
        assert.ok(mainMappings > 0);
        const r = await runWorker({ mode: 'fd', fd: buf.fd, size: buf.size, seed: 3 });
        assert.equal(r.ok, true, String(r.message));
        assert.equal(r.exporter, s.dmabuf ? 'import' : 'memfd');
        assert.notEqual(r.ownFd, buf.fd, "the worker dup'ed the fd");
        assert.equal(r.mappingsAtStart, 0, 'the worker has its own addon state (per-environment instance data)');
        assert.ok((r.mappingsWhileOpen as number) >= 1);
        assert.equal(r.mappingsAtEnd, 0, "the worker's close() unmapped its view");
        assert.deepEqual(r.cpu, { read: 0, write: 0, readwrite: 0 });
        assert.equal(native().mappingCount(), mainMappings, "the worker touched the main thread's mappings");
        assert.equal(view.byteLength, buf.size, 'the main view survived the worker closing its own buffer');
        checkSampled(view, 3);
        count(s.label);
      });
    }

    it('memory {shared: true}: the SharedArrayBuffer behind mmap() is shared with a worker', async () => {
      using buf = allocate(16 * PAGE_SIZE, { exporter: 'memory', shared: true });
      const view = buf.mmap();
      assert.ok(view.buffer instanceof SharedArrayBuffer, 'a shared memory buffer is backed by a SharedArrayBuffer');
      const r = await runWorker({ mode: 'sab', sab: view.buffer as SharedArrayBuffer, size: buf.size, seed: 11 });
      assert.equal(r.ok, true, String(r.message));
      checkSampled(view, 11);
      const copy = new Uint8Array(64);
      buf.read(buf.size - 64, copy);
      for (let i = 0; i < 64; i++) assert.equal(copy[i], expect(11, buf.size - 64 + i));
      count('memory');
    });

    it("a worker that exits without close() leaves the main buffer intact and does not leak its dup'ed fd", async () => {
      using buf = allocate(4 * PAGE_SIZE, { exporter: 'memfd' });
      const before = new Set(readdirSync('/proc/self/fd'));
      const w = new Worker(
        `
        const { fromFd } = require(${JSON.stringify(join(__dirname, '..', 'lib'))});
        const b = fromFd(${buf.fd});
        b.mmap().fill(42);
        process.exit(0);
      `,
        { eval: true },
      );
      await new Promise((resolve) => w.on('exit', resolve));
      const v = buf.mmap();
      assert.equal(v[0], 42);
      assert.equal(v[v.length - 1], 42);
      // Whatever leaked is closed here, so the failure stays in this test.
      const leaked = readdirSync('/proc/self/fd')
        .filter((n) => !before.has(n) && isOpen(Number(n)))
        .filter((n) => readlinkSync(`/proc/self/fd/${n}`).startsWith('/memfd:'));
      for (const n of leaked) closeSync(Number(n));
      assert.deepEqual(leaked, [], "the worker's buffer fd outlived the worker (no environment cleanup hook closes it)");
    });
  });

  describe('copy mode (as where external ArrayBuffers are forbidden)', () => {
    for (const s of subjects()) {
      it(`${s.label}: ${s.fd ? 'mmap() and kmap() → ERR_DMABUF_NO_EXTERNAL_BUFFERS; read()/write() still work and agree' : 'mmap() still works (no external memory)'}`, () => {
        const b = native();
        const maps = b.mappingCount();
        const saved = copyModeOption();
        setCopyMode(true);
        try {
          assert.equal(capabilities().externalBuffers, false);
          assert.deepEqual(capabilities().copyMode, { enabled: true, why: 'setCopyMode(true)' });
          using buf = s.make(SIZE);
          if (s.fd) {
            assertCode(() => buf.mmap(), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /read\(\)\/write\(\)/);
            assertCode(() => buf.mmap(), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS');
          } else {
            assert.equal(buf.mmap().byteLength, SIZE);
          }
          const src = new Uint8Array(3 * PAGE_SIZE);
          fill(src, 5);
          buf.write(PAGE_SIZE, src);
          const back = new Uint8Array(3 * PAGE_SIZE);
          buf.read(PAGE_SIZE, back);
          assert.deepEqual(back, src);
          const head = new Uint8Array(PAGE_SIZE);
          buf.read(0, head);
          assert.ok(head.every((x) => x === 0));
          {
            using access = buf.cpuAccess('readwrite');
            void access;
            if (s.fd) {
              assertCode(() => buf.kmap(1), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS');
              assertCode(() => buf.kmapAtomic(1), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS');
            } else {
              assert.equal(buf.kmap(1)[0], src[0]);
            }
          }
          count(s.label);
        } finally {
          restoreCopyMode(saved);
        }
        assert.equal(capabilities().externalBuffers, !COPY_MODE);
        assert.equal(b.mappingCount(), maps, 'copy mode leaked a mapping');
      });
    }
  });
});
