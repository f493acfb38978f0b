// The paced pipeline (issue 11): RGBA frames at 60 frames/s from a pool of buffers in this
// process, each sent over a Channel (SCM_RIGHTS) to a long-lived consumer child
// (bench/pipeline-child.ts), which imports it, maps it, checks it and acknowledges, so that
// the pool slot is free again. Latency is submit (just before send) → the consumer has the
// frame mapped and checked, both ends on CLOCK_MONOTONIC. GC pauses of both processes during
// the paced run come from a PerformanceObserver on 'gc'. Then the same pipeline unpaced.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { Channel, PAGE_SIZE, allocate, type DmaBuf } from '../lib';
import { native } from '../lib/platform/binding';
import { fullGc, gcEntry, nowNs, sleep, stats, type GcEntry, type Kind, type Stats } from './common';
import { allocOptions } from './suites';

const CHILD = join(__dirname, 'pipeline-child.js');
export const FRAME_SIZES = [
  { name: '1080p', width: 1920, height: 1080 },
  { name: '2160p', width: 3840, height: 2160 },
] as const;
const PERIOD_MS = 1000 / 60;

export type Variant = 'reuse' | 'fresh';

export interface PipelinePlan {
  /** Frames of the paced run (60 frames/s), per size and variant. */
  paced: number;
  /** Frames of the unpaced run. */
  unpaced: number;
  /** Untimed frames first, back to back (the JIT warms up as in a long-running program). */
  warmup: number;
  /** Pool slots. */
  pool: number;
}

export interface GcSummary {
  count: number;
  /** ms; 0 when there was none. */
  maxPauseMs: number;
  totalMs: number;
  /** count and max pause per kind: scavenge, mark-compact, incremental, weakcb. */
  byKind: Record<string, { count: number; maxMs: number }>;
  incrementalMarking: boolean;
}

export interface RunResult {
  frames: number;
  /** submit → checked in the consumer, ms. */
  latency: Stats;
  p99: number;
  /** Its parts, ms: submit → the consumer's receive() resolved (send, wake-up, recvmsg, import);
   *  → mmap() view in hand; → frame checked inside a read bracket. */
  toReceived: Stats;
  receivedToMapped: Stats;
  mappedToChecked: Stats;
  receivedP99: number;
  /** Producer's send() (until the kernel has the message), ms. */
  send: Stats;
  seconds: number;
  fps: number;
  mismatches: number;
  /** The slowest frames, split: ms from submit to received, mapped, checked. */
  worst: Array<{ seq: number; ms: number; received: number; mapped: number; checked: number }>;
}

export interface PacedResult extends RunResult {
  /** Frames not sent because every pool slot was still held by the consumer at their deadline. */
  dropped: number;
  /** Frames submitted more than 2 ms after their deadline (timer or producer late). */
  late: number;
  /** How late the submit was after its deadline, ms. */
  lateness: Stats;
  gcProducer: GcSummary;
  gcConsumer: GcSummary;
  /** One full collection forced after the paced run (gc(), mark-compact), ms: what one costs here. */
  fullGcProducerMs: number;
  fullGcConsumerMs: number;
  /** CPU time the hypervisor stole during the paced run (all CPUs), ms. */
  stealMs: number;
}

export interface PipelineRow {
  size: string;
  width: number;
  height: number;
  bytes: number;
  variant: Variant;
  paced: PacedResult;
  unpaced: RunResult;
  /** The floor, measured right before this row's paced run, over as many frames. */
  floor: FloorResult;
}

/** The floor: the same 60 frames/s schedule, a bare Node child on a pipe echoing its wake-up
 *  time, no library and no buffer: what waking another Node process costs on this machine. */
export interface FloorResult {
  latency: Stats;
  p99: number;
  stealMs: number;
}

export interface PipelineResult {
  plan: PipelinePlan;
  pinned: boolean;
  rows: PipelineRow[];
}

/** CPU time stolen by the hypervisor (all CPUs, /proc/stat), ms; 0 where not reported. */
export function stealMs(): number {
  try {
    const lines = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d/.test(l));
    return lines.reduce((n, l) => n + Number(l.trim().split(/\s+/)[8] ?? 0), 0) * 10; // USER_HZ = 100
  } catch {
    return 0;
  }
}

const ECHO = `process.stdin.on('data', (d) => { const t = process.hrtime.bigint(); process.stdout.write(d.toString().trim().split('\\n').map((l) => l + ' ' + t).join('\\n') + '\\n'); });`;

