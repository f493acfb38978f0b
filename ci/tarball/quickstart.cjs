// The README's quick start as an installed user runs it (CommonJS).
const { allocate, capabilities } = require('dmabuf');

const caps = capabilities();
if (process.env.EXPECT_NATIVE === '1' && !caps.native.loaded) throw new Error(`addon not loaded: ${caps.native.error}`);
const buf = allocate(1 << 20); // 'auto': the best exporter this machine has
const view = buf.mmap();
view.fill(0xab);
buf.close();
console.log(`require ok: exporter ${buf.exporter}, native ${caps.native.loaded ? 'loaded' : `missing (${caps.native.error})`}`);
