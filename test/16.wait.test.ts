// Waits with a time limit (lib/platform/wait.ts): settled once, timer and registration
// cleaned up either way, and limits beyond setTimeout's 2^31-1 ms honoured, not clamped.
import assert from 'node:assert/strict';
import { PAGE_SIZE, allocate } from '../lib';
import { MAX_TIMER_MS, waitFor, type Settle } from '../lib/platform/wait';
import { checkFds } from './helpers';

/** setTimeout/clearTimeout on a manual clock, clamping as Node does: a delay over 2^31-1 ms (or under 1) becomes 1 ms. */
function fakeTimers() {
  const real = { setTimeout: global.setTimeout, clearTimeout: global.clearTimeout };
  const timers = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  let now = 0;
  let id = 0;
  global.setTimeout = ((fn: () => void, ms: number) => {
    delays.push(ms);
    timers.set(++id, { at: now + (ms >= 1 && ms <= MAX_TIMER_MS ? ms : 1), fn });
    return id;
  }) as unknown as typeof setTimeout;
  global.clearTimeout = ((h: number) => void timers.delete(h)) as unknown as typeof clearTimeout;
  return {
    delays,
    pending: () => timers.size,
    /** Moves the clock on by `ms`, firing what falls due in order. */
    advance(ms: number): void {
      const end = now + ms;
      for (;;) {
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = end;
    },
    restore(): void {
      Object.assign(global, real);
    },
  };
}

/** A registry of waiters, as an event source keeps them. */
function source<T>() {
  const waiters = new Set<Settle<T>>();
  let unregistered = 0;
  return {
    waiters,
    unregistered: () => unregistered,
    register: (w: Settle<T>) => {
      waiters.add(w);
      return () => {
        unregistered++;
        waiters.delete(w);
      };
    },
  };
}

/** 'pending', 'resolved' or the rejection's code, once the microtasks have run. */
async function state(p: Promise<unknown>): Promise<string> {
  let s = 'pending';
  p.then(
    () => (s = 'resolved'),
    (err: NodeJS.ErrnoException) => (s = err.code ?? 'rejected'),
  );
  await new Promise((r) => setImmediate(r));
  return s;
}

describe('15 wait: one helper for every wait with a timeout', () => {
  checkFds();
  let clock: ReturnType<typeof fakeTimers> | undefined;
  afterEach(() => {
    clock?.restore();
    clock = undefined;
  });

  it('settled by the event: the timer is cleared and the waiter unregistered', async () => {
    clock = fakeTimers();
    const src = source<number>();
    const p = waitFor(src.register, 100, () => 'never');
    assert.equal(clock.pending(), 1);
    [...src.waiters][0].resolve(7);
    assert.equal(await p, 7);
    assert.equal(clock.pending(), 0, 'timer cleared');
    assert.equal(src.waiters.size, 0, 'unregistered');
    [...src.waiters].forEach((w) => w.reject(new Error('late')));
    assert.equal(src.unregistered(), 1, 'unregistered once');
  });

  it('timed out: ERR_DMABUF_TIMEOUT with the message, the waiter unregistered, a late event ignored', async () => {
    clock = fakeTimers();
    const src = source<void>();
    let w: Settle<void> | undefined;
    const p = waitFor<void>(
      (s) => {
        w = s;
        return src.register(s);
      },
      100,
      () => 'thing: not ready within 100 ms',
    );
    clock.advance(99);
    assert.equal(await state(p), 'pending');
    clock.advance(1);
    await assert.rejects(p, { code: 'ERR_DMABUF_TIMEOUT', message: 'thing: not ready within 100 ms' });
    assert.equal(src.waiters.size, 0);
    w!.resolve();
    assert.equal(src.unregistered(), 1);
  });

  it('settled while registering: unregistered at once, no timer', async () => {
    clock = fakeTimers();
    let unregistered = 0;
    const p = waitFor<string>(
      (s) => {
        s.reject(new Error('at once'));
        return () => unregistered++;
      },
      100,
      () => 'never',
    );
    await assert.rejects(p, /at once/);
    assert.equal(unregistered, 1);
    assert.equal(clock.pending(), 0);
  });

  it('no limit (undefined, Infinity): no timer at all', async () => {
    clock = fakeTimers();
    const src = source<void>();
    const a = waitFor(src.register, undefined, () => 'never');
    const b = waitFor(src.register, Infinity, () => 'never');
    assert.equal(clock.pending(), 0);
    for (const w of [...src.waiters]) w.resolve();
    await Promise.all([a, b]);
  });

  it("a 2^31 ms timeout does not fire early: timers are chained, none beyond setTimeout's limit", async () => {
    clock = fakeTimers();
    const src = source<void>();
    const p = waitFor(src.register, 2 ** 31, () => 'long wait over');
    clock.advance(1);
    assert.equal(await state(p), 'pending', 'not after 1 ms (setTimeout would clamp 2^31 to 1 ms)');
    clock.advance(2 ** 31 - 2);
    assert.equal(await state(p), 'pending', 'not 1 ms before the limit');
    assert.ok(
      clock.delays.every((d) => d <= MAX_TIMER_MS),
      `delays asked of setTimeout: ${clock.delays.join(', ')}`,
    );
    clock.advance(1);
    await assert.rejects(p, { code: 'ERR_DMABUF_TIMEOUT', message: 'long wait over' });
    assert.equal(src.waiters.size, 0);
  });

  it('attachAsync with {timeout: 2 ** 31} keeps waiting on real timers, then attaches after the unmap', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      using buf = allocate(4 * PAGE_SIZE, { exporter: 'memory', segments: 4 });
      const a = buf.attach({ name: 'a' });
      const t = a.map();
      const p = buf.attachAsync({ name: 'scanout', contiguous: true }, { timeout: 2 ** 31 });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(await state(p), 'pending');
      a.unmap(t);
      const strict = await p;
      assert.ok(buf.attachments.includes(strict));
      assert.deepEqual(
        warnings.filter((w) => w.name === 'TimeoutOverflowWarning'),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });
});
