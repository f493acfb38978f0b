#!/usr/bin/env bash
# Installs the packed tarball the way a user does, into empty projects, with no compiler:
#  1. with its prebuilds: the addon loads; the quick start runs with require and import;
#     a strict TypeScript consumer using `using` type-checks and runs;
#  2. with --ignore-scripts: the prebuild still loads;
#  3. repacked without prebuilds: install still succeeds (a warning), and the library
#     runs its `memory` exporter and says why the addon is missing.
# The `dmabuf` command runs from the installed package: --help, doctor --json, ls --json,
# vm --help, and bench (not shipped: exit 2); without the addon, doctor exits 1.
# Also checks the tarball: README links resolve inside it; no source map points outside it;
# the V8 fast path for views ships for Node 20 and 24 (ABI 115, 137) and is what views use
# there once installed (Node 22: Node-API views, and why).
# Leaves the tarball's path in $DMABUF_TARBALL_OUT (if set) for the arm64 leg.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/ci/tarball"
work=$(mktemp -d)
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$work"' EXIT

fast=(dmabuf-v8-abi115.so dmabuf-v8-abi137.so)
have_prebuilds() {
  for arch in x64 arm64; do
    [[ -f "$repo/prebuilds/linux-$arch/dmabuf.node" ]] || return 1
    for f in "${fast[@]}"; do [[ -f "$repo/prebuilds/linux-$arch/$f" ]] || return 1; done
  done
}
have_prebuilds || (cd "$repo" && npm run prebuilds)
(cd "$repo" && npm pack --silent --pack-destination "$work" >/dev/null)
tgz=$(ls "$work"/dmabuf-*.tgz)
echo "tarball: $(basename "$tgz") ($(du -k "$tgz" | cut -f1) KiB)"

mkdir "$work/unpacked" && tar -xzf "$tgz" -C "$work/unpacked"
pkg="$work/unpacked/package"
for f in prebuilds/linux-{x64,arm64}/{dmabuf.node,dmabuf-v8-abi115.so,dmabuf-v8-abi137.so} LICENSE esm/index.mjs dist/lib/index.d.ts; do
  [[ -f "$pkg/$f" ]] || { echo "tarball lacks $f" >&2; exit 1; }
done
node - "$pkg" <<'JS'
// Every relative README link, and every source a .js.map names, must be inside the tarball
// (a map may instead carry the source text: sourcesContent).
const fs = require('fs'), path = require('path');
const pkg = process.argv[2];
let bad = 0;
const readme = fs.readFileSync(path.join(pkg, 'README.md'), 'utf8');
for (const m of readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
  const link = m[1];
  if (/^[a-z]+:/i.test(link)) continue;
  if (!fs.existsSync(path.join(pkg, link))) { console.error(`README links to ${link}, which is not in the tarball`); bad++; }
}
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
let maps = 0;
for (const f of walk(path.join(pkg, 'dist')).filter((f) => f.endsWith('.map'))) {
  maps++;
  const map = JSON.parse(fs.readFileSync(f, 'utf8'));
  map.sources.forEach((s, i) => {
    if (map.sourcesContent?.[i] == null && !fs.existsSync(path.resolve(path.dirname(f), map.sourceRoot ?? '', s))) {
      console.error(`${path.relative(pkg, f)} points at ${s}, which is not shipped`);
      bad++;
    }
  });
}
console.log(`tarball: README links and ${maps} source maps checked`);
process.exit(bad ? 1 : 0);
JS

# No compiler anywhere: CC/CXX fail, and npm's bundled node-gyp is replaced by /bin/false.
export CC=/bin/false CXX=/bin/false npm_config_node_gyp=/bin/false
install_into() { # dir, allow|deny (dmabuf's install script), npm args…
  local dir=$1 allow=$2; shift 2
  mkdir -p "$dir"
  # A tarball dependency is approved by its spec (as `npm install-scripts approve` writes it).
  if [[ $allow == allow ]]; then echo "{ \"name\": \"app\", \"private\": true, \"allowScripts\": { \"file:${*: -1}\": true } }" >"$dir/package.json"
  else echo '{ "name": "app", "private": true }' >"$dir/package.json"; fi
  (cd "$dir" && npm install --no-audit --no-fund --foreground-scripts "$@" >"$dir/install.log" 2>&1) ||
    { cat "$dir/install.log" >&2; echo "npm install failed in $dir" >&2; exit 1; }
  cp "$here"/quickstart.cjs "$here"/quickstart.mjs "$dir/"
}

