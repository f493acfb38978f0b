// The page size is the running kernel's, not 4096: buffer sizes, udmabuf offsets and list
// items, and kmap page numbers are all in its units. Runs everywhere; the 16 KiB-page arm64
// kernel (npm run test:kernel:arm64) is where a literal 4096 would show.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { allocate, capabilities, fromFd, PAGE_SIZE, type AllocateOptions } from '../lib';
import { native, nativeOrNull } from '../lib/platform/binding';
import { assertCode, checkFds } from './helpers';

const AT_PAGESZ = 6;

/** The kernel's page size as it told this process at exec (AT_PAGESZ in /proc/self/auxv): what sysconf(_SC_PAGESIZE) returns. */
function auxvPageSize(): number {
  const auxv = readFileSync('/proc/self/auxv');
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    const type = Number(auxv.readBigUInt64LE(at));
    if (type === AT_PAGESZ) return Number(auxv.readBigUInt64LE(at + 8));
    if (type === 0) break;
  }
  throw new Error('no AT_PAGESZ in /proc/self/auxv');
}

/** Options that make `exporter` allocate here (dma-heap needs a heap name). */
function optionsFor(exporter: string): AllocateOptions {
  const heap = capabilities().heaps.find((h) => h.accessible)?.name;
  return exporter === 'dma-heap' ? { exporter, heap } : ({ exporter } as AllocateOptions);
}

const kernel = process.platform === 'linux' && nativeOrNull() !== null;
const exporters = capabilities().exporters;

