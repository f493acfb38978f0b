// Waiting in tests without sleeping or reading a clock. A test that must show something
// has *not* happened waits for the event that could have made it happen, then lets the
// event loop run a complete turn and checks; a test of a timeout uses fake timers.
// No mocha globals here: the child-process fixtures use it too.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import * as FakeTimers from '@sinonjs/fake-timers';

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Resolves once the event loop has run `turns` complete iterations from now, each with a
 * poll phase: fd watchers that are ready have fired, finished thread-pool work and
 * V8's posted tasks (FinalizationRegistry callbacks) have run, and so has every microtask and
 * nextTick queued before.
 */
export async function loopTurns(turns = 1): Promise<void> {
  // An immediate queued now may run in this iteration's check phase, before any poll; the
  // second one is queued from that check phase, so it runs after the next iteration's poll.
  for (let i = 0; i < turns; i++) {
    await immediate();
    await immediate();
  }
}

/** What probe() gives for a promise that has not settled. */
export const PENDING: unique symbol = Symbol('pending');

/**
 * p's value if it settles within `turns` turns of the event loop, else PENDING (a rejection
 * is thrown). The pending probe: `assert.equal(await probe(p), PENDING)`.
 */
export async function probe<T>(p: Promise<T>, turns = 1): Promise<T | typeof PENDING> {
  let state: { value: T } | { error: unknown } | null = null;
  p.then(
    (value) => (state = { value }),
    (error: unknown) => (state = { error }),
  );
  await loopTurns(turns);
  const s = state as { value: T } | { error: unknown } | null;
  if (s === null) return PENDING;
  if ('error' in s) throw s.error;
  return s.value;
}

/** Asserts that p is still pending after `turns` turns of the event loop. */
export async function assertPending(p: Promise<unknown>, message: string, turns = 1): Promise<void> {
  const got = await probe(p, turns);
  assert.ok(got === PENDING, `${message} (it settled with ${inspect(got, { depth: 0 })})`);
}

/**
 * Runs the event loop a turn at a time until cond() holds, failing after `maxTurns` turns.
 * For conditions that follow from I/O already under way in this process; wait for an event
 * (a message, a line from a child) for anything another process decides.
 */
export async function turnsUntil(cond: () => boolean, what: string, maxTurns = 1000): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i >= maxTurns) assert.fail(`${what}: not so after ${maxTurns} turns of the event loop`);
    await loopTurns();
  }
}

/**
 * Fakes setTimeout, setInterval and Date until disposed (`using clock = fakeTimers()`);
 * `await clock.tickAsync(ms)` moves time on. setImmediate, nextTick and I/O stay real, so
 * probe() and fd watchers work as usual. Mocha keeps its own timers.
 */
export function fakeTimers(): FakeTimers.Clock & Disposable {
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  return Object.assign(clock, { [Symbol.dispose]: () => clock.uninstall() });
}
