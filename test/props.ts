// Property-based differential testing of the object model (fast-check). A random sequence
// of operations runs step by step on a buffer of the memory exporter (the model) and on a
// buffer of the exporter under test; every step must agree: the same success or failure,
// the same error code, the same bytes read, the same state afterwards (references, CPU
// brackets, attachments, mappings, layout). Where the kernel and a fallback disagree, the
// kernel is right and the fallback is fixed (each such fix has an ordinary regression test).
//
// Replay: every run prints its seed; DMABUF_FC_SEED=<seed> runs the same sequences again,
// and DMABUF_FC_PATH=<path> (from a failure's report) goes straight to the shrunk one.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkSyncFlags } from '../lib/core/kernel-rules';
import {
  PAGE_SIZE,
  allocate,
  Channel,
  fromTransferable,
  toTransferable,
  type Attachment,
  type CpuAccessGuard,
  type DmaBuf,
  type SgTable,
} from '../lib';

// ---------------------------------------------------------------- the operations

/** Directions, and one of each kind that is refused. */
type DmaDir = 'to-device' | 'from-device' | 'bidirectional' | 'sideways';
type CpuDir = 'read' | 'write' | 'readwrite' | 'rw';

export interface DeviceSpec {
  name: string;
  maxSegmentSize?: number;
  maxSegments?: number;
  contiguous?: boolean;
  alignment?: number;
}

/** One step. Handles (`h`), attachments (`a`), tables (`t`), guards (`g`) and views (`v`) are
 *  indices into what the sequence made so far, taken modulo its length. */
export type Op =
  | { k: 'get' | 'put' | 'close' | 'mmap' | 'info' | 'inode' | 'send' | 'transfer'; h: number }
  | { k: 'attach'; h: number; dev: DeviceSpec; wait: boolean }
  | { k: 'detach'; a: number }
  | { k: 'map'; a: number; dir: DmaDir }
  | { k: 'unmap'; t: number; dir: DmaDir | null }
  | { k: 'begin'; h: number; dir: CpuDir; form: 'sync' | 'async' | 'guard' | 'guardAsync' }
  | { k: 'end'; h: number; dir: CpuDir | null }
  | { k: 'kunmapView'; v: number }
  | { k: 'guardEnd'; g: number }
  | { k: 'kmap'; h: number; page: number; atomic: boolean }
  | { k: 'kunmap'; h: number; page: number; v: number | null }
  | { k: 'kview'; v: number; off: number; put: number | null }
  | { k: 'mview'; v: number; off: number; len: number; seed: number | null }
  | { k: 'read'; h: number; off: number; len: number }
  | { k: 'write'; h: number; off: number; len: number; seed: number }
  | { k: 'setName'; h: number; name: string }
  | { k: 'sync'; h: number; flags: number };

export interface Config {
  pages: number;
  deferred: boolean;
  /** Preferred storage chunks (the migrate family only; else 1). */
  segments: number;
}

const idx = fc.nat(7);
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });
/** Valid values nine times in ten, so that sequences get somewhere; the rest are refused. */
const mostly = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });

function deviceArb(pages: number): fc.Arbitrary<DeviceSpec> {
  const size = pages * PAGE_SIZE;
  return fc.record(
    {
      name: fc.constantFrom('isp', 'gpu', 'enc'),
      maxSegmentSize: mostly(fc.constantFrom(PAGE_SIZE, 2 * PAGE_SIZE, size, 3 * PAGE_SIZE), fc.constant(PAGE_SIZE - 1)),
      maxSegments: mostly(fc.constantFrom(1, 2, 4), fc.constant(0)),
      contiguous: fc.boolean(),
      alignment: mostly(fc.constantFrom(1, PAGE_SIZE, 2 * PAGE_SIZE), fc.constant(3)),
    },
    { requiredKeys: ['name'] },
  );
}

