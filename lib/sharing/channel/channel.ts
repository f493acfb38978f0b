// Channels: messages of dma-bufs plus a small JSON payload between processes, over
// AF_UNIX SOCK_SEQPACKET sockets. SEQPACKET keeps each message whole, and the fds travel
// with it in one SCM_RIGHTS control message. Sockets are non-blocking; readiness comes
// from the event loop (FdWatcher, a libuv uv_poll_t), so nothing here blocks or polls.
//
// Who owns what:
// - an outgoing message is handed to the kernel at once when the socket has room (the
//   kernel then holds its own reference to every file); when it has none, the message
//   waits in a queue of at most `highWaterMark` messages holding dups of the fds, so the
//   sender may close its buffers as soon as send() returns;
// - every received fd arrives O_CLOEXEC and is imported with fromFd(fd, { takeOwnership }):
//   size from the fd, a dma-buf or a sealed memfd or nothing. A message any of whose fds
//   fails that check is dropped whole, every one of its fds closed, and reported;
// - with `reuse`, a received fd whose file (inode) an open earlier delivery holds is closed,
//   and that DmaBuf is delivered again with one more reference (its mapping and view reused).
import { EventEmitter } from 'node:events';
import { fromProbedFd } from '../../exporters/from-fd';
import { assertCrossProcess } from '../../exporters/memfd-util';
import { native, type NativeBinding, type NativeFdWatcher, type NativeProbe, type NativeReceived } from '../../platform/binding';
import { closeOnThrow, closeQuietly, withDup } from '../../platform/fds';
import { DmaBuf } from '../../core/dma-buf';
import { DmaBufError, argType, codes, illegalConstructor, outOfRange } from '../../platform/errors';
import * as v from '../../platform/validate';
import { HEADER, MAX_BUFFERS, MAX_PAYLOAD, badMessage, decode, encode } from './wire';
import {
  BATCH,
  UV_DISCONNECT,
  UV_READABLE,
  UV_WRITABLE,
  closeHandle,
  errnoError,
  hwmOption,
  reuseOption,
  isPeerGone,
  kCreate,
  sockets,
  type ChannelFromFdOptions,
  type ChannelMessage,
  type ChannelOptions,
  type Handle,
  type PeerCredentials,
} from './socket';

interface Outgoing {
  data: Uint8Array;
  fds: number[]; // dups, ours
  resolve(): void;
  reject(err: Error): void;
}

function channelClosed(message: string): DmaBufError {
  return new DmaBufError(codes.CHANNEL_CLOSED, message);
}

/** fdIdentity's answer for the fd being received: [F_GETFL, st_dev, st_ino, st_size]. */
const identity = new Float64Array(4);

/** Buffers already found safe to pass to another process (not hugetlb memfds). */
const crossProcessOk = new WeakSet<DmaBuf>();

/** The fd of a buffer to send, with the errors a sender needs. */
function fdOf(buf: unknown, i: number): number {
  if (!(buf instanceof DmaBuf)) throw argType(`buffers[${i}]`, 'an instance of DmaBuf', buf);
  if (buf.closed) throw new DmaBufError(codes.CLOSED, `send: buffers[${i}] has been released`);
  let fd: number;
  try {
    fd = buf.fd;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== codes.NOT_SUPPORTED) throw err;
    throw new DmaBufError(
      codes.NOT_SUPPORTED,
      `send: buffers[${i}] ('${buf.exporter}' exporter) has no fd to pass to another process; ` +
        "to share memory with a worker thread, allocate it with { exporter: 'memory', shared: true } and use toTransferable()",
    );
  }
  // A buffer's file never changes kind (only udmabuf migrates, and to udmabuf): check it once.
  if (!crossProcessOk.has(buf)) {
    assertCrossProcess(fd, `send: buffers[${i}]`);
    crossProcessOk.add(buf);
  }
  return fd;
}

/** Drops one reference per delivery, last first: with `reuse` a buffer may be in a message
 *  more than once, or be one the receiver already holds. */
