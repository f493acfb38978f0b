// The object model allocates nothing per CPU-access bracket: 50 000 begin/end pairs on a
// buffer (after the code is optimised) leave V8's young generation as it was, with no
// collection in between. Run in a child, so nothing else in the process allocates meanwhile.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { capabilities } from '../lib';

const CHILD = join(__dirname, 'fixtures', 'bracket-alloc.js');

describe('43 no allocation per CPU-access bracket', () => {
  const caps = capabilities();
  const heap = caps.heaps.find((h) => h.accessible)?.name;
  const cases: string[][] = [['memory'], ...caps.exporters.filter((e) => e !== 'memory' && e !== 'dma-heap').map((e) => [e])];
  if (caps.exporters.includes('dma-heap') && heap) cases.push(['dma-heap', heap]);

  for (const args of cases) {
    it(`${args.join(' ')}: 50 000 brackets, no young-generation growth and no collection`, () => {
      const r = spawnSync(process.execPath, ['--expose-gc', CHILD, ...args], { encoding: 'utf8', timeout: 120000 });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { measuring: number; growth: number; gcs: number };
      assert.equal(out.gcs, 0, `${out.gcs} collection(s) ran during the brackets: they allocated`);
      // 50 000 brackets allocating even 8 bytes each would add 400 KB; a few KB are the
      // compilers' own (on-stack replacement of the loop), as in an empty loop.
      assert.ok(out.growth < 32 * 1024, `young generation grew ${out.growth} bytes (measuring alone: ${out.measuring})`);
    });
  }
});