/** The operations; `share` adds sending over a channel and worker transfers. */
export function opArb(pages: number, share: boolean): fc.Arbitrary<Op> {
  const size = pages * PAGE_SIZE;
  const cpuDir = mostly(fc.constantFrom<CpuDir>('read', 'write', 'readwrite'), fc.constant<CpuDir>('rw'));
  const dmaDir = mostly(fc.constantFrom<DmaDir>('to-device', 'from-device', 'bidirectional'), fc.constant<DmaDir>('sideways'));
  const page = mostly(fc.nat(pages - 1), fc.constantFrom(-1, pages, 0.5));
  // Offsets and lengths near the edges, and a few outside.
  const off = mostly(
    fc.oneof(fc.nat(size - 1), fc.constantFrom(0, PAGE_SIZE - 2, size - 1)),
    fc.constantFrom(-1, size + 1, 1.5, Number.NaN),
  );
  const len = fc.oneof({ weight: 6, arbitrary: fc.nat(64) }, { weight: 1, arbitrary: fc.constantFrom(PAGE_SIZE, size, size + 1) });
  const h = idx;
  const ops: fc.WeightedArbitrary<Op>[] = [
    { weight: 2, arbitrary: fc.record({ k: fc.constant('get' as const), h }) },
    // A put or close usually ends the sequence's main handle: keep them rarer than the rest.
    { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('put' as const, 'put' as const, 'close' as const), h }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('attach' as const), h, dev: deviceArb(pages), wait: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('detach' as const), a: idx }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('map' as const), a: idx, dir: dmaDir }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('unmap' as const), t: idx, dir: opt(dmaDir) }) },
    {
      weight: 5,
      arbitrary: fc.record({
        k: fc.constant('begin' as const),
        h,
        dir: cpuDir,
        form: fc.constantFrom('sync' as const, 'async' as const, 'guard' as const, 'guardAsync' as const),
      }),
    },
    // dir null: a direction this handle has a bracket open in, if any.
    { weight: 3, arbitrary: fc.record({ k: fc.constant('end' as const), h, dir: opt(cpuDir) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('guardEnd' as const), g: idx }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('kmap' as const), h, page, atomic: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('kunmap' as const), h, page, v: opt(idx) }) },
    // kunmap(view's page, view) on the view's own handle.
    { weight: 2, arbitrary: fc.record({ k: fc.constant('kunmapView' as const), v: idx }) },
    {
      weight: 3,
      arbitrary: fc.record({ k: fc.constant('kview' as const), v: idx, off: fc.nat(PAGE_SIZE - 1), put: opt(fc.nat(255)) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('mmap' as const), h }) },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('mview' as const),
        v: idx,
        off: fc.nat(size - 1),
        len: fc.nat(32),
        seed: opt(fc.nat(255)),
      }),
    },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('read' as const), h, off, len }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('write' as const), h, off, len, seed: fc.nat(255) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('setName' as const),
        h,
        name: fc.oneof(fc.string({ maxLength: 34 }), fc.constantFrom('frame-0', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), 'a\0b')),
      }),
    },
    // Raw SYNC: START with a direction, or flags the kernel refuses. END without a START is
    // exporter-specific in the kernel itself (udmabuf: EINVAL, heaps: 0), so brackets cover END.
    { weight: 1, arbitrary: fc.record({ k: fc.constant('sync' as const), h, flags: fc.constantFrom(1, 2, 3, 0, 4, 8, 0xff, 0x10) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('info' as const, 'inode' as const), h }) },
  ];
  if (share) ops.push({ weight: 2, arbitrary: fc.record({ k: fc.constantFrom('send' as const, 'transfer' as const), h }) });
  return fc.oneof(...ops);
}

export function configArb(migrate: boolean, defers: boolean): fc.Arbitrary<Config> {
  return fc.integer({ min: 1, max: 4 }).chain((pages) =>
    fc.record({
      pages: fc.constant(pages),
      deferred: defers ? fc.boolean() : fc.constant(false),
      segments: migrate ? fc.integer({ min: 1, max: pages }) : fc.constant(1),
    }),
  );
}

// ---------------------------------------------------------------- one world per exporter

type Outcome = Record<string, unknown>;

/** What a step's error says: its code, and the constraint of an incompatibility. */
function failure(err: unknown): Outcome {
  const e = err as NodeJS.ErrnoException & { constraint?: string };
  if (typeof e?.code !== 'string') throw err; // not one of ours: a bug, not a disagreement
  return e.constraint === undefined ? { err: e.code } : { err: e.code, constraint: e.constraint };
}

/** FNV-1a of some bytes, so outcomes stay small. */
function digest(bytes: Uint8Array): string {
  let x = 0x811c9dc5;
  for (const b of bytes) x = Math.imul(x ^ b, 0x01000193) >>> 0;
  return `${bytes.length}:${x.toString(16)}`;
}

