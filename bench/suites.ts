// The measurements. Each JS measurement has a C twin (bench/c/*.c) doing the same
// syscalls and memory work on the same kind of buffer; the two run in blocks that
// alternate (C, JS, C, JS, …) so that drift in the machine hits both alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Channel, allocate, type AllocateOptions, type DmaBuf } from '../lib';
import { native, type NativeFdWatcher } from '../lib/platform/binding';
import { DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START } from '../lib/platform/uapi';
import { fdCount, fullGc, MiB, nowNs, rssMiB, runC, sleep, stats, type Kind, type Stats } from './common';

const CHILD = join(__dirname, 'handoff-child.js');
/** Bytes read after each fill and copy, as fill.c reads into a volatile (kept at module level). */
export let sink = 0;

export function allocOptions(kind: Kind): AllocateOptions {
  return kind === 'dma-heap' ? { exporter: 'dma-heap', heap: 'system' } : { exporter: kind };
}

/** Runs C and JS in `blocks` alternating blocks of `perBlock` rounds each; pools the samples. */
function alternate(
  blocks: number,
  perBlock: number,
  c: (rounds: number) => number[],
  js: (rounds: number) => number[],
): { c: number[]; js: number[] } {
  const out = { c: [] as number[], js: [] as number[] };
  for (let b = 0; b < blocks; b++) {
    out.c.push(...c(perBlock));
    out.js.push(...js(perBlock));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// CPU-access bracket: beginCpuAccess + endCpuAccess vs two DMA_BUF_IOCTL_SYNC ioctls.

export interface SyncResult {
  size: number;
  iterations: number;
  /** ns per bracket (begin + end). */
  js: Stats;
  c: Stats;
  /** The two ioctls through the raw native binding (no object model); dma-buf paths only. */
  native?: Stats;
  /** Two fcntl(F_GETFL) through the addon (getFlags) and from C: the cost of an addon call beyond its syscall. */
  addonCall: { js: Stats; c: Stats };
}

export function syncBench(kind: Kind, size: number, cdir: string, iterations: number, blocks: number, perBlock: number): SyncResult {
  const buf = allocate(size, allocOptions(kind));
  try {
    const js = (rounds: number) => {
      const out: number[] = [];
      for (let r = -1; r < rounds; r++) {
        const t0 = nowNs();
        for (let i = 0; i < iterations; i++) {
          buf.beginCpuAccess('readwrite');
          buf.endCpuAccess('readwrite');
        }
        if (r >= 0) out.push((nowNs() - t0) / iterations);
      }
      return out;
    };
    const c = (rounds: number) => runC<{ ns_per_op: number[] }>(cdir, 'sync', [kind, size, iterations, rounds]).ns_per_op;
    js(blocks * perBlock); // the JIT settles before anything is kept (slow under emulation)
    const s = alternate(blocks, perBlock, c, js);
    const b = native();
    const fd = buf.fd;
    const jsCall = (rounds: number) => {
      const out: number[] = [];
      for (let r = -1; r < rounds; r++) {
        const t0 = nowNs();
        for (let i = 0; i < iterations; i++) {
          b.getFlags(fd);
          b.getFlags(fd);
        }
        if (r >= 0) out.push((nowNs() - t0) / iterations);
      }
      return out;
    };
    const cCall = (rounds: number) => runC<{ ns_per_op: number[] }>(cdir, 'sync', [kind, size, iterations, rounds, 'fcntl']).ns_per_op;
    const call = alternate(blocks, perBlock, cCall, jsCall);
    const res: SyncResult = { size, iterations, js: stats(s.js), c: stats(s.c), addonCall: { js: stats(call.js), c: stats(call.c) } };
    if (kind !== 'memfd') {
      // The same two ioctls through the addon alone: how much of the JS figure is N-API
      // and how much is the object model above it.
      const start = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
      const end = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
      const out: number[] = [];
      for (let r = -1; r < blocks * perBlock; r++) {
        const t0 = nowNs();
        for (let i = 0; i < iterations; i++) {
          b.dmaBufSync(fd, start);
          b.dmaBufSync(fd, end);
        }
        if (r >= 0) out.push((nowNs() - t0) / iterations);
      }
      res.native = stats(out);
    }
    return res;
  } finally {
    buf.close();
  }
}

// ---------------------------------------------------------------------------------------
// Filling and copying a mapped view: TypedArray fill / set vs memset / memcpy.

export interface FillResult {
  size: number;
  /** ns for the whole buffer. */
  js: { fill: Stats; copy: Stats; total: Stats };
  c: { fill: Stats; copy: Stats; total: Stats };
}

export function fillBench(kind: Kind, size: number, cdir: string, blocks: number, perBlock: number): FillResult {
  const opts = allocOptions(kind);
  const dst = allocate(size, opts);
  const src = allocate(size, opts);
  const jsFill: number[] = [];
  const jsCopy: number[] = [];
  const cFill: number[] = [];
  const cCopy: number[] = [];
  try {
    const d = dst.mmap();
    const s = src.mmap();
    s.fill(0x5a); // both mappings faulted in before timing, as in fill.c
    d.fill(0);
    for (let b = 0; b < blocks; b++) {
      const cr = runC<{ fill_ns: number[]; copy_ns: number[] }>(cdir, 'fill', [kind, size, perBlock]);
      cFill.push(...cr.fill_ns);
      cCopy.push(...cr.copy_ns);
      for (let r = -1; r < perBlock; r++) {
        const t0 = nowNs();
        d.fill(r & 0xff);
        const t1 = nowNs();
        sink ^= d[size - 1];
        d.set(s);
        const t2 = nowNs();
        sink ^= d[size - 1];
        if (r >= 0) {
          jsFill.push(t1 - t0);
          jsCopy.push(t2 - t1);
        }
      }
    }
  } finally {
    dst.close();
    src.close();
  }
  const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]);
  return {
    size,
    js: { fill: stats(jsFill), copy: stats(jsCopy), total: stats(sum(jsFill, jsCopy)) },
    c: { fill: stats(cFill), copy: stats(cCopy), total: stats(sum(cFill, cCopy)) },
  };
}

