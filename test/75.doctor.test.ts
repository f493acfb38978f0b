// What capabilities() and `dmabuf doctor` say about a machine: the kernel config, module
// state, container, device nodes and their permissions, read from fabricated system trees
// (every case a real machine can be in), and from this machine, whatever it has.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { capabilities } from '../lib';
import {
  explainDrm,
  explainHeaps,
  explainUdmabuf,
  explainVideo,
  syncFileSupport,
  systemFacts,
  type SystemFacts,
} from '../lib/exporters/diagnose';
import { detectContainer, describeMode, moduleState, parseKernelConfig, readKernelConfig } from '../lib/platform/kernel-info';
import { diagnose, renderDoctor, type DoctorReport } from '../lib/cli/doctor';
import { colours } from '../lib/cli/common';

const CLI = join(__dirname, '..', 'lib', 'cli', 'index.js');
const RELEASE = '6.12.117+deb12-amd64';
const DEBIAN_612 = [
  'CONFIG_DMA_SHARED_BUFFER=y',
  'CONFIG_SYNC_FILE=y',
  '# CONFIG_SW_SYNC is not set',
  'CONFIG_UDMABUF=y',
  'CONFIG_DMABUF_HEAPS=y',
  '# CONFIG_DMABUF_SYSFS_STATS is not set',
  'CONFIG_DMABUF_HEAPS_SYSTEM=y',
  'CONFIG_LOCALVERSION=""',
].join('\n');
const NO_DMABUF = [
  'CONFIG_DMA_SHARED_BUFFER=y',
  'CONFIG_SYNC_FILE=y',
  '# CONFIG_UDMABUF is not set',
  '# CONFIG_DMABUF_HEAPS is not set',
].join('\n');

