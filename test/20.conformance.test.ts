// One conformance suite, run unchanged against every exporter this machine offers
// (memfd, memory and import(memfd) on any Linux; udmabuf, dma-heap and their imports
// in the real-kernel VM). Where the kernel and a fallback differ, the kernel is right.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { PAGE_SIZE, fromFd, type DmaBuf } from '../lib';
import { fdKind } from '../lib/platform/fdinfo';
import { native } from '../lib/platform/binding';
import { COPY_MODE, assertCode, assertRejects, assertSysError, bytesOf, checkFds, count, fillBytes, hasViews, subjects } from './helpers';
import { assertPending, fakeTimers, probe } from './loop';

const SIZE = 16 * PAGE_SIZE;

/** Fills the buffer through its view, or in copy mode (npm run test:copy-mode) with write(). */
function pattern(buf: DmaBuf, seed: number): void {
  fillBytes(buf, (i) => (i * 31 + seed) & 0xff);
}

function checkPattern(bytes: Uint8Array, seed: number, offset = 0): void {
  for (let i = 0; i < bytes.length; i += 97) assert.equal(bytes[i], ((i + offset) * 31 + seed) & 0xff, `byte ${i + offset}`);
  const last = bytes.length - 1;
  assert.equal(bytes[last], ((last + offset) * 31 + seed) & 0xff);
}

