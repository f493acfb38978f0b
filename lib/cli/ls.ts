// dmabuf ls: every dma-buf on the system, per process, per buffer, and per exporter,
// from /proc/*/fdinfo and /proc/*/maps (and /sys/kernel/dmabuf/buffers where present).
import { scanDmaBufs, type DmaBufScan, type ScanFs, type ScannedBuffer, type ScannedProcess } from '../platform/dmabuf-scan';
import { EXIT, bytes, colours, fail, parse, printable, table, usage, type Colours, type Io } from './common';

export const LS_HELP = `usage: dmabuf ls [--pid <pid>]… [--sort <key>] [--json] [--no-color] [--proc <dir>] [--sys <dir>]

Lists every dma-buf on the system: per process (pid, command, dma-buf fds, bytes mapped,
bytes of the buffers it holds or maps), per buffer (inode, size, exporter, name, which
processes hold it and which map it), and totals per exporter. Read from /proc/*/fd,
/proc/*/fdinfo and /proc/*/maps, and /sys/kernel/dmabuf/buffers where the kernel has it.
Processes of other users cannot be inspected without root or CAP_SYS_PTRACE: they are
counted and named, not silently dropped.

  --pid <pid>    only this process (repeatable) and the buffers it holds or maps
  --sort <key>   bytes (default), pid, fds, mapped, command
  --json         the scan as JSON (see README "dmabuf ls")
  --no-color     no colours (also: NO_COLOR set, or output not a terminal)
  --proc <dir>   procfs root (default /proc)
  --sys <dir>    sysfs root (default /sys)

exit status: 0 listed (even if some processes could not be inspected); 2 error`;

const SORT_KEYS = ['bytes', 'pid', 'fds', 'mapped', 'command'] as const;
type SortKey = (typeof SORT_KEYS)[number];

function sortProcesses(ps: ScannedProcess[], key: SortKey): ScannedProcess[] {
  const by: Record<SortKey, (a: ScannedProcess, b: ScannedProcess) => number> = {
    bytes: (a, b) => b.bytes - a.bytes,
    pid: () => 0,
    fds: (a, b) => b.fds - a.fds,
    mapped: (a, b) => b.mapped - a.mapped,
    command: (a, b) => a.command.localeCompare(b.command),
  };
  return [...ps].sort((a, b) => by[key](a, b) || a.pid - b.pid);
}

function sortBuffers(bs: ScannedBuffer[], key: SortKey): ScannedBuffer[] {
  const firstPid = (b: ScannedBuffer) => Math.min(...b.heldBy.map((h) => h.pid), ...b.mappedBy.map((m) => m.pid));
  const fds = (b: ScannedBuffer) => b.heldBy.reduce((n, h) => n + h.fds.length, 0);
  const mapped = (b: ScannedBuffer) => b.mappedBy.reduce((n, m) => n + m.bytes, 0);
  const by: Record<SortKey, (a: ScannedBuffer, b: ScannedBuffer) => number> = {
    bytes: (a, b) => b.size - a.size,
    pid: (a, b) => firstPid(a) - firstPid(b),
    fds: (a, b) => fds(b) - fds(a),
    mapped: (a, b) => mapped(b) - mapped(a),
    command: (a, b) => a.name.localeCompare(b.name),
  };
  return [...bs].sort((a, b) => by[key](a, b) || a.inode - b.inode);
}

