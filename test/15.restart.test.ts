// The restart loops, driven through the fault-injection seam (native/sys/seam.h): the
// kernel cannot be made to return EINTR or EAGAIN on cue, so the test queues them in front
// of the real call. DMA_BUF_IOCTL_SYNC "can fail with -EAGAIN or -EINTR, in which case it
// must be restarted" (drivers/dma-buf/dma-buf.c); sendmsg/recvmsg restart on EINTR, while
// EAGAIN on these non-blocking sockets means "would block" and comes back as null. Any
// other errno is the answer, shaped like Node's SystemError.
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { nativeOrNull, type NativeBinding } from '../lib/platform/binding';
import { DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_START } from '../lib/platform/uapi';
import { assertCode, checkFds, subjects } from './helpers';

const { EINTR, EAGAIN, EIO, ENOTTY } = constants.errno;
const BINDING_JS = join(__dirname, '..', 'lib', 'platform', 'binding.js');

/** Runs fn, which must throw; returns what it threw. */
function thrown(fn: () => unknown): NodeJS.ErrnoException & { ioctl?: string; fd?: number } {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  return assert.fail('expected an error');
}

/** Asserts a SystemError shape: code, negative errno, syscall, and the message starting with the code. */
function assertShape(err: NodeJS.ErrnoException, code: string, errno: number, syscall: string): void {
  assert.equal(err.code, code, err.message);
  assert.equal(err.errno, -errno, err.message);
  assert.equal(err.syscall, syscall, err.message);
  assert.ok(err.message.startsWith(`${code}: `), err.message);
}

const b = nativeOrNull();

