// What the running system says about dma-buf support, read from files: the kernel's
// config, module state, device nodes and their permissions, whether this is a container.
// Every path is under `root` ('/' for this machine), so tests run on a fabricated tree.
// Only facts here; lib/exporters/diagnose.ts turns them into reasons and advice.
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, existsSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** A path of the system under `root`. */
export function under(root: string, path: string): string {
  return root === '/' ? path : join(root, path);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

/** The kernel release (uname -r): os.release() for this machine, proc/sys/kernel/osrelease under another root. */
export function kernelRelease(root = '/'): string {
  if (root === '/') return osRelease();
  return readText(under(root, '/proc/sys/kernel/osrelease'))?.trim() || 'unknown';
}

/** Whether `release` (e.g. '6.12.117+deb12-amd64') is at least major.minor. */
export function releaseAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}

/** 'y', 'm', 'n' (`# CONFIG_X is not set`) or the option's value. */
export type ConfigValue = string;

export interface KernelConfig {
  /** The file it came from (/proc/config.gz, /boot/config-<release>, …), or null when none is readable. */
  source: string | null;
  /** CONFIG_* → value, for every option the file names. */
  options: Map<string, ConfigValue>;
}

/** Parses a kernel .config text. */
export function parseKernelConfig(text: string): Map<string, ConfigValue> {
  const out = new Map<string, ConfigValue>();
  for (const line of text.split('\n')) {
    const unset = /^# (CONFIG_\w+) is not set/.exec(line);
    if (unset) out.set(unset[1], 'n');
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) out.set(set[1], set[2].replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

const configCache = new Map<string, KernelConfig>();

/** The running kernel's config: /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-<release>, else /lib/modules/<release>/config. Read once per root. */
export function readKernelConfig(root = '/', release = kernelRelease(root)): KernelConfig {
  const key = `${root}\0${release}`;
  const hit = configCache.get(key);
  if (hit) return hit;
  let found: KernelConfig = { source: null, options: new Map() };
  for (const file of [
    '/proc/config.gz',
    `/boot/config-${release}`,
    `/lib/modules/${release}/config`,
    `/usr/lib/modules/${release}/config`,
  ]) {
    try {
      const raw = readFileSync(under(root, file));
      const text = file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      found = { source: file, options: parseKernelConfig(text) };
      break;
    } catch {
      // not there, not readable, or not gzip: try the next
    }
  }
  configCache.set(key, found);
  return found;
}

/**
 * builtin: compiled into the kernel; loaded: a module, loaded; available: a module on disk,
 * not loaded (modprobe it); absent: neither; unknown: nothing to tell by.
 */
export type ModuleState = 'builtin' | 'loaded' | 'available' | 'absent' | 'unknown';

export interface ModuleInfo {
  name: string;
  state: ModuleState;
  /** What the state was told by: '/sys/module/udmabuf', 'CONFIG_UDMABUF=y', 'modinfo', … */
  evidence: string;
}

const modinfoCache = new Map<string, string | null>();

/** `modinfo -F filename <name>`: a path, '(builtin)', or null (unknown module, or no modinfo). */
function modinfo(name: string): string | null {
  if (!modinfoCache.has(name)) {
    const r = spawnSync('modinfo', ['-F', 'filename', name], { encoding: 'utf8', timeout: 5000 });
    modinfoCache.set(name, r.status === 0 && r.stdout.trim() ? r.stdout.trim().split('\n')[0] : null);
  }
  return modinfoCache.get(name) ?? null;
}

/** Whether modules.dep / modules.builtin under /lib/modules/<release> names the module. */
function inModuleLists(root: string, release: string, name: string): 'builtin' | 'module' | null {
  const re = new RegExp(`(^|/)${name.replace(/[-_]/g, '[-_]')}\\.ko(\\.[a-z]+)?(:|$)`, 'm');
  const dir = under(root, `/lib/modules/${release}`);
  if (re.test(readText(join(dir, 'modules.builtin')) ?? '')) return 'builtin';
  if (re.test(readText(join(dir, 'modules.dep')) ?? '')) return 'module';
  return null;
}

/** A kernel module's state, from /sys/module, the kernel config, modules.dep/builtin and modinfo. */
export function moduleState(name: string, configName: string, root = '/', config = readKernelConfig(root)): ModuleInfo {
  const sys = under(root, `/sys/module/${name}`);
  if (existsSync(sys)) {
    // Loadable modules have an initstate; built-in ones with parameters appear without it.
    return existsSync(join(sys, 'initstate'))
      ? { name, state: 'loaded', evidence: `${sys}/initstate` }
      : { name, state: 'builtin', evidence: sys };
  }
  const value = config.options.get(configName);
  if (value === 'y') return { name, state: 'builtin', evidence: `${configName}=y (${config.source})` };
  const release = kernelRelease(root);
  const listed = inModuleLists(root, release, name);
  if (listed === 'builtin') return { name, state: 'builtin', evidence: `/lib/modules/${release}/modules.builtin` };
  if (listed === 'module') return { name, state: 'available', evidence: `/lib/modules/${release}/modules.dep` };
  if (value === 'm') return { name, state: 'available', evidence: `${configName}=m (${config.source})` };
  if (root === '/') {
    const file = modinfo(name);
    if (file === '(builtin)') return { name, state: 'builtin', evidence: 'modinfo' };
    if (file) return { name, state: 'available', evidence: `modinfo: ${file}` };
  }
  if (value === 'n') return { name, state: 'absent', evidence: `# ${configName} is not set (${config.source})` };
  return { name, state: 'unknown', evidence: 'no kernel config, no /sys/module entry, no module file' };
}

export interface ContainerInfo {
  /** 'docker', 'podman', 'kubernetes', 'containerd', 'lxc', or 'container'. */
  kind: string;
  /** What gave it away: '/.dockerenv', '/run/.containerenv', '/proc/1/cgroup'. */
  evidence: string;
}

/** Whether this runs inside a container: /.dockerenv, /run/.containerenv, or a container's cgroup path. */
export function detectContainer(root = '/'): ContainerInfo | null {
  if (existsSync(under(root, '/.dockerenv'))) return { kind: 'docker', evidence: '/.dockerenv' };
  if (existsSync(under(root, '/run/.containerenv'))) return { kind: 'podman', evidence: '/run/.containerenv' };
  for (const file of ['/proc/1/cgroup', '/proc/self/cgroup']) {
    const text = readText(under(root, file)) ?? '';
    const hit = (
      [
        [/kubepods/, 'kubernetes'],
        [/libpod/, 'podman'],
        [/docker/, 'docker'],
        [/containerd|cri-o|crio/, 'containerd'],
        [/\/lxc[./]|lxc\.payload/, 'lxc'],
      ] as const
    ).find(([re]) => re.test(text));
    if (hit) return { kind: hit[1], evidence: file };
  }
  return null;
}

export interface NodeFacts {
  path: string;
  present: boolean;
  /** open() succeeded (with the flags the library uses). */
  openable: boolean;
  /** The open error's code (EACCES, EPERM, ENXIO, …) when it failed. */
  error?: string;
  /** st_mode, st_uid, st_gid, and the group's name (from etc/group). */
  mode?: number;
  uid?: number;
  gid?: number;
  group?: string;
}

function groupName(root: string, gid: number): string | undefined {
  for (const line of (readText(under(root, '/etc/group')) ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && Number(id) === gid) return name;
  }
  return undefined;
}

/** A device node: there, its owner and mode, and whether open() works (closed at once). */
export function probeNode(path: string, root = '/', flags: number = fsc.O_RDONLY): NodeFacts {
  const full = under(root, path);
  let st;
  try {
    st = lstatSync(full);
  } catch {
    return { path, present: false, openable: false };
  }
  const facts: NodeFacts = {
    path,
    present: true,
    openable: false,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    group: groupName(root, st.gid),
  };
  try {
    closeSync(openSync(full, flags | fsc.O_NONBLOCK));
    facts.openable = true;
  } catch (err) {
    facts.error = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return facts;
}

/** `crw-rw---- root:video` from a node's facts. */
export function describeMode(n: NodeFacts): string {
  if (n.mode === undefined) return '';
  const t = (n.mode & 0o170000) === 0o020000 ? 'c' : (n.mode & 0o170000) === 0o060000 ? 'b' : (n.mode & 0o170000) === 0o040000 ? 'd' : '-';
  const bits = 'rwxrwxrwx'
    .split('')
    .map((ch, i) => (n.mode! & (0o400 >> i) ? ch : '-'))
    .join('');
  return `${t}${bits} ${n.uid ?? '?'}:${n.group ?? n.gid ?? '?'}`;
}

/** A module's parameters (/sys/module/<name>/parameters/*), as numbers where they are numbers. */
export function moduleParams(name: string, root = '/'): Record<string, string> {
  const dir = under(root, `/sys/module/${name}/parameters`);
  const out: Record<string, string> = {};
  for (const p of list(dir)) {
    const v = readText(join(dir, p));
    if (v !== null) out[p] = v.trim();
  }
  return out;
}

/** Node names in a directory under root that start with `prefix`, as absolute system paths. */
export function nodesIn(dir: string, prefix: string, root = '/'): string[] {
  return list(under(root, dir))
    .filter((n) => n.startsWith(prefix))
    .map((n) => `${dir}/${n}`);
}

function linkBase(path: string): string {
  try {
    return basename(readlinkSync(path));
  } catch {
    return '';
  }
}

/** /dev/dri/* with the driver behind each (sysfs device/driver link, or the device's own name as vgem has). */
export function drmNodes(root = '/'): Array<{ path: string; driver: string }> {
  return nodesIn('/dev/dri', '', root)
    .filter((p) => /\/(card|renderD)\d+$/.test(p))
    .map((path) => {
      const sys = under(root, `/sys/class/drm/${basename(path)}/device`);
      return { path, driver: linkBase(join(sys, 'driver')) || linkBase(sys) };
    });
}

/** /dev/video* with the device's name (sysfs video4linux/<n>/name, e.g. 'vivid-000-vid-cap'). */
export function videoNodes(root = '/'): Array<{ path: string; name: string }> {
  return nodesIn('/dev', 'video', root)
    .filter((p) => /\/video\d+$/.test(p))
    .map((path) => ({ path, name: readText(under(root, `/sys/class/video4linux/${basename(path)}/name`))?.trim() ?? '' }));
}
