// The renderer's side of examples/electron-main.ts, in the window's preload. It needs nothing
// of dmabuf: a dma-buf frame arrives as a texture (sharedTexture's receiver gives a
// VideoFrame over the GPU's import of the same memory), a memfd frame as bytes main copied.
// Typed by the shapes Electron documents, so that test/68.electron-example drives it with a stub.

/** The part of a WebCodecs VideoFrame this uses. */
export interface VideoFrameLike {
  codedWidth: number;
  codedHeight: number;
  close(): void;
}

export interface ElectronRenderer {
  sharedTexture: {
    setSharedTextureReceiver(
      callback: (
        data: { importedSharedTexture: { getVideoFrame(): VideoFrameLike; release(): void } },
        ...args: unknown[]
      ) => Promise<void>,
    ): void;
  };
  ipcRenderer: { on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): void };
}

/** What the window does with a frame: draw it. */
export interface FrameSink {
  texture(frame: VideoFrameLike, meta: unknown): Promise<void> | void;
  bytes(rgba: Uint8Array, meta: unknown): void;
}

export function receiveFrames(electron: ElectronRenderer, sink: FrameSink): void {
  electron.sharedTexture.setSharedTextureReceiver(async ({ importedSharedTexture }, meta) => {
    const frame = importedSharedTexture.getVideoFrame();
    try {
      await sink.texture(frame, meta);
    } finally {
      frame.close();
      importedSharedTexture.release(); // the last reference: the frame goes back to the helper
    }
  });
  electron.ipcRenderer.on('frame-bytes', (_event, rgba, meta) => sink.bytes(rgba as Uint8Array, meta));
}

// In Electron's renderer: draw on the page's canvas.
if (process.versions.electron && (process as { type?: string }).type === 'renderer') {
  interface Ctx {
    drawImage(image: unknown, x: number, y: number): void;
    putImageData(data: unknown, x: number, y: number): void;
  }
  type Dom = {
    document: { getElementById(id: string): { getContext(kind: '2d'): Ctx } | null };
    ImageData: new (data: Uint8ClampedArray, w: number, h: number) => unknown;
    addEventListener(event: string, cb: () => void): void;
  };
  const dom = globalThis as unknown as Dom;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const electron = require('electron') as ElectronRenderer;
  dom.addEventListener('DOMContentLoaded', () => {
    const ctx = dom.document.getElementById('c')?.getContext('2d');
    if (!ctx) return;
    receiveFrames(electron, {
      texture: (frame) => ctx.drawImage(frame, 0, 0),
      bytes: (rgba, meta) => {
        const { width, height } = meta as { width: number; height: number };
        ctx.putImageData(new dom.ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height), 0, 0);
      },
    });
  });
}
