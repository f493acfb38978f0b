#!/usr/bin/env node
// @ts-check
'use strict';
// Runs a command inside a QEMU guest booted from Debian's kernel package, with the
// project tree shared over 9p at its host path. Usage: node ci/vm/vm.js [options] -- cmd…
const { execFileSync, spawn, spawnSync } = require('child_process');
const { createHash, randomBytes } = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
// Loaded with their dependencies; built-in ones (virtio_pci on 6.12) are skipped.
const TARGET_MODULES = ['vgem', 'vivid', 'virtio_pci', '9pnet_virtio', '9p'];
const PASS_ENV = /^(CI|DMABUF_.*|NODE_OPTIONS|FORCE_COLOR|NO_COLOR)$/;
// cache=loose: the guest is the only writer while it runs; `sync` before power-off writes back.
const P9_OPTS = 'trans=virtio,version=9p2000.L,msize=512000,cache=loose';

/**
 * @typedef {{ kernel: string, append: string, timeout: number, mem: number, cmd: string[] }} Options
 * @typedef {{ name: string, version: string }} KernelPackage
 * @typedef {KernelPackage & { dir: string }} Kernel  a kernel package unpacked in the cache
 */

/** @param {string} msg */
const log = (msg) => process.stderr.write(`dmabuf vm: ${msg}\n`);
/**
 * @param {string} msg
 * @param {number} [code]
 * @returns {never}
 */
const die = (msg, code = 125) => {
  log(msg);
  process.exit(code);
};
/** @param {string} cmd */
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
/**
 * Runs a program and returns its stdout.
 * @param {string} cmd
 * @param {string[]} args
 * @param {import('child_process').ExecFileSyncOptions} [opts]
 * @returns {string}
 */
const capture = (cmd, args, opts = {}) => String(execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts }));
/** Quotes for sh. @param {unknown} s */
const sq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
/** @param {...string} args */
const apt = (...args) => {
  const argv = process.getuid?.() === 0 ? ['apt-get', ...args] : ['sudo', 'apt-get', ...args];
  return spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
};

const USAGE = `usage: node ci/vm/vm.js [options] -- <command…>
  --kernel <series>  kernel series, e.g. 6.12 (default) or 6.1   env DMABUF_VM_KERNEL
  --append <args>    extra kernel command line                   env DMABUF_VM_APPEND
  --timeout <s>      kill the guest after s seconds (1200)       env DMABUF_VM_TIMEOUT
  --mem <MiB>        guest memory (2048)                         env DMABUF_VM_MEM
env DMABUF_VM_KVM=1 uses KVM; DMABUF_VM_CACHE sets the cache directory.`;

/**
 * @param {string[]} argv
 * @returns {Options}
 */
function parseArgs(argv) {
  const env = process.env;
  /** @type {Options} */
  const o = {
    kernel: env.DMABUF_VM_KERNEL || '6.12',
    append: env.DMABUF_VM_APPEND || '',
    timeout: Number(env.DMABUF_VM_TIMEOUT || 1200),
    mem: Number(env.DMABUF_VM_MEM || 2048),
    cmd: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : die(`${a} needs a value\n${USAGE}`, 2));
    if (a === '--') {
      o.cmd = argv.slice(i + 1);
      break;
    } else if (a === '--kernel') o.kernel = val();
    else if (a === '--append') o.append += ' ' + val();
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--mem') o.mem = Number(val());
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else die(`unknown option ${a}\n${USAGE}`, 2);
  }
  if (!o.cmd.length) die(`no command given\n${USAGE}`, 2);
  if (!(o.timeout > 0) || !(o.mem > 0)) die('--timeout and --mem take positive numbers', 2);
  return o;
}

function ensureTools() {
  const missing = ['qemu-system-x86_64', 'busybox', 'xz', 'apt-get', 'dpkg-deb'].filter((t) => !has(t));
  if (!missing.length) return;
  const pkgs = ['qemu-system-x86', 'busybox-static', 'xz-utils'];
  log(`missing ${missing.join(', ')}; installing ${pkgs.join(' ')}`);
  if (
    !apt('install', '-y', '--no-install-recommends', ...pkgs) &&
    !(apt('update') && apt('install', '-y', '--no-install-recommends', ...pkgs))
  )
    die('apt-get install failed');
  const still = missing.filter((t) => !has(t));
  if (still.length) die(`still missing after apt-get install: ${still.join(', ')}`);
}

