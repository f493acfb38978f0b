// Error shapes, as Node core makes them: every library code raised for real through the
// public API with the right class, name, code and message; kernel failures made by the
// addon and by the library's own imitations (the memory and memfd exporters) alike, from
// one errno table; the README's errors table in step with `codes`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import {
  Channel,
  ChannelServer,
  DmaBufError,
  DrmDevice,
  FrameConsumer,
  FrameProducer,
  PAGE_SIZE,
  SyncFile,
  V4l2Capture,
  allocate,
  capabilities,
  channelCodes,
  drmDevices,
  codes,
  fromFd,
  importNativePixmap,
  openVgem,
  type DmaBufErrorCode,
} from '../lib';
import { native } from '../lib/platform/binding';
import { DMA_BUF_SYNC_READ, hugePageSize } from '../lib/platform/uapi';
import { errnos, systemError } from '../lib/platform/errors';
import { errnoError } from '../lib/sharing/channel/socket';
import { shape, type Shape } from './error-shape';
import { checkFds, subjects, withCopyMode } from './helpers';

const TYPE_ERRORS: readonly string[] = [codes.INVALID_ARG_TYPE, codes.INVALID_ARG_VALUE, codes.ILLEGAL_CONSTRUCTOR];
const RANGE_ERRORS: readonly string[] = [codes.OUT_OF_RANGE];

/** Asserts the class, name, code and message of a library error. */
function assertShape(err: unknown, code: string, message: RegExp): void {
  assert.ok(err instanceof Error, `not an Error: ${String(err)}`);
  const e = err as NodeJS.ErrnoException;
  assert.equal(e.code, code, e.message);
  assert.ok(Object.prototype.propertyIsEnumerable.call(e, 'code'), 'code is an own enumerable property, as in Node');
  if (TYPE_ERRORS.includes(code)) {
    assert.ok(err instanceof TypeError, `${code} is a TypeError`);
    assert.equal(e.name, 'TypeError');
  } else if (RANGE_ERRORS.includes(code)) {
    assert.ok(err instanceof RangeError, `${code} is a RangeError`);
    assert.equal(e.name, 'RangeError');
  } else {
    assert.ok(err instanceof DmaBufError, `${code} is a DmaBufError`);
    assert.equal(e.name, 'DmaBufError');
    assert.ok(!(err instanceof TypeError) && !(err instanceof RangeError));
  }
  assert.match(e.message, message);
  // What an uncaught error prints first, as for Node's own: "TypeError [ERR_X]: …".
  assert.equal(String(e.stack).split('\n')[0], `${e.name} [${code}]: ${e.message.split('\n')[0]}`);
}

/** What test/fixtures/no-native.ts reports of an error. */
interface RemoteShape extends Shape {
  stackHead: string;
  isDmaBufError: boolean;
}

function assertRemoteShape(r: RemoteShape, code: string, message: RegExp): void {
  assert.equal(r.code, code);
  assert.ok(r.isDmaBufError, 'a DmaBufError');
  assert.equal(r.name, 'DmaBufError');
  assert.match(r.message, message);
  assert.equal(r.stackHead, `DmaBufError [${code}]: ${r.message}`);
}

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('did not throw');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A producer and consumer over a local channel pair (memfd frames); closes everything it made. */
async function pool(count = 2): Promise<{ producer: FrameProducer; consumer: FrameConsumer } & AsyncDisposable> {
  const [a, fd] = Channel.pair();
  const b = Channel.fromFd(fd, { takeOwnership: true });
  let producer: FrameProducer, consumer: FrameConsumer;
  try {
    [producer, consumer] = await Promise.all([FrameProducer.create(a, PAGE_SIZE, { count, exporter: 'memfd' }), FrameConsumer.attach(b)]);
  } catch (err) {
    a.close();
    b.close();
    throw err;
  }
  return {
    producer,
    consumer,
    async [Symbol.asyncDispose]() {
      producer.close();
      consumer.close();
      a.close();
      b.close();
    },
  };
}

interface Trigger {
  /** What the machine must have; the test is pending without it. */
  needs?: () => string | null;
  /** Throws or rejects with the code, through the public API. */
  run(): unknown;
  /** run() throws the error's shape as another process saw it (class, name, code, message, stack's first line). */
  remote?: boolean;
  message: RegExp;
}

const caps = capabilities();
const hasVgem = drmDevices().some((d) => d.driver === 'vgem');

