// A frame pool shared by a producer and a consumer over a Channel, with explicit
// ownership: acquire → fill → submit → consume → release back. The buffers cross the
// channel once; afterwards only small messages name a frame by index. A frame is never
// written while the other side reads it: the producer writes only frames it acquired,
// which come back only when the consumer releases them. Where the kernel gives fences
// (dma-bufs), a sync_file passed to submit() becomes the buffer's write fence, and the
// consumer's read access waits for it; elsewhere the release messages are the sync.
import { allocate } from '../exporters/allocate';
import type { AllocateOptions } from '../exporters/registry';
import type { Channel, ChannelMessage } from './channel';
import { channelCodes, encode } from './channel/wire';
import type { DmaBuf } from '../core/dma-buf';
import { DmaBufError, codes, argType, closedError } from '../platform/errors';
import type { SyncFile } from '../fences/sync-file';
import * as v from '../platform/validate';
import { copyMode } from '../platform/copy-mode';
import { waitFor, type Settle } from '../platform/wait';

const PROTOCOL = 'dmabuf-pool/1';

type Msg =
  | { t: typeof PROTOCOL; kind: 'pool'; count: number; size: number }
  | { t: typeof PROTOCOL; kind: 'frame'; index: number; seq: number; meta?: unknown }
  | { t: typeof PROTOCOL; kind: 'release'; index: number; seq: number };

function isMsg(p: unknown): p is Msg {
  return typeof p === 'object' && p !== null && (p as { t?: unknown }).t === PROTOCOL;
}

function stateError(message: string): DmaBufError {
  return new DmaBufError(codes.POOL_STATE, message);
}

/** A frame index from the peer: an integer naming one of `count` frames, or null. */
function frameIndex(index: unknown, count: number): number | null {
  return Number.isInteger(index) && (index as number) >= 0 && (index as number) < count ? (index as number) : null;
}

/** A pool message the peer got wrong: 'messageerror' on its channel, as the channel reports its own. */
function report(channel: Channel, err: Error): void {
  if (channel.listenerCount('messageerror') > 0) channel.emit('messageerror', err);
  else process.emitWarning(err);
}

/** A value from the peer, in a few words: never JSON.stringify it (a deeply nested array overflows the stack). */
function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function malformed(what: string, payload: { index?: unknown; seq?: unknown }): DmaBufError {
  return new DmaBufError(
    channelCodes.BAD_MESSAGE,
    `FramePool: a '${what}' message names frame ${show(payload.index)} (seq ${show(payload.seq)}), ` +
      'which is not a frame of this pool; it was ignored',
  );
}

export interface ProducerOptions extends AllocateOptions {
  /** Frames in the pool (2 to 253). Default 3. */
  count?: number;
}

export interface SubmitOptions {
  /** A fence that signals when the frame's contents are complete (device writes). */
  fence?: SyncFile;
}

/** What a frame's view() throws in copy mode: the view error, naming the frame's copies. */
function frameView(buf: DmaBuf, what: string, copies: string): Uint8Array {
  try {
    return buf.mmap();
  } catch (err) {
    if ((err as DmaBufError).code !== codes.NO_EXTERNAL_BUFFERS) throw err;
    throw new DmaBufError(
      codes.NO_EXTERNAL_BUFFERS,
      `${what}: copy mode is on (${copyMode().why ?? 'forced'}); use ${copies}, which copy`,
      {
        cause: err,
      },
    );
  }
}

const kSubmitted = Symbol('submitted');
export const kHold = Symbol('hold');

/** A frame the producer holds between acquire() and submit(), with a write bracket open. */
export class Frame {
  #held = true;
  /** @internal */
  constructor(
    readonly index: number,
    readonly seq: number,
    readonly buffer: DmaBuf,
  ) {}
  /** The frame's bytes, zero-copy (inside the write bracket acquire() opened). In copy mode:
   *  ERR_DMABUF_NO_EXTERNAL_BUFFERS; use write() and read(). */
  view(): Uint8Array {
    return frameView(this.buffer, 'Frame.view', 'frame.write(offset, source) and frame.read(offset, target)');
  }
  /** Copies source into the frame at offset, inside the write bracket acquire() opened; until submit(). */
  write(offset: number, source: ArrayBufferView): void {
    this.#check('write');
    this.buffer.write(offset, source);
  }
  /** Copies the frame's bytes at offset into target (what this producer wrote); until submit(). */
  read(offset: number, target: ArrayBufferView): void {
    this.#check('read');
    this.buffer.read(offset, target);
  }
  /** @internal: submit() handed it over. */
  [kSubmitted](): void {
    this.#held = false;
  }
  #check(what: string): void {
    if (!this.#held) throw stateError(`${what}: frame ${this.index} (seq ${this.seq}) was submitted; acquire() a frame to fill`);
  }
}