// ---------------------------------------------------------------------------------------
// create → mmap → release.

export interface CmrResult {
  size: number;
  iterations: number;
  /** ns per cycle. */
  js: Stats;
  /** C with the device kept open (as a C program would). */
  c: Stats;
  /** C opening and closing the device every cycle, as the library does (not for memfd). */
  cOpenEach?: Stats;
  /** memfd only: the same syscalls through the bare addon (no library), with a view: the floor for Node. */
  bare?: Stats;
}

/** One memfd cycle through the bare addon: what Node and the addon cost without the library. */
function bareMemfdCycle(size: number): void {
  const b = native();
  const c = b.constants;
  const fd = b.memfdCreate('dmabuf', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
  b.ftruncate(fd, size);
  b.addSeals(fd, c.F_SEAL_SHRINK | c.F_SEAL_GROW | c.F_SEAL_SEAL);
  const h = b.mmap(fd, size, 0, true);
  new Uint8Array(b.mapView(h))[0] = 1;
  b.munmap(h);
  b.close(fd);
}

export function cycle(size: number, opts: AllocateOptions): void {
  const b: DmaBuf = allocate(size, opts);
  const v = b.mmap();
  v[0] = 1;
  b.close();
}

export async function cmrBench(
  kind: Kind,
  size: number,
  cdir: string,
  iterations: number,
  blocks: number,
  perBlock: number,
): Promise<CmrResult> {
  const opts = allocOptions(kind);
  const js: number[] = [];
  const c: number[] = [];
  const cOpenEach: number[] = [];
  const bare: number[] = [];
  for (let b = 0; b < blocks; b++) {
    if (kind !== 'memfd')
      cOpenEach.push(...runC<{ ns_per_op: number[] }>(cdir, 'cmr', [kind, size, iterations, perBlock, 'open-each']).ns_per_op);
    c.push(...runC<{ ns_per_op: number[] }>(cdir, 'cmr', [kind, size, iterations, perBlock]).ns_per_op);
    for (let r = -1; r < perBlock; r++) {
      const t0 = nowNs();
      for (let i = 0; i < iterations; i++) cycle(size, opts);
      // Timed too: the event loop turns once per round, as in any program between frames, and
      // Node frees each external ArrayBuffer's bookkeeping then (a setImmediate callback).
      await new Promise((resolve) => setImmediate(resolve));
      if (r >= 0) js.push((nowNs() - t0) / iterations);
    }
    for (let r = -1; kind === 'memfd' && r < perBlock; r++) {
      const t0 = nowNs();
      for (let i = 0; i < iterations; i++) bareMemfdCycle(size);
      await new Promise((resolve) => setImmediate(resolve));
      if (r >= 0) bare.push((nowNs() - t0) / iterations);
    }
  }
  return {
    size,
    iterations,
    js: stats(js),
    c: stats(c),
    ...(cOpenEach.length ? { cOpenEach: stats(cOpenEach) } : {}),
    ...(bare.length ? { bare: stats(bare) } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Soak: many create → map → release cycles; RSS and open fds before and after.

export interface SoakResult {
  kind: Kind;
  size: number;
  /** Cycles asked for, and done (fewer only when the time budget would have run out). */
  requested: number;
  cycles: number;
  /** Why fewer cycles ran than asked for, or null. */
  reduced: string | null;
  /** Warm-up cycles before the baseline (SOAK_WARMUP unless the time budget is short). */
  warmupCycles: number;
  /** RSS after 1000 warm-up cycles, before the rest of the warm-up. */
  rssAfter1000MiB: number;
  seconds: number;
  usPerCycle: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  rssGrowthMiB: number;
  /** RSS growth from the 1000-cycle point to the end (includes V8 sizing its heap). */
  rssGrowthFrom1000MiB: number;
  /** RSS after a full GC every tenth of the run. */
  rssTraceMiB: number[];
  /** V8 heap reserved (heapTotal) at the 1000-cycle point, at the baseline and at the end. */
  heapTotalMiB: [number, number, number];
  heapUsedMiB: [number, number];
  fdsBefore: number;
  fdsAfter: number;
  fdDelta: number;
  mappingDelta: number;
}

const CHUNK = 1000;

/** Runs `n` cycles, yielding to the event loop every CHUNK cycles as any program between frames does
 *  (Node frees an external ArrayBuffer's bookkeeping in a setImmediate callback). */
async function cycles(n: number, size: number, opts: AllocateOptions): Promise<void> {
  for (let done = 0; done < n; done += CHUNK) {
    for (let i = Math.min(CHUNK, n - done); i > 0; i--) cycle(size, opts);
    await new Promise((r) => setImmediate(r));
  }
}

function heapMiB(): { total: number; used: number } {
  const m = process.memoryUsage();
  return { total: Number((m.heapTotal / MiB).toFixed(2)), used: Number((m.heapUsed / MiB).toFixed(2)) };
}

/** Warm-up cycles before the soak's baseline. V8 enlarges its young generation (to 32 MiB
 *  of reserved heap) in steps as objects keep surviving scavenges, which takes 20 000 to
 *  50 000 cycles here: a one-time step, not a leak, so it is kept out of the baseline (and
 *  reported beside it as the growth from cycle 1000). */
export const SOAK_WARMUP = 50_000;

/** `requested` create → map → release cycles after a warm-up; RSS and fds before and after. */
export async function soak(kind: Kind, size: number, requested: number, budgetS: number): Promise<SoakResult> {
  const opts = allocOptions(kind);
  const w0 = nowNs();
  await cycles(CHUNK, size, opts);
  const perCycleS = (nowNs() - w0) / 1e9 / CHUNK;
  fullGc();
  const rss1000 = rssMiB();
  const heap1000 = heapMiB();
  // The warm-up gives way to the measured cycles when the budget is short.
  const warmup = Math.max(CHUNK, Math.min(SOAK_WARMUP, Math.floor((budgetS / perCycleS - requested) / CHUNK) * CHUNK));
  await cycles(warmup - CHUNK, size, opts);
  let n = requested;
  let reduced: string | null = null;
  if (perCycleS * (warmup + requested) > budgetS) {
    n = Math.max(CHUNK, Math.floor((budgetS / perCycleS - warmup) / CHUNK) * CHUNK);
    reduced = `${requested} cycles at ${(perCycleS * 1e6).toFixed(0)} µs each would take ${Math.round(perCycleS * requested)} s, over the ${budgetS} s budget`;
  }
  fullGc();
  const b = native();
  const rss0 = rssMiB();
  const heap0 = heapMiB();
  const fd0 = fdCount();
  const maps0 = b.mappingCount();
  const trace: number[] = [];
  const step = Math.ceil(n / 10 / CHUNK) * CHUNK;
  let busyNs = 0;
  for (let done = 0; done < n; done += step) {
    const t0 = nowNs();
    await cycles(Math.min(step, n - done), size, opts);
    busyNs += nowNs() - t0;
    fullGc();
    trace.push(Number(rssMiB().toFixed(2)));
  }
  const seconds = busyNs / 1e9;
  fullGc();
  const rss1 = rssMiB();
  const heap1 = heapMiB();
  const fd1 = fdCount();
  const r2 = (x: number) => Number(x.toFixed(2));
  return {
    kind,
    size,
    requested,
    cycles: n,
    reduced,
    warmupCycles: warmup,
    rssAfter1000MiB: r2(rss1000),
    seconds: r2(seconds),
    usPerCycle: r2((seconds * 1e6) / n),
    rssBeforeMiB: r2(rss0),
    rssAfterMiB: r2(rss1),
    rssGrowthMiB: r2(rss1 - rss0),
    rssGrowthFrom1000MiB: r2(rss1 - rss1000),
    rssTraceMiB: trace,
    heapTotalMiB: [heap1000.total, heap0.total, heap1.total],
    heapUsedMiB: [heap0.used, heap1.used],
    fdsBefore: fd0,
    fdsAfter: fd1,
    fdDelta: fd1 - fd0,
    mappingDelta: b.mappingCount() - maps0,
  };
}

// ---------------------------------------------------------------------------------------
// Handoff: a buffer to a child process, which reads its first and last byte and acks.

interface Ack {
  t: string;
  first: number;
  last: number;
  size: number;
  tBoot?: string;
  tLib?: string;
  tRead: string;
  bracketNs?: number;
}

/** Messages of one child, in order; rejects if the child exits before the next one. */
class Inbox {
  readonly #queue: Ack[] = [];
  #waiter: { resolve: (m: Ack) => void; reject: (e: Error) => void } | null = null;
  #ended: Error | null = null;
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Ack) => {
      if (this.#waiter) {
        const w = this.#waiter;
        this.#waiter = null;
        w.resolve(m);
      } else this.#queue.push(m);
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.#ended = new Error(`handoff child exited (${code ?? signal}) before answering`);
        this.#waiter?.reject(this.#ended);
        this.#waiter = null;
        resolve(code);
      });
    });
    child.on('error', (err) => {
      this.#ended = err;
      this.#waiter?.reject(err);
    });
  }

  next(): Promise<Ack> {
    const m = this.#queue.shift();
    if (m) return Promise.resolve(m);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }
}