function dropAll(buffers: readonly DmaBuf[]): void {
  for (let i = buffers.length - 1; i >= 0; i--) if (!buffers[i].closed) buffers[i].put();
}

/**
 * One end of a channel. Send with `send(buffers, payload)`; receive with `receive()`,
 * `for await (const msg of channel)`, or 'message' events.
 *
 * Events: 'message' (ChannelMessage), 'messageerror' (a message that was dropped: not
 * importable fds, a foreign or truncated message; its fds are closed), 'drain' (the send
 * queue emptied), 'error' (the socket failed; 'close' follows), 'close' (the socket is
 * closed: by close(), or the peer closed and everything it sent has been read).
 */
export class Channel extends EventEmitter implements Disposable, AsyncIterable<ChannelMessage> {
  readonly #b: NativeBinding;
  readonly #handle: Handle;
  readonly #watcher: NativeFdWatcher;
  #watching = 0;
  readonly #hwm: number;
  readonly #peer: PeerCredentials;
  #queue: Outgoing[] = [];
  #inbox: ChannelMessage[] = [];
  #waiters: Array<(m: ChannelMessage | null) => void> = [];
  #paused = false;
  #hangup = false;
  #peerGone = false;
  #closed = false;
  #recvBuf: Uint8Array | null = null;
  /** With `reuse`: buffers delivered and maybe still open, by inode (the entry holds the
   *  device too), and how many entries there were after the last sweep of closed ones. */
  readonly #known: Map<number, { buf: WeakRef<DmaBuf>; dev: number; flags: number }> | null;
  #knownSwept = 0;