async function floorRun(n: number): Promise<FloorResult> {
  const c = spawn(process.execPath, ['-e', ECHO], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lat: number[] = [];
  let buf = '';
  c.stdout!.setEncoding('utf8');
  c.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [a, b] = buf.slice(0, i).split(' ').map(Number);
      lat.push((b - a) / 1e6);
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise((r) => c.on('exit', r));
  c.stdin!.write(`${nowNs()}\n`); // the child has booted once this comes back
  while (lat.length === 0) await sleep(20);
  lat.length = 0;
  const steal0 = stealMs();
  const start = performance.now() + PERIOD_MS;
  for (let i = 0; i < n; i++) {
    const wait = start + i * PERIOD_MS - performance.now();
    if (wait > 0) await sleep(Math.ceil(wait));
    c.stdin!.write(`${nowNs()}\n`);
  }
  await sleep(50);
  const steal = stealMs() - steal0;
  c.stdin!.end();
  await exited;
  return { latency: stats(lat), p99: p99(lat), stealMs: steal };
}

const KIND_NAMES: Record<number, string> = { 1: 'scavenge', 4: 'mark-compact', 8: 'incremental', 16: 'weakcb' };

export function summariseGc(entries: GcEntry[]): GcSummary {
  const byKind: GcSummary['byKind'] = {};
  let max = 0;
  let total = 0;
  for (const e of entries) {
    const k = KIND_NAMES[e.kind] ?? `kind-${e.kind}`;
    const b = (byKind[k] ??= { count: 0, maxMs: 0 });
    b.count++;
    b.maxMs = Math.max(b.maxMs, Number(e.duration.toFixed(3)));
    max = Math.max(max, e.duration);
    total += e.duration;
  }
  return {
    count: entries.length,
    maxPauseMs: Number(max.toFixed(3)),
    totalMs: Number(total.toFixed(3)),
    byKind,
    incrementalMarking: entries.some((e) => e.kind === 8),
  };
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)].toPrecision(6));
}

interface Ack {
  t: string;
  s: number;
  r: number;
  m: number;
  c: number;
  bad: number;
  gcs?: GcEntry[];
  ms?: number;
}

/** The producer's end: the pool, the channel, the consumer child. */
class Pipeline {
  readonly #views: Uint8Array[];
  readonly #free: number[];
  readonly #submitted = new Map<number, { slot: number; t: number }>();
  #slotWaiter: (() => void) | null = null;
  #acks: Array<{ seq: number; t0: number; ack: Ack }> = [];
  #reply: ((a: Ack) => void) | null = null;
  #sendMs: number[] = [];

  private constructor(
    readonly ch: Channel,
    readonly child: ChildProcess,
    readonly exited: Promise<number | null>,
    readonly bufs: DmaBuf[],
    readonly row: number,
    readonly frame: number,
  ) {
    this.#views = bufs.map((b) => b.mmap());
    this.#free = bufs.map((_, i) => i);
    ch.on('message', ({ payload }) => {
      const a = payload as Ack;
      if (a.t === 'ack') {
        const sub = this.#submitted.get(a.s)!;
        this.#submitted.delete(a.s);
        this.#acks.push({ seq: a.s, t0: sub.t, ack: a });
        this.#free.push(sub.slot);
        const w = this.#slotWaiter;
        this.#slotWaiter = null;
        w?.();
      } else {
        const r = this.#reply;
        this.#reply = null;
        r?.(a);
      }
    });
  }

  static async start(kind: Kind, variant: Variant, width: number, height: number, count: number): Promise<Pipeline> {
    const frame = width * height * 4;
    const size = Math.ceil(frame / PAGE_SIZE) * PAGE_SIZE;
    const bufs: DmaBuf[] = [];
    for (let i = 0; i < count; i++) bufs.push(allocate(size, allocOptions(kind)));
    const [ch, theirs] = Channel.pair({ reuse: variant === 'reuse' });
    const child = spawn(process.execPath, [...nodeFlags(), CHILD, variant], { stdio: ['ignore', 'inherit', 'inherit', theirs] });
    native().close(theirs);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const m = await ch.receive();
    if ((m?.payload as Ack | undefined)?.t !== 'ready') throw new Error(`pipeline child said ${JSON.stringify(m?.payload)}`);
    return new Pipeline(ch, child, exited, bufs, width * 4, frame);
  }