/** One real trigger per code. A Record over every code, so a new code without one does not compile. */
const triggers: Record<DmaBufErrorCode, Trigger> = {
  [codes.CLOSED]: {
    run() {
      const buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      buf.close();
      return buf.mmap();
    },
    message: /^DmaBuf\.mmap: the dma-buf has been released$/,
  },
  [codes.NOT_ATTACHED]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      const att = buf.attach({ name: 'dev' });
      att.detach();
      return att.map('to-device');
    },
    message: /^map: the attachment of 'dev' is not attached/,
  },
  [codes.MAPPED]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      const att = buf.attach({ name: 'dev' });
      att.map('to-device');
      return att.detach();
    },
    message: /^detach: .*still has 1 mapping\(s\)/,
  },
  [codes.NO_CPU_ACCESS]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      return buf.kmap(0);
    },
    message: /^kmap: call beginCpuAccess\(\) first/,
  },
  [codes.NOT_SUPPORTED]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      return buf.fd;
    },
    message: /^fd: the 'memory' exporter has no file descriptor$/,
  },
  [codes.INCOMPATIBLE]: {
    run() {
      using buf = allocate(2 * PAGE_SIZE, { exporter: 'memory' });
      return buf.attach({ name: 'tiny', contiguous: true, maxSegmentSize: PAGE_SIZE });
    },
    message: /^device 'tiny': maxSegmentSize cannot be met/,
  },
  [codes.READ_ONLY]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
      // A read-only reopen, as a peer could send it: the buffer has no view.
      const ro = openSync(`/proc/self/fd/${buf.fd}`, 'r');
      try {
        using other = fromFd(ro);
        return other.mmap();
      } finally {
        closeSync(ro);
      }
    },
    message: /^mmap: /,
  },
  [codes.SHARED]: {
    needs: () => (caps.exporters.includes('udmabuf') ? null : 'udmabuf (the one exporter whose fd-backed storage migrates)'),
    run() {
      using buf = allocate(2 * PAGE_SIZE, { exporter: 'udmabuf', segments: 2 });
      using _other = fromFd(buf.fd);
      return buf.attach({ name: 'scanout', contiguous: true });
    },
    message: /^migrate: 1 other reference\(s\)/,
  },
  [codes.NOT_DMABUF]: {
    run() {
      const fd = openSync('/dev/null', 'r');
      try {
        return fromFd(fd);
      } finally {
        closeSync(fd);
      }
    },
    message: /^fromFd: fd \d+ is not a dma-buf or memfd \(it is \/dev\/null\)$/,
  },
  [codes.UNAVAILABLE]: {
    needs: () => (caps.heaps.length === 0 || !hasVgem ? null : 'a machine without DMA heaps or without vgem'),
    run: () => (caps.heaps.length === 0 ? allocate(PAGE_SIZE, { exporter: 'dma-heap' }) : openVgem()),
    message: /^(dma-heap: no DMA heap under \/dev\/dma_heap|no vgem DRM device)/,
  },
  [codes.NO_EXTERNAL_BUFFERS]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
      return withCopyMode(() => buf.mmap());
    },
    message: /^mmap: copy mode is on \((setCopyMode\(true\)|DMABUF_COPY_MODE=1)\): .*use read\(\)\/write\(\)/,
  },
  [codes.NOT_LINEAR]: {
    needs: () => (caps.exporters.includes('udmabuf') ? null : 'udmabuf (a dma-buf to stand for a GPU texture)'),
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'udmabuf' });
      // I915_FORMAT_MOD_X_TILED, as an Intel GPU would hand it out
      using pixmap = importNativePixmap(
        {
          planes: [{ fd: buf.fd, stride: 64, offset: 0, size: PAGE_SIZE }],
          modifier: String((1n << 56n) | 1n),
          supportsZeroCopyWebGpuImport: false,
        },
        { pixelFormat: 'bgra', codedSize: { width: 16, height: 16 } },
      );
      return pixmap.planes[0].read(0, new Uint8Array(4));
    },
    message:
      /^read: this pixmap's modifier is 0x0100000000000001 \(INTEL\), not DRM_FORMAT_MOD_LINEAR \(0\): .*scrambled\. Hand it to a GPU instead/,
  },
  [codes.NO_NATIVE]: {
    // In a child process where the addon cannot load: what it threw there, as plain data.
    run() {
      throw noNative().noNative;
    },
    remote: true,
    message: /^the native addon could not be loaded \(blocked by test\/fixtures\/no-native\); .*run "npm rebuild dmabuf"$/,
  },
  [codes.POOL_STATE]: {
    async run() {
      await using p = await pool(2);
      const frame = await p.producer.acquire();
      await p.producer.submit(frame);
      return await p.producer.submit(frame);
    },
    message: /^submit: frame 0 \(seq 0\) is not held by the producer/,
  },
  [codes.NOT_SYNC_FILE]: {
    run() {
      using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
      return SyncFile.fromFd(buf.fd);
    },
    message: /^fd \d+ is not a sync_file \(ENOTTY\)$/,
  },
  [codes.TIMEOUT]: {
    async run() {
      await using p = await pool(2);
      await p.producer.acquire();
      await p.producer.acquire();
      return await p.producer.acquire({ timeout: 10 });
    },
    message: /^acquire: no frame came back within 10 ms/,
  },
  [codes.UNSAFE_TO_SHARE]: {
    needs: () => (hugePageSize() === null ? 'hugetlb pages (a hugetlb memfd)' : null),
    async run() {
      using buf = allocate(hugePageSize()!, { exporter: 'memfd', hugetlb: true });
      const [a, fd] = Channel.pair();
      try {
        return await a.send([buf]);
      } finally {
        a.close();
        native().close(fd);
      }
    },
    message: /^send: buffers\[0\].*hugetlb/s,
  },
  [codes.CHANNEL_CLOSED]: {
    async run() {
      const [a, fd] = Channel.pair();
      native().close(fd);
      a.close();
      return await a.send([]);
    },
    message: /^send: the channel is closed$/,
  },
  [codes.QUEUE_FULL]: {
    async run() {
      const [a, fd] = Channel.pair({ highWaterMark: 0 });
      try {
        for (let i = 0; i < 1000; i++) await a.send([], 'q'.repeat(60000));
      } finally {
        a.close();
        native().close(fd);
      }
    },
    message: /^send: 0 message\(s\) already wait for room in the socket \(highWaterMark 0\); await earlier sends or wait for 'drain'$/,
  },
  [codes.BAD_MESSAGE]: {
    async run() {
      const [ch, fd] = Channel.pair();
      try {
        const got = new Promise((_, reject) => ch.on('messageerror', reject));
        native().socketSend(fd, new TextEncoder().encode('hello'), []); // a foreign peer
        return await Promise.race([got, sleep(5000)]);
      } finally {
        ch.close();
        native().close(fd);
      }
    },
    message: /^receive: a 5-byte message without a channel header arrived; the message was dropped and its fds closed$/,
  },
  [codes.INVALID_ARG_TYPE]: {
    run: () => allocate('4096' as unknown as number),
    message: /^The "size" argument must be of type number\. Received type string \('4096'\)$/,
  },
  [codes.INVALID_ARG_VALUE]: {
    run: () => allocate(PAGE_SIZE, { exporter: 'nope' }),
    message: /^The property 'options\.exporter' must be 'auto', .*\. Received 'nope'$/,
  },
  [codes.OUT_OF_RANGE]: {
    run: () => allocate(PAGE_SIZE + 1),
    message: new RegExp(
      `^The value of "size" is out of range\\. It must be a multiple of the page size \\(${PAGE_SIZE}\\).*\\. Received ${PAGE_SIZE + 1}$`,
    ),
  },
  [codes.ILLEGAL_CONSTRUCTOR]: {
    run: () => new (Channel as unknown as new () => Channel)(),
    message: /^Illegal constructor: use Channel\.pair\(\), Channel\.fromFd\(\), connect\(\) or listen\(\)$/,
  },
};

