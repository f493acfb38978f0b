// Implicit fences on the real kernel, made by vgem (DRM_IOCTL_VGEM_FENCE_ATTACH/SIGNAL on a
// buffer imported into vgem): async CPU access waits for them without blocking the event
// loop, sync_files export, import, merge and report them. VM suite only.
import assert from 'node:assert/strict';
import { allocate, openVgem, PAGE_SIZE, SyncFile, type DmaBuf, type DrmDevice, type GemObject } from '../../lib';
import { native } from '../../lib/platform/binding';
import { assertRejects, checkFds, onlyWith } from '../helpers';
import { assertPending } from '../loop';

function pollNow(buf: DmaBuf): { in: boolean; out: boolean } {
  const b = native();
  const rev = b.poll(buf.fd, b.constants.POLLIN | b.constants.POLLOUT, 0);
  return { in: (rev & b.constants.POLLIN) !== 0, out: (rev & b.constants.POLLOUT) !== 0 };
}

for (const exporter of ['udmabuf', 'dma-heap'] as const) {
  describe(`32 fences (vgem) on ${exporter}`, () => {
    onlyWith(exporter);
    checkFds();
    describe('a buffer imported into vgem', () => {
      let vgem: DrmDevice;
      let buf: DmaBuf;
      let gem: GemObject;
      beforeEach(() => {
        buf = allocate(4 * PAGE_SIZE, { exporter });
        vgem = openVgem();
        gem = vgem.importDmaBuf(buf);
      });
      afterEach(() => {
        gem.close();
        vgem.close();
        buf.close();
      });

      it('no fence: poll is ready both ways, an exported sync_file is signalled', async () => {
        assert.deepEqual(pollNow(buf), { in: true, out: true });
        using sf = buf.exportSyncFile('readwrite');
        assert.equal(sf.signaled, true);
        assert.equal(sf.info().status, 'signaled');
        await sf.wait({ timeout: 1000 });
      });

      it('a pending write fence: read access waits for the signal, the event loop stays responsive', async () => {
        const fence = vgem.vgemFenceAttach(gem, true);
        assert.deepEqual(pollNow(buf), { in: false, out: false });
        using sf = buf.exportSyncFile('read');
        const info = sf.info();
        assert.equal(info.status, 'active');
        assert.equal(info.fences.length, 1);
        assert.equal(info.fences[0].driverName, 'vgem');
        assert.equal(info.fences[0].status, 'active');
        const access = buf.beginCpuAccessAsync('read', { timeout: 20000 });
        // Ten full turns of the event loop (each with a poll phase) complete while the fence is
        // pending: the wait does not block the loop. A blocking wait would return only when vgem's
        // own 10 s fence timeout fired, and the probe would find the access settled.
        await assertPending(access, 'read access must wait for the write fence', 10);
        vgem.vgemFenceSignal(fence);
        await access;
        buf.endCpuAccess('read');
        await sf.wait({ timeout: 1000 });
        assert.equal(sf.info().status, 'signaled');
        assert.ok(sf.info().fences[0].timestampNs > 0n);
      });

      it('a pending read fence blocks writers (POLLOUT) but not readers (POLLIN)', async () => {
        const fence = vgem.vgemFenceAttach(gem, false);
        assert.deepEqual(pollNow(buf), { in: true, out: false });
        await buf.beginCpuAccessAsync('read', { timeout: 1000 });
        buf.endCpuAccess('read');
        await assertRejects(buf.beginCpuAccessAsync('write', { timeout: 100 }), 'ERR_DMABUF_TIMEOUT', /fences/);
        assert.equal(buf.cpuAccessCount.write, 0, 'a timed-out begin leaves no bracket open');
        vgem.vgemFenceSignal(fence);
        await buf.beginCpuAccessAsync('write', { timeout: 1000 });
        buf.endCpuAccess('write');
      });

      it('sync_files merge, and import moves fences onto another buffer', async () => {
        const f1 = vgem.vgemFenceAttach(gem, true);
        using a = buf.exportSyncFile('read');
        using other = allocate(PAGE_SIZE, { exporter });
        other.importSyncFile(a, 'write');
        assert.deepEqual(pollNow(other), { in: false, out: false }, 'the imported write fence is pending on the other buffer');
        using b2 = other.exportSyncFile('readwrite');
        using merged = a.merge(b2, 'both');
        assert.equal(merged.info().name, 'both');
        assert.equal(merged.signaled, false);
        assert.equal(merged.waitSync(10), false);
        const waiting = merged.wait({ timeout: 20000 });
        vgem.vgemFenceSignal(f1);
        await waiting;
        assert.equal(merged.waitSync(0), true);
        assert.deepEqual(pollNow(other), { in: true, out: true });
      });

      it('SyncFile.fromFd checks the fd; a dma-buf is not a sync_file', () => {
        assert.throws(() => SyncFile.fromFd(buf.fd), { code: 'ERR_DMABUF_NOT_SYNC_FILE' });
        using sf = buf.exportSyncFile('read');
        using again = SyncFile.fromFd(sf.fd);
        assert.notEqual(again.fd, sf.fd);
        assert.equal(again.signaled, true);
      });
    });
  });
}
