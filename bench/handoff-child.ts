// The child side of the handoff benchmark. Timestamps are process.hrtime (CLOCK_MONOTONIC,
// the same clock in every process of the machine), so the parent can split a round trip.
//
//   handoff-child.js spawn-fd   fd 3 is the buffer: fromFd(3), mmap, read the first and the
//                               last byte, acknowledge; then (after the ack, not timed by the
//                               parent) the same read inside a CPU-access bracket, reported.
//   handoff-child.js spawn-ipc  one message with the bytes (advanced serialization): read the
//                               first and the last byte, acknowledge.
//   handoff-child.js long       long-lived: says 'ready', then acknowledges every message
//                               with bytes as spawn-ipc does, until the parent disconnects.
const tBoot = process.hrtime.bigint();

import type { DmaBuf } from '../lib';

const t = () => process.hrtime.bigint().toString();

function send(msg: object): Promise<void> {
  return new Promise((resolve, reject) => process.send!(msg, undefined, {}, (err) => (err ? reject(err) : resolve())));
}

/** The bytes as the deserializer gives them (a Buffer or Uint8Array). */
function bytesOf(m: { data: Uint8Array }): Uint8Array {
  return m.data;
}

async function spawnFd(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
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
    void send({ t: 'ack', first: data[0], last: data[data.length - 1], size: data.length, tBoot: tBoot.toString(), tLib, tRead: tMsg })
      .then(() => process.disconnect());
  });
}

function longLived(): void {
  process.on('message', (m: { data: Uint8Array }) => {
    const tRead = t();
    const data = bytesOf(m);
    void send({ t: 'ack', first: data[0], last: data[data.length - 1], size: data.length, tRead });
  });
  void send({ t: 'ready' });
}

const mode = process.argv[2];
if (mode === 'spawn-fd') void spawnFd();
else if (mode === 'spawn-ipc') spawnIpc();
else if (mode === 'long') longLived();
else {
  console.error(`handoff-child: unknown mode '${mode}' (spawn-fd, spawn-ipc, long)`);
  process.exit(2);
}
