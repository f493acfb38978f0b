#!/usr/bin/env bash
# Builds only the V8 fast path for views (binding.gyp target dmabuf_v8, native/v8/) against
# the Node headers in <nodedir>/include/node, and copies dmabuf-v8-abi<N>.so into <dest>:
#   scripts/build-v8-views.sh <nodedir> <dest> [x64|arm64]
# In a scratch directory, so build/ (this host's addon) is never touched. For arm64 set
# CC, CXX and LINK to the cross compilers (scripts/prebuild.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
nodedir=$(realpath "$1") dest=$2 arch=${3:-x64}
work=$(mktemp -d "${TMPDIR:-/tmp}/dmabuf-v8.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp binding.gyp "$work/"
ln -s "$PWD/native" "$work/native"
ln -s "$PWD/node_modules" "$work/node_modules"
(
  cd "$work"
  # npm_config_nodedir too: npm may set it (to /usr), and it would win over --nodedir.
  npm_config_nodedir=$nodedir npx node-gyp configure --nodedir="$nodedir" --arch="$arch" >/dev/null 2>&1
  make -C build -j2 BUILDTYPE=Release dmabuf_v8 >/dev/null
)
mkdir -p "$dest"
out=("$work"/build/Release/dmabuf-v8-abi*.so)
[[ -e ${out[0]} ]] || { echo "build-v8-views: nothing built for $nodedir" >&2; exit 1; }
cp "${out[@]}" "$dest/"
basename "${out[@]}"
