// The benchmark runner.
//
//   node dist/bench/run.js host     memfd paths on this machine           → bench/results/host.{json,md}
//   node dist/bench/run.js kernel   compiles the C baselines (-static) here, then runs
//                                   `run.js guest` inside the real-kernel VM (ci/vm)
//   node dist/bench/run.js guest    udmabuf and dma-heap paths (inside the VM, or on any
//                                   machine that has them)                → bench/results/kernel.{json,md}
//
// `npm run bench` and `npm run bench:kernel` compile the TypeScript first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release, cpus } from 'node:os';
import { join } from 'node:path';
import { PAGE_SIZE, capabilities } from '../lib';
import { cDir, compileC, cpuModel, IN_GUEST, MiB, ROOT, type Kind } from './common';
import {
  cmrBench,
  fillBench,
  handoffBench,
  soak,
  syncBench,
  type CmrResult,
  type FillResult,
  type HandoffSize,
  type SoakResult,
  type SyncResult,
} from './suites';
import { buildMetrics, renderMarkdown, type Report } from './report';
import { pipelineBench, type PipelineResult } from './pipeline';

const RESULTS = join(ROOT, 'bench', 'results');
const SIZES = [1, 16, 64, 256].map((m) => m * MiB);

/** How much work each measurement does; the VM's emulated CPU gets less of it.
 *  DMABUF_BENCH_QUICK=1 is a smoke run (a few rounds, 2000 soak cycles): its figures are not results. */
const QUICK = process.env.DMABUF_BENCH_QUICK === '1';
const plan = QUICK
  ? {
      syncIters: 500,
      syncBlocks: 1,
      syncPer: 3,
      fillBlocks: 1,
      fillPer: 3,
      cmrIters: 5,
      cmrBlocks: 1,
      cmrPer: 3,
      handoffRounds: 2,
      handoffWarmup: 20,
      settleMs: 20,
      soakCycles: 2000,
      soakBudgetS: 60,
      pipelinePaced: 60,
      pipelineUnpaced: 60,
      pipelineWarmup: 30,
      pipelinePool: 4,
    }
  : IN_GUEST
    ? {
        syncIters: 5000,
        syncBlocks: 3,
        syncPer: 5,
        fillBlocks: 3,
        fillPer: 3,
        cmrIters: 8,
        cmrBlocks: 3,
        cmrPer: 3,
        handoffRounds: 5,
        handoffWarmup: 200,
        settleMs: 100,
        soakCycles: 100_000,
        soakBudgetS: 420,
        pipelinePaced: 120,
        pipelineUnpaced: 60,
        pipelineWarmup: 60,
        pipelinePool: 4,
      }
    : {
        syncIters: 20000,
        syncBlocks: 3,
        syncPer: 7,
        fillBlocks: 5,
        fillPer: 15,
        cmrIters: 200,
        cmrBlocks: 3,
        cmrPer: 7,
        handoffRounds: 15,
        handoffWarmup: 2000,
        settleMs: 20,
        soakCycles: 100_000,
        soakBudgetS: 300,
        pipelinePaced: 600,
        pipelineUnpaced: 600,
        pipelineWarmup: 300,
        pipelinePool: 4,
      };

/** DMABUF_BENCH_ONLY=pipeline (comma-separated suite names: sync, fill, cmr, handoff, soak,
 *  pipeline) runs only those suites, for development; such a partial run writes its report to
 *  bench/build/ (ignored by git), never over bench/results. */
const SUITES = ['sync', 'fill', 'cmr', 'handoff', 'soak', 'pipeline'] as const;
type Suite = (typeof SUITES)[number];
const ONLY: ReadonlySet<Suite> | null = process.env.DMABUF_BENCH_ONLY
  ? new Set(
      process.env.DMABUF_BENCH_ONLY.split(',').map((x) => {
        const name = x.trim() as Suite;
        if (!SUITES.includes(name)) throw new Error(`DMABUF_BENCH_ONLY: unknown suite '${x}' (${SUITES.join(', ')})`);
        return name;
      }),
    )
  : null;
const runs = (s: Suite) => ONLY === null || ONLY.has(s);

function log(s: string): void {
  console.log(s);
}