function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, Math.min(len, 1 << 20)));
  for (let i = 0; i < out.length; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

/** How a world makes its buffers and shares them. */
export interface Maker {
  make(cfg: Config): DmaBuf;
  /** A second handle on the same storage, as another process or thread would get it. */
  share(buf: DmaBuf, how: 'send' | 'transfer'): Promise<DmaBuf>;
  /** Views of a released handle still show memory (SharedArrayBuffer): don't compare them. */
  staleViewsLive: boolean;
}

export class World {
  readonly bufs: DmaBuf[] = [];
  readonly atts: Attachment[] = [];
  readonly tables: Array<{ att: Attachment; table: SgTable }> = [];
  readonly guards: CpuAccessGuard[] = [];
  /** kmap views, and whether they are still kmapped: the memory exporter cannot detach one
   *  at kunmap (JS detaches whole ArrayBuffers only), so neither side touches it after. */
  readonly kviews: Array<{ h: number; page: number; view: Uint8Array; live: boolean }> = [];
  readonly mviews: Array<{ h: number; view: Uint8Array }> = [];
  readonly #maker: Maker;
  /** Either side's views of a released handle stay live: skip them on both. */
  readonly #skipStale: boolean;

  constructor(maker: Maker, cfg: Config, skipStale: boolean) {
    this.#maker = maker;
    this.#skipStale = skipStale;
    this.bufs.push(maker.make(cfg));
  }

  close(): void {
    for (const b of this.bufs) b.close();
  }

  /** References, brackets, attachments, mappings and layout of every handle. */
  state(): Outcome {
    return {
      bufs: this.bufs.map((b) => ({
        closed: b.closed,
        refs: b.refs,
        cpu: b.cpuAccessCount,
        atts: b.attachments.length,
        layout: b.closed ? null : b.layout,
      })),
      atts: this.atts.map((a) => [a.detached, a.mapped]),
    };
  }

  async step(op: Op): Promise<Outcome> {
    try {
      return await this.#run(op);
    } catch (err) {
      return failure(err);
    } finally {
      // The last CPU-access bracket's end, and release, kunmap every page.
      for (const kv of this.kviews) {
        const b = this.bufs[kv.h];
        const cpu = b.cpuAccessCount;
        if (b.closed || cpu.read + cpu.write + cpu.readwrite === 0) kv.live = false;
      }
    }
  }

  #pick<T>(list: readonly T[], i: number): T | undefined {
    return list.length === 0 ? undefined : list[i % list.length];
  }

  async #run(op: Op): Promise<Outcome> {
    const none = { none: true };
    switch (op.k) {
      case 'get':
      case 'put':
      case 'close':
      case 'mmap':
      case 'info':
      case 'inode':
      case 'send':
      case 'transfer':
        return this.#onBuf(op.k, this.bufs[op.h % this.bufs.length], op.h % this.bufs.length);
      case 'attach': {
        const buf = this.bufs[op.h % this.bufs.length];
        const att = op.wait ? await buf.attachAsync(op.dev, { timeout: 0 }) : buf.attach(op.dev);
        this.atts.push(att);
        return { ok: true };
      }
      case 'detach': {
        const att = this.#pick(this.atts, op.a);
        if (!att) return none;
        att.detach();
        return { ok: true };
      }
      case 'map': {
        const att = this.#pick(this.atts, op.a);
        if (!att) return none;
        const table = att.map(op.dir as never);
        this.tables.push({ att, table });
        return { segments: table.segments, direction: table.direction };
      }
      case 'unmap': {
        const t = this.#pick(this.tables, op.t);
        if (!t) return none;
        t.att.unmap(t.table, (op.dir ?? undefined) as never);
        return { ok: true };
      }
      case 'begin': {
        const buf = this.bufs[op.h % this.bufs.length];
        const dir = op.dir as never;
        if (op.form === 'sync') buf.beginCpuAccess(dir);
        else if (op.form === 'async') await buf.beginCpuAccessAsync(dir);
        else this.guards.push(op.form === 'guard' ? buf.cpuAccess(dir) : await buf.cpuAccessAsync(dir));
        return { ok: true };
      }
      case 'end': {
        const buf = this.bufs[op.h % this.bufs.length];
        const open = (['read', 'write', 'readwrite'] as const).find((d) => !buf.closed && buf.cpuAccessCount[d] > 0);
        buf.endCpuAccess((op.dir ?? open ?? 'read') as never);
        return { ok: true };
      }
      case 'kunmapView': {
        const kv = this.#pick(this.kviews, op.v);
        if (!kv) return none;
        this.bufs[kv.h].kunmap(kv.page, kv.view);
        kv.live = false;
        return { ok: true };
      }
      case 'guardEnd': {
        const g = this.#pick(this.guards, op.g);
        if (!g) return none;
        g.end();
        return { ok: true };
      }
      case 'kmap': {
        const h = op.h % this.bufs.length;
        const buf = this.bufs[h];
        const view = op.atomic ? buf.kmapAtomic(op.page) : buf.kmap(op.page);
        this.kviews.push({ h, page: op.page, view, live: true });
        return { len: view.byteLength, bytes: digest(view) };
      }
      case 'kunmap': {
        const h = op.h % this.bufs.length;
        const kv = op.v === null ? undefined : this.#pick(this.kviews, op.v);
        this.bufs[h].kunmap(op.page, kv?.view);
        // The given view, or the latest kmap of that page.
        const gone = kv ?? [...this.kviews].reverse().find((x) => x.live && x.h === h && x.page === op.page);
        if (gone) gone.live = false;
        return { ok: true };
      }
      case 'kview': {
        const kv = this.#pick(this.kviews, op.v);
        if (!kv) return none;
        if (!kv.live) return { kunmapped: true };
        const view = kv.view;
        if (view.byteLength === 0) return { len: 0 };
        if (op.put !== null) view[op.off] = op.put;
        return { len: view.byteLength, at: view[op.off] };
      }
      case 'mview': {
        const mv = this.#pick(this.mviews, op.v);
        if (!mv) return none;
        if (this.#skipStale && this.bufs[mv.h].closed) return { stale: true };
        const view = mv.view;
        if (view.byteLength === 0) return { len: 0 };
        const end = Math.min(view.byteLength, op.off + op.len);
        if (op.seed !== null) view.set(pattern(end - op.off, op.seed), op.off);
        return { len: view.byteLength, bytes: digest(view.subarray(op.off, end)) };
      }
      case 'read': {
        const target = new Uint8Array(Math.max(0, op.len));
        this.bufs[op.h % this.bufs.length].read(op.off, target);
        return { bytes: digest(target) };
      }
      case 'write':
        this.bufs[op.h % this.bufs.length].write(op.off, pattern(op.len, op.seed));
        return { ok: true };
      case 'setName': {
        const buf = this.bufs[op.h % this.bufs.length];
        buf.setName(op.name);
        return { name: buf.name };
      }
      case 'sync': {
        const buf = this.bufs[op.h % this.bufs.length];
        if (buf.exporter !== 'memfd' || buf.closed) {
          buf.sync(op.flags);
          return { ok: true };
        }
        // memfd is not a dma-buf: the raw ioctl gets the kernel's ENOTTY whatever the flags (a
        // documented difference); the rest of the step must agree, so answer as the model does.
        assert.throws(() => buf.sync(op.flags), { code: 'ENOTTY' });
        checkSyncFlags(op.flags);
        return { ok: true };
      }
    }
  }

  async #onBuf(k: 'get' | 'put' | 'close' | 'mmap' | 'info' | 'inode' | 'send' | 'transfer', buf: DmaBuf, h: number): Promise<Outcome> {
    switch (k) {
      case 'get':
        buf.get();
        return { ok: true };
      case 'put':
        buf.put();
        return { ok: true };
      case 'close':
        buf.close();
        return { ok: true };
      case 'mmap': {
        const view = buf.mmap();
        this.mviews.push({ h, view });
        return { len: view.byteLength, bytes: digest(view) };
      }
      case 'info':
        return { size: buf.info().size };
      case 'inode':
        return { inode: typeof buf.inode };
      case 'send':
      case 'transfer':
        this.bufs.push(await this.#maker.share(buf, k));
        return { ok: true };
    }
  }
}

