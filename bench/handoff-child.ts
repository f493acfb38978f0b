// The child side of the handoff benchmark. Timestamps are process.hrtime (CLOCK_MONOTONIC,
// the same clock in every process of the machine), so the parent can split a round trip.
//
//   handoff-child.js spawn-fd   fd 3 is the buffer: fromFd(3), mmap, read the first and the
//                               last byte, acknowledge; then (after the ack, not timed by the
//                               parent) the same read inside a CPU-access bracket, reported.
//   handoff-child.js spawn-ipc  one message with the bytes (advanced serialization): read the
//                               first and the last byte, acknowledge.
//   handoff-child.js long       long-lived: says 'ready', then acknowledges every message with
//                               bytes as spawn-ipc does, until the parent disconnects.
//   handoff-child.js channel    long-lived, over the library's Channel (SCM_RIGHTS) on fd 3:
//                               says ready, then for every message mmaps the buffer it carries
//                               (or, when the payload says { via: 'read' }, uses read()), reads
//                               the first and the last byte, acknowledges on the channel, then
//                               closes the buffer.
//   handoff-child.js channel-reuse  the same over a Channel with { reuse: true }, keeping one
//                               reference per buffer: a buffer that comes back is the same
//                               DmaBuf, its mapping and view reused (the README's advice).
//   handoff-child.js raw        the floor: the bare addon, no library (see raw() below).
const tBoot = process.hrtime.bigint();

import type { DmaBuf } from '../lib';

const t = () => process.hrtime.bigint().toString();
/** The long-lived children run with --expose-gc and collect when asked between rounds (untimed), as the parent does. */
const gc = () => (globalThis as { gc?: () => void }).gc?.();

function send(msg: object): Promise<void> {
  return new Promise((resolve, reject) => process.send!(msg, undefined, {}, (err) => (err ? reject(err) : resolve())));
}

/** The bytes as the deserializer gives them (a Buffer or Uint8Array). */
function bytesOf(m: { data: Uint8Array }): Uint8Array {
  return m.data;
}

async function spawnFd(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { fromFd } = require('../lib') as typeof import('../lib');
  const tLib = t();
  const buf: DmaBuf = fromFd(3);
  const view = buf.mmap();
  const first = view[0];
  const last = view[view.length - 1];
  const tRead = t();
  await send({ t: 'ack', first, last, size: buf.size, exporter: buf.exporter, tBoot: tBoot.toString(), tLib, tRead });
  // Not in the parent's round trip: what a bracketed read (as a consumer should do) costs here.
  const b0 = process.hrtime.bigint();
  buf.beginCpuAccess('read');
  const again = view[0] ^ view[view.length - 1];
  buf.endCpuAccess('read');
  const bracketNs = Number(process.hrtime.bigint() - b0);
  buf.close();
  await send({ t: 'bracket', bracketNs, again });
  process.disconnect();
}

function spawnIpc(): void {
  const tLib = t();
  process.once('message', (m: { data: Uint8Array }) => {
    const tMsg = t();
    const data = bytesOf(m);
    void send({
      t: 'ack',
      first: data[0],
      last: data[data.length - 1],
      size: data.length,
      tBoot: tBoot.toString(),
      tLib,
      tRead: tMsg,
    }).then(() => process.disconnect());
  });
}

function longLived(): void {
  process.on('message', (m: { data?: Uint8Array; gc?: boolean }) => {
    if (m.gc) {
      // Between rounds, untimed: collect what the last round left, as the parent does.
      gc();
      void send({ t: 'gc' });
      return;
    }
    const tRead = t();
    const data = bytesOf(m as { data: Uint8Array });
    void send({ t: 'ack', first: data[0], last: data[data.length - 1], size: data.length, tRead });
  });
  void send({ t: 'ready' });
}

async function channel(reuse: boolean): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Channel } = require('../lib') as typeof import('../lib');
  const ch = Channel.fromFd(3, { takeOwnership: true, reuse });
  /** With reuse: one reference kept per buffer, so one that comes back is recognised. */
  const kept = new Set<DmaBuf>();
  await ch.send([], { t: 'ready' });
  for (;;) {
    const m = await ch.receive();
    if (m === null) break;
    const p = m.payload as { gc?: boolean; drop?: boolean; via?: string };
    if (p.gc) {
      gc();
      await ch.send([], { t: 'gc' });
      continue;
    }
    if (p.drop) {
      for (const b of kept) b.close();
      kept.clear();
      await ch.send([], { t: 'dropped' });
      continue;
    }
    const buf = m.buffers[0];
    let first: number;
    let last: number;
    if (p.via === 'read') {
      // read(): copies through the addon's own mapping, no ArrayBuffer over the whole buffer
      const one = new Uint8Array(1);
      buf.read(0, one);
      first = one[0];
      buf.read(buf.size - 1, one);
      last = one[0];
    } else {
      const view = buf.mmap();
      first = view[0];
      last = view[view.length - 1];
    }
    await ch.send([], { t: 'ack', first, last, size: buf.size });
    if (!reuse) buf.close();
    else if (kept.has(buf))
      buf.put(); // it came back: drop this delivery's reference, keep ours
    else kept.add(buf);
  }
  ch.close();
}

/** The floor: the same round with the bare addon and no library (no object model, no channel
 *  protocol): an FdWatcher on fd 3, recvmsg, the mapping kept per inode, two bytes back. */
function raw(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { native } = require('../lib/platform/binding') as typeof import('../lib/platform/binding');
  const b = native();
  b.socketAdopt(3);
  const msg = new Uint8Array(64);
  const ack = new Uint8Array(2);
  const views = new Map<number, { handle: number; view: Uint8Array }>();
  const w = new b.FdWatcher(3, () => {
    for (;;) {
      const r = b.socketRecv(3, msg, 4);
      if (r === null) return;
      if (r.eof) {
        w.close();
        return;
      }
      const fd = r.fds[0];
      const st = b.fstat(fd);
      let kept = views.get(st.ino);
      if (!kept) {
        if (msg[0] === 1) {
          // a new size: let go of the old mappings
          for (const k of views.values()) b.munmap(k.handle);
          views.clear();
        }
        const handle = b.mmap(fd, st.size, 0, true);
        kept = { handle, view: new Uint8Array(b.mapView(handle)) };
        views.set(st.ino, kept);
      }
      const view = kept.view;
      b.close(fd);
      ack[0] = view[0];
      ack[1] = view[view.length - 1];
      b.socketSend(3, ack, []);
    }
  });
  w.start(1);
}

const mode = process.argv[2];
if (mode === 'spawn-fd') void spawnFd();
else if (mode === 'spawn-ipc') spawnIpc();
else if (mode === 'long') longLived();
else if (mode === 'channel') void channel(false);
else if (mode === 'channel-reuse') void channel(true);
else if (mode === 'raw') raw();
else {
  console.error(`handoff-child: unknown mode '${mode}' (spawn-fd, spawn-ipc, long, channel, channel-reuse, raw)`);
  process.exit(2);
}
