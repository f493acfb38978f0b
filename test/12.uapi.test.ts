// lib/platform/uapi.ts: the page size comes from the running kernel (through the addon),
// the uapi numbers are written once, and nothing else in lib/ writes a page size.
import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as lib from '../lib';
import { allocate } from '../lib';
import { native, nativeOrNull, type NativeConstants } from '../lib/platform/binding';
import { DRM_IOCTL } from '../lib/devices/drm';
import { VIDIOC } from '../lib/devices/v4l2';
import { CPU_ACCESS_FLAGS } from '../lib/platform/validate';
import { checkName, checkSyncFlags } from '../lib/core/kernel-rules';
import * as uapi from '../lib/platform/uapi';
import { PAGE_SIZE } from '../lib/platform/uapi';
import { assertCode, checkFds } from './helpers';
import type { ChildResult } from './fixtures/page-size-child';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = join(__dirname, 'fixtures');
const hasNative = nativeOrNull() !== null;

/** The library in a child whose addon reports `pageSize` as the page size. */
function withPageSize(pageSize: number | 'unloadable'): ChildResult {
  const r = spawnSync(process.execPath, ['-r', join(FIXTURES, 'fake-page-size.js'), join(FIXTURES, 'page-size-child.js')], {
    env: { ...process.env, DMABUF_FAKE_PAGE_SIZE: String(pageSize) },
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('12 uapi: what the kernel decides, in one module', () => {
  checkFds();

  describe('PAGE_SIZE', () => {
    it("is this kernel's page size: getconf PAGESIZE, and the addon's sysconf(_SC_PAGESIZE)", function () {
      if (!hasNative) this.skip();
      const getconf = Number(execSync('getconf PAGESIZE', { encoding: 'utf8' }).trim());
      assert.ok(getconf > 0);
      assert.equal(PAGE_SIZE, getconf);
      assert.equal(native().constants.PAGE_SIZE, getconf);
      assert.equal(lib.PAGE_SIZE, PAGE_SIZE, 'the public export is the same value');
    });

    it('a size that is not a page multiple is refused with the page size and the size rounded up to it', () => {
      // On a 4 KiB kernel every multiple of 4096 is a page multiple: refuse half a page instead.
      // Either way the size is over 3 pages, so it rounds up to 4.
      const size = PAGE_SIZE > 4096 ? PAGE_SIZE * 3 + 4096 : PAGE_SIZE * 3 + PAGE_SIZE / 2;
      assertCode(() => allocate(size, { exporter: 'memory' }), 'ERR_OUT_OF_RANGE');
      assert.throws(
        () => allocate(size, { exporter: 'memory' }),
        (err: Error) => err.message.includes(`(${PAGE_SIZE})`) && err.message.includes(`round up to ${4 * PAGE_SIZE}`),
      );
    });

    it('where the addon cannot load, the memory exporter alone runs, with 4096-byte pages', function () {
      this.timeout(60000);
      const r = withPageSize('unloadable');
      assert.equal(r.PAGE_SIZE, 4096);
      assert.deepEqual(r.exporterList, ['memory']);
      const pages = [0, 1, 2, 3].map((i) => ({ offset: i * 4096, length: 4096 }));
      assert.deepEqual(r.exporters.memory?.layout, pages);
      assert.equal(r.exporters.memory?.kmapLength, 4096);
      assert.deepEqual(r.exporters.memory?.afterKunmap, [12, 99]);
    });

    for (const pageSize of [16384, 65536]) {
      describe(`on a kernel with ${pageSize / 1024} KiB pages (the addon reports ${pageSize})`, () => {
        let r: ChildResult;
        before(function () {
          if (!hasNative) this.skip();
          this.timeout(60000);
          r = withPageSize(pageSize);
        });

        it('PAGE_SIZE is what the addon reports', () => {
          assert.equal(r.PAGE_SIZE, pageSize);
        });

        it('a multiple of 4096 that is not a page multiple is refused, naming the real page size', () => {
          assert.equal(r.sizeError?.code, 'ERR_OUT_OF_RANGE');
          const roundedUp = Math.ceil((4096 * 5) / pageSize) * pageSize;
          assert.match(r.sizeError!.message, new RegExp(`a multiple of the page size \\(${pageSize}\\); round up to ${roundedUp}\\b`));
        });

        it('segments and device segment sizes are counted in its pages', () => {
          assert.equal(r.segmentsError?.code, 'ERR_OUT_OF_RANGE', 'segments: 3 of a 2-page buffer');
          assert.match(r.segmentsError!.message, /options\.segments/);
          assert.equal(r.deviceError?.code, 'ERR_OUT_OF_RANGE', 'maxSegmentSize: half a page');
          assert.match(r.deviceError!.message, new RegExp(`>= ${pageSize}\\b`));
        });

        for (const exporter of ['memory', 'memfd']) {
          it(`${exporter}: layout, kmap page numbers and sg tables are in its pages`, function () {
            const e = r.exporters[exporter];
            if (!e) this.skip();
            const pages = [0, 1, 2, 3].map((i) => ({ offset: i * pageSize, length: pageSize }));
            assert.deepEqual(e.layout, exporter === 'memory' ? pages : [{ offset: 0, length: 4 * pageSize }]);
            assert.equal(e.kmapLength, pageSize, 'kmap maps one page');
            assert.equal(e.kmapFirst, 12, 'kmap(2) starts at byte 2 * PAGE_SIZE');
            assert.deepEqual(e.afterKunmap, [12, 99], 'a write through kmap(2) lands at 2 * PAGE_SIZE + 1');
            assert.equal(e.kmapOutOfRange?.code, 'ERR_OUT_OF_RANGE', 'page 4 of a 4-page buffer');
            const expected =
              exporter === 'memory'
                ? pages
                : [
                    { offset: 0, length: 2 * pageSize },
                    { offset: 2 * pageSize, length: 2 * pageSize },
                  ];
            assert.deepEqual(e.sgTable, expected);
          });
        }
      });
    }
  });

  describe("the addon's constants", () => {
    it('are exactly the ones NativeConstants declares', function () {
      if (!hasNative) this.skip();
      // A Record over keyof NativeConstants: the compiler rejects a missing or an extra name.
      const declared: Record<keyof NativeConstants, true> = {
        PAGE_SIZE: true,
        MFD_CLOEXEC: true,
        MFD_ALLOW_SEALING: true,
        MFD_HUGETLB: true,
        F_SEAL_SEAL: true,
        F_SEAL_SHRINK: true,
        F_SEAL_GROW: true,
        F_SEAL_WRITE: true,
        F_SEAL_FUTURE_WRITE: true,
        O_RDONLY: true,
        O_RDWR: true,
        O_WRONLY: true,
        O_ACCMODE: true,
        O_CLOEXEC: true,
        O_NONBLOCK: true,
        POLLIN: true,
        POLLOUT: true,
        DMA_BUF_MAGIC: true,
        UDMABUF_FLAGS_CLOEXEC: true,
      };
      const c = native().constants as unknown as Record<string, unknown>;
      assert.deepEqual(Object.keys(c).sort(), Object.keys(declared).sort());
      for (const [k, v] of Object.entries(c)) assert.ok(Number.isInteger(v), `${k}: ${v}`);
      assert.equal(c.DMA_BUF_MAGIC, 0x444d4142);
      assert.equal(c.UDMABUF_FLAGS_CLOEXEC, 1);
    });
  });

  describe('hugePageSize()', () => {
    it("is the kernel's default huge page size, one of the sizes it offers", function () {
      const size = uapi.hugePageSize();
      let offered: number[];
      try {
        offered = readdirSync('/sys/kernel/mm/hugepages').map((d) => Number(/^hugepages-(\d+)kB$/.exec(d)![1]) * 1024);
      } catch {
        offered = [];
      }
      if (offered.length === 0) {
        assert.equal(size, null);
        return;
      }
      assert.ok(size !== null && offered.includes(size), `${size} is not one of ${offered}`);
      assert.equal(size % PAGE_SIZE, 0);
      assert.equal(uapi.hugePageSize(), size, 'read once');
    });

    it('a hugetlb memfd that is not whole huge pages: the ftruncate EINVAL names the huge page size', function () {
      const huge = uapi.hugePageSize();
      if (!hasNative || huge === null || huge <= PAGE_SIZE) this.skip();
      assert.throws(
        () => allocate(PAGE_SIZE, { exporter: 'memfd', hugetlb: true }),
        (err: NodeJS.ErrnoException) =>
          err.code === 'EINVAL' &&
          err.syscall === 'ftruncate' &&
          err.message.includes(`(${huge}, Hugepagesize in /proc/meminfo); round up to ${huge}`),
      );
    });
  });

  describe('dma-buf.h numbers', () => {
    it('DMA_BUF_SYNC_* and DMA_BUF_NAME_LEN have the header values', () => {
      assert.deepEqual(
        [
          uapi.DMA_BUF_SYNC_READ,
          uapi.DMA_BUF_SYNC_WRITE,
          uapi.DMA_BUF_SYNC_RW,
          uapi.DMA_BUF_SYNC_START,
          uapi.DMA_BUF_SYNC_END,
          uapi.DMA_BUF_SYNC_VALID_FLAGS_MASK,
        ],
        [1, 2, 3, 0, 4, 7],
      );
      assert.equal(uapi.DMA_BUF_NAME_LEN, 32);
      assert.deepEqual({ ...CPU_ACCESS_FLAGS }, { read: 1, write: 2, readwrite: 3 });
    });

    it('the kernel rules built on them: SYNC takes 1-3 and 5-7, a name at most 31 bytes', () => {
      const accepted = [...Array(9).keys()].filter((f) => {
        try {
          checkSyncFlags(f);
          return true;
        } catch {
          return false;
        }
      });
      assert.deepEqual(accepted, [1, 2, 3, 5, 6, 7]);
      checkName('n'.repeat(uapi.DMA_BUF_NAME_LEN - 1));
      assert.throws(() => checkName('n'.repeat(uapi.DMA_BUF_NAME_LEN)), { code: 'EINVAL' });
    });
  });

  describe('ioctl numbers', () => {
    const generic = uapi.iocLayout('x64');

    it('reproduce the x86-64 values of KERNEL-FACTS §1', () => {
      const values: Array<[string, number, number]> = [
        ['DMA_BUF_IOCTL_SYNC', uapi.IOW('b', 0, 8, generic), 0x40086200],
        ['DMA_BUF_SET_NAME_A', uapi.IOW('b', 1, 4, generic), 0x40046201],
        ['DMA_BUF_SET_NAME_B', uapi.IOW('b', 1, 8, generic), 0x40086201],
        ['DMA_BUF_IOCTL_EXPORT_SYNC_FILE', uapi.IOWR('b', 2, 8, generic), 0xc0086202],
        ['DMA_BUF_IOCTL_IMPORT_SYNC_FILE', uapi.IOW('b', 3, 8, generic), 0x40086203],
        ['UDMABUF_CREATE', uapi.IOW('u', 0x42, 24, generic), 0x40187542],
        ['UDMABUF_CREATE_LIST', uapi.IOW('u', 0x43, 8, generic), 0x40087543],
        ['DMA_HEAP_IOCTL_ALLOC', uapi.IOWR('H', 0, 24, generic), 0xc0184800],
      ];
      for (const [name, got, want] of values) assert.equal(got.toString(16), want.toString(16), name);
      assert.equal(uapi.IO('b', 7, generic), 0x6207);
      assert.equal(uapi.IOR(0x64, 0, 64, generic), 0x80406400, "DRM_IOCTL_VERSION's direction bits");
    });

    it('on this machine, the tables drm.ts and v4l2.ts use hold the header values', function () {
      if (uapi.iocLayout() !== generic) this.skip(); // the values below are the asm-generic ones
      assert.deepEqual(Object.fromEntries(Object.entries(DRM_IOCTL).map(([k, n]) => [k, n.toString(16)])), {
        GEM_CLOSE: '40086409',
        PRIME_HANDLE_TO_FD: 'c00c642d',
        PRIME_FD_TO_HANDLE: 'c00c642e',
        MODE_CREATE_DUMB: 'c02064b2',
        VGEM_FENCE_ATTACH: 'c0106441',
        VGEM_FENCE_SIGNAL: '40086442',
      });
      assert.deepEqual(Object.fromEntries(Object.entries(VIDIOC).map(([k, n]) => [k, n.toString(16)])), {
        G_FMT: 'c0d05604',
        REQBUFS: 'c0145608',
        QBUF: 'c058560f',
        DQBUF: 'c0585611',
        STREAMON: '40045612',
        STREAMOFF: '40045613',
      });
    });

    it("the size field is where the addon's _IOC_SIZE reads it", function () {
      if (!hasNative) this.skip();
      const request = uapi.IOWR('b', 0xee, 24);
      assertCode(() => native().ioctl(0, request, new Uint8Array(23)), 'ERR_OUT_OF_RANGE', /at least 24 bytes/);
    });

    it('powerpc, mips, sparc and alpha: 13 size bits and 3 direction bits', () => {
      for (const arch of ['ppc', 'ppc64', 'mips', 'mipsel', 'sparc64', 'alpha']) {
        const l = uapi.iocLayout(arch);
        assert.equal(uapi.IOR('t', 19, 44, l), 0x402c7413, `${arch}: TCGETS`);
        assert.equal(uapi.IOW('b', 0, 8, l), 0x80086200, `${arch}: DMA_BUF_IOCTL_SYNC`);
        assert.equal(uapi.IOWR('H', 0, 24, l), 0xc0184800, `${arch}: DMA_HEAP_IOCTL_ALLOC`);
        assert.equal(uapi.IO('b', 7, l), 0x20006207, `${arch}: _IOC_NONE has a bit`);
        assert.throws(() => uapi.IOW('b', 0, 8192, l), RangeError, `${arch}: a size past 13 bits`);
      }
      assert.doesNotThrow(() => uapi.IOW('b', 0, 8192, generic));
      assert.throws(() => uapi.IOW('b', 0, 16384, generic), RangeError);
    });

    it('an architecture whose layout is not known is refused, not guessed', () => {
      assertCode(() => uapi.iocLayout('parisc'), 'ERR_DMABUF_NOT_SUPPORTED', /'parisc'/);
      assertCode(() => uapi.iocLayout('toString'), 'ERR_DMABUF_NOT_SUPPORTED');
      assert.equal(uapi.iocLayout(), uapi.iocLayout(process.arch));
    });
  });

  describe('the source', () => {
    const files = (readdirSync(join(ROOT, 'lib'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(ROOT, 'lib', f));

    it('no file in lib/ but platform/uapi.ts writes a page size or an ioctl encoding', () => {
      assert.ok(files.length > 20, `found ${files.length} files under ${ROOT}/lib`);
      const pageSize =
        /\b(4096|8192|16384|32768|65536)\b|\b0x(1000|4000|10000)\b|<< ?12\b|>> ?12\b|\b0xfff\b|\*\* ?12\b|\b2 \* 1024 \* 1024\b|<< ?30\b/;
      const found: string[] = [];
      for (const file of files) {
        const rel = relative(ROOT, file);
        if (rel === join('lib', 'platform', 'uapi.ts')) continue;
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (pageSize.test(line)) found.push(`${rel}:${i + 1}: ${line.trim()}`);
          });
      }
      assert.deepEqual(found, []);
    });
  });
});