// ---------------------------------------------------------------- the property

/** One exporter under test against its model. */
export interface Subject {
  label: string;
  subject: Maker;
  model: Maker;
  /** Operations that share the buffer (channel, transfer). */
  share: boolean;
  /** Several storage chunks and migration. */
  migrate: boolean;
  /** Honours `deferred` (an imported buffer has its storage already). */
  defers: boolean;
}

/** The memory exporter as the model: shared storage (it can be handed to a "peer" in-process)
 *  for exporters that never migrate, plain storage that migrates for those that do. */
export function memoryModel(migrate: boolean): Maker {
  return {
    make: (cfg) =>
      allocate(
        cfg.pages * PAGE_SIZE,
        migrate
          ? { exporter: 'memory', deferred: cfg.deferred, segments: cfg.segments }
          : { exporter: 'memory', deferred: cfg.deferred, shared: true },
      ),
    share: async (buf) => fromTransferable(toTransferable(buf)),
    staleViewsLive: !migrate,
  };
}

/** Sends over a channel to itself and imports what arrives (send), or a worker transferable (transfer). */
export function fdMaker(make: (cfg: Config) => DmaBuf, channel: () => { a: Channel; b: Channel }): Maker {
  return {
    make,
    async share(buf, how) {
      if (how === 'transfer') return fromTransferable(toTransferable(buf));
      const { a, b } = channel();
      await a.send([buf]);
      const m = await b.receive();
      return m!.buffers[0];
    },
    staleViewsLive: false,
  };
}

