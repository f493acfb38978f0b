// The V8 fast path for views (native/v8/, issue 11): where a fast-path file built for this
// Node's ABI sits beside the addon, views are ArrayBuffers V8 does not count as external
// memory, so a large one starts no garbage collection; only the library can detach them
// (transfer() throws a TypeError). Everywhere else, and with DMABUF_V8_VIEWS=0, views are
// Node-API external ArrayBuffers. Both must behave as the README says: the same checks run
// over both, in children (this Node and the others of nodeBinaries(), with and without
// DMABUF_V8_VIEWS=0, and with transfer() turned on where it is behind a flag).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { allocate, capabilities } from '../lib';
import { native } from '../lib/platform/binding';
import { COPY_MODE, nodeBinaries, openFds, type NodeBinary } from './helpers';

const ROOT = join(__dirname, '..', '..');
const MiB = 1 << 20;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const addon = (require('node-gyp-build') as { path(d: string): string }).path(ROOT);
const fastFile = (abi: string) => join(dirname(addon), `dmabuf-v8-abi${abi}.so`);
const memfdMaps = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/memfd:')).length;

interface ChildReport {
  path: 'v8' | 'node-api';
  why: string | null;
  externalGrowthMiB: number;
  transfer: string;
  structuredClone: string;
  postMessage: string;
  usableAfter?: boolean;
  [k: string]: unknown;
}

