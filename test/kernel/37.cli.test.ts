// `dmabuf doctor` and `dmabuf ls` on the real kernel: doctor sees udmabuf, the system heap,
// sync_file (tried), vgem and vivid, and as an unprivileged user says what it lacks and why;
// ls finds the buffers other processes hold and map (udmabuf, heap, vgem, mapped-only,
// shared between processes) and its totals match what they allocated. VM suite only.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { allocate, PAGE_SIZE, type DmaBuf } from '../../lib';
import type { DoctorReport } from '../../lib/cli/doctor';
import type { DmaBufScan } from '../../lib/platform/dmabuf-scan';

const CLI = join(__dirname, '..', '..', 'lib', 'cli', 'index.js');
const HOLDER = join(__dirname, '..', 'fixtures', 'dmabuf-holder.js');
const MiB = 1 << 20;
const NOBODY = { uid: 65534, gid: 65534 };

function cli(args: string[], opts: { uid?: number; gid?: number } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, ...opts });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Held {
  pid: number;
  inode: number;
  size: number;
  fds: number[];
  mapped: number;
}

describe('37 dmabuf doctor and ls on the real kernel', () => {
  describe('doctor', () => {
    it('as root: every capability there, sync_file tried on a real udmabuf; exit 0', () => {
      const r = cli(['doctor', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const d = JSON.parse(r.stdout) as DoctorReport;
      assert.equal(d.verdict, 'dma-buf');
      assert.match(d.kernelConfig.source!, /^\/boot\/config-6\.12\./);
      assert.equal(d.kernelConfig.options.CONFIG_UDMABUF, 'y');
      assert.equal(d.kernelConfig.options.CONFIG_SYNC_FILE, 'y');
      assert.equal(d.udmabuf.module.state, 'builtin');
      assert.deepEqual([d.udmabuf.ok, d.udmabuf.device.openable, d.udmabuf.sizeLimitMb, d.udmabuf.listLimit], [true, true, 64, 1024]);
      assert.deepEqual(
        d.heaps.devices.map((h) => [h.name, h.openable]),
        [['system', true]],
      );
      assert.deepEqual([d.syncFile.ok, d.syncFile.check, d.syncFile.on], [true, 'tried', 'udmabuf']);
      assert.ok(d.drm.devices.some((x) => x.driver === 'vgem' && x.path === '/dev/dri/renderD128'));
      assert.ok(d.video.devices.some((x) => x.name === 'vivid-000-vid-cap' && x.path === '/dev/video0'));
      assert.deepEqual([d.auto, d.system.pageSize, d.system.container], ['udmabuf', PAGE_SIZE, null]);
    });

    it('as nobody: the root-only nodes, why, and the udev rule that fixes it; exit 1', () => {
      const r = cli(['doctor', '--json'], NOBODY);
      assert.equal(r.status, 1, r.stderr);
      const d = JSON.parse(r.stdout) as DoctorReport;
      assert.equal(d.verdict, 'fallback');
      assert.equal(d.udmabuf.device.error, 'EACCES');
      assert.match(d.udmabuf.why!, /no permission to open \/dev\/udmabuf \(crw------- 0:root\)/);
      assert.match(d.udmabuf.fix!, /KERNEL=="udmabuf", GROUP="video", MODE="0660"/);
      assert.match(d.heaps.fix!, /SUBSYSTEM=="dma_heap"/);
      assert.equal(d.syncFile.check, 'inferred');
      assert.equal(d.auto, 'memfd');
    });
  });

  describe('ls', () => {
    const children: ChildProcess[] = [];
    const held = new Map<string, Held>();
    let shared: DmaBuf;

    async function hold(label: string, args: string[], extraFd?: number): Promise<void> {
      const child = spawn(process.execPath, [HOLDER, ...args], {
        stdio: ['pipe', 'pipe', 'inherit', ...(extraFd === undefined ? [] : [extraFd])],
      });
      children.push(child);
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      held.set(label, JSON.parse(line) as Held);
    }

    before(async function () {
      this.timeout(300_000);
      shared = allocate(64 * PAGE_SIZE, { exporter: 'udmabuf', name: 'shared' });
      await hold('a', ['udmabuf', String(MiB), 'map', 'dup', 'name=a frame']);
      await hold('a2', ['udmabuf', String(3 * PAGE_SIZE)]);
      await hold('heap', ['heap', String(2 * MiB), 'map', 'name=heap buf']);
      await hold('vgem', ['vgem', String(4 * PAGE_SIZE), 'map']);
      await hold('maponly', ['maponly', String(4 * PAGE_SIZE)]);
      await hold('import', ['import', String(shared.size), 'map'], shared.fd);
    });

    after(async () => {
      for (const c of children) {
        c.stdin!.end();
        if (c.exitCode === null) await once(c, 'exit');
      }
      shared?.close();
    });

    const pids = () => [...held.values()].map((h) => h.pid);

    it('finds every buffer the holders have: inode, size, exporter, name, fds, mappings', () => {
      const r = cli(['ls', '--json', ...pids().flatMap((p) => ['--pid', String(p)])]);
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout) as DmaBufScan;
      const find = (label: string) => {
        const h = held.get(label)!;
        const b = s.buffers.find((x) => x.inode === h.inode);
        assert.ok(b, `${label}: inode ${h.inode} listed (${JSON.stringify(s.buffers.map((x) => x.inode))})`);
        return { h, b };
      };
      {
        const { h, b } = find('a');
        assert.deepEqual([b.size, b.exporter, b.name], [MiB, 'udmabuf', 'a frame']);
        assert.deepEqual(b.heldBy, [{ pid: h.pid, fds: h.fds }]);
        assert.deepEqual(b.mappedBy, [{ pid: h.pid, bytes: MiB, mappings: 1 }]);
      }
      assert.deepEqual(find('a2').b.mappedBy, []);
      assert.deepEqual([find('heap').b.exporter, find('heap').b.size, find('heap').b.name], ['system', 2 * MiB, 'heap buf']);
      {
        const { h, b } = find('vgem');
        assert.deepEqual([b.exporter, b.size], ['drm', 4 * PAGE_SIZE]);
        assert.deepEqual(b.mappedBy, [{ pid: h.pid, bytes: 4 * PAGE_SIZE, mappings: 1 }]);
      }
      {
        const { h, b } = find('maponly');
        assert.deepEqual(b.heldBy, []);
        assert.deepEqual([b.size, b.sizeFrom, b.exporter], [4 * PAGE_SIZE, 'maps', null]);
        assert.deepEqual(b.mappedBy, [{ pid: h.pid, bytes: 4 * PAGE_SIZE, mappings: 1 }]);
      }
      {
        const { h, b } = find('import');
        assert.equal(b.name, 'shared');
        assert.deepEqual(
          b.heldBy.map((x) => x.pid).sort((x, y) => x - y),
          [process.pid, h.pid].sort((x, y) => x - y),
          'held by this process and the child it was handed to',
        );
        assert.deepEqual(b.heldBy.find((x) => x.pid === h.pid)!.fds, h.fds);
      }
    });

    it('per process and per exporter, the totals are what the holders allocated', () => {
      const r = cli(['ls', '--json', ...pids().flatMap((p) => ['--pid', String(p)])]);
      const s = JSON.parse(r.stdout) as DmaBufScan;
      for (const [label, h] of held) {
        const p = s.processes.find((x) => x.pid === h.pid);
        assert.ok(p, label);
        assert.deepEqual([p.fds, p.mapped, p.bytes], [h.fds.length, h.mapped, h.size], label);
      }
      const by = Object.fromEntries(s.totals.map((t) => [String(t.exporter), [t.buffers, t.bytes]]));
      const sum = (...labels: string[]) => labels.reduce((n, l) => n + held.get(l)!.size, 0);
      assert.deepEqual(by, {
        udmabuf: [3, sum('a', 'a2', 'import')],
        system: [1, sum('heap')],
        drm: [1, sum('vgem')],
        null: [1, sum('maponly')],
      });
      assert.deepEqual(s.total, { buffers: 6, bytes: sum('a', 'a2', 'heap', 'vgem', 'maponly', 'import') });
    });

    it('without --pid, the whole system: at least these, and this process too', () => {
      const s = JSON.parse(cli(['ls', '--json']).stdout) as DmaBufScan;
      for (const h of held.values()) assert.ok(s.buffers.some((b) => b.inode === h.inode));
      assert.ok(s.processes.some((p) => p.pid === process.pid));
      assert.deepEqual(s.uninspectable, []);
    });

    it('as nobody: the holders (root) cannot be inspected: counted, named, said why', () => {
      const json = cli(['ls', '--json'], NOBODY);
      assert.equal(json.status, 0, json.stderr);
      const s = JSON.parse(json.stdout) as DmaBufScan;
      for (const h of held.values()) {
        assert.ok(
          s.uninspectable.some((u) => u.pid === h.pid && u.reason === 'EACCES' && u.command.includes('dmabuf-holder')),
          `${h.pid} is counted as not inspectable`,
        );
      }
      assert.deepEqual(s.buffers, []);
      const text = cli(['ls'], NOBODY);
      assert.match(text.stdout, /process\(es\) could not be inspected \(requires root or CAP_SYS_PTRACE\)/);
    });
  });
});