  /** @internal Channels come from Channel.pair(), Channel.fromFd(), connect() and listen(). */
  constructor(token: symbol, fd: number, options: ChannelOptions, peer?: PeerCredentials) {
    if (token !== kCreate) throw illegalConstructor('Channel.pair(), Channel.fromFd(), connect() or listen()');
    super();
    this.#b = native();
    this.#hwm = hwmOption(options);
    this.#known = reuseOption(options) ? new Map() : null;
    this.#peer = Object.freeze(peer ?? this.#b.socketPeerCred(fd));
    this.#watcher = new this.#b.FdWatcher(fd, (status, events) => this.#onReady(status, events));
    this.#handle = { fd, watcher: new WeakRef(this.#watcher) };
    sockets.register(this, this.#handle);
    this.on('newListener', (event) => {
      if (event === 'message') process.nextTick(() => this.#flushInbox());
    });
    this.#arm();
  }

  /**
   * A connected pair: this end, and the other end's fd to hand to a child at spawn
   * (`stdio: [..., fd]`, where it becomes fd 3), which calls Channel.fromFd(3). The fd is
   * yours: close it in the parent once the child is spawned, or the parent will not see
   * the channel close when the child exits.
   */
  static pair(options: ChannelOptions = {}): [Channel, number] {
    const o = v.object<ChannelOptions>(options, 'options');
    hwmOption(o);
    reuseOption(o);
    const b = native();
    const out = new Int32Array(2);
    b.socketPair(out);
    return closeOnThrow([out[0], out[1]], () => [new Channel(kCreate, out[0], o), out[1]]);
  }

  /**
   * A channel over an AF_UNIX SOCK_SEQPACKET socket you hold (e.g. fd 3 in a child given
   * one end of Channel.pair()). The fd is dup'ed unless `takeOwnership`; O_NONBLOCK is set
   * on the socket (shared by every dup). On failure you still own `fd`.
   */
  static fromFd(fd: number, options: ChannelFromFdOptions = {}): Channel {
    v.fd(fd);
    const o = v.object<ChannelFromFdOptions>(options, 'options');
    const take = v.bool(o.takeOwnership, 'options.takeOwnership', false);
    hwmOption(o);
    reuseOption(o);
    native().socketAdopt(fd);
    return withDup(fd, take, (own) => {
      const channel = new Channel(kCreate, own, o);
      if (take) native().ownFd(own); // this environment's end closes it (worker.terminate())
      return channel;
    });
  }

  /** The peer's credentials (SO_PEERCRED). For a pair, both ends report the process that made it. */
  get peer(): PeerCredentials {
    return this.#peer;
  }

  /** The socket is closed (no more sends; receive() still hands out messages read before). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Messages waiting for room in the socket (never more than highWaterMark). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Received messages waiting for a reader. */
  get pending(): number {
    return this.#inbox.length;
  }

  get highWaterMark(): number {
    return this.#hwm;
  }

  /**
   * Sends one message: up to 253 buffers (their fds) and a JSON-able payload of at most
   * 64 KiB as JSON. Resolves once the kernel has the message; you may close the buffers
   * as soon as this returns. Rejects with ERR_DMABUF_QUEUE_FULL when `highWaterMark`
   * messages already wait for the socket, ERR_DMABUF_CHANNEL_CLOSED when the channel
   * closes first, EPIPE when the peer is gone.
   */
  send(buffers: DmaBuf | readonly DmaBuf[] = [], payload?: unknown): Promise<void> {
    const b = this.#b;
    let data: Uint8Array;
    let fds: number[];
    try {
      const list: readonly unknown[] = buffers instanceof DmaBuf ? [buffers] : buffers;
      if (!Array.isArray(list)) throw argType('buffers', 'a DmaBuf or an array of DmaBuf', buffers);
      if (list.length > MAX_BUFFERS) {
        throw outOfRange('buffers.length', `<= ${MAX_BUFFERS} (SCM_MAX_FD, fds per message)`, list.length);
      }
      fds = list.map(fdOf);
      data = encode(list.length, payload);
      if (this.#closed) throw channelClosed('send: the channel is closed');
      if (this.#peerGone) throw channelClosed('send: the peer has closed the channel');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#queue.length === 0) {
      let sent: number | null;
      try {
        sent = b.socketSend(this.#handle.fd, data, fds);
      } catch (err) {
        if (isPeerGone(err)) this.#onPeerGone(err as Error);
        return Promise.reject(err);
      }
      if (sent !== null) return Promise.resolve();
    }
    if (this.#queue.length >= this.#hwm) {
      return Promise.reject(
        new DmaBufError(
          codes.QUEUE_FULL,
          `send: ${this.#queue.length} message(s) already wait for room in the socket (highWaterMark ${this.#hwm}); ` +
            "await earlier sends or wait for 'drain'",
        ),
      );
    }
    const dups: number[] = [];
    try {
      for (const fd of fds) dups.push(b.dup(fd));
    } catch (err) {
      closeQuietly(dups);
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ data, fds: dups, resolve, reject });
      this.#arm();
    });
  }

  /** The next message, or null once the channel is closed and every message read has been handed out. */
  receive(): Promise<ChannelMessage | null> {
    const m = this.#inbox.shift();
    if (m) {
      this.#arm();
      return Promise.resolve(m);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#arm();
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ChannelMessage> {
    for (;;) {
      const m = await this.receive();
      if (m === null) return;
      yield m;
    }
  }

  /** Stops 'message' events and reading (receive() still reads). */
  pause(): this {
    this.#paused = true;
    this.#arm();
    return this;
  }

  resume(): this {
    this.#paused = false;
    process.nextTick(() => this.#flushInbox());
    this.#arm();
    return this;
  }

  /**
   * Closes the socket now: queued sends reject with ERR_DMABUF_CHANNEL_CLOSED, received
   * messages nobody took are released, waiting receive() calls resolve null, the peer sees
   * the channel close. Buffers already handed out stay valid. Idempotent.
   */
  close(): void {
    this.#destroy(null);
    for (const m of this.#inbox.splice(0)) dropAll(m.buffers);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #wantRead(): boolean {
    return !this.#closed && (this.#waiters.length > 0 || (!this.#paused && this.#inbox.length < Math.max(1, this.#hwm)));
  }

  /** Watches what the state calls for: readable while reading, writable while sends wait. */
  #arm(): void {
    if (this.#closed) return;
    let events = 0;
    if (this.#wantRead()) events |= UV_READABLE;
    else if (!this.#hangup) events |= UV_DISCONNECT; // notice the peer leaving while we do not read
    if (this.#queue.length > 0) events |= UV_WRITABLE;
    if (events === this.#watching) return;
    if (events === 0) this.#watcher.stop();
    else this.#watcher.start(events);
    this.#watching = events;
  }

  #onReady(status: number, events: number): void {
    if (this.#closed) return;
    if (status < 0) {
      // POLLERR: libuv stopped the watcher. The socket's pending error says what happened.
      this.#watching = -1;
      const fd = this.#handle.fd;
      let e = 0;
      try {
        e = this.#b.socketError(fd);
      } catch (err) {
        this.#destroy(err as Error);
        return;
      }
      if (e < 0) {
        const err = errnoError(e, 'getsockopt', fd);
        if (!isPeerGone(err)) {
          this.#destroy(err);
          return;
        }
        this.#onPeerGone(err);
        this.#hangup = true;
      }
      events = UV_READABLE | UV_WRITABLE;
    }
    if (events & UV_WRITABLE) this.#flush();
    if (events & (UV_READABLE | UV_DISCONNECT)) {
      if (this.#wantRead()) this.#read();
      else if (events & UV_DISCONNECT) this.#hangup = true;
    }
    this.#arm();
  }

  #read(): void {
    const b = this.#b;
    this.#recvBuf ??= new Uint8Array(HEADER + MAX_PAYLOAD);
    for (let i = 0; i < BATCH && this.#wantRead(); i++) {
      let r: NativeReceived | null;
      try {
        r = b.socketRecv(this.#handle.fd, this.#recvBuf, MAX_BUFFERS);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EMSGSIZE')
          this.#report(err as Error); // MSG_CTRUNC: the fds that arrived are closed
        else if (isPeerGone(err)) this.#onPeerGone(err as Error);
        else this.#destroy(err as Error);
        continue;
      }
      if (r === null) return;
      if (r.eof) {
        this.#destroy(null); // end of stream: the peer closed and everything it sent is read
        return;
      }
      // An empty record from a live peer is not the end: #decode reports it (no header).
      let msg: ChannelMessage;
      try {
        msg = this.#decode(r);
      } catch (err) {
        this.#report(err as Error);
        continue;
      }
      // uv_poll is level-triggered: more queued messages call back again. Once a waiting
      // receive() has its message and none waits, go back to the loop instead of asking the
      // socket once more (after an idle gap that EAGAIN recvmsg costs as much as the read).
      if (this.#deliver(msg) && this.#waiters.length === 0) return;
    }
  }

  #decode(r: NativeReceived): ChannelMessage {
    const fds = r.fds;
    let payload: unknown;
    try {
      payload = decode(this.#recvBuf!, r, this.#handle.fd);
    } catch (err) {
      closeQuietly(fds);
      throw err;
    }
    const buffers: DmaBuf[] = [];
    for (let i = 0; i < fds.length; i++) {
      try {
        // With reuse, which file it is first (two syscalls): one an open delivery holds was
        // checked when it first came.
        const known = this.#known && this.#reuse(fds[i]);
        if (known) {
          buffers.push(known);
          closeQuietly([fds[i]]); // the buffer holds the same file already
          continue;
        }
        const probe = this.#b.probeFd(fds[i]);
        assertCrossProcess(fds[i], 'the fd', probe.fsType);
        buffers.push(this.#remember(probe, fromProbedFd(fds[i], probe, true)));
      } catch (err) {
        dropAll(buffers);
        closeQuietly(fds.slice(i));
        throw badMessage(`buffer ${i} of ${fds.length} cannot be imported (${(err as Error).message})`, err);
      }
    }
    return { buffers, payload };
  }

  /** With `reuse`: the open buffer delivered before that holds the same file as fd, with one more reference. */
  #reuse(fd: number): DmaBuf | null {
    const id = identity;
    this.#b.fdIdentity(fd, id);
    if (id[0] < 0) return null;
    const entry = this.#known!.get(id[2]);
    const buf = entry?.buf.deref();
    if (!entry || !buf || buf.closed) {
      if (entry) this.#known!.delete(id[2]);
      return null;
    }
    // The same inode on the same device is the same memory; a reopened memfd may differ in
    // access mode, and a memfd whose seals let it grow may have grown.
    if (entry.dev !== id[1] || (entry.flags & 3) !== (id[0] & 3) || buf.size !== id[3]) return null;
    return buf.get();
  }

  #remember(p: NativeProbe, buf: DmaBuf): DmaBuf {
    const known = this.#known;
    if (!known) return buf;
    known.set(p.ino, { buf: new WeakRef(buf), dev: p.dev, flags: p.flags });
    if (known.size > 2 * this.#knownSwept + 16) {
      for (const [k, e] of known) if (e.buf.deref()?.closed !== false) known.delete(k);
      this.#knownSwept = known.size;
    }
    return buf;
  }

  /** Hands msg to a waiting receive() (true), a 'message' listener or the inbox. */
  #deliver(msg: ChannelMessage): boolean {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(msg);
      return true;
    }
    if (!this.#paused && this.#inbox.length === 0 && this.listenerCount('message') > 0) this.emit('message', msg);
    else this.#inbox.push(msg);
    return false;
  }

  #flushInbox(): void {
    while (!this.#paused && this.#inbox.length > 0 && this.listenerCount('message') > 0) this.emit('message', this.#inbox.shift());
    this.#arm();
  }

  /** A dropped message: 'messageerror' when someone listens, a process warning otherwise. */
  #report(err: Error): void {
    if (this.listenerCount('messageerror') > 0) this.emit('messageerror', err);
    else process.emitWarning(err);
  }

  #flush(): void {
    const b = this.#b;
    let sent = false;
    while (this.#queue.length > 0 && !this.#closed && !this.#peerGone) {
      const m = this.#queue[0];
      let r: number | null;
      try {
        r = b.socketSend(this.#handle.fd, m.data, m.fds);
      } catch (err) {
        if (isPeerGone(err)) {
          this.#onPeerGone(err as Error);
          return;
        }
        this.#queue.shift();
        this.#settle(m, err as Error);
        continue;
      }
      if (r === null) return;
      this.#queue.shift();
      this.#settle(m, null);
      sent = true;
    }
    if (sent && this.#queue.length === 0 && !this.#closed) this.emit('drain');
  }

  #settle(m: Outgoing, err: Error | null): void {
    closeQuietly(m.fds);
    if (err) m.reject(err);
    else m.resolve();
  }

  /** The peer is gone: what waits to be sent never will be. Reading goes on to the end of stream. */
  #onPeerGone(err: Error): void {
    if (this.#peerGone) return;
    this.#peerGone = true;
    const queue = this.#queue.splice(0);
    queue.forEach((m, i) =>
      this.#settle(m, i === 0 ? err : channelClosed('send: the peer closed the channel before this message could be sent')),
    );
  }

  #destroy(err: Error | null): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#watcher.close();
      this.#watching = 0;
      sockets.unregister(this, this.#handle);
      closeHandle(this.#handle);
      const why = err ? `the channel failed (${err.message})` : 'the channel was closed';
      for (const m of this.#queue.splice(0)) this.#settle(m, channelClosed(`send: ${why} before this message could be sent`));
      process.nextTick(() => {
        if (err) this.emit('error', err);
        this.emit('close');
      });
    }
    if (this.#inbox.length === 0) for (const w of this.#waiters.splice(0)) w(null);
  }
}
