// Passing buffers between processes: channels over AF_UNIX SOCK_SEQPACKET sockets
// (SCM_RIGHTS). Round trips with child processes for every exporter with an fd, listen /
// connect and peer credentials, and the bad input of issue 4: a closed buffer, the peer
// vanishing mid-stream, too many fds, a non-dma-buf fd arriving, a truncated control
// message, a slow consumer, a payload too large. Every test leaves the fd count as it found it.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, constants as fsc, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel, PAGE_SIZE, allocate, connect, listen, type ChannelMessage, type DmaBuf } from '../lib';
import { native } from '../lib/platform/binding';
import { assertCode, assertRejects, bytesOf, checkFds, count, fillBytes, hasViews, nobodyCopy, openFds, subjects } from './helpers';
import { PENDING, loopTurns, probe, turnsUntil } from './loop';

const CHILD = join(__dirname, 'fixtures', 'channel-child.js');
const SIZE = 64 * PAGE_SIZE;
const pattern = (seed: number, i: number) => (i * 31 + seed) & 0xff;
let seq = 0;
const sockPath = () => join(tmpdir(), `dmabuf-45-${process.pid}-${seq++}.sock`);

interface Child {
  proc: ChildProcess;
  /** The first line it prints: { ready, pid, peer }. */
  ready: Promise<{ pid: number; peer: { pid: number; uid: number; gid: number } }>;
  /** Exit status and everything it printed. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves once the child has printed this line. */
  printed(line: string): Promise<void>;
}

function startChild(args: string[], fd?: number): Child {
  const proc = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore'] });
  let stdout = '';
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const ready = new Promise<{ pid: number; peer: { pid: number; uid: number; gid: number } }>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line.startsWith('{')) resolve(JSON.parse(line));
    });
    proc.on('exit', () => reject(new Error(`child exited before it was ready: ${stderr}`)));
  });
  ready.catch(() => {});
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const printed = (line: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!stdout.split('\n').includes(line)) return false;
        proc.stdout!.off('data', check);
        resolve();
        return true;
      };
      if (check()) return;
      proc.stdout!.on('data', check);
      done.then(({ stderr }) => reject(new Error(`child ended without printing '${line}': ${stderr}`)));
    });
  return { proc, ready, done, printed };
}

/** A child at the other end of a new pair; the parent's copy of the child's fd is closed. */
function pairWithChild(options?: { highWaterMark?: number }): { ch: Channel; child: Child } {
  const [ch, fd] = Channel.pair(options);
  try {
    return { ch, child: startChild(['pair'], fd) };
  } finally {
    closeSync(fd);
  }
}

async function next(ch: Channel, ms = 60000): Promise<ChannelMessage> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
  });
  try {
    const m = await Promise.race([ch.receive(), timeout]);
    assert.ok(m, 'the channel closed instead of delivering a message');
    return m;
  } finally {
    clearTimeout(timer);
  }
}

function closeAllBuffers(m: ChannelMessage | null): void {
  for (const b of m?.buffers ?? []) b.close();
}

/** Both ends of a pair in this process, closed on dispose. */
function localPair(): { a: Channel; b: Channel } & Disposable {
  const [a, fd] = Channel.pair();
  const b = Channel.fromFd(fd, { takeOwnership: true });
  return { a, b, [Symbol.dispose]: () => (a.close(), b.close()) };
}

/** A channel message as it travels: the 8-byte header ("DMB1", count, flags) and the payload's JSON. */
function frame(count: number, payload?: unknown): Uint8Array {
  const body = payload === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(payload));
  const data = new Uint8Array(8 + body.length);
  const dv = new DataView(data.buffer);
  dv.setUint32(0, 0x31424d44, true);
  dv.setUint16(4, count, true);
  dv.setUint16(6, payload === undefined ? 0 : 1, true);
  data.set(body, 8);
  return data;
}

/** A raw socketpair: [a channel over one end, the other end's fd for native sends]. */
function channelAndRaw(options?: { highWaterMark?: number }): [Channel, number] {
  const out = new Int32Array(2);
  native().socketPair(out);
  return [Channel.fromFd(out[0], { ...options, takeOwnership: true }), out[1]];
}

function checkFill(view: Uint8Array, seed: number): void {
  assert.equal(view[0], pattern(seed, 0), 'first byte');
  assert.equal(view[view.length - 1], pattern(seed, view.length - 1), 'last byte');
  for (let p = 0; p < view.length; p += PAGE_SIZE) {
    const i = p + (((p / PAGE_SIZE) * 97) % PAGE_SIZE);
    if (view[i] !== pattern(seed, i)) assert.fail(`byte ${i}: ${view[i]} !== ${pattern(seed, i)}`);
  }
}

