// A custom exporter written against the public DmaBufOps interface, with spy counters:
// the state machine in DmaBuf calls the exporter only in valid states, and exactly once
// where the kernel's dma_buf_ops promise it.
import assert from 'node:assert/strict';
import {
  Attachment,
  DmaBuf,
  PAGE_SIZE,
  allocate,
  capabilities,
  registerExporter,
  type AttachmentInfo,
  type CpuAccess,
  type DmaBufOps,
  type DmaDirection,
  type Segment,
} from '../lib';
import { assertCode, assertRejects, checkFds } from './helpers';
import { assertPending, fakeTimers, loopTurns, probe } from './loop';

type Counted =
  'attach' | 'detach' | 'map' | 'unmap' | 'release' | 'migrate' | 'beginCpuAccess' | 'endCpuAccess' | 'kmap' | 'kunmap' | 'mmap';

/** An exporter over one ArrayBuffer that counts every call. */
class SpyOps implements DmaBufOps {
  readonly exporter: string = 'spy';
  readonly size: number;
  readonly calls: Record<Counted, number> = {
    attach: 0,
    detach: 0,
    map: 0,
    unmap: 0,
    release: 0,
    migrate: 0,
    beginCpuAccess: 0,
    endCpuAccess: 0,
    kmap: 0,
    kunmap: 0,
    mmap: 0,
  };
  readonly log: string[] = [];
  storage: ArrayBuffer | null;
  /** What attach() answers. */
  verdict: void | 'migrate' = undefined;
  failBegin = false;

  constructor(size = 4 * PAGE_SIZE) {
    this.size = size;
    this.storage = new ArrayBuffer(size);
  }

  #count(what: Counted): void {
    this.calls[what]++;
    this.log.push(what);
    if (this.calls.release > 0 && what !== 'release') throw new Error(`${what} called after release`);
  }

  attach(_att: AttachmentInfo, _all: readonly AttachmentInfo[]): void | 'migrate' {
    this.#count('attach');
    return this.verdict;
  }
  detach(): void {
    this.#count('detach');
  }
  map(_att: AttachmentInfo, _dir: DmaDirection, _all: readonly AttachmentInfo[]): Segment[] {
    this.#count('map');
    return [{ offset: 0, length: this.size }];
  }
  unmap(): void {
    this.#count('unmap');
  }
  release(): void {
    this.#count('release');
    this.storage = null;
  }
  migrate(): void {
    this.#count('migrate');
    const next = new ArrayBuffer(this.size);
    new Uint8Array(next).set(new Uint8Array(this.storage!));
    this.storage = next;
  }
  beginCpuAccess(_dir: CpuAccess): void {
    this.#count('beginCpuAccess');
    if (this.failBegin) throw Object.assign(new Error('EAGAIN: the device is busy'), { code: 'EAGAIN' });
  }
  endCpuAccess(_dir: CpuAccess): void {
    this.#count('endCpuAccess');
  }
  kmap(page: number): Uint8Array {
    this.#count('kmap');
    return new Uint8Array(this.storage!, page * PAGE_SIZE, PAGE_SIZE);
  }
  kunmap(): void {
    this.#count('kunmap');
  }
  mmap(): Uint8Array {
    this.#count('mmap');
    return new Uint8Array(this.storage!);
  }
}

/** The same exporter without the optional operations `omit`. */
function without(ops: SpyOps, ...omit: Array<keyof DmaBufOps>): DmaBufOps {
  const o: Record<string, unknown> = { exporter: ops.exporter, size: ops.size };
  for (const k of [
    'attach',
    'detach',
    'map',
    'unmap',
    'release',
    'migrate',
    'beginCpuAccess',
    'endCpuAccess',
    'kmap',
    'kunmap',
    'mmap',
  ] as const) {
    if (!omit.includes(k)) o[k] = (ops[k] as (...a: unknown[]) => unknown).bind(ops);
  }
  return o as unknown as DmaBufOps;
}