function cacheRoot() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return process.env.DMABUF_VM_CACHE || path.join(base, 'dmabuf', 'vm');
}

/**
 * Newest downloadable linux-image-<series>…-amd64 (not cloud/rt/dbg) according to apt.
 * @param {string} series
 * @returns {KernelPackage | null}
 */
function pickKernel(series) {
  const re = `^linux-image-${series.replace(/\./g, '\\.')}[.-][0-9].*-amd64$`;
  const names = capture('apt-cache', ['search', '--names-only', re])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n && !/-(cloud|rt)-amd64$/.test(n));
  if (!names.length) return null;
  const cands = [...capture('apt-cache', ['policy', ...names]).matchAll(/^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)/gm)]
    .filter((m) => m[2] !== '(none)')
    .map((m) => ({ name: m[1], version: m[2] }));
  /** @type {(a: KernelPackage, b: KernelPackage) => boolean} */
  const newer = (a, b) => spawnSync('dpkg', ['--compare-versions', a.version, 'gt', b.version]).status === 0;
  return cands.reduce(
    /** @param {KernelPackage | null} best @param {KernelPackage} c */
    (best, c) => (!best || newer(c, best) ? c : best),
    null,
  );
}

/**
 * Module name → file in an extracted package; dependencies come from each module's .modinfo.
 * @param {string} dir
 * @returns {Map<string, string>}
 */
function indexModules(dir) {
  const idx = new Map();
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const m = e.isFile() && e.name.match(/^(.*)\.ko(\.xz)?$/);
    if (m) idx.set(m[1].replace(/-/g, '_'), path.join(e.parentPath || e.path, e.name));
  }
  return idx;
}

/**
 * Writes the target modules and their dependencies into outDir, decompressed.
 * @param {Map<string, string>} idx  from indexModules()
 * @param {Set<string>} builtin  modules built into the kernel
 * @param {string} outDir
 * @returns {string[]}  the load order
 */
function resolveModules(idx, builtin, outDir) {
  /** @type {string[]} */
  const order = [];
  const seen = new Set();
  /** @param {string} name */
  const visit = (name) => {
    name = name.replace(/-/g, '_');
    if (seen.has(name)) return;
    seen.add(name);
    const file = idx.get(name);
    if (!file) return builtin.has(name) || log(`module ${name} not in this kernel package; skipped`);
    const ko = file.endsWith('.xz') ? execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 }) : fs.readFileSync(file);
    const at = ko.indexOf('\0depends=');
    const deps = at < 0 ? '' : ko.toString('latin1', at + 9, ko.indexOf(0, at + 9));
    deps.split(',').filter(Boolean).forEach(visit);
    fs.writeFileSync(path.join(outDir, `${name}.ko`), ko);
    order.push(name);
  };
  TARGET_MODULES.forEach(visit);
  return order;
}

/**
 * Kernel + modules for the series, downloaded once into the cache.
 * @param {string} series
 * @returns {Kernel}
 */
