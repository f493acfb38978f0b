// examples/electron-main.ts, electron-preload.ts and electron-capture-helper.ts run as one app,
// with Electron's own calls stubbed by the shapes its docs give them (fixtures/electron-stub):
// the helper is a real plain-Node child process and the frames real buffers. Where the
// helper's pool is made of dma-bufs (udmabuf or a DMA heap: the VM) main hands them to the
// renderer through sharedTexture; where it is made of memfds (this host) main copies the bytes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { capabilities } from '../lib';
import { colour } from '../examples/electron-capture-helper';
import { showFrames } from '../examples/electron-main';
import { receiveFrames } from '../examples/electron-preload';
import { FakeSharedTexture, fakeWindow, type FakeVideoFrame } from './fixtures/electron-stub';
import { checkFds } from './helpers';

describe('68 the Electron example (Electron stubbed by its documented shapes)', () => {
  checkFds();

  it('main shows every frame of the helper in the renderer, through the GPU where frames are dma-bufs, else copied; every reference is released', async function () {
    this.timeout(120000);
    const electron = new FakeSharedTexture();
    const win = fakeWindow(electron);
    const seen: Array<{ n: number; via: string; first: number[]; last: number[] }> = [];
    const corners = (n: number, via: string, px: Uint8Array) =>
      seen.push({ n, via, first: [...px.subarray(0, 4)], last: [...px.subarray(px.length - 4)] });
    receiveFrames(win.renderer, {
      async texture(frame, meta) {
        const px = new Uint8Array(frame.codedWidth * frame.codedHeight * 4);
        await (frame as FakeVideoFrame).copyTo(px); // what the GPU sees of the frame
        corners((meta as { n: number }).n, 'texture', px);
      },
      bytes(rgba, meta) {
        corners((meta as { n: number }).n, 'bytes', rgba);
      },
    });
    const frames = 12;
    const stats = await showFrames({ sharedTexture: electron }, win.webContents, {
      helper: join(__dirname, '../examples/electron-capture-helper.js'),
      node: process.execPath,
      frames,
      width: 64,
      height: 36,
    });
    const gpu = capabilities().auto === 'udmabuf' || capabilities().auto === 'dma-heap';
    assert.deepEqual(stats, gpu ? { gpu: frames, copied: 0 } : { gpu: 0, copied: frames });
    assert.deepEqual(
      seen,
      Array.from({ length: frames }, (_, n) => ({ n, via: gpu ? 'texture' : 'bytes', first: colour(n), last: colour(n) })),
    );
    assert.equal(electron.live, 0, 'every import and every renderer reference was released');
  });
});