type Slot = { state: 'free' } | { state: 'acquired'; frame: Frame } | { state: 'submitted'; seq: number };

/** The producing end: owns the buffers, hands them out to fill, gets them back on release. */
export class FrameProducer implements Disposable {
  readonly #channel: Channel;
  readonly #buffers: DmaBuf[];
  readonly #slots: Slot[];
  #seq = 0;
  #closed = false;
  #waiters: Array<Settle<Frame>> = [];
  readonly #onMessage = (m: ChannelMessage) => this.#message(m);
  readonly #onClose = () => this.#fail(new DmaBufError(codes.CLOSED, 'FramePool: the channel closed'));

  private constructor(channel: Channel, buffers: DmaBuf[]) {
    this.#channel = channel;
    this.#buffers = buffers;
    this.#slots = buffers.map(() => ({ state: 'free' }));
    channel.on('message', this.#onMessage);
    channel.once('close', this.#onClose);
  }

  /** Allocates `count` buffers of `size` bytes and sends them to the consumer once. */
  static async create(channel: Channel, size: number, options: ProducerOptions = {}): Promise<FrameProducer> {
    if (channel === null || typeof channel !== 'object' || typeof channel.send !== 'function')
      throw argType('channel', 'a Channel', channel);
    const count = v.integer(options.count ?? 3, 'options.count', 2, 253);
    v.bufferSize(size);
    const buffers: DmaBuf[] = [];
    try {
      for (let i = 0; i < count; i++) buffers.push(allocate(size, { ...options, name: options.name ?? `pool-${i}` }));
      await channel.send(buffers, { t: PROTOCOL, kind: 'pool', count, size } satisfies Msg);
      return new FrameProducer(channel, buffers);
    } catch (err) {
      for (const b of buffers) b.close();
      throw err;
    }
  }

  get count(): number {
    return this.#buffers.length;
  }

  /** The exporter behind the frames ('udmabuf', 'memfd', …). */
  get exporter(): string {
    return this.#buffers[0].exporter;
  }

  /** Frames free to acquire now. */
  get free(): number {
    return this.#slots.filter((s) => s.state === 'free').length;
  }

  /** A free frame, with a write bracket open; waits while the consumer holds them all. */
  async acquire(options: { timeout?: number } = {}): Promise<Frame> {
    if (this.#closed) throw closedError('FrameProducer', 'acquire');
    const timeout = options.timeout === undefined ? undefined : v.integer(options.timeout, 'options.timeout');
    const frame =
      this.#take() ??
      (await waitFor<Frame>(
        (w) => {
          this.#waiters.push(w);
          return () => (this.#waiters = this.#waiters.filter((x) => x !== w));
        },
        timeout,
        () => `acquire: no frame came back within ${timeout} ms (the consumer holds all ${this.count})`,
      ));
    try {
      await frame.buffer.beginCpuAccessAsync('write');
    } catch (err) {
      this.#slots[frame.index] = { state: 'free' };
      throw err;
    }
    return frame;
  }

  /**
   * Imports the fence (if any), ends the write bracket and hands the frame to the consumer.
   * Until the frame is handed over, a failure changes nothing: a bad `meta`, a fence that
   * cannot be imported (a memfd pool has no fences; a closed SyncFile) or a closed channel
   * leave the frame acquired, its write bracket open, to submit again. If sending the
   * message then fails (the peer is gone, the send queue is full), the frame goes back to
   * the pool's free frames.
   */
  async submit(frame: Frame, meta?: unknown, options: SubmitOptions = {}): Promise<void> {
    if (!(frame instanceof Frame)) throw argType('frame', 'a Frame from acquire()', frame);
    const o = v.object<SubmitOptions>(options, 'options');
    if (this.#closed) throw closedError('FrameProducer', 'submit');
    const slot = this.#slots[frame.index];
    if (slot?.state !== 'acquired' || slot.frame !== frame) {
      throw stateError(
        `submit: frame ${frame.index} (seq ${frame.seq}) is not held by the producer; acquire() it first, and submit it once`,
      );
    }
    const msg = { t: PROTOCOL, kind: 'frame', index: frame.index, seq: frame.seq, meta } satisfies Msg;
    encode(0, msg); // throws for a meta that is not JSON-able or too large, before anything changes
    if (this.#channel.closed) throw new DmaBufError(channelCodes.CHANNEL_CLOSED, 'submit: the channel is closed');
    // The fence goes in while the bracket is still open: if the import fails, nothing has changed.
    if (o.fence !== undefined) frame.buffer.importSyncFile(o.fence, 'write');
    frame.buffer.endCpuAccess('write');
    frame[kSubmitted]();
    this.#slots[frame.index] = { state: 'submitted', seq: frame.seq };
    try {
      await this.#channel.send([], msg);
    } catch (err) {
      this.#slots[frame.index] = { state: 'free' };
      this.#wake();
      throw err;
    }
  }

  /** Releases the buffers (the consumer's imports stay valid until it closes them). */
  close(): void {
    if (this.#closed) return;
    this.#fail(closedError('FrameProducer', 'acquire'));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #take(): Frame | null {
    const index = this.#slots.findIndex((s) => s.state === 'free');
    if (index < 0) return null;
    const frame = new Frame(index, this.#seq++, this.#buffers[index]);
    this.#slots[index] = { state: 'acquired', frame };
    return frame;
  }

  #wake(): void {
    while (this.#waiters.length) {
      const frame = this.#take();
      if (!frame) return;
      this.#waiters.shift()!.resolve(frame);
    }
  }

  #message({ buffers, payload }: ChannelMessage): void {
    for (const b of buffers) b.close();
    if (!isMsg(payload) || payload.kind !== 'release') return;
    if (frameIndex(payload.index, this.count) === null || !Number.isSafeInteger(payload.seq)) {
      report(this.#channel, malformed('release', payload));
      return;
    }
    const slot = this.#slots[payload.index];
    if (slot.state !== 'submitted' || slot.seq !== payload.seq) {
      report(
        this.#channel,
        stateError(`FramePool: the consumer released frame ${payload.index} (seq ${payload.seq}), which it does not hold`),
      );
      return;
    }
    this.#slots[payload.index] = { state: 'free' };
    this.#wake();
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.off('message', this.#onMessage);
    this.#channel.off('close', this.#onClose);
    for (const w of this.#waiters.splice(0)) w.reject(err);
    for (const b of this.#buffers) b.close();
  }
}

/**
 * A frame the consumer holds, with a read bracket open, until release(). It goes back to the
 * producer once every reference is gone: yours (release()) and each one a GPU import took
 * (toNativePixmap(), released by Electron's allReferencesReleased).
 */
export class ReceivedFrame {
  readonly #consumer: FrameConsumer;
  #mine = true;
  #holds = 0;
  /** @internal */
  constructor(
    consumer: FrameConsumer,
    readonly index: number,
    readonly seq: number,
    readonly buffer: DmaBuf,
    readonly meta: unknown,
  ) {
    this.#consumer = consumer;
  }
  /** The frame's bytes, zero-copy. In copy mode: ERR_DMABUF_NO_EXTERNAL_BUFFERS; use read(). */
  view(): Uint8Array {
    return frameView(this.buffer, 'ReceivedFrame.view', 'frame.read(offset, target)');
  }
  /** Copies the frame's bytes at offset into target, inside the read bracket next() opened; until release(). */
  read(offset: number, target: ArrayBufferView): void {
    if (!this.#mine) throw stateError(`read: frame ${this.index} (seq ${this.seq}) was released`);
    this.buffer.read(offset, target);
  }
  /** Gives up your reference (once): the read bracket ends and the frame goes back to the
   *  producer, now or, while a GPU import still holds it, when that is released. */
  release(): Promise<void> {
    if (!this.#mine) return Promise.reject(stateError(`release: frame ${this.index} (seq ${this.seq}) was already released`));
    this.#mine = false;
    return this.#holds > 0 ? Promise.resolve() : this.#consumer.giveBack(this);
  }
  /** @internal A reference for a GPU import; the function drops it (once). */
  [kHold](what: string): () => Promise<void> {
    if (!this.#mine) throw stateError(`${what}: frame ${this.index} (seq ${this.seq}) was released; describe a frame you hold`);
    this.#holds++;
    let dropped = false;
    return () => {
      if (dropped) return Promise.resolve();
      dropped = true;
      return --this.#holds > 0 || this.#mine ? Promise.resolve() : this.#consumer.giveBack(this);
    };
  }
}

interface Submitted {
  index: number;
  seq: number;
  meta: unknown;
}

/** The consuming end: gets the buffers once, then frames in submit order. */
export class FrameConsumer implements Disposable, AsyncIterable<ReceivedFrame> {
  readonly #channel: Channel;
  readonly #buffers: DmaBuf[];
  readonly #held = new Set<number>();
  #queue: Submitted[] = [];
  #waiters: Array<(m: Submitted | null) => void> = [];
  /** Frames submitted and not yet released: queued, being opened by next(), or held. */
  readonly #submitted = new Set<number>();
  /** next() calls run one at a time, so frames come out in submit order. */
  #turn: Promise<void> = Promise.resolve();
  #ended = false;
  #closed = false;

  private constructor(channel: Channel, buffers: DmaBuf[]) {
    this.#channel = channel;
    this.#buffers = buffers;
    channel.on('message', ({ buffers: extra, payload }: ChannelMessage) => {
      for (const b of extra) b.close();
      if (!isMsg(payload) || payload.kind !== 'frame') return;
      if (frameIndex(payload.index, this.#buffers.length) === null || !Number.isSafeInteger(payload.seq)) {
        report(channel, malformed('frame', payload));
        return;
      }
      const f: Submitted = { index: payload.index, seq: payload.seq, meta: payload.meta };
      if (this.#submitted.has(f.index)) {
        report(channel, stateError(`FramePool: the producer submitted frame ${f.index} again before the consumer released it`));
        return;
      }
      this.#submitted.add(f.index);
      const w = this.#waiters.shift();
      if (w) w(f);
      else this.#queue.push(f);
    });
    channel.once('close', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
  }

  /** Waits for the producer's pool message and takes its buffers. */
  static async attach(channel: Channel): Promise<FrameConsumer> {
    if (channel === null || typeof channel !== 'object' || typeof channel.receive !== 'function')
      throw argType('channel', 'a Channel', channel);
    const first = await channel.receive();
    if (!first) throw new DmaBufError(codes.CLOSED, 'FramePool.attach: the channel closed before the pool arrived');
    const p = first.payload;
    if (!isMsg(p) || p.kind !== 'pool' || first.buffers.length !== p.count || first.buffers.some((b) => b.size < p.size)) {
      for (const b of first.buffers) b.close();
      throw stateError('FramePool.attach: the first message is not a frame pool');
    }
    return new FrameConsumer(channel, first.buffers);
  }

  get count(): number {
    return this.#buffers.length;
  }

  /**
   * The next submitted frame, with its fences waited for and a read bracket open; null at
   * the end. `timeout` (ms) bounds the wait for the frame's fences. A frame is never lost:
   * when the read bracket cannot be opened (ERR_DMABUF_TIMEOUT, the buffer closed) the
   * frame goes back to the head of the queue and the next call returns it again. Calls
   * run one at a time, in order.
   */
  async next(options: { timeout?: number } = {}): Promise<ReceivedFrame | null> {
    const o = v.object<{ timeout?: number }>(options, 'options');
    const wait = o.timeout === undefined ? {} : { timeout: v.integer(o.timeout, 'options.timeout') };
    if (this.#closed) throw closedError('FrameConsumer', 'next');
    const turn = this.#turn;
    let done!: () => void;
    this.#turn = new Promise<void>((r) => (done = r));
    try {
      await turn;
      return await this.#next(wait);
    } finally {
      done();
    }
  }

  async #next(wait: { timeout?: number }): Promise<ReceivedFrame | null> {
    if (this.#closed) throw closedError('FrameConsumer', 'next');
    const f = this.#queue.shift() ?? (this.#ended ? null : await new Promise<Submitted | null>((r) => this.#waiters.push(r)));
    if (!f) return null;
    const buf = this.#buffers[f.index];
    try {
      await buf.beginCpuAccessAsync('read', wait);
    } catch (err) {
      this.#queue.unshift(f); // not handed out: the next call gets it again
      throw err;
    }
    this.#held.add(f.index);
    return new ReceivedFrame(this, f.index, f.seq, buf, f.meta);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ReceivedFrame> {
    for (let f = await this.next(); f; f = await this.next()) yield f;
  }

  /** @internal: ReceivedFrame.release(). */
  async giveBack(frame: ReceivedFrame): Promise<void> {
    if (!this.#held.delete(frame.index)) throw stateError(`release: frame ${frame.index} is not held by the consumer`);
    this.#submitted.delete(frame.index);
    if (this.#closed) return;
    frame.buffer.endCpuAccess('read');
    if (!this.#channel.closed)
      await this.#channel.send([], { t: PROTOCOL, kind: 'release', index: frame.index, seq: frame.seq } satisfies Msg);
  }

  /** Closes the imported buffers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#buffers) b.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
