// A buffer that comes back: on a channel with { reuse: true }, the same file (inode) arriving
// while an earlier delivery is open is that same DmaBuf with one more reference, and reuses
// its mapping and view (no new mmap, no new ArrayBuffer, no new fd). Without the option, or
// once the earlier delivery is closed, it is a new buffer, as before.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, openSync, closeSync, constants as fsc } from 'node:fs';
import { Channel, PAGE_SIZE, type DmaBuf, type ChannelOptions } from '../lib';
import { native } from '../lib/platform/binding';
import { decode, encode } from '../lib/sharing/channel/wire';
import { checkFds, openFds, subjects } from './helpers';
import { turnsUntil } from './loop';

const SIZE = 16 * PAGE_SIZE;

/** Both ends of a pair, in this process. */
function pair(options: ChannelOptions): { a: Channel; b: Channel; [Symbol.dispose](): void } {
  const [a, fd] = Channel.pair(options);
  const b = Channel.fromFd(fd, { ...options, takeOwnership: true });
  return {
    a,
    b,
    [Symbol.dispose]() {
      a.close();
      b.close();
    },
  };
}

async function roundTrip(ch: { a: Channel; b: Channel }, bufs: DmaBuf[]): Promise<DmaBuf[]> {
  await ch.a.send(bufs);
  const m = await ch.b.receive();
  assert.ok(m);
  return m.buffers;
}

/** Mappings of this process, as the kernel lists them. */
const mapsLines = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length;