const FIRST = 0xa1;
const LAST = 0xb2;

/** A buffer of `size` bytes, every page written (the data exists before it is handed over). */
export function filledBuffer(kind: Kind, size: number): DmaBuf {
  const buf = allocate(size, allocOptions(kind));
  const v = buf.mmap();
  v.fill(0x11);
  v[0] = FIRST;
  v[size - 1] = LAST;
  return buf;
}

function checkAck(a: Ack, size: number): void {
  if (a.t !== 'ack' || a.first !== FIRST || a.last !== LAST || a.size !== size) {
    throw new Error(`handoff child answered ${JSON.stringify(a)}; expected first ${FIRST}, last ${LAST}, size ${size}`);
  }
}

export interface SpawnRound {
  /** spawn → ack, ms. */
  roundTripMs: number;
  /** spawn → the child's script runs, ms. */
  bootMs: number;
  /** In the child: loading the library (fd only; the IPC child needs none), ms. */
  libMs: number;
  /** In the child: fromFd + mmap + read (fd), or script start → message read (ipc), ms. */
  accessMs: number;
  /** The read inside a CPU-access bracket, after the ack (fd only), µs. */
  bracketUs?: number;
}

/**
 * One round with a fresh child: 'fd' hands the buffer's fd as the child's fd 3;
 * 'ipc' sends its bytes through child_process IPC (advanced serialization).
 * Both children have the same stdio layout and acknowledge through the same IPC channel.
 */