/** A channel pair in this process, for the 'send' operation. */
export function localChannel(): { get(): { a: Channel; b: Channel }; close(): void } {
  let pair: { a: Channel; b: Channel } | null = null;
  return {
    get() {
      if (!pair) {
        const [a, fd] = Channel.pair();
        pair = { a, b: Channel.fromFd(fd, { takeOwnership: true }) };
      }
      return pair;
    },
    close() {
      pair?.a.close();
      pair?.b.close();
      pair = null;
    },
  };
}

function show(x: unknown): string {
  return JSON.stringify(x);
}

/** Runs `ops` on the model and the subject in lockstep; throws at the first disagreement. */
export async function differential(s: Subject, cfg: Config, ops: readonly Op[]): Promise<void> {
  const skipStale = s.model.staleViewsLive || s.subject.staleViewsLive;
  const model = new World(s.model, cfg, skipStale);
  let real: World | null = null;
  try {
    real = new World(s.subject, cfg, skipStale);
    const log: string[] = [];
    for (const [i, op] of ops.entries()) {
      const want = await model.step(op);
      const got = await real.step(op);
      log.push(`${i}: ${show(op)} → ${show(want)}`);
      const where = () => `${s.label} ${show(cfg)}, step ${i} of:\n  ${log.join('\n  ')}\n`;
      assert.deepEqual(got, want, `${where()}the model (memory) answered ${show(want)}, ${s.label} ${show(got)}`);
      const ws = model.state();
      const gs = real.state();
      assert.deepEqual(gs, ws, `${where()}state afterwards: model ${show(ws)}, ${s.label} ${show(gs)}`);
    }
  } finally {
    model.close();
    real?.close();
  }
}

/** Seed and path for fc.assert: DMABUF_FC_SEED / DMABUF_FC_PATH, or a fresh seed. */
function replay(): { seed: number; path?: string } {
  const env = process.env.DMABUF_FC_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) : (Date.now() ^ (Math.random() * 0x100000000)) | 0;
  if (!Number.isInteger(seed)) throw new Error(`DMABUF_FC_SEED must be an integer, not '${env}'`);
  const path = process.env.DMABUF_FC_PATH || undefined;
  return { seed, path };
}

/** One seed for the whole run (every property file), printed at its end. */
const seed = replay();
const totals = { sequences: 0, disagreements: 0 };

// A root hook: once, after every file of the run.
after(() => {
  if (totals.sequences > 0)
    console.log(`property sequences: ${totals.sequences}, disagreements: ${totals.disagreements}, seed: ${seed.seed}`);
});

/** fc.assert of the differential property for one subject. */
export async function check(s: Subject, numRuns: number, maxOps: number): Promise<void> {
  const prop = fc.asyncProperty(
    configArb(s.migrate, s.defers).chain((cfg) =>
      fc.tuple(fc.constant(cfg), fc.array(opArb(cfg.pages, s.share), { minLength: 1, maxLength: maxOps })),
    ),
    async ([cfg, ops]) => {
      totals.sequences++;
      await differential(s, cfg, ops);
    },
  );
  try {
    await fc.assert(prop, { numRuns, seed: seed.seed, path: seed.path });
  } catch (err) {
    totals.disagreements++;
    const e = err as Error;
    e.message = `${s.label}: replay with DMABUF_FC_SEED=${seed.seed} (and the path below as DMABUF_FC_PATH)\n${e.message}`;
    throw e;
  }
}
