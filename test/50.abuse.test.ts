// Abuse without crashing (node-usb style): every native function with wrong arguments and
// wrong receivers, every public method on a wrong receiver and on a released buffer, and
// the same again in a child that collects garbage afterwards. The process survives, every
// failure is an Error with a code, and no fd or mapping leaks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Attachment, DmaBuf, PAGE_SIZE, SyncFile } from '../lib';
import { native } from '../lib/platform/binding';
import { abuseBinding, abuseWrongReceivers, argLists, members } from './fixtures/abuse';
import { checkFds, count, openFds, subjects } from './helpers';

/** Valid arguments for every DmaBuf method, so that only the released state can fail. */
const DMABUF_ARGS: Record<string | symbol, unknown[]> = {
  get: [],
  put: [],
  close: [],
  [Symbol.dispose]: [],
  attach: [{ name: 'dev' }],
  attachAsync: [{ name: 'dev' }],
  beginCpuAccess: ['read'],
  beginCpuAccessAsync: ['read'],
  endCpuAccess: ['read'],
  cpuAccess: ['read'],
  cpuAccessAsync: ['read'],
  sync: [1],
  kmap: [0],
  kmapAtomic: [0],
  kunmap: [0],
  mmap: [],
  read: [0, new Uint8Array(4)],
  write: [0, new Uint8Array(4)],
  setName: ['x'],
  info: [],
  exportSyncFile: ['read'],
  importSyncFile: [Object.create(SyncFile.prototype), 'read'],
};
/** The public members: string keys and Symbol.dispose (other symbols are the module's internals). */
function publicMembers(proto: object): ReturnType<typeof members> {
  return members(proto).filter((m) => typeof m.key === 'string' || m.key === Symbol.dispose);
}
/** What still answers once a buffer is released. */
const DMABUF_AFTER_CLOSE = new Set<string | symbol>([
  'close',
  Symbol.dispose,
  'closed',
  'size',
  'exporter',
  'refs',
  'attachments',
  'cpuAccessCount',
]);
const ATTACHMENT_AFTER_CLOSE = new Set<string | symbol>(['detach', Symbol.dispose, 'dmabuf', 'detached', 'mapped']);

async function call(fn: () => unknown): Promise<{ ok: true; value: unknown } | { ok: false; err: NodeJS.ErrnoException }> {
  try {
    const r = fn();
    return { ok: true, value: r instanceof Promise ? await r : r };
  } catch (err) {
    return { ok: false, err: err as NodeJS.ErrnoException };
  }
}

