#!/usr/bin/env bash
# The arm64 leg (npm run test:kernel:arm64), one boot of Debian's 16 KiB-page arm64 kernel
# under QEMU (ci/vm, --arch arm64):
#  1. the arm64 suite (ci/mocharc.kernel-arm64.json) against prebuilds/linux-arm64, which is
#     cross-built first when it is missing or older than the native sources;
#  2. the packed tarball, installed on the host into .arm64-app/ with --ignore-scripts (the
#     guest has no network; the files are the same on every architecture), runs the quick
#     start and a udmabuf round trip in the guest, without PREBUILDS_ONLY.
# Expects dist/ to be built (tsc -p .). Prints the leg's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

addon=prebuilds/linux-arm64/dmabuf.node
if [[ ! -f $addon || -n "$(find native binding.gyp -newer "$addon" -print -quit)" ]]; then
  echo "arm64: $addon is missing or older than native/; npm run prebuilds"
  npm run prebuilds
fi

app=.arm64-app
rm -rf "$app" && mkdir -p "$app"
tgz=$(cd "$app" && npm pack --ignore-scripts --silent .. | tail -1)
echo '{ "name": "arm64-app", "private": true }' >"$app/package.json"
(cd "$app" && npm install --ignore-scripts --no-audit --no-fund --silent "./$tgz")
cp ci/tarball/quickstart.cjs ci/tarball/quickstart-kernel.cjs "$app/"

status=0
# 36.properties: fewer random sequences than on x86-64 (1000), as emulated arm64 is slower.
DMABUF_REQUIRE_EXPORTERS=udmabuf DMABUF_FC_KERNEL_RUNS=${DMABUF_FC_KERNEL_RUNS:-200} node ci/vm/vm.js --arch arm64 -- sh -c '
  node node_modules/mocha/bin/mocha.js --config ci/mocharc.kernel-arm64.json; suite=$?
  echo "--- the installed tarball ($0)"
  cd "$0" && env -u PREBUILDS_ONLY EXPECT_NATIVE=1 node quickstart.cjs && env -u PREBUILDS_ONLY node quickstart-kernel.cjs; app=$?
  [ "$suite" = 0 ] && exit "$app"; exit "$suite"' "$app" || status=$?
echo "arm64 leg: $((SECONDS - start)) s, exit $status"
exit "$status"
