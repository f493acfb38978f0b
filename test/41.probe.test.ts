// fromFd's one-call probe (native probeFd) against the separate calls it replaced: for every
// kind of fd, hostile ones included, the same facts, the same verdict (dma-buf, memfd or
// refused, with the same error), and no side effect on the fd (its file position stays).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, constants as fsc } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAGE_SIZE, fromFd } from '../lib';
import { native, type NativeProbe } from '../lib/platform/binding';
import { fdLink, readFdInfo } from '../lib/platform/fdinfo';
import { checkFds, subjects } from './helpers';

const TMPFS_MAGIC = 0x01021994;
const HUGETLBFS_MAGIC = 0x958458f6;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** What the probe must say, asked one syscall at a time (the way fromFd asked before). */
function reference(fd: number): NativeProbe {
  const b = native();
  let flags: number;
  try {
    flags = b.getFlags(fd);
  } catch (err) {
    return { flags: (err as { errno: number }).errno, link: '', fsType: 0, mode: 0, ino: 0, dev: 0, seals: -22, size: -22, expName: null };
  }
  const link = fdLink(fd) ?? '';
  const fsType = b.fstatfsType(fd);
  const st = b.fstat(fd);
  const shmem = (fsType === TMPFS_MAGIC || fsType === HUGETLBFS_MAGIC) && (st.mode & S_IFMT) === S_IFREG;
  const dmabuf = link.startsWith('/dmabuf:') && fsType === b.constants.DMA_BUF_MAGIC;
  const errno = (fn: () => number) => {
    try {
      return fn();
    } catch (err) {
      return (err as { errno: number }).errno;
    }
  };
  return {
    flags,
    link,
    fsType,
    mode: st.mode,
    ino: st.ino,
    dev: st.dev,
    seals: shmem ? errno(() => b.getSeals(fd)) : -22,
    size: dmabuf || (shmem && link.startsWith('/memfd:')) ? errno(() => b.fdSize(fd)) : -22,
    expName: dmabuf ? (readFdInfo(fd).exp_name ?? null) : null,
  };
}

/** fromFd's verdict on fd: the buffer's exporter and size, or the error's code and message. */
function verdict(fd: number): string {
  try {
    using buf = fromFd(fd);
    return `${buf.exporter} ${buf.size}`;
  } catch (err) {
    const e = err as { code?: string; message: string };
    return `${e.code}: ${e.message}`;
  }
}

interface Case {
  label: string;
  fd: number;
  /** fromFd's verdict, as the code before the probe gave it. */
  expect: RegExp;
}

