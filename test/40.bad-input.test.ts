// Bad input: every wrong size, option, fd, name, direction and flag gives a clear error
// with a `code` (and `errno`/`syscall` for system errors): never a crash, a hang or a
// leaked fd. Where the kernel decides (udmabuf, dma-heap, imports of them), the test
// asserts what the kernel answers; the fallbacks must answer the same.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, constants as fsc } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAGE_SIZE, allocate, capabilities, fromFd, type DmaBuf } from '../lib';
import { native } from '../lib/platform/binding';
import { assertCode, assertSysError, checkFds, count, nobodyCopy, subjects, isOpen } from './helpers';

const caps = capabilities();

/** An fd number that was a real memfd and is now closed (high, so nothing reuses it meanwhile). */
function closedFd(): number {
  const b = native();
  const m = b.memfdCreate('closed', b.constants.MFD_CLOEXEC);
  let n = 200;
  while (isOpen(n)) n++;
  b.dup2(m, n);
  b.close(m);
  b.close(n);
  assert.equal(isOpen(n), false);
  return n;
}

/** A memfd of `size` bytes with exactly these seals (MFD_ALLOW_SEALING). */
function memfd(size: number, seals: number): number {
  const b = native();
  const fd = b.memfdCreate('test', b.constants.MFD_CLOEXEC | b.constants.MFD_ALLOW_SEALING);
  b.ftruncate(fd, size);
  if (seals) b.addSeals(fd, seals);
  return fd;
}

/** A FIFO opened read-write (a pipe inode; Node has no pipe(2)), and its cleanup. */
function fifo(): { fd: number; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'dmabuf-fifo-'));
  const path = join(dir, 'p');
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, `mkfifo: ${r.stderr}`);
  const fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
  return {
    fd,
    done: () => {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    },
  };
}

/** A regular file on a disk (or 9p) filesystem, not shmem: udmabuf answers EBADFD. */
function regularFile(base = __dirname): { fd: number; done(): void } {
  const dir = mkdtempSync(join(base, 'dmabuf-file-'));
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.alloc(PAGE_SIZE));
  const fd = openSync(path, 'r+');
  return {
    fd,
    done: () => {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    },
  };
}

