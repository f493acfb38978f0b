#!/usr/bin/env node
// @ts-check
'use strict';
// Runs a command inside a QEMU guest booted from Debian's kernel package, with the
// project tree shared over 9p at its host path. Usage: node ci/vm/vm.js [options] -- cmd…
// Two guest architectures, one profile each (PROFILES): x86-64 (the host's own node and
// busybox) and arm64 with 16 KiB pages (Debian's arm64 packages from a private apt state,
// Node from the npm registry, under TCG).
const { execFileSync, spawn, spawnSync } = require('child_process');
const { createHash, randomBytes } = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

// The tree shared with the guest: this project, or the user's (`dmabuf vm` sets DMABUF_VM_ROOT).
const ROOT = path.resolve(process.env.DMABUF_VM_ROOT || path.join(__dirname, '..', '..'));
// Loaded with their dependencies; built-in ones (virtio_pci on 6.12) are skipped.
const TARGET_MODULES = ['vgem', 'vivid', 'virtio_pci', '9pnet_virtio', '9p'];
const PASS_ENV = /^(CI|DMABUF_.*|NODE_OPTIONS|FORCE_COLOR|NO_COLOR)$/;
// cache=loose: the guest is the only writer while it runs; `sync` before power-off writes back.
const P9_OPTS = 'trans=virtio,version=9p2000.L,msize=512000,cache=loose';

/**
 * @typedef {'x64' | 'arm64'} Arch
 * @typedef {{ arch: Arch, kernel: string, append: string, timeout: number, mem: number, cmd: string[] }} Options
 * @typedef {{ name: string, version: string }} KernelPackage
 * @typedef {KernelPackage & { dir: string }} Kernel  a kernel package unpacked in the cache
 * @typedef {{ guest: string, host: string }} Placed  a host file and where it goes in the guest
 * @typedef {object} Userland  what the base initramfs carries besides the modules and init
 * @property {Array<[string, string]>} tops  top-level symlinks (merged /usr): name → target
 * @property {string} busybox  host path of a static busybox for the guest
 * @property {Placed} node
 * @property {Placed[]} programs  other dynamically linked programs: getconf (tests ask it for PAGESIZE)
 * @property {Placed[]} libs  the shared libraries node and programs need, interpreters included
 * @property {Placed | null} npm  the npm package directory, if there is one to copy
 * @typedef {object} Profile
 * @property {string} label
 * @property {string} qemu  qemu binary
 * @property {Record<string, string>} tools  host command → Debian package providing it (apt and dpkg aside)
 * @property {string} console  the kernel's serial console
 * @property {string} kernelSuffix  ends the kernel package's name
 * @property {RegExp | null} kernelExclude  kernel flavours that are not for us
 * @property {() => string[]} aptOpts  options for apt-get/apt-cache when fetching guest packages
 * @property {() => boolean} aptUpdate  refreshes the package lists aptOpts uses
 * @property {boolean} kvm  DMABUF_VM_KVM=1 can use KVM
 * @property {(kvm: boolean) => string[]} machine  qemu machine, accelerator and CPU
 * @property {() => Userland} userland
 * @property {Record<string, string>} env  set in the guest
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
  --arch <arch>      x64 (default) or arm64 (16 KiB pages, TCG)  env DMABUF_VM_ARCH
  --kernel <series>  kernel series, e.g. 6.12 (default) or 6.1   env DMABUF_VM_KERNEL
  --append <args>    extra kernel command line                   env DMABUF_VM_APPEND
  --timeout <s>      kill the guest after s seconds (1200)       env DMABUF_VM_TIMEOUT
  --mem <MiB>        guest memory (2048)                         env DMABUF_VM_MEM
env DMABUF_VM_KVM=1 uses KVM; DMABUF_VM_CACHE sets the cache directory.`;

/**
 * @param {string} a
 * @returns {Arch}
 */
function archName(a) {
  if (a === 'x64' || a === 'x86_64' || a === 'amd64') return 'x64';
  if (a === 'arm64' || a === 'aarch64') return 'arm64';
  return die(`unknown architecture ${a} (x64 or arm64)\n${USAGE}`, 2);
}

/**
 * @param {string[]} argv
 * @returns {Options}
 */
