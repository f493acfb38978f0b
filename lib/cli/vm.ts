// dmabuf vm -- <command…>: runs a command as root in a QEMU guest on Debian's real kernel
// (udmabuf, the system DMA heap, vgem, vivid), over the user's project tree. A front end
// for ci/vm/vm.js, shipped in the package: it checks the host first, shows a progress line
// while the kernel downloads and the guest boots, and says how to get what is missing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { DmaBufError, codes } from '../platform/errors';
import { EXIT, Progress, fail, parse, usage, type Io } from './common';

/** The package root: dist/lib/cli/ → ../../.. */
export const PKG_ROOT = join(__dirname, '..', '..', '..');

export const VM_HELP = `usage: dmabuf vm [options] -- <command…>

Runs <command> as root inside a QEMU guest that boots Debian's own Linux 6.12 kernel, which
has /dev/udmabuf, /dev/dma_heap/system, vgem (/dev/dri/card0) and vivid (/dev/video0): your
hardware-in-the-loop tests on a real kernel, from any x86-64 Debian or Ubuntu machine. Your
project (the nearest directory with a package.json) is shared with the guest at the same
path, so build first (tsc) and run the compiled JS; the guest has no compiler and no network.

  --kernel <series>  kernel series: 6.12 (default) or 6.1 (no udmabuf, no heaps)
  --arch <arch>      guest architecture: x64 (default) or arm64 (Debian's 16 KiB-page kernel)
  --append <args>    extra kernel command line, e.g. udmabuf.size_limit_mb=512
  --timeout <s>      kill the guest after s seconds (default 1200)
  --mem <MiB>        guest memory (default 2048)
  --root <dir>       the tree to share (default: the nearest directory with a package.json)

The first run installs qemu-system-x86, busybox-static and xz-utils with apt-get if they are
missing (as root or through sudo), and downloads the kernel package (~110 MB) into
~/.cache/dmabuf/vm (DMABUF_VM_CACHE moves it). More in ci/vm/README.md of the package.

examples:
  npx dmabuf vm -- node dist/test/my-rig.test.js
  npx dmabuf vm -- npx mocha 'dist/test/**/*.js'
  npx dmabuf vm --kernel 6.1 -- npx dmabuf doctor

exit status: the command's own; 124 the guest ran out of time; 125 the guest never
finished (setup failed, kernel panic); 2 this machine cannot run the VM (the message says
what to install)`;

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The nearest directory from `from` upward with a package.json, or `from` itself. */
export function projectRoot(from: string): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from);
  }
}

const unavailable = (message: string) => new DmaBufError(codes.UNAVAILABLE, message);

/** Refuses early, with what to install, when this host cannot run the harness. */
function checkHost(arch: string): void {
  if (process.platform !== 'linux') throw unavailable(`the VM harness runs on Linux hosts only (this is ${process.platform})`);
  if (process.arch !== 'x64') throw unavailable(`the VM harness runs on x86-64 hosts only (this is ${process.arch})`);
  if (!has('apt-get') || !has('dpkg-deb'))
    throw unavailable(
      "the VM harness takes Debian's kernel package with apt-get, so it needs a Debian or Ubuntu host (apt-get, dpkg-deb); " +
        'elsewhere, run it inside a Debian bookworm container',
    );
  const qemu = arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
  const pkgs = [arch === 'arm64' ? 'qemu-system-arm' : 'qemu-system-x86', 'busybox-static', 'xz-utils'];
  const missing = [qemu, 'busybox', 'xz'].filter((t) => !has(t));
  const root = process.getuid?.() === 0;
  if (missing.length && !root && !has('sudo'))
    throw unavailable(`${missing.join(', ')} not installed, and no sudo to install them: as root, run apt-get install ${pkgs.join(' ')}`);
}

/** Advice for the harness's own failure lines. */
function advice(line: string): string | null {
  if (/apt knows no linux-image/.test(line))
    return (
      "the kernel package is not in apt's lists: Debian bookworm has linux-image-6.12.*+deb12-amd64 in its security suite " +
      '(bookworm-security); enable that suite in /etc/apt/sources.list.d and run apt-get update, or point DMABUF_VM_CACHE at a cache that holds the kernel'
    );
  if (/apt-get install failed|still missing after apt-get/.test(line))
    return 'install them by hand: sudo apt-get install qemu-system-x86 busybox-static xz-utils';
  if (/cannot run qemu/.test(line)) return 'is qemu-system-x86_64 installed? sudo apt-get install qemu-system-x86';
  return null;
}

