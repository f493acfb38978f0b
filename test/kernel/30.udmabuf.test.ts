// The kernel's udmabuf selftest (tools/testing/selftests/drivers/dma-buf/udmabuf.c, 6.12),
// case by case, through the library; and the errors udmabuf gives, in the library's shape.
// Runs only on a kernel with /dev/udmabuf (the VM suite).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { allocate, fromFd, PAGE_SIZE, udmabufLimits } from '../../lib';
import { native } from '../../lib/platform/binding';
import { DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, hugePageSize } from '../../lib/platform/uapi';
import { assertSysError, checkFds } from '../helpers';

const NUM_PAGES = 4;

function sealedMemfd(pages: number, hugetlb = false, pageSize = PAGE_SIZE): number {
  const b = native();
  const c = b.constants;
  const fd = b.memfdCreate('udmabuf-test', c.MFD_ALLOW_SEALING | c.MFD_CLOEXEC | (hugetlb ? c.MFD_HUGETLB : 0));
  b.addSeals(fd, c.F_SEAL_SHRINK);
  b.ftruncate(fd, pages * pageSize);
  return fd;
}

function fillPages(memfd: number, pages: number, pageSize: number, ch: string): void {
  const b = native();
  const h = b.mmap(memfd, pages * pageSize, 0, true);
  try {
    const v = new Uint8Array(b.mapView(h));
    for (let i = 0; i < pages; i++) v[i * pageSize] = ch.charCodeAt(0);
  } finally {
    b.munmap(h);
  }
}

describe('30 udmabuf: the kernel selftest, through the library', () => {
  checkFds();
  describe('with a 4-page sealed memfd', selftest);
});

