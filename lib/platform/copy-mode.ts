// Copy mode: no views of buffer memory (mmap(), kmap(), frame views); read() and write()
// copy into and out of the caller's buffers instead. Electron (21+) forbids external
// ArrayBuffers in every process, so there it is on by itself. DMABUF_COPY_MODE=1 (read when
// the addon loads, in each thread) or setCopyMode(true) turns it on anywhere, to run an
// app, or a test suite, as it will run in Electron.
import { nativeOrNull } from './binding';
import { argType } from './errors';

/** What the option said last (undefined: never called, the environment decides). */
let option: boolean | undefined;

/** DMABUF_COPY_MODE as the loader applies it: '1' turns copy mode on, anything else leaves it off. */
export function copyModeFromEnv(): boolean {
  return process.env.DMABUF_COPY_MODE === '1';
}

/**
 * Turns copy mode on (true) or back off (false) in this thread. Off restores what the runtime
 * allows: in Electron views stay unavailable. Views made before stay valid (they are detached
 * at release as always); new ones are refused with ERR_DMABUF_NO_EXTERNAL_BUFFERS.
 * `memory` buffers keep their views: those are ordinary JavaScript memory.
 */
export function setCopyMode(enabled: boolean): void {
  if (typeof enabled !== 'boolean') throw argType('enabled', 'of type boolean', enabled);
  nativeOrNull()?.setCopyMode(enabled);
  option = enabled;
}

export interface CopyModeInfo {
  /** true: mmap()/kmap()/view() throw ERR_DMABUF_NO_EXTERNAL_BUFFERS; use read()/write(). */
  enabled: boolean;
  /** Why it is on: 'DMABUF_COPY_MODE=1', 'setCopyMode(true)', or the runtime forbidding external ArrayBuffers. */
  why?: string;
}

/** Whether copy mode is on in this thread, and why. */
export function copyMode(): CopyModeInfo {
  const b = nativeOrNull();
  if (!b) return { enabled: false };
  const forced = option ?? copyModeFromEnv();
  if (forced) return { enabled: true, why: option === undefined ? 'DMABUF_COPY_MODE=1' : 'setCopyMode(true)' };
  if (!b.externalBuffersAllowed()) return { enabled: true, why: "this runtime forbids external ArrayBuffers (Electron's V8 memory cage)" };
  return { enabled: false };
}

/** @internal For tests: what setCopyMode() said last (undefined: never called). */
export function copyModeOption(): boolean | undefined {
  return option;
}

/** @internal For tests: back to a state copyModeOption() returned. */
export function restoreCopyMode(saved: boolean | undefined): void {
  nativeOrNull()?.setCopyMode(saved ?? copyModeFromEnv());
  option = saved;
}
