// The consumer of the paced pipeline benchmark (bench/pipeline.ts), a long-lived child on
// fd 3, the other end of a Channel.pair(). Timestamps are process.hrtime (CLOCK_MONOTONIC,
// the same clock in every process of the machine), so the producer can subtract its own.
//
//   pipeline-child.js reuse   Channel { reuse: true }, one reference kept per buffer: a frame
//                             whose buffer comes back is the same DmaBuf, its mapping and view
//                             reused (the README's advice for buffers that come back).
//   pipeline-child.js fresh   no reuse: every frame is a new import and a new mmap() view,
//                             closed after the ack.
//
// For every frame: receive it, map it, check it inside a read bracket (the frame number the
// producer wrote in the first 4 bytes, and every byte of the first and the last row), then
// acknowledge { s: seq, r: received, m: mapped, c: checked, bad } so that the producer's
// pool slot is free again. Commands in the payload: { cmd: 'gc' } (a full collection,
// untimed), { cmd: 'begin' } (start keeping GC entries), { cmd: 'end' } (send them back).
import { PerformanceObserver } from 'node:perf_hooks';
import type { DmaBuf } from '../lib';
import { gcEntry, type GcEntry } from './common';

const now = () => Number(process.hrtime.bigint());

async function main(): Promise<void> {
  const reuse = process.argv[2] === 'reuse';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Channel } = require('../lib') as typeof import('../lib');
  const ch = Channel.fromFd(3, { takeOwnership: true, reuse });
  const kept = new Set<DmaBuf>();
  let gcs: GcEntry[] | null = null;
  const obs = new PerformanceObserver((list) => {
    if (gcs) for (const e of list.getEntries()) gcs.push(gcEntry(e));
  });
  obs.observe({ entryTypes: ['gc'] });
  await ch.send([], { t: 'ready' });
  for (;;) {
    const msg = await ch.receive();
    if (msg === null) break;
    const p = msg.payload as { s?: number; w?: number; f?: number; cmd?: string };
    if (p.cmd !== undefined) {
      let ms: number | undefined;
      if (p.cmd === 'gc') {
        const t0 = now();
        (globalThis as { gc?: () => void }).gc?.();
        ms = Number(((now() - t0) / 1e6).toFixed(3));
      }
      if (p.cmd === 'begin') gcs = [];
      if (p.cmd === 'end') {
        // entries are delivered asynchronously: let the observer's callback run first
        await new Promise((r) => setTimeout(r, 10));
      }
      if (p.cmd === 'drop') {
        for (const b of kept) b.close();
        kept.clear();
      }
      await ch.send([], p.cmd === 'end' ? { t: 'end', gcs } : { t: p.cmd, ms });
      if (p.cmd === 'end') gcs = null;
      continue;
    }
    const r = now();
    const buf = msg.buffers[0];
    const view = buf.mmap();
    const m = now();
    const w = p.w!;
    const f = p.f!;
    buf.beginCpuAccess('read');
    const seq = (view[0] | (view[1] << 8) | (view[2] << 16) | (view[3] << 24)) >>> 0;
    const val = (seq * 7 + 1) & 0xff;
    let bad = seq === p.s ? 0 : 1;
    for (let i = 4; i < w; i++) if (view[i] !== val) bad++;
    for (let i = f - w; i < f; i++) if (view[i] !== val) bad++;
    buf.endCpuAccess('read');
    const c = now();
    await ch.send([], { t: 'ack', s: p.s, r, m, c, bad });
    if (!reuse) buf.close();
    else if (kept.has(buf))
      buf.put(); // it came back: drop this delivery's reference, keep ours
    else kept.add(buf);
  }
  obs.disconnect();
  for (const b of kept) b.close();
  ch.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
