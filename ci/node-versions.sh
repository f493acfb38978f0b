#!/usr/bin/env bash
# The host suite under every Node line the package supports besides the machine's own:
# Node 22 (ArrayBuffer.prototype.transfer on by default) and Node 24, from the npm registry.
# The same Node-API addon and compiled JS serve all of them. Views: Node 24 gets the V8 fast
# path (built here for its ABI, beside the addon in build/Release), where transfer() of a view
# throws a TypeError; Node 22 has none (its V8 would abort on that transfer()), so its views
# are Node-API's.
set -euo pipefail
cd "$(dirname "$0")/.."
for v in 22.23.5 24.22.3; do
  node_bin=$(bash ci/node-bin.sh "$v")
  if [[ $v == 24.* && -f build/Release/dmabuf.node ]]; then
    bash scripts/build-v8-views.sh "$(dirname "$node_bin")/.." build/Release >/dev/null
  fi
  echo "=== host suite on Node $("$node_bin" --version) ($("$node_bin" -p "'views: ' + require('./dist/lib').capabilities().views.path")) ==="
  "$node_bin" node_modules/mocha/bin/mocha.js --reporter dot
done