export function renderLs(scan: DmaBufScan, key: SortKey, c: Colours): string {
  const out: string[] = [];
  const procs = sortProcesses(scan.processes, key);
  if (procs.length) {
    out.push(
      table(
        [
          ['PID', 'COMMAND', 'FDS', 'BUFFERS', 'MAPPED', 'BYTES'].map(c.bold),
          ...procs.map((p) => [
            String(p.pid),
            printable(p.command).slice(0, 60),
            String(p.fds),
            String(p.buffers),
            bytes(p.mapped),
            bytes(p.bytes),
          ]),
        ],
        [0, 2, 3, 4, 5],
      ),
    );
  } else out.push('no process holds or maps a dma-buf');
  const bufs = sortBuffers(scan.buffers, key);
  if (bufs.length) {
    const who = (b: ScannedBuffer) => b.heldBy.map((h) => `${h.pid}(fd ${h.fds.join(',')})`).join(' ') || '-';
    const maps = (b: ScannedBuffer) => b.mappedBy.map((m) => `${m.pid}(${bytes(m.bytes)})`).join(' ') || '-';
    out.push('');
    out.push(
      table(
        [
          ['INODE', 'SIZE', 'EXPORTER', 'NAME', 'HELD BY', 'MAPPED BY'].map(c.bold),
          ...bufs.map((b) => [
            String(b.inode),
            `${b.sizeFrom === 'maps' ? '≥' : ''}${bytes(b.size)}`,
            b.exporter ?? '?',
            printable(b.name) || '-',
            who(b),
            maps(b),
          ]),
        ],
        [0, 1],
      ),
    );
    out.push('');
    out.push(
      table(
        [
          ['EXPORTER', 'BUFFERS', 'BYTES'].map(c.bold),
          ...scan.totals.map((t) => [t.exporter ?? '? (only mapped)', String(t.buffers), bytes(t.bytes)]),
          ['total', String(scan.total.buffers), bytes(scan.total.bytes)].map(c.bold),
        ],
        [1, 2],
      ),
    );
  }
  if (scan.unattributed.length) {
    const n = scan.unattributed.reduce((s, u) => s + u.size, 0);
    out.push(
      c.yellow(
        `${scan.unattributed.length} more dma-buf(s), ${bytes(n)}, in /sys/kernel/dmabuf/buffers are held by no process this scan could inspect ` +
          '(processes of other users: requires root or CAP_SYS_PTRACE; or only the kernel holds them)',
      ),
    );
  }
  if (scan.uninspectable.length) {
    const names = scan.uninspectable
      .slice(0, 8)
      .map((u) => `${u.pid} ${printable(u.command).slice(0, 30)}`)
      .join(', ');
    out.push(
      c.yellow(
        `${scan.uninspectable.length} process(es) could not be inspected (requires root or CAP_SYS_PTRACE); ` +
          `the dma-bufs they hold are not listed${scan.sysfs ? '' : ' or counted (no /sys/kernel/dmabuf/buffers here)'}: ${names}${scan.uninspectable.length > 8 ? ', …' : ''}`,
      ),
    );
  }
  if (scan.buffers.some((b) => b.sizeFrom === 'maps'))
    out.push(c.dim('≥: only a mapping shows this buffer; its size is at least the mapped bytes'));
  return out.join('\n') + '\n';
}

/** `fs` is for tests (fault injection); the CLI passes none. */
export function ls(argv: string[], io: Io, fs?: ScanFs): number {
  let json = argv.includes('--json');
  try {
    const { values } = parse('ls', {
      args: argv,
      options: {
        pid: { type: 'string', multiple: true },
        sort: { type: 'string' },
        json: { type: 'boolean' },
        'no-color': { type: 'boolean' },
        proc: { type: 'string' },
        sys: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    json = !!values.json;
    if (values.help) {
      io.out.write(LS_HELP + '\n');
      return EXIT.OK;
    }
    const pids = values.pid?.map((p) => {
      if (!/^\d+$/.test(p)) throw usage('ls', `--pid takes a process id, not '${p}'`);
      return Number(p);
    });
    const key = (values.sort ?? 'bytes') as SortKey;
    if (!SORT_KEYS.includes(key)) throw usage('ls', `--sort takes one of ${SORT_KEYS.join(', ')}, not '${values.sort}'`);
    const scan = scanDmaBufs({ proc: values.proc, sys: values.sys, pids, fs });
    if (json) {
      const sorted = { ...scan, processes: sortProcesses(scan.processes, key), buffers: sortBuffers(scan.buffers, key) };
      io.out.write(JSON.stringify({ schema: 1, ...sorted }, null, 2) + '\n');
    } else io.out.write(renderLs(scan, key, colours(io.out, io.env, values['no-color'])));
    return EXIT.OK;
  } catch (err) {
    return fail(io, 'ls', err, json);
  }
}
