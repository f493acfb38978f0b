// ESM entry: the CommonJS build's named exports (allocate, fromFd, DmaBuf, Channel, …).
export * from '../dist/lib/index.js';
export { default } from '../dist/lib/index.js';