for (const s of subjects()) {
  describe(`20 conformance: ${s.label}`, () => {
    checkFds();
    describe('a buffer', suite);
  });

  function suite(): void {
    let buf: DmaBuf;
    beforeEach(() => {
      buf = s.make(SIZE);
    });
    afterEach(function () {
      buf.close();
      count(s.label);
    });

    it('has a fixed size, its exporter, one reference', () => {
      assert.equal(buf.size, SIZE);
      assert.equal(buf.exporter, s.exporter);
      assert.equal(buf.refs, 1);
      assert.equal(buf.closed, false);
      assert.equal(buf.info().expName, s.expName);
      assert.equal(buf.info().size, SIZE);
      assert.equal(typeof buf.inode, 'number');
    });

    if (s.fd) {
      it('has an fd the kernel describes', () => {
        const fd = buf.fd;
        assert.equal(fd, buf.fd, 'the fd is stable');
        assert.equal(fdKind(fd), s.dmabuf ? 'dmabuf' : 'memfd');
        if (s.dmabuf) assert.match(readlinkSync(`/proc/self/fd/${fd}`), /^\/dmabuf:/);
        assert.equal(buf.info().ino, buf.inode);
      });
    } else {
      it('has no fd, and says so', () => {
        assertCode(() => buf.fd, 'ERR_DMABUF_NOT_SUPPORTED');
      });
    }

    if (s.fd && COPY_MODE) {
      it('copy mode: mmap() is refused, naming read()/write(), which agree with each other', () => {
        assertCode(() => buf.mmap(), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /use read\(\)\/write\(\)/);
        pattern(buf, 7);
        const copy = new Uint8Array(SIZE);
        buf.read(0, copy);
        checkPattern(copy, 7);
        buf.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
        assert.deepEqual(
          [...bytesOf(buf, PAGE_SIZE - 1, 5)],
          [((PAGE_SIZE - 1) * 31 + 7) & 0xff, 1, 2, 3, ((PAGE_SIZE + 3) * 31 + 7) & 0xff],
        );
        const tail = new Uint8Array(10);
        buf.read(SIZE - 10, tail);
        checkPattern(tail, 7, SIZE - 10);
      });

      it("copy mode: the copies' mapping goes with the buffer", () => {
        const maps = native().mappingCount();
        buf.read(0, new Uint8Array(1));
        assert.equal(native().mappingCount(), maps + 1);
        buf.close();
        assert.equal(native().mappingCount(), maps);
        assertCode(() => buf.read(0, new Uint8Array(1)), 'ERR_DMABUF_CLOSED');
      });
    } else {
      it('mmap gives the whole buffer, zero-copy and shared with read()/write()', () => {
        const a = buf.mmap();
        assert.equal(a.length, SIZE);
        pattern(buf, 7);
        const copy = new Uint8Array(SIZE);
        buf.read(0, copy);
        checkPattern(copy, 7);
        buf.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
        assert.deepEqual([...buf.mmap().subarray(PAGE_SIZE, PAGE_SIZE + 3)], [1, 2, 3]);
        const tail = new Uint8Array(10);
        buf.read(SIZE - 10, tail);
        checkPattern(tail, 7, SIZE - 10);
      });

      it('detaches every mmap view on release', () => {
        const view = buf.mmap();
        const sub = view.subarray(100, 200);
        buf.close();
        assert.equal(view.byteLength, 0);
        assert.equal(sub.byteLength, 0);
        if (s.fd) assert.equal(buf.closed, true);
      });
    }

    it('get/put: the last put releases, exactly once; use after release is ERR_DMABUF_CLOSED', () => {
      const fd = s.fd ? buf.fd : -1;
      assert.equal(buf.get(), buf);
      assert.equal(buf.refs, 2);
      buf.put();
      assert.equal(buf.closed, false);
      buf.put();
      assert.equal(buf.closed, true);
      assert.equal(buf.refs, 0);
      if (s.fd) assert.equal(fdKind(fd), 'closed');
      for (const op of [
        () => buf.fd,
        () => buf.mmap(),
        () => buf.get(),
        () => buf.put(),
        () => buf.attach({ name: 'd' }),
        () => buf.beginCpuAccess('read'),
        () => buf.setName('x'),
        () => buf.info(),
        () => buf.read(0, new Uint8Array(1)),
      ]) {
        assertCode(op, 'ERR_DMABUF_CLOSED');
      }
      buf.close();
      buf[Symbol.dispose]();
    });

    it('map needs a live attachment; detach while mapped is refused', () => {
      const att = buf.attach({ name: 'dev' });
      const t = att.map('to-device');
      assert.equal(t.direction, 'to-device');
      assert.equal(
        t.segments.reduce((n, x) => n + x.length, 0),
        SIZE,
      );
      assertCode(() => att.detach(), 'ERR_DMABUF_MAPPED');
      att.unmap(t);
      assertCode(() => att.unmap(t), 'ERR_INVALID_ARG_VALUE');
      att.detach();
      assertCode(() => att.map(), 'ERR_DMABUF_NOT_ATTACHED');
      assert.equal(buf.attachments.length, 0);
    });

    it('splits the table for a device with maxSegmentSize and aligns it', () => {
      const att = buf.attach({ name: 'dma', maxSegmentSize: 3 * PAGE_SIZE, alignment: 2 * PAGE_SIZE });
      const t = att.map();
      for (const seg of t.segments) {
        assert.ok(seg.length <= 2 * PAGE_SIZE);
        assert.equal(seg.offset % (2 * PAGE_SIZE), 0);
      }
      assert.equal(
        t.segments.reduce((n, x) => n + x.length, 0),
        SIZE,
      );
      att.unmap(t);
      att.detach();
    });

    it('refuses a device no storage can satisfy, naming the constraint', () => {
      assert.throws(
        () => buf.attach({ name: 'tiny', contiguous: true, maxSegmentSize: PAGE_SIZE }),
        (err: NodeJS.ErrnoException & { constraint: string }) =>
          err.code === 'ERR_DMABUF_INCOMPATIBLE' && err.constraint === 'maxSegmentSize',
      );
      assert.equal(buf.attachments.length, 0);
    });

    it('CPU access: brackets for each direction, a guard, the async form', async () => {
      for (const dir of ['read', 'write', 'readwrite'] as const) {
        buf.beginCpuAccess(dir);
        assert.equal(buf.cpuAccessCount[dir], 1);
        buf.endCpuAccess(dir);
        assert.equal(buf.cpuAccessCount[dir], 0);
      }
      {
        using access = buf.cpuAccess('write');
        assert.equal(access.direction, 'write');
        if (hasViews(buf)) buf.mmap()[0] = 42;
        else buf.write(0, new Uint8Array([42]));
      }
      assert.equal(buf.cpuAccessCount.write, 0);
      await buf.beginCpuAccessAsync('read', { timeout: 5000 });
      assert.equal(bytesOf(buf, 0, 1)[0], 42);
      buf.endCpuAccess('read');
      const guard = await buf.cpuAccessAsync('readwrite');
      guard.end();
      guard.end();
      assert.equal(buf.cpuAccessCount.readwrite, 0);
    });

    it('endCpuAccess without begin is EINVAL, as udmabuf answers', () => {
      assertSysError(() => buf.endCpuAccess('write'), 'EINVAL', -22, 'ioctl');
      buf.beginCpuAccess('read');
      assertSysError(() => buf.endCpuAccess('write'), 'EINVAL', -22, 'ioctl');
      buf.endCpuAccess('read');
    });

    if (s.fd && !s.dmabuf) {
      it('raw sync on a memfd: the kernel answers ENOTTY (not a dma-buf), as it does to any process holding the fd', () => {
        for (const f of [1, 2, 3, 5, 0, 4, 0xff]) assertSysError(() => buf.sync(f), 'ENOTTY', -25, 'ioctl');
      });
    } else {
      it('raw sync: valid flags pass, invalid flags are EINVAL', () => {
        for (const f of [1, 2, 3]) {
          buf.sync(f);
          buf.sync(f | 4);
        }
        for (const f of [0, 4, 8, 0xff, 0x100]) {
          assert.throws(
            () => buf.sync(f),
            (err: NodeJS.ErrnoException) => err.code === 'EINVAL' && err.errno === -22,
            `flags ${f}`,
          );
        }
      });
    }

    if (s.fd && COPY_MODE) {
      it('copy mode: kmap() is refused inside a bracket, naming read()/write(); pages are copied at page offsets instead', () => {
        assertCode(() => buf.kmap(0), 'ERR_DMABUF_NO_CPU_ACCESS');
        buf.beginCpuAccess('readwrite');
        assertCode(() => buf.kmap(3), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /read\(\)\/write\(\)/);
        assertCode(() => buf.kmapAtomic(4), 'ERR_DMABUF_NO_EXTERNAL_BUFFERS', /read\(\)\/write\(\)/);
        assertCode(() => buf.kunmap(3), 'ERR_INVALID_ARG_VALUE', /not kmapped/);
        buf.write(3 * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0xab));
        buf.write(4 * PAGE_SIZE, new Uint8Array([0xcd]));
        buf.endCpuAccess('readwrite');
        const page = new Uint8Array(PAGE_SIZE + 1);
        buf.read(3 * PAGE_SIZE, page);
        assert.ok(page.subarray(0, PAGE_SIZE).every((b) => b === 0xab));
        assert.equal(page[PAGE_SIZE], 0xcd);
      });
    } else {
      it(`kmap: only inside a bracket, one page of the buffer itself, ${s.fd ? 'detached' : 'left attached (memory: JS detaches whole buffers only)'} at kunmap`, () => {
        assertCode(() => buf.kmap(0), 'ERR_DMABUF_NO_CPU_ACCESS');
        assertCode(() => buf.kmapAtomic(0), 'ERR_DMABUF_NO_CPU_ACCESS');
        buf.beginCpuAccess('readwrite');
        const p = buf.kmap(3);
        assert.equal(p.length, PAGE_SIZE);
        p.fill(0xab);
        const a = buf.kmapAtomic(4);
        a[0] = 0xcd;
        assert.equal(buf.mmap()[3 * PAGE_SIZE + 1], 0xab, 'a kmap write is in the buffer at once, not at kunmap');
        buf.write(4 * PAGE_SIZE + 1, new Uint8Array([0xef]));
        assert.equal(a[1], 0xef, 'and a write to the buffer is in the kmap view');
        buf.kunmap(3, p);
        buf.kunmap(4);
        assert.equal(p.byteLength, s.fd ? 0 : PAGE_SIZE);
        assert.equal(a.byteLength, s.fd ? 0 : PAGE_SIZE);
        assertCode(() => buf.kunmap(3), 'ERR_INVALID_ARG_VALUE');
        const q = buf.kmap(5);
        buf.endCpuAccess('readwrite');
        if (s.fd) assert.equal(q.byteLength, 0, 'ending the last bracket kunmaps');
        assertCode(() => buf.kunmap(5), 'ERR_INVALID_ARG_VALUE', /not kmapped/);
        const m = buf.mmap();
        assert.equal(m[3 * PAGE_SIZE], 0xab);
        assert.equal(m[4 * PAGE_SIZE - 1], 0xab);
        assert.equal(m[4 * PAGE_SIZE], 0xcd);
      });
    }

    if (s.dmabuf) {
      it('exports its (absent) fences as a signalled sync_file, and imports one', async () => {
        using sf = buf.exportSyncFile('readwrite');
        assert.equal(sf.signaled, true);
        assert.equal(sf.info().status, 'signaled');
        await sf.wait({ timeout: 1000 });
        buf.importSyncFile(sf, 'read');
        await buf.beginCpuAccessAsync('write', { timeout: 1000 });
        buf.endCpuAccess('write');
      });
    } else {
      it('has no fences to export or import, and says so', () => {
        assertCode(() => buf.exportSyncFile('read'), 'ERR_DMABUF_NOT_SUPPORTED');
      });
    }

    it('setName: up to 31 bytes; 32 or more is EINVAL', () => {
      buf.setName('camera-frame-0');
      assert.equal(buf.name, 'camera-frame-0');
      assert.equal(buf.info().name, 'camera-frame-0');
      buf.setName('x'.repeat(31));
      assert.equal(buf.name, 'x'.repeat(31));
      assertSysError(() => buf.setName('y'.repeat(32)), 'EINVAL', -22, 'ioctl');
      assertSysError(() => buf.setName('é'.repeat(16)), 'EINVAL', -22, 'ioctl');
      if (s.dmabuf) assert.equal(readlinkSync(`/proc/self/fd/${buf.fd}`), `/dmabuf:${'x'.repeat(31)}`);
    });

    if (s.defers) {
      it('deferred allocation: storage is chosen at the first map from every attachment', () => {
        const d = s.make(SIZE, { deferred: true, segments: s.migrates ? 4 : undefined });
        try {
          assert.equal(d.layout, null);
          const a = d.attach({ name: 'lax' });
          const b = d.attach({ name: 'strict', contiguous: true });
          assert.equal(d.layout, null);
          const t = b.map();
          assert.deepEqual(d.layout, [{ offset: 0, length: SIZE }]);
          assert.deepEqual(t.segments, [{ offset: 0, length: SIZE }]);
          b.unmap(t);
          a.detach();
          b.detach();
        } finally {
          d.close();
        }
      });
    }

    if (s.migrates) {
      it('a stricter attach after the first map waits for every unmap, then migrates with contents kept', async () => {
        const m = s.make(SIZE, { segments: 4 });
        try {
          const fd = s.fd ? m.fd : -1;
          pattern(m, 11);
          const lax = m.attach({ name: 'lax', maxSegments: 8 });
          const t = lax.map();
          assert.equal(t.segments.length, 4);
          assert.equal(m.layout!.length, 4);
          assert.throws(
            () => m.attach({ name: 'scanout', contiguous: true }),
            (err: NodeJS.ErrnoException & { constraint: string }) => err.code === 'ERR_DMABUF_INCOMPATIBLE' && err.constraint === 'busy',
          );
          {
            using clock = fakeTimers();
            const timedOut = m.attachAsync({ name: 'scanout', contiguous: true }, { timeout: 30 });
            timedOut.catch(() => {}); // it rejects inside tickAsync(); the probe below reads how
            await clock.tickAsync(30);
            await assertRejects(probe(timedOut), 'ERR_DMABUF_TIMEOUT');
          }
          const pending = m.attachAsync({ name: 'scanout', contiguous: true });
          await assertPending(pending, 'waits while mapped');
          lax.unmap(t);
          const scanout = await pending;
          assert.equal(m.layout!.length, 1);
          checkPattern(bytesOf(m), 11);
          if (s.fd) assert.equal(m.fd, fd, 'the fd number survives migration');
          const t2 = scanout.map();
          assert.deepEqual(t2.segments, [{ offset: 0, length: SIZE }]);
          scanout.unmap(t2);
        } finally {
          m.close();
        }
      });

      if (s.fd) {
        it('storage does not move while another fd holds the buffer', () => {
          const m = s.make(SIZE, { segments: 2 });
          const other = fromFd(m.fd);
          try {
            assert.throws(
              () => m.attach({ name: 'scanout', contiguous: true }),
              (err: NodeJS.ErrnoException & { constraint: string }) => err.code === 'ERR_DMABUF_SHARED' && err.constraint === 'shared',
            );
            assert.equal(m.attachments.length, 0);
            assert.equal(m.layout!.length, 2);
          } finally {
            other.close();
            m.close();
          }
        });
      }

      it('migration happens at attach when nothing is mapped', () => {
        const m = s.make(SIZE, { segments: 2 });
        try {
          pattern(m, 3);
          const old = hasViews(m) ? m.mmap() : null;
          m.attach({ name: 'scanout', contiguous: true });
          assert.equal(m.layout!.length, 1);
          if (old) assert.equal(old.byteLength, 0, 'views of the old storage are detached');
          checkPattern(bytesOf(m), 3);
        } finally {
          m.close();
        }
      });
    } else {
      it('single-chunk storage suits a contiguous device without migrating', () => {
        const before = buf.layout;
        buf.attach({ name: 'scanout', contiguous: true }).detach();
        assert.deepEqual(buf.layout, before);
      });
    }
  }
}
