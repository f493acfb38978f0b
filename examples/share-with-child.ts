// Hand a buffer to a child process without copying it.
//
//   npm run demo                      # 64 MiB, exporter 'auto'
//   DMABUF_EXPORTER=memfd npm run demo -- 256M
//
// The parent allocates a buffer and passes its fd to a child (this same script with
// --child) as fd 3. The child writes a pattern through its own mapping; the parent
// checks it through its own. Only the fd crosses the process boundary: 0 bytes copied.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { allocate, capabilities, fromFd, type DmaBuf } from '../lib'; // from 'dmabuf' in your code

const MiB = 1024 * 1024;

/** The word at index i: cheap to compute, different in every word. */
const word = (i: number) => (Math.imul(i, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;

function words(buf: DmaBuf): Uint32Array {
  const bytes = buf.mmap(); // zero-copy view of the whole buffer
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function child(): void {
  const t0 = performance.now();
  using buf = fromFd(3); // dma_buf_get: checks fd 3 is a dma-buf (or memfd), dups it
  const w = words(buf);
  {
    using access = buf.cpuAccess('write'); // DMA_BUF_IOCTL_SYNC START … END around the writes
    void access;
    for (let i = 0; i < w.length; i++) w[i] = word(i);
  }
  console.log(`  child:  fromFd(3) → ${buf.exporter}, wrote ${buf.size / MiB} MiB in ${(performance.now() - t0).toFixed(1)} ms`);
}

function parseSize(arg: string | undefined): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(arg ?? '64M');
  if (!m) throw new Error(`size: expected e.g. 64M, 1G or 4096, got '${arg}'`);
  return Number(m[1]) * ({ '': 1, K: 1024, M: MiB, G: 1024 * MiB } as Record<string, number>)[m[2].toUpperCase()];
}

/** Why 'auto' did not pick udmabuf here: capabilities() says why, from the kernel config, modules and device nodes. */
function whyNotUdmabuf(): string {
  const c = capabilities();
  return c.why.native ?? c.why.udmabuf ?? 'udmabuf is available';
}

async function parent(): Promise<number> {
  const size = parseSize(process.argv[2]);
  const want = process.env.DMABUF_EXPORTER ?? 'auto';
  const caps = capabilities();
  console.log(
    `Linux ${caps.kernel}: udmabuf ${caps.udmabuf.present ? (caps.udmabuf.accessible ? `yes (size_limit_mb ${caps.udmabuf.sizeLimitMb ?? '?'})` : 'present, no access') : 'no'}, ` +
      `heaps ${caps.heaps.map((h) => h.name).join(', ') || 'none'}, exporters here: ${caps.exporters.join(', ')}`,
  );

  let t = performance.now();
  using buf = allocate(size, { exporter: want });
  const allocMs = performance.now() - t;
  const fellBack = want === 'auto' && buf.exporter !== 'udmabuf';
  console.log(
    `exporter: ${buf.exporter}${want === 'auto' ? ` (picked by 'auto'${fellBack ? `; fell back because ${whyNotUdmabuf()}` : ''})` : ''}`,
  );
  if (buf.exporter === 'memory') {
    console.error('the memory exporter has no fd to hand to another process; use a Linux machine with the native addon');
    return 2;
  }

  t = performance.now();
  const code = await new Promise<number | null>((resolve, reject) => {
    const c = spawn(process.execPath, [process.argv[1], '--child'], { stdio: ['ignore', 'inherit', 'inherit', buf.fd] });
    c.on('error', reject);
    c.on('exit', resolve);
  });
  const childMs = performance.now() - t;
  if (code !== 0) {
    console.error(`the child failed (exit ${code})`);
    return 1;
  }

  t = performance.now();
  let bad = -1;
  {
    using access = buf.cpuAccess('read');
    void access;
    const w = words(buf);
    for (let k = 0; k < 4096 && bad < 0; k++) {
      const i = Math.floor(Math.random() * w.length); // a quick sample first …
      if (w[i] !== word(i)) bad = i;
    }
    for (let i = 0; i < w.length && bad < 0; i++) if (w[i] !== word(i)) bad = i; // … then every word
  }
  const verifyMs = performance.now() - t;
  if (bad >= 0) {
    console.error(`MISMATCH at byte ${bad * 4}: the parent does not see what the child wrote`);
    return 1;
  }
  const rows: Array<[string, string]> = [
    ['size', `${size / MiB} MiB`],
    ['allocate', `${allocMs.toFixed(1)} ms`],
    ['spawn + child write + exit', `${childMs.toFixed(1)} ms`],
    ['verify (every word)', `${verifyMs.toFixed(1)} ms`],
    ['bytes copied between processes', '0'],
  ];
  for (const [k, v] of rows) console.log(`  ${`${k}:`.padEnd(32)}${v}`);
  return 0;
}

if (process.argv.includes('--child')) child();
else
  parent().then(
    (code) => (process.exitCode = code),
    (err) => {
      const { code, message } = err as NodeJS.ErrnoException;
      console.error(code && !message.startsWith(code) ? `${code}: ${message}` : message);
      process.exitCode = 1;
    },
  );