describe('40 bad input', () => {
  checkFds();

  describe('allocate(size)', () => {
    const names = ['auto', ...caps.exporters];
    const outOfRange: unknown[] = [-1, 0, 1.5, 4097, 2 ** 60, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1];
    const wrongType: unknown[] = ['4096', undefined, null, 10n, {}, [4096], true];
    for (const exporter of names) {
      it(`${exporter}: sizes out of range → ERR_OUT_OF_RANGE`, () => {
        for (const size of outOfRange) assertCode(() => allocate(size as number, { exporter }), 'ERR_OUT_OF_RANGE');
      });
      it(`${exporter}: sizes of the wrong type → ERR_INVALID_ARG_TYPE`, () => {
        for (const size of wrongType) assertCode(() => allocate(size as number, { exporter }), 'ERR_INVALID_ARG_TYPE', /"size"/);
      });
      it(`${exporter}: an unaligned size says which size to use`, () => {
        assertCode(() => allocate(PAGE_SIZE + 1, { exporter }), 'ERR_OUT_OF_RANGE', new RegExp(`round up to ${2 * PAGE_SIZE}\\b`));
        assertCode(() => allocate(PAGE_SIZE * 3 + 1, { exporter }), 'ERR_OUT_OF_RANGE', new RegExp(`round up to ${4 * PAGE_SIZE}\\b`));
      });
      it(`${exporter}: a size beyond this machine's memory is refused before any allocation`, () => {
        assertCode(() => allocate(2 ** 60, { exporter }), 'ERR_OUT_OF_RANGE', /memory/);
      });
    }
  });

  describe('allocate(size, options)', () => {
    it('unknown exporter names list the known ones', () => {
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'nope' }), 'ERR_INVALID_ARG_VALUE', /'memfd'.*Received 'nope'/);
      assertCode(() => allocate(PAGE_SIZE, { exporter: '' }), 'ERR_INVALID_ARG_VALUE');
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'import' }), 'ERR_INVALID_ARG_VALUE');
    });
    it("names of Object.prototype's members ('__proto__', 'toString', …) are unknown exporters, not a code-less TypeError", () => {
      for (const exporter of ['__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
        assertCode(() => allocate(PAGE_SIZE, { exporter }), 'ERR_INVALID_ARG_VALUE', /options\.exporter/);
      }
    });

    it('a non-string exporter → ERR_INVALID_ARG_TYPE', () => {
      for (const e of [1, {}, ['memfd'], Symbol('memfd'), true]) {
        assertCode(() => allocate(PAGE_SIZE, { exporter: e as string }), 'ERR_INVALID_ARG_TYPE', /options\.exporter/);
      }
    });
    it('options that are not an object → ERR_INVALID_ARG_TYPE', () => {
      for (const o of [null, 'memfd', 1, true, 10n]) {
        assertCode(() => allocate(PAGE_SIZE, o as unknown as object), 'ERR_INVALID_ARG_TYPE', /options/);
      }
    });
    for (const exporter of caps.exporters) {
      it(`${exporter}: segments 0, fractional, or more than pages → ERR_OUT_OF_RANGE; non-number → ERR_INVALID_ARG_TYPE`, () => {
        for (const segments of [0, -1, 1.5, 3, NaN]) {
          assertCode(() => allocate(2 * PAGE_SIZE, { exporter, segments }), 'ERR_OUT_OF_RANGE', /options\.segments/);
        }
        assertCode(() => allocate(2 * PAGE_SIZE, { exporter, segments: '2' as unknown as number }), 'ERR_INVALID_ARG_TYPE');
      });
      it(`${exporter}: a non-string name → ERR_INVALID_ARG_TYPE, before anything is allocated`, () => {
        for (const name of [1, null, {}, Symbol('n')]) {
          assertCode(() => allocate(PAGE_SIZE, { exporter, name: name as string }), 'ERR_INVALID_ARG_TYPE', /options\.name/);
        }
      });
      it(`${exporter}: a name too long → EINVAL, and the buffer it had made is released`, () => {
        assertSysError(() => allocate(PAGE_SIZE, { exporter, name: 'x'.repeat(32) }), 'EINVAL', -22, 'ioctl');
      });
      it(`${exporter}: bad boolean options → ERR_INVALID_ARG_TYPE`, () => {
        assertCode(() => allocate(PAGE_SIZE, { exporter, deferred: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', /deferred/);
        assertCode(() => allocate(PAGE_SIZE, { exporter, hugetlb: 'yes' as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', /hugetlb/);
      });
    }
    it('a memfd option that is not an fd number → ERR_OUT_OF_RANGE / ERR_INVALID_ARG_TYPE', () => {
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'memfd', memfd: -1 }), 'ERR_OUT_OF_RANGE');
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'memfd', memfd: 1.5 }), 'ERR_OUT_OF_RANGE');
      assertCode(() => allocate(PAGE_SIZE, { exporter: 'memfd', memfd: '3' as unknown as number }), 'ERR_INVALID_ARG_TYPE');
    });
  });

  describe('udmabuf device errors', () => {
    if (!caps.udmabuf.present) {
      it('no /dev/udmabuf → ENOENT with errno, syscall, path and the kernel option to enable', () => {
        assertSysError(() => allocate(PAGE_SIZE, { exporter: 'udmabuf' }), 'ENOENT', -2, 'open');
        assert.throws(
          () => allocate(PAGE_SIZE, { exporter: 'udmabuf' }),
          (err: NodeJS.ErrnoException) => {
            assert.equal(err.path, '/dev/udmabuf');
            assert.match(err.message, /CONFIG_UDMABUF/);
            return true;
          },
        );
      });
    } else {
      it('a size over size_limit_mb → EINVAL from UDMABUF_CREATE, naming size_limit_mb and how to raise it', function () {
        this.timeout(60000);
        const mb = caps.udmabuf.sizeLimitMb;
        assert.ok(typeof mb === 'number' && mb > 0, `udmabuf is present but size_limit_mb is unreadable: ${JSON.stringify(caps.udmabuf)}`);
        const size = mb * 1024 * 1024 + PAGE_SIZE;
        assertSysError(() => allocate(size, { exporter: 'udmabuf' }), 'EINVAL', -22, 'ioctl');
        assert.throws(
          () => allocate(size, { exporter: 'udmabuf' }),
          (err: NodeJS.ErrnoException & { ioctl?: string }) => {
            assert.equal(err.ioctl, 'UDMABUF_CREATE');
            assert.match(err.message, /size_limit_mb/);
            assert.match(err.message, /\/sys\/module\/udmabuf\/parameters\/size_limit_mb|udmabuf\.size_limit_mb=/);
            return true;
          },
        );
      });
    }

    it('a device node without permission → EACCES, suggesting a udev rule and a group', () => {
      const dir = mkdtempSync(join(tmpdir(), 'dmabuf-eacces-'));
      const device = join(dir, 'udmabuf');
      try {
        writeFileSync(device, '');
        chmodSync(device, 0o000);
        chmodSync(dir, 0o755);
        let err: { code?: string; errno?: number; syscall?: string; path?: string; message?: string; ok?: boolean };
        if (process.getuid?.() === 0) {
          // root bypasses file modes: ask as nobody, in a child with its own copy of the library.
          const { node, lib } = nobodyCopy(dir);
          const script = `
            const { allocate } = require(${JSON.stringify(lib)});
            try { allocate(${PAGE_SIZE}, { exporter: 'udmabuf', device: ${JSON.stringify(device)} }).close(); console.log(JSON.stringify({ ok: true })); }
            catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message })); }`;
          const r = spawnSync(node, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 15000 });
          assert.equal(r.status, 0, `child failed: ${r.stderr}`);
          err = JSON.parse(r.stdout.trim().split('\n').pop()!);
        } else {
          try {
            allocate(PAGE_SIZE, { exporter: 'udmabuf', device }).close();
            err = { ok: true };
          } catch (e) {
            err = e as NodeJS.ErrnoException;
          }
        }
        assert.ok(!err.ok, 'opening a mode-000 device node as an unprivileged user succeeded');
        assert.equal(err.code, 'EACCES', err.message);
        assert.equal(err.errno, -13);
        assert.equal(err.syscall, 'open');
        assert.equal(err.path, device);
        assert.match(err.message!, /^EACCES/);
        assert.match(err.message!, /udev rule/);
        assert.match(err.message!, /group/i);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a memfd handed in', () => {
    const b = () => native();
    const seal = () => b().constants;
    const exporters: string[] = ['memfd'];
    if (caps.udmabuf.accessible) exporters.push('udmabuf');
    else if (caps.udmabuf.present)
      it('udmabuf: /dev/udmabuf is present but not accessible to this user; the kernel branch cannot run', () =>
        assert.fail(JSON.stringify(caps.udmabuf)));

    for (const exporter of exporters) {
      const kernel = exporter === 'udmabuf';
      /** The shape of the error when `exporter` is handed a bad memfd. */
      const expect = (fn: () => unknown, code: string, errno: number, message?: RegExp) => {
        assertSysError(fn, code, errno, kernel ? 'ioctl' : undefined);
        assert.throws(fn, (err: NodeJS.ErrnoException & { ioctl?: string }) => {
          if (kernel) assert.equal(err.ioctl, 'UDMABUF_CREATE');
          if (message) assert.match(err.message, message);
          return true;
        });
      };

      it(`${exporter}: a properly sealed memfd is accepted, and stays the caller's`, () => {
        const fd = memfd(2 * PAGE_SIZE, seal().F_SEAL_SHRINK);
        try {
          const buf = allocate(2 * PAGE_SIZE, { exporter, memfd: fd });
          assert.equal(buf.exporter, exporter);
          buf.write(PAGE_SIZE, new Uint8Array([9, 8, 7]));
          buf.close();
          assert.ok(isOpen(fd), "the caller's memfd was closed by the buffer");
          const back = new Uint8Array(3);
          const h = b().mmap(fd, 2 * PAGE_SIZE, 0, false);
          b().mapRead(h, PAGE_SIZE, back);
          b().munmap(h);
          assert.deepEqual([...back], [9, 8, 7], "the buffer did not use the caller's memfd");
        } finally {
          b().close(fd);
        }
      });

      it(`${exporter}: an unsealed memfd → EINVAL naming F_SEAL_SHRINK`, () => {
        const fd = memfd(PAGE_SIZE, 0);
        try {
          expect(() => allocate(PAGE_SIZE, { exporter, memfd: fd }), 'EINVAL', -22, /F_SEAL_SHRINK/);
          assert.ok(isOpen(fd));
        } finally {
          b().close(fd);
        }
      });

      it(`${exporter}: a write-sealed memfd → EINVAL`, () => {
        const fd = memfd(PAGE_SIZE, seal().F_SEAL_SHRINK | seal().F_SEAL_WRITE);
        try {
          expect(() => allocate(PAGE_SIZE, { exporter, memfd: fd }), 'EINVAL', -22, /F_SEAL_WRITE|write-sealed/);
          assert.ok(isOpen(fd));
        } finally {
          b().close(fd);
        }
      });

      it(`${exporter}: a memfd too small for the size → EINVAL`, () => {
        const fd = memfd(PAGE_SIZE, seal().F_SEAL_SHRINK);
        try {
          expect(() => allocate(2 * PAGE_SIZE, { exporter, memfd: fd }), 'EINVAL', -22);
          assert.ok(isOpen(fd));
        } finally {
          b().close(fd);
        }
      });

      it(`${exporter}: a tmpfs file is shmem but cannot be sealed → EINVAL, as udmabuf answers`, () => {
        const f = regularFile('/dev/shm');
        try {
          expect(() => allocate(PAGE_SIZE, { exporter, memfd: f.fd }), 'EINVAL', -22);
          assert.ok(isOpen(f.fd));
        } finally {
          f.done();
        }
      });

      it(`${exporter}: a closed fd → EBADFD (errno -77), as udmabuf answers`, () => {
        expect(() => allocate(PAGE_SIZE, { exporter, memfd: closedFd() }), 'EBADFD', -77);
      });

      it(`${exporter}: /dev/null, a FIFO and a regular file are not memfds → EBADFD`, () => {
        const nul = openSync('/dev/null', 'r+');
        const p = fifo();
        const f = regularFile();
        try {
          for (const fd of [nul, p.fd, f.fd]) {
            expect(() => allocate(PAGE_SIZE, { exporter, memfd: fd }), 'EBADFD', -77);
            assert.ok(isOpen(fd), `fd ${fd} was closed by a failed allocate()`);
          }
        } finally {
          closeSync(nul);
          p.done();
          f.done();
        }
      });
    }
  });

  describe('fromFd', () => {
    it('a closed fd → EBADF (errno -9)', () => {
      assertSysError(() => fromFd(closedFd()), 'EBADF', -9);
      assertSysError(() => fromFd(closedFd(), { takeOwnership: true }), 'EBADF', -9);
    });

    it("/dev/null, a FIFO, a regular file → ERR_DMABUF_NOT_DMABUF, and the caller's fd stays open", () => {
      const nul = openSync('/dev/null', 'r');
      const p = fifo();
      const f = regularFile();
      try {
        for (const fd of [nul, p.fd, f.fd]) {
          for (const takeOwnership of [false, true]) {
            assertCode(() => fromFd(fd, { takeOwnership }), 'ERR_DMABUF_NOT_DMABUF', new RegExp(`fd ${fd} is not a dma-buf`));
            assert.ok(isOpen(fd), `fd ${fd} was closed by a failed fromFd (takeOwnership: ${takeOwnership})`);
          }
        }
      } finally {
        closeSync(nul);
        p.done();
        f.done();
      }
    });

    it('an unsealed memfd is not imported (udmabuf would refuse it) → EINVAL', () => {
      // fromFd accepts memfds "as the memfd exporter makes" them; one that udmabuf would
      // refuse must not become a buffer.
      const fd = memfd(PAGE_SIZE, 0);
      try {
        assertSysError(() => fromFd(fd), 'EINVAL', -22);
        assert.ok(isOpen(fd));
      } finally {
        native().close(fd);
      }
    });

    it('a memfd reopened write-only → EACCES (nothing works without read access); read-only → imported, views refused with ERR_DMABUF_READ_ONLY, never a crash', () => {
      const fd = memfd(2 * PAGE_SIZE, native().constants.F_SEAL_SHRINK);
      const wo = openSync(`/proc/self/fd/${fd}`, fsc.O_WRONLY);
      const ro = openSync(`/proc/self/fd/${fd}`, fsc.O_RDONLY);
      try {
        assertSysError(() => fromFd(wo), 'EACCES', -13, 'fcntl');
        assert.throws(() => fromFd(wo), /write-only/);
        assert.ok(isOpen(wo));
        using buf = fromFd(ro);
        const out = new Uint8Array(4);
        buf.read(PAGE_SIZE, out); // copying out works
        // A JavaScript view cannot be read-only: writing through one over a PROT_READ
        // mapping would kill the process (SIGSEGV). The kernel's answer instead.
        assertCode(() => buf.mmap(), 'ERR_DMABUF_READ_ONLY');
        buf.beginCpuAccess('read');
        assertCode(() => buf.kmap(0), 'ERR_DMABUF_READ_ONLY');
        buf.endCpuAccess('read');
        assertCode(() => buf.write(0, out), 'EACCES');
      } finally {
        for (const x of [fd, wo, ro]) closeSync(x);
      }
    });

    it('fd values out of range or of the wrong type', () => {
      for (const fd of [-1, 1.5, NaN, 2 ** 31, Infinity]) assertCode(() => fromFd(fd), 'ERR_OUT_OF_RANGE');
      for (const fd of ['3', undefined, null, 3n, {}]) assertCode(() => fromFd(fd as number), 'ERR_INVALID_ARG_TYPE');
    });

    it('options of the wrong type', () => {
      const src = allocate(PAGE_SIZE, { exporter: 'memfd' });
      try {
        assertCode(() => fromFd(src.fd, 'x' as unknown as object), 'ERR_INVALID_ARG_TYPE');
        assertCode(() => fromFd(src.fd, { takeOwnership: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE');
        assert.ok(isOpen(src.fd));
      } finally {
        src.close();
      }
    });
  });

  for (const s of subjects()) {
    describe(`names and flags: ${s.label}`, () => {
      let buf: DmaBuf;
      beforeEach(() => {
        buf = s.make(4 * PAGE_SIZE);
      });
      afterEach(() => {
        buf.close();
        count(s.label);
      });

      it('31 bytes is the longest name', () => {
        const n31 = 'n'.repeat(31);
        buf.setName(n31);
        assert.equal(buf.name, n31);
        const e15 = 'é'.repeat(15) + 'x'; // 31 bytes in UTF-8
        buf.setName(e15);
        assert.equal(buf.name, e15);
      });

      it('32 and 100 bytes, and 16 × "é" (32 bytes in UTF-8) → EINVAL from DMA_BUF_SET_NAME_B; the old name stays', () => {
        buf.setName('before');
        for (const name of ['n'.repeat(32), 'n'.repeat(100), 'é'.repeat(16)]) {
          assertSysError(() => buf.setName(name), 'EINVAL', -22, 'ioctl');
          assert.throws(
            () => buf.setName(name),
            (err: { ioctl?: string }) => err.ioctl === 'DMA_BUF_SET_NAME_B',
          );
        }
        assert.equal(buf.name, 'before');
      });

      it('a non-string name → ERR_INVALID_ARG_TYPE', () => {
        for (const name of [1, null, undefined, {}, Symbol('x')]) assertCode(() => buf.setName(name as string), 'ERR_INVALID_ARG_TYPE');
      });

      it('unknown CPU-access directions → ERR_INVALID_ARG_VALUE / ERR_INVALID_ARG_TYPE; nothing is begun', () => {
        assertCode(() => buf.beginCpuAccess('rw' as 'read'), 'ERR_INVALID_ARG_VALUE', /'read', 'write', 'readwrite'/);
        assertCode(() => buf.beginCpuAccess('READ' as 'read'), 'ERR_INVALID_ARG_VALUE');
        assertCode(() => buf.beginCpuAccess(undefined as unknown as 'read'), 'ERR_INVALID_ARG_TYPE');
        assertCode(() => buf.endCpuAccess(1 as unknown as 'read'), 'ERR_INVALID_ARG_TYPE');
        // Names inherited from Object.prototype are not directions either.
        for (const d of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
          assertCode(() => buf.beginCpuAccess(d as 'read'), 'ERR_INVALID_ARG_VALUE');
          assertCode(() => buf.cpuAccess(d as 'read'), 'ERR_INVALID_ARG_VALUE');
          assertCode(() => buf.endCpuAccess(d as 'read'), 'ERR_INVALID_ARG_VALUE');
        }
        assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
      });

      it('endCpuAccess without a matching begin → EINVAL, as udmabuf answers', () => {
        assertSysError(() => buf.endCpuAccess('read'), 'EINVAL', -22, 'ioctl');
        buf.beginCpuAccess('write');
        assertSysError(() => buf.endCpuAccess('read'), 'EINVAL', -22, 'ioctl');
        buf.endCpuAccess('write');
        assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
      });

      it('attachment.map with an unknown direction → ERR_INVALID_ARG_VALUE; nothing is mapped', () => {
        const att = buf.attach({ name: 'dev' });
        assertCode(() => att.map('sideways' as 'to-device'), 'ERR_INVALID_ARG_VALUE', /'to-device', 'from-device', 'bidirectional'/);
        assertCode(() => att.map(1 as unknown as 'to-device'), 'ERR_INVALID_ARG_TYPE');
        assert.equal(att.mapped, 0);
        const t = att.map('to-device');
        assertCode(() => att.unmap(t, 'from-device'), 'ERR_INVALID_ARG_VALUE', /to-device/);
        assertCode(() => att.unmap({ segments: [], direction: 'to-device' }), 'ERR_INVALID_ARG_VALUE', /not mapped/);
        att.unmap(t);
        att.detach();
      });

      it('kmap of page -1 or one past the end → ERR_OUT_OF_RANGE, inside a bracket', () => {
        buf.beginCpuAccess('read');
        try {
          const pages = buf.size / PAGE_SIZE;
          for (const p of [-1, pages, pages + 1, 0.5, NaN, 2 ** 60]) {
            assertCode(() => buf.kmap(p), 'ERR_OUT_OF_RANGE', /"page"/);
            assertCode(() => buf.kmapAtomic(p), 'ERR_OUT_OF_RANGE');
            assertCode(() => buf.kunmap(p), 'ERR_OUT_OF_RANGE');
          }
          assertCode(() => buf.kmap('0' as unknown as number), 'ERR_INVALID_ARG_TYPE');
          assertCode(() => buf.kunmap(pages - 1), 'ERR_INVALID_ARG_VALUE', /not kmapped/);
          const last = buf.kmap(pages - 1);
          assert.equal(last.byteLength, PAGE_SIZE, 'the last page can be kmapped');
          buf.kunmap(pages - 1);
        } finally {
          buf.endCpuAccess('read');
        }
      });

      it('read/write out of range → ERR_OUT_OF_RANGE; not a view → ERR_INVALID_ARG_TYPE', () => {
        const size = buf.size;
        for (const [off, len] of [
          [-1, 1],
          [size - 8, 16],
          [size, 1],
          [0, size + 1],
          [1.5, 1],
          [2 ** 60, 1],
        ] as const) {
          assertCode(() => buf.read(off, new Uint8Array(len)), 'ERR_OUT_OF_RANGE', /offset/);
          assertCode(() => buf.write(off, new Uint8Array(len)), 'ERR_OUT_OF_RANGE', /offset/);
        }
        for (const v of ['abc', [1, 2], null, undefined, new ArrayBuffer(4), {}]) {
          assertCode(() => buf.read(0, v as unknown as Uint8Array), 'ERR_INVALID_ARG_TYPE');
          assertCode(() => buf.write(0, v as unknown as Uint8Array), 'ERR_INVALID_ARG_TYPE');
        }
        assertCode(() => buf.read('0' as unknown as number, new Uint8Array(1)), 'ERR_INVALID_ARG_TYPE');
        // A view whose ArrayBuffer was detached (transferred away, as a mapping is on unmap).
        const gone = new ArrayBuffer(16);
        const views = [new Uint8Array(gone, 4, 8), new DataView(gone), new Float64Array(gone)];
        structuredClone(gone, { transfer: [gone] });
        for (const t of views) {
          assertCode(() => buf.read(0, t), 'ERR_INVALID_ARG_VALUE', /'target'.*detached/);
          assertCode(() => buf.write(0, t), 'ERR_INVALID_ARG_VALUE', /'source'.*detached/);
        }
        // The boundary itself is fine.
        buf.write(size - 4, new Uint8Array([1, 2, 3, 4]));
        const end = new Uint8Array(4);
        buf.read(size - 4, end);
        assert.deepEqual([...end], [1, 2, 3, 4]);
        buf.read(size, new Uint8Array(0));
      });

      if (s.fd && !s.dmabuf) {
        it('sync(flags) on a memfd reaches the kernel, which answers ENOTTY whatever the flags (a memfd is not a dma-buf)', () => {
          for (const flags of [1, 5, 3, 7, 0, 4, 0xff, 0xffffffff]) {
            assertSysError(() => buf.sync(flags), 'ENOTTY', -25, 'ioctl');
            assert.throws(
              () => buf.sync(flags),
              (err: { ioctl?: string; fd?: number }) => err.ioctl === 'DMA_BUF_IOCTL_SYNC' && err.fd === buf.fd,
            );
          }
          // The brackets have nothing to sync on a memfd and still work.
          buf.beginCpuAccess('readwrite');
          buf.endCpuAccess('readwrite');
        });
      } else {
        it(`sync with invalid flags → EINVAL from DMA_BUF_IOCTL_SYNC${s.dmabuf ? ' (the kernel decides)' : ''}`, () => {
          for (const flags of [0, 4, 8, 0xff, 0x10, 0x80000000, 0xffffffff]) {
            assertSysError(() => buf.sync(flags), 'EINVAL', -22, 'ioctl');
            assert.throws(
              () => buf.sync(flags),
              (err: { ioctl?: string }) => err.ioctl === 'DMA_BUF_IOCTL_SYNC',
            );
          }
          // Valid flags are accepted: START|READ, END|READ, START|RW, END|RW.
          for (const flags of [1, 5, 3, 7]) buf.sync(flags);
        });
      }

      it('sync with flags that are not a uint32 → ERR_OUT_OF_RANGE / ERR_INVALID_ARG_TYPE', () => {
        for (const flags of [-1, 1.5, NaN, 2 ** 32, Infinity]) assertCode(() => buf.sync(flags), 'ERR_OUT_OF_RANGE', /"flags"/);
        for (const flags of ['1', 1n, undefined, null]) assertCode(() => buf.sync(flags as unknown as number), 'ERR_INVALID_ARG_TYPE');
      });

      it('devices with bad constraints → ERR_OUT_OF_RANGE / ERR_INVALID_ARG_TYPE; nothing is attached', () => {
        const bad: Array<[unknown, string]> = [
          [{ name: 'a', alignment: 3 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', alignment: 0 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', alignment: -4096 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegmentSize: 0 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegmentSize: 100 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegmentSize: PAGE_SIZE + 0.5 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegments: 0 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegments: -1 }, 'ERR_OUT_OF_RANGE'],
          [{ name: 'a', maxSegments: '1' }, 'ERR_INVALID_ARG_TYPE'],
          [{ name: 'a', contiguous: 1 }, 'ERR_INVALID_ARG_TYPE'],
          [{}, 'ERR_INVALID_ARG_TYPE'],
          [{ name: '' }, 'ERR_INVALID_ARG_TYPE'],
          [{ name: 7 }, 'ERR_INVALID_ARG_TYPE'],
          [null, 'ERR_INVALID_ARG_TYPE'],
          ['dev', 'ERR_INVALID_ARG_TYPE'],
          [undefined, 'ERR_INVALID_ARG_TYPE'],
        ];
        for (const [device, code] of bad) {
          assert.throws(() => buf.attach(device as { name: string }), { code }, `attach(${JSON.stringify(device)})`);
        }
        assert.equal(buf.attachments.length, 0);
      });

      it('attachAsync with bad devices or a bad timeout rejects the same way', async () => {
        await assert.rejects(buf.attachAsync({ name: 'a', alignment: 3 }), { code: 'ERR_OUT_OF_RANGE' });
        await assert.rejects(buf.attachAsync(null as unknown as { name: string }), { code: 'ERR_INVALID_ARG_TYPE' });
        await assert.rejects(buf.attachAsync({ name: 'a' }, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
        await assert.rejects(buf.attachAsync({ name: 'a' }, { timeout: '5' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
        assert.equal(buf.attachments.length, 0);
      });
    });
  }
});