describe('49 a buffer that comes back (Channel reuse)', () => {
  checkFds();
  const b = native();

  for (const s of subjects().filter((x) => x.fd)) {
    describe(s.label, () => {
      it('reuse: the same DmaBuf with one more reference, its view and mapping reused; put() per delivery', async () => {
        using ch = pair({ reuse: true });
        using src = s.make(SIZE);
        const [first] = await roundTrip(ch, [src]);
        const view = first.mmap();
        view[SIZE - 1] = 7;
        const maps = b.mappingCount();
        const lines = mapsLines();
        const fds = openFds();
        for (let i = 2; i <= 4; i++) {
          const [again] = await roundTrip(ch, [src]);
          assert.equal(again, first, 'a new DmaBuf for the same file');
          assert.equal(again.refs, i);
          assert.equal(again.mmap(), view, 'a new view');
        }
        assert.equal(b.mappingCount(), maps, 'a new native mapping');
        assert.equal(mapsLines(), lines, 'a new kernel mapping (/proc/self/maps)');
        assert.equal(openFds(), fds, 'an fd kept per delivery');
        assert.equal(view[SIZE - 1], 7);
        for (let i = 4; i > 1; i--) first.put();
        assert.equal(first.closed, false);
        first.put();
        assert.equal(first.closed, true);
        assert.equal(view.byteLength, 0, 'the view outlived the last delivery');
      });

      it('without reuse, and after the earlier delivery is closed: a new DmaBuf and a new mapping', async () => {
        using src = s.make(SIZE);
        {
          using ch = pair({});
          const [x] = await roundTrip(ch, [src]);
          const [y] = await roundTrip(ch, [src]);
          assert.notEqual(x, y);
          x.mmap();
          const n = b.mappingCount();
          y.mmap();
          assert.equal(b.mappingCount(), n + 1);
          x.close();
          y.close();
        }
        using ch = pair({ reuse: true });
        const [x] = await roundTrip(ch, [src]);
        const vx = x.mmap();
        x.close();
        assert.equal(vx.byteLength, 0);
        const [y] = await roundTrip(ch, [src]);
        assert.notEqual(y, x);
        assert.equal(y.refs, 1);
        assert.equal(y.mmap().byteLength, SIZE);
        y.close();
      });

      it('the same file twice in one message, and a message dropped after a reused buffer: references balance', async () => {
        // A raw sender, so that a message can carry an fd the receiver refuses.
        const out = new Int32Array(2);
        b.socketPair(out);
        const rx = Channel.fromFd(out[1], { reuse: true, takeOwnership: true });
        const nul = openSync('/dev/null', fsc.O_RDONLY);
        try {
          using src = s.make(SIZE);
          b.socketSend(out[0], encode(2, undefined), [src.fd, src.fd]);
          const m = await rx.receive();
          const [x, x2] = m!.buffers;
          assert.equal(x, x2);
          assert.equal(x.refs, 2);
          // Dropped whole (fd 2 is not a buffer): x must lose only the reference this message gave it.
          const dropped = once(rx, 'messageerror');
          b.socketSend(out[0], encode(2, undefined), [src.fd, nul]);
          const [err] = (await dropped) as [{ code: string }];
          assert.equal(err.code, 'ERR_DMABUF_BAD_MESSAGE');
          assert.equal(x.closed, false, 'dropping the message closed a buffer the receiver holds');
          assert.equal(x.refs, 2);
          x.put();
          x.put();
          assert.equal(x.closed, true);
        } finally {
          closeSync(nul);
          b.close(out[0]);
          rx.close();
        }
      });

      it('closing the channel with a reused buffer still in its inbox drops only that delivery', async () => {
        using ch = pair({ reuse: true });
        using src = s.make(SIZE);
        const [held] = await roundTrip(ch, [src]);
        await ch.a.send(src);
        await turnsUntil(() => ch.b.pending === 1, 'the second delivery in the inbox');
        assert.equal(held.refs, 2);
        ch.b.close();
        assert.equal(held.closed, false, 'closing the channel closed a buffer the receiver holds');
        assert.equal(held.refs, 1);
        held.close();
      });
    });
  }

  it('a memfd reopened read-only is not the writable buffer delivered before', async () => {
    using ch = pair({ reuse: true });
    const c = b.constants;
    const fd = b.memfdCreate('reuse', c.MFD_CLOEXEC | c.MFD_ALLOW_SEALING);
    b.ftruncate(fd, SIZE);
    b.addSeals(fd, c.F_SEAL_SHRINK | c.F_SEAL_GROW);
    const ro = openSync(`/proc/self/fd/${fd}`, fsc.O_RDONLY);
    try {
      const { fromFd } = await import('../lib');
      using rw = fromFd(fd);
      using rob = fromFd(ro);
      const [x] = await roundTrip(ch, [rw]);
      const [y] = await roundTrip(ch, [rob]);
      assert.notEqual(x, y);
      assert.throws(() => y.mmap(), { code: 'ERR_DMABUF_READ_ONLY' });
      assert.equal(x.mmap().byteLength, SIZE);
      x.close();
      y.close();
    } finally {
      closeSync(ro);
      b.close(fd);
    }
  });

  it('options.reuse must be a boolean', () => {
    assert.throws(() => Channel.pair({ reuse: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('49 channel wire: the ASCII fast path and the UTF-8 path agree', () => {
  const roundTrip = (payload: unknown) => {
    const rec = encode(0, payload);
    return decode(rec, { bytes: rec.length, fds: [], truncated: false, eof: false }, -1);
  };

  it('payloads come back equal, ASCII or not, short or long', () => {
    for (const p of [
      { t: 'ack', first: 161, last: 178, size: 1 << 20 },
      'héllo',
      '😀',
      '\ud800',
      'x'.repeat(300),
      ['é'.repeat(300)],
      0,
      null,
    ]) {
      assert.deepEqual(roundTrip(p), p);
    }
    assert.deepEqual(Array.from(encode(0, 'a').subarray(8)), [0x22, 0x61, 0x22]);
    assert.deepEqual(Array.from(encode(0, 'é').subarray(8)), [0x22, 0xc3, 0xa9, 0x22]);
  });

  it('bytes that are not UTF-8 are still refused (ERR_DMABUF_BAD_MESSAGE), short or long', () => {
    for (const body of [
      [0x22, 0xff, 0x22],
      [0x22, ...new Array(300).fill(0x61), 0xc3, 0x22],
    ]) {
      const rec = new Uint8Array(8 + body.length);
      rec.set(encode(0, 0).subarray(0, 8));
      rec.set(body, 8);
      assert.throws(() => decode(rec, { bytes: rec.length, fds: [], truncated: false, eof: false }, -1), {
        code: 'ERR_DMABUF_BAD_MESSAGE',
      });
    }
  });
});
