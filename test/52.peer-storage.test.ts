// Peers that change storage under the owner. A process that holds a buffer's memfd can add
// seals or punch holes in it; neither may leave the owner with a buffer that fails for good
// or a store that ends in SIGBUS. Anything that would crash on failure runs in a child.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAGE_SIZE, allocate, Channel, capabilities, codes, fromFd, fromTransferable, toTransferable } from '../lib';
import { native } from '../lib/platform/binding';
import { hugePageSize } from '../lib/platform/uapi';
import { assertCode, assertRejects, checkFds } from './helpers';

const PEER = join(__dirname, 'fixtures', 'hugetlb-peer.js');

/** Both ends of a pair in this process. */
function localPair(): { a: Channel; b: Channel } & Disposable {
  const [a, fd] = Channel.pair();
  const b = Channel.fromFd(fd, { takeOwnership: true });
  return { a, b, [Symbol.dispose]: () => (a.close(), b.close()) };
}

/** A channel message header ("DMB1", count, flags) and its JSON payload, as a raw peer sends it. */
function frame(count: number): Uint8Array {
  const data = new Uint8Array(8);
  const dv = new DataView(data.buffer);
  dv.setUint32(0, 0x31424d44, true);
  dv.setUint16(4, count, true);
  return data;
}

/** A child's verdict: its JSON line, or how it died. */
function runPeer(mode: string): { status: number | null; signal: string | null; out: Record<string, unknown> | null; stderr: string } {
  const r = spawnSync(process.execPath, [PEER, mode], { encoding: 'utf8', timeout: 60000 });
  let out: Record<string, unknown> | null = null;
  try {
    out = JSON.parse(r.stdout.trim());
  } catch {
    // no verdict: it crashed
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr };
}

/** Makes at least `n` huge pages exist while fn runs (as root, when the kernel lets us); false when it cannot. */
function withHugePages(n: number, fn: () => void): boolean {
  const path = '/proc/sys/vm/nr_hugepages';
  let before: string;
  try {
    before = readFileSync(path, 'utf8').trim();
    writeFileSync(path, String(Number(before) + n));
  } catch {
    return false;
  }
  try {
    if (Number(readFileSync(path, 'utf8')) < Number(before) + n) return false;
    fn();
    return true;
  } finally {
    writeFileSync(path, before);
  }
}