(b ? describe : describe.skip)('15 restart: EINTR and EAGAIN through the fault-injection seam', () => {
  const n = b as NativeBinding;
  const t = n?._testing;
  const fds: number[] = [];
  const track = (fd: number) => (fds.push(fd), fd);

  afterEach(() => {
    const left = (['ioctl', 'sendmsg', 'recvmsg'] as const).map((c) => t.pendingInjected(c));
    t.clearInjected();
    for (const fd of fds.splice(0)) n.close(fd);
    assert.deepEqual(left, [0, 0, 0], 'a test left injected errnos behind');
  });
  checkFds(); // after the cleanup above: afterEach hooks run in the order they were added

  /** A socket pair carrying one memfd; returns the ends and the memfd's inode. */
  function pair(): { a: number; z: number; memfd: number; ino: number } {
    const out = new Int32Array(2);
    n.socketPair(out);
    const memfd = track(n.memfdCreate('15-restart', n.constants.MFD_CLOEXEC));
    return { a: track(out[0]), z: track(out[1]), memfd, ino: n.fstat(memfd).ino };
  }

  describe('DMA_BUF_IOCTL_SYNC', () => {
    it('a memfd is no dma-buf: with nothing injected the host kernel answers ENOTTY', () => {
      const fd = track(n.memfdCreate('15-sync', n.constants.MFD_CLOEXEC));
      const err = thrown(() => n.dmaBufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
      assertShape(err, 'ENOTTY', ENOTTY, 'ioctl');
      assert.equal(err.ioctl, 'DMA_BUF_IOCTL_SYNC');
    });

    it('EINTR, EAGAIN, EINTR are restarted: the queue drains and the answer is the real kernel’s (ENOTTY)', () => {
      const fd = track(n.memfdCreate('15-sync', n.constants.MFD_CLOEXEC));
      t.injectErrno('ioctl', [EINTR, EAGAIN, EINTR]);
      assert.equal(t.pendingInjected('ioctl'), 3);
      const err = thrown(() => n.dmaBufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
      // Three failed attempts were taken, then the fourth reached the kernel.
      assert.equal(t.pendingInjected('ioctl'), 0);
      assertShape(err, 'ENOTTY', ENOTTY, 'ioctl');
      assert.equal(err.ioctl, 'DMA_BUF_IOCTL_SYNC');
      assert.equal(err.fd, fd);
    });

    it('a non-restartable errno (EIO) is the answer at once, shaped like a SystemError', () => {
      const fd = track(n.memfdCreate('15-sync', n.constants.MFD_CLOEXEC));
      t.injectErrno('ioctl', [EINTR, EIO, EINTR]);
      const err = thrown(() => n.dmaBufSync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
      assertShape(err, 'EIO', EIO, 'ioctl');
      assert.equal(err.ioctl, 'DMA_BUF_IOCTL_SYNC');
      assert.equal(err.fd, fd);
      assert.match(err.message, /, ioctl\(DMA_BUF_IOCTL_SYNC\)/);
      // One EINTR restarted, EIO returned; the trailing EINTR was never reached.
      assert.equal(t.pendingInjected('ioctl'), 1);
      t.clearInjected();
    });

    for (const s of subjects().filter((x) => x.dmabuf)) {
      it(`${s.label}: begin/end CPU access succeed after injected EINTR/EAGAIN`, () => {
        using buf = s.make(4 * n.constants.PAGE_SIZE);
        assert.ok(buf.fd >= 0); // storage exists: no allocation ioctl will take the injected errnos
        t.injectErrno('ioctl', [EINTR, EAGAIN, EINTR]);
        buf.beginCpuAccess('read');
        assert.equal(t.pendingInjected('ioctl'), 0);
        t.injectErrno('ioctl', [EAGAIN]);
        buf.endCpuAccess('read');
        assert.equal(t.pendingInjected('ioctl'), 0);
      });
    }
  });

  describe('sendmsg / recvmsg', () => {
    it('EINTR is restarted on both sides: the message arrives whole, with its fd', () => {
      const { a, z, memfd, ino } = pair();
      const data = Buffer.from('restarted message');
      t.injectErrno('sendmsg', [EINTR, EINTR]);
      assert.equal(n.socketSend(a, data, [memfd]), data.length);
      assert.equal(t.pendingInjected('sendmsg'), 0);

      t.injectErrno('recvmsg', [EINTR, EINTR, EINTR]);
      const into = Buffer.alloc(64);
      const got = n.socketRecv(z, into, 4);
      assert.equal(t.pendingInjected('recvmsg'), 0);
      assert.ok(got);
      for (const fd of got.fds) track(fd);
      assert.equal(got.bytes, data.length);
      assert.equal(got.truncated, false);
      assert.equal(into.subarray(0, got.bytes).toString(), 'restarted message');
      assert.equal(got.fds.length, 1);
      assert.equal(n.fstat(got.fds[0]).ino, ino, 'the received fd is the memfd that was sent');
      assert.equal(n.socketRecv(z, into, 4), null, 'exactly one message was sent');
    });

    it('EAGAIN on send is "would block", not restarted: null, nothing sent, the next send goes through', () => {
      const { a, z, memfd } = pair();
      t.injectErrno('sendmsg', [EAGAIN, EAGAIN]);
      assert.equal(n.socketSend(a, Buffer.from('x'), [memfd]), null);
      // Not restarted: one call took one errno.
      assert.equal(t.pendingInjected('sendmsg'), 1);
      assert.equal(n.socketSend(a, Buffer.from('y'), [memfd]), null);
      assert.equal(t.pendingInjected('sendmsg'), 0);
      assert.equal(n.socketRecv(z, Buffer.alloc(8), 4), null, 'nothing was queued');

      assert.equal(n.socketSend(a, Buffer.from('z'), [memfd]), 1);
      const got = n.socketRecv(z, Buffer.alloc(8), 4);
      assert.ok(got);
      for (const fd of got.fds) track(fd);
      assert.equal(got.bytes, 1);
      assert.equal(got.fds.length, 1);
    });

    it('EAGAIN on receive is "nothing queued", not restarted: null, and the message stays queued', () => {
      const { a, z, memfd, ino } = pair();
      assert.equal(n.socketSend(a, Buffer.from('kept'), [memfd]), 4);
      t.injectErrno('recvmsg', [EAGAIN]);
      const into = Buffer.alloc(16);
      assert.equal(n.socketRecv(z, into, 4), null);
      assert.equal(t.pendingInjected('recvmsg'), 0);
      const got = n.socketRecv(z, into, 4);
      assert.ok(got);
      for (const fd of got.fds) track(fd);
      assert.equal(into.subarray(0, got.bytes).toString(), 'kept');
      assert.equal(got.fds.length, 1);
      assert.equal(n.fstat(got.fds[0]).ino, ino);
    });

    it('a non-restartable errno (EIO) is thrown with the SystemError shape; no fd leaks, the message is intact', () => {
      const { a, z, memfd } = pair();
      t.injectErrno('sendmsg', [EINTR, EIO]);
      const sent = thrown(() => n.socketSend(a, Buffer.from('io'), [memfd]));
      assertShape(sent, 'EIO', EIO, 'sendmsg');
      assert.equal(sent.fd, a);
      assert.equal(t.pendingInjected('sendmsg'), 0);
      assert.equal(n.socketRecv(z, Buffer.alloc(8), 4), null, 'the failed send sent nothing');

      assert.equal(n.socketSend(a, Buffer.from('io'), [memfd]), 2);
      t.injectErrno('recvmsg', [EIO]);
      const received = thrown(() => n.socketRecv(z, Buffer.alloc(8), 4));
      assertShape(received, 'EIO', EIO, 'recvmsg');
      assert.equal(received.fd, z);
      const got = n.socketRecv(z, Buffer.alloc(8), 4);
      assert.ok(got, 'the message is still queued after the failed receive');
      for (const fd of got.fds) track(fd);
      assert.equal(got.bytes, 2);
      assert.equal(got.fds.length, 1);
    });
  });

  describe('the seam itself', () => {
    it('validates its arguments and queues nothing on bad input', () => {
      assertCode(() => t.injectErrno('write' as 'ioctl', [EINTR]), 'ERR_INVALID_ARG_VALUE');
      assertCode(() => t.injectErrno(1 as unknown as 'ioctl', [EINTR]), 'ERR_INVALID_ARG_TYPE');
      assertCode(() => t.injectErrno('ioctl', EINTR as unknown as number[]), 'ERR_INVALID_ARG_TYPE');
      assertCode(() => t.injectErrno('ioctl', [EINTR, 0]), 'ERR_OUT_OF_RANGE');
      assertCode(() => t.injectErrno('ioctl', [-EINTR]), 'ERR_OUT_OF_RANGE');
      assertCode(() => t.injectErrno('ioctl', [4096]), 'ERR_OUT_OF_RANGE');
      assertCode(() => t.injectErrno('ioctl', new Array<number>(65).fill(EINTR)), 'ERR_OUT_OF_RANGE');
      assertCode(() => t.pendingInjected('poll' as 'ioctl'), 'ERR_INVALID_ARG_VALUE');
      assert.equal(t.pendingInjected('ioctl'), 0);
      t.injectErrno('ioctl', new Array<number>(64).fill(EINTR));
      assertCode(() => t.injectErrno('ioctl', [EINTR]), 'ERR_OUT_OF_RANGE');
      assert.equal(t.pendingInjected('ioctl'), 64);
      t.clearInjected();
      assert.ok(Object.isFrozen(t));
    });

    it('is per thread: a worker’s injected errnos never reach the main thread’s calls', async () => {
      const fd = track(n.memfdCreate('15-thread', n.constants.MFD_CLOEXEC));
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const b = require(workerData.binding).native();
        b._testing.injectErrno('ioctl', [${EIO}, ${EIO}]);
        parentPort.postMessage('injected');
        parentPort.once('message', () => {
          let code;
          try { b.dmaBufSync(workerData.fd, ${DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ}); } catch (e) { code = e.code; }
          parentPort.postMessage({ code, pending: b._testing.pendingInjected('ioctl') });
        });`;
      const w = new Worker(code, { eval: true, workerData: { binding: BINDING_JS, fd } });
      try {
        assert.equal((await once(w, 'message'))[0], 'injected');
        assert.equal(t.pendingInjected('ioctl'), 0);
        const err = thrown(() => n.dmaBufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
        assert.equal(err.code, 'ENOTTY', 'the main thread reached the kernel');
        w.postMessage('go');
        assert.deepEqual((await once(w, 'message'))[0], { code: 'EIO', pending: 1 });
      } finally {
        await w.terminate();
      }
    });
  });
});
