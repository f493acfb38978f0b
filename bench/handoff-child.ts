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
//                               the first and the last byte, acknowledges on the channel.
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

/** The part of lib/channel's Channel this benchmark uses (looked up at run time: see suites.ts). */
interface ChannelLike {
  send(buffers: DmaBuf | readonly DmaBuf[], payload?: unknown): Promise<void>;
  receive(): Promise<{ buffers: DmaBuf[]; payload: unknown } | null>;
  close(): void;
}

async function channel(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Channel } = require('../lib') as { Channel: { fromFd(fd: number, o: { takeOwnership: boolean }): ChannelLike } };
  const ch = Channel.fromFd(3, { takeOwnership: true });
  await ch.send([], { t: 'ready' });
  for (;;) {
    const m = await ch.receive();
    if (m === null) break;
    if ((m.payload as { gc?: boolean }).gc) {
      gc();
      await ch.send([], { t: 'gc' });
      continue;
    }
    const buf = m.buffers[0];
    let first: number;
    let last: number;
    if ((m.payload as { via?: string }).via === 'read') {
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
    await ch.send([], { t: 'ack', first, last, size: buf.size, tRead: t() });
    buf.close();
  }
  ch.close();
}

const mode = process.argv[2];
if (mode === 'spawn-fd') void spawnFd();
else if (mode === 'spawn-ipc') spawnIpc();
else if (mode === 'long') longLived();
else if (mode === 'channel') void channel();
else {
  console.error(`handoff-child: unknown mode '${mode}' (spawn-fd, spawn-ipc, long)`);
  process.exit(2);
}
