// Disagreements the property tests (25, kernel/36) found between the memory or memfd
// exporter and the kernel exporters, each shrunk to an ordinary test and run against every
// exporter this machine offers. The kernel is right; the fallbacks were fixed.
import assert from 'node:assert/strict';
import { PAGE_SIZE } from '../lib';
import { native } from '../lib/platform/binding';
import { assertCode, checkFds, count, subjects } from './helpers';

for (const s of subjects()) {
  describe(`26 disagreements found by the property tests: ${s.label}`, () => {
    checkFds();
    afterEach(() => count(s.label));

    if (s.defers) {
      // Shrunk: {"pages":4,"deferred":true} [sync(START|READ)] → layout null on memory, one chunk on memfd.
      for (const [what, op] of [
        // memfd is not a dma-buf: the raw ioctl gets the kernel's ENOTTY, after the storage is made.
        ['sync(START|READ)', (b) => (b.exporter === 'memfd' ? assertCode(() => b.sync(1), 'ENOTTY') : b.sync(1))],
        ['sync(0) (refused)', (b) => assertCode(() => b.sync(0), b.exporter === 'memfd' ? 'ENOTTY' : 'EINVAL')],
        ["setName('n')", (b) => b.setName('n')],
        ['setName of 32 bytes (refused)', (b) => assertCode(() => b.setName('x'.repeat(32)), 'EINVAL')],
        ['info()', (b) => b.info()],
        ['inode', (b) => b.inode],
      ] as Array<[string, (b: ReturnType<typeof s.make>) => unknown]>) {
        it(`on a deferred buffer, ${what} allocates its storage first, as the kernel exporters must (they need the fd)`, () => {
          using buf = s.make(4 * PAGE_SIZE, { deferred: true });
          assert.equal(buf.layout, null);
          op(buf);
          assert.deepEqual(buf.layout, [{ offset: 0, length: 4 * PAGE_SIZE }]);
        });
      }

      it("the name of a deferred buffer not yet allocated is '', and reading it allocates nothing", () => {
        using buf = s.make(2 * PAGE_SIZE, { deferred: true });
        assert.equal(buf.name, '');
        assert.equal(buf.layout, null);
      });
    }

    // Shrunk: [begin('read'), kmap(0), kmap view[0] = 1, mmap()] → the memory exporter's
    // mmap view did not show the byte: its kmap was a bounce copy, written back at kunmap.
    it('a write through a kmap view is in mmap() and read() at once', () => {
      using buf = s.make(3 * PAGE_SIZE);
      buf.beginCpuAccess('read');
      const k = buf.kmap(0);
      k[0] = 1;
      assert.equal(buf.mmap()[0], 1);
      const b = new Uint8Array(1);
      buf.read(0, b);
      assert.equal(b[0], 1);
      buf.endCpuAccess('read');
    });

    it('a write to a kmapped page is not lost at kunmap (the bounce copy overwrote it)', () => {
      using buf = s.make(2 * PAGE_SIZE);
      buf.beginCpuAccess('readwrite');
      const k = buf.kmap(1);
      buf.write(PAGE_SIZE + 5, new Uint8Array([7]));
      assert.equal(k[5], 7, 'the kmap view shows it');
      buf.kunmap(1, k);
      buf.endCpuAccess('readwrite');
      const b = new Uint8Array(1);
      buf.read(PAGE_SIZE + 5, b);
      assert.equal(b[0], 7);
    });

    // The kernel keeps a name byte for byte; fdinfo parsing trimmed it (' a ' read back 'a').
    it('a name with spaces at either end reads back as it was set', () => {
      using buf = s.make(PAGE_SIZE);
      buf.setName(' two  words ');
      assert.equal(buf.name, ' two  words ');
      assert.equal(buf.info().name, ' two  words ');
    });

    // The kernel exporters refuse a NUL in a name before the ioctl (the addon's argument
    // check); memory and memfd answered EINVAL.
    it('setName with a NUL byte → ERR_INVALID_ARG_VALUE, the name unchanged', () => {
      using buf = s.make(PAGE_SIZE);
      buf.setName('before');
      assertCode(() => buf.setName('a\0b'), 'ERR_INVALID_ARG_VALUE', /null bytes/);
      assert.equal(buf.name, 'before');
      if (s.fd) assertCode(() => native().dmaBufSetName(buf.fd, 'a\0b'), 'ERR_INVALID_ARG_VALUE', /null bytes/);
    });
  });
}