let noNativeResult: Record<string, unknown> | undefined;
/** What the library's errors look like in a process where the addon cannot load. */
function noNative(): Record<string, unknown> {
  if (noNativeResult) return noNativeResult;
  const r = spawnSync(process.execPath, [join(__dirname, 'fixtures', 'no-native.js')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return (noNativeResult = JSON.parse(r.stdout) as Record<string, unknown>);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('did not throw');
}

/** Asserts a SystemError shape: Error.prototype, code/errno/syscall, message "CODE: description, syscall…". */
function assertSystemError(err: unknown, code: string): asserts err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException;
  assert.equal(Object.getPrototypeOf(e), Error.prototype);
  assert.equal(e.name, 'Error');
  assert.equal(e.code, code);
  assert.ok(Number.isInteger(e.errno) && e.errno! < 0, `errno ${e.errno}`);
  assert.equal(typeof e.syscall, 'string');
  assert.deepEqual(Object.keys(e).slice(0, 3), ['errno', 'code', 'syscall'], 'properties in the order the addon sets them');
  const entry = native().errnos.find((x) => x.code === code)!;
  assert.equal(e.errno, entry.errno);
  assert.ok(e.message.startsWith(`${code}: ${entry.description}, ${e.syscall}`), e.message);
}

describe('05 errors', () => {
  checkFds();

  describe('every code in codes, raised through the public API', () => {
    it('every code has a trigger here, and codes holds nothing else', () => {
      assert.deepEqual(Object.keys(triggers).sort(), Object.values(codes).sort());
      assert.equal(new Set(Object.values(codes)).size, Object.keys(codes).length, 'no code twice');
    });

    for (const [key, code] of Object.entries(codes)) {
      const t = triggers[code];
      const missing = t.needs?.();
      it(`${key}: ${code}${missing ? ` (pending: needs ${missing})` : ''}`, async function () {
        if (missing) this.skip();
        const err = await caught(() => t.run());
        if (t.remote) assertRemoteShape(err as RemoteShape, code, t.message);
        else assertShape(err, code, t.message);
      });
    }

    it('ERR_DMABUF_CLOSED names the kind of object and the operation', async () => {
      const closed: Array<[() => unknown, RegExp]> = [];
      const buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      const att = buf.attach({ name: 'dev' });
      buf.close();
      closed.push([() => buf.beginCpuAccess('read'), /^DmaBuf\.beginCpuAccess: the dma-buf has been released$/]);
      closed.push([() => att.map('to-device'), /^Attachment\.map: its dma-buf has been released$/]);
      const sync = new SyncFile(openSync('/dev/null', 'r')); // a closed SyncFile never looks at its fd again
      sync.close();
      closed.push([() => sync.wait(), /^SyncFile\.wait: the sync_file is closed$/]);
      closed.push([() => sync.info(), /^SyncFile\.info: the sync_file is closed$/]);
      closed.push([() => sync.fd, /^SyncFile\.fd: the sync_file is closed$/]);
      const cap = new V4l2Capture('/dev/null');
      cap.close();
      closed.push([() => cap.dequeue(), /^V4l2Capture\.dequeue: the capture is closed$/]);
      closed.push([() => cap.format(), /^V4l2Capture\.format: the capture is closed$/]);
      const drm = new DrmDevice('/dev/null', 'none');
      drm.close();
      closed.push([() => drm.createDumb(1, 1, 32), /^DrmDevice\.createDumb: the device is closed$/]);
      const p = await pool();
      p.producer.close();
      p.consumer.close();
      closed.push([() => p.producer.acquire(), /^FrameProducer\.acquire: the producer is closed$/]);
      closed.push([() => p.consumer.next(), /^FrameConsumer\.next: the consumer is closed$/]);
      try {
        for (const [fn, message] of closed) assertShape(await caught(fn), codes.CLOSED, message);
      } finally {
        await p[Symbol.asyncDispose]();
      }
    });

    it('a message whose buffer cannot be imported: ERR_DMABUF_BAD_MESSAGE, the import error as its cause', async () => {
      const [ch, fd] = Channel.pair();
      const devNull = openSync('/dev/null', 'r');
      try {
        const got = new Promise<Error>((resolve) => ch.on('messageerror', resolve));
        const header = new Uint8Array([0x44, 0x4d, 0x42, 0x31, 1, 0, 0, 0]); // "DMB1", one buffer, no payload
        native().socketSend(fd, header, [devNull]);
        const err = await got;
        assertShape(
          err,
          codes.BAD_MESSAGE,
          /^receive: buffer 0 of 1 cannot be imported \(fromFd: fd \d+ is not a dma-buf .*\/dev\/null\)\); the message was dropped/,
        );
        assertShape(err.cause, codes.NOT_DMABUF, /^fromFd: /);
      } finally {
        ch.close();
        native().close(fd);
        closeSync(devNull);
      }
    });

    it('ChannelServer cannot be constructed either', () => {
      assertShape(
        thrown(() => new (ChannelServer as unknown as new () => ChannelServer)()),
        codes.ILLEGAL_CONSTRUCTOR,
        /^Illegal constructor: use listen\(\)$/,
      );
    });

    it('native argument errors have the same classes and wording', () => {
      const b = native();
      const type = thrown(() => b.close('3' as unknown as number)) as NodeJS.ErrnoException;
      assert.ok(type instanceof TypeError);
      assert.equal(type.code, codes.INVALID_ARG_TYPE);
      assert.equal(type.message, 'The "fd" argument must be of type number. Received type string (\'3\')');
      const range = thrown(() => b.close(-1)) as NodeJS.ErrnoException;
      assert.ok(range instanceof RangeError);
      assert.equal(range.code, codes.OUT_OF_RANGE);
      assert.equal(range.message, 'The value of "fd" is out of range. It must be >= 0 && <= 2147483647. Received -1');
      assert.match((thrown(() => b.close(2 ** 40)) as Error).message, /Received 1_099_511_627_776$/);
      assert.match((thrown(() => b.close(1.5)) as Error).message, /It must be an integer\. Received 1\.5$/);
    });

    it('channelCodes, deprecated, is the same codes', () => {
      assert.deepEqual(channelCodes, {
        CHANNEL_CLOSED: codes.CHANNEL_CLOSED,
        QUEUE_FULL: codes.QUEUE_FULL,
        BAD_MESSAGE: codes.BAD_MESSAGE,
      });
    });
  });

  describe('kernel failures: one errno table, one shape', () => {
    it('the addon and the library make the same error for the same failure', () => {
      using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
      // ENOTTY from the kernel (DMA_BUF_IOCTL_SYNC on a memfd), and the same made in JS.
      const fromKernel = thrown(() => native().dmaBufSync(buf.fd, DMA_BUF_SYNC_READ));
      const fromJs = systemError('ENOTTY', { syscall: 'ioctl', ioctl: 'DMA_BUF_IOCTL_SYNC', fd: buf.fd });
      assertSystemError(fromKernel, 'ENOTTY');
      assert.deepEqual(shape(fromJs), shape(fromKernel));
      assert.deepEqual(Object.getOwnPropertyDescriptors(fromJs).errno, Object.getOwnPropertyDescriptors(fromKernel).errno);
      assert.equal(fromKernel.message, `ENOTTY: inappropriate ioctl for device, ioctl(DMA_BUF_IOCTL_SYNC)`);
      assert.equal(getSystemErrorName(fromKernel.errno!), 'ENOTTY');
    });

    it('EINVAL: a real native call and the memory exporter’s kernel rule agree in shape', () => {
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      const fromKernel = thrown(() => native().memfdCreate('x', 0xffffffff)); // unknown flags
      const fromRule = thrown(() => buf.endCpuAccess('read')); // DMA_BUF_IOCTL_SYNC END without a START
      assertSystemError(fromKernel, 'EINVAL');
      assertSystemError(fromRule, 'EINVAL');
      assert.equal(fromKernel.message, 'EINVAL: invalid argument, memfd_create');
      assert.equal(
        fromRule.message,
        "EINVAL: invalid argument, ioctl(DMA_BUF_IOCTL_SYNC) (endCpuAccess('read') without a matching beginCpuAccess('read'))",
      );
      const { keys: k1, message: _m1, syscall: _s1, ...a } = shape(fromKernel);
      const { keys: k2, message: _m2, syscall: _s2, ...b } = shape(fromRule);
      assert.deepEqual(a, b);
      assert.deepEqual(k1, ['errno', 'code', 'syscall']);
      assert.deepEqual(k2, ['errno', 'code', 'syscall', 'ioctl']);
      for (const e of [fromKernel, fromRule]) assert.equal(getSystemErrorName(e.errno!), e.code);
    });

    it('EBADFD (77, udmabuf’s "not a memfd"): errno -77, though libuv has no name for it', function () {
      if (!subjects().some((s) => s.exporter === 'memfd')) this.skip();
      const devNull = openSync('/dev/null', 'r');
      try {
        const err = thrown(() => allocate(PAGE_SIZE, { exporter: 'memfd', memfd: devNull }));
        assertSystemError(err, 'EBADFD');
        assert.equal(err.errno, -77);
        assert.match(err.message, /^EBADFD: file descriptor in bad state, fcntl \(fd \d+ is not a memfd \(it is \/dev\/null\)\)$/);
        // The one documented exception to getSystemErrorName(err.errno) === err.code:
        // libuv knows no EBADFD, so Node answers with its generic text.
        assert.equal(getSystemErrorName(-77), 'Unknown system error -77');
      } finally {
        closeSync(devNull);
      }
    });

    it('every entry of the native table: a whole negative errno, and Node agrees wherever libuv names it', () => {
      const table = native().errnos;
      assert.ok(table.length > 100);
      assert.ok(Object.isFrozen(table));
      assert.equal(new Set(table.map((e) => e.errno)).size, table.length, 'one name per errno');
      assert.equal(new Set(table.map((e) => e.code)).size, table.length, 'one errno per name');
      const nodeMap = getSystemErrorMap();
      const unnamed: string[] = [];
      for (const entry of table) {
        for (const err of [systemError(entry.code, { syscall: 'x' }), systemError(entry.errno, { syscall: 'x' })]) {
          assert.ok(Number.isInteger(err.errno) && err.errno < 0, `${entry.code}: errno ${err.errno}`);
          assert.equal(err.errno, entry.errno);
          assert.equal(err.code, entry.code);
          assert.equal(err.message, `${entry.code}: ${entry.description}, x`);
        }
        const known = nodeMap.get(entry.errno);
        if (known) {
          assert.deepEqual(known, [entry.code, entry.description], 'the same name and words as Node');
          assert.equal(getSystemErrorName(entry.errno), entry.code);
        } else {
          assert.equal(getSystemErrorName(entry.errno), `Unknown system error ${entry.errno}`);
          unnamed.push(entry.code);
        }
      }
      // Errnos libuv has no name for keep Linux's (getSystemErrorName answers "Unknown system error -N").
      assert.ok(unnamed.includes('EBADFD'), unnamed.join(' '));
    });

    it('an errno from a socket (ESHUTDOWN, -108) keeps its number', () => {
      const err = errnoError(-108, 'getsockopt', 5);
      assertSystemError(err, 'ESHUTDOWN');
      assert.equal(err.errno, -108);
      assert.equal(err.message, 'ESHUTDOWN: cannot send after transport endpoint shutdown, getsockopt');
      assert.equal(getSystemErrorName(err.errno!), 'ESHUTDOWN');
    });

    it('where the addon cannot load, Node’s errno map (plus EBADFD) gives the same errors as the addon’s table', () => {
      const r = noNative() as {
        einval: Shape;
        ebadfd: Shape;
        table: Array<{ errno: number; code: string; description: string }>;
      };
      using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
      assert.deepEqual(r.einval, shape(thrown(() => buf.endCpuAccess('read'))));
      assert.deepEqual(r.ebadfd, shape(systemError('EBADFD', { syscall: 'ioctl', ioctl: 'UDMABUF_CREATE', fd: 3 })));
      const mine = new Map(errnos().map((e) => [e.code, e]));
      let same = 0;
      for (const e of r.table) {
        const m = mine.get(e.code);
        if (m) assert.deepEqual(e, m, `${e.code}: the fallback and the addon agree`);
        if (m) same++;
      }
      assert.ok(same > 60, `${same} errnos in both`);
      assert.deepEqual(
        r.table.find((e) => e.code === 'EBADFD'),
        { errno: -77, code: 'EBADFD', description: 'file descriptor in bad state' },
      );
    });
  });

  describe('README', () => {
    it('the errors table lists exactly the codes the library exports, and only errnos it can name', () => {
      const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
      const section = readme.slice(readme.indexOf('\n## Errors\n'));
      const rows = section
        .slice(0, section.indexOf('\n## ', 1))
        .split('\n')
        .filter((l) => l.startsWith('| `'));
      assert.ok(rows.length > 10, 'the table was found');
      const listed = new Set<string>();
      const errnoNames = new Set(errnos().map((e) => e.code));
      for (const row of rows) {
        const first = row.split('|')[1];
        for (const [, name] of first.matchAll(/`([A-Z0-9_]+)`/g)) {
          if (name.startsWith('ERR_')) listed.add(name);
          else if (/^E[A-Z0-9]+$/.test(name)) assert.ok(errnoNames.has(name), `${name} in the README is no errno`);
        }
      }
      assert.deepEqual([...listed].sort(), Object.values(codes).sort());
    });
  });
});