describe('13 page size', () => {
  checkFds();

  it("PAGE_SIZE is the running kernel's page size (AT_PAGESZ, getconf PAGESIZE)", function () {
    if (!kernel) this.skip();
    assert.equal(PAGE_SIZE, auxvPageSize());
    assert.equal(native().constants.PAGE_SIZE, PAGE_SIZE);
    const getconf = spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' });
    if (getconf.status === 0) assert.equal(PAGE_SIZE, Number(getconf.stdout.trim()), 'getconf PAGESIZE');
  });

  for (const exporter of exporters) {
    describe(`with ${exporter}`, () => {
      it('allocate(PAGE_SIZE) gives one page, all of it mapped', () => {
        using buf = allocate(PAGE_SIZE, optionsFor(exporter));
        assert.equal(buf.size, PAGE_SIZE);
        const view = buf.mmap();
        assert.equal(view.length, PAGE_SIZE);
        view[PAGE_SIZE - 1] = 0x5a;
        const last = new Uint8Array(1);
        buf.read(PAGE_SIZE - 1, last);
        assert.equal(last[0], 0x5a);
        if (exporter !== 'memory') assert.equal(native().fdSize(buf.fd), PAGE_SIZE);
      });

      it('a size that is not a multiple of PAGE_SIZE is refused, naming the page size and the rounded size', () => {
        assertCode(
          () => allocate(PAGE_SIZE + PAGE_SIZE / 2, optionsFor(exporter)),
          'ERR_OUT_OF_RANGE',
          new RegExp(`page size \\(${PAGE_SIZE}\\).*round up to ${2 * PAGE_SIZE}`),
        );
      });

      it('a multiple of 4096 that is not one of PAGE_SIZE is refused the same way (pages over 4 KiB)', function () {
        if (PAGE_SIZE <= 4096) this.skip();
        for (const size of [4096, PAGE_SIZE + 4096, 3 * PAGE_SIZE - 4096]) {
          assertCode(
            () => allocate(size, optionsFor(exporter)),
            'ERR_OUT_OF_RANGE',
            new RegExp(`page size \\(${PAGE_SIZE}\\).*round up to ${Math.ceil(size / PAGE_SIZE) * PAGE_SIZE}`),
          );
        }
      });

      it('kmap(page) maps exactly PAGE_SIZE bytes at page * PAGE_SIZE; kmap(size / PAGE_SIZE) is out of range', () => {
        using buf = allocate(4 * PAGE_SIZE, optionsFor(exporter));
        const view = buf.mmap();
        for (let p = 0; p < 4; p++) view.fill(p + 1, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
        buf.beginCpuAccess('read');
        try {
          const page = buf.kmap(2);
          assert.equal(page.length, PAGE_SIZE);
          assert.equal(page[0], 3);
          assert.equal(page[PAGE_SIZE - 1], 3);
          buf.kunmap(2, page);
          assertCode(() => buf.kmap(4), 'ERR_OUT_OF_RANGE', new RegExp(`<= 3\\b`));
        } finally {
          buf.endCpuAccess('read');
        }
      });
    });
  }

  describe('udmabuf offsets and list items are in PAGE_SIZE units', () => {
    let memfd = -1;
    before(function () {
      if (!exporters.includes('udmabuf')) this.skip();
    });
    beforeEach(() => {
      const b = native();
      const c = b.constants;
      memfd = b.memfdCreate('page-size', c.MFD_ALLOW_SEALING | c.MFD_CLOEXEC);
      b.ftruncate(memfd, 4 * PAGE_SIZE);
      b.addSeals(memfd, c.F_SEAL_SHRINK);
      const h = b.mmap(memfd, 4 * PAGE_SIZE, 0, true);
      const v = new Uint8Array(b.mapView(h));
      for (let p = 0; p < 4; p++) v.fill(p + 1, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
      b.munmap(h);
    });
    afterEach(() => {
      if (memfd >= 0) native().close(memfd);
      memfd = -1;
    });

    it('offset PAGE_SIZE takes the second page', () => {
      using buf = allocate(PAGE_SIZE, { exporter: 'udmabuf', memfd, offset: PAGE_SIZE });
      const view = buf.mmap();
      assert.equal(view[0], 2);
      assert.equal(view[PAGE_SIZE - 1], 2);
    });

    it('an offset that is not a multiple of PAGE_SIZE is refused (EINVAL), naming the page size', () => {
      const offsets = PAGE_SIZE > 4096 ? [PAGE_SIZE / 2, 4096, PAGE_SIZE + 4096] : [PAGE_SIZE / 2];
      for (const offset of offsets) {
        assertCode(
          () => allocate(PAGE_SIZE, { exporter: 'udmabuf', memfd, offset }),
          'EINVAL',
          new RegExp(`offset ${offset} is not a multiple of the page size \\(${PAGE_SIZE}\\)`),
        );
      }
    });

    it('UDMABUF_CREATE_LIST takes items on page boundaries and refuses the others (EINVAL)', () => {
      const b = native();
      const dev = b.open('/dev/udmabuf', b.constants.O_RDWR);
      try {
        const fd = b.udmabufCreateList(
          dev,
          [memfd, 3 * PAGE_SIZE, PAGE_SIZE, memfd, PAGE_SIZE, PAGE_SIZE],
          b.constants.UDMABUF_FLAGS_CLOEXEC,
        );
        using buf = fromFd(fd, { takeOwnership: true });
        assert.equal(buf.size, 2 * PAGE_SIZE);
        const view = buf.mmap();
        assert.deepEqual([view[0], view[PAGE_SIZE - 1], view[PAGE_SIZE], view[2 * PAGE_SIZE - 1]], [4, 4, 2, 2]);
        const half = PAGE_SIZE > 4096 ? 4096 : PAGE_SIZE / 2;
        for (const items of [
          [memfd, 0, PAGE_SIZE, memfd, half, PAGE_SIZE],
          [memfd, 0, PAGE_SIZE, memfd, PAGE_SIZE, half],
        ]) {
          assert.throws(() => b.udmabufCreateList(dev, items, b.constants.UDMABUF_FLAGS_CLOEXEC), { code: 'EINVAL' });
        }
      } finally {
        b.close(dev);
      }
    });

    it('segments split a buffer on page boundaries', () => {
      using buf = allocate(4 * PAGE_SIZE, { exporter: 'udmabuf', segments: 3 });
      assert.equal(buf.layout!.length, 3);
      for (const seg of buf.layout!) assert.equal(seg.length % PAGE_SIZE, 0, `segment of ${seg.length} bytes`);
      const view = buf.mmap();
      view[4 * PAGE_SIZE - 1] = 7;
      assert.equal(view.length, 4 * PAGE_SIZE);
    });
  });

  it('dma-heap says it is unavailable, and why, on a kernel without DMA heaps', function () {
    if (!kernel || existsSync('/dev/dma_heap')) this.skip();
    assert.ok(!exporters.includes('dma-heap'));
    assertCode(() => allocate(PAGE_SIZE, { exporter: 'dma-heap' }), 'ERR_DMABUF_UNAVAILABLE', /CONFIG_DMABUF_HEAPS/);
  });
});