function runChild(node: NodeBinary, env: NodeJS.ProcessEnv, flags: string[] = []): ChildReport {
  const r = spawnSync(node.path, [...node.flags, ...flags, '--expose-gc', join(__dirname, 'fixtures', 'v8-views-child.js')], {
    encoding: 'utf8',
    timeout: 50000,
    env: { ...process.env, DMABUF_COPY_MODE: undefined, ...env },
  });
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr.slice(-2000)}`);
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildReport;
}

/** What both paths promise, and what each promises of its own. */
function assertReport(o: ChildReport, label: string): void {
  const { path, why, externalGrowthMiB, transfer, structuredClone, postMessage, usableAfter, ...common } = o;
  assert.deepEqual(
    common,
    { largeDetached: true, detachedAfterClose: true, kmap: true, kunmapDetached: true, mappingsLeft: 0, memfdMapsLeft: 0 },
    label,
  );
  // A transfer list never moves the memory, and never kills the process: Node either copies
  // the untransferable buffer (Node 20) or refuses it (DataCloneError).
  assert.ok(['copied', 'DataCloneError'].includes(structuredClone), `${label}: structuredClone ${structuredClone}`);
  assert.ok(['copied', 'DataCloneError'].includes(postMessage), `${label}: postMessage ${postMessage}`);
  if (path === 'v8') {
    assert.equal(why, null, label);
    assert.ok(externalGrowthMiB < 8, `${label}: a 96 MiB fast-path view added ${externalGrowthMiB} MiB of external memory`);
    assert.ok(['absent', 'TypeError'].includes(transfer), `${label}: transfer() on a fast-path view: ${transfer}`);
    assert.equal(usableAfter, true, label);
  } else {
    assert.equal(path, 'node-api', label);
    assert.ok(externalGrowthMiB >= 96, `${label}: a 96 MiB Node-API view added only ${externalGrowthMiB} MiB of external memory`);
    assert.ok(['absent', 'moved'].includes(transfer), `${label}: transfer() on a Node-API view: ${transfer}`);
    if (transfer === 'absent') assert.equal(usableAfter, true, label);
  }
}

/** The path a child of `node` must report: the fast path if its file is here, its V8 refuses transfer() of a keyed view or has no transfer(). */
function expectedPath(node: NodeBinary, flags: string[]): 'v8' | 'node-api' {
  const r = spawnSync(
    node.path,
    [...flags, '-p', "[process.versions.modules, process.versions.v8.split('.')[0], typeof ArrayBuffer.prototype.transfer].join(' ')"],
    { encoding: 'utf8' },
  );
  const [abi, v8Major, transfer] = r.stdout.trim().split(' ');
  return existsSync(fastFile(abi)) && (Number(v8Major) >= 13 || transfer === 'undefined') ? 'v8' : 'node-api';
}

describe('65 the V8 fast path for views', function () {
  this.timeout(60000);

  it('this process: capabilities().views says which path makes views, and why', function () {
    const views = capabilities().views;
    if (COPY_MODE) return assert.equal(views.path, 'copy');
    const off = process.env.DMABUF_V8_VIEWS === '0';
    assert.equal(views.path, off ? 'node-api' : expectedPath(nodeBinaries()[0], []), JSON.stringify(views));
    // A local build (npm run build) builds the fast path for the Node that built it.
    const config = join(ROOT, 'build', 'config.gypi');
    if (addon.startsWith(join(ROOT, 'build')) && existsSync(config)) {
      const built = /"node_module_version": (\d+)/.exec(readFileSync(config, 'utf8'))?.[1];
      if (built === process.versions.modules) assert.ok(existsSync(fastFile(built)), `${fastFile(built)} was not built`);
    }
    if (views.path === 'node-api') assert.match(views.why!, /DMABUF_V8_VIEWS=0|ABI|V8|Electron/);
  });

  for (const node of nodeBinaries()) {
    const hasTransfer =
      spawnSync(node.path, ['-p', 'typeof ArrayBuffer.prototype.transfer'], { encoding: 'utf8' }).stdout.trim() === 'function';
    const runs: Array<[string, NodeJS.ProcessEnv, string[]]> = [
      ['the default', { DMABUF_V8_VIEWS: undefined }, []],
      ['DMABUF_V8_VIEWS=0', { DMABUF_V8_VIEWS: '0' }, []],
    ];
    if (!hasTransfer) runs.push(['transfer() on by flag', { DMABUF_V8_VIEWS: undefined }, ['--harmony-rab-gsab-transfer']]);
    for (const [what, env, flags] of runs) {
      it(`${node.label}, ${what}: the expected path; a 96 MiB view, transfer(), structuredClone and postMessage, close() and kunmap detach, nothing left mapped`, function () {
        const o = runChild(node, env, flags);
        const expected = env.DMABUF_V8_VIEWS === '0' ? 'node-api' : expectedPath(node, flags);
        assert.equal(o.path, expected, JSON.stringify(o));
        if (env.DMABUF_V8_VIEWS === '0') assert.equal(o.why, 'DMABUF_V8_VIEWS=0');
        assertReport(o, `${node.label}, ${what}: ${JSON.stringify(o)}`);
      });
    }
  }

  it('a view is the mapping: stores show in read(), write() shows in the view; close() detaches it and unmaps', function () {
    if (COPY_MODE) this.skip();
    const b = native();
    const mappings0 = b.mappingCount();
    const maps0 = memfdMaps();
    const buf = allocate(4 * MiB, { exporter: 'memfd' });
    const view = buf.mmap();
    assert.equal(buf.mmap(), view, 'the same view while mapped');
    view[4 * MiB - 1] = 0x5a;
    const out = new Uint8Array(1);
    buf.read(4 * MiB - 1, out);
    assert.equal(out[0], 0x5a);
    buf.write(17, new Uint8Array([0xa5]));
    assert.equal(view[17], 0xa5);
    buf.close();
    assert.equal(view.byteLength, 0);
    assert.equal(view.buffer.byteLength, 0);
    assert.equal(b.mappingCount(), mappings0);
    assert.equal(memfdMaps(), maps0);
  });

  it('a worker making views, terminated mid-work: no mapping, memfd or fd is left', async function () {
    if (COPY_MODE) this.skip();
    const fds0 = openFds();
    const maps0 = memfdMaps();
    for (let round = 0; round < 3; round++) {
      const w = new Worker(
        `const { parentPort } = require('node:worker_threads');
         const { allocate, capabilities } = require(${JSON.stringify(join(ROOT, 'dist', 'lib'))});
         const held = [];
         parentPort.postMessage(capabilities().views.path);
         for (let i = 0; ; i++) {
           const buf = allocate(1 << 20, { exporter: 'memfd' });
           buf.mmap().fill(i & 0xff);
           if (i % 3) buf.close(); else held.push(buf);
         }`,
        { eval: true },
      );
      const [path] = (await new Promise((resolve, reject) => {
        w.once('message', (m) => resolve([m]));
        w.once('error', reject);
      })) as [string];
      assert.equal(path, capabilities().views.path, 'the worker uses the same path as this thread');
      await new Promise((r) => setTimeout(r, 50));
      await w.terminate();
    }
    assert.equal(memfdMaps(), maps0, 'memfd mappings left by terminated workers');
    assert.equal(openFds(), fds0, 'fds left open by terminated workers');
  });
});