describe('52 peers that change storage under the owner', () => {
  checkFds();
  const b = native();
  const c = b.constants;

  describe('seals (a peer holding a memfd adds F_SEAL_WRITE)', () => {
    it('the memfd exporter locks its seal set: SHRINK, GROW and SEAL', () => {
      using buf = allocate(4 * PAGE_SIZE, { exporter: 'memfd' });
      assert.equal(b.getSeals(buf.fd), c.F_SEAL_SEAL | c.F_SEAL_SHRINK | c.F_SEAL_GROW);
    });

    it('a peer that received the buffer cannot write-seal it; the owner keeps writing (regression: EPERM for good)', async () => {
      using buf = allocate(4 * PAGE_SIZE, { exporter: 'memfd' });
      using pair = localPair();
      await pair.a.send([buf]);
      const m = await pair.b.receive();
      using peer = m!.buffers[0];
      for (const seal of [c.F_SEAL_WRITE, c.F_SEAL_FUTURE_WRITE, c.F_SEAL_SHRINK | c.F_SEAL_WRITE]) {
        assert.throws(
          () => b.addSeals(peer.fd, seal),
          (e: NodeJS.ErrnoException) => e.code === 'EPERM',
        );
      }
      assert.throws(
        () => b.ftruncate(peer.fd, 8 * PAGE_SIZE),
        (e: NodeJS.ErrnoException) => e.code === 'EPERM',
        'F_SEAL_GROW: the size is fixed',
      );
      buf.write(PAGE_SIZE, new Uint8Array([1, 2, 3]));
      const v = buf.mmap();
      v[0] = 9;
      const got = new Uint8Array(4);
      peer.read(PAGE_SIZE - 1, got);
      assert.deepEqual([...got], [0, 1, 2, 3]);
      assert.equal(peer.mmap()[0], 9);
    });

    it("fromFd of another program's memfd whose seal set is open: accepted; a write seal added later fails mmap with EPERM that says so", () => {
      const fd = b.memfdCreate('theirs', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
      try {
        b.ftruncate(fd, 2 * PAGE_SIZE);
        b.addSeals(fd, c.F_SEAL_SHRINK);
        using buf = fromFd(fd);
        assert.equal(buf.exporter, 'memfd');
        b.addSeals(fd, c.F_SEAL_WRITE); // their right: we hold no writable mapping yet
        assertCode(() => buf.mmap(), 'EPERM', /write-sealed.*F_SEAL_SEAL/);
        assertCode(() => buf.write(0, new Uint8Array(1)), 'EPERM', /write-sealed/);
        assertCode(() => buf.read(0, new Uint8Array(1)), 'EPERM', /write-sealed/);
      } finally {
        b.close(fd);
      }
    });

    it('fromFd of a memfd with an open seal set, mapped first: the later write seal is refused (EBUSY), the buffer keeps working', () => {
      const fd = b.memfdCreate('theirs', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
      try {
        b.ftruncate(fd, 2 * PAGE_SIZE);
        b.addSeals(fd, c.F_SEAL_SHRINK);
        using buf = fromFd(fd);
        buf.mmap()[0] = 1;
        assert.throws(
          () => b.addSeals(fd, c.F_SEAL_WRITE),
          (e: NodeJS.ErrnoException) => e.code === 'EBUSY',
        );
        buf.write(1, new Uint8Array([2]));
        assert.deepEqual([...buf.mmap().subarray(0, 2)], [1, 2]);
      } finally {
        b.close(fd);
      }
    });
  });

  describe('hugetlb memfds (a peer punches a hole: SIGBUS once the huge page is gone)', function () {
    const huge = hugePageSize();
    before(function () {
      if (huge === null || !capabilities().exporters.includes('memfd')) this.skip();
    });

    it('Channel.send of a hugetlb memfd buffer → ERR_DMABUF_UNSAFE_TO_SHARE, naming udmabuf; nothing is sent', async () => {
      using buf = allocate(huge!, { exporter: 'memfd', hugetlb: true });
      using plain = allocate(PAGE_SIZE, { exporter: 'memfd' });
      using pair = localPair();
      await assertRejects(pair.a.send([plain, buf]), codes.UNSAFE_TO_SHARE, /buffers\[1\].*hugetlb.*udmabuf/s);
      await pair.a.send([plain], 'after');
      const m = await pair.b.receive();
      assert.equal(m!.payload, 'after', 'the refused message never went out');
      for (const x of m!.buffers) x.close();
    });

    it('a hugetlb memfd arriving from a raw peer → messageerror ERR_DMABUF_UNSAFE_TO_SHARE, fds closed', async () => {
      const fd = b.memfdCreate('hostile', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING | c.MFD_HUGETLB);
      const [ch, raw] = Channel.pair();
      try {
        b.ftruncate(fd, huge!);
        b.addSeals(fd, c.F_SEAL_SHRINK);
        const errors: NodeJS.ErrnoException[] = [];
        ch.on('messageerror', (e) => errors.push(e));
        b.socketSend(raw, frame(1), [fd]);
        b.socketSend(raw, frame(0), []);
        const m = await ch.receive();
        assert.equal(m!.buffers.length, 0, 'the next message arrived; the hugetlb one was dropped');
        assert.equal(errors.length, 1);
        assert.equal(errors[0].code, codes.BAD_MESSAGE);
        assert.equal((errors[0].cause as NodeJS.ErrnoException).code, codes.UNSAFE_TO_SHARE);
        assert.match(errors[0].message, /buffer 0 of 1.*hugetlb/s);
      } finally {
        ch.close();
        b.close(raw);
        b.close(fd);
      }
    });

    it('in-process sharing stays allowed: fromFd and a worker transferable of a hugetlb memfd', () => {
      using buf = allocate(huge!, { exporter: 'memfd', hugetlb: true });
      using again = fromFd(buf.fd);
      assert.equal(again.size, huge);
      using moved = fromTransferable(toTransferable(buf));
      assert.equal(moved.size, huge);
    });

    it('the owner survives a peer that punches a hole and a user that takes the freed page (child; regression: SIGBUS)', function () {
      this.timeout(120000);
      let r: ReturnType<typeof runPeer> | null = null;
      if (!withHugePages(2, () => (r = runPeer('memfd')))) this.skip();
      const v = r!;
      assert.equal(v.signal, null, `the owner was killed by ${v.signal}: ${v.stderr}`);
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.out?.refused, codes.UNSAFE_TO_SHARE, JSON.stringify(v.out));
      assert.match(String(v.out?.message), /udmabuf/);
    });

    it('udmabuf with hugetlb: a hole punched in its memfd leaves the pinned pages to the buffer (child; real kernel)', function () {
      if (!capabilities().exporters.includes('udmabuf')) this.skip();
      this.timeout(120000);
      let r: ReturnType<typeof runPeer> | null = null;
      if (!withHugePages(2, () => (r = runPeer('udmabuf')))) this.skip();
      const v = r!;
      assert.equal(v.signal, null, `the owner was killed by ${v.signal}: ${v.stderr}`);
      assert.equal(v.status, 0, v.stderr);
      assert.deepEqual(v.out, { survived: true, first: 0x5a, second: 0xa5 });
    });
  });
});
