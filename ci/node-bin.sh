#!/usr/bin/env bash
# Prints the path of a Node binary taken from the npm registry (packages node-linux-<arch>),
# downloading it once into a per-user cache: ci/node-bin.sh <version> [x64|arm64]
set -euo pipefail
version=$1 arch=${2:-x64}
cache=${DMABUF_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dmabuf/node}
dir="$cache/node-linux-$arch-$version"
if [[ ! -x "$dir/bin/node" ]]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.dl.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null && tar -xzf node-linux-*.tgz)
  rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
fi
echo "$dir/bin/node"
