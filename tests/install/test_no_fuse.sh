#!/usr/bin/env bash
# A build on a machine without fuse3 (pkg-config shown every module but
# fuse3): it configures and builds the CLI, and `gsread mount` and
# `gsread unmount` say it was built without FUSE and how to get it.
# Usage: test_no_fuse.sh SOURCE_DIR
set -euo pipefail
SRC=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d /tmp/gsread-nofuse-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $*"; fi; }

"$HERE/pc_without.sh" "$TMP/pc" fuse3
export PKG_CONFIG_LIBDIR=$TMP/pc
cmake -S "$SRC" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release -DGSR_BUILD_TESTS=OFF \
  >"$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; exit 1; }
check grep -q "gsread mount: not built (no fuse3" "$TMP/configure.log"
cmake --build "$TMP/build" --target gsread_cli --parallel >"$TMP/build.log" 2>&1 ||
  { tail -50 "$TMP/build.log"; exit 1; }
G=$TMP/build/gsread
check test -x "$G"
check sh -c "! ldd '$G' | grep -q libfuse3"
set +e
out=$("$G" mount gs://bkt/prefix "$TMP/mnt" 2>&1); rc=$?
set -e
check test "$rc" = 1
check grep -q "built without FUSE" <<<"$out"
check grep -q "libfuse3-dev" <<<"$out"
set +e
out=$("$G" unmount "$TMP/mnt" 2>&1); rc=$?
set -e
check test "$rc" = 1
check grep -q "built without FUSE" <<<"$out"
check sh -c "'$G' --help | grep -q 'mount'"
check sh -c "'$G' stat '$TMP/configure.log' >/dev/null"  # the rest works
echo "no-fuse build: $pass passed, $fail failed"
[ "$fail" = 0 ]