/** A system tree: files by path (a Buffer or text); '' for an empty file. */
function tree(files: Record<string, string | Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'dmabuf-doctor-'));
  for (const [path, content] of Object.entries({ '/proc/sys/kernel/osrelease': `${RELEASE}\n`, ...files })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else writeFileSync(join(root, path), content);
  }
  return root;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('75 doctor: why a capability is missing, and what fixes it', () => {
  const roots: string[] = [];
  const make = (files: Record<string, string | Buffer>) => {
    const r = tree(files);
    roots.push(r);
    return r;
  };
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  describe('the kernel config', () => {
    it('parses =y, =m, strings and "is not set"', () => {
      const c = parseKernelConfig('CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D="x y"\n# a comment\n');
      assert.deepEqual(Object.fromEntries(c), { CONFIG_A: 'y', CONFIG_B: 'm', CONFIG_C: 'n', CONFIG_D: 'x y' });
    });

    it('reads /proc/config.gz first, then /boot/config-<release>', () => {
      const both = make({ '/proc/config.gz': gzipSync(NO_DMABUF), [`/boot/config-${RELEASE}`]: DEBIAN_612 });
      assert.equal(readKernelConfig(both).source, '/proc/config.gz');
      assert.equal(readKernelConfig(both).options.get('CONFIG_UDMABUF'), 'n');
      const boot = make({ [`/boot/config-${RELEASE}`]: DEBIAN_612 });
      assert.equal(readKernelConfig(boot).source, `/boot/config-${RELEASE}`);
      assert.equal(readKernelConfig(boot).options.get('CONFIG_UDMABUF'), 'y');
      const none = make({});
      assert.equal(readKernelConfig(none).source, null);
    });
  });

  describe('module state', () => {
    it('built in: /sys/module/<name> without initstate', () => {
      const r = make({ '/sys/module/udmabuf/parameters/size_limit_mb': '64\n' });
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', r).state, 'builtin');
    });
    it('loaded: /sys/module/<name>/initstate', () => {
      const r = make({ '/sys/module/udmabuf/initstate': 'live\n' });
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', r).state, 'loaded');
    });
    it('available: in modules.dep, or =m in the config', () => {
      const dep = make({ [`/lib/modules/${RELEASE}/modules.dep`]: 'kernel/drivers/dma-buf/udmabuf.ko.xz:\n' });
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', dep).state, 'available');
      const m = make({ [`/boot/config-${RELEASE}`]: 'CONFIG_UDMABUF=m\n' });
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', m).state, 'available');
    });
    it('absent: "is not set"; unknown: nothing to tell by', () => {
      const n = make({ '/proc/config.gz': gzipSync(NO_DMABUF) });
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', n).state, 'absent');
      assert.equal(moduleState('udmabuf', 'CONFIG_UDMABUF', make({})).state, 'unknown');
    });
  });

  describe('containers', () => {
    it('docker, podman, kubernetes, or none', () => {
      assert.equal(detectContainer(make({ '/.dockerenv': '' }))?.kind, 'docker');
      assert.equal(detectContainer(make({ '/run/.containerenv': '' }))?.kind, 'podman');
      assert.equal(detectContainer(make({ '/proc/1/cgroup': '0::/kubepods/besteffort/pod1/abc\n' }))?.kind, 'kubernetes');
      assert.equal(detectContainer(make({ '/proc/1/cgroup': '0::/init.scope\n' })), null);
    });
  });

  describe('udmabuf', () => {
    it('a kernel without CONFIG_UDMABUF: says so, from the config', () => {
      const f = explainUdmabuf(systemFacts(make({ '/proc/config.gz': gzipSync(NO_DMABUF) })));
      assert.equal(f.ok, false);
      assert.match(f.why!, /built without udmabuf \(CONFIG_UDMABUF is not set in \/proc\/config\.gz\)/);
      assert.match(f.fix!, /CONFIG_UDMABUF=y/);
    });

    it('a kernel with udmabuf, in a container without the device: --device', () => {
      const f = explainUdmabuf(
        systemFacts(
          make({ [`/boot/config-${RELEASE}`]: DEBIAN_612, '/.dockerenv': '', '/sys/module/udmabuf/parameters/list_limit': '1024\n' }),
        ),
      );
      assert.match(f.why!, /the kernel has udmabuf \(builtin.*no \/dev\/udmabuf in this docker container/);
      assert.equal(f.fix, 'start the container with --device /dev/udmabuf');
    });

    it('a module that is not loaded: modprobe', () => {
      const f = explainUdmabuf(systemFacts(make({ [`/boot/config-${RELEASE}`]: 'CONFIG_UDMABUF=m\n' })));
      assert.match(f.why!, /module that is not loaded/);
      assert.match(f.fix!, /^sudo modprobe udmabuf/);
    });

    it('no config and no module: "most likely", with the container hint inside one', () => {
      const f = explainUdmabuf(systemFacts(make({ '/run/.containerenv': '' })));
      assert.match(f.why!, /most likely lacks CONFIG_UDMABUF \(kernel config not readable/);
      assert.match(f.fix!, /--device \/dev\/udmabuf/);
    });

    it('present and opening: ok, with the limits', () => {
      const facts = systemFacts(
        make({
          [`/boot/config-${RELEASE}`]: DEBIAN_612,
          '/dev/udmabuf': '',
          '/sys/module/udmabuf/parameters/size_limit_mb': '64\n',
          '/sys/module/udmabuf/parameters/list_limit': '1024\n',
        }),
      );
      assert.deepEqual(explainUdmabuf(facts), { ok: true });
      assert.equal(facts.udmabuf.sizeLimitMb, 64);
      assert.equal(facts.udmabuf.listLimit, 1024);
    });

    const denied = (error: string, mode: number, gid: number, extra: Partial<SystemFacts> = {}): SystemFacts => {
      const base = systemFacts(make({ [`/boot/config-${RELEASE}`]: DEBIAN_612 }));
      return {
        ...base,
        udmabuf: {
          ...base.udmabuf,
          node: { path: '/dev/udmabuf', present: true, openable: false, error, mode, uid: 0, gid, group: gid ? 'video' : 'root' },
        },
        uid: 1000,
        groups: [1000],
        ...extra,
      };
    };

    it('root-only (crw-------): a udev rule and a group', () => {
      const f = explainUdmabuf(denied('EACCES', 0o20600, 0));
      assert.match(f.why!, /no permission to open \/dev\/udmabuf \(crw------- 0:root\)/);
      assert.match(f.fix!, /KERNEL=="udmabuf", GROUP="video", MODE="0660"/);
    });

    it('group-writable, but not your group: usermod', () => {
      const f = explainUdmabuf(denied('EACCES', 0o20660, 44));
      assert.match(f.why!, /you are not in group video/);
      assert.match(f.fix!, /usermod -aG video/);
    });

    it('EPERM inside a container (its device cgroup): --device', () => {
      const f = explainUdmabuf(denied('EPERM', 0o20666, 0, { container: { kind: 'docker', evidence: '/.dockerenv' } }));
      assert.match(f.why!, /device cgroup refuses it/);
      assert.equal(f.fix, 'start the container with --device /dev/udmabuf');
    });

    it('describes modes as ls does', () => {
      assert.equal(
        describeMode({ path: '/x', present: true, openable: true, mode: 0o20660, uid: 0, gid: 44, group: 'video' }),
        'crw-rw---- 0:video',
      );
    });
  });

  describe('DMA heaps, DRM, V4L2', () => {
    it('no heaps: from CONFIG_DMABUF_HEAPS; heaps built but none appeared: which', () => {
      assert.match(explainHeaps(systemFacts(make({ '/proc/config.gz': gzipSync(NO_DMABUF) }))).why!, /built without DMA heaps/);
      const noHeap = explainHeaps(
        systemFacts(make({ '/proc/config.gz': gzipSync('CONFIG_DMABUF_HEAPS=y\n# CONFIG_DMABUF_HEAPS_SYSTEM is not set\n') })),
      );
      assert.match(noHeap.why!, /no heap is built/);
      const inDocker = explainHeaps(systemFacts(make({ '/proc/config.gz': gzipSync(DEBIAN_612), '/.dockerenv': '' })));
      assert.equal(inDocker.fix, 'start the container with --device /dev/dma_heap/system');
      assert.deepEqual(explainHeaps(systemFacts(make({ '/dev/dma_heap/system': '' }))), { ok: true });
    });

    it('DRM and V4L2 nodes with their drivers and names', () => {
      const facts = systemFacts(
        make({
          '/dev/dri/card0': '',
          '/dev/dri/renderD128': '',
          '/dev/video0': '',
          '/dev/video10': '',
          '/sys/class/video4linux/video0/name': 'vivid-000-vid-cap\n',
        }),
      );
      assert.deepEqual(
        facts.drm.map((d) => d.path),
        ['/dev/dri/card0', '/dev/dri/renderD128'],
      );
      assert.deepEqual(
        facts.video.map((v) => [v.path, v.name]),
        [
          ['/dev/video0', 'vivid-000-vid-cap'],
          ['/dev/video10', ''],
        ],
      );
      assert.equal(explainDrm(facts).ok, true);
      assert.equal(explainVideo(facts).ok, true);
      assert.match(explainVideo(systemFacts(make({}))).fix!, /modprobe vivid/);
    });

    it('sync_file on a tree that is not this machine: inferred from version and config, never tried', () => {
      const s = syncFileSupport(systemFacts(make({ [`/boot/config-${RELEASE}`]: DEBIAN_612 })));
      assert.equal(s.check, 'inferred');
    });
  });

  describe('the doctor report', () => {
    it('a Debian 6.12 tree: udmabuf and the system heap usable, verdict dma-buf; exit 0', () => {
      const root = make({
        [`/boot/config-${RELEASE}`]: DEBIAN_612,
        '/dev/udmabuf': '',
        '/dev/dma_heap/system': '',
        '/sys/module/udmabuf/parameters/size_limit_mb': '64\n',
        '/sys/module/udmabuf/parameters/list_limit': '1024\n',
      });
      const r: DoctorReport = diagnose(root);
      assert.equal(r.schema, 1);
      assert.equal(r.kernelConfig.options.CONFIG_UDMABUF, 'y');
      assert.equal(r.udmabuf.module.state, 'builtin');
      assert.equal(r.udmabuf.sizeLimitMb, 64);
      assert.deepEqual(
        r.heaps.devices.map((d) => [d.name, d.openable]),
        [['system', true]],
      );
      if (capabilities().native.loaded) {
        assert.equal(r.verdict, 'dma-buf');
        assert.deepEqual(r.exporters, ['udmabuf', 'dma-heap', 'memfd', 'memory']);
        const run = cli(['doctor', '--root', root, '--json']);
        assert.equal(run.status, 0, run.stderr);
        assert.equal((JSON.parse(run.stdout) as DoctorReport).auto, 'udmabuf');
      }
    });

    it('a kernel without udmabuf or heaps: verdict fallback, the reasons in the text; exit 1', () => {
      const root = make({ '/proc/config.gz': gzipSync(NO_DMABUF), '/.dockerenv': '' });
      const r = diagnose(root);
      assert.equal(r.verdict, 'fallback');
      const text = renderDoctor(r, colours({ isTTY: false }, {}));
      assert.match(text, /✗ udmabuf +not in this kernel; no \/dev\/udmabuf/);
      assert.match(text, /CONFIG_UDMABUF is not set in \/proc\/config\.gz/);
      assert.match(text, /container +docker \(\/\.dockerenv\)/);
      assert.match(text, /only the fallback exporters/);
      assert.ok(!text.includes('\x1b['), 'no colours off a terminal');
      const run = cli(['doctor', '--root', root]);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stdout, /'auto' picks (memfd|memory)/);
    });
  });

  describe('this machine', () => {
    it('capabilities(): a reason for every missing capability, none for what is there', () => {
      const c = capabilities();
      if (c.exporters.includes('udmabuf')) assert.equal(c.why.udmabuf, undefined);
      else if (c.native.loaded) assert.equal(typeof c.why.udmabuf, 'string');
      else assert.match(c.why.native!, /native addon/);
      assert.equal(typeof c.why.heaps, c.heaps.some((h) => h.accessible) ? 'undefined' : 'string');
      assert.equal(typeof c.why.syncFile, c.syncFile ? 'undefined' : 'string');
      assert.equal(typeof c.why.externalBuffers, c.externalBuffers ? 'undefined' : 'string');
      if (!c.drm.length) assert.match(c.why.drm!, /no DRM device/);
      if (!c.video.length) assert.match(c.why.video!, /no V4L2 device/);
      assert.ok(c.autoWhy.startsWith(c.auto), c.autoWhy);
      assert.equal(c.syncFileCheck, c.native.loaded && (c.udmabuf.accessible || c.heaps.some((h) => h.accessible)) ? 'tried' : 'inferred');
      assert.equal(c.arch, process.arch);
      assert.ok(c.pageSize >= 4096);
      for (const v of Object.values(c.why)) assert.equal(typeof v, 'string');
    });

    it('`dmabuf doctor --json` agrees with capabilities(), and its exit status with its verdict', () => {
      const c = capabilities();
      const run = cli(['doctor', '--json']);
      const r = JSON.parse(run.stdout) as DoctorReport;
      assert.equal(run.status, r.verdict === 'dma-buf' ? 0 : 1, run.stderr);
      assert.deepEqual(r.exporters, c.exporters);
      assert.equal(r.auto, c.auto);
      assert.equal(r.syncFile.ok, c.syncFile);
      assert.equal(r.syncFile.check, c.syncFileCheck);
      assert.equal(r.system.pageSize, c.pageSize);
      assert.equal(r.verdict, c.exporters.includes('udmabuf') || c.exporters.includes('dma-heap') ? 'dma-buf' : 'fallback');
    });
  });
});
