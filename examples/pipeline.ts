// npm run demo:pipeline — a producer process writes 1920×1080 RGBA frames into a frame
// pool, a consumer process checks each one; no frame byte crosses between them.
//   node dist/examples/pipeline.js [frames=300] [poolSize=3]
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Channel, FrameConsumer, FrameProducer } from '../lib';

const WIDTH = 1920;
const HEIGHT = 1080;
const SIZE = WIDTH * HEIGHT * 4;
const now = () => performance.timeOrigin + performance.now();

/** Every pixel of frame `seq` is this RGBA word. */
const pixel = (seq: number) => (0xff000000 | ((seq * 2654435761) & 0xffffff)) >>> 0;

async function consumer(): Promise<void> {
  const channel = Channel.fromFd(3, { takeOwnership: true });
  const pool = await FrameConsumer.attach(channel);
  await channel.send([], { ready: true }); // the pool ignores messages that are not its own
  const latencies: number[] = [];
  let bad = 0;
  for await (const frame of pool) {
    const px = new Uint32Array(frame.view().buffer, frame.view().byteOffset, SIZE / 4);
    const want = pixel(frame.seq);
    for (let i = 0; i < px.length; i += 997) if (px[i] !== want) bad++;
    if (px[px.length - 1] !== want) bad++;
    latencies.push(now() - (frame.meta as { t: number }).t);
    const last = (frame.meta as { last: boolean }).last;
    await frame.release();
    if (last) break;
  }
  await channel.send([], { latencies, bad });
  pool.close();
  channel.close();
}

function pct(sorted: number[], p: number): string {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2);
}

async function producer(): Promise<void> {
  const frames = Number(process.argv[2] ?? 300);
  const count = Number(process.argv[3] ?? 3);
  const [channel, childEnd] = Channel.pair();
  const child = spawn(process.execPath, [__filename, '--consumer'], { stdio: ['inherit', 'inherit', 'inherit', childEnd] });
  closeSync(childEnd);
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  // The consumer's start (Node boot, loading the library: ~100 ms) is not a frame's latency:
  // frames go out once it has attached to the pool and says so.
  const ready = new Promise<void>((resolve) =>
    channel.on('message', ({ payload }) => {
      if ((payload as { ready?: boolean } | null)?.ready) resolve();
    }),
  );
  const pool = await FrameProducer.create(channel, SIZE, { count, exporter: (process.env.DMABUF_EXPORTER as 'auto') ?? 'auto' });
  console.log(
    `pipeline: ${frames} frames of ${WIDTH}×${HEIGHT} RGBA (${(SIZE / 2 ** 20).toFixed(1)} MiB) through a pool of ${count} ${pool.exporter} buffers`,
  );
  type Report = { latencies: number[]; bad: number };
  const report = new Promise<Report>((resolve) =>
    channel.on('message', ({ payload }) => {
      if (payload && typeof payload === 'object' && 'latencies' in payload) resolve(payload as Report);
    }),
  );
  await ready;
  const start = now();
  for (let seq = 0; seq < frames; seq++) {
    const frame = await pool.acquire({ timeout: 30000 });
    new Uint32Array(frame.view().buffer, frame.view().byteOffset, SIZE / 4).fill(pixel(frame.seq));
    await pool.submit(frame, { t: now(), last: seq === frames - 1 });
  }
  const { latencies, bad } = await report;
  const elapsed = (now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(`  frames checked by the consumer:   ${latencies.length}, mismatches: ${bad}`);
  console.log(
    `  throughput:                       ${(frames / elapsed).toFixed(1)} frames/s (${((frames * SIZE) / 2 ** 30 / elapsed).toFixed(2)} GiB/s written)`,
  );
  console.log(
    `  submit → consumer latency (ms):   p50 ${pct(latencies, 50)}  p90 ${pct(latencies, 90)}  p99 ${pct(latencies, 99)}  max ${latencies[latencies.length - 1].toFixed(2)}`,
  );
  console.log(`  frame bytes copied between processes: 0`);
  pool.close();
  channel.close();
  const code = await exited;
  if (bad > 0 || latencies.length !== frames || code !== 0) {
    console.error(`pipeline: FAILED (mismatches ${bad}, frames ${latencies.length}/${frames}, consumer exit ${code})`);
    process.exitCode = 1;
  }
}

(process.argv.includes('--consumer') ? consumer() : producer()).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
