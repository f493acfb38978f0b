#!/usr/bin/env bash
# npm run test:asan: the host suite against the addon built with AddressSanitizer and
# UndefinedBehaviorSanitizer (binding.gyp, -Ddmabuf_sanitize=1). Everything lives in build/asan/: its
# own gyp build, and a copy of dist/ whose loader (../../../build/Release from
# dist/lib/platform) finds that addon. The normal build/Release is never touched, so no
# other run can load the sanitized addon by accident. The V8 fast path for views
# (dmabuf-v8-abi<N>.so, binding.gyp) is built there too, sanitized, and the suite runs with it.
#
# node itself is not instrumented, so the ASan runtime is preloaded (it must come first).
# detect_leaks=0: V8 and Node do not free everything at exit. Every report goes to a log
# file (children the tests spawn inherit all this); any report, or a failed test, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/build/asan

libasan=$(gcc -print-file-name=libasan.so)
if [[ ! -e $libasan ]]; then
  echo "test:asan: gcc has no libasan.so (install g++, which brings libasan and libubsan)" >&2
  exit 1
fi

npx tsc -p .
mkdir -p "$WORK"
cp binding.gyp .mocharc.json "$WORK/"
# The rest of the tree as it is (tests read sources, the README, fixtures): symlinks.
for f in *; do
  case $f in build | dist | binding.gyp) ;; *) ln -sfn "../../$f" "$WORK/$f" ;; esac
done
(cd "$WORK" && npx node-gyp configure -- -Ddmabuf_sanitize=1 >/dev/null && npx node-gyp build >/dev/null)
rm -rf "$WORK/dist"
cp -r dist "$WORK/dist"

logs=$(mktemp -d)
chmod 1777 "$logs" # a test runs a child as uid 65534
trap 'rm -rf "$logs"' EXIT

status=0
(
  cd "$WORK"
  export LD_PRELOAD=$libasan
  export DMABUF_SANITIZED=1 # tests that bound RSS loosen that bound
  export ASAN_OPTIONS="detect_leaks=0:log_path=$logs/asan:log_exe_name=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export DMABUF_UBSAN_LOG=$logs/ubsan # native/sanitize.cc: libubsan ignores UBSAN_OPTIONS' log_path here
  node node_modules/mocha/bin/mocha.js
) || status=$?

reports=("$logs"/*)
if [[ -e ${reports[0]} ]]; then
  echo "test:asan: ${#reports[@]} sanitizer report(s):" >&2
  for r in "${reports[@]}"; do
    echo "--- $r" >&2
    cat "$r" >&2
  done
  exit 1
fi
if ((status != 0)); then
  echo "test:asan: the suite failed under the sanitizers (exit $status)" >&2
  exit "$status"
fi
echo "test:asan: no sanitizer reports"
