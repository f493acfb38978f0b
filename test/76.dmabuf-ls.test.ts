// `dmabuf ls` and the scan behind it, on fabricated /proc and /sys trees: buffers shared
// between processes, held through two fds, mapped without an fd; names with spaces and
// newlines; processes that cannot be inspected; processes and fds that vanish mid-scan.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nodeScanFs, scanDmaBufs, type DmaBufScan, type ScanFs } from '../lib/platform/dmabuf-scan';
import { ls } from '../lib/cli/ls';
import type { Io } from '../lib/cli/common';

const CLI = join(__dirname, '..', 'lib', 'cli', 'index.js');
const KiB = 1024;

interface FakeFd {
  fd: number;
  /** readlink target, e.g. '/dmabuf:frame' or '/memfd:x (deleted)'. */
  link: string;
  ino?: number;
  size?: number;
  exp?: string;
}
interface FakeProcess {
  pid: number;
  cmdline: string[];
  comm: string;
  fds: FakeFd[];
  /** [inode, bytes, name] of /dmabuf mappings; names are written as the kernel does (\012 for a newline). */
  maps?: Array<[number, number, string]>;
}

function fdinfo(f: FakeFd): string {
  return `pos:\t0\nflags:\t02000002\nmnt_id:\t12\nino:\t${f.ino}\nsize:\t${f.size}\ncount:\t1\nexp_name:\t${f.exp}\n${f.link.length > 8 ? `name:\t${f.link.slice(8)}\n` : ''}`;
}

function write(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** A /proc and a /sys with these processes and (optionally) sysfs buffer stats. */
function fabricate(procs: FakeProcess[], sysfs?: Array<[number, number, string]>): { root: string; proc: string; sys: string } {
  const root = mkdtempSync(join(tmpdir(), 'dmabuf-ls-'));
  chmodSync(root, 0o755);
  const proc = join(root, 'proc');
  const sys = join(root, 'sys');
  mkdirSync(proc);
  mkdirSync(sys);
  write(join(proc, 'self', 'comm'), 'not a pid\n');
  write(join(proc, 'meminfo'), '');
  for (const p of procs) {
    const dir = join(proc, String(p.pid));
    write(join(dir, 'cmdline'), p.cmdline.length ? p.cmdline.join('\0') + '\0' : '');
    write(join(dir, 'comm'), `${p.comm}\n`);
    mkdirSync(join(dir, 'fd'), { recursive: true });
    mkdirSync(join(dir, 'fdinfo'), { recursive: true });
    for (const f of p.fds) {
      symlinkSync(f.link, join(dir, 'fd', String(f.fd)));
      write(join(dir, 'fdinfo', String(f.fd)), f.ino === undefined ? 'pos:\t0\nflags:\t02\n' : fdinfo(f));
    }
    let addr = 0x7f0000000000;
    const lines = ['55d4c8a00000-55d4c8a01000 r--p 00000000 00:1c 123 /usr/bin/node'];
    for (const [ino, bytes, name] of p.maps ?? []) {
      lines.push(`${addr.toString(16)}-${(addr + bytes).toString(16)} rw-s 00000000 00:0b ${ino}                          /dmabuf:${name}`);
      addr += bytes + 0x1000;
    }
    lines.push('7ffc1c8f0000-7ffc1c911000 rw-p 00000000 00:00 0                          [stack]');
    write(join(dir, 'maps'), lines.join('\n') + '\n');
  }
  for (const [ino, size, exp] of sysfs ?? []) {
    write(join(sys, 'kernel', 'dmabuf', 'buffers', String(ino), 'size'), `${size}\n`);
    write(join(sys, 'kernel', 'dmabuf', 'buffers', String(ino), 'exporter_name'), `${exp}\n`);
  }
  return { root, proc, sys };
}

/** node:fs, but failing with `code` on paths ending in a key, and calling hooks after some reads. */
function faulty(fail: Record<string, string>, after: Record<string, () => void> = {}): ScanFs {
  const check = (p: string) => {
    for (const [end, code] of Object.entries(fail)) if (p.endsWith(end)) throw Object.assign(new Error(`${code}: ${p}`), { code });
  };
  const then = <T>(p: string, v: T) => {
    for (const [end, hook] of Object.entries(after)) if (p.endsWith(end)) hook();
    return v;
  };
  return {
    readdir: (p) => (check(p), then(p, nodeScanFs.readdir(p))),
    readlink: (p) => (check(p), then(p, nodeScanFs.readlink(p))),
    readFile: (p) => (check(p), then(p, nodeScanFs.readFile(p))),
  };
}

function capture(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream,
    err: { write: (s: string) => ((err += s), true) } as unknown as NodeJS.WritableStream,
    env: {},
    stdout: () => out,
    stderr: () => err,
  };
}