describe('41 fromFd probe', () => {
  checkFds();
  const cleanups: Array<() => void> = [];
  const cases: Case[] = [];
  const dirs: string[] = [];
  const b = native();
  const c = b.constants;
  const memfd = (seals: number, size = 2 * PAGE_SIZE): number => {
    const fd = b.memfdCreate('probe', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
    b.ftruncate(fd, size);
    if (seals) b.addSeals(fd, seals);
    cleanups.push(() => b.close(fd));
    return fd;
  };
  const openFile = (path: string, flags: number): number => {
    const fd = openSync(path, flags);
    cleanups.push(() => closeSync(fd));
    return fd;
  };

  before(async () => {
    const sealed = memfd(c.F_SEAL_SHRINK | c.F_SEAL_GROW);
    cases.push({ label: 'a sealed memfd', fd: sealed, expect: new RegExp(`^memfd ${2 * PAGE_SIZE}$`) });
    cases.push({ label: 'an unsealed memfd', fd: memfd(0), expect: /^EINVAL: .*F_SEAL_SHRINK/ });
    cases.push({ label: 'a write-sealed memfd', fd: memfd(c.F_SEAL_SHRINK | c.F_SEAL_WRITE), expect: /^EINVAL: .*write-sealed/ });
    const nosealing = b.memfdCreate('probe', c.MFD_CLOEXEC); // F_SEAL_SEAL from birth
    b.ftruncate(nosealing, PAGE_SIZE);
    cleanups.push(() => b.close(nosealing));
    cases.push({ label: 'a memfd made without MFD_ALLOW_SEALING', fd: nosealing, expect: /^EINVAL: .*F_SEAL_SHRINK/ });
    cases.push({
      label: 'a sealed memfd reopened write-only',
      fd: openFile(`/proc/self/fd/${sealed}`, fsc.O_WRONLY),
      expect: /^EACCES: .*write-only/,
    });
    cases.push({ label: 'a sealed memfd reopened read-only', fd: openFile(`/proc/self/fd/${sealed}`, fsc.O_RDONLY), expect: /^memfd / });
    cases.push({ label: '/dev/null', fd: openFile('/dev/null', fsc.O_RDONLY), expect: /^ERR_DMABUF_NOT_DMABUF: .*\(it is \/dev\/null\)/ });
    const dir = mkdtempSync(join(tmpdir(), 'dmabuf-probe-'));
    dirs.push(dir);
    cleanups.push(() => rmSync(dir, { recursive: true }));
    writeFileSync(join(dir, 'f'), 'abcdefgh');
    cases.push({ label: 'a regular file', fd: openFile(join(dir, 'f'), fsc.O_RDWR), expect: /^ERR_DMABUF_NOT_DMABUF/ });
    cases.push({ label: 'a directory', fd: openFile(dir, fsc.O_RDONLY | fsc.O_DIRECTORY), expect: /^ERR_DMABUF_NOT_DMABUF/ });
    assert.equal(spawnSync('mkfifo', [join(dir, 'p')]).status, 0);
    cases.push({ label: 'a FIFO', fd: openFile(join(dir, 'p'), fsc.O_RDWR | fsc.O_NONBLOCK), expect: /^ERR_DMABUF_NOT_DMABUF/ });
    try {
      // tmpfs (shmem) but not a memfd: seals are asked (F_SEAL_SEAL from birth), fromFd refuses it.
      writeFileSync('/dev/shm/dmabuf-probe-test', Buffer.alloc(PAGE_SIZE));
      cases.push({ label: 'a /dev/shm file', fd: openFile('/dev/shm/dmabuf-probe-test', fsc.O_RDWR), expect: /^ERR_DMABUF_NOT_DMABUF/ });
      rmSync('/dev/shm/dmabuf-probe-test');
    } catch {
      // no writable /dev/shm here
    }
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const handle = (server as unknown as { _handle: { fd: number } })._handle;
    cases.push({ label: 'a listening socket', fd: handle.fd, expect: /^ERR_DMABUF_NOT_DMABUF: .*socket:/ });
    cleanups.push(() => server.close());
    for (const s of subjects()) {
      if (!s.fd) continue;
      const buf = s.make(3 * PAGE_SIZE);
      cleanups.push(() => buf.close());
      cases.push({ label: s.label, fd: buf.fd, expect: new RegExp(`^${s.dmabuf ? 'import' : 'memfd'} ${3 * PAGE_SIZE}$`) });
    }
    let closed = 300;
    while (b.probeFd(closed).flags !== -9) closed++;
    cases.push({ label: 'a closed fd', fd: closed, expect: /^EBADF: .*is not open/ });
  });

  after(() => {
    for (const f of cleanups.splice(0).reverse()) f();
  });

  it('says what the separate calls say, for every kind of fd', () => {
    assert.ok(cases.length >= 12, `only ${cases.length} cases`);
    for (const k of cases) assert.deepEqual(b.probeFd(k.fd), reference(k.fd), k.label);
  });

  it('fdIdentity (what a reuse channel asks first) says F_GETFL, st_dev, st_ino and st_size as the probe does', () => {
    const out = new Float64Array(4);
    for (const k of cases) {
      const p = b.probeFd(k.fd);
      b.fdIdentity(k.fd, out);
      const st = p.flags < 0 ? { size: 0 } : b.fstat(k.fd);
      assert.deepEqual(Array.from(out), [p.flags, p.dev, p.ino, st.size], k.label);
    }
    assert.throws(() => b.fdIdentity(0, new Float64Array(3)), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it("gives fromFd the verdict it gave before (kind, size, or the error and its words), and leaves the caller's fd open", () => {
    for (const k of cases) {
      assert.match(verdict(k.fd), k.expect, k.label);
      if (k.label !== 'a closed fd') assert.ok(b.probeFd(k.fd).flags >= 0, `${k.label}: fd closed by fromFd`);
    }
  });

  it('reads exp_name of a dma-buf from fdinfo, and nothing of files that only look like one', function () {
    const dmabufs = cases.filter((k) => b.probeFd(k.fd).link.startsWith('/dmabuf:'));
    if (dmabufs.length === 0) this.skip(); // no dma-buf exporter on this machine
    for (const k of dmabufs) assert.equal(b.probeFd(k.fd).expName, readFdInfo(k.fd).exp_name, k.label);
    for (const k of cases.filter((x) => !dmabufs.includes(x))) assert.equal(b.probeFd(k.fd).expName, null, k.label);
  });

  it("moves no file position but a buffer's (a memfd's or dma-buf's, which fdSize always reset), tmpfs files included", () => {
    const files = [join(dirs[0], 'f')];
    // tmpfs is shmem, as memfds are: the probe asks its seals, never its size (the VM's /tmp
    // is tmpfs; this machine's /dev/shm may be).
    for (const dir of ['/dev/shm', '/tmp']) {
      try {
        const path = join(dir, `dmabuf-probe-${process.pid}`);
        writeFileSync(path, 'abcdefgh');
        files.push(path);
      } catch {
        // not writable here
      }
    }
    for (const path of files) {
      const fd = openSync(path, fsc.O_RDWR);
      try {
        const three = Buffer.alloc(3);
        readSync(fd, three, 0, 3, null); // from the current position: 'abc', now at 3
        assert.equal(three.toString(), 'abc');
        b.probeFd(fd);
        readSync(fd, three, 0, 3, null);
        assert.equal(three.toString(), 'def', `the probe moved the position of ${path}`);
      } finally {
        closeSync(fd);
        if (path !== files[0]) rmSync(path);
      }
    }
  });
});