describe('45 channel', () => {
  checkFds();

  for (const s of subjects().filter((x) => x.fd)) {
    describe(`with a child process: ${s.label}`, () => {
      afterEach(() => count(s.label));

      it('pair: the child receives the buffer, writes a pattern inside cpuAccess(write) and replies; the parent sees it in place', async function () {
        this.timeout(120000);
        using buf = s.make(SIZE);
        const view = hasViews(buf) ? buf.mmap() : null;
        const { ch, child } = pairWithChild();
        try {
          const hello = await child.ready;
          assert.equal(hello.peer.pid, process.pid, 'for a pair, SO_PEERCRED names the process that made it');
          await ch.send(buf, { op: 'write', seed: 11 });
          const reply = await next(ch);
          assert.deepEqual(reply.buffers, []);
          const p = reply.payload as { ok: boolean; pid: number; seen: Array<{ exporter: string; size: number; inode: number }> };
          assert.equal(p.ok, true);
          assert.equal(p.pid, child.proc.pid);
          assert.deepEqual(p.seen, [{ exporter: s.dmabuf ? 'import' : 'memfd', size: SIZE, inode: buf.inode }]);
          // Zero-copy: the view mapped before sending shows what the child wrote (copy mode: read() sees it).
          if (view) assert.equal(buf.mmap(), view);
          checkFill(view ?? bytesOf(buf), 11);
          await ch.send([], { op: 'exit' });
          const [end] = await Promise.all([child.done, once(ch, 'close')]);
          assert.equal(end.code, 0, end.stderr);
          assert.match(end.stdout, /^closed$/m);
          assert.equal(ch.closed, true);
        } finally {
          ch.close();
          child.proc.kill();
        }
      });

      it('several buffers and a payload in one message, echoed back: the same files, sizes from the fds', async function () {
        this.timeout(120000);
        const bufs = [s.make(PAGE_SIZE), s.make(4 * PAGE_SIZE), s.make(16 * PAGE_SIZE)];
        const { ch, child } = pairWithChild();
        let echo: ChannelMessage | null = null;
        try {
          await child.ready;
          const payload = { op: 'echo', frame: 42, planes: [{ stride: 4096 }, { stride: 2048 }], text: 'héllo' };
          await ch.send(bufs, payload);
          const inodes = bufs.map((b) => b.inode);
          for (const b of bufs) b.close(); // the sender may close at once; the message holds the files
          echo = await next(ch);
          assert.deepEqual(echo.payload, {
            ...payload,
            echoed: true,
            seen: echo.buffers.map((b, i) => ({ exporter: s.dmabuf ? 'import' : 'memfd', size: b.size, inode: inodes[i] })),
          });
          assert.deepEqual(
            echo.buffers.map((b) => b.size),
            [PAGE_SIZE, 4 * PAGE_SIZE, 16 * PAGE_SIZE],
          );
          assert.deepEqual(
            echo.buffers.map((b) => b.inode),
            inodes,
          );
          assert.deepEqual(
            echo.buffers.map((b) => b.exporter),
            bufs.map(() => (s.dmabuf ? 'import' : 'memfd')),
          );
          await ch.send([], { op: 'exit' });
          assert.equal((await child.done).code, 0);
        } finally {
          closeAllBuffers(echo);
          for (const b of bufs) b.close();
          ch.close();
          child.proc.kill();
        }
      });
    });
  }

  describe('in one process', () => {
    it("pair: send, receive, the sender closes its buffer at once and the receiver's stays valid", async () => {
      using ends = localPair();
      const { a, b } = ends;
      const buf = allocate(4 * PAGE_SIZE, { exporter: 'memfd' });
      fillBytes(buf, () => 0x5a);
      const sent = a.send(buf, { n: 1 });
      buf.close();
      await sent;
      const m = await next(b);
      assert.equal(m.buffers.length, 1);
      assert.equal(m.buffers[0].size, 4 * PAGE_SIZE);
      assert.equal(bytesOf(m.buffers[0], 4 * PAGE_SIZE - 1)[0], 0x5a);
      assert.deepEqual(m.payload, { n: 1 });
      a.close();
      b.close();
      assert.equal(bytesOf(m.buffers[0], 0, 1)[0], 0x5a, 'a delivered buffer outlives both ends');
      closeAllBuffers(m);
    });

    it("messages arrive in order through receive(), async iteration and 'message' events; no payload is undefined", async () => {
      using ends = localPair();
      const { a, b } = ends;
      for (let i = 0; i < 5; i++) await a.send([], i);
      await a.send();
      assert.equal((await next(b)).payload, 0);
      const seen: unknown[] = [];
      for await (const m of b) {
        seen.push(m.payload);
        if (seen.length === 2) break;
      }
      assert.deepEqual(seen, [1, 2]);
      const events: unknown[] = [];
      b.on('message', (m: ChannelMessage) => events.push(m.payload));
      await turnsUntil(() => events.length === 3, 'three events');
      assert.deepEqual(events, [3, 4, undefined]);
    });

    it("both ends see 'close'; receive() then gives null and send() rejects with ERR_DMABUF_CHANNEL_CLOSED", async () => {
      const [a, fd] = Channel.pair();
      const b = Channel.fromFd(fd, { takeOwnership: true });
      const waiting = b.receive();
      const closes = Promise.all([once(a, 'close'), once(b, 'close')]);
      a.close();
      a.close();
      await closes;
      assert.equal(await waiting, null);
      assert.equal(b.closed, true);
      await assertRejects(a.send([]), 'ERR_DMABUF_CHANNEL_CLOSED');
      await assertRejects(b.send([]), 'ERR_DMABUF_CHANNEL_CLOSED');
      b.close();
    });

    it('Channel.fromFd dups unless told to take ownership, and refuses what is not a SOCK_SEQPACKET socket', () => {
      const out = new Int32Array(2);
      native().socketPair(out);
      const c = Channel.fromFd(out[0]);
      c.close();
      native().close(out[0]); // still ours
      native().close(out[1]);
      using mem = allocate(PAGE_SIZE, { exporter: 'memfd' });
      assert.throws(() => Channel.fromFd(mem.fd), { code: 'ENOTSOCK', errno: -88, syscall: 'getsockopt' });
      assert.equal(mem.info().size, PAGE_SIZE, 'the fd given stays open');
      assertCode(() => Channel.fromFd(-1), 'ERR_OUT_OF_RANGE');
      assertCode(() => new (Channel as unknown as new (...a: unknown[]) => Channel)(3, {}), 'ERR_ILLEGAL_CONSTRUCTOR');
    });

    it('listen / connect: the server sees the connection with its peer credentials; both directions carry buffers', async () => {
      const path = sockPath();
      const server = listen(path);
      try {
        const accepted = once(server, 'connection') as Promise<[Channel]>;
        const client = await connect(path);
        const [conn] = await accepted;
        try {
          assert.deepEqual(conn.peer, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
          assert.equal(client.peer.pid, process.pid);
          using buf = allocate(2 * PAGE_SIZE, { exporter: 'memfd' });
          await client.send([buf, buf], { to: 'server' });
          const m = await next(conn);
          assert.deepEqual(m.payload, { to: 'server' });
          assert.deepEqual(
            m.buffers.map((x) => x.inode),
            [buf.inode, buf.inode],
          );
          await conn.send(m.buffers, { to: 'client' });
          closeAllBuffers(m);
          const back = await next(client);
          assert.equal(back.buffers[0].inode, buf.inode);
          closeAllBuffers(back);
        } finally {
          client.close();
          conn.close();
        }
      } finally {
        server.close();
      }
      assert.equal(existsSync(path), false, 'close() removes the socket file');
    });

    it('listen: a stale socket file is replaced, a live one or any other file gives EADDRINUSE and is left alone', async () => {
      const path = sockPath();
      const stale = native().socketListen(path, 1, 0o600);
      native().close(stale); // the file stays, nobody listens
      const server = listen(path);
      try {
        assert.throws(() => listen(path), { code: 'EADDRINUSE', syscall: 'listen', path });
      } finally {
        server.close();
      }
      writeFileSync(path, 'not a socket');
      try {
        assert.throws(() => listen(path), { code: 'EADDRINUSE' });
        assert.equal(statSync(path).size, 12);
      } finally {
        rmSync(path);
      }
      await assert.rejects(connect(path), { code: 'ENOENT', syscall: 'connect' });
      const stale2 = native().socketListen(path, 1, 0o600);
      native().close(stale2);
      await assert.rejects(connect(path), { code: 'ECONNREFUSED' });
      rmSync(path);
      assertCode(() => listen(''), 'EINVAL');
      assertCode(() => listen(join(tmpdir(), 'x'.repeat(120))), 'ENAMETOOLONG');
    });

    it("an accept filter decides from SO_PEERCRED; a refused peer is closed at once and reported as 'refused'", async () => {
      const path = sockPath();
      const server = listen(path, { accept: (peer) => peer.uid === 4242 });
      try {
        server.on('connection', () => assert.fail('the filter refused everyone'));
        const refused = once(server, 'refused');
        const client = await connect(path);
        const [peer] = await refused;
        assert.equal(peer.pid, process.pid);
        await once(client, 'close');
        assert.equal(await client.receive(), null);
      } finally {
        server.close();
      }
    });
  });

  describe('who may connect', () => {
    it('the socket file is 0600 by default (whatever the umask), or the mode asked for, set before anyone can connect', async () => {
      const old = process.umask(0o022);
      try {
        for (const [mode, want] of [
          [undefined, 0o600],
          [0o660, 0o660],
          [0o666, 0o666], // wider than the umask allows: set after bind, before listen(2)
          [0o700, 0o700],
        ] as const) {
          const path = sockPath();
          const server = listen(path, mode === undefined ? {} : { mode });
          try {
            assert.equal(statSync(path).mode & 0o7777, want, `mode ${mode?.toString(8)}`);
            assert.ok(statSync(path).isSocket());
          } finally {
            server.close();
          }
        }
        process.umask(0o000);
        const path = sockPath();
        const server = listen(path);
        assert.equal(statSync(path).mode & 0o7777, 0o600, 'umask 000 does not open it up');
        server.close();
      } finally {
        process.umask(old);
      }
      for (const mode of [-1, 0o1000, 0.5]) assertCode(() => listen(sockPath(), { mode }), 'ERR_OUT_OF_RANGE', /options\.mode/);
      assertCode(() => listen(sockPath(), { mode: '600' as unknown as number }), 'ERR_INVALID_ARG_TYPE', /options\.mode/);
    });

    it("without an accept filter, a peer of this uid is accepted; a filter that throws refuses and reports 'error'", async () => {
      const path = sockPath();
      const server = listen(path, { mode: 0o666 });
      try {
        const accepted = once(server, 'connection');
        const client = await connect(path);
        const [ch] = (await accepted) as [Channel];
        assert.equal(ch.peer.uid, process.geteuid!());
        ch.close();
        client.close();
      } finally {
        server.close();
      }
      const strict = listen(path, {
        accept: () => {
          throw new Error('filter broke');
        },
      });
      try {
        strict.on('connection', () => assert.fail('a throwing filter let a peer in'));
        const failed = once(strict, 'error');
        const client = await connect(path);
        const [err] = await failed;
        assert.match(err.message, /filter broke/);
        assert.equal(await client.receive(), null, 'the peer sees the end');
      } finally {
        strict.close();
      }
    });

    describe('a peer running as another user (uid 65534), in a child', () => {
      let dir = '';
      let node = '';
      let lib = '';
      before(function () {
        if (process.getuid?.() !== 0) this.skip(); // only root can start a child as another user
        dir = mkdtempSync(join(tmpdir(), 'dmabuf-45-nobody-'));
        chmodSync(dir, 0o755);
        ({ node, lib } = nobodyCopy(dir));
      });
      after(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      /** Runs connect(path) as nobody; resolves with what the child saw. */
      async function connectAsNobody(path: string): Promise<{ code?: string; payload?: unknown; end?: boolean }> {
        const script = `
          const { connect } = require(${JSON.stringify(lib)});
          connect(${JSON.stringify(path)}, { timeout: 5000 }).then(async (ch) => {
            const m = await ch.receive();
            console.log(JSON.stringify(m ? { payload: m.payload } : { end: true }));
            ch.close();
          }, (e) => console.log(JSON.stringify({ code: e.code })));`;
        const proc = spawn(node, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout!.on('data', (d) => (out += d));
        proc.stderr!.on('data', (d) => (err += d));
        const [status] = await once(proc, 'close');
        assert.equal(status, 0, `child failed: ${err}`);
        return JSON.parse(out.trim().split('\n').pop()!);
      }

      it('the default 0600 socket file keeps it out: connect → EACCES', async function () {
        this.timeout(30000);
        const path = join(dir, 'default.sock');
        const server = listen(path);
        try {
          server.on('connection', () => assert.fail('nobody got in'));
          assert.deepEqual(await connectAsNobody(path), { code: 'EACCES' });
        } finally {
          server.close();
        }
      });

      it("a wider mode lets it connect, and the default filter (same uid only) refuses it: 'refused', the peer sees the end", async function () {
        this.timeout(30000);
        const path = join(dir, 'open.sock');
        const server = listen(path, { mode: 0o666 });
        try {
          server.on('connection', () => assert.fail('the default filter let uid 65534 in'));
          const refused = once(server, 'refused');
          const [seen, [peer]] = await Promise.all([connectAsNobody(path), refused]);
          assert.deepEqual(seen, { end: true });
          assert.equal(peer.uid, 65534);
          assert.equal(peer.gid, 65534);
        } finally {
          server.close();
        }
      });

      it('an accept filter says otherwise: the other user is let in', async function () {
        this.timeout(30000);
        const path = join(dir, 'welcome.sock');
        const server = listen(path, { mode: 0o666, accept: (peer) => peer.uid === 65534 });
        try {
          server.on('connection', (ch: Channel) => {
            assert.equal(ch.peer.uid, 65534);
            void ch.send([], 'welcome').finally(() => ch.close());
          });
          assert.deepEqual(await connectAsNobody(path), { payload: 'welcome' });
        } finally {
          server.close();
        }
      });
    });
  });

  describe('across processes with listen / connect', () => {
    it("a child connects; the server's channel names the child's pid, the child's names ours; a buffer goes round", async function () {
      this.timeout(120000);
      const path = sockPath();
      const server = listen(path);
      const child = startChild(['connect', path]);
      try {
        const [conn] = (await once(server, 'connection')) as [Channel];
        try {
          assert.equal(conn.peer.pid, child.proc.pid, "SO_PEERCRED pid is the child's");
          assert.equal(conn.peer.uid, process.getuid!());
          const hello = await child.ready;
          assert.equal(hello.peer.pid, process.pid);
          using buf = allocate(8 * PAGE_SIZE, { exporter: 'memfd' });
          const view = hasViews(buf) ? buf.mmap() : null;
          await conn.send(buf, { op: 'write', seed: 3 });
          const reply = await next(conn);
          assert.equal((reply.payload as { pid: number }).pid, child.proc.pid);
          checkFill(view ?? bytesOf(buf), 3);
          const closed = once(conn, 'close');
          await conn.send([], { op: 'exit' });
          assert.equal((await child.done).code, 0);
          await closed;
        } finally {
          conn.close();
        }
      } finally {
        server.close();
        child.proc.kill();
      }
    });

    it('an accept filter lets one child in by pid and refuses another; the refused child sees the channel close', async function () {
      this.timeout(120000);
      const path = sockPath();
      let allowed = -1;
      const server = listen(path, { accept: (peer) => peer.pid === allowed });
      const refusedPids: number[] = [];
      server.on('refused', (peer) => refusedPids.push(peer.pid));
      const good = startChild(['connect', path]);
      allowed = good.proc.pid!;
      try {
        const [conn] = (await once(server, 'connection')) as [Channel];
        assert.equal(conn.peer.pid, good.proc.pid);
        const bad = startChild(['connect', path]);
        const badEnd = await bad.done;
        assert.equal(badEnd.code, 0, badEnd.stderr);
        assert.match(badEnd.stdout, /^closed$/m);
        assert.deepEqual(refusedPids, [bad.proc.pid]);
        await conn.send([], { op: 'exit' });
        assert.equal((await good.done).code, 0);
        conn.close();
      } finally {
        server.close();
        good.proc.kill();
      }
    });
  });

  describe('bad input', () => {
    it('sending a closed buffer → ERR_DMABUF_CLOSED, and nothing is sent', async () => {
      const [a, fd] = channelAndRaw();
      try {
        const buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
        const live = allocate(PAGE_SIZE, { exporter: 'memfd' });
        buf.close();
        await assertRejects(a.send(buf), 'ERR_DMABUF_CLOSED', /buffers\[0\] has been released/);
        await assertRejects(a.send([live, buf]), 'ERR_DMABUF_CLOSED', /buffers\[1\]/);
        live.close();
        assert.equal(native().socketRecv(fd, new Uint8Array(64), 4), null, 'nothing reached the socket');
      } finally {
        a.close();
        native().close(fd);
      }
    });

    it('a memory-exporter buffer has no fd → ERR_DMABUF_NOT_SUPPORTED, pointing at SharedArrayBuffer for workers', async () => {
      const [a, fd] = channelAndRaw();
      try {
        using mem = allocate(PAGE_SIZE, { exporter: 'memory' });
        await assertRejects(a.send(mem), 'ERR_DMABUF_NOT_SUPPORTED', /shared: true.*toTransferable/);
        await assertRejects(a.send('x' as unknown as DmaBuf), 'ERR_INVALID_ARG_TYPE');
        await assertRejects(a.send([{}] as unknown as DmaBuf[]), 'ERR_INVALID_ARG_TYPE');
      } finally {
        a.close();
        native().close(fd);
      }
    });

    it('too many fds: 254 buffers → ERR_OUT_OF_RANGE before any syscall; 253 (SCM_MAX_FD) go through', async () => {
      using ends = localPair();
      const { a, b } = ends;
      using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
      await assertRejects(a.send(new Array(254).fill(buf)), 'ERR_OUT_OF_RANGE', /<= 253/);
      assertCode(() => native().socketSend(buf.fd, frame(0), new Array(254).fill(buf.fd)), 'ERR_OUT_OF_RANGE', /SCM_MAX_FD/);
      assertCode(() => native().socketPair(new Uint32Array(2) as unknown as Int32Array), 'ERR_INVALID_ARG_TYPE');
      await a.send(new Array(253).fill(buf), 'max');
      const m = await next(b);
      assert.equal(m.buffers.length, 253);
      assert.ok(m.buffers.every((x) => x.inode === buf.inode));
      closeAllBuffers(m);
    });

    it('payload too large → ERR_OUT_OF_RANGE; not JSON-able → ERR_INVALID_ARG_VALUE; exactly 64 KiB goes through', async () => {
      using ends = localPair();
      const { a, b } = ends;
      await assertRejects(a.send([], 'x'.repeat(65535)), 'ERR_OUT_OF_RANGE', /at most 65536 bytes/);
      await assertRejects(a.send([], { big: 'é'.repeat(40000) }), 'ERR_OUT_OF_RANGE');
      await assertRejects(a.send([], 10n), 'ERR_INVALID_ARG_VALUE');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await assertRejects(a.send([], cyclic), 'ERR_INVALID_ARG_VALUE');
      await assertRejects(
        a.send([], () => 1),
        'ERR_INVALID_ARG_VALUE',
      );
      const max = 'z'.repeat(65534); // 65536 bytes with its quotes
      await a.send([], max);
      assert.equal((await next(b)).payload, max);
    });

    it('a non-dma-buf fd arriving (a FIFO, a regular file) is closed and reported; the whole message is dropped, the channel goes on', async () => {
      const dir = join(tmpdir(), `dmabuf-45-${process.pid}-${seq++}`);
      execFileSync('mkdir', ['-p', dir]);
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      const fifo = openSync(join(dir, 'fifo'), fsc.O_RDWR | fsc.O_NONBLOCK);
      const file = openSync(join(dir, 'file'), 'w+');
      const [ch, raw] = channelAndRaw();
      const b = native();
      try {
        const errors: NodeJS.ErrnoException[] = [];
        ch.on('messageerror', (e) => errors.push(e));
        using mem = allocate(PAGE_SIZE, { exporter: 'memfd' });
        const before = openFds();
        b.socketSend(raw, frame(1, 'fifo'), [fifo]);
        b.socketSend(raw, frame(2, 'memfd then file'), [mem.fd, file]);
        b.socketSend(raw, frame(1, 'good'), [mem.fd]);
        const m = await next(ch);
        assert.equal(m.payload, 'good', 'the channel went on after the bad messages');
        closeAllBuffers(m);
        assert.equal(errors.length, 2);
        // The message is the bad one (ERR_DMABUF_BAD_MESSAGE); why its buffer failed is the cause.
        assert.equal(errors[0].code, 'ERR_DMABUF_BAD_MESSAGE');
        assert.equal((errors[0].cause as NodeJS.ErrnoException).code, 'ERR_DMABUF_NOT_DMABUF');
        assert.match(errors[0].message, /buffer 0 of 1 .*fifo.*dropped/);
        assert.equal(errors[1].code, 'ERR_DMABUF_BAD_MESSAGE');
        assert.equal((errors[1].cause as NodeJS.ErrnoException).code, 'ERR_DMABUF_NOT_DMABUF');
        assert.match(errors[1].message, /buffer 1 of 2 .*\/file.*dropped/);
        assert.equal(openFds(), before, 'every fd that arrived was closed, the memfd imported before the file too');
      } finally {
        ch.close();
        b.close(raw);
        closeSync(fifo);
        closeSync(file);
        rmSync(dir, { recursive: true });
      }
    });

    it('a foreign message (no channel header, wrong fd count, bad JSON, over-long) is dropped with its fds and reported', async () => {
      const [ch, raw] = channelAndRaw();
      const b = native();
      try {
        const errors: NodeJS.ErrnoException[] = [];
        ch.on('messageerror', (e) => errors.push(e));
        using mem = allocate(PAGE_SIZE, { exporter: 'memfd' });
        b.socketSend(raw, new TextEncoder().encode('hello'), [mem.fd]);
        b.socketSend(raw, frame(2), [mem.fd]);
        const badJson = frame(0, 'x');
        badJson[8] = 0x7b;
        b.socketSend(raw, badJson, []);
        b.socketSend(raw, new Uint8Array(70000), [mem.fd]);
        const unknownFlags = frame(0, 'from a later version');
        unknownFlags[7] = 0x80;
        b.socketSend(raw, unknownFlags, []);
        b.socketSend(raw, frame(0, 'after'), []);
        assert.equal((await next(ch)).payload, 'after');
        assert.deepEqual(
          errors.map((e) => e.code),
          ['ERR_DMABUF_BAD_MESSAGE', 'ERR_DMABUF_BAD_MESSAGE', 'ERR_DMABUF_BAD_MESSAGE', 'EMSGSIZE', 'ERR_DMABUF_BAD_MESSAGE'],
        );
        assert.match(errors[4].message, /flags 0x8001, of which only 0x1 is known/);
        assert.match(errors[1].message, /announces 2 buffer\(s\), 1 fd\(s\) arrived/);
        assert.equal(errors[3].errno, -90);
        assert.equal(errors[3].syscall, 'recvmsg');
        assert.match(errors[3].message, /MSG_TRUNC/);
      } finally {
        ch.close();
        b.close(raw);
      }
    });

    it('a zero-length record from a live peer is a bad message, not the end of stream: later messages and their fds still arrive', async () => {
      const [ch, raw] = channelAndRaw();
      const b = native();
      try {
        const errors: NodeJS.ErrnoException[] = [];
        ch.on('messageerror', (e) => errors.push(e));
        let closed = false;
        ch.on('close', () => (closed = true));
        using mem = allocate(PAGE_SIZE, { exporter: 'memfd' });
        assert.equal(b.socketSend(raw, new Uint8Array(0), []), 0);
        assert.equal(b.socketSend(raw, new Uint8Array(0), [mem.fd]), 0);
        b.socketSend(raw, frame(1, 'after'), [mem.fd]);
        const m = await next(ch);
        assert.equal(m.payload, 'after');
        assert.equal(m.buffers.length, 1);
        assert.equal(m.buffers[0].inode, mem.inode);
        closeAllBuffers(m);
        assert.deepEqual(
          errors.map((e) => e.code),
          ['ERR_DMABUF_BAD_MESSAGE', 'ERR_DMABUF_BAD_MESSAGE'],
        );
        assert.match(errors[0].message, /a 0-byte message without a channel header/);
        await loopTurns(20);
        assert.equal(closed, false, "'close' while the peer is still connected");
        assert.equal(ch.closed, false);
        // The peer's side still works both ways.
        await ch.send([], 'back');
        const back = b.socketRecv(raw, new Uint8Array(64), 1);
        assert.equal(back?.bytes, 8 + JSON.stringify('back').length);
      } finally {
        ch.close();
        b.close(raw);
      }
    });

    it('an empty record followed by messages and a close: the empty one is reported, the rest delivered, then the end', async () => {
      const [ch, raw] = channelAndRaw();
      const b = native();
      const errors: string[] = [];
      ch.on('messageerror', (e: NodeJS.ErrnoException) => errors.push(e.code!));
      b.socketSend(raw, new Uint8Array(0), []);
      b.socketSend(raw, frame(0, 'x'), []);
      b.socketSend(raw, new Uint8Array(0), []); // the last record: empty, then the peer goes
      b.close(raw);
      const closed = once(ch, 'close');
      assert.equal((await next(ch)).payload, 'x');
      assert.equal(await ch.receive(), null);
      await closed;
      assert.deepEqual(errors, ['ERR_DMABUF_BAD_MESSAGE']);
    });

    it('the peer shutting down its sending side (SHUT_WR) is the end of stream', async () => {
      const [ch, raw] = channelAndRaw();
      const b = native();
      try {
        b.socketSend(raw, frame(0, 'last'), []);
        b.socketShutdown(raw, 1);
        assert.equal((await next(ch)).payload, 'last');
        assert.equal(await ch.receive(), null);
        assert.equal(ch.closed, true);
      } finally {
        ch.close();
        b.close(raw);
      }
    });

    it("with no 'messageerror' listener, a dropped message becomes a process warning (never silent, never a crash)", async () => {
      const [ch, raw] = channelAndRaw();
      try {
        const warned = once(process, 'warning');
        native().socketSend(raw, frame(3), []);
        const [w] = await warned;
        assert.equal((w as NodeJS.ErrnoException).code, 'ERR_DMABUF_BAD_MESSAGE');
      } finally {
        ch.close();
        native().close(raw);
      }
    });

    it('a truncated control message: recvmsg with room for 1 fd of 3 → MSG_CTRUNC, the fd that arrived is closed, EMSGSIZE', () => {
      const b = native();
      const out = new Int32Array(2);
      b.socketPair(out);
      const bufs = [0, 1, 2].map(() => allocate(PAGE_SIZE, { exporter: 'memfd' }));
      try {
        const before = openFds();
        assert.equal(
          b.socketSend(
            out[0],
            frame(3),
            bufs.map((x) => x.fd),
          ),
          8,
        );
        assert.throws(
          () => b.socketRecv(out[1], new Uint8Array(64), 1),
          (err: NodeJS.ErrnoException & { closedFds: number }) => {
            assert.equal(err.code, 'EMSGSIZE');
            assert.equal(err.errno, -90);
            assert.equal(err.syscall, 'recvmsg');
            assert.equal(err.closedFds, 1);
            assert.match(err.message, /^EMSGSIZE: .*MSG_CTRUNC.*1 fd\(s\) that arrived were closed/);
            return true;
          },
        );
        assert.equal(openFds(), before, 'no fd of the truncated message is left open');
        b.socketSend(
          out[0],
          frame(3),
          bufs.map((x) => x.fd),
        );
        assert.throws(() => b.socketRecv(out[1], new Uint8Array(64), 0), { code: 'EMSGSIZE', closedFds: 0 });
        assert.equal(b.socketRecv(out[1], new Uint8Array(64), 4), null, 'the message is gone, EAGAIN is a value');
        assert.equal(openFds(), before);
      } finally {
        for (const x of bufs) x.close();
        b.close(out[0]);
        b.close(out[1]);
      }
    });

    it("a slow consumer: sends beyond the socket's room wait in a queue that never exceeds highWaterMark; the rest reject; all drain in order once read", async function () {
      this.timeout(60000);
      const [a, fd] = Channel.pair({ highWaterMark: 4 });
      let b: Channel | null = null;
      try {
        using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
        const pad = 'p'.repeat(60000);
        const fds0 = openFds();
        const outcomes: Array<Promise<string>> = [];
        let maxQueued = 0;
        let maxFds = 0;
        for (let i = 0; i < 40; i++) {
          outcomes.push(
            a.send(buf, { i, pad }).then(
              () => 'sent',
              (e: NodeJS.ErrnoException) => e.code!,
            ),
          );
          maxQueued = Math.max(maxQueued, a.queued);
          maxFds = Math.max(maxFds, openFds());
        }
        assert.equal(maxQueued, 4, 'the queue fills to highWaterMark and no further');
        assert.ok(maxFds - fds0 <= 4, `the queue holds one dup per waiting buffer: ${maxFds - fds0} extra fds`);
        await loopTurns();
        assert.equal(a.queued, 4, 'nobody reads: the queue stays where it is');
        const early = await Promise.all(outcomes.map(async (p) => ((await probe(p)) === PENDING ? 'waiting' : p)));
        const full = early.filter((o) => o === 'ERR_DMABUF_QUEUE_FULL').length;
        const waiting = early.filter((o) => o === 'waiting').length;
        assert.equal(waiting, 4);
        assert.ok(full > 0 && full < 40, `${full} rejected with ERR_DMABUF_QUEUE_FULL`);
        // The reader has a small inbox too: it stops reading when that is full, so the kernel's buffer stays full.
        b = Channel.fromFd(fd, { takeOwnership: true, highWaterMark: 2 });
        const reader = b;
        await turnsUntil(() => reader.pending === 2, 'the receiving end has read 2 messages');
        await loopTurns(2);
        assert.equal(b.pending, 2, 'the receiving end read up to its highWaterMark and stopped');
        assert.ok(a.queued <= 4);
        const drained = once(a, 'drain');
        const expected = early.map((o, i) => (o === 'ERR_DMABUF_QUEUE_FULL' ? -1 : i)).filter((i) => i >= 0);
        const got: number[] = [];
        while (got.length < expected.length) {
          const m = await next(b);
          got.push((m.payload as { i: number }).i);
          assert.ok(b.pending <= 2);
          closeAllBuffers(m);
        }
        await drained;
        assert.deepEqual(got, expected, 'every accepted message arrived, in order');
        assert.deepEqual((await Promise.all(outcomes)).filter((o) => o === 'sent').length, expected.length);
        assert.equal(a.queued, 0);
      } finally {
        a.close();
        if (b) b.close();
        else native().close(fd);
      }
    });

    it('highWaterMark 0: no queue at all, a full socket rejects at once', async () => {
      const [a, fd] = Channel.pair({ highWaterMark: 0 });
      try {
        const pad = 'q'.repeat(60000);
        let code = '';
        for (let i = 0; i < 100 && !code; i++) {
          await a.send([], pad).catch((e: NodeJS.ErrnoException) => (code = e.code!));
        }
        assert.equal(code, 'ERR_DMABUF_QUEUE_FULL');
        assert.equal(a.queued, 0);
      } finally {
        a.close();
        native().close(fd);
      }
    });

    it('closing with sends queued rejects them with ERR_DMABUF_CHANNEL_CLOSED and closes their fds', async () => {
      const [a, fd] = Channel.pair({ highWaterMark: 8 });
      try {
        using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
        const pad = 'r'.repeat(60000);
        const outcomes: Array<Promise<string>> = [];
        for (let i = 0; i < 12; i++)
          outcomes.push(
            a.send(buf, pad).then(
              () => 'sent',
              (e: NodeJS.ErrnoException) => e.code!,
            ),
          );
        assert.ok(a.queued > 0);
        const closed = once(a, 'close');
        a.close();
        await closed;
        const codes = await Promise.all(outcomes);
        assert.ok(codes.includes('ERR_DMABUF_CHANNEL_CLOSED'), codes.join());
        assert.ok(
          codes.every((c) => /^(sent|ERR_DMABUF_CHANNEL_CLOSED|ERR_DMABUF_QUEUE_FULL)$/.test(c)),
          codes.join(),
        );
      } finally {
        a.close();
        native().close(fd);
      }
    });

    it("the peer vanishing while the parent sends: queued sends reject (EPIPE/ECONNRESET or ERR_DMABUF_CHANNEL_CLOSED), 'close' follows, no hang", async function () {
      this.timeout(120000);
      const { ch, child } = pairWithChild({ highWaterMark: 4 });
      try {
        await child.ready;
        await ch.send([], { op: 'stall' });
        assert.deepEqual((await next(ch)).payload, { stalled: true }, 'the child has stopped reading');
        using buf = allocate(PAGE_SIZE, { exporter: 'memfd' });
        const pad = 's'.repeat(60000);
        const outcomes: Array<Promise<string>> = [];
        // Nobody reads the other end any more: fill the socket, then our queue.
        for (let i = 0; i < 5000 && ch.queued < 4; i++) {
          outcomes.push(
            ch.send(buf, { op: 'noop', pad }).then(
              () => 'sent',
              (e: NodeJS.ErrnoException) => e.code!,
            ),
          );
        }
        await loopTurns();
        assert.equal(ch.queued, 4, 'sends are waiting when the child dies');
        const closed = once(ch, 'close');
        let errored: Error | null = null;
        ch.on('error', (e) => (errored = e));
        child.proc.kill('SIGKILL');
        await closed;
        const codes = await Promise.all(outcomes);
        const failed = codes.filter((c) => c !== 'sent');
        assert.equal(failed.length, 4, codes.join());
        for (const c of failed) assert.match(c, /^(EPIPE|ECONNRESET|ERR_DMABUF_CHANNEL_CLOSED)$/);
        assert.equal(errored, null, 'a peer leaving is a close, not an error');
        assert.equal((await child.done).signal, 'SIGKILL');
        await assertRejects(ch.send([]), 'ERR_DMABUF_CHANNEL_CLOSED');
      } finally {
        ch.close();
        child.proc.kill('SIGKILL');
      }
    });

    it("the peer vanishing while the parent receives: every whole message sent before is delivered, then null and 'close'", async function () {
      this.timeout(120000);
      const { ch, child } = pairWithChild();
      try {
        await child.ready;
        await ch.send([], { op: 'spam' });
        for (let i = 0; i < 3; i++) {
          const m = await next(ch);
          assert.equal((m.payload as { i: number }).i, i);
          closeAllBuffers(m);
        }
        ch.pause(); // let messages pile up in the socket, then kill the sender mid-stream
        await child.printed('spam: the socket is full');
        const closed = once(ch, 'close');
        child.proc.kill('SIGKILL');
        await child.done;
        let n = 3;
        for (;;) {
          const m = await ch.receive();
          if (m === null) break;
          assert.equal((m.payload as { i: number }).i, n++, 'whole messages, in order');
          assert.equal(m.buffers.length, 1);
          assert.equal(m.buffers[0].size, PAGE_SIZE);
          closeAllBuffers(m);
        }
        await closed;
        assert.ok(n > 3, 'messages queued before the kill were still delivered');
      } finally {
        ch.close();
        child.proc.kill('SIGKILL');
      }
    });

    it('native functions check their arguments before any syscall', () => {
      const b = native();
      assertCode(() => b.socketPair(new Int32Array(1)), 'ERR_INVALID_ARG_TYPE');
      assertCode(() => b.socketListen('/tmp/x', 0, 0o600), 'ERR_OUT_OF_RANGE');
      assertCode(() => b.socketListen('/tmp/x', 1, 0o10000), 'ERR_OUT_OF_RANGE');
      assertCode(() => b.socketListen('/tmp/x', 1, undefined as unknown as number), 'ERR_INVALID_ARG_TYPE');
      assertCode(() => b.socketRecv(0, new Uint8Array(1), 254), 'ERR_OUT_OF_RANGE');
      assertCode(() => b.socketSend(0, new Uint8Array(1), [-1]), 'ERR_OUT_OF_RANGE');
      assertCode(() => b.socketShutdown(0, 3), 'ERR_OUT_OF_RANGE');
    });
  });
});
