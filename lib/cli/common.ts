// What every `dmabuf` command shares: argument parsing (node:util parseArgs), output
// (colours only on a terminal and never with NO_COLOR, tables, sizes), a progress line
// for anything slow, errors with the library's codes, and the exit statuses.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { argValueMessage, type DmaBufTypeError } from '../platform/errors';

/** Exit statuses shared by the commands (vm and bench pass their child's through). */
export const EXIT = {
  /** Done; for doctor: real dma-bufs are usable here. */
  OK: 0,
  /** doctor: only the fallback exporters (memfd, memory) are usable. */
  FALLBACK: 1,
  /** Bad usage, or the command failed. */
  ERROR: 2,
} as const;

export interface Io {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): Io => ({ out: process.stdout, err: process.stderr, env: process.env });

/** Colours on a terminal only, and never with NO_COLOR (any value) or --no-color. */
export function colours(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, off = false) {
  const on = !off && !!stream.isTTY && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  const wrap = (open: number, close: number) => (s: string) => (on ? `\x1b[${open}m${s}\x1b[${close}m` : s);
  return { on, green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}
export type Colours = ReturnType<typeof colours>;

/** parseArgs (strict unless told), with `args`; a usage error becomes ERR_INVALID_ARG_VALUE naming the command's --help. */
export function parse<C extends ParseArgsConfig>(cmd: string, config: C): ReturnType<typeof parseArgs<C>> {
  try {
    return parseArgs<C>({ strict: true, ...config });
  } catch (err) {
    throw usage(cmd, (err as Error).message);
  }
}

export function usage(cmd: string, message: string): DmaBufTypeError {
  return argValueMessage(`${message} (see dmabuf ${cmd} --help)`);
}

/** Prints an error: in JSON mode as {"error": {code, message}} on stdout, else on stderr; returns EXIT.ERROR. */
export function fail(io: Io, cmd: string, err: unknown, json: boolean): number {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? 'ERR_DMABUF_CLI';
  const message = e instanceof Error ? e.message : String(err);
  if (json) io.out.write(JSON.stringify({ error: { code, message } }, null, 2) + '\n');
  else io.err.write(`dmabuf ${cmd}: ${message.startsWith(code) ? message : `${code}: ${message}`}\n`);
  return EXIT.ERROR;
}

/** 1536 → '1.5 KiB', 8388608 → '8 MiB'. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${Number(v.toFixed(v < 10 ? 2 : 1))} ${units[i]}`;
}

/** Control characters (a newline in a process or buffer name) shown as escapes, so a table stays a table. */
export function printable(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c >= 0x20 && c !== 0x7f) out += ch;
    else out += ch === '\n' ? '\\n' : ch === '\t' ? '\\t' : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

const ESC = String.fromCharCode(27);
const SGR = new RegExp(`${ESC}\\[\\d+m`, 'g');

/** A left-aligned table; columns listed in `right` are right-aligned. Colour codes do not count toward widths. */
export function table(rows: string[][], right: number[] = []): string {
  const plain = (s: string) => s.replace(SGR, '');
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => plain(r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => {
          const pad = ' '.repeat(widths[c] - plain(cell).length);
          return right.includes(c) ? pad + cell : c === r.length - 1 ? cell : cell + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * A progress line on stderr for something slow: rewritten in place with the elapsed time on
 * a terminal; off a terminal each new stage is printed once, as a plain line.
 */
export class Progress {
  readonly #io: Io;
  readonly #tty: boolean;
  #stage = '';
  #t0 = Date.now();
  #timer: NodeJS.Timeout | null = null;
  #shown = false;

  constructor(io: Io) {
    this.#io = io;
    this.#tty = !!io.err.isTTY && io.env.TERM !== 'dumb';
  }

  stage(text: string): void {
    if (text === this.#stage) return;
    this.#stage = text;
    this.#t0 = Date.now();
    if (!this.#tty) {
      this.#io.err.write(`${text}\n`);
      return;
    }
    this.#draw();
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#draw(), 250);
      this.#timer.unref();
    }
  }

  #draw(): void {
    const s = ((Date.now() - this.#t0) / 1000).toFixed(0);
    this.#io.err.write(`\r\x1b[K${this.#stage} ${s}s`);
    this.#shown = true;
  }

  /** Clears the line (before other output, and at the end). */
  clear(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#tty && this.#shown) this.#io.err.write('\r\x1b[K');
    this.#shown = false;
    this.#stage = '';
  }
}
