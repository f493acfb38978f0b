// Hardware-in-the-loop capture: a V4L2 device writes frames straight into dma-bufs this
// process allocated (V4L2_MEMORY_DMABUF); each frame is read inside a CPU-access bracket,
// checked against the expected test pattern, timed, and one is written out as a PNG.
//
//   npx dmabuf vm -- node dist/examples/hil-capture.js                   # vivid, on a real 6.12 kernel
//   node dist/examples/hil-capture.js --device /dev/video2 --frames 100  # a real camera (YUYV)
//
// Copy it into your rig and change check() to your own pattern. Options: --help.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import { allocate, capabilities, PAGE_SIZE, V4l2Capture, type DmaBuf, type V4l2Format } from '../lib'; // from 'dmabuf' in your code

const HELP = `usage: node dist/examples/hil-capture.js [options]

  --device <path>    V4L2 capture node (default /dev/video0)
  --frames <n>       frames to capture (default 30)
  --buffers <n>      dma-bufs queued to the driver (default 4)
  --exporter <name>  udmabuf, dma-heap or auto (default auto); V4L2 needs a real dma-buf
  --png <file>       where to write one frame as PNG (default hil-capture.png; YUYV only)
  --no-png           write no PNG
  --pattern <p>      vivid-bars: check vivid's 75 % colour bars (the default on vivid); none
  --timeout <ms>     longest wait for one frame (default 30000)
  --json             the report as JSON

exit status: 0 every frame passed the pattern check; 1 a frame did not; 2 error`;

/**
 * vivid's default test pattern in YUYV: eight vertical 75 % colour bars, left to right
 * (ITU-R BT.601 limited range: Y, Cb, Cr). The first bytes of a frame are `b3 80 b3 80`,
 * the white bar. vivid prints its status text over rows ~16–130, so rows are sampled
 * above and below it.
 */
const VIVID_BARS: ReadonlyArray<readonly [name: string, y: number, u: number, v: number]> = [
  ['white', 180, 128, 128],
  ['yellow', 162, 44, 142],
  ['cyan', 131, 156, 44],
  ['green', 112, 72, 58],
  ['magenta', 84, 184, 198],
  ['red', 65, 100, 212],
  ['blue', 35, 212, 114],
  ['black', 16, 128, 128],
];
const TOLERANCE = 4;

export interface PatternResult {
  ok: boolean;
  /** Samples checked (bars × rows). */
  samples: number;
  /** The first few samples that differ. */
  mismatches: string[];
}

/** Checks a YUYV frame for vivid's colour bars at each bar's centre, on several rows. */
export function checkVividBars(px: Uint8Array, fmt: V4l2Format): PatternResult {
  const rows = [0, 4, Math.floor(fmt.height / 2), Math.floor((fmt.height * 3) / 4), fmt.height - 1];
  const mismatches: string[] = [];
  let samples = 0;
  VIVID_BARS.forEach(([name, y, u, v], bar) => {
    const x = Math.floor(((bar + 0.5) * fmt.width) / VIVID_BARS.length) & ~1; // even: the start of a Y0 U Y1 V group
    for (const row of rows) {
      samples++;
      const o = row * fmt.bytesPerLine + x * 2;
      const got = [px[o], px[o + 1], px[o + 2], px[o + 3]];
      const want = [y, u, y, v];
      if (got.some((g, i) => Math.abs(g - want[i]) > TOLERANCE) && mismatches.length < 5)
        mismatches.push(`${name} bar, row ${row}: got ${hex(got)}, want ${hex(want)} (±${TOLERANCE})`);
    }
  });
  return { ok: mismatches.length === 0, samples, mismatches };
}

const hex = (b: number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join(' ');
const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));

