// A listening socket and the two ways to open a channel by path: listen() and connect().
import { EventEmitter } from 'node:events';
import { lstatSync, unlinkSync } from 'node:fs';
import { native, type NativeBinding, type NativeFdWatcher } from '../../platform/binding';
import { closeOnThrow, closeQuietly } from '../../platform/fds';
import { DmaBufError, argType, codes, illegalConstructor } from '../../platform/errors';
import * as v from '../../platform/validate';
import { Channel } from './channel';
import {
  BATCH,
  UV_READABLE,
  closeHandle,
  errnoError,
  hwmOption,
  reuseOption,
  kCreate,
  sockets,
  type ConnectOptions,
  type Handle,
  type ListenOptions,
  type PeerCredentials,
} from './socket';

/** A listening socket: 'connection' (Channel), 'refused' (PeerCredentials), 'error', 'close'. */
export class ChannelServer extends EventEmitter implements Disposable {
  /** The socket's path. */
  readonly path: string;
  readonly #b: NativeBinding;
  readonly #handle: Handle;
  readonly #watcher: NativeFdWatcher;
  readonly #options: ListenOptions;
  readonly #ino: number;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;

  /** @internal */
  constructor(token: symbol, path: string, fd: number, options: ListenOptions) {
    if (token !== kCreate) throw illegalConstructor('listen()');
    super();
    this.path = path;
    this.#b = native();
    this.#options = options;
    this.#ino = lstatSync(path).ino;
    this.#watcher = new this.#b.FdWatcher(fd, (status) => this.#onReady(status));
    this.#handle = { fd, watcher: new WeakRef(this.#watcher) };
    sockets.register(this, this.#handle);
    this.#watcher.start(UV_READABLE);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stops listening and removes the socket file. Channels already accepted stay open. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#watcher.close();
    sockets.unregister(this, this.#handle);
    closeHandle(this.#handle);
    try {
      const st = lstatSync(this.path);
      if (st.isSocket() && st.ino === this.#ino) unlinkSync(this.path);
    } catch {
      // already removed
    }
    process.nextTick(() => this.emit('close'));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #onReady(status: number): void {
    if (this.#closed) return;
    const fd = this.#handle.fd;
    for (let i = 0; i < BATCH && !this.#closed; i++) {
      let conn: number | null;
      try {
        if (status < 0) {
          const e = this.#b.socketError(fd);
          if (e < 0) throw errnoError(e, 'accept4', fd);
        }
        conn = this.#b.socketAccept(fd);
      } catch (err) {
        // EMFILE and the like: say so, and try again shortly instead of spinning on a ready socket.
        this.#watcher.stop();
        this.#retry = setTimeout(() => {
          this.#retry = null;
          if (!this.#closed) this.#watcher.start(UV_READABLE);
        }, 100);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else process.emitWarning(err as Error);
        return;
      }
      if (conn === null) break;
      this.#admit(conn);
    }
    if (status < 0 && !this.#closed && this.#retry === null) this.#watcher.start(UV_READABLE);
  }

  #admit(fd: number): void {
    let channel: Channel;
    try {
      const peer = this.#b.socketPeerCred(fd);
      const filter = this.#options.accept;
      if (this.listenerCount('connection') === 0 || (filter && !filter(Object.freeze({ ...peer })))) {
        closeQuietly([fd]);
        this.emit('refused', peer);
        return;
      }
      channel = new Channel(kCreate, fd, this.#options, peer);
    } catch (err) {
      closeQuietly([fd]);
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.emitWarning(err as Error);
      return;
    }
    this.emit('connection', channel);
  }
}

/** The default accept filter: peers running as this process's effective uid, as Wayland and D-Bus admit. */
function sameUser(): (peer: PeerCredentials) => boolean {
  const uid = process.geteuid!();
  return (peer) => peer.uid === uid;
}

/**
 * Listens on a filesystem path (AF_UNIX SOCK_SEQPACKET). A stale socket file left by a
 * dead server is replaced; a live one gives EADDRINUSE, and no other file is touched.
 * Safe by default: the socket file is created with `mode` 0o600 (before listen(2), so no
 * one connects in between), and only peers of this process's effective uid are accepted
 * unless an `accept` filter says otherwise.
 */
export function listen(path: string, options: ListenOptions = {}): ChannelServer {
  v.str(path, 'path');
  const o = v.object<ListenOptions>(options, 'options');
  hwmOption(o);
  reuseOption(o);
  const backlog = o.backlog === undefined ? 128 : v.integer(o.backlog, 'options.backlog', 1, 65535);
  const mode = o.mode === undefined ? 0o600 : v.integer(o.mode, 'options.mode', 0, 0o777);
  if (o.accept !== undefined && typeof o.accept !== 'function') throw argType('options.accept', 'a function', o.accept);
  const b = native();
  const accept = o.accept ?? sameUser();
  const fd = b.socketListen(path, backlog, mode);
  return closeOnThrow(fd, () => new ChannelServer(kCreate, path, fd, { ...o, accept }));
}

/** Connects to a listening path. Retries (with a growing delay, up to `timeout`) while the backlog is full. */
export async function connect(path: string, options: ConnectOptions = {}): Promise<Channel> {
  v.str(path, 'path');
  const o = v.object<ConnectOptions>(options, 'options');
  hwmOption(o);
  reuseOption(o);
  const timeout = o.timeout === undefined ? 10000 : v.integer(o.timeout, 'options.timeout');
  const b = native();
  const deadline = Date.now() + timeout;
  for (let delay = 1; ; delay = Math.min(delay * 2, 100)) {
    const fd = b.socketConnect(path);
    if (fd !== null) return closeOnThrow(fd, () => new Channel(kCreate, fd, o));
    if (Date.now() >= deadline) {
      throw new DmaBufError(
        codes.TIMEOUT,
        `connect: the listener on '${path}' did not take the connection within ${timeout} ms (its backlog is full)`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
  }
}