/** One path's measurements; a suite left out by DMABUF_BENCH_ONLY is absent. */
export interface PathResults {
  kind: Kind;
  sync?: SyncResult;
  syncPage?: SyncResult;
  fill?: FillResult;
  cmr?: CmrResult;
  handoff?: HandoffSize[];
  soak?: SoakResult;
  soakExtra?: SoakResult;
  pipeline?: PipelineResult;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${x}`;
function soakLine(s: SoakResult): string {
  return (
    `  ${s.cycles} cycles in ${s.seconds} s after ${s.warmupCycles} warm-up cycles: RSS ${signed(s.rssGrowthMiB)} MiB ` +
    `(${signed(s.rssGrowthFrom1000MiB)} MiB from cycle 1000), fds ${signed(s.fdDelta)}`
  );
}

async function measurePath(kind: Kind, cdir: string, soakSize: number, extraSoakSize?: number): Promise<PathResults> {
  const p = plan;
  const out: PathResults = { kind };
  log(`\n== ${kind} ==`);
  if (runs('sync')) {
    log('sync bracket (4 MiB)…');
    out.sync = syncBench(kind, 4 * MiB, cdir, p.syncIters, p.syncBlocks, p.syncPer);
    if (kind !== 'memfd') {
      log('sync bracket (one page)…');
      out.syncPage = syncBench(kind, PAGE_SIZE, cdir, p.syncIters, p.syncBlocks, p.syncPer);
    }
  }
  if (runs('fill')) {
    log('fill/copy 64 MiB…');
    out.fill = fillBench(kind, 64 * MiB, cdir, p.fillBlocks, p.fillPer);
  }
  if (runs('cmr')) {
    log('create → mmap → release (4 MiB)…');
    out.cmr = await cmrBench(kind, 4 * MiB, cdir, p.cmrIters, p.cmrBlocks, p.cmrPer);
  }
  if (runs('handoff')) {
    log('handoff 1, 16, 64, 256 MiB…');
    out.handoff = await handoffBench(kind, SIZES, cdir, p.handoffRounds, p.settleMs, p.handoffWarmup, log);
  }
  if (runs('soak')) {
    log(`soak ${p.soakCycles} cycles of ${soakSize / 1024} KiB…`);
    out.soak = await soak(kind, soakSize, p.soakCycles, p.soakBudgetS);
    log(soakLine(out.soak));
    if (extraSoakSize !== undefined) {
      log(`soak ${p.soakCycles} cycles of ${extraSoakSize / 1024} KiB…`);
      out.soakExtra = await soak(kind, extraSoakSize, p.soakCycles, p.soakBudgetS);
      log(soakLine(out.soakExtra));
    }
  }
  if (runs('pipeline')) {
    log(
      `pipeline: 1080p and 2160p RGBA, a pool of ${p.pipelinePool}, ${p.pipelinePaced} frames at 60 frames/s, ${p.pipelineUnpaced} unpaced (after ${p.pipelineWarmup} untimed)…`,
    );
    out.pipeline = await pipelineBench(
      kind,
      { paced: p.pipelinePaced, unpaced: p.pipelineUnpaced, warmup: p.pipelineWarmup, pool: p.pipelinePool },
      process.env.DMABUF_BENCH_PINNED === '1',
      log,
    );
  }
  return out;
}

function write(name: 'host' | 'kernel', report: Report): void {
  // A partial run (DMABUF_BENCH_ONLY) goes to bench/build/, never over the full results.
  const dir = ONLY ? join(ROOT, 'bench', 'build') : RESULTS;
  const file = ONLY ? `${name}-${[...ONLY].join('-')}` : name;
  const rel = ONLY ? 'bench/build' : 'bench/results';
  mkdirSync(dir, { recursive: true });
  const md = renderMarkdown(report);
  writeFileSync(join(dir, `${file}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, `${file}.md`), md);
  log('\n' + md);
  log(`wrote ${rel}/${file}.json and ${rel}/${file}.md`);
}

function environment(cc: string): Report['environment'] {
  const caps = capabilities();
  return {
    node: process.version,
    kernel: release(),
    cpu: cpuModel(),
    cpus: cpus().length,
    pinnedTo: process.env.DMABUF_BENCH_PINNED === '1' ? allowedCpus() : null,
    emulated: IN_GUEST ? 'QEMU TCG (software CPU emulation): absolute times are distorted, ratios are what count' : null,
    cc,
    udmabufSizeLimitMb: caps.udmabuf.sizeLimitMb ?? null,
    heaps: caps.heaps.map((h) => h.name),
    views: caps.views.path,
  };
}

async function host(): Promise<void> {
  const t0 = Date.now();
  const { dir, cc } = compileC(false);
  log(`C baselines compiled with ${cc}`);
  const memfd = await measurePath('memfd', dir, 4 * MiB, 64 * 1024);
  const report: Report = {
    kind: 'host',
    date: new Date().toISOString(),
    durationS: Math.round((Date.now() - t0) / 1000),
    environment: environment(cc),
    plan,
    metrics: buildMetrics({ memfd }),
    details: { memfd },
  };
  write('host', report);
}