function selftest(): void {
  let memfd = -1;
  let dev = -1;
  beforeEach(() => {
    memfd = sealedMemfd(NUM_PAGES);
    dev = native().open('/dev/udmabuf', native().constants.O_RDWR);
  });
  afterEach(() => {
    native().close(memfd);
    native().close(dev);
  });

  it('test-1: offset not page-aligned → EINVAL', () => {
    assertSysError(() => native().udmabufCreate(dev, memfd, PAGE_SIZE / 2, PAGE_SIZE, 0), 'EINVAL', -22, 'ioctl');
    assertSysError(() => allocate(PAGE_SIZE, { exporter: 'udmabuf', memfd, offset: PAGE_SIZE / 2 }), 'EINVAL', -22, 'ioctl');
  });

  it('test-2: size not page-aligned → EINVAL (the library refuses it before the kernel)', () => {
    assertSysError(() => native().udmabufCreate(dev, memfd, 0, PAGE_SIZE / 2, 0), 'EINVAL', -22, 'ioctl');
    assert.throws(() => allocate(PAGE_SIZE / 2, { exporter: 'udmabuf', memfd }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('test-3: not a memfd (fd 0) → EBADFD', () => {
    assertSysError(() => native().udmabufCreate(dev, 0, 0, NUM_PAGES * PAGE_SIZE, 0), 'EBADFD', -77, 'ioctl');
    assert.throws(
      () => allocate(NUM_PAGES * PAGE_SIZE, { exporter: 'udmabuf', memfd: 0 }),
      (err: NodeJS.ErrnoException) => err.code === 'EBADFD' && err.errno === -77 && /not a memfd/.test(err.message),
    );
  });

  it('test-4: a sealed memfd becomes a dma-buf that shows its pages', () => {
    fillPages(memfd, NUM_PAGES, PAGE_SIZE, 'a');
    using buf = allocate(NUM_PAGES * PAGE_SIZE, { exporter: 'udmabuf', memfd });
    assert.equal(buf.exporter, 'udmabuf');
    assert.equal(buf.info().expName, 'udmabuf');
    assert.equal(native().fdSize(buf.fd), NUM_PAGES * PAGE_SIZE);
    const v = buf.mmap();
    for (let i = 0; i < NUM_PAGES; i++) assert.equal(v[i * PAGE_SIZE], 'a'.charCodeAt(0));
  });

  it('test-5: UDMABUF_CREATE_LIST of 4 ranges of a 1024-page memfd tracks later writes to the memfd', () => {
    const b = native();
    const big = sealedMemfd(1024);
    try {
      fillPages(big, 1024, PAGE_SIZE, 'a');
      const quarter = (1024 * PAGE_SIZE) / 4;
      const items = [0, 1, 2, 3].flatMap((i) => [big, i * quarter, NUM_PAGES * PAGE_SIZE]);
      const fd = b.udmabufCreateList(dev, items, b.constants.UDMABUF_FLAGS_CLOEXEC);
      using buf = fromFd(fd, { takeOwnership: true });
      assert.equal(buf.size, 4 * NUM_PAGES * PAGE_SIZE);
      assert.ok(b.getFlags(fd) >= 0);
      fillPages(big, 1024, PAGE_SIZE, 'b');
      const src = b.mmap(big, 1024 * PAGE_SIZE, 0, false);
      try {
        const mem = new Uint8Array(1024 * PAGE_SIZE); // a read-only mapping has no view: copy
        b.mapRead(src, 0, mem);
        const view = buf.mmap();
        for (let i = 0; i < 4; i++) {
          for (let p = 0; p < NUM_PAGES; p++) {
            assert.equal(view[(i * NUM_PAGES + p) * PAGE_SIZE], mem[i * quarter + p * PAGE_SIZE]);
            assert.equal(view[(i * NUM_PAGES + p) * PAGE_SIZE], 'b'.charCodeAt(0));
          }
        }
      } finally {
        b.munmap(src);
      }
    } finally {
      b.close(big);
    }
  });

  it('test-6: hugetlb memfds (scaled to 8 huge pages, fewer where they are bigger than 2 MiB)', function () {
    const HUGE = hugePageSize();
    assert.ok(HUGE !== null, 'the guest kernel has hugetlbfs');
    const limit = (udmabufLimits()?.sizeLimitMb ?? 64) * 1024 * 1024;
    const pages = Math.min(8, Math.floor(limit / HUGE));
    writeFileSync('/proc/sys/vm/nr_hugepages', String(pages));
    const have = Number(readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
    assert.ok(have >= pages, `the guest reserved ${have} huge pages`);
    using buf = allocate(pages * HUGE, { exporter: 'udmabuf', hugetlb: true, segments: Math.min(4, pages) });
    const v = buf.mmap();
    v[0] = 1;
    v[v.length - 1] = 2;
    const copy = new Uint8Array(2);
    buf.read(0, copy.subarray(0, 1));
    buf.read(v.length - 1, copy.subarray(1));
    assert.deepEqual([...copy], [1, 2]);
    assert.equal(buf.layout!.length, Math.min(4, pages));
  });
}

describe('30 udmabuf: real errors in the library shape', () => {
  checkFds();

  it('an unsealed memfd → EINVAL, naming F_SEAL_SHRINK', () => {
    const b = native();
    const fd = b.memfdCreate('unsealed', b.constants.MFD_ALLOW_SEALING | b.constants.MFD_CLOEXEC);
    try {
      b.ftruncate(fd, PAGE_SIZE);
      assert.throws(
        () => allocate(PAGE_SIZE, { exporter: 'udmabuf', memfd: fd }),
        (err: NodeJS.ErrnoException & { ioctl: string }) =>
          err.code === 'EINVAL' &&
          err.errno === -22 &&
          err.syscall === 'ioctl' &&
          err.ioctl === 'UDMABUF_CREATE' &&
          /F_SEAL_SHRINK/.test(err.message),
      );
    } finally {
      b.close(fd);
    }
  });

  it('a write-sealed memfd → EINVAL', () => {
    const b = native();
    const fd = b.memfdCreate('sealed', b.constants.MFD_ALLOW_SEALING | b.constants.MFD_CLOEXEC);
    try {
      b.ftruncate(fd, PAGE_SIZE);
      b.addSeals(fd, b.constants.F_SEAL_SHRINK | b.constants.F_SEAL_WRITE);
      assertSysError(() => allocate(PAGE_SIZE, { exporter: 'udmabuf', memfd: fd }), 'EINVAL', -22, 'ioctl');
    } finally {
      b.close(fd);
    }
  });

  it('SYNC with bad flags → EINVAL; SYNC_END before SYNC_START → EINVAL', () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'udmabuf' });
    assertSysError(() => buf.sync(0xff), 'EINVAL', -22, 'ioctl');
    assertSysError(() => buf.sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ), 'EINVAL', -22, 'ioctl');
    buf.sync(DMA_BUF_SYNC_READ);
    buf.sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
  });

  it('a size over size_limit_mb → EINVAL naming the parameter; raising it at run time lets it through', () => {
    const lim = udmabufLimits();
    assert.ok(lim, 'udmabuf parameters are readable');
    const over = lim.sizeLimitMb * 1024 * 1024 + PAGE_SIZE;
    assert.throws(
      () => allocate(over, { exporter: 'udmabuf' }),
      (err: NodeJS.ErrnoException & { ioctl: string }) =>
        err.code === 'EINVAL' &&
        err.ioctl === 'UDMABUF_CREATE' &&
        /size_limit_mb/.test(err.message) &&
        /udmabuf\.size_limit_mb=/.test(err.message),
    );
    const path = '/sys/module/udmabuf/parameters/size_limit_mb';
    writeFileSync(path, String(lim.sizeLimitMb + 1));
    try {
      using buf = allocate(over, { exporter: 'udmabuf' });
      assert.equal(buf.size, over);
    } finally {
      writeFileSync(path, String(lim.sizeLimitMb));
    }
  });

  it('a name of 32 bytes → EINVAL; 31 bytes shows in fdinfo and readlink', () => {
    using buf = allocate(PAGE_SIZE, { exporter: 'udmabuf' });
    assertSysError(() => buf.setName('n'.repeat(32)), 'EINVAL', -22, 'ioctl');
    buf.setName('n'.repeat(31));
    assert.equal(buf.info().name, 'n'.repeat(31));
  });

  it('lseek(SEEK_END) and fstat give the size; fdinfo count counts fds', () => {
    using buf = allocate(3 * PAGE_SIZE, { exporter: 'udmabuf' });
    assert.equal(native().fdSize(buf.fd), 3 * PAGE_SIZE);
    assert.equal(native().fstat(buf.fd).size, 3 * PAGE_SIZE);
    assert.equal(buf.info().count, 1);
    using other = fromFd(buf.fd);
    assert.equal(buf.info().count, 2);
    assert.equal(other.inode, buf.inode);
  });
});
