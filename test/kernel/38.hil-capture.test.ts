// examples/hil-capture: vivid writes frames into our udmabufs; every frame is read in a
// CPU-access bracket and checked against vivid's colour bars; one becomes a PNG. Run as a
// user runs it (a separate process), on the real kernel. VM suite only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { checkFds } from '../helpers';

const EXAMPLE = join(__dirname, '..', '..', 'examples', 'hil-capture.js');

interface Summary {
  exporter: string;
  name: string;
  format: { width: number; height: number; pixelFormat: string };
  frames: number;
  dropped: number;
  pattern: { name: string; checked: number; failed: number };
  png: string;
  perFrame: Array<{
    sequence: number;
    bytesUsed: number;
    checkMs: number;
    pattern: { ok: boolean; samples: number; mismatches: string[] };
  }>;
}

describe('38 hil-capture example: vivid → dma-bufs → colour-bar check → PNG', () => {
  checkFds();
  const png = join(tmpdir(), `hil-capture-${process.pid}.png`);
  after(() => rmSync(png, { force: true }));

  it('captures 8 frames into udmabufs, every one shows vivid’s 75 % bars, and says so (exit 0)', () => {
    const r = spawnSync(process.execPath, [EXAMPLE, '--frames', '8', '--json', '--png', png], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.exporter, 'udmabuf');
    assert.equal(s.name, 'vivid-000-vid-cap');
    assert.deepEqual([s.format.pixelFormat, s.format.width, s.format.height], ['YUYV', 640, 360]);
    assert.equal(s.frames, 8);
    assert.deepEqual(s.pattern, { name: 'vivid-bars', checked: 8, failed: 0 });
    for (const f of s.perFrame) {
      assert.deepEqual(f.pattern, { ok: true, samples: 40, mismatches: [] });
      assert.equal(f.bytesUsed, 640 * 360 * 2);
    }
    const seq = s.perFrame.map((f) => f.sequence);
    assert.ok(
      seq.every((q, i) => i === 0 || q > seq[i - 1]),
      `sequences rise: ${seq}`,
    );
    assert.equal(s.dropped, seq[seq.length - 1] - seq[0] - (seq.length - 1), 'dropped = the gaps in the sequence numbers');
    assert.equal(s.png, png);
  });

  it('the PNG is the frame in RGB: 640×360, eight bars left to right', () => {
    const img = PNG.sync.read(readFileSync(png));
    assert.deepEqual([img.width, img.height], [640, 360]);
    const rgb = (x: number, y: number) => [...img.data.subarray((y * 640 + x) * 4, (y * 640 + x) * 4 + 3)];
    // 75 % bars: white, yellow, cyan, green, magenta, red, blue, black (± a little for BT.601 rounding)
    const want = [
      [191, 191, 191],
      [191, 191, 0],
      [0, 191, 191],
      [0, 191, 0],
      [191, 0, 191],
      [191, 0, 0],
      [0, 0, 191],
      [0, 0, 0],
    ];
    want.forEach((w, bar) => {
      const got = rgb(bar * 80 + 40, 300);
      assert.ok(
        got.every((g, i) => Math.abs(g - w[i]) <= 8),
        `bar ${bar}: got ${got}, want ${w}`,
      );
    });
  });
});