describe('76 dmabuf ls: every dma-buf on the system, from /proc and /sys', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  // 100 holds 'frame 0' (ino 7) through fds 3 and 4 and maps it in two pieces, holds ino 8,
  // maps ino 9 with no fd (its name has a newline); 200 (a command line with spaces and a
  // newline) holds ino 7 too; 300 holds a memfd only; 400 is a kernel thread.
  const procs: FakeProcess[] = [
    {
      pid: 100,
      cmdline: ['node', 'capture.js', '--device', '/dev/video0'],
      comm: 'node',
      fds: [
        { fd: 0, link: '/dev/null' },
        { fd: 3, link: '/dmabuf:frame 0', ino: 7, size: 64 * KiB, exp: 'udmabuf' },
        { fd: 4, link: '/dmabuf:frame 0', ino: 7, size: 64 * KiB, exp: 'udmabuf' },
        { fd: 5, link: '/dmabuf:', ino: 8, size: 16 * KiB, exp: 'system' },
        { fd: 6, link: '/memfd:dmabuf (deleted)' },
      ],
      maps: [
        [7, 32 * KiB, 'frame 0'],
        [7, 32 * KiB, 'frame 0'],
        [9, 8 * KiB, 'nl\\012name'],
      ],
    },
    {
      pid: 200,
      cmdline: ['viewer app', 'two\nlines'],
      comm: 'viewer app',
      fds: [{ fd: 10, link: '/dmabuf:frame 0', ino: 7, size: 64 * KiB, exp: 'udmabuf' }],
      maps: [[7, 64 * KiB, 'frame 0']],
    },
    { pid: 300, cmdline: ['cat'], comm: 'cat', fds: [{ fd: 3, link: '/memfd:x (deleted)' }] },
    { pid: 400, cmdline: [], comm: 'kworker/0:1', fds: [] },
  ];

  function scan(
    extra: FakeProcess[] = [],
    sysfs?: Array<[number, number, string]>,
    fs?: (t: ReturnType<typeof fabricate>) => ScanFs,
    pids?: number[],
  ) {
    const t = fabricate([...procs, ...extra], sysfs);
    roots.push(t.root);
    return { t, scan: scanDmaBufs({ proc: t.proc, sys: t.sys, fs: fs?.(t), pids }) };
  }

  it('lists each buffer once, with every process that holds or maps it', () => {
    const { scan: s } = scan();
    assert.deepEqual(
      s.buffers.map((b) => ({
        inode: b.inode,
        size: b.size,
        sizeFrom: b.sizeFrom,
        exporter: b.exporter,
        name: b.name,
        heldBy: b.heldBy,
        mappedBy: b.mappedBy,
      })),
      [
        {
          inode: 7,
          size: 64 * KiB,
          sizeFrom: 'fdinfo',
          exporter: 'udmabuf',
          name: 'frame 0',
          heldBy: [
            { pid: 100, fds: [3, 4] },
            { pid: 200, fds: [10] },
          ],
          mappedBy: [
            { pid: 100, bytes: 64 * KiB, mappings: 2 },
            { pid: 200, bytes: 64 * KiB, mappings: 1 },
          ],
        },
        { inode: 8, size: 16 * KiB, sizeFrom: 'fdinfo', exporter: 'system', name: '', heldBy: [{ pid: 100, fds: [5] }], mappedBy: [] },
        {
          inode: 9,
          size: 8 * KiB,
          sizeFrom: 'maps',
          exporter: null,
          name: 'nl\nname',
          heldBy: [],
          mappedBy: [{ pid: 100, bytes: 8 * KiB, mappings: 1 }],
        },
      ],
    );
  });

  it('per process: dma-buf fds, distinct buffers, bytes mapped and held; memfds and idle processes are not dma-bufs', () => {
    const { scan: s } = scan();
    assert.deepEqual(s.processes, [
      { pid: 100, command: 'node capture.js --device /dev/video0', fds: 3, buffers: 3, mapped: 72 * KiB, bytes: 88 * KiB },
      { pid: 200, command: 'viewer app two\nlines', fds: 1, buffers: 1, mapped: 64 * KiB, bytes: 64 * KiB },
    ]);
    assert.equal(s.scanned, 4);
  });

  it('totals per exporter count each buffer once', () => {
    const { scan: s } = scan();
    assert.deepEqual(s.totals, [
      { exporter: 'udmabuf', buffers: 1, bytes: 64 * KiB },
      { exporter: 'system', buffers: 1, bytes: 16 * KiB },
      { exporter: null, buffers: 1, bytes: 8 * KiB },
    ]);
    assert.deepEqual(s.total, { buffers: 3, bytes: 88 * KiB });
  });

  it('a process that cannot be inspected is counted and named, not dropped; sysfs counts what it holds', () => {
    const other: FakeProcess = {
      pid: 500,
      cmdline: ['secret', 'daemon'],
      comm: 'secret',
      fds: [{ fd: 3, link: '/dmabuf:', ino: 11, size: 4 * KiB, exp: 'system' }],
    };
    const { scan: s } = scan(
      [other],
      [
        [7, 64 * KiB, 'udmabuf'],
        [8, 16 * KiB, 'system'],
        [9, 8 * KiB, 'udmabuf'],
        [11, 4 * KiB, 'system'],
      ],
      () => faulty({ '/500/fd': 'EACCES' }),
    );
    assert.deepEqual(s.uninspectable, [{ pid: 500, command: 'secret daemon', reason: 'EACCES' }]);
    assert.deepEqual(s.unattributed, [{ inode: 11, size: 4 * KiB, exporter: 'system' }]);
    assert.equal(s.sysfs, true);
    const nine = s.buffers.find((b) => b.inode === 9)!;
    assert.deepEqual(
      [nine.size, nine.sizeFrom, nine.exporter],
      [8 * KiB, 'sysfs', 'udmabuf'],
      'sysfs names the exporter of a buffer only mapped',
    );
  });

  it('kernel threads another user cannot inspect are not counted as hiding dma-bufs', () => {
    const kthread: FakeProcess = { pid: 2, cmdline: [], comm: 'kthreadd', fds: [] };
    const { scan: s } = scan([kthread], undefined, (t) => {
      write(
        join(t.proc, '2', 'stat'),
        '2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n',
      );
      write(join(t.proc, '100', 'stat'), '100 (no) de) S 1 100 100 0 -1 4194560 0 0\n');
      return faulty({ '/2/fd': 'EACCES', '/100/fd': 'EACCES' });
    });
    assert.equal(s.kernelThreads, 1);
    assert.deepEqual(
      s.uninspectable.map((u) => u.pid),
      [100],
    );
  });

  it('processes and fds that vanish mid-scan are skipped and counted, not errors', () => {
    const gone: FakeProcess = {
      pid: 600,
      cmdline: ['short', 'lived'],
      comm: 'short',
      fds: [{ fd: 3, link: '/dmabuf:', ino: 12, size: 4 * KiB, exp: 'udmabuf' }],
    };
    const closing: FakeProcess = {
      pid: 700,
      cmdline: ['closer'],
      comm: 'closer',
      fds: [
        { fd: 3, link: '/dmabuf:', ino: 13, size: 4 * KiB, exp: 'udmabuf' },
        { fd: 4, link: '/dmabuf:', ino: 14, size: 4 * KiB, exp: 'udmabuf' },
      ],
    };
    const { scan: s } = scan([gone, closing], undefined, (t) =>
      faulty(
        {},
        {
          // the process list is read, then 600 exits; 700 closes fd 4 after its fd table was read
          [`${t.proc}`]: () => rmSync(join(t.proc, '600'), { recursive: true, force: true }),
          '/700/fd': () => {
            unlinkSync(join(t.proc, '700', 'fd', '4'));
            unlinkSync(join(t.proc, '700', 'fdinfo', '4'));
          },
        },
      ),
    );
    assert.equal(s.vanished, 1);
    assert.deepEqual(s.uninspectable, []);
    assert.deepEqual(
      s.processes.find((p) => p.pid === 700),
      { pid: 700, command: 'closer', fds: 1, buffers: 1, mapped: 0, bytes: 4 * KiB },
    );
    assert.equal(
      s.processes.some((p) => p.pid === 600),
      false,
    );
  });

  it('--pid: only that process and its buffers, every holder still named', () => {
    const { scan: s } = scan([], undefined, undefined, [200]);
    assert.deepEqual(
      s.processes.map((p) => p.pid),
      [200],
    );
    assert.deepEqual(
      s.buffers.map((b) => [b.inode, b.heldBy.map((h) => h.pid)]),
      [[7, [100, 200]]],
    );
    assert.deepEqual(s.total, { buffers: 1, bytes: 64 * KiB });
  });

  it('the text: tables, names with newlines escaped, and the uninspectable said with what it takes', () => {
    const t = fabricate([...procs, { pid: 500, cmdline: ['secret'], comm: 'secret', fds: [] }]);
    roots.push(t.root);
    const io = capture();
    assert.equal(ls(['--proc', t.proc, '--sys', t.sys, '--sort', 'pid'], io, faulty({ '/500/fd': 'EACCES' })), 0);
    const out = io.stdout();
    assert.match(out, /PID +COMMAND +FDS +BUFFERS +MAPPED +BYTES/);
    assert.match(out, /100 +node capture\.js --device \/dev\/video0 +3 +3 +72 KiB +88 KiB/);
    assert.match(out, /200 +viewer app two\\nlines/);
    assert.match(out, /7 +64 KiB +udmabuf +frame 0 +100\(fd 3,4\) 200\(fd 10\) +100\(64 KiB\) 200\(64 KiB\)/);
    assert.match(out, /9 +≥8 KiB +\? +nl\\nname/);
    assert.match(out, /total +3 +88 KiB/);
    assert.match(out, /1 process\(es\) could not be inspected \(requires root or CAP_SYS_PTRACE\).*500 secret/);
    assert.ok(!out.includes('\x1b['));
  });

  it('--json: the scan with schema 1, names exact; bad options and a missing /proc exit 2 with a code', () => {
    const t = fabricate(procs);
    roots.push(t.root);
    const json = spawnSync(process.execPath, [CLI, 'ls', '--json', '--proc', t.proc, '--sys', t.sys], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const s = JSON.parse(json.stdout) as DmaBufScan & { schema: number };
    assert.equal(s.schema, 1);
    assert.equal(s.processes.find((p) => p.pid === 200)!.command, 'viewer app two\nlines');
    assert.deepEqual(
      s.processes.map((p) => p.pid),
      [100, 200],
      'sorted by bytes',
    );
    const bad = spawnSync(process.execPath, [CLI, 'ls', '--sort', 'colour'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /ERR_INVALID_ARG_VALUE: --sort takes one of bytes, pid, fds, mapped, command/);
    const missing = spawnSync(process.execPath, [CLI, 'ls', '--json', '--proc', join(t.root, 'nope')], { encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'ERR_DMABUF_UNAVAILABLE');
  });

  it('as another user: real EACCES on processes that are not yours (root only)', function () {
    if (process.getuid?.() !== 0) this.skip();
    // nobody must be able to run the CLI from where this checkout is (not so under a 0700 directory)
    const canRun = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI)})`], { uid: 65534, gid: 65534 });
    if (canRun.status !== 0) this.skip();
    const t = fabricate(procs);
    roots.push(t.root);
    chmodSync(join(t.proc, '100', 'fd'), 0o700);
    chmodSync(join(t.proc, '100', 'maps'), 0o600);
    const r = spawnSync(process.execPath, [CLI, 'ls', '--json', '--proc', t.proc, '--sys', t.sys], {
      encoding: 'utf8',
      uid: 65534,
      gid: 65534,
    });
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as DmaBufScan;
    assert.deepEqual(s.uninspectable, [{ pid: 100, command: 'node capture.js --device /dev/video0', reason: 'EACCES' }]);
    assert.deepEqual(
      s.processes.map((p) => p.pid),
      [200],
    );
  });

  it('this machine: the real /proc scans without error', () => {
    const s = scanDmaBufs();
    assert.ok(s.scanned > 1);
    for (const b of s.buffers) assert.ok(b.heldBy.length + b.mappedBy.length > 0);
  });
});
