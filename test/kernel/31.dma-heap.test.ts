// The kernel's DMA-heap selftest (tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c),
// case by case for every heap present, through the library. VM suite only.
import assert from 'node:assert/strict';
import { allocate, listHeaps, PAGE_SIZE } from '../../lib';
import { native } from '../../lib/platform/binding';
import { openVgem } from '../../lib/devices/drm';
import { IOWR } from '../../lib/platform/uapi';
import { assertSysError, checkFds } from '../helpers';

const ONE_MIB = 1024 * 1024;
/** _IOWR('H', 0, size): the ALLOC ioctl with a struct of another size. */
const allocIoctl = (size: number) => IOWR('H', 0, size);

for (const heap of listHeaps()) {
  describe(`31 dma-heap '${heap}': the kernel selftest, through the library`, () => {
    checkFds();
    describe('with the heap open', () => selftest(heap));
  });
}

function selftest(heap: string): void {
  let heapFd = -1;
  beforeEach(() => {
    heapFd = native().open(`/dev/dma_heap/${heap}`, native().constants.O_RDONLY);
  });
  afterEach(() => native().close(heapFd));

  it('alloc_and_import: 1 MiB, mmap, SYNC brackets around memset, PRIME import into vgem, again', () => {
    using buf = allocate(ONE_MIB, { exporter: 'dma-heap', heap });
    assert.equal(buf.info().expName, heap);
    {
      using _ = buf.cpuAccess('readwrite');
      buf.mmap().fill(1);
    }
    using vgem = openVgem();
    const gem = vgem.importDmaBuf(buf);
    assert.ok(gem.handle > 0);
    {
      using _ = buf.cpuAccess('readwrite');
      buf.mmap().fill(0xff);
    }
    gem.close();
    assert.equal(buf.mmap()[ONE_MIB - 1], 0xff);
  });

  for (const size of [PAGE_SIZE, ONE_MIB]) {
    it(`alloc_zeroed ${size}: 32 buffers dirtied and freed, then 32 new ones are all zero`, () => {
      for (let i = 0; i < 32; i++) {
        using buf = allocate(size, { exporter: 'dma-heap', heap });
        using _ = buf.cpuAccess('write');
        buf.mmap().fill(0xff);
      }
      for (let i = 0; i < 32; i++) {
        using buf = allocate(size, { exporter: 'dma-heap', heap });
        using _ = buf.cpuAccess('read');
        const words = new Uint32Array(buf.mmap().buffer);
        assert.equal(
          words.findIndex((w) => w !== 0),
          -1,
          `buffer ${i} is zeroed`,
        );
      }
    });
  }

  it('alloc_compat: the 16-byte "older" and 48-byte "newer" structs both allocate', () => {
    const b = native();
    const c = b.constants;
    for (const size of [16, 48]) {
      const data = new DataView(new ArrayBuffer(size));
      data.setBigUint64(0, BigInt(ONE_MIB), true);
      data.setUint32(12, c.O_RDWR | c.O_CLOEXEC, true);
      for (let off = 24; off < size; off++) data.setUint8(off, 0xaa);
      b.ioctl(heapFd, allocIoctl(size), data);
      const fd = data.getUint32(8, true);
      assert.ok(fd > 2);
      assert.equal(b.fdSize(fd), ONE_MIB);
      b.close(fd);
    }
  });

  it('alloc_errors: on stdin, with heap_flags, with bad fd_flags → errors (EINVAL for the last two)', () => {
    const b = native();
    assert.throws(
      () => b.dmaHeapAlloc(0, ONE_MIB, b.constants.O_RDWR | b.constants.O_CLOEXEC, 0),
      (err: NodeJS.ErrnoException) => err.errno! < 0,
    );
    assertSysError(() => b.dmaHeapAlloc(heapFd, ONE_MIB, b.constants.O_RDWR | b.constants.O_CLOEXEC, 0x111111), 'EINVAL', -22, 'ioctl');
    assertSysError(() => b.dmaHeapAlloc(heapFd, ONE_MIB, ~(b.constants.O_RDWR | b.constants.O_CLOEXEC) >>> 0, 0), 'EINVAL', -22, 'ioctl');
  });

  it('rounds len up to whole pages; a read-only buffer has no view (ERR_DMABUF_READ_ONLY) and copies', () => {
    const b = native();
    const fd = b.dmaHeapAlloc(heapFd, PAGE_SIZE + 1, b.constants.O_RDWR | b.constants.O_CLOEXEC, 0);
    assert.equal(b.fdSize(fd), 2 * PAGE_SIZE);
    b.close(fd);
    using ro = allocate(PAGE_SIZE, { exporter: 'dma-heap', heap, readOnly: true });
    const copy = new Uint8Array(4);
    ro.read(0, copy);
    assert.deepEqual([...copy], [0, 0, 0, 0]);
    assert.throws(() => ro.write(0, copy), { code: 'EACCES' });
    assert.throws(() => ro.mmap(), { code: 'ERR_DMABUF_READ_ONLY' });
    using _access = ro.cpuAccess('read');
    assert.throws(() => ro.kmap(0), { code: 'ERR_DMABUF_READ_ONLY' });
  });
}