describe('50 abuse', () => {
  checkFds();

  describe('the native binding', () => {
    it('has functions to abuse, and the argument lists never name a small fd or handle', () => {
      const b = native() as unknown as Record<string, unknown>;
      const fns = Object.keys(b).filter((k) => typeof b[k] === 'function');
      assert.ok(fns.length >= 20, `only ${fns.length} native functions: ${fns.join(', ')}`);
      for (const args of argLists()) {
        for (const a of args) {
          if (typeof a === 'number' && Number.isInteger(a) && a >= 0 && a < 2 ** 32)
            assert.fail(`argument ${a} could name a real fd or handle`);
        }
      }
    });

    it('every function, every wrong argument list, every receiver: an Error with a code, or a return', () => {
      const b = native();
      const fds = openFds();
      const maps = b.mappingCount();
      const r = abuseBinding();
      assert.deepEqual(r.problems, []);
      assert.equal(r.calls, r.threw + r.returned);
      assert.ok(r.threw > r.returned, `most calls should throw: ${JSON.stringify(r)}`);
      assert.equal(openFds(), fds, 'an abused native function opened or closed an fd');
      assert.equal(b.mappingCount(), maps, 'an abused native function made or removed a mapping');
      assert.equal(b.externalBuffersAllowed(), true, 'copy mode was left on');
    });

    it('the functions that take no arguments answer, whatever they are given', () => {
      const b = native();
      for (const args of argLists()) {
        assert.equal(typeof (b.mappingCount as (...a: unknown[]) => number)(...args), 'number');
        assert.equal(typeof (b.externalBuffersAllowed as (...a: unknown[]) => boolean)(...args), 'boolean');
      }
    });

    it('the constants cannot be changed', () => {
      const c = native().constants as unknown as Record<string, number>;
      assert.ok(Object.isFrozen(c));
      assert.throws(() => {
        'use strict';
        c.PAGE_SIZE = 1;
      }, TypeError);
      assert.equal(c.PAGE_SIZE, PAGE_SIZE);
    });

    it('an FdWatcher callback that throws is an uncaught exception, not an abort', () => {
      const binding = join(__dirname, '..', 'lib', 'platform', 'binding.js');
      const script = (handler: string) => `
        ${handler}
        const b = require(${JSON.stringify(binding)}).native();
        const ends = new Int32Array(2);
        b.socketPair(ends);
        const w = new b.FdWatcher(ends[0], () => { w.close(); throw new Error('the listener threw'); });
        w.start(2);`;
      const handled = spawnSync(
        process.execPath,
        ['-e', script("process.on('uncaughtException', (e) => console.log('caught:', e.message));")],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(handled.signal, null, handled.stderr);
      assert.equal(handled.status, 0, handled.stderr);
      assert.equal(handled.stdout.trim(), 'caught: the listener threw');
      const unhandled = spawnSync(process.execPath, ['-e', script('')], { encoding: 'utf8' });
      assert.equal(unhandled.signal, null, unhandled.stderr);
      assert.equal(unhandled.status, 1, unhandled.stderr);
      assert.match(unhandled.stderr, /Error: the listener threw/);
    });
  });

  describe('the public classes on a wrong receiver', () => {
    it('every method and getter of every public class throws (a TypeError, or an argument error with a code)', async () => {
      const r = await abuseWrongReceivers();
      assert.deepEqual(r.problems, []);
      assert.ok(r.calls > 50, `only ${r.calls} calls`);
    });

    it('new DmaBuf with something that is not an exporter → ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE', () => {
      const ok = { exporter: 'x', size: PAGE_SIZE, map: () => [], unmap: () => {}, release: () => {} };
      const bad: Array<[unknown, string]> = [
        [undefined, 'ERR_INVALID_ARG_TYPE'],
        [null, 'ERR_INVALID_ARG_TYPE'],
        ['ops', 'ERR_INVALID_ARG_TYPE'],
        [{}, 'ERR_INVALID_ARG_TYPE'],
        [{ ...ok, map: 1 }, 'ERR_INVALID_ARG_TYPE'],
        [{ ...ok, release: undefined }, 'ERR_INVALID_ARG_TYPE'],
        [{ ...ok, exporter: '' }, 'ERR_INVALID_ARG_TYPE'],
        [{ ...ok, exporter: 7 }, 'ERR_INVALID_ARG_TYPE'],
        [{ ...ok, size: 4097 }, 'ERR_OUT_OF_RANGE'],
        [{ ...ok, size: -4096 }, 'ERR_OUT_OF_RANGE'],
        [{ ...ok, size: '4096' }, 'ERR_INVALID_ARG_TYPE'],
      ];
      for (const [ops, code] of bad) {
        assert.throws(() => new DmaBuf(ops as never), { code }, JSON.stringify(ops));
      }
    });
  });

  for (const s of subjects()) {
    describe(`a released buffer: ${s.label}`, () => {
      afterEach(() => count(s.label));

      it('every DmaBuf method and getter is covered by this test', () => {
        const uncovered = publicMembers(DmaBuf.prototype)
          .filter((m) => (m.kind === 'method' ? !(m.key in DMABUF_ARGS) : false))
          .map((m) => String(m.key));
        assert.deepEqual(uncovered, [], 'add valid arguments for these methods to DMABUF_ARGS');
      });

      it('every method and getter throws ERR_DMABUF_CLOSED, except close, dispose and plain facts', async () => {
        const buf = s.make(2 * PAGE_SIZE);
        const size = buf.size;
        const exporter = buf.exporter;
        buf.close();
        for (const m of publicMembers(DmaBuf.prototype)) {
          const args = m.kind === 'getter' ? [] : DMABUF_ARGS[m.key as string];
          const r = await call(() => m.fn.apply(buf, args));
          if (DMABUF_AFTER_CLOSE.has(m.key)) {
            assert.ok(r.ok, `${String(m.key)} threw after close: ${!r.ok && r.err.message}`);
          } else {
            assert.ok(!r.ok, `${String(m.key)} did not throw after close`);
            assert.equal(r.err.code, 'ERR_DMABUF_CLOSED', `${String(m.key)}: ${r.err.message}`);
            assert.match(r.err.message, /released/);
          }
        }
        assert.equal(buf.closed, true);
        assert.equal(buf.size, size);
        assert.equal(buf.exporter, exporter);
        assert.equal(buf.refs, 0);
        assert.deepEqual(buf.attachments, []);
        assert.deepEqual(buf.cpuAccessCount, { read: 0, write: 0, readwrite: 0 });
      });

      it('with wrong arguments too, a released buffer fails with an error that has a code', async () => {
        const buf = s.make(PAGE_SIZE);
        buf.close();
        for (const m of publicMembers(DmaBuf.prototype)) {
          if (m.kind !== 'method' || DMABUF_AFTER_CLOSE.has(m.key)) continue;
          for (const args of argLists()) {
            const r = await call(() => m.fn.apply(buf, args));
            assert.ok(!r.ok, `${String(m.key)} returned on a released buffer`);
            assert.equal(typeof r.err.code, 'string', `${String(m.key)} threw without a code: ${r.err.message}`);
          }
        }
      });

      it('Attachment methods after the buffer is released: map/unmap → ERR_DMABUF_CLOSED, detach and dispose are no-ops', async () => {
        const buf = s.make(2 * PAGE_SIZE);
        const att = buf.attach({ name: 'dev' });
        const table = att.map();
        buf.close();
        assert.equal(att.detached, true);
        const args: Record<string | symbol, unknown[]> = { map: [], unmap: [table], detach: [], [Symbol.dispose]: [] };
        for (const m of publicMembers(Attachment.prototype)) {
          assert.ok(m.kind === 'getter' || m.key in args, `Attachment.${String(m.key)} is not covered by this test`);
          const r = await call(() => m.fn.apply(att, m.kind === 'getter' ? [] : args[m.key as string]));
          if (ATTACHMENT_AFTER_CLOSE.has(m.key)) {
            assert.ok(r.ok, `${String(m.key)} threw after close: ${!r.ok && r.err.message}`);
          } else {
            assert.ok(!r.ok, `${String(m.key)} did not throw after close`);
            assert.equal(r.err.code, 'ERR_DMABUF_CLOSED', r.err.message);
          }
        }
      });
    });
  }

  describe('in a child with --expose-gc', () => {
    it('abuse, drop buffers in every state, collect garbage: no crash at finalization, no mapping left', function () {
      this.timeout(120000);
      const r = spawnSync(process.execPath, ['--expose-gc', join(__dirname, 'fixtures', 'abuse.js')], {
        encoding: 'utf8',
        timeout: 110000,
      });
      assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, `the child failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.deepEqual(out.problems, []);
      assert.equal(out.ok, true);
      assert.equal(out.mappings, 0, 'finalizers left mappings behind');
    });
  });
});
