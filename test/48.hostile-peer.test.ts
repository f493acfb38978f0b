// A hostile peer: a raw sender outside the library (python3's sendmsg with SCM_RIGHTS over
// an AF_UNIX SOCK_SEQPACKET socket, test/fixtures/hostile-peer.py) talking to a library
// Channel, through Channel.pair() (the other end handed to the child at spawn) and through
// listen() / connect(). It sends everything a buggy or malicious peer could: fds of every
// kind, read-only and write-only reopens, sealed and unsealed memfds, empty, short and
// oversized records, lying headers, payloads that are not UTF-8 JSON, more fds than the
// receiver may open (MSG_CTRUNC), floods. The receiver must stay up, report each one on
// 'messageerror' with a code, deliver the valid messages between them in order, hold its
// highWaterMark under a flood, and leak no fd. The file's run ends with a summary line:
// `hostile inputs tried: N, reported: N, fd delta: 0`.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Channel, listen, type ChannelMessage } from '../lib';
import { native } from '../lib/platform/binding';
import { checkFds, openFds } from './helpers';

const PEER = resolve(__dirname, '../../test/fixtures/hostile-peer.py');
const RECEIVER = join(__dirname, 'fixtures', 'hostile-receiver.js');
/** Runs argv[1:] with RLIMIT_NOFILE at 64 (soft and hard: Node raises the soft limit to the hard one). */
const LOW_NOFILE = 'import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); os.execv(sys.argv[1], sys.argv[1:])';

/** python3 with what the peer uses (os.memfd_create, os.eventfd, os.pidfd_open: 3.10+). */
const python =
  spawnSync('python3', ['-c', 'import os, socket; os.memfd_create; os.eventfd; os.pidfd_open; socket.SCM_CREDENTIALS'], {
    encoding: 'utf8',
  }).status === 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The summary's figures, over the whole file. */
let tried = 0;
let reported = 0;
let fdsAtStart = 0;

interface Peer {
  proc: ChildProcess;
  /** Resolves with the first JSON line the peer prints that `pred` accepts. */
  line<T>(pred: (v: Record<string, unknown>) => boolean): Promise<T>;
  /** Its exit, and the last JSON line it printed (its result). */
  done: Promise<{ result: Record<string, unknown> & Array<Record<string, unknown>> }>;
}