export async function spawnRound(buf: DmaBuf, transport: 'fd' | 'ipc'): Promise<SpawnRound> {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [CHILD, transport === 'fd' ? 'spawn-fd' : 'spawn-ipc'], {
    stdio: ['ignore', 'inherit', 'inherit', transport === 'fd' ? buf.fd : 'ignore', 'ipc'],
    serialization: 'advanced',
  });
  const inbox = new Inbox(child);
  if (transport === 'ipc') child.send({ data: buf.mmap() });
  const ack = await inbox.next();
  const t1 = process.hrtime.bigint();
  checkAck(ack, buf.size);
  let bracketUs: number | undefined;
  if (transport === 'fd') bracketUs = (await inbox.next()).bracketNs! / 1e3;
  const code = await inbox.exited;
  if (code !== 0) throw new Error(`handoff child exited with ${code}`);
  const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
  const boot = BigInt(ack.tBoot!);
  const lib = BigInt(ack.tLib!);
  return {
    roundTripMs: ms(t0, t1),
    bootMs: ms(t0, boot),
    libMs: ms(boot, lib),
    accessMs: ms(transport === 'fd' ? lib : boot, BigInt(ack.tRead)),
    ...(bracketUs === undefined ? {} : { bracketUs }),
  };
}

/** A long-lived child (spawned once, not timed) that acknowledges byte messages. */
export class LongLived {
  readonly #inbox: Inbox;
  private constructor(readonly child: ChildProcess) {
    this.#inbox = new Inbox(child);
  }

