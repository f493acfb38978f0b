#!/usr/bin/env bash
# Builds the Node-API prebuilds shipped in the tarball: prebuilds/linux-arm64 (cross-built
# with Debian's g++-aarch64-linux-gnu) and prebuilds/linux-x64. One file per architecture
# serves Node 20-24 and Electron. x64 goes last so build/Release stays this host's addon.
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
file prebuilds/*/*.node
