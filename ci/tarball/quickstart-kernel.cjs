// The installed tarball on a real kernel (the arm64 VM leg): the prebuild loads, a udmabuf
// is allocated in the kernel's page size, mapped, written and read back.
const { allocate, capabilities, PAGE_SIZE } = require('dmabuf');

const caps = capabilities();
if (!caps.native.loaded) throw new Error(`addon not loaded: ${caps.native.error}`);
const addon = require.resolve('dmabuf/package.json').replace(/package\.json$/, `prebuilds/linux-${process.arch}/dmabuf.node`);
const buf = allocate(4 * PAGE_SIZE, { exporter: 'udmabuf' });
try {
  const view = buf.mmap();
  for (let i = 0; i < view.length; i += 1) view[i] = (i * 7) & 0xff;
  const back = new Uint8Array(view.length);
  buf.read(0, back);
  for (let i = 0; i < back.length; i += 1) if (back[i] !== ((i * 7) & 0xff)) throw new Error(`byte ${i} reads ${back[i]}`);
  console.log(
    `installed tarball on ${process.arch}: addon ${addon.split('/node_modules/')[1]}, PAGE_SIZE ${PAGE_SIZE}, ` +
      `udmabuf ${buf.size} bytes (${buf.info().expName}) mapped, written and read back`,
  );
} finally {
  buf.close();
}
