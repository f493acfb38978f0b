// lib/platform/uapi.ts: the page size comes from the running kernel (through the addon),
// the uapi numbers are written once, and nothing else in lib/ writes a page size.
import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as lib from '../lib';
import { allocate } from '../lib';
import { native, nativeOrNull } from '../lib/platform/binding';
import { CPU_ACCESS_FLAGS } from '../lib/platform/validate';
import { checkName, checkSyncFlags } from '../lib/core/kernel-rules';
import * as uapi from '../lib/platform/uapi';
import { PAGE_SIZE } from '../lib/platform/uapi';
import { assertCode, checkFds } from './helpers';
import type { ChildResult } from './fixtures/page-size-child';

const FIXTURES = join(__dirname, 'fixtures');
const hasNative = nativeOrNull() !== null;

/** The library in a child whose addon reports `pageSize` as the page size. */
function withPageSize(pageSize: number): ChildResult {
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
      const size = PAGE_SIZE > 4096 ? 4096 * 3 : PAGE_SIZE * 3 + PAGE_SIZE / 2;
      assertCode(() => allocate(size, { exporter: 'memory' }), 'ERR_OUT_OF_RANGE');
      assert.throws(
        () => allocate(size, { exporter: 'memory' }),
        (err: Error) => err.message.includes(`(${PAGE_SIZE})`) && err.message.includes(`round up to ${4 * PAGE_SIZE}`),
      );
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
});
