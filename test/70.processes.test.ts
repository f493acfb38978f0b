// Across processes: a buffer handed to a child at spawn (stdio[3]) is the same memory.
// The child writes through its own mapping; the parent reads through its own, no copy.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { PAGE_SIZE, allocate } from '../lib';
import { checkFds, count, subjects } from './helpers';

const CHILD = join(__dirname, 'fixtures', 'child-write.js');
const SIZE = 4 * 1024 * 1024;

function run(fd: number | 'pipe', size: number, seed: number): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CHILD, String(size), String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    encoding: 'utf8',
    timeout: 60000,
  });
}

const expected = (seed: number, i: number) => (i * 31 + seed) & 0xff;

describe('70 processes', () => {
  checkFds();

  for (const s of subjects().filter((x) => x.fd)) {
    describe(s.label, () => {
      afterEach(() => count(s.label));

      it('a child given the fd as stdio[3] writes the pattern; the parent sees it through its own mmap view', function () {
        this.timeout(60000);
        using buf = s.make(SIZE);
        const view = buf.mmap();
        assert.equal(view[0], 0);
        const r = run(buf.fd, SIZE, 7);
        assert.equal(r.status, 0, `child exited ${r.status ?? r.signal}: ${r.stderr}`);
        const out = JSON.parse(r.stdout.trim());
        assert.equal(out.exporter, s.dmabuf ? 'import' : 'memfd', 'the child imported a dma-buf, or a memfd');
        assert.equal(out.size, SIZE);
        assert.deepEqual(out.cpu, { read: 0, write: 0, readwrite: 0 });
        // Zero-copy: the same view, mapped before the child ran, now shows the child's bytes.
        assert.equal(buf.mmap(), view);
        assert.equal(view[0], expected(7, 0), 'first byte');
        assert.equal(view[SIZE - 1], expected(7, SIZE - 1), 'last byte');
        for (let k = 0; k < 4096; k++) {
          const i = Math.floor(Math.random() * SIZE);
          if (view[i] !== expected(7, i)) assert.fail(`byte ${i}: ${view[i]} !== ${expected(7, i)}`);
        }
        for (let p = 0; p < SIZE; p += PAGE_SIZE) {
          if (view[p + 4095] !== expected(7, p + 4095)) assert.fail(`page at ${p} was not written`);
        }
      });

      it('a second child overwrites what the first wrote (the same memory, not a snapshot)', function () {
        this.timeout(60000);
        using buf = s.make(16 * PAGE_SIZE);
        const view = buf.mmap();
        for (const seed of [1, 2]) {
          const r = run(buf.fd, buf.size, seed);
          assert.equal(r.status, 0, r.stderr);
          assert.equal(view[100], expected(seed, 100));
          assert.equal(view[buf.size - 1], expected(seed, buf.size - 1));
        }
      });

      it('a child told the wrong size exits nonzero and says why', function () {
        this.timeout(60000);
        using buf = s.make(16 * PAGE_SIZE);
        const r = run(buf.fd, 8 * PAGE_SIZE, 1);
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`has ${16 * PAGE_SIZE} bytes, the parent said ${8 * PAGE_SIZE}\\b`));
        assert.equal(buf.mmap()[0], 0, 'the child wrote nothing');
      });
    });
  }

  describe('a child given something that is not a dma-buf', () => {
    it('a pipe as fd 3 → the child exits nonzero with ERR_DMABUF_NOT_DMABUF on stderr', function () {
      this.timeout(60000);
      const r = run('pipe', PAGE_SIZE, 1);
      assert.equal(r.status, 1, `status ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, /^ERR_DMABUF_NOT_DMABUF: fromFd: fd 3 is not a dma-buf/m);
      assert.match(r.stderr, /socket:|pipe:/, 'the message says what fd 3 is');
      assert.equal(r.stdout, '');
    });

    it('/dev/null as fd 3 → the same, naming /dev/null', function () {
      this.timeout(60000);
      const fd = openSync('/dev/null', 'r+');
      try {
        const r = run(fd, PAGE_SIZE, 1);
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /^ERR_DMABUF_NOT_DMABUF: .*\/dev\/null/m);
      } finally {
        closeSync(fd);
      }
    });
  });

  it("the parent's buffer outlives the child, and release in the parent does not disturb a child that already exited", () => {
    const buf = allocate(4 * PAGE_SIZE, { exporter: 'memfd' });
    const r = run(buf.fd, buf.size, 9);
    assert.equal(r.status, 0, r.stderr);
    const first = new Uint8Array(1);
    buf.read(0, first);
    assert.equal(first[0], expected(9, 0));
    buf.close();
  });
});