function parseArgs(argv) {
  const env = process.env;
  /** @type {Options} */
  const o = {
    arch: archName(env.DMABUF_VM_ARCH || 'x64'),
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
    } else if (a === '--arch') o.arch = archName(val());
    else if (a === '--kernel') o.kernel = val();
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

/** @param {Profile} profile */
function ensureTools(profile) {
  const base = ['apt-get', 'apt-cache', 'dpkg', 'dpkg-deb'].filter((t) => !has(t));
  if (base.length) die(`the VM harness needs a Debian host with apt; missing ${base.join(', ')}`);
  const missing = Object.keys(profile.tools).filter((t) => !has(t));
  if (!missing.length) return;
  const pkgs = [...new Set(missing.map((t) => profile.tools[t]))];
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

/** @type {(a: string, b: string) => boolean} */
const newer = (a, b) => spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0;

/**
 * Newest downloadable linux-image-<series>…<suffix> (x86-64: not cloud/rt/dbg) according to apt.
 * @param {Profile} profile
 * @param {string} series
 * @returns {KernelPackage | null}
 */
function pickKernel(profile, series) {
  const re = `^linux-image-${series.replace(/\./g, '\\.')}[.-][0-9].*${profile.kernelSuffix}$`;
  const names = capture('apt-cache', [...profile.aptOpts(), 'search', '--names-only', re])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n && !profile.kernelExclude?.test(n));
  if (!names.length) return null;
  const cands = [
    ...capture('apt-cache', [...profile.aptOpts(), 'policy', ...names]).matchAll(/^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)/gm),
  ]
    .filter((m) => m[2] !== '(none)')
    .map((m) => ({ name: m[1], version: m[2] }));
  return cands.reduce(
    /** @param {KernelPackage | null} best @param {KernelPackage} c */
    (best, c) => (!best || newer(c.version, best.version) ? c : best),
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
 * @param {Profile} profile
 * @param {string} series
 * @returns {Kernel}
 */
function ensureKernel(profile, series) {
  const root = cacheRoot();
  const pattern = `linux-image-${series}.*${profile.kernelSuffix}`;
  /** @param {string} d  a cache directory name, <package>_<version> */
  const ours = (d) => {
    const name = d.split('_')[0];
    return name.startsWith(`linux-image-${series}.`) && name.endsWith(profile.kernelSuffix) && !profile.kernelExclude?.test(name);
  };
  let pick = pickKernel(profile, series);
  if (!pick && !fs.readdirSync(root).some(ours)) {
    log(`apt knows no ${pattern} package; running apt-get update`);
    if (profile.aptUpdate()) pick = pickKernel(profile, series);
  }
  if (!pick) {
    const cached = fs
      .readdirSync(root)
      .filter((d) => ours(d) && fs.existsSync(path.join(root, d, 'ready')))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (!cached.length) die(`apt knows no ${pattern} package (is bookworm-security in the apt sources? run apt-get update)`);
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
    const x = path.join(tmp, 'x');
    capture('dpkg-deb', ['-x', aptDownload(profile, `${pick.name}=${pick.version}`, tmp), x]);
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

/**
 * `apt-get download` of one package (name=version) into dir; returns the .deb's path.
 * @param {Profile} profile
 * @param {string} spec
 * @param {string} dir
 */
function aptDownload(profile, spec, dir) {
  const before = new Set(fs.readdirSync(dir));
  capture('apt-get', [...profile.aptOpts(), 'download', spec], { cwd: dir, stdio: ['ignore', 'inherit', 'pipe'] });
  const deb = fs.readdirSync(dir).find((f) => f.endsWith('.deb') && !before.has(f));
  if (!deb) throw new Error(`apt-get download ${spec} left no .deb in ${dir}`);
  return path.join(dir, deb);
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
 * x86-64: the host's own busybox, node, getconf (and the libraries ldd lists) and npm, at
 * their host paths, under the host's top-level symlinks.
 * @returns {Userland}
 */
function hostUserland() {
  const busybox = fs.realpathSync(capture('sh', ['-c', 'command -v busybox']).trim());
  const node = process.execPath;
  const npm = path.resolve(path.dirname(node), '..', 'lib', 'node_modules', 'npm');
  const getconf = spawnSync('sh', ['-c', 'command -v getconf'], { encoding: 'utf8' }).stdout.trim();
  const programs = getconf ? [getconf] : [];
  const libs = [...new Set([busybox, node, ...programs].flatMap((b) => (spawnSync('ldd', [b]).status === 0 ? lddLibs(b) : [])))];
  /** @type {Array<[string, string]>} */
  const tops = [];
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    const st = fs.lstatSync(`/${top}`, { throwIfNoEntry: false });
    if (st && st.isSymbolicLink()) tops.push([top, fs.readlinkSync(`/${top}`)]);
  }
  return {
    tops,
    busybox,
    node: { guest: node, host: node },
    programs: programs.map((p) => ({ guest: p, host: p })),
    libs: libs.map((l) => ({ guest: l, host: l })),
    npm: fs.existsSync(path.join(npm, 'package.json')) ? { guest: npm, host: npm } : null,
  };
}

/**
 * The program interpreter, DT_NEEDED and DT_RUNPATH/DT_RPATH of a 64-bit little-endian ELF
 * file: what ldd would follow, for binaries of an architecture the host cannot run.
 * @param {string} file
 * @returns {{ interp: string | null, needed: string[], runpath: string[] }}
 */
function elfDeps(file) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const u64 = (/** @type {number} */ at) => Number(b.readBigUInt64LE(at));
  const cstr = (/** @type {number} */ at) => b.toString('latin1', at, b.indexOf(0, at));
  const [phoff, phentsize, phnum] = [u64(0x20), b.readUInt16LE(0x36), b.readUInt16LE(0x38)];
  /** @type {string | null} */
  let interp = null;
  /** @type {{ off: number, size: number } | null} */
  let dynamic = null;
  /** @type {Array<{ off: number, vaddr: number, size: number }>} */
  const loads = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const [type, off, vaddr, size] = [b.readUInt32LE(ph), u64(ph + 8), u64(ph + 16), u64(ph + 32)];
    if (type === 3 /* PT_INTERP */) interp = cstr(off);
    else if (type === 2 /* PT_DYNAMIC */) dynamic = { off, size };
    else if (type === 1 /* PT_LOAD */) loads.push({ off, vaddr, size });
  }
  if (!dynamic) return { interp, needed: [], runpath: [] };
  /** @type {Array<[number, number]>} */
  const tags = [];
  for (let at = dynamic.off; at + 16 <= dynamic.off + dynamic.size; at += 16) {
    const tag = Number(b.readBigInt64LE(at));
    if (tag === 0 /* DT_NULL */) break;
    tags.push([tag, u64(at + 8)]);
  }
  const strtab = tags.find(([t]) => t === 5 /* DT_STRTAB */)?.[1] ?? 0;
  const seg = loads.find((l) => strtab >= l.vaddr && strtab < l.vaddr + l.size);
  if (!seg) throw new Error(`${file}: DT_STRTAB is in no PT_LOAD segment`);
  const str = (/** @type {number} */ i) => cstr(strtab - seg.vaddr + seg.off + i);
  return {
    interp,
    needed: tags.filter(([t]) => t === 1 /* DT_NEEDED */).map(([, v]) => str(v)),
    runpath: tags.filter(([t]) => t === 29 /* DT_RUNPATH */ || t === 15 /* DT_RPATH */).flatMap(([, v]) => str(v).split(':')),
  };
}

/**
 * Host path of a guest path inside an unpacked root, following symlinks (absolute ones
 * relative to the root); null if it does not exist.
 * @param {string} root
 * @param {string} guest
 * @param {number} [hops]
 * @returns {string | null}
 */
function inRoot(root, guest, hops = 0) {
  const parts = guest.split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = path.posix.join(cur, parts[i]);
    const st = fs.lstatSync(path.join(root, next), { throwIfNoEntry: false });
    if (!st) return null;
    if (st.isSymbolicLink()) {
      if (hops > 40) return null;
      return inRoot(root, path.posix.resolve(cur, fs.readlinkSync(path.join(root, next)), ...parts.slice(i + 1)), hops + 1);
    }
    cur = next;
  }
  return path.join(root, cur);
}

/**
 * The shared libraries (and interpreters) the binaries need, found in an unpacked root the
 * way ld.so would: DT_RUNPATH ($ORIGIN included), then the multiarch and plain lib dirs.
 * @param {string} root
 * @param {string} triplet  e.g. aarch64-linux-gnu
 * @param {Placed[]} bins
 * @returns {Placed[]}
 */
function rootLibs(root, triplet, bins) {
  const system = [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib', '/usr/lib'];
  /** @type {Map<string, string>} guest → host */
  const found = new Map();
  const queue = [...bins];
  for (let bin = queue.shift(); bin; bin = queue.shift()) {
    const deps = elfDeps(bin.host);
    const dir = path.posix.dirname(bin.guest);
    const search = [...deps.runpath.map((d) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, dir)), ...system];
    const wanted = [
      ...(deps.interp ? [deps.interp] : []),
      ...deps.needed.map((n) => search.map((d) => path.posix.join(d, n)).find((g) => inRoot(root, g)) ?? `(${n})`),
    ];
    for (const guest of wanted) {
      if (found.has(guest)) continue;
      const host = inRoot(root, guest);
      if (!host) throw new Error(`${bin.guest} needs ${guest.replace(/^\((.*)\)$/, '$1')}, which the unpacked packages do not have`);
      found.set(guest, host);
      queue.push({ guest, host });
    }
  }
  return [...found].map(([guest, host]) => ({ guest, host }));
}

// arm64: Debian's packages through an apt state of our own under the cache (its own lists,
// package cache and an empty dpkg status), so the host's apt and dpkg are never touched.
const ARM64_DEBS = ['busybox-static', 'libc6', 'libstdc++6', 'libgcc-s1', 'libc-bin'];
const ARM64_NODE = '20.20.2';

const arm64AptDir = () => path.join(cacheRoot(), 'apt-arm64');
function arm64AptOpts() {
  const d = arm64AptDir();
  for (const sub of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(d, sub), { recursive: true });
  if (!fs.existsSync(path.join(d, 'status'))) fs.writeFileSync(path.join(d, 'status'), '');
  return [
    '-oAPT::Architecture=arm64',
    '-oAPT::Architectures=arm64',
    `-oDir::State::Lists=${path.join(d, 'lists')}`,
    `-oDir::State::status=${path.join(d, 'status')}`,
    `-oDir::Cache=${path.join(d, 'cache')}`,
    ...(process.getuid?.() === 0 ? ['-oAPT::Sandbox::User=root'] : []),
  ];
}
function arm64AptUpdate() {
  log(`apt-get update for arm64 (lists in ${arm64AptDir()})`);
  return spawnSync('apt-get', [...arm64AptOpts(), '-q', 'update'], { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
}
const arm64HasLists = () => {
  const lists = path.join(arm64AptDir(), 'lists');
  return fs.existsSync(lists) && fs.readdirSync(lists).some((f) => f.includes('_Packages'));
};

/**
 * arm64 busybox-static, libc6, libstdc++6, libgcc-s1 and libc-bin, unpacked together into one root
 * in the cache, keyed by their versions.
 * @returns {string}
 */
function ensureArm64Root(retried = false) {
  if (!arm64HasLists() && !arm64AptUpdate()) throw new Error('apt-get update for arm64 failed');
  /** @returns {KernelPackage[]} */
  const candidates = () =>
    [...capture('apt-cache', [...arm64AptOpts(), 'policy', ...ARM64_DEBS]).matchAll(/^(\S+):\n\s+Installed: .*\n\s+Candidate: (\S+)/gm)]
      .filter((m) => m[2] !== '(none)')
      .map((m) => ({ name: m[1], version: m[2] }));
  let pkgs = candidates();
  if (pkgs.length !== ARM64_DEBS.length && arm64AptUpdate()) pkgs = candidates();
  if (pkgs.length !== ARM64_DEBS.length) throw new Error(`apt has no arm64 candidate for some of ${ARM64_DEBS.join(', ')}`);
  const key = createHash('sha256')
    .update(pkgs.map((p) => `${p.name}=${p.version}`).join(' '))
    .digest('hex')
    .slice(0, 12);
  const root = cacheRoot();
  const dir = path.join(root, `userland-arm64_${key}`);
  if (fs.existsSync(path.join(dir, 'ready'))) return path.join(dir, 'root');

  log(`downloading ${pkgs.map((p) => `${p.name} ${p.version}`).join(', ')} (arm64) into ${dir}`);
  const tmp = fs.mkdtempSync(path.join(root, '.tmp-'));
  try {
    const out = path.join(tmp, 'out');
    fs.mkdirSync(path.join(out, 'root'), { recursive: true });
    for (const p of pkgs) {
      let deb;
      try {
        deb = aptDownload(PROFILES.arm64, `${p.name}=${p.version}`, tmp);
      } catch (e) {
        // stale lists (the archive moved on): refresh once and take the new candidates
        if (retried || !arm64AptUpdate()) throw e;
        return ensureArm64Root(true);
      }
      capture('dpkg-deb', ['-x', deb, path.join(out, 'root')]);
    }
    fs.writeFileSync(path.join(out, 'ready'), pkgs.map((p) => `${p.name}=${p.version}`).join('\n') + '\n');
    for (const d of fs.readdirSync(root))
      if (d.startsWith('userland-arm64_')) fs.rmSync(path.join(root, d), { recursive: true, force: true });
    fs.renameSync(out, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return path.join(dir, 'root');
}

/**
 * arm64: Debian's static busybox, glibc and getconf, the npm registry's Node at /usr/local/bin/node,
 * and the host's npm (plain JavaScript) beside it, in a merged-/usr layout.
 * @returns {Userland}
 */
function arm64Userland() {
  const root = ensureArm64Root();
  const nodeBin = capture('bash', [path.join(__dirname, '..', 'node-bin.sh'), ARM64_NODE, 'arm64'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const node = { guest: '/usr/local/bin/node', host: nodeBin };
  const busybox = inRoot(root, '/bin/busybox');
  if (!busybox) throw new Error('busybox-static (arm64) has no /bin/busybox');
  const getconf = inRoot(root, '/usr/bin/getconf');
  if (!getconf) throw new Error('libc-bin (arm64) has no /usr/bin/getconf');
  const programs = [{ guest: '/usr/bin/getconf', host: getconf }];
  const npm = path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  return {
    tops: [
      ['bin', 'usr/bin'],
      ['sbin', 'usr/sbin'],
      ['lib', 'usr/lib'],
    ],
    busybox,
    node,
    programs,
    libs: rootLibs(root, 'aarch64-linux-gnu', [node, ...programs]),
    npm: fs.existsSync(path.join(npm, 'package.json')) ? { guest: '/usr/local/lib/node_modules/npm', host: npm } : null,
  };
}

/**
 * Base initramfs: busybox, node (+ its libraries, + npm), modules, init.
 * @param {Kernel} kernel
 * @param {Userland} u
 * @returns {string}  its path in the cache
 */
function ensureInitramfs(kernel, u) {
  const init = fs.readFileSync(path.join(__dirname, 'init.sh'));
  const modLoad = fs.readFileSync(path.join(kernel.dir, 'modules.load'));
  /** @param {string} f */
  const stamp = (f) => {
    const s = fs.statSync(f, { throwIfNoEntry: false });
    return s ? `${f}:${s.size}:${s.mtimeMs}` : f;
  };
  const placed = [u.node, ...u.programs, ...u.libs, ...(u.npm ? [{ ...u.npm, host: path.join(u.npm.host, 'package.json') }] : [])];
  const key = createHash('sha256')
    .update(
      JSON.stringify([
        fs.readFileSync(__filename, 'utf8'),
        init.toString(),
        modLoad.toString(),
        u.tops,
        stamp(u.busybox),
        ...placed.map((p) => [p.guest, stamp(p.host)]),
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const out = path.join(kernel.dir, `initramfs-${key}.cpio`);
  if (fs.existsSync(out)) return out;

  log(`building ${out}`);
  const tmp = `${out}.${process.pid}.tmp`;
  const c = new Cpio(tmp);
  for (const [name, target] of u.tops) c.symlinkTop(name, target);
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'mnt']) c.mkdirs(d);
  c.file('/init', init, 0o100755);
  c.file('/bin/busybox', fs.readFileSync(u.busybox), 0o100755);
  c.file(u.node.guest, fs.readFileSync(u.node.host), 0o100755);
  for (const f of [...u.programs, ...u.libs]) c.file(f.guest, fs.readFileSync(f.host), 0o100755);
  if (u.npm) {
    c.copy(u.npm.host, u.npm.guest);
    const bin = path.dirname(u.node.guest);
    for (const b of ['npm', 'npx']) c.symlink(path.join(bin, b), path.relative(bin, path.join(u.npm.guest, 'bin', `${b}-cli.js`)));
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
 * @param {Profile} profile
 * @param {Options} opts
 * @param {string} nonce
 * @returns {string}
 */
function runInitrd(base, profile, opts, nonce) {
  const cwd = process.cwd();
  const inside = cwd === ROOT || cwd.startsWith(ROOT + path.sep);
  const env = Object.entries(process.env).filter(([k]) => PASS_ENV.test(k));
  env.push(['HOME', '/tmp'], ['DMABUF_VM_GUEST', '1'], ['TERM', process.stdout.isTTY ? process.env.TERM || 'linux' : 'dumb']);
  env.push(...Object.entries(profile.env));
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
  const config = path.join(path.dirname(base), 'config'); // the kernel's .config: init.sh puts it at /boot/config-<release>
  if (fs.existsSync(config)) c.file('/dmabuf-vm/config', fs.readFileSync(config));
  c.close();
  fs.appendFileSync(file, fs.readFileSync(extra));
  fs.rmSync(extra);
  return file;
}

/**
 * Boots the guest, streams its console and exits with the command's status.
 * @param {Profile} profile
 * @param {Kernel} kernel
 * @param {string} initrd
 * @param {Options} opts
 * @param {string} nonce
 */
function boot(profile, kernel, initrd, opts, nonce) {
  const kvm = process.env.DMABUF_VM_KVM === '1' && profile.kvm;
  const append = `console=${profile.console} quiet panic=-1 ${opts.append}`.trim();
  const args = [
    ...profile.machine(kvm),
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
  log(`booting ${kernel.name} ${kernel.version} (${profile.label}, ${kvm ? 'kvm' : 'tcg'}, ${opts.mem} MiB): ${opts.cmd.join(' ')}`);
  const t0 = Date.now();
  const qemu = spawn(profile.qemu, args, { stdio: ['ignore', 'pipe', 'inherit'] });
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
  qemu.on('error', (e) => stop(`cannot run ${profile.qemu}: ${e.message}`, 125));
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

/** @type {Record<Arch, Profile>} */
const PROFILES = {
  x64: {
    label: 'x86-64',
    qemu: 'qemu-system-x86_64',
    tools: { 'qemu-system-x86_64': 'qemu-system-x86', busybox: 'busybox-static', xz: 'xz-utils' },
    console: 'ttyS0',
    kernelSuffix: '-amd64',
    kernelExclude: /-(cloud|rt)-amd64$/,
    aptOpts: () => [],
    aptUpdate: () => apt('update'),
    kvm: true,
    machine: (kvm) => (kvm ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    userland: hostUserland,
    env: {},
  },
  arm64: {
    label: 'arm64, 16 KiB pages',
    qemu: 'qemu-system-aarch64',
    tools: { 'qemu-system-aarch64': 'qemu-system-arm', xz: 'xz-utils' },
    console: 'ttyAMA0',
    kernelSuffix: '-arm64-16k-unsigned',
    kernelExclude: null,
    aptOpts: arm64AptOpts,
    aptUpdate: arm64AptUpdate,
    kvm: false,
    // No KVM for an arm64 guest on an x86-64 host. Cortex-A76: the Raspberry Pi 5's core,
    // whose kernel runs with 16 KiB pages. Not `max`: under QEMU 7.2's TCG, node crashed in
    // 3 of 8 suite runs with -cpu max (SIGSEGV and SIGILL in V8's heap and JIT code, with
    // and without LPA2), and in none with cortex-a76. DMABUF_VM_CPU overrides it.
    machine: () => ['-M', 'virt', '-accel', 'tcg', '-cpu', process.env.DMABUF_VM_CPU || 'cortex-a76'],
    userland: arm64Userland,
    // build/Release in the shared tree is the host's x86-64 addon: take prebuilds/linux-arm64.
    env: { PREBUILDS_ONLY: '1' },
  },
};

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux' || process.arch !== 'x64') die('the VM harness needs an x86-64 Linux host');
  const profile = PROFILES[opts.arch];
  const nonce = randomBytes(6).toString('hex');
  /** @type {Kernel} */
  let kernel;
  /** @type {string} */
  let initrd;
  try {
    ensureTools(profile);
    fs.mkdirSync(cacheRoot(), { recursive: true });
    kernel = ensureKernel(profile, opts.kernel);
    initrd = runInitrd(ensureInitramfs(kernel, profile.userland()), profile, opts, nonce);
  } catch (e) {
    die(`setup failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  boot(profile, kernel, initrd, opts, nonce);
}

main();