# npm 11 skips a dependency's install script unless allowed; 1 and 3 allow it, 2 does not.
echo '--- 1. install with prebuilds, no compiler, install script allowed'
install_into "$work/app" allow "$tgz"
grep -q "allowScripts" "$work/app/install.log" && { cat "$work/app/install.log"; echo "npm still asks to allow the install script" >&2; exit 1; }
[[ ! -d "$work/app/node_modules/dmabuf/build" ]] || { echo 'install compiled the addon although a prebuild matches' >&2; exit 1; }
(cd "$work/app" && EXPECT_NATIVE=1 node quickstart.cjs && EXPECT_NATIVE=1 node quickstart.mjs)
# Views: the fast path on Node 20 (this host) and 24, Node-API on 22 (its V8 would abort on transfer()).
for v in host 22.23.5 24.22.3; do
  nodebin=node want=node-api
  [[ $v == host ]] || nodebin=$(bash "$repo/ci/node-bin.sh" "$v")
  case $("$nodebin" -p process.versions.modules) in 115 | 137) want=v8 ;; esac
  (cd "$work/app" && "$nodebin" -e "
    const { allocate, capabilities } = require('dmabuf');
    const views = capabilities().views, want = process.argv[1];
    const b = allocate(1 << 20, { exporter: 'memfd' });
    b.mmap()[0] = 1;
    b.close();
    if (views.path !== want) throw new Error(process.version + ': views ' + JSON.stringify(views) + ', expected ' + want);
    console.log(process.version + ': views ' + views.path + (views.why ? ' (' + views.why + ')' : ''));
  " "$want")
done
(cd "$work/app" && npm install --no-audit --no-fund typescript@5 @types/node@20 >/dev/null 2>&1)
cp "$here/consumer.ts" "$work/app/"
cat >"$work/app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "strict": true, "target": "ES2022", "module": "node16", "moduleResolution": "node16",
    "lib": ["ES2022", "esnext.disposable"], "types": ["node"], "outDir": "out" }, "files": ["consumer.ts"] }
JSON
(cd "$work/app" && npx tsc -p . && node out/consumer.js)

echo '--- 1b. the dmabuf command, from the installed package'
app() { (cd "$work/app" && "$@"); }
app npx --no-install dmabuf --help | grep -q '^usage: dmabuf <command>' || { echo 'npx dmabuf --help failed' >&2; exit 1; }
rc=0; app npx --no-install dmabuf doctor --json >"$work/doctor.json" || rc=$?
node -e "
  const r = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')), rc = Number(process.argv[2]);
  if (r.schema !== 1 || !r.native.loaded || rc !== (r.verdict === 'dma-buf' ? 0 : 1)) throw new Error('doctor --json: ' + JSON.stringify({ rc, verdict: r.verdict, native: r.native }));
  console.log('dmabuf doctor --json: exit ' + rc + ', verdict ' + r.verdict + ', auto ' + r.auto);
" "$work/doctor.json" "$rc"
app npx --no-install dmabuf ls --json >"$work/ls.json"
node -e "
  const s = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
  if (s.schema !== 1 || !Array.isArray(s.processes) || !Array.isArray(s.buffers) || !(s.scanned > 0)) throw new Error('ls --json: ' + JSON.stringify(s).slice(0, 200));
  console.log('dmabuf ls --json: ' + s.scanned + ' processes scanned, ' + s.total.buffers + ' dma-bufs');
" "$work/ls.json"
app npx --no-install dmabuf vm --help | grep -q '^usage: dmabuf vm' || { echo 'dmabuf vm --help failed' >&2; exit 1; }
for f in ci/vm/vm.js ci/vm/init.sh ci/vm/README.md; do [[ -f "$work/app/node_modules/dmabuf/$f" ]] || { echo "the package lacks $f (dmabuf vm needs it)" >&2; exit 1; }; done
rc=0; app npx --no-install dmabuf bench 2>"$work/bench.err" || rc=$?
[[ $rc == 2 ]] && grep -q 'not part of the npm package' "$work/bench.err" || { cat "$work/bench.err"; echo "dmabuf bench: expected exit 2 saying the benchmarks are not shipped, got $rc" >&2; exit 1; }
echo 'dmabuf --help, doctor, ls, vm --help and bench (not shipped: exit 2) work from the tarball'

echo '--- 2. install scripts not run (npm 11 default, or --ignore-scripts): the prebuild still loads'
install_into "$work/app-noscripts" deny --ignore-scripts "$tgz"
(cd "$work/app-noscripts" && EXPECT_NATIVE=1 node quickstart.cjs)

echo '--- 3. no prebuild for this machine and no compiler: install succeeds, memory exporter runs'
rm -rf "$pkg/prebuilds"
(cd "$work/unpacked" && tar -czf "$work/noprebuild.tgz" package)
install_into "$work/app-bare" allow "$work/noprebuild.tgz"
grep -q "only the 'memory' exporter is available" "$work/app-bare/install.log" || { cat "$work/app-bare/install.log"; echo 'install did not say the addon is missing' >&2; exit 1; }
(cd "$work/app-bare" && node -e "
  const { allocate, capabilities } = require('dmabuf');
  const c = capabilities();
  if (c.native.loaded || !c.native.error) throw new Error('expected the addon to be missing, with a reason');
  const b = allocate(1 << 20);
  if (b.exporter !== 'memory') throw new Error('auto chose ' + b.exporter);
  b.close();
  console.log('without addon: exporter memory; why: ' + c.native.error.split('\n')[0]);
")
rc=0; (cd "$work/app-bare" && npx --no-install dmabuf doctor >"$work/doctor-bare.txt") || rc=$?
[[ $rc == 1 ]] && grep -q 'only the fallback exporters (memory)' "$work/doctor-bare.txt" || { cat "$work/doctor-bare.txt"; echo "dmabuf doctor without the addon: expected exit 1, got $rc" >&2; exit 1; }
if [[ -n "${DMABUF_TARBALL_OUT:-}" ]]; then cp "$tgz" "$DMABUF_TARBALL_OUT"; fi
echo 'tarball: all checks passed'
