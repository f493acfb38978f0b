// Shared by every test file: fd-leak checks, the exporters this machine can test,
// and assertions on error shape.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { allocate, capabilities, fromFd, PAGE_SIZE, type AllocateOptions, type BuiltinExporter, type DmaBuf } from '../lib';
import { drmDevices, openVgem } from '../lib/devices/drm';
import { fdKind } from '../lib/platform/fdinfo';
import { copyModeOption, restoreCopyMode, setCopyMode } from '../lib/platform/copy-mode';

/** Whether a user with no rights of its own may run `file` (o+x on it and every directory above). */
export function othersCanExecute(file: string): boolean {
  for (let p = file; ; p = dirname(p)) {
    if ((statSync(p).mode & 0o001) === 0) return false;
    if (p === dirname(p)) return true;
  }
}

/**
 * What a child running as nobody (uid 65534, when this process is root) needs to use the
 * library, copied into `dir`: the checkout may be private (mktemp -d is 0700), and so may
 * the node binary (e.g. a Node under /root/.cache). `dir` must be reachable by nobody.
 * Returns the node binary to run and the library's path to require().
 */
export function nobodyCopy(dir: string): { node: string; lib: string } {
  const LIB = resolve(__dirname, '../lib');
  const root = resolve(LIB, '../..');
  const lib = join(dir, 'dist/lib');
  cpSync(LIB, lib, { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  cpSync(dirname(require.resolve('node-gyp-build')), join(dir, 'node_modules/node-gyp-build'), { recursive: true });
  // The addon this process loaded: a local build or the prebuild.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = (require('node-gyp-build') as { path(d: string): string }).path(root);
  cpSync(addon, join(dir, 'build/Release/dmabuf.node'));
  // Also where a child with PREBUILDS_ONLY (the arm64 VM) looks.
  cpSync(addon, join(dir, `prebuilds/${process.platform}-${process.arch}/dmabuf.node`));
  let node = process.execPath;
  if (!othersCanExecute(node)) cpSync(node, (node = join(dir, 'node')));
  return { node, lib };
}

/** Open fds of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length - 1;
}

/** Whether fd is open in this process. */
export function isOpen(fd: number): boolean {
  return fdKind(fd) !== 'closed';
}

// Node opens /dev/null in the parent the first time it spawns a child with piped stdio,
// and keeps it for the process's life. Do that once before any fd is counted.
before(async () => {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  await once(child, 'close');
});

function fdTable(): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync('/proc/self/fd')) {
    try {
      out.set(n, readlinkSync(`/proc/self/fd/${n}`));
    } catch {
      // the fd readdir itself used
    }
  }
  return out;
}

/** Asserts, after every test of the calling describe(), that the fd count is back where it started. */
export function checkFds(): void {
  let before = new Map<string, string>();
  beforeEach(() => {
    before = fdTable();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') return;
    const after = fdTable();
    if (after.size === before.size) return;
    const diff = [...new Set([...before.keys(), ...after.keys()])]
      .filter((n) => before.get(n) !== after.get(n))
      .map((n) => `fd ${n}: ${before.get(n) ?? '-'} → ${after.get(n) ?? '-'}`);
    assert.fail(`open fd count changed from ${before.size} to ${after.size}: an fd leaked or was closed twice (${diff.join('; ')})`);
  });
}

/** Asserts a SystemError-shaped error. */
export function assertSysError(fn: () => unknown, code: string, errno: number, syscall?: string | RegExp): void {
  assert.throws(fn, (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, code, err.message);
    assert.equal(err.errno, errno, err.message);
    if (typeof syscall === 'string') assert.equal(err.syscall, syscall);
    else if (syscall) assert.match(String(err.syscall), syscall);
    assert.ok(err.message.startsWith(code), `message starts with the code: ${err.message}`);
    return true;
  });
}

/** Asserts an error with this code (and message pattern). */
export function assertCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

export async function assertRejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** One way of making a buffer, as the conformance suite sees it. */
export interface Subject {
  /** Label in test titles, e.g. 'udmabuf', 'import(dma-heap)'. */
  label: string;
  /** What buf.exporter says. */
  exporter: string;
  /** What info().expName says. */
  expName: string;
  make(size: number, opts?: AllocateOptions): DmaBuf;
  /** Has a real fd. */
  fd: boolean;
  /** A real dma-buf fd (kernel SYNC, SET_NAME, fdinfo). */
  dmabuf: boolean;
  /** Honours `segments` and migrates storage. */
  migrates: boolean;
  /** Honours `deferred`. */
  defers: boolean;
}

function imported(inner: Subject): Subject {
  return {
    label: `import(${inner.label})`,
    exporter: inner.dmabuf ? 'import' : inner.exporter,
    expName: inner.expName,
    fd: true,
    dmabuf: inner.dmabuf,
    migrates: false,
    defers: false,
    make(size) {
      const src = inner.make(size);
      try {
        return fromFd(src.fd);
      } finally {
        src.close();
      }
    },
  };
}

/**
 * The subjects this machine offers. DMABUF_REQUIRE_EXPORTERS (comma-separated) makes
 * a missing exporter a failure instead of an absence (the VM suite sets it).
 */
