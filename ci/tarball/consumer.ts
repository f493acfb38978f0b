// A strict TypeScript consumer of the installed package: types resolve through the
// `exports` map, and `using` releases the buffer at the end of the block.
import { PAGE_SIZE, allocate, type DmaBuf } from 'dmabuf';

function fill(buf: DmaBuf, byte: number): number {
  buf.write(0, new Uint8Array(buf.size).fill(byte));
  const back = new Uint8Array(1);
  buf.read(buf.size - 1, back);
  return back[0];
}

{
  using buf = allocate(PAGE_SIZE, { exporter: 'memory' });
  if (fill(buf, 7) !== 7) throw new Error('read back the wrong byte');
}
console.log('typescript consumer ok');