/** YUYV (BT.601 limited range) → a PNG. */
export function yuyvToPng(px: Uint8Array, fmt: V4l2Format): Buffer {
  const png = new PNG({ width: fmt.width, height: fmt.height });
  for (let row = 0; row < fmt.height; row++) {
    for (let x = 0; x < fmt.width; x += 2) {
      const o = row * fmt.bytesPerLine + x * 2;
      const u = px[o + 1] - 128;
      const v = px[o + 3] - 128;
      for (const [k, y] of [px[o], px[o + 2]].entries()) {
        const c = 1.164 * (y - 16);
        const d = (row * fmt.width + x + k) * 4;
        png.data[d] = clamp(c + 1.596 * v);
        png.data[d + 1] = clamp(c - 0.392 * u - 0.813 * v);
        png.data[d + 2] = clamp(c + 2.017 * u);
        png.data[d + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png, { colorType: 2 });
}

interface FrameReport {
  sequence: number;
  index: number;
  bytesUsed: number;
  /** Dequeued minus the driver's timestamp (CLOCK_MONOTONIC), ms. vivid stamps nominal frame times, which may run ahead. */
  latencyMs: number;
  /** Since the previous frame was dequeued, ms. */
  intervalMs: number | null;
  /** The CPU-access bracket with the pattern check inside, ms. */
  checkMs: number;
  pattern: PatternResult | null;
}

const ms = (ns: bigint) => Number(ns) / 1e6;
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

function deviceName(path: string): string {
  try {
    return readFileSync(`/sys/class/video4linux/${basename(path)}/name`, 'utf8').trim();
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({
    options: {
      device: { type: 'string', default: '/dev/video0' },
      frames: { type: 'string', default: '30' },
      buffers: { type: 'string', default: '4' },
      exporter: { type: 'string', default: 'auto' },
      png: { type: 'string', default: 'hil-capture.png' },
      'no-png': { type: 'boolean' },
      pattern: { type: 'string' },
      timeout: { type: 'string', default: '30000' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  const frames = Number(o.frames);
  const nbufs = Number(o.buffers);
  const timeout = Number(o.timeout);
  const say = (s: string) => o.json || console.log(s);

  const name = deviceName(o.device!);
  const pattern = o.pattern ?? (name.startsWith('vivid') ? 'vivid-bars' : 'none');
  if (!['vivid-bars', 'none'].includes(pattern)) throw new Error(`--pattern: vivid-bars or none, not '${pattern}'`);
  using cam = new V4l2Capture(o.device);
  const fmt = cam.format();
  if (pattern === 'vivid-bars' && fmt.pixelFormat !== 'YUYV')
    throw new Error(`the vivid-bars check needs YUYV; ${o.device} gives ${fmt.pixelFormat}`);

  const size = Math.ceil(fmt.sizeImage / PAGE_SIZE) * PAGE_SIZE;
  const bufs: DmaBuf[] = [];
  try {
    for (let i = 0; i < nbufs; i++) bufs.push(allocate(size, { exporter: o.exporter, name: `hil-frame-${i}` }));
    if (bufs[0].exporter === 'memfd' || bufs[0].exporter === 'memory') {
      const why = capabilities().why;
      throw new Error(`V4L2 needs a real dma-buf, and 'auto' fell back to ${bufs[0].exporter} here: ${why.udmabuf}; ${why.heaps}`);
    }
    const granted = cam.requestBuffers(bufs.length); // VIDIOC_REQBUFS, V4L2_MEMORY_DMABUF
    bufs.slice(0, granted).forEach((b, i) => cam.queue(i, b)); // VIDIOC_QBUF with our dma-buf fds
    say(
      `hil-capture: ${o.device} (${name || 'unknown device'}), ${fmt.pixelFormat} ${fmt.width}×${fmt.height}, ` +
        `${granted} ${bufs[0].exporter} buffers of ${size} bytes, pattern ${pattern}`,
    );
    cam.streamOn();

    const report: FrameReport[] = [];
    let pngFrame: { sequence: number; bytes: Uint8Array } | null = null;
    let prev: bigint | null = null;
    const t0 = process.hrtime.bigint();
    for (let n = 0; n < frames; n++) {
      const frame = await cam.dequeue({ timeout });
      const deq = process.hrtime.bigint(); // CLOCK_MONOTONIC, as the driver's timestamp
      let result: PatternResult | null = null;
      {
        await frame.buffer.beginCpuAccessAsync('read', { timeout: 5000 }); // DMA_BUF_IOCTL_SYNC START|READ, after the device's fences
        try {
          const px = frame.buffer.mmap().subarray(0, frame.bytesUsed); // zero-copy: the driver's bytes, in our dma-buf
          if (pattern === 'vivid-bars') result = checkVividBars(px, fmt);
          if (n === frames - 1 && !o['no-png']) pngFrame = { sequence: frame.sequence, bytes: Uint8Array.from(px) };
        } finally {
          frame.buffer.endCpuAccess('read');
        }
      }
      report.push({
        sequence: frame.sequence,
        index: frame.index,
        bytesUsed: frame.bytesUsed,
        latencyMs: Number(deq / 1000n) / 1000 - frame.timestampUs / 1000,
        intervalMs: prev === null ? null : ms(deq - prev),
        checkMs: ms(process.hrtime.bigint() - deq),
        pattern: result,
      });
      prev = deq;
      cam.queue(frame.index, frame.buffer); // back to the driver
    }
    const seconds = ms(process.hrtime.bigint() - t0) / 1000;
    cam.streamOff();

    const dropped = report.reduce((d, f, i) => d + (i ? Math.max(0, f.sequence - report[i - 1].sequence - 1) : 0), 0);
    const failed = report.filter((f) => f.pattern && !f.pattern.ok);
    let png: string | null = null;
    if (pngFrame && fmt.pixelFormat === 'YUYV') {
      writeFileSync(o.png!, yuyvToPng(pngFrame.bytes, fmt));
      png = o.png!;
    }
    const lat = report.map((f) => f.latencyMs);
    const intervals = report.flatMap((f) => (f.intervalMs === null ? [] : [f.intervalMs]));
    const summary = {
      device: o.device,
      name,
      format: fmt,
      exporter: bufs[0].exporter,
      buffers: granted,
      frames: report.length,
      seconds: Number(seconds.toFixed(3)),
      fps: Number((report.length / seconds).toFixed(2)),
      dropped,
      latencyMs: { p50: pct(lat, 0.5), p95: pct(lat, 0.95), max: Math.max(...lat) },
      intervalMs: { p50: pct(intervals, 0.5), p95: pct(intervals, 0.95), max: Math.max(...intervals) },
      pattern: { name: pattern, checked: report.filter((f) => f.pattern).length, failed: failed.length },
      png,
      perFrame: report,
    };
    if (o.json) console.log(JSON.stringify(summary, null, 2));
    else {
      const f2 = (x: number) => x.toFixed(2).padStart(8);
      console.log('     seq  slot  latency ms  interval ms  check ms  pattern');
      for (const f of report)
        console.log(
          `  ${String(f.sequence).padStart(6)}  ${String(f.index).padStart(4)}  ${f2(f.latencyMs)}    ${f.intervalMs === null ? '       -' : f2(f.intervalMs)}     ${f2(f.checkMs)}  ${
            f.pattern ? (f.pattern.ok ? `ok (${f.pattern.samples} samples)` : `MISMATCH: ${f.pattern.mismatches.join('; ')}`) : '-'
          }`,
        );
      console.log(`  ${report.length} frames in ${seconds.toFixed(2)} s (${summary.fps} frames/s), ${dropped} dropped (sequence gaps)`);
      console.log(
        `  latency (driver timestamp → dequeued) ms: p50 ${pct(lat, 0.5).toFixed(2)}  p95 ${pct(lat, 0.95).toFixed(2)}  max ${Math.max(...lat).toFixed(2)}` +
          (Math.min(...lat) < 0 ? '  (negative: the driver stamps nominal frame times ahead of the clock, as vivid does)' : ''),
      );
      if (pattern !== 'none') console.log(`  ${pattern}: ${report.length - failed.length}/${report.length} frames match`);
      if (png) console.log(`  wrote ${png} (frame ${pngFrame!.sequence})`);
    }
    return failed.length ? 1 : 0;
  } finally {
    cam.close(); // STREAMOFF, frees the driver's slots; the buffers stay ours
    for (const b of bufs) b.close();
  }
}

if (require.main === module) {
  main().then(
    (code) => (process.exitCode = code),
    (err) => {
      const { code, message } = err as NodeJS.ErrnoException;
      console.error(`hil-capture: ${code && !message.startsWith(code) ? `${code}: ` : ''}${message}`);
      process.exitCode = 2;
    },
  );
}