  static async start(): Promise<LongLived> {
    const child = spawn(process.execPath, ['--expose-gc', CHILD, 'long'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    const l = new LongLived(child);
    const m = await l.#inbox.next();
    if (m.t !== 'ready') throw new Error(`long-lived child said ${JSON.stringify(m)}`);
    return l;
  }

  /** Untimed, between rounds: the child collects its garbage. */
  async gc(): Promise<void> {
    this.child.send({ gc: true });
    const m = await this.#inbox.next();
    if (m.t !== 'gc') throw new Error(`long-lived child said ${JSON.stringify(m)}`);
  }

  /** Sends the buffer's bytes; ms until the ack. */
  async round(buf: DmaBuf): Promise<number> {
    const t0 = nowNs();
    this.child.send({ data: buf.mmap() });
    const ack = await this.#inbox.next();
    const t1 = nowNs();
    checkAck(ack, buf.size);
    return (t1 - t0) / 1e6;
  }

  async stop(): Promise<void> {
    this.child.disconnect();
    await this.#inbox.exited;
  }
}

/** A long-lived child (spawned once, not timed) on the other end of a Channel.pair().
 *  'channel': the child imports every buffer afresh and closes it after the ack (a new
 *  mapping and a new view each round). 'channel-reuse': both ends use { reuse: true } and the
 *  child keeps one reference per buffer, so a buffer that comes back is the same DmaBuf with
 *  its mapping and view: what the README recommends for buffers that come back. */
export class LongLivedChannel {
  private constructor(
    readonly ch: Channel,
    readonly child: ChildProcess,
    readonly exited: Promise<number | null>,
  ) {}

  static async start(mode: 'channel' | 'channel-reuse', env: NodeJS.ProcessEnv = {}): Promise<LongLivedChannel> {
    const [ch, theirs] = Channel.pair({ reuse: mode === 'channel-reuse' });
    const child = spawn(process.execPath, ['--expose-gc', CHILD, mode], {
      stdio: ['ignore', 'inherit', 'inherit', theirs],
      env: { ...process.env, ...env },
    });
    native().close(theirs);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const m = await ch.receive();
    if ((m?.payload as Ack | undefined)?.t !== 'ready') throw new Error(`channel child said ${JSON.stringify(m?.payload)}`);
    return new LongLivedChannel(ch, child, exited);
  }

  /** Untimed, between rounds: the child collects its garbage. */
  async gc(): Promise<void> {
    await this.#ask({ gc: true }, 'gc');
  }

  /** Untimed, after the last round of a size: the reuse child lets go of the buffers it keeps. */
  async drop(): Promise<void> {
    await this.#ask({ drop: true }, 'dropped');
  }

  async #ask(payload: object, answer: string): Promise<void> {
    await this.ch.send([], payload);
    const m = await this.ch.receive();
    if ((m?.payload as Ack | undefined)?.t !== answer) throw new Error(`channel child said ${JSON.stringify(m?.payload)}`);
  }

  /** Sends the buffer (its fd, SCM_RIGHTS); ms until the child's ack arrives on the channel.
   *  The child reads through mmap() (a view of the whole buffer) or, with 'read', read(). */
  async round(buf: DmaBuf, via: 'mmap' | 'read' = 'mmap'): Promise<number> {
    const t0 = nowNs();
    await this.ch.send(buf, { size: buf.size, via });
    const m = await this.ch.receive();
    const t1 = nowNs();
    if (!m) throw new Error('the channel child closed the channel');
    checkAck(m.payload as Ack, buf.size);
    return (t1 - t0) / 1e6;
  }

  async stop(): Promise<void> {
    this.ch.close();
    await this.exited;
  }
}

/** The other end of the bare-addon child (handoff-child.js raw): what Node and the addon alone
 *  cost for the same round (the child keeps its mapping per inode, as reuse does). */
export class RawPeer {
  readonly #b = native();
  readonly #watcher: NativeFdWatcher;
  readonly #msg = new Uint8Array(8);
  readonly #ack = new Uint8Array(8);
  #waiter: (() => void) | null = null;
  #lastSize = 0;

