// ArrayBuffer.prototype.transfer() (on by default from Node 22) moves a mapped view's memory
// into a new ArrayBuffer that close() cannot detach (on the Node-API path for views; the V8
// fast path refuses transfer() with a TypeError). close() must still release the dma-buf
// at once, and the moved memory must stay harmless (zeros) until its last holder is
// collected. Runs in a child: with this Node (adding --harmony-rab-gsab-transfer where
// transfer is still behind a flag), and with the other Node binaries of nodeBinaries().
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeBinaries, type NodeBinary } from './helpers';

/** This Node, with transfer() turned on where it is still behind a flag, and the others. */
function nodes(): NodeBinary[] {
  const hasTransfer = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
  const [self, ...others] = nodeBinaries();
  return [{ ...self, flags: hasTransfer ? [] : ['--harmony-rab-gsab-transfer'] }, ...others];
}

describe('63 a view moved by ArrayBuffer.prototype.transfer()', () => {
  for (const node of nodes()) {
    it(`${node.label}: after close() the memfd is released, the moved view reads zeros and takes stores, and is unmapped once collected (the V8 fast path: transfer() is refused)`, function () {
      this.timeout(60000);
      const r = spawnSync(node.path, [...node.flags, '--expose-gc', join(__dirname, 'fixtures', 'transfer-child.js')], {
        encoding: 'utf8',
        timeout: 50000,
      });
      assert.equal(r.signal, null, `the child died of ${r.signal}: a moved view pointed at unmapped memory. ${r.stderr.slice(-2000)}`);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
      if (o.noTransfer) this.skip();
      if (o.viewPath === 'v8') {
        // The V8 fast path (65.v8-views): transfer() is refused and the view stays the mapping's.
        assert.deepEqual(o, {
          viewPath: 'v8',
          transfer: 'TypeError',
          shorter: 'TypeError',
          kmap: 'TypeError',
          intact: true,
          detachedAfterClose: true,
          mappingsLeft: 0,
          memfdMapsLeft: 0,
          parkedLeft: 0,
        });
        return;
      }
      assert.deepEqual(o, {
        originalDetached: true,
        movedSeesData: true,
        freshView: true,
        freshDetached: true,
        fdClosed: true,
        parkedAfterClose: 1,
        memfdMapsAfterClose: 0,
        movedReadsZero: true,
        movedWritable: true,
        parkedReleased: true,
        mappedAfterCollect: true,
        readAfterCollect: true,
        detachedAfterCollect: true,
        shorterCopy: true,
        kmapMoved: true,
        kmapMovedAfterClose: true,
        mappingsLeft: 0,
        memfdMapsLeft: 0,
        parkedLeft: 0,
      });
    });
  }
});
