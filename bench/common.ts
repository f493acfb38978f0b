// Shared by the benchmarks: statistics, the C baselines (compiling and running them),
// clocks, and the process-level counters the soak reads.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PerformanceEntry } from 'node:perf_hooks';

export const MiB = 1024 * 1024;
/** The project root (this file runs as dist/bench/common.js). */
export const ROOT = join(__dirname, '..', '..');
export const C_SOURCES = join(ROOT, 'bench', 'c');
export const C_PROGRAMS = ['sync', 'fill', 'cmr', 'handoff'] as const;
export type CProgram = (typeof C_PROGRAMS)[number];

/** Inside the real-kernel VM (ci/vm sets this): TCG emulation, so fewer iterations. */
export const IN_GUEST = process.env.DMABUF_VM_GUEST === '1';

/** Buffer kinds, named as the library's exporters and as the C programs take them. */
export type Kind = 'memfd' | 'udmabuf' | 'dma-heap';

export interface Stats {
  n: number;
  min: number;
  p25: number;
  median: number;
  p75: number;
  max: number;
  /** Median absolute deviation from the median. */
  mad: number;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('stats of no samples');
  const s = [...samples].sort((a, b) => a - b);
  const median = quantile(s, 0.5);
  const dev = s.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  const r = (x: number) => Number(x.toPrecision(6));
  return {
    n: s.length,
    min: r(s[0]),
    p25: r(quantile(s, 0.25)),
    median: r(median),
    p75: r(quantile(s, 0.75)),
    max: r(s[s.length - 1]),
    mad: r(quantile(dev, 0.5)),
  };
}

/** A ratio of medians, with a conservative band from the quartiles (a.p25/b.p75 … a.p75/b.p25). */
export function ratio(a: Stats, b: Stats): { value: number; band: [number, number] } {
  const r = (x: number) => Number(x.toPrecision(4));
  return { value: r(a.median / b.median), band: [r(a.p25 / b.p75), r(a.p75 / b.p25)] };
}

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Where the compiled C baselines live: bench/build/host (dynamic) or bench/build/static. */
export function cDir(isStatic: boolean): string {
  return join(ROOT, 'bench', 'build', isStatic ? 'static' : 'host');
}

/** Compiles every C baseline with the system compiler (`cc -O2`, `-static` for the VM). */
export function compileC(isStatic: boolean): { dir: string; cc: string } {
  const dir = cDir(isStatic);
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  for (const p of C_PROGRAMS) {
    const args = ['-O2', '-Wall', '-Wextra', ...(isStatic ? ['-static'] : []), '-o', join(dir, p), join(C_SOURCES, `${p}.c`)];
    execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const version = execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  return { dir, cc: `${version}; flags -O2${isStatic ? ' -static' : ''}` };
}

/** Runs a C baseline and parses the JSON object it prints. */
export function runC<T>(dir: string, program: CProgram, args: Array<string | number>): T {
  const out = execFileSync(join(dir, program), args.map(String), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * MiB,
  });
  return JSON.parse(out) as T;
}

/** Open fds of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length - 1; // minus the fd readdir opened
}

export function rssMiB(): number {
  return process.memoryUsage().rss / MiB;
}

/** A full garbage collection: global.gc under --expose-gc, or one turned on here. */
export function fullGc(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('node:v8').setFlagsFromString('--expose-gc');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    gc = require('node:vm').runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}

export function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function fmtBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

/** A number for the table: 3 significant digits, thousands without exponent. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (Math.abs(x) >= 10 ** digits) return Math.round(x).toString();
  return Number(x.toPrecision(digits)).toString();
}

/** One garbage collection, as a PerformanceObserver on 'gc' reports it. */
export interface GcEntry {
  /** ms */
  duration: number;
  /** perf_hooks constants: 1 minor (scavenge), 4 major (mark-compact), 8 incremental, 16 weak callbacks. */
  kind: number;
  flags: number;
  /** ms, performance.now() of this process when it started. */
  start: number;
}

export function gcEntry(e: PerformanceEntry): GcEntry {
  const d = (e as PerformanceEntry & { detail?: { kind?: number; flags?: number } }).detail ?? {};
  return { duration: e.duration, kind: d.kind ?? 0, flags: d.flags ?? 0, start: e.startTime };
}