  /** A command to the consumer (untimed); its answer. */
  async cmd(cmd: string): Promise<Ack> {
    const answer = new Promise<Ack>((r) => (this.#reply = r));
    await this.ch.send([], { cmd });
    return answer;
  }

  #slot(): Promise<void> {
    return new Promise((r) => (this.#slotWaiter = r));
  }

  /** Writes frame `seq` into a free slot and sends it; false when no slot is free. */
  async #submit(seq: number): Promise<boolean> {
    const slot = this.#free.shift();
    if (slot === undefined) return false;
    const buf = this.bufs[slot];
    const v = this.#views[slot];
    const val = (seq * 7 + 1) & 0xff;
    buf.beginCpuAccess('write');
    v.fill(val, 0, this.row);
    v.fill(val, this.frame - this.row, this.frame);
    v[0] = seq & 0xff;
    v[1] = (seq >>> 8) & 0xff;
    v[2] = (seq >>> 16) & 0xff;
    v[3] = (seq >>> 24) & 0xff;
    buf.endCpuAccess('write');
    const t = nowNs();
    this.#submitted.set(seq, { slot, t });
    await this.ch.send(buf, { s: seq, w: this.row, f: this.frame });
    this.#sendMs.push((nowNs() - t) / 1e6);
    return true;
  }

  async #drain(): Promise<void> {
    while (this.#submitted.size > 0) await this.#slot();
  }

  #reset(): void {
    this.#acks = [];
    this.#sendMs = [];
  }

  #result(frames: number, seconds: number): RunResult {
    const acks = this.#acks;
    if (acks.length === 0) throw new Error('pipeline: no frame was acknowledged');
    const lat = acks.map((a) => (a.ack.c - a.t0) / 1e6);
    const recv = acks.map((a) => (a.ack.r - a.t0) / 1e6);
    return {
      frames,
      latency: stats(lat),
      p99: p99(lat),
      toReceived: stats(recv),
      receivedToMapped: stats(acks.map((a) => (a.ack.m - a.ack.r) / 1e6)),
      mappedToChecked: stats(acks.map((a) => (a.ack.c - a.ack.m) / 1e6)),
      receivedP99: p99(recv),
      send: stats(this.#sendMs),
      seconds: Number(seconds.toFixed(3)),
      fps: Number((acks.length / seconds).toPrecision(4)),
      mismatches: acks.reduce((n, a) => n + a.ack.bad, 0),
      worst: [...acks]
        .sort((a, b) => b.ack.c - b.t0 - (a.ack.c - a.t0))
        .slice(0, 5)
        .map((a) => {
          const ms = (t: number) => Number(((t - a.t0) / 1e6).toFixed(3));
          return { seq: a.seq, ms: ms(a.ack.c), received: ms(a.ack.r), mapped: ms(a.ack.m), checked: ms(a.ack.c) };
        }),
    };
  }

  /** As fast as the pool allows: a frame goes out whenever a slot is free. */
  async unpaced(n: number, seq0: number): Promise<RunResult> {
    this.#reset();
    const t0 = nowNs();
    for (let i = 0; i < n; i++) {
      while (!(await this.#submit(seq0 + i))) await this.#slot();
    }
    await this.#drain();
    return this.#result(n, (nowNs() - t0) / 1e9);
  }

  /** 60 frames/s: frame i is due at start + i × 16.667 ms; the producer sleeps (setTimeout) until then. */
  async paced(n: number, seq0: number): Promise<PacedResult> {
    // No forced GC before the window: a mark-compact arms V8's memory reducer, which ~8 s
    // later (allocation being low at 60 frames/s) runs up to three more of its own, inside
    // the window. Both processes are fresh and warm (the untimed frames before).
    await sleep(50);
    const producerGc: GcEntry[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) producerGc.push(gcEntry(e));
    });
    obs.observe({ entryTypes: ['gc'] });
    await this.cmd('begin');
    this.#reset();
    let dropped = 0;
    const lateness: number[] = [];
    const steal0 = stealMs();
    const start = performance.now() + PERIOD_MS;
    for (let i = 0; i < n; i++) {
      const due = start + i * PERIOD_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(Math.ceil(wait));
      lateness.push(performance.now() - due);
      if (!(await this.#submit(seq0 + i))) dropped++;
    }
    await this.#drain();
    const seconds = (performance.now() - start) / 1e3;
    const steal = stealMs() - steal0;
    const consumerGc = (await this.cmd('end')).gcs ?? [];
    await sleep(10); // the observer's entries are delivered asynchronously
    obs.disconnect();
    const base = this.#result(n, seconds);
    return {
      ...base,
      dropped,
      late: lateness.filter((x) => x > 2).length,
      lateness: stats(lateness),
      gcProducer: summariseGc(producerGc),
      gcConsumer: summariseGc(consumerGc),
      fullGcProducerMs: 0,
      fullGcConsumerMs: 0,
      stealMs: steal,
    };
  }

  async stop(): Promise<void> {
    await this.cmd('drop');
    this.ch.close();
    const code = await this.exited;
    for (const b of this.bufs) b.close();
    if (code !== 0) throw new Error(`pipeline child exited with ${code}`);
  }
}

/** One row, in this process: the producer (run as `pipeline.js <kind> <variant> <size> <plan>`). */
async function producer(kind: Kind, variant: Variant, size: string, plan: PipelinePlan): Promise<Omit<PipelineRow, 'floor'>> {
  const { name, width, height } = FRAME_SIZES.find((f) => f.name === size)!;
  const p = await Pipeline.start(kind, variant, width, height, plan.pool);
  try {
    await p.unpaced(plan.warmup, 0); // untimed
    const paced = await p.paced(plan.paced, plan.warmup);
    const t0 = nowNs();
    fullGc();
    paced.fullGcProducerMs = Number(((nowNs() - t0) / 2e6).toFixed(3)); // fullGc() collects twice
    paced.fullGcConsumerMs = (await p.cmd('gc')).ms!;
    const unpaced = await p.unpaced(plan.unpaced, plan.warmup + plan.paced);
    return { size: name, width, height, bytes: p.frame, variant, paced, unpaced };
  } finally {
    await p.stop();
  }
}

/** Every row, each in a fresh producer process (a child of this one, on the same CPU): its
 *  heap has had no forced collection, as in a real program, whatever the other suites did here. */
export async function pipelineBench(kind: Kind, plan: PipelinePlan, pinned: boolean, log: (s: string) => void): Promise<PipelineResult> {
  const rows: PipelineRow[] = [];
  for (const { name } of FRAME_SIZES) {
    for (const variant of ['reuse', 'fresh'] as const) {
      // The floor right before each row, so that the two meet the same load on a shared machine.
      const floor = await floorRun(plan.paced);
      const row = { ...(await runProducer(kind, variant, name, plan)), floor };
      const { paced, unpaced } = row;
      const f = (x: number) => x.toFixed(3);
      log(
        `  floor (a bare Node child echoing on a pipe, same schedule): p50 ${f(floor.latency.median)} p99 ${f(floor.p99)} max ${f(floor.latency.max)} ms, steal ${floor.stealMs} ms`,
      );
      log(
        `  ${name} ${variant}: paced ${paced.frames} frames: p50 ${f(paced.latency.median)} p99 ${f(paced.p99)} max ${f(paced.latency.max)} ms, ` +
          `dropped ${paced.dropped}, late ${paced.late}, steal ${paced.stealMs} ms, GC max ${f(paced.gcProducer.maxPauseMs)} (producer) ${f(paced.gcConsumer.maxPauseMs)} (consumer) ms ` +
          `(a forced full GC: ${f(paced.fullGcProducerMs)} / ${f(paced.fullGcConsumerMs)} ms); unpaced ${unpaced.fps} frames/s, p99 ${f(unpaced.p99)} ms; ` +
          `mismatches ${paced.mismatches + unpaced.mismatches}`,
      );
      if (paced.mismatches + unpaced.mismatches > 0) throw new Error(`pipeline ${name} ${variant}: the consumer saw wrong bytes`);
      rows.push(row);
    }
  }
  return { plan, pinned, rows };
}

/** Node flags of the producer and the consumer. DMABUF_BENCH_PIPELINE_FLAGS adds some, for
 *  diagnosis (e.g. "--trace-gc --no-memory-reducer"); their output goes to stderr. */
function nodeFlags(): string[] {
  return ['--expose-gc', ...(process.env.DMABUF_BENCH_PIPELINE_FLAGS ?? '').split(' ').filter(Boolean)];
}

function runProducer(kind: Kind, variant: Variant, size: string, plan: PipelinePlan): Promise<Omit<PipelineRow, 'floor'>> {
  const child = spawn(process.execPath, [...nodeFlags(), __filename, kind, variant, size, JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      const lines = out.split('\n');
      const line = lines.find((l) => l.startsWith('{"size"'));
      const rest = lines.filter((l) => l !== line && l.trim() !== '');
      if (rest.length) process.stderr.write(rest.join('\n') + '\n');
      if (code !== 0 || !line) reject(new Error(`pipeline producer (${size}, ${variant}) exited with ${code}: ${out.slice(-2000)}`));
      else resolve(JSON.parse(line) as Omit<PipelineRow, 'floor'>);
    });
  });
}

if (require.main === module) {
  const [kind, variant, size, plan] = process.argv.slice(2);
  producer(kind as Kind, variant as Variant, size, JSON.parse(plan) as PipelinePlan)
    .then((row) => process.stdout.write(JSON.stringify(row) + '\n'))
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