function startPeer(args: string[], fd?: number): Peer {
  const proc = spawn('python3', [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore'] });
  let out = '';
  let err = '';
  const waiting: Array<{ pred: (v: Record<string, unknown>) => boolean; resolve(v: unknown): void }> = [];
  proc.stderr!.on('data', (d) => (err += d));
  proc.stdout!.on('data', (d) => {
    out += d;
    for (const l of out.split('\n').slice(0, -1)) {
      const v = JSON.parse(l) as Record<string, unknown>;
      for (const w of waiting.filter((x) => x.pred(v))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(v);
      }
    }
  });
  const done = once(proc, 'close').then(([code]) => {
    assert.equal(code, 0, `the hostile peer failed: ${err}`);
    return { result: JSON.parse(out.trim().split('\n').pop()!) };
  });
  done.catch(() => {});
  return { proc, line: (pred) => new Promise((r) => waiting.push({ pred, resolve: r as (v: unknown) => void })), done };
}

/** `p`, or a failure after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

type Event = { kind: 'message'; payload: unknown; buffers: number } | { kind: 'error'; code: unknown; message: string; cause?: unknown };

/** Listens on `ch` until the peer's { done } message; every delivered buffer is checked and closed. */
function record(ch: Channel): { events: Event[]; done: Promise<void> } {
  const events: Event[] = [];
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  ch.on('messageerror', (err: NodeJS.ErrnoException) =>
    events.push({ kind: 'error', code: err.code, message: err.message, cause: (err.cause as NodeJS.ErrnoException | undefined)?.code }),
  );
  ch.on('message', ({ buffers, payload }: ChannelMessage) => {
    try {
      for (const b of buffers) {
        assert.equal(b.exporter, 'memfd');
        assert.ok(b.size > 0);
        const first = new Uint8Array(1);
        b.read(0, first); // readable, whatever the peer sent
        if (payload === 'read-only') assert.throws(() => b.mmap(), { code: 'ERR_DMABUF_READ_ONLY' }, 'a writable view over a read-only fd');
      }
    } finally {
      for (const b of buffers) b.close();
    }
    events.push({ kind: 'message', payload, buffers: buffers.length });
    if ((payload as { done?: boolean } | null)?.done) finish();
  });
  ch.on('error', (err) => assert.fail(`the channel failed: ${err.message}`));
  return { events, done };
}

/** Checks a `cases` run: between consecutive markers, exactly the outcome the manifest expects. */
function checkCases(events: Event[], manifest: Array<{ name: string; outcome: string; expect: string | number }>): void {
  let i = 0;
  let segment: Event[] = [];
  for (const e of events) {
    const p = e.kind === 'message' ? (e.payload as { marker?: number; done?: boolean } | null) : null;
    if (p?.done) break;
    if (p && typeof p.marker === 'number') {
      assert.equal(p.marker, i, `markers arrive in order: ${p.marker} after ${i - 1}`);
      const c = manifest[i];
      // Never JSON.stringify what arrived: one payload is nested deeper than it can go.
      const what = `case '${c.name}': ${segment.map((e) => (e.kind === 'error' ? `${String(e.code)} (${e.message})` : `message of ${e.buffers} buffer(s)`)).join(', ')}`;
      assert.equal(segment.length, 1, what);
      const [got] = segment;
      if (c.outcome === 'reported') {
        tried++;
        assert.equal(got.kind, 'error', what);
        assert.equal(typeof (got as { code: unknown }).code, 'string', `${what}: every report has a code`);
        // A buffer that cannot be imported: ERR_DMABUF_BAD_MESSAGE whose cause has the import's code.
        const { code, cause } = got as { code: string; cause?: unknown };
        assert.equal(code === 'ERR_DMABUF_BAD_MESSAGE' && cause !== undefined ? cause : code, c.expect, what);
        reported++;
      } else {
        assert.equal(got.kind, 'message', what);
        assert.equal((got as { buffers: number }).buffers, c.expect, what);
      }
      segment = [];
      i++;
    } else {
      segment.push(e);
    }
  }
  assert.equal(i, manifest.length, 'every marker arrived');
}

describe('48 hostile peer', function () {
  before(function () {
    if (!python) this.skip(); // the VM images have no python3; the host suite runs this
    fdsAtStart = openFds();
  });
  after(() => {
    if (python) console.log(`      hostile inputs tried: ${tried}, reported: ${reported}, fd delta: ${openFds() - fdsAtStart}`);
  });
  checkFds();

  it('every case over Channel.pair() (the other end handed to the peer at spawn): each reported with a code, the valid ones delivered, in order', async function () {
    this.timeout(60000);
    const [ch, fd] = Channel.pair();
    const peer = startPeer(['pair', 'cases'], fd);
    closeSync(fd);
    const { events, done } = record(ch);
    try {
      await within(done, 30000, 'the peer’s last message');
      assert.equal(ch.closed, false, 'the channel stayed up');
      assert.equal(({} as { polluted?: unknown }).polluted, undefined, 'a __proto__ key in a payload polluted Object.prototype');
    } finally {
      ch.close();
    }
    const { result } = await peer.done;
    checkCases(events, result as unknown as Array<{ name: string; outcome: string; expect: string | number }>);
  });

  it('every case over listen() / connect(): the same', async function () {
    this.timeout(60000);
    const path = join(tmpdir(), `dmabuf-48-${process.pid}.sock`);
    const server = listen(path);
    try {
      const accepted = once(server, 'connection');
      const peer = startPeer(['connect', path, 'cases']);
      const [ch] = (await within(accepted, 10000, 'the connection')) as [Channel];
      const { events, done } = record(ch);
      try {
        await within(done, 30000, 'the peer’s last message');
        assert.equal(ch.closed, false);
      } finally {
        ch.close();
      }
      const { result } = await peer.done;
      checkCases(events, result as unknown as Array<{ name: string; outcome: string; expect: string | number }>);
    } finally {
      server.close();
    }
  });

  it('more fds than the receiver may open (RLIMIT_NOFILE): MSG_CTRUNC → EMSGSIZE, what arrived is closed, the next message arrives', async function () {
    this.timeout(60000);
    const out = new Int32Array(2);
    native().socketPair(out);
    let receiver: ChildProcess;
    let peer: Peer;
    try {
      receiver = spawn('python3', ['-c', LOW_NOFILE, process.execPath, RECEIVER], { stdio: ['ignore', 'pipe', 'pipe', out[0]] });
      peer = startPeer(['pair', 'ctrunc', '200'], out[1]);
    } finally {
      closeSync(out[0]);
      closeSync(out[1]);
    }
    let stdout = '';
    let stderr = '';
    receiver.stdout!.on('data', (d) => (stdout += d));
    receiver.stderr!.on('data', (d) => (stderr += d));
    const [code] = await once(receiver, 'close');
    assert.equal(code, 0, `the receiver failed: ${stderr}`);
    await peer.done;
    const r = JSON.parse(stdout) as {
      errors: Array<{ code: string; closedFds: number; message: string }>;
      messages: Array<{ payload: unknown; buffers: number }>;
      fdsBefore: number;
      fdsAfter: number;
    };
    tried++;
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.equal(r.errors[0].code, 'EMSGSIZE');
    assert.match(r.errors[0].message, /MSG_CTRUNC/);
    assert.ok(r.errors[0].closedFds > 0 && r.errors[0].closedFds < 64, `closedFds ${r.errors[0].closedFds}`);
    reported++;
    assert.deepEqual(r.messages, [
      { payload: 'after', buffers: 1 },
      { payload: { done: true }, buffers: 0 },
    ]);
    assert.equal(r.fdsAfter, r.fdsBefore, 'the receiver leaked fds');
  });

  it('a flood of 4000 messages of 32 KiB: the receiver holds highWaterMark, the sender blocks, memory stays bounded, all arrive in order', async function () {
    this.timeout(120000);
    const N = 4000;
    const [ch, fd] = Channel.pair({ highWaterMark: 16 });
    const peer = startPeer(['pair', 'flood', String(N), String(32000), '10'], fd);
    closeSync(fd);
    try {
      const rss0 = process.memoryUsage().rss;
      // Nobody reads: the channel takes highWaterMark messages, then the kernel's buffer
      // fills and the sender's sendmsg would block.
      const { blocked } = await within(
        peer.line<{ blocked: number }>((v) => 'blocked' in v),
        30000,
        'the sender blocking',
      );
      await sleep(100);
      assert.ok(blocked < N, `the sender got ${blocked} messages in before blocking`);
      assert.equal(ch.pending, ch.highWaterMark, 'the receiver took exactly highWaterMark messages');
      let maxPending = 0;
      let maxRss = 0;
      for (let seq = 0; seq < N; seq++) {
        const m = await within(ch.receive(), 30000, `message ${seq}`);
        assert.ok(m);
        maxPending = Math.max(maxPending, ch.pending);
        if (seq % 100 === 0) maxRss = Math.max(maxRss, process.memoryUsage().rss);
        assert.equal((m.payload as { seq: number }).seq, seq, 'in order');
        assert.equal(m.buffers.length, seq % 10 === 0 ? 1 : 0);
        for (const b of m.buffers) b.close();
      }
      const last = await within(ch.receive(), 30000, 'the last message');
      assert.deepEqual(last?.payload, { done: true });
      assert.ok(maxPending <= ch.highWaterMark, `${maxPending} messages waited for a reader`);
      // 128 MB went through; what was held at once is highWaterMark messages (~0.5 MB).
      assert.ok(maxRss - rss0 < 64 * 1024 * 1024, `rss grew by ${((maxRss - rss0) / 1048576).toFixed(1)} MiB`);
    } finally {
      ch.close();
    }
    assert.deepEqual((await peer.done).result, { sent: N });
  });

  it('a flood of 5000 bad records: each reported with a code, the markers between them in order, the event loop keeps turning', async function () {
    this.timeout(120000);
    const N = 5000;
    const [ch, fd] = Channel.pair();
    const peer = startPeer(['pair', 'garbage', String(N), '500'], fd);
    closeSync(fd);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const { events, done } = record(ch);
    try {
      await within(done, 60000, 'the peer’s last message');
    } finally {
      clearInterval(timer);
      ch.close();
    }
    assert.deepEqual((await peer.done).result, { sent: N, markers: N / 500 });
    const errors = events.filter((e) => e.kind === 'error') as Array<{ code: unknown; cause?: unknown }>;
    const markers = events.filter((e) => e.kind === 'message').map((e) => (e.payload as { marker?: number }).marker);
    tried += N;
    reported += errors.filter((e) => typeof e.code === 'string').length;
    assert.equal(errors.length, N);
    // Garbage records, and fds that are not buffers (the cause: ERR_DMABUF_NOT_DMABUF).
    assert.deepEqual(new Set(errors.map((e) => e.code)), new Set(['ERR_DMABUF_BAD_MESSAGE']));
    assert.deepEqual(new Set(errors.map((e) => e.cause).filter(Boolean)), new Set(['ERR_DMABUF_NOT_DMABUF']));
    assert.deepEqual(markers, [...Array(N / 500).keys(), undefined]);
    assert.ok(ticks > 0, 'the flood starved the event loop');
  });
});