async function guest(): Promise<void> {
  const t0 = Date.now();
  const caps = capabilities();
  const missing = [
    !caps.exporters.includes('udmabuf') && '/dev/udmabuf',
    !caps.heaps.some((h) => h.name === 'system' && h.accessible) && '/dev/dma_heap/system',
  ].filter(Boolean);
  if (missing.length)
    throw new Error(`the kernel benchmarks need ${missing.join(' and ')}; run them with "npm run bench:kernel" (the VM has both)`);
  if ((caps.udmabuf.sizeLimitMb ?? 0) < 256) {
    throw new Error(
      `udmabuf.size_limit_mb is ${caps.udmabuf.sizeLimitMb}; the 256 MiB handoff needs at least 256 (boot with udmabuf.size_limit_mb=512)`,
    );
  }
  const dir = existsSync(join(cDir(true), 'sync')) ? cDir(true) : cDir(false);
  const cc = process.env.DMABUF_BENCH_CC ?? `binaries in ${dir}`;
  const udmabuf = await measurePath('udmabuf', dir, 64 * 1024);
  const heap = await measurePath('dma-heap', dir, 64 * 1024);
  const report: Report = {
    kind: 'kernel',
    date: new Date().toISOString(),
    durationS: Math.round((Date.now() - t0) / 1000),
    environment: environment(cc),
    plan,
    metrics: buildMetrics({ udmabuf, 'dma-heap': heap }),
    details: { udmabuf, 'dma-heap': heap },
  };
  write('kernel', report);
}

function kernel(): number {
  const { cc } = compileC(true);
  log(`C baselines compiled with ${cc} (static, for the guest)`);
  if (process.env.DMABUF_BENCH_NO_VM === '1') {
    log('DMABUF_BENCH_NO_VM=1: running on this machine instead of the VM');
    return (
      spawnSync(process.execPath, ['--expose-gc', __filename, 'guest'], { stdio: 'inherit', env: { ...process.env, DMABUF_BENCH_CC: cc } })
        .status ?? 1
    );
  }
  const mem = process.env.DMABUF_BENCH_VM_MEM ?? '6144';
  const args = [
    join(ROOT, 'ci', 'vm', 'vm.js'),
    '--append',
    'udmabuf.size_limit_mb=512',
    '--mem',
    mem,
    '--timeout',
    '1800',
    '--',
    'node',
    '--expose-gc',
    join('dist', 'bench', 'run.js'),
    'guest',
  ];
  log(`node ${args.join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, DMABUF_BENCH_CC: cc } });
  if (r.status === 0 && !ONLY && existsSync(join(RESULTS, 'kernel.json'))) {
    const k = JSON.parse(readFileSync(join(RESULTS, 'kernel.json'), 'utf8')) as Report;
    log(`kernel results from ${k.date} are in bench/results/kernel.{json,md}`);
  }
  return r.status ?? 1;
}

/** The CPUs this process may run on (/proc/self/status Cpus_allowed_list), e.g. "0-1". */
export function allowedCpus(): string {
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 'unknown';
}

/**
 * Runs this mode again under taskset, on one CPU, so that every process of the run (the C
 * baselines, the Node children, their children) shares it: on these machines two vCPUs
 * differ by 35–55 % on syscall-heavy work, which would otherwise decide the ratios.
 * DMABUF_BENCH_CPU picks the CPU (default: the last one allowed); 'none' runs unpinned.
 * Returns the exit status, or null when this process should run the benchmarks itself.
 */
function pinSelf(mode: string): number | null {
  if (process.env.DMABUF_BENCH_PINNED === '1' || process.env.DMABUF_BENCH_CPU === 'none') return null;
  const last = Number(/(\d+)$/.exec(allowedCpus())?.[1] ?? 0);
  const cpu = Number(process.env.DMABUF_BENCH_CPU ?? last);
  const mask = (2 ** cpu).toString(16);
  // util-linux taskset, or busybox's (the VM has only busybox); both take a hex mask.
  const taskset = [['taskset'], ['busybox', 'taskset']].find(([cmd, ...pre]) => spawnSync(cmd, [...pre, mask, 'true']).status === 0);
  if (!taskset) {
    log('no taskset here: running unpinned (the ratios may then mix two CPUs)');
    return null;
  }
  const [cmd, ...pre] = taskset;
  log(`pinning the run to CPU ${cpu}: ${[cmd, ...pre].join(' ')} ${mask} node … ${mode}`);
  const r = spawnSync(cmd, [...pre, mask, process.execPath, ...process.execArgv, __filename, mode], {
    stdio: 'inherit',
    env: { ...process.env, DMABUF_BENCH_PINNED: '1' },
  });
  return r.status ?? 1;
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === 'host' || mode === 'guest') {
    const status = pinSelf(mode);
    if (status !== null) {
      process.exitCode = status;
      return;
    }
  }
  if (mode === 'host') await host();
  else if (mode === 'guest') await guest();
  else if (mode === 'kernel') process.exitCode = kernel();
  else {
    console.error('usage: node dist/bench/run.js host|kernel|guest');
    process.exitCode = 2;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
