// Read-only buffers (an fd opened O_RDONLY: a peer's reopen through /proc/self/fd, a
// dma-heap buffer allocated { readOnly: true }). JavaScript has no read-only ArrayBuffer,
// so there is no view: mmap()/kmap() throw ERR_DMABUF_READ_ONLY, read() copies, write()
// is refused with EACCES, and the native layer never makes a view over a PROT_READ mapping.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { PAGE_SIZE, fromFd, type DmaBuf } from '../lib';
import { native } from '../lib/platform/binding';
import { assertCode, assertSysError, checkFds, count, subjects } from './helpers';

const SIZE = 4 * PAGE_SIZE;

/** The buffer again, through an fd reopened O_RDONLY (as any process that sees the fd can). */
function reopenReadOnly(buf: DmaBuf): DmaBuf | null {
  let fd: number;
  try {
    fd = openSync(`/proc/self/fd/${buf.fd}`, 'r');
  } catch {
    return null; // this kind of file cannot be reopened through procfs
  }
  return fromFd(fd, { takeOwnership: true });
}

describe('62 read-only buffers', () => {
  checkFds();

  for (const s of subjects().filter((x) => x.fd)) {
    describe(s.label, () => {
      it('reopened O_RDONLY: mmap() and kmap() → ERR_DMABUF_READ_ONLY; read() copies; write() → EACCES', function () {
        using rw = s.make(SIZE);
        using ro = reopenReadOnly(rw);
        if (!ro) this.skip();
        rw.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
        assertCode(() => ro.mmap(), 'ERR_DMABUF_READ_ONLY', /read-only.*use read\(offset, target\), which copies/);
        {
          using _access = ro.cpuAccess('read');
          assertCode(() => ro.kmap(1), 'ERR_DMABUF_READ_ONLY', /^kmap: /);
          assertCode(() => ro.kmapAtomic(1), 'ERR_DMABUF_READ_ONLY', /^kmapAtomic: |^kmap: /);
        }
        const out = new Uint8Array(3);
        ro.read(PAGE_SIZE, out);
        assert.deepEqual([...out], [1, 2, 3]);
        assertSysError(() => ro.write(0, new Uint8Array(1)), 'EACCES', -13);
        // The writable side still has its view, and the read-only side copies into it.
        const view = rw.mmap();
        ro.read(PAGE_SIZE, view.subarray(0, 3));
        assert.deepEqual([...view.subarray(0, 3)], [1, 2, 3]);
        count(s.label);
      });
    });
  }

  it('native: mapView of a mapping made with writable false → ERR_DMABUF_READ_ONLY; mapRead still copies', () => {
    using rw = subjects()
      .find((x) => x.exporter === 'memfd')!
      .make(SIZE);
    const b = native();
    const h = b.mmap(rw.fd, SIZE, 0, false);
    try {
      assertCode(() => b.mapView(h), 'ERR_DMABUF_READ_ONLY', /read-only/);
      const out = new Uint8Array(4);
      b.mapRead(h, 0, out);
      assertSysError(() => b.mapWrite(h, 0, out), 'EACCES', -13);
    } finally {
      b.munmap(h);
    }
  });

  describe('what used to kill the process (SIGSEGV), each in a child', () => {
    const cases: Array<[string, string]> = [
      ['mmap', 'a store through mmap() of a read-only import'],
      ['readInto', "another buffer's read() into a view of a read-only import"],
      ['kmap', 'a store through kmap() of a read-only import'],
      ['nativeView', 'a store through the native mapView of a writable-false mapping'],
    ];
    for (const [op, title] of cases) {
      it(`${title}: refused with ERR_DMABUF_READ_ONLY; the process lives`, function () {
        this.timeout(20000);
        const r = spawnSync(process.execPath, [join(__dirname, 'fixtures', 'read-only-child.js'), op], {
          encoding: 'utf8',
          timeout: 15000,
        });
        assert.equal(r.signal, null, `the child died of ${r.signal}: a writable view over a read-only mapping was handed out`);
        assert.equal(r.status, 0, r.stderr);
        const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
        assert.equal(o.threw, true, `${op} did not throw: ${r.stdout}`);
        assert.equal(o.code, 'ERR_DMABUF_READ_ONLY', o.message);
      });
    }
  });
});