describe('80 custom exporter', () => {
  checkFds();

  it('a plain object with map, unmap and release is enough', () => {
    let released = 0;
    const buf = new DmaBuf({
      exporter: 'plain',
      size: PAGE_SIZE,
      map: () => [{ offset: 0, length: PAGE_SIZE }],
      unmap: () => {},
      release: () => void released++,
    });
    assert.equal(buf.exporter, 'plain');
    assert.equal(buf.size, PAGE_SIZE);
    const att = buf.attach({ name: 'd' });
    const t = att.map();
    assert.deepEqual(t.segments, [{ offset: 0, length: PAGE_SIZE }]);
    att.unmap(t);
    assertCode(() => buf.fd, 'ERR_DMABUF_NOT_SUPPORTED', /'plain'/);
    assertCode(() => buf.sync(1), 'ERR_DMABUF_NOT_SUPPORTED');
    assertCode(() => buf.info(), 'ERR_DMABUF_NOT_SUPPORTED');
    assertCode(() => buf.setName('x'), 'ERR_DMABUF_NOT_SUPPORTED');
    assertCode(() => buf.inode, 'ERR_DMABUF_NOT_SUPPORTED');
    assert.equal(buf.name, '');
    buf.beginCpuAccess('read'); // no exporter hook: nothing to prepare
    buf.endCpuAccess('read');
    buf.close();
    assert.equal(released, 1);
  });

  describe('release runs exactly once', () => {
    const orders: string[][] = [
      ['close'],
      ['put'],
      ['dispose'],
      ['close', 'close', 'dispose', 'put'],
      ['get', 'put', 'put', 'close', 'put'],
      ['get', 'get', 'close', 'put', 'get'],
      ['get', 'dispose', 'put', 'close'],
      ['dispose', 'dispose', 'dispose'],
      ['get', 'put', 'get', 'put', 'put'],
    ];
    for (const order of orders) {
      it(order.join(' → '), () => {
        const ops = new SpyOps();
        const buf = new DmaBuf(ops);
        const att = buf.attach({ name: 'd' });
        att.map();
        for (const step of order) {
          const closed = buf.closed;
          const act = () => {
            if (step === 'close') buf.close();
            else if (step === 'dispose') buf[Symbol.dispose]();
            else if (step === 'get') buf.get();
            else buf.put();
          };
          if (closed && (step === 'get' || step === 'put')) assertCode(act, 'ERR_DMABUF_CLOSED');
          else act();
        }
        assert.equal(buf.closed, true, 'the buffer is released');
        assert.equal(ops.calls.release, 1);
        assert.equal(ops.log[ops.log.length - 1], 'release', 'nothing is called after release');
        att[Symbol.dispose]();
        assert.equal(ops.calls.release, 1);
      });
    }

    it('refs count up with get() and down with put(); only the last put() releases', () => {
      const ops = new SpyOps();
      const buf = new DmaBuf(ops);
      buf.get();
      buf.get();
      assert.equal(buf.refs, 3);
      buf.put();
      buf.put();
      assert.equal(ops.calls.release, 0);
      assert.equal(buf.refs, 1);
      buf.put();
      assert.equal(ops.calls.release, 1);
      assert.equal(buf.refs, 0);
    });
  });

  describe('attachments and mappings', () => {
    it('map without attach is impossible: DmaBuf has no map(), and an Attachment made by hand is not attached', () => {
      const ops = new SpyOps();
      using buf = new DmaBuf(ops);
      assert.equal((buf as unknown as { map?: unknown }).map, undefined);
      const forged = new (Attachment as unknown as new (b: DmaBuf, d: { name: string }) => Attachment)(buf, { name: 'forged' });
      assertCode(() => forged.map(), 'ERR_DMABUF_NOT_ATTACHED');
      assert.equal(ops.calls.map, 0, 'the exporter was asked to map for a device that never attached');
    });

    it('map after detach → ERR_DMABUF_NOT_ATTACHED; the exporter is not asked', () => {
      const ops = new SpyOps();
      using buf = new DmaBuf(ops);
      const att = buf.attach({ name: 'd' });
      att.unmap(att.map());
      att.detach();
      assert.equal(ops.calls.detach, 1);
      assertCode(() => att.map(), 'ERR_DMABUF_NOT_ATTACHED', /'d' is not attached/);
      assert.equal(ops.calls.map, 1);
      att.detach();
      assert.equal(ops.calls.detach, 1, 'detach is idempotent');
    });

    it('detach while mapped → ERR_DMABUF_MAPPED; the exporter is not asked; after unmap it detaches', () => {
      const ops = new SpyOps();
      using buf = new DmaBuf(ops);
      const att = buf.attach({ name: 'd' });
      const t1 = att.map('to-device');
      const t2 = att.map('from-device');
      assertCode(() => att.detach(), 'ERR_DMABUF_MAPPED', /2 mapping/);
      assert.equal(ops.calls.detach, 0);
      att.unmap(t1);
      assertCode(() => att.detach(), 'ERR_DMABUF_MAPPED', /1 mapping/);
      att.unmap(t2, 'from-device');
      att.detach();
      assert.equal(ops.calls.detach, 1);
      assert.equal(ops.calls.unmap, 2);
    });

    it('an exporter that refuses a device: attach throws its error and nothing is attached', () => {
      const ops = new SpyOps();
      ops.attach = () => {
        throw Object.assign(new Error('no IOMMU for this device'), { code: 'ERR_DMABUF_INCOMPATIBLE' });
      };
      using buf = new DmaBuf(ops);
      assertCode(() => buf.attach({ name: 'd' }), 'ERR_DMABUF_INCOMPATIBLE', /IOMMU/);
      assert.equal(buf.attachments.length, 0);
    });

    it('release with attachments and mappings outstanding: detaches them, then releases once', () => {
      const ops = new SpyOps();
      const buf = new DmaBuf(ops);
      const a = buf.attach({ name: 'a' });
      const b = buf.attach({ name: 'b' });
      a.map();
      b.map();
      buf.close();
      assert.equal(a.detached, true);
      assert.equal(b.detached, true);
      assert.equal(buf.attachments.length, 0);
      assert.equal(ops.calls.release, 1);
    });
  });

  describe('optional operations', () => {
    it('ops without mmap → buf.mmap() gives ERR_DMABUF_NOT_SUPPORTED; read()/write() need mmap or read/write', () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(without(spy, 'mmap'));
      assertCode(() => buf.mmap(), 'ERR_DMABUF_NOT_SUPPORTED', /mmap/);
      assertCode(() => buf.read(0, new Uint8Array(1)), 'ERR_DMABUF_NOT_SUPPORTED');
    });

    it('ops with mmap: read()/write() go through it', () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      buf.write(10, new Uint8Array([5, 6]));
      const b = new Uint8Array(2);
      buf.read(10, b);
      assert.deepEqual([...b], [5, 6]);
      assert.ok(spy.calls.mmap >= 2);
    });

    it('ops without kmap → kmap()/kmapAtomic() give ERR_DMABUF_NOT_SUPPORTED, inside a bracket', () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(without(spy, 'kmap'));
      using access = buf.cpuAccess('read');
      void access;
      assertCode(() => buf.kmap(0), 'ERR_DMABUF_NOT_SUPPORTED', /kmap/);
      assertCode(() => buf.kmapAtomic(0), 'ERR_DMABUF_NOT_SUPPORTED', /kmapAtomic/);
    });

    it('kunmap of every kmapped page happens at the last endCpuAccess', () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      buf.beginCpuAccess('read');
      buf.beginCpuAccess('write');
      buf.kmap(0);
      buf.kmap(1);
      buf.endCpuAccess('read');
      assert.equal(spy.calls.kunmap, 0, 'a bracket is still open');
      buf.endCpuAccess('write');
      assert.equal(spy.calls.kunmap, 2);
      assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
    });
  });

  describe('beginCpuAccess may fail', () => {
    it('a begin that throws leaves nothing begun: cpuAccessCount stays 0 and kmap → ERR_DMABUF_NO_CPU_ACCESS', () => {
      const spy = new SpyOps();
      spy.failBegin = true;
      using buf = new DmaBuf(spy);
      for (const dir of ['read', 'write', 'readwrite'] as const) {
        assertCode(() => buf.beginCpuAccess(dir), 'EAGAIN', /busy/);
        assertCode(() => buf.cpuAccess(dir), 'EAGAIN');
      }
      assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
      assertCode(() => buf.kmap(0), 'ERR_DMABUF_NO_CPU_ACCESS');
      assert.equal(spy.calls.kmap, 0);
      assertSysErrorLike(() => buf.endCpuAccess('read'));
      assert.equal(spy.calls.endCpuAccess, 0, 'end is never called for a begin that failed');
      spy.failBegin = false;
      buf.beginCpuAccess('read');
      assert.equal(buf.kmap(0).byteLength, PAGE_SIZE);
      buf.endCpuAccess('read');
    });

    it('beginCpuAccessAsync with a failing begin rejects the same way', async () => {
      const spy = new SpyOps();
      spy.failBegin = true;
      using buf = new DmaBuf(spy);
      await assertRejects(buf.beginCpuAccessAsync('write'), 'EAGAIN');
      await assertRejects(buf.cpuAccessAsync('write'), 'EAGAIN');
      assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
    });
  });

  describe('migration', () => {
    it("attach returning 'migrate': sync attach() while mapped → ERR_DMABUF_INCOMPATIBLE, nothing added, no migrate", () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      const a = buf.attach({ name: 'a' });
      const t = a.map();
      spy.verdict = 'migrate';
      assert.throws(
        () => buf.attach({ name: 'strict' }),
        (err: NodeJS.ErrnoException & { constraint?: string }) => {
          assert.equal(err.code, 'ERR_DMABUF_INCOMPATIBLE');
          assert.equal(err.constraint, 'busy');
          assert.match(err.message, /1 mapping/);
          assert.match(err.message, /attachAsync/);
          return true;
        },
      );
      assert.deepEqual(buf.attachments, [a]);
      assert.equal(spy.calls.migrate, 0);
      a.unmap(t);
      const strict = buf.attach({ name: 'strict' });
      assert.equal(spy.calls.migrate, 1, 'idle: attach() migrates at once');
      assert.equal(buf.attachments.length, 2);
      strict.detach();
    });

    it('attachAsync waits until the last unmap, then migrates exactly once, contents preserved', async () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      buf.write(0, new Uint8Array([1, 2, 3]));
      const a = buf.attach({ name: 'a' });
      const b = buf.attach({ name: 'b' });
      const ta = a.map();
      const tb = b.map();
      spy.verdict = 'migrate';
      const p = buf.attachAsync({ name: 'strict' });
      await assertPending(p, 'two mappings are outstanding');
      assert.equal(spy.calls.migrate, 0);
      a.unmap(ta);
      await assertPending(p, 'one mapping is still outstanding');
      assert.equal(spy.calls.migrate, 0);
      const before = spy.storage;
      b.unmap(tb);
      const strict = await p;
      assert.equal(spy.calls.migrate, 1);
      assert.notEqual(spy.storage, before, 'the storage moved');
      assert.ok(buf.attachments.includes(strict));
      const back = new Uint8Array(3);
      buf.read(0, back);
      assert.deepEqual([...back], [1, 2, 3]);
      assert.equal(spy.log.indexOf('migrate') > spy.log.lastIndexOf('unmap'), true, 'migrate runs after the last unmap');
    });

    it('attachAsync also waits for CPU-access brackets and kmaps to end', async () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      buf.beginCpuAccess('write');
      buf.kmap(0);
      spy.verdict = 'migrate';
      const p = buf.attachAsync({ name: 'strict' });
      await assertPending(p, 'a CPU-access bracket and a kmap are outstanding');
      assert.equal(spy.calls.migrate, 0);
      buf.endCpuAccess('write');
      await p;
      assert.equal(spy.calls.migrate, 1);
    });

    it('attachAsync with {timeout: 50} while a mapping stays → ERR_DMABUF_TIMEOUT, the attachment is not added', async () => {
      const spy = new SpyOps();
      using buf = new DmaBuf(spy);
      const a = buf.attach({ name: 'a' });
      const t = a.map();
      spy.verdict = 'migrate';
      {
        using clock = fakeTimers();
        const p = buf.attachAsync({ name: 'strict' }, { timeout: 50 });
        p.catch(() => {}); // it rejects inside tickAsync(); the probe below reads how
        await clock.tickAsync(49);
        await assertPending(p, 'the timeout has not passed yet');
        await clock.tickAsync(1);
        await assertRejects(probe(p), 'ERR_DMABUF_TIMEOUT', /'strict' waited 50 ms/);
      }
      assert.deepEqual(buf.attachments, [a]);
      assert.equal(spy.calls.migrate, 0);
      a.unmap(t);
      await loopTurns();
      assert.equal(spy.calls.migrate, 0, 'a timed-out attach does not migrate later');
      assert.deepEqual(buf.attachments, [a]);
    });

    it('release while attachAsync waits → ERR_DMABUF_CLOSED, no migrate', async () => {
      const spy = new SpyOps();
      const buf = new DmaBuf(spy);
      const a = buf.attach({ name: 'a' });
      a.map();
      spy.verdict = 'migrate';
      const p = buf.attachAsync({ name: 'strict' });
      buf.close();
      await assertRejects(p, 'ERR_DMABUF_CLOSED');
      assert.equal(spy.calls.migrate, 0);
      assert.equal(spy.calls.release, 1);
    });

    it("'migrate' from an exporter without migrate() → ERR_DMABUF_NOT_SUPPORTED, nothing added", () => {
      const spy = new SpyOps();
      spy.verdict = 'migrate';
      using buf = new DmaBuf(without(spy, 'migrate'));
      assertCode(() => buf.attach({ name: 'x' }), 'ERR_DMABUF_NOT_SUPPORTED', /migrate/);
      assert.equal(buf.attachments.length, 0);
    });
  });

  describe('registerExporter', () => {
    const name = `mine-${process.pid}`;
    it('allocate(size, {exporter: name}) uses the factory and shows its name', () => {
      const seen: Array<{ size: number; options: object }> = [];
      registerExporter(name, (size, options) => {
        seen.push({ size, options });
        const o = new SpyOps(size);
        (o as { exporter: string }).exporter = name;
        return o;
      });
      const buf = allocate(2 * PAGE_SIZE, { exporter: name, segments: 2 });
      assert.equal(buf.exporter, name);
      assert.equal(buf.size, 2 * PAGE_SIZE);
      assert.equal(seen.length, 1);
      assert.equal(seen[0].size, 2 * PAGE_SIZE);
      assert.equal((seen[0].options as { segments?: number }).segments, 2);
      buf.close();
      // Sizes are checked before the factory runs.
      assertCode(() => allocate(4097, { exporter: name }), 'ERR_OUT_OF_RANGE');
      assert.equal(seen.length, 1);
    });

    it('a factory that throws: the error reaches the caller', () => {
      registerExporter(`${name}-broken`, () => {
        throw Object.assign(new Error('out of device memory'), { code: 'ENOMEM' });
      });
      assertCode(() => allocate(PAGE_SIZE, { exporter: `${name}-broken` }), 'ENOMEM');
    });

    it('a factory returning something that is not an exporter → ERR_INVALID_ARG_TYPE', () => {
      registerExporter(`${name}-bad`, () => ({}) as DmaBufOps);
      assertCode(() => allocate(PAGE_SIZE, { exporter: `${name}-bad` }), 'ERR_INVALID_ARG_TYPE');
    });

    it("built-in names, 'auto' and 'import' cannot be taken; bad arguments are refused", () => {
      const f = () => new SpyOps();
      for (const n of ['memfd', 'memory', 'udmabuf', 'dma-heap', 'auto', 'import']) {
        assertCode(() => registerExporter(n, f), 'ERR_INVALID_ARG_VALUE', /built-in/);
      }
      assertCode(() => registerExporter(1 as unknown as string, f), 'ERR_INVALID_ARG_TYPE');
      assertCode(() => registerExporter('x', 'f' as unknown as () => DmaBufOps), 'ERR_INVALID_ARG_TYPE');
      const buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      assert.equal(buf.exporter, 'memory', 'the built-in is untouched');
      buf.close();
    });

    it("names of Object.prototype's members are ordinary names: unknown until registered, then yours", () => {
      assertCode(() => allocate(PAGE_SIZE, { exporter: '__proto__' }), 'ERR_INVALID_ARG_VALUE');
      registerExporter('__proto__', (size) => new SpyOps(size));
      registerExporter('toString', (size) => new SpyOps(size));
      for (const exporter of ['__proto__', 'toString']) {
        const buf = allocate(PAGE_SIZE, { exporter });
        assert.equal(buf.size, PAGE_SIZE);
        buf.close();
      }
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'valueOf' }), 'ERR_INVALID_ARG_VALUE');
    });

    it('DmaBuf.allocate and DmaBuf.fromFd are allocate() and fromFd(), installed by the package entry', () => {
      registerExporter(`${name}-static`, (size) => new SpyOps(size));
      using a = DmaBuf.allocate(PAGE_SIZE, { exporter: `${name}-static` });
      assert.equal(a.exporter, 'spy');
      using m = DmaBuf.allocate(PAGE_SIZE, { exporter: 'memory', name: 'static' });
      assert.equal(m.name, 'static');
      assertCode(() => DmaBuf.allocate(PAGE_SIZE, { exporter: 'none-such' }), 'ERR_INVALID_ARG_VALUE');
      assertCode(() => DmaBuf.fromFd(-1), 'ERR_OUT_OF_RANGE');
      if (!capabilities().exporters.includes('memfd')) return;
      using f = allocate(PAGE_SIZE, { exporter: 'memfd' });
      using g = DmaBuf.fromFd(f.fd);
      assert.equal(g.inode, f.inode);
    });
  });
});

/** endCpuAccess without a begin: EINVAL, as udmabuf answers. */
function assertSysErrorLike(fn: () => unknown): void {
  assert.throws(fn, (err: NodeJS.ErrnoException) => err.code === 'EINVAL' && err.errno === -22);
}
