// Debian's 6.1 kernel has no udmabuf and no DMA heaps: capabilities() must say so,
// 'auto' must fall back visibly, and udmabuf calls must fail with the clear ENOENT.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { allocate, capabilities, PAGE_SIZE } from '../../lib';
import { checkFds } from '../helpers';

describe('35 a kernel without udmabuf or DMA heaps', () => {
  checkFds();

  it('is the 6.1 kernel, and has neither device', () => {
    assert.match(release(), /^6\.1\./);
    assert.equal(existsSync('/dev/udmabuf'), false);
    assert.equal(existsSync('/dev/dma_heap'), false);
  });

  it('capabilities() says so and picks memfd', () => {
    const caps = capabilities();
    assert.equal(caps.udmabuf.present, false);
    assert.deepEqual(caps.heaps, []);
    assert.deepEqual(caps.exporters, ['memfd', 'memory']);
    assert.equal(caps.auto, 'memfd');
    assert.equal(caps.syncFile, true);
  });

  it("'auto' falls back to memfd, visibly, and the buffer works", () => {
    using buf = allocate(4 * PAGE_SIZE);
    assert.equal(buf.exporter, 'memfd');
    using _ = buf.cpuAccess('write');
    buf.mmap().fill(9);
    assert.equal(buf.mmap()[4 * PAGE_SIZE - 1], 9);
  });

  it("'udmabuf' fails with ENOENT naming CONFIG_UDMABUF", () => {
    assert.throws(
      () => allocate(PAGE_SIZE, { exporter: 'udmabuf' }),
      (err: NodeJS.ErrnoException) =>
        err.code === 'ENOENT' &&
        err.errno === -2 &&
        err.syscall === 'open' &&
        err.path === '/dev/udmabuf' &&
        /CONFIG_UDMABUF/.test(err.message),
    );
  });

  it("'dma-heap' fails with ERR_DMABUF_UNAVAILABLE naming CONFIG_DMABUF_HEAPS", () => {
    assert.throws(
      () => allocate(PAGE_SIZE, { exporter: 'dma-heap' }),
      (err: NodeJS.ErrnoException) => err.code === 'ERR_DMABUF_UNAVAILABLE' && /CONFIG_DMABUF_HEAPS/.test(err.message),
    );
  });
});
