#!/usr/bin/env bash
# Builds the Node-API prebuilds shipped in the tarball: prebuilds/linux-arm64 (cross-built
# with Debian's g++-aarch64-linux-gnu) and prebuilds/linux-x64. One file per architecture
# serves Node 20-24 and Electron. x64 goes last so build/Release stays this host's addon.
# Beside each, the optional V8 fast path for views, one file per Node ABI (below).
set -euo pipefail
cd "$(dirname "$0")/.."
# (Named "prebuilds", not "prebuild": npm would run a "prebuild" script before every "npm run build".)

# Build against the running Node's own headers: no download (node-gyp would fetch them).
nodedir=$(node -p "require('path').resolve(process.execPath, '../..')")
if [[ -z "${npm_config_nodedir:-}" && -f "$nodedir/include/node/node_api.h" ]]; then export npm_config_nodedir=$nodedir; fi

if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  apt-get update
  apt-get install -y --no-install-recommends g++-aarch64-linux-gnu
fi

CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  npx prebuildify --napi --strip --strip-bin aarch64-linux-gnu-strip --arch arm64
npx prebuildify --napi --strip --arch x64

# The V8 fast path for views (docs/ARCHITECTURE.md, Views): one file per Node ABI, beside each
# prebuild, as dmabuf-v8-abi<NODE_MODULE_VERSION>.so. Node 20 (the host's headers, or the npm
# package's) and Node 24; not Node 22, whose V8 aborts when transfer() meets a fast-path view
# (install() would refuse it). The x64 package's headers serve arm64 too.
node20=$nodedir
[[ $(node -p process.versions.modules) == 115 && -f $node20/include/node/v8.h ]] ||
  node20=$(dirname "$(dirname "$(bash ci/node-bin.sh 20.20.2)")")
node24=$(dirname "$(dirname "$(bash ci/node-bin.sh 24.22.3)")")
for headers in "$node20" "$node24"; do
  bash scripts/build-v8-views.sh "$headers" prebuilds/linux-x64 x64 >/dev/null
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
    bash scripts/build-v8-views.sh "$headers" prebuilds/linux-arm64 arm64 >/dev/null
done
strip prebuilds/linux-x64/dmabuf-v8-abi*.so
aarch64-linux-gnu-strip prebuilds/linux-arm64/dmabuf-v8-abi*.so
file prebuilds/*/*.node prebuilds/*/*.so