function ensureKernel(series) {
  const root = cacheRoot();
  let pick = pickKernel(series);
  if (!pick && !fs.readdirSync(root).some((d) => d.startsWith(`linux-image-${series}.`))) {
    log(`apt knows no linux-image-${series}.*-amd64 package; running apt-get update`);
    if (apt('update')) pick = pickKernel(series);
  }
  if (!pick) {
    const cached = fs
      .readdirSync(root)
      .filter((d) => d.startsWith(`linux-image-${series}.`) && fs.existsSync(path.join(root, d, 'ready')))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (!cached.length)
      die(`apt knows no linux-image-${series}.*-amd64 package (is bookworm-security in the apt sources? run apt-get update)`);
    const [name, version] = cached[cached.length - 1].split('_');
    pick = { name, version };
    log(`apt knows no ${series} kernel; using the cached ${name} ${version}`);
  }
  const dir = path.join(root, `${pick.name}_${pick.version}`);
  const stamp = path.join(dir, 'ready');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === TARGET_MODULES.join(' ')) return { ...pick, dir };

  log(`downloading ${pick.name} ${pick.version} into ${dir}`);
  const tmp = fs.mkdtempSync(path.join(root, '.tmp-'));
  try {
    capture('apt-get', ['download', `${pick.name}=${pick.version}`], { cwd: tmp, stdio: ['ignore', 'inherit', 'pipe'] });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download left no .deb in ${tmp}`);
    const x = path.join(tmp, 'x');
    capture('dpkg-deb', ['-x', path.join(tmp, deb), x]);
    const boot = path.join(x, 'boot');
    const vmlinuz = fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${pick.name} has no /boot/vmlinuz-*`);
    const kver = vmlinuz.slice('vmlinuz-'.length);
    const mods = path.join(x, 'lib', 'modules', kver);
    const out = path.join(tmp, 'out');
    fs.mkdirSync(path.join(out, 'modules'), { recursive: true });
    fs.copyFileSync(path.join(boot, `vmlinuz-${kver}`), path.join(out, 'vmlinuz'));
    fs.copyFileSync(path.join(boot, `config-${kver}`), path.join(out, 'config'));
    const builtin = new Set(
      fs
        .readFileSync(path.join(mods, 'modules.builtin'), 'utf8')
        .split('\n')
        .map((l) => path.basename(l).replace(/\.ko$/, '').replace(/-/g, '_')),
    );
    const order = resolveModules(indexModules(path.join(mods, 'kernel')), builtin, path.join(out, 'modules'));
    fs.writeFileSync(path.join(out, 'modules.load'), order.join('\n') + '\n');
    fs.writeFileSync(path.join(out, 'ready'), TARGET_MODULES.join(' '));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(out, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { ...pick, dir };
}

// Minimal cpio "newc" writer: directories, regular files, symlinks.
class Cpio {
  /** @param {string} file */
  constructor(file) {
    this.fd = fs.openSync(file, 'w');
    this.ino = 1;
    /** @type {Set<string>} directories already written */
    this.dirs = new Set(['', '.']);
    /** @type {Map<string, string>} top-level symlinks (merged /usr): name → target */
    this.links = new Map();
  }
  /**
   * @param {string} name
   * @param {number} mode
   * @param {Buffer} data
   */
  entry(name, mode, data) {
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    const f = [this.ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const hdr = '070701' + f.map((n) => n.toString(16).padStart(8, '0')).join('') + name + '\0';
    /** @param {number} n */
    const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
    fs.writeSync(this.fd, Buffer.concat([Buffer.from(hdr, 'latin1'), pad(hdr.length), data, pad(data.length)]));
  }
  /**
   * Guest path with mirrored top-level symlinks (merged /usr) resolved.
   * @param {string} p
   */
  canon(p) {
    const rel = p.replace(/^\/+/, '');
    const [top, ...rest] = rel.split('/');
    const target = this.links.get(top);
    return target === undefined ? rel : path.posix.join(target, ...rest).replace(/^\/+/, '');
  }
  /** @param {string} rel */
  mkdirs(rel) {
    if (this.dirs.has(rel)) return;
    this.mkdirs(path.posix.dirname(rel));
    this.dirs.add(rel);
    this.entry(rel, 0o040755, Buffer.alloc(0));
  }
  /**
   * @param {string} name
   * @param {string} target
   */
  symlinkTop(name, target) {
    this.links.set(name, target);
    this.mkdirs(this.canon(name));
    this.entry(name, 0o120777, Buffer.from(target));
  }
  /**
   * @param {string} p
   * @param {Buffer} data
   * @param {number} [mode]
   */
  file(p, data, mode = 0o100644) {
    const rel = this.canon(p);
    this.mkdirs(path.posix.dirname(rel));
    this.entry(rel, mode, data);
  }
  /**
   * @param {string} p
   * @param {string} target
   */
  symlink(p, target) {
    const rel = this.canon(p);
    this.mkdirs(path.posix.dirname(rel));
    this.entry(rel, 0o120777, Buffer.from(target));
  }
  /**
   * Copies a host file, symlink or directory tree to the same (or another) guest path.
   * @param {string} host
   * @param {string} [guest]
   */
  copy(host, guest = host) {
    const st = fs.lstatSync(host);
    if (st.isSymbolicLink()) this.symlink(guest, fs.readlinkSync(host));
    else if (st.isDirectory()) {
      this.mkdirs(this.canon(guest));
      for (const n of fs.readdirSync(host)) this.copy(path.join(host, n), path.posix.join(guest, n));
    } else this.file(guest, fs.readFileSync(host), 0o100000 | (st.mode & 0o777));
  }
  close() {
    this.entry('TRAILER!!!', 0, Buffer.alloc(0));
    fs.closeSync(this.fd);
  }
}

/** @param {string} bin */
const lddLibs = (bin) => [...capture('ldd', [bin]).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]);