export function vm(argv: string[], io: Io): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const cmd = dash < 0 ? [] : argv.slice(dash + 1);
  try {
    const { values } = parse('vm', {
      args: own,
      options: {
        kernel: { type: 'string' },
        arch: { type: 'string' },
        append: { type: 'string', multiple: true },
        timeout: { type: 'string' },
        mem: { type: 'string' },
        root: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.out.write(VM_HELP + '\n');
      return Promise.resolve(EXIT.OK);
    }
    if (!cmd.length) throw usage('vm', 'no command: put it after --, e.g. dmabuf vm -- node test.js');
    for (const k of ['timeout', 'mem'] as const)
      if (values[k] !== undefined && !/^\d+$/.test(values[k]!)) throw usage('vm', `--${k} takes a positive number, not '${values[k]}'`);
    const vmjs = join(PKG_ROOT, 'ci', 'vm', 'vm.js');
    if (!existsSync(vmjs)) throw unavailable(`this dmabuf package has no VM harness (${vmjs} is missing)`);
    const arch =
      values.arch === undefined
        ? 'x64'
        : values.arch === 'x86_64' || values.arch === 'amd64'
          ? 'x64'
          : values.arch === 'aarch64'
            ? 'arm64'
            : values.arch;
    if (!['x64', 'arm64'].includes(arch)) throw usage('vm', `--arch takes x64 or arm64, not '${values.arch}'`);
    const archArgs = values.arch === undefined ? [] : ['--arch', arch];
    checkHost(arch);
    const root = resolve(values.root ?? projectRoot(process.cwd()));
    const rel = relative(root, PKG_ROOT);
    if (rel.startsWith('..') || rel.startsWith(sep))
      io.err.write(
        `dmabuf vm: note: dmabuf itself (${PKG_ROOT}) is outside the shared tree ${root}: require('dmabuf') in the guest needs it installed in the project (npm install dmabuf)\n`,
      );
    const args = [
      vmjs,
      ...archArgs,
      ...(values.kernel ? ['--kernel', values.kernel] : []),
      ...(values.append ?? []).flatMap((a) => ['--append', a]),
      ...(values.timeout ? ['--timeout', values.timeout] : []),
      ...(values.mem ? ['--mem', values.mem] : []),
      '--',
      ...cmd,
    ];
    return run(args, root, io);
  } catch (err) {
    return Promise.resolve(fail(io, 'vm', err, false));
  }
}

function run(args: string[], root: string, io: Io): Promise<number> {
  const progress = new Progress(io);
  const tty = !!io.err.isTTY && io.env.TERM !== 'dumb';
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'pipe'], env: { ...io.env, DMABUF_VM_ROOT: root } });
  const tips = new Set<string>();
  let guestOutput = false;
  let pending = '';
  const onSignal = () => {
    /* the harness got the same signal (same process group); it kills qemu and exits with 130/143 */
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (tty) progress.stage('dmabuf vm: preparing the guest…');
  child.stdout.on('data', (chunk: Buffer) => {
    if (!guestOutput) {
      guestOutput = true;
      progress.clear();
    }
    io.out.write(chunk);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const tip = advice(line);
      if (tip) tips.add(tip);
      const m = /^dmabuf vm: (downloading|building|booting|missing)/.exec(line);
      if (tty && m && !guestOutput) {
        const what = {
          downloading: 'downloading the kernel package',
          building: 'building the initramfs',
          booting: 'booting',
          missing: 'installing qemu',
        }[m[1] as 'downloading'];
        const detail = m[1] === 'booting' ? line.replace(/^dmabuf vm: booting (\S+) (\S+).*/, ' $1 $2') : '';
        progress.stage(`dmabuf vm: ${what}${detail}…`);
      } else {
        progress.clear();
        io.err.write(line + '\n');
      }
    }
  });
  return new Promise((done) => {
    child.on('close', (code, signal) => {
      progress.clear();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (pending) io.err.write(pending + '\n');
      for (const t of tips) io.err.write(`dmabuf vm: ${t}\n`);
      done(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 125));
    });
    child.on('error', (err) => {
      progress.clear();
      done(fail(io, 'vm', err, false));
    });
  });
}
