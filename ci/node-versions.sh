#!/usr/bin/env bash
# The host suite under every Node line the package supports besides the machine's own:
# Node 22 (ArrayBuffer.prototype.transfer on by default) and Node 24, from the npm registry.
# The same Node-API addon and compiled JS serve all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
for v in 22.23.5 24.22.3; do
  node_bin=$(bash ci/node-bin.sh "$v")
  echo "=== host suite on Node $("$node_bin" --version) ==="
  "$node_bin" node_modules/mocha/bin/mocha.js --reporter dot
done
