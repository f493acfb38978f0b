// The same from an ES module: named exports through the `exports` map.
import { allocate, capabilities } from 'dmabuf';

const caps = capabilities();
if (process.env.EXPECT_NATIVE === '1' && !caps.native.loaded) throw new Error(`addon not loaded: ${caps.native.error}`);
const buf = allocate(1 << 20);
buf.mmap().fill(1);
buf.close();
console.log(`import ok: exporter ${buf.exporter}`);
