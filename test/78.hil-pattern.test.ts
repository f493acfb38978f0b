// examples/hil-capture's pattern check and PNG conversion, on synthetic frames (the real
// capture runs in the VM suite, test/kernel/36).
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { checkVividBars, yuyvToPng } from '../examples/hil-capture';

const fmt = { width: 640, height: 360, pixelFormat: 'YUYV', bytesPerLine: 1280, sizeImage: 460800 };
/** vivid's bars as it draws them (measured in the 6.12 VM: b3 80 80 …). */
const BARS = [
  [0xb3, 0x80, 0x80],
  [0xa0, 0x2c, 0x8d],
  [0x82, 0x9c, 0x2c],
  [0x6f, 0x48, 0x3a],
  [0x53, 0xb7, 0xc5],
  [0x40, 0x63, 0xd3],
  [0x22, 0xd3, 0x72],
  [0x10, 0x80, 0x80],
];

function frame(): Uint8Array {
  const px = new Uint8Array(fmt.sizeImage);
  for (let row = 0; row < fmt.height; row++)
    for (let x = 0; x < fmt.width; x += 2) {
      const [y, u, v] = BARS[Math.floor((x * 8) / fmt.width)];
      px.set([y, u, y, v], row * fmt.bytesPerLine + x * 2);
    }
  return px;
}

describe('78 hil-capture: the colour-bar check and YUYV → PNG', () => {
  it("accepts vivid's bars; the first bytes are b3 80 b3 80", () => {
    const px = frame();
    assert.deepEqual([...px.subarray(0, 4)], [0xb3, 0x80, 0xb3, 0x80]);
    assert.deepEqual(checkVividBars(px, fmt), { ok: true, samples: 40, mismatches: [] });
  });

  it('names the bar and row that differ', () => {
    const px = frame();
    px.fill(0x10, 180 * fmt.bytesPerLine, 181 * fmt.bytesPerLine); // one black row across the middle
    const r = checkVividBars(px, fmt);
    assert.equal(r.ok, false);
    assert.match(r.mismatches[0], /^white bar, row 180: got 10 10 10 10, want b4 80 b4 80 \(±4\)$/);
  });

  it('converts to an RGB PNG of the same size', () => {
    const img = PNG.sync.read(yuyvToPng(frame(), fmt));
    assert.deepEqual([img.width, img.height], [640, 360]);
    const at = (x: number) => [...img.data.subarray(x * 4, x * 4 + 3)];
    assert.deepEqual(at(40), [190, 190, 190]);
    assert.deepEqual(at(600), [0, 0, 0]);
  });
});