/**
 * Base initramfs: busybox, node (+ its libraries, + npm when next to it), modules, init.
 * @param {Kernel} kernel
 * @returns {string}  its path in the cache
 */
function ensureInitramfs(kernel) {
  const busybox = fs.realpathSync(capture('sh', ['-c', 'command -v busybox']).trim());
  const node = process.execPath;
  const npm = path.resolve(path.dirname(node), '..', 'lib', 'node_modules', 'npm');
  const libs = [...new Set([busybox, node].flatMap((b) => (spawnSync('ldd', [b]).status === 0 ? lddLibs(b) : [])))];
  const init = fs.readFileSync(path.join(__dirname, 'init.sh'));
  const modLoad = fs.readFileSync(path.join(kernel.dir, 'modules.load'));
  /** @param {string} f */
  const stamp = (f) => {
    const s = fs.statSync(f, { throwIfNoEntry: false });
    return s ? `${f}:${s.size}:${s.mtimeMs}` : f;
  };
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        fs.readFileSync(__filename, 'utf8'),
        init.toString(),
        modLoad.toString(),
        ...[busybox, node, ...libs, path.join(npm, 'package.json')].map(stamp),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const out = path.join(kernel.dir, `initramfs-${key}.cpio`);
  if (fs.existsSync(out)) return out;

  log(`building ${out}`);
  const tmp = `${out}.${process.pid}.tmp`;
  const c = new Cpio(tmp);
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    const st = fs.lstatSync(`/${top}`, { throwIfNoEntry: false });
    if (st && st.isSymbolicLink()) c.symlinkTop(top, fs.readlinkSync(`/${top}`));
  }
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'mnt']) c.mkdirs(d);
  c.file('/init', init, 0o100755);
  c.file('/bin/busybox', fs.readFileSync(busybox), 0o100755);
  c.file(node, fs.readFileSync(node), 0o100755);
  for (const lib of libs) c.file(lib, fs.readFileSync(lib), 0o100755);
  if (fs.existsSync(path.join(npm, 'package.json'))) {
    c.copy(npm);
    for (const b of ['npm', 'npx'])
      c.symlink(path.join(path.dirname(node), b), path.relative(path.dirname(node), path.join(npm, 'bin', `${b}-cli.js`)));
  }
  c.file('/etc/passwd', Buffer.from('root:x:0:0:root:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'));
  c.file('/etc/group', Buffer.from('root:x:0:\nnogroup:x:65534:\n'));
  c.mkdirs('dmabuf-vm/modules');
  c.file('/dmabuf-vm/modules.load', modLoad);
  for (const f of fs.readdirSync(path.join(kernel.dir, 'modules')))
    c.file(`/dmabuf-vm/modules/${f}`, fs.readFileSync(path.join(kernel.dir, 'modules', f)));
  c.close();
  for (const f of fs.readdirSync(kernel.dir)) {
    if (/^initramfs-.*\.cpio$/.test(f) && f !== path.basename(out)) fs.rmSync(path.join(kernel.dir, f), { force: true });
  }
  fs.renameSync(tmp, out);
  return out;
}

/**
 * Per-run initrd: the cached base followed by a small archive with the command and env.
 * @param {string} base
 * @param {Options} opts
 * @param {string} nonce
 * @returns {string}
 */
function runInitrd(base, opts, nonce) {
  const cwd = process.cwd();
  const inside = cwd === ROOT || cwd.startsWith(ROOT + path.sep);
  const env = Object.entries(process.env).filter(([k]) => PASS_ENV.test(k));
  env.push(['HOME', '/tmp'], ['DMABUF_VM_GUEST', '1'], ['TERM', process.stdout.isTTY ? process.env.TERM || 'linux' : 'dumb']);
  const vars =
    [
      `vm_root=${sq(ROOT)}`,
      `vm_cwd=${sq(inside ? cwd : ROOT)}`,
      `vm_nonce=${nonce}`,
      `vm_9p_opts=${sq(P9_OPTS)}`,
      ...env.map(([k, v]) => `export ${k}=${sq(v)}`),
    ].join('\n') + '\n';
  const file = path.join(os.tmpdir(), `dmabuf-vm-${process.pid}-${nonce}.cpio`);
  fs.copyFileSync(base, file);
  const extra = `${file}.extra`;
  const c = new Cpio(extra);
  c.file('/dmabuf-vm/vars', Buffer.from(vars));
  c.file('/dmabuf-vm/cmd', Buffer.from(opts.cmd.map(sq).join(' ') + '\n'));
  c.close();
  fs.appendFileSync(file, fs.readFileSync(extra));
  fs.rmSync(extra);
  return file;
}

