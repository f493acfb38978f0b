// dmabuf bench: the benchmark suite (bench/, against C baselines) and its table. The
// benchmarks compile C programs and write bench/results/, so they run from a clone of the
// repository; the npm package does not carry them and says so.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DmaBufError, codes } from '../platform/errors';
import { EXIT, fail, parse, type Io } from './common';
import { PKG_ROOT } from './vm';

export const BENCH_HELP = `usage: dmabuf bench [--kernel] [--quick] [--json]

Runs the benchmarks (bench/: sync brackets, view fill/copy, create → map → release, handing
buffers to another process, a 100 000-cycle soak) against C baselines, prints the table and
writes bench/results/<host|kernel>.{json,md}. Needs a C compiler (cc). From a clone of the
repository only: the npm package does not ship the benchmarks.

  --kernel   the udmabuf and DMA-heap paths, in the real-kernel VM (dmabuf vm), ~10 minutes
  --quick    a smoke run (a few rounds): its figures are not results
  --json     print the results file (JSON) instead of the table; progress goes to stderr

exit status: 0 done; 1 a benchmark failed; 2 the benchmarks are not here, or bad usage`;

export function bench(argv: string[], io: Io): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values } = parse('bench', {
      args: argv,
      options: {
        kernel: { type: 'boolean' },
        quick: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    json = !!values.json;
    if (values.help) {
      io.out.write(BENCH_HELP + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const runner = join(PKG_ROOT, 'dist', 'bench', 'run.js');
    if (!existsSync(runner) || !existsSync(join(PKG_ROOT, 'bench', 'c'))) {
      throw new DmaBufError(
        codes.UNAVAILABLE,
        'the benchmarks are not part of the npm package (they compile C baselines and write bench/results/): ' +
          'in a clone of the dmabuf repository run "npm install && npx dmabuf bench" (or npm run bench; npm run bench:kernel for udmabuf and DMA heaps)',
      );
    }
    const kind = values.kernel ? 'kernel' : 'host';
    const env = { ...io.env, ...(values.quick ? { DMABUF_BENCH_QUICK: '1' } : {}) };
    const child = spawn(process.execPath, ['--expose-gc', runner, kind], { cwd: PKG_ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => (json ? io.err : io.out).write(chunk));
    return new Promise((done) => {
      child.on('close', (code) => {
        if (code === 0 && json) io.out.write(readFileSync(join(PKG_ROOT, 'bench', 'results', `${kind}.json`), 'utf8'));
        done(code === 0 ? EXIT.OK : 1);
      });
      child.on('error', (err) => done(fail(io, 'bench', err, json)));
    });
  } catch (err) {
    return Promise.resolve(fail(io, 'bench', err, json));
  }
}