  private constructor(
    readonly fd: number,
    readonly child: ChildProcess,
  ) {
    this.#watcher = new this.#b.FdWatcher(fd, () => {
      const r = this.#b.socketRecv(fd, this.#ack, 0);
      if (r === null || r.eof) return;
      const w = this.#waiter;
      this.#waiter = null;
      w?.();
    });
    this.#watcher.start(1);
  }

  static start(): RawPeer {
    const b = native();
    const out = new Int32Array(2);
    b.socketPair(out);
    const child = spawn(process.execPath, [CHILD, 'raw'], { stdio: ['ignore', 'inherit', 'inherit', out[1]] });
    b.close(out[1]);
    b.socketAdopt(out[0]);
    return new RawPeer(out[0], child);
  }

  async gc(): Promise<void> {}

  /** ms from sending the fd to the two bytes coming back. */
  async round(buf: DmaBuf): Promise<number> {
    const acked = new Promise<void>((resolve) => (this.#waiter = resolve));
    this.#msg[0] = buf.size === this.#lastSize ? 0 : 1;
    this.#lastSize = buf.size;
    const t0 = nowNs();
    this.#b.socketSend(this.fd, this.#msg, [buf.fd]);
    await acked;
    const t1 = nowNs();
    if (this.#ack[0] !== FIRST || this.#ack[1] !== LAST) throw new Error(`raw child answered ${this.#ack[0]}, ${this.#ack[1]}`);
    return (t1 - t0) / 1e6;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.#watcher.close();
    this.#b.close(this.fd);
    await exited;
  }
}

/** bench/c/handoff.c as a server, so that its rounds interleave with the JS rounds and get the
 *  same idle gaps: "<size> <rounds>" in, the µs of each round (back to back) out. */
export class CHandoff {
  readonly #lines: string[] = [];
  #waiter: ((line: string) => void) | null = null;
  #failed: Error | null = null;

  private constructor(readonly child: ChildProcess) {
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      pending += d;
      let i: number;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        if (this.#waiter) {
          const w = this.#waiter;
          this.#waiter = null;
          w(line);
        } else this.#lines.push(line);
      }
    });
    child.on('exit', (code) => {
      this.#failed = new Error(`handoff.c exited (${code})`);
    });
  }

  static async start(cdir: string, kind: Kind): Promise<CHandoff> {
    const c = new CHandoff(spawn(join(cdir, 'handoff'), [kind, 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const first = await c.#next();
    if (first !== 'ready') throw new Error(`handoff.c said '${first}'`);
    return c;
  }

  #next(): Promise<string> {
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  /** `n` rounds back to back at `size` (a new size first makes its buffer and warms up, untimed); µs each. */
  async rounds(size: number, n: number): Promise<number[]> {
    this.child.stdin!.write(`${size} ${n}\n`);
    const line = await this.#next();
    return line === '' ? [] : line.split(' ').map(Number);
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    await exited;
  }
}

export interface HandoffSize {
  size: number;
  rounds: number;
  /** Fresh child per round, fd as stdio[3]: spawn → ack, ms. */
  fdSpawn: Stats;
  /** Fresh child per round, bytes over IPC: spawn → ack, ms. */
  ipcSpawn: Stats;
  /** Child boot (spawn → its script runs), ms, both transports pooled. */
  boot: Stats;
  /** In the fd child: loading the library, ms. */
  fdLib: Stats;
  /** In the fd child after the library loaded: fromFd + mmap + read, ms. */
  fdAccess: Stats;
  /** In the IPC child after boot: until the message with the bytes is read, ms. */
  ipcAccess: Stats;
  /** A bracketed read in the fd child, µs (not in the round trip). */
  fdBracketUs: Stats;
  /** Long-lived child, bytes over IPC: send → ack, ms. */
  ipcLongLived: Stats;
  /** Long-lived child, the buffer's fd over the library's Channel (SCM_RIGHTS), imported afresh
   *  and read through a new mmap() view each round: send → ack, ms. */
  channelLongLived: Stats;
  /** The same, the child's views made through Node-API (DMABUF_V8_VIEWS=0): what the new-view
   *  handoff costs where the V8 fast path is not used (Node 22, Electron), ms. */
  channelNodeApi: Stats;
  /** The same with { reuse: true }: the child keeps the buffer, so after the first round it is
   *  recognised by its inode and its mapping and view are reused, ms. */
  channelReuse: Stats;
  /** Imported afresh, the child reading with read() instead of a view, ms. */
  channelReadLongLived: Stats;
  /** Imported afresh with mmap(), rounds back to back (no idle gap, so no wake-up from idle), ms. */
  channelBackToBack: Stats;
  /** With reuse, back to back, ms. */
  channelReuseBackToBack: Stats;
  /** The floor: the bare addon on both sides (no library), the child keeping its mapping, ms. */
  rawAddon: Stats;
  /** C: long-lived forked child, fd over SCM_RIGHTS, rounds interleaved with the JS rounds and
   *  the same idle gaps: send → ack, µs. */
  cScmRightsUs: Stats;
  /** C, back to back, µs. */
  cBackToBackUs: Stats;
}

/** Untimed, between rounds: clean heaps here and in the long-lived children (no garbage of
 *  the last round for fork to copy or a GC to meet), then an idle pause. */
async function settle(ms: number, ...children: Array<{ gc(): Promise<void> }>): Promise<void> {
  fullGc();
  for (const c of children) await c.gc();
  await sleep(ms);
}

export async function handoffBench(
  kind: Kind,
  sizes: number[],
  cdir: string,
  rounds: number,
  settleMs: number,
  warmup: number,
  log: (s: string) => void,
): Promise<HandoffSize[]> {
  const cServer = await CHandoff.start(cdir, kind);
  const long = await LongLived.start();
  const chan = await LongLivedChannel.start('channel');
  // The same child with its views made through Node-API, where the V8 fast path would be used.
  const chanNapi = await LongLivedChannel.start('channel', { DMABUF_V8_VIEWS: '0' });
  const reuse = await LongLivedChannel.start('channel-reuse');
  const rawPeer = RawPeer.start();
  const children = [long, chan, chanNapi, reuse];
  const out: HandoffSize[] = [];
  try {
    for (const size of sizes) {
      const buf = filledBuffer(kind, size);
      try {
        const fd: SpawnRound[] = [];
        const ipc: SpawnRound[] = [];
        const ll: number[] = [];
        const ch: number[] = [];
        const chNapi: number[] = [];
        const chReuse: number[] = [];
        const chRead: number[] = [];
        const cUs: number[] = [];
        const rawMs: number[] = [];
        // Warm-ups, untimed: C makes its buffer; each JS path runs `warmup` times back to back at
        // the first size (a long-running program's JIT state: its code optimised after many
        // frames), once at the others.
        await cServer.rounds(size, 0);
        const n = size === sizes[0] ? warmup : 1;
        for (let i = 0; i < n; i++) {
          await chan.round(buf);
          await chanNapi.round(buf);
          await chan.round(buf, 'read');
          await reuse.round(buf);
          await rawPeer.round(buf);
          if (i % 10 === 0) await long.round(buf);
        }
        // One round of each, in turn, every one after the same settle: drift hits all alike.
        for (let r = 0; r < rounds; r++) {
          await settle(settleMs, ...children);
          cUs.push(...(await cServer.rounds(size, 1)));
          await settle(settleMs, ...children);
          ch.push(await chan.round(buf));
          await settle(settleMs, ...children);
          chNapi.push(await chanNapi.round(buf));
          await settle(settleMs, ...children);
          chReuse.push(await reuse.round(buf));
          await settle(settleMs, ...children);
          rawMs.push(await rawPeer.round(buf));
          await settle(settleMs, ...children);
          chRead.push(await chan.round(buf, 'read'));
          await settle(settleMs, ...children);
          ll.push(await long.round(buf));
        }
        await settle(settleMs, ...children);
        const cB2b = await cServer.rounds(size, rounds);
        await settle(settleMs, ...children);
        const chB2b: number[] = [];
        for (let r = 0; r < rounds; r++) chB2b.push(await chan.round(buf));
        await settle(settleMs, ...children);
        const reuseB2b: number[] = [];
        for (let r = 0; r < rounds; r++) reuseB2b.push(await reuse.round(buf));
        await reuse.drop();
        // Fresh children (no C twin: Node's start-up is most of these).
        await spawnRound(buf, 'fd'); // warm-up: page cache of node and the scripts
        for (let r = 0; r < rounds; r++) {
          await settle(settleMs, ...children);
          fd.push(await spawnRound(buf, 'fd'));
          await settle(settleMs, ...children);
          ipc.push(await spawnRound(buf, 'ipc'));
        }
        const row: HandoffSize = {
          size,
          rounds,
          fdSpawn: stats(fd.map((x) => x.roundTripMs)),
          ipcSpawn: stats(ipc.map((x) => x.roundTripMs)),
          boot: stats([...fd, ...ipc].map((x) => x.bootMs)),
          fdLib: stats(fd.map((x) => x.libMs)),
          fdAccess: stats(fd.map((x) => x.accessMs)),
          ipcAccess: stats(ipc.map((x) => x.accessMs)),
          fdBracketUs: stats(fd.map((x) => x.bracketUs!)),
          ipcLongLived: stats(ll),
          channelLongLived: stats(ch),
          channelNodeApi: stats(chNapi),
          channelReuse: stats(chReuse),
          channelReadLongLived: stats(chRead),
          channelBackToBack: stats(chB2b),
          channelReuseBackToBack: stats(reuseB2b),
          rawAddon: stats(rawMs),
          cScmRightsUs: stats(cUs),
          cBackToBackUs: stats(cB2b),
        };
        const m = (x: Stats) => x.median.toFixed(3);
        log(
          `  ${size / MiB} MiB: C ${m(row.cScmRightsUs)} µs; channel mmap() ${m(row.channelLongLived)} ms (Node-API view ${m(row.channelNodeApi)}), reuse ${m(row.channelReuse)} ms, ` +
            `read() ${m(row.channelReadLongLived)} ms, bare addon ${m(row.rawAddon)} ms; back to back C ${m(row.cBackToBackUs)} µs, mmap() ${m(row.channelBackToBack)} ms, ` +
            `reuse ${m(row.channelReuseBackToBack)} ms; IPC long-lived ${m(row.ipcLongLived)} ms; fresh child fd ${m(row.fdSpawn)} ms, IPC ${m(row.ipcSpawn)} ms`,
        );
        out.push(row);
      } finally {
        buf.close();
      }
    }
  } finally {
    await cServer.stop();
    await long.stop();
    await chan.stop();
    await chanNapi.stop();
    await reuse.stop();
    await rawPeer.stop();
  }
  return out;
}