/**
 * Boots the guest, streams its console and exits with the command's status.
 * @param {Kernel} kernel
 * @param {string} initrd
 * @param {Options} opts
 * @param {string} nonce
 */
function boot(kernel, initrd, opts, nonce) {
  const kvm = process.env.DMABUF_VM_KVM === '1';
  const append = `console=ttyS0 quiet panic=-1 ${opts.append}`.trim();
  const args = [
    ...(kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    '-smp',
    '2',
    '-m',
    String(opts.mem),
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    path.join(kernel.dir, 'vmlinuz'),
    '-initrd',
    initrd,
    '-append',
    append,
    '-virtfs',
    `local,path=${ROOT.replace(/,/g, ',,')},mount_tag=proj,security_model=none,multidevs=remap`,
  ];
  log(`booting ${kernel.name} ${kernel.version} (${kvm ? 'kvm' : 'tcg'}, ${opts.mem} MiB): ${opts.cmd.join(' ')}`);
  const t0 = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const marker = new RegExp(`@@DMABUF-VM-EXIT ${nonce} (\\d+)@@`);
  /** @type {number | null} */
  let status = null;
  let pending = '';
  /** @type {{ why: string, code: number } | null} */
  let ended = null;
  // Console → stdout live; CRLF → LF; the exit marker becomes the status, shutdown noise after it is dropped.
  qemu.stdout.setEncoding('latin1');
  qemu.stdout.on('data', (chunk) => {
    if (status !== null) return;
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    let out = '';
    for (const line of lines) {
      const m = line.match(marker);
      if (m) {
        status = Number(m[1]);
        const rest = line.slice(0, m.index).replace(/\r$/, '');
        if (rest) out += rest + '\n';
        break;
      }
      out += line.replace(/\r$/, '') + '\n';
    }
    if (status === null && !pending.includes('@') && !pending.endsWith('\r')) {
      out += pending;
      pending = '';
    }
    if (out) process.stdout.write(Buffer.from(out, 'latin1'));
  });
  /** @type {(why: string, code: number) => void} */
  const stop = (why, code) => {
    if (!ended) {
      ended = { why, code };
      qemu.kill('SIGKILL');
    }
  };
  const timer = setTimeout(() => stop(`guest did not finish within ${opts.timeout} s; killed`, 124), opts.timeout * 1000);
  /** @type {Array<[NodeJS.Signals, number]>} */
  const signals = [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ];
  for (const [sig, code] of signals) process.on(sig, () => stop(`${sig}; killed the guest`, code));
  qemu.on('error', (e) => stop(`cannot run qemu-system-x86_64: ${e.message}`, 125));
  qemu.on('close', (code, signal) => {
    clearTimeout(timer);
    fs.rmSync(initrd, { force: true });
    if (pending && status === null) process.stdout.write(Buffer.from(pending, 'latin1'));
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (ended) {
      log(ended.why);
      process.exit(ended.code);
    }
    if (status === null)
      die(
        `guest ended without an exit status (setup failure, kernel panic or crash: see above); qemu ${signal || `exit ${code}`} after ${secs} s`,
      );
    log(`guest command exited ${status} after ${secs} s`);
    process.exit(status);
  });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux' || process.arch !== 'x64') die('the VM harness needs an x86-64 Linux host');
  const nonce = randomBytes(6).toString('hex');
  /** @type {Kernel} */
  let kernel;
  /** @type {string} */
  let initrd;
  try {
    ensureTools();
    fs.mkdirSync(cacheRoot(), { recursive: true });
    kernel = ensureKernel(opts.kernel);
    initrd = runInitrd(ensureInitramfs(kernel), opts, nonce);
  } catch (e) {
    die(`setup failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  boot(kernel, initrd, opts, nonce);
}

main();
