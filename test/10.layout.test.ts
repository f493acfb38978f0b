import assert from 'node:assert/strict';
import { evenLayout, incompatibility, planLayout, sgTable, validateDevice } from '../lib/core/layout';
import { PAGE_SIZE } from '../lib/platform/uapi';
import { checkFds } from './helpers';

const MiB = 1024 * 1024;

describe('10 layout: constraints, chunks and scatter-gather tables', () => {
  checkFds();

  it('evenLayout splits into page-multiple chunks that cover the buffer in order', () => {
    for (const [size, n] of [
      [PAGE_SIZE, 1],
      [16 * PAGE_SIZE, 4],
      [10 * PAGE_SIZE, 3],
      [3 * PAGE_SIZE, 8],
    ] as const) {
      const l = evenLayout(size, n);
      assert.equal(l.length, Math.min(n, size / PAGE_SIZE));
      let off = 0;
      for (const s of l) {
        assert.equal(s.offset, off);
        assert.equal(s.length % PAGE_SIZE, 0);
        assert.ok(s.length > 0);
        off += s.length;
      }
      assert.equal(off, size);
    }
  });

  it('sgTable splits chunks by maxSegmentSize, rounded down to the alignment', () => {
    const t = sgTable([{ offset: 0, length: 4 * MiB }], { maxSegmentSize: MiB + 4096, alignment: 65536 });
    assert.deepEqual(
      t.map((s) => s.length),
      [MiB, MiB, MiB, MiB],
    );
    assert.deepEqual(
      t.map((s) => s.offset),
      [0, MiB, 2 * MiB, 3 * MiB],
    );
    assert.deepEqual(
      sgTable(
        [
          { offset: 0, length: 8192 },
          { offset: 8192, length: 4096 },
        ],
        {},
      ),
      [
        { offset: 0, length: 8192 },
        { offset: 8192, length: 4096 },
      ],
    );
  });

  it('incompatibility names the constraint a layout breaks', () => {
    const four = evenLayout(4 * MiB, 4);
    assert.equal(incompatibility(four, { name: 'a' }), null);
    assert.equal(incompatibility(four, { name: 'b', contiguous: true })?.constraint, 'contiguous');
    assert.equal(incompatibility(four, { name: 'c', maxSegments: 2 })?.constraint, 'maxSegments');
    assert.equal(incompatibility(four, { name: 'd', maxSegments: 4 }), null);
    assert.equal(incompatibility(evenLayout(3 * PAGE_SIZE, 3), { name: 'e', alignment: 2 * PAGE_SIZE })?.constraint, 'alignment');
    const single = [{ offset: 0, length: 4 * MiB }];
    assert.equal(incompatibility(single, { name: 'f', contiguous: true, maxSegmentSize: MiB })?.constraint, 'maxSegmentSize');
    assert.match(String(incompatibility(four, { name: 'cam', contiguous: true })?.message), /device 'cam': contiguous/);
  });

  it('planLayout keeps the preferred layout when every device accepts it, else one chunk, else throws', () => {
    const pref = evenLayout(4 * MiB, 4);
    assert.equal(planLayout(4 * MiB, pref, [{ name: 'x' }]), pref);
    assert.equal(planLayout(4 * MiB, pref, [{ name: 'x' }, { name: 'y', contiguous: true }]).length, 1);
    assert.throws(() => planLayout(4 * MiB, pref, [{ name: 'z', maxSegments: 1, maxSegmentSize: MiB }]), {
      code: 'ERR_DMABUF_INCOMPATIBLE',
    });
  });

  it('validateDevice checks every field', () => {
    assert.deepEqual(validateDevice({ name: 'gpu', maxSegmentSize: 65536, maxSegments: 8, contiguous: false, alignment: 4096 }), {
      name: 'gpu',
      maxSegmentSize: 65536,
      maxSegments: 8,
      contiguous: false,
      alignment: 4096,
    });
    assert.throws(() => validateDevice({ name: 'x', alignment: 3 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => validateDevice({ name: 'x', alignment: 2 ** 40 + 1 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(validateDevice({ name: 'x', alignment: 2 ** 40 }).alignment, 2 ** 40);
    assert.throws(() => validateDevice({ name: 'x', maxSegmentSize: 100 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => validateDevice({ name: 'x', maxSegments: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => validateDevice({ name: 'x', contiguous: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => validateDevice({}), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => validateDevice(null), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
