// A capture helper for examples/electron-main.ts: a plain Node process (not Electron, so its
// V8 allows zero-copy views) that owns a frame pool and hands frames to the Electron main
// process over the Channel on fd 3. The "camera" paints each frame a colour of its own; a
// real one would be V4l2Capture capturing into the pool's buffers.
//   node dist/examples/electron-capture-helper.js [frames=60] [width=640] [height=360]
import { once } from 'node:events';
import { Channel, FrameProducer, PAGE_SIZE, copyMode, type Frame } from '../lib';

/** The RGBA bytes every pixel of frame n has. */
export function colour(n: number): [number, number, number, number] {
  return [(n * 37) & 0xff, (n * 91) & 0xff, (n * 53) & 0xff, 0xff];
}

export interface FrameMeta {
  n: number;
  width: number;
  height: number;
  /** Microseconds, for the VideoFrame Electron makes. */
  pts: number;
  last: boolean;
}

/** Paints frame n: through the zero-copy view here, or with one write() where views are off (copy mode). */
function paint(frame: Frame, n: number, bytes: number, row: Uint8Array | null): void {
  const [r, g, b, a] = colour(n);
  if (row === null) {
    const view = frame.view();
    for (let i = 0; i < bytes; i += 4) {
      view[i] = r;
      view[i + 1] = g;
      view[i + 2] = b;
      view[i + 3] = a;
    }
    return;
  }
  for (let i = 0; i < row.length; i += 4) row.set([r, g, b, a], i);
  for (let off = 0; off < bytes; off += row.length) frame.write(off, row);
}

async function main(): Promise<void> {
  const [frames = 60, width = 640, height = 360] = process.argv.slice(2).map(Number);
  const bytes = width * height * 4;
  const channel = Channel.fromFd(3, { takeOwnership: true });
  // 'auto': udmabuf or a DMA heap where the kernel has them (the GPU can import those),
  // a memfd elsewhere (main then copies the bytes to the renderer).
  const pool = await FrameProducer.create(channel, Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE, { count: 3, exporter: 'auto' });
  const row = copyMode().enabled ? new Uint8Array(width * 4) : null;
  for (let n = 0; n < frames; n++) {
    const frame = await pool.acquire({ timeout: 10000 }); // waits while main and the renderer hold all three
    paint(frame, n, bytes, row);
    await pool.submit(frame, { n, width, height, pts: n * 16_667, last: n === frames - 1 } satisfies FrameMeta);
  }
  if (!channel.closed) await once(channel, 'close'); // main closes its end once it is done
  pool.close();
  channel.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