export function subjects(): Subject[] {
  const caps = capabilities();
  const out: Subject[] = [];
  const heap = caps.heaps.find((h) => h.accessible)?.name;
  if (caps.exporters.includes('udmabuf')) {
    out.push({
      label: 'udmabuf',
      exporter: 'udmabuf',
      expName: 'udmabuf',
      fd: true,
      dmabuf: true,
      migrates: true,
      defers: true,
      make: (size, opts) => allocate(size, { ...opts, exporter: 'udmabuf' }),
    });
  }
  if (caps.exporters.includes('dma-heap') && heap) {
    out.push({
      label: `dma-heap(${heap})`,
      exporter: 'dma-heap',
      expName: heap,
      fd: true,
      dmabuf: true,
      migrates: false,
      defers: true,
      make: (size, opts) => allocate(size, { ...opts, exporter: 'dma-heap', heap }),
    });
  }
  if (caps.exporters.includes('memfd')) {
    out.push({
      label: 'memfd',
      exporter: 'memfd',
      expName: 'memfd',
      fd: true,
      dmabuf: false,
      migrates: false,
      defers: true,
      make: (size, opts) => allocate(size, { ...opts, exporter: 'memfd' }),
    });
  }
  out.push({
    label: 'memory',
    exporter: 'memory',
    expName: 'memory',
    fd: false,
    dmabuf: false,
    migrates: true,
    defers: true,
    make: (size, opts) => allocate(size, { ...opts, exporter: 'memory' }),
  });
  for (const s of [...out]) if (s.fd) out.push(imported(s));
  if (drmDevices().some((d) => d.driver === 'vgem')) {
    out.push({
      label: 'import(vgem PRIME)',
      exporter: 'import',
      expName: 'drm',
      fd: true,
      dmabuf: true,
      migrates: false,
      defers: false,
      make(size) {
        using vgem = openVgem();
        const { gem } = vgem.createDumb(PAGE_SIZE / 4, size / PAGE_SIZE, 32);
        using _ = gem;
        return vgem.exportDmaBuf(gem);
      },
    });
  }
  const required = (process.env.DMABUF_REQUIRE_EXPORTERS ?? '').split(',').filter(Boolean);
  for (const r of required) {
    if (!out.some((s) => s.exporter === r)) {
      throw new Error(`DMABUF_REQUIRE_EXPORTERS names '${r}', which this machine does not offer: ${JSON.stringify(caps)}`);
    }
  }
  return out;
}

/**
 * In a describe(): its tests are skipped (pending) where this machine does not offer
 * `exporter`, such as dma-heap on Debian's arm64 kernel. A kernel suite that needs it names
 * it in DMABUF_REQUIRE_EXPORTERS, which subjects() enforces.
 */
export function onlyWith(exporter: BuiltinExporter): void {
  before(function () {
    if (!capabilities().exporters.includes(exporter)) this.skip();
  });
}

/** Counts of tests run per subject label, printed at the end of a run (see 99.summary). */
export const tally = new Map<string, number>();
export function count(label: string): void {
  tally.set(label, (tally.get(label) ?? 0) + 1);
}

export interface NodeBinary {
  label: string;
  path: string;
  flags: string[];
}

let binaries: NodeBinary[] | undefined;
/**
 * Node binaries to run a child test with: this one, then every path in DMABUF_TEST_NODES
 * (colon-separated), or else the Node 22 that `ci/node-bin.sh 22.23.5` prints, if that
 * script exists (it fetches and caches the binary).
 */
export function nodeBinaries(): NodeBinary[] {
  if (binaries) return binaries;
  const extra = (process.env.DMABUF_TEST_NODES ?? '').split(':').filter(Boolean);
  const script = join(__dirname, '..', '..', 'ci', 'node-bin.sh');
  if (extra.length === 0 && existsSync(script)) {
    const r = spawnSync('bash', [script, '22.23.5'], { encoding: 'utf8', timeout: 300000 });
    if (r.status === 0 && r.stdout.trim()) extra.push(r.stdout.trim().split('\n').pop()!);
  }
  binaries = [
    { label: `this Node (${process.version})`, path: process.execPath, flags: [] },
    ...extra.map((path) => ({ label: path, path, flags: [] })),
  ];
  return binaries;
}

/** Runs fn with copy mode on (as in Electron), then puts it back as it was (on, in a copy-mode run). */
export function withCopyMode<T>(fn: () => T): T {
  const saved = copyModeOption();
  setCopyMode(true);
  try {
    return fn();
  } finally {
    restoreCopyMode(saved);
  }
}

/** Whether this run is in copy mode (DMABUF_COPY_MODE=1, as `npm run test:copy-mode` sets): views refused, read()/write() copy. */
export const COPY_MODE = process.env.DMABUF_COPY_MODE === '1';

/** Whether buf hands out views in this run: always, but in copy mode only `memory` buffers (plain JS memory). */
export function hasViews(buf: DmaBuf): boolean {
  return !COPY_MODE || buf.exporter === 'memory';
}

/** buf[offset, offset + length): the mmap() view itself, or in copy mode a copy made by read(). */
export function bytesOf(buf: DmaBuf, offset = 0, length = buf.size - offset): Uint8Array {
  if (hasViews(buf)) return buf.mmap().subarray(offset, offset + length);
  const out = new Uint8Array(length);
  buf.read(offset, out);
  return out;
}

/** Fills buf with f(i) for every byte i: through the view, or in copy mode with write(). */
export function fillBytes(buf: DmaBuf, f: (i: number) => number): void {
  const bytes = hasViews(buf) ? buf.mmap() : new Uint8Array(buf.size);
  for (let i = 0; i < bytes.length; i++) bytes[i] = f(i);
  if (!hasViews(buf)) buf.write(0, bytes);
}
