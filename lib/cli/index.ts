#!/usr/bin/env node
// The `dmabuf` command: doctor, ls, vm, bench. Calls only lib/'s public and layer APIs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bench } from './bench';
import { EXIT, fail, processIo, usage, type Io } from './common';
import { doctor } from './doctor';
import { ls } from './ls';
import { PKG_ROOT, vm } from './vm';

export const HELP = `usage: dmabuf <command> [options]

  doctor   what this machine offers for dma-bufs, why anything is missing, and the fix
  ls       every dma-buf on the system: per process, per buffer, per exporter
  vm       run a command in a QEMU guest on a real Linux 6.12 kernel (udmabuf, heaps, vgem, vivid)
  bench    the benchmark suite against C (from a clone of the repository)

dmabuf <command> --help tells more. Every command takes --json for machine output (ls,
doctor, bench); colours only on a terminal, never with NO_COLOR.

exit status: 0 done; 1 doctor: only fallback exporters; 2 error (vm: the command's own)`;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'doctor':
      return doctor(rest, io);
    case 'ls':
      return ls(rest, io);
    case 'vm':
      return vm(rest, io);
    case 'bench':
      return bench(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.out.write(HELP + '\n');
      return cmd === undefined ? EXIT.ERROR : EXIT.OK;
    case '-v':
    case '--version':
      io.out.write(`${(JSON.parse(readFileSync(join(PKG_ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
      return EXIT.OK;
    default:
      return fail(io, '', usage('--help', `unknown command '${cmd}'`), false);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => (process.exitCode = fail(processIo(), '', err, false)),
  );
}
