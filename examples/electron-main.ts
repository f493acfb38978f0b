// An Electron main process that shows a capture helper's frames in a window.
//
// The helper (examples/electron-capture-helper.ts) is a plain Node process: it owns a frame
// pool and fills it with zero-copy views. Frames reach main over a Channel (fds and a small
// JSON payload, never the bytes). Main runs in Electron, where V8 forbids external
// ArrayBuffers, so it never maps a frame: a dma-buf frame goes to the renderer through
// sharedTexture (the GPU imports the same memory, zero-copy) and returns to the helper once
// the renderer has released it; a memfd frame (no udmabuf or DMA heap here) is not a dma-buf
// the GPU could import, so main copies its bytes out (read(), copy mode) and sends them.
//
// Run it in an Electron that has the sharedTexture module, with the helper compiled next to it:
//   electron dist/examples/electron-main.js
// The Electron calls go through the `electron` argument, typed below by the shapes Electron
// documents, so that test/68.electron-example runs this file against a stub of them.
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { Channel, FrameConsumer, toNativePixmap, type ImportSharedTextureOptions, type ReceivedFrame } from '../lib';
import type { FrameMeta } from './electron-capture-helper';

/** SharedTextureImported, as much of it as main uses. */
export interface SharedTextureImported {
  textureId: string;
  release(): void;
}

/** What main uses of Electron: the sharedTexture module (main side) and a window's webContents. */
export interface ElectronMain {
  sharedTexture: {
    importSharedTexture(options: ImportSharedTextureOptions): SharedTextureImported;
    sendSharedTexture(options: { frame: unknown; importedSharedTexture: SharedTextureImported }, ...args: unknown[]): Promise<void>;
  };
}

export interface WebContentsLike {
  mainFrame: unknown;
  send(channel: string, ...args: unknown[]): void;
}

export interface ShowOptions {
  /** The helper script, and the plain Node to run it with (not Electron's own binary). */
  helper: string;
  node: string;
  frames: number;
  width: number;
  height: number;
}

/** Frames shown through the GPU (zero-copy) and through copies. */
export interface ShowStats {
  gpu: number;
  copied: number;
}

/** A dma-buf frame to the renderer through the GPU; it returns to the helper once every process released it. */
async function sendTexture(electron: ElectronMain, target: WebContentsLike, f: ReceivedFrame, meta: FrameMeta): Promise<void> {
  const options = toNativePixmap(f, { pixelFormat: 'rgba', codedSize: { width: meta.width, height: meta.height }, timestamp: meta.pts });
  let imported: SharedTextureImported;
  try {
    imported = electron.sharedTexture.importSharedTexture(options);
  } catch (err) {
    options.allReferencesReleased(); // never imported: nobody else will
    throw err;
  }
  try {
    await electron.sharedTexture.sendSharedTexture({ frame: target.mainFrame, importedSharedTexture: imported }, meta);
  } finally {
    imported.release(); // main's reference; the renderer holds its own
  }
}

/** Runs the helper and shows `frames` of its frames in `target`. */
export async function showFrames(electron: ElectronMain, target: WebContentsLike, o: ShowOptions): Promise<ShowStats> {
  const [channel, childEnd] = Channel.pair();
  const helper = spawn(o.node, [o.helper, String(o.frames), String(o.width), String(o.height)], {
    stdio: ['ignore', 'inherit', 'inherit', childEnd],
  });
  closeSync(childEnd);
  const exited = new Promise<number | null>((resolve) => helper.once('exit', resolve));
  const stats: ShowStats = { gpu: 0, copied: 0 };
  let scratch: Uint8Array | null = null; // one buffer for every copied frame
  let pool: FrameConsumer | null = null;
  try {
    pool = await FrameConsumer.attach(channel);
    for await (const f of pool) {
      const meta = f.meta as FrameMeta;
      if (f.buffer.exporter === 'memfd') {
        scratch ??= new Uint8Array(meta.width * meta.height * 4);
        f.read(0, scratch); // inside the read bracket next() opened
        target.send('frame-bytes', scratch, meta); // Electron's IPC copies it (structured clone)
        stats.copied++;
        await f.release();
      } else {
        await sendTexture(electron, target, f, meta);
        stats.gpu++;
        await f.release(); // ours; the frame is reused once the renderer released its reference too
      }
      if (meta.last) break;
    }
  } finally {
    pool?.close(); // our imports; what the GPU imported stays valid until Electron releases it
    channel.close(); // the helper sees the end and exits
  }
  const code = await exited;
  if (code !== 0) throw new Error(`the capture helper exited with ${code}`);
  return stats;
}

// In Electron itself: a window, a preload with the renderer's side (electron-preload.ts).
if (require.main === module && process.versions.electron) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const electron = require('electron') as ElectronMain & {
    app: { whenReady(): Promise<void>; quit(): void };
    BrowserWindow: new (o: object) => { webContents: WebContentsLike; loadURL(url: string): Promise<void> };
  };
  void electron.app.whenReady().then(async () => {
    const win = new electron.BrowserWindow({
      width: 640,
      height: 360,
      webPreferences: { preload: join(__dirname, 'electron-preload.js') },
    });
    await win.loadURL('data:text/html,<canvas id="c" width="640" height="360"></canvas>');
    const stats = await showFrames(electron, win.webContents, {
      helper: join(__dirname, 'electron-capture-helper.js'),
      node: process.env.NODE_BINARY ?? 'node',
      frames: 600,
      width: 640,
      height: 360,
    });
    console.log(`frames through the GPU: ${stats.gpu}, copied: ${stats.copied}`);
    electron.app.quit();
  });
}
