#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds a small program
# against it twice: with pkg-config and with CMake's find_package. Both
# programs read a local file through the installed library.
# Usage: test_install.sh BUILD_DIR
set -euo pipefail
BUILD=$1
TMP=$(mktemp -d /tmp/gsread-install-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $*"; fi; }

cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
check test -f "$TMP/prefix/include/gsread.h"
check test -x "$TMP/prefix/bin/gsread"
# mount(8)'s helper: a link to the tool, in sbin.
check test "$(readlink "$TMP/prefix/sbin/mount.gsread")" = "$TMP/prefix/bin/gsread"
LIBDIR=$(dirname "$(find "$TMP/prefix" -name gsread.pc | head -1)")/..

cat > "$TMP/main.c" <<'C'
#include <gsread.h>
#include <stdio.h>
int main(int argc, char **argv) {
  gsr_client *c;
  gsr_file f;
  char buf[64];
  if (gsr_client_new(NULL, &c) != GSR_OK) return 1;
  if (gsr_open(c, argv[1], NULL, &f) != GSR_OK) return 2;
  int64_t n = gsr_read(f, buf, sizeof buf);
  gsr_close(f);
  gsr_client_free(c);
  printf("%lld %s\n", (long long)n, gsr_version());
  return n == 5 ? 0 : 3;
}
C
printf 'hello' > "$TMP/hello.txt"

export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
check cc -o "$TMP/with-pc" "$TMP/main.c" $(pkg-config --cflags --libs gsread) \
  -Wl,-rpath,"$LIBDIR"
check "$TMP/with-pc" "$TMP/hello.txt"

mkdir -p "$TMP/proj"
cp "$TMP/main.c" "$TMP/proj/main.c"
cat > "$TMP/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(gsread REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE gsread::gsread)
CM
check cmake -S "$TMP/proj" -B "$TMP/proj/build" -DCMAKE_PREFIX_PATH="$TMP/prefix" \
  -DCMAKE_BUILD_RPATH="$LIBDIR" -G Ninja >/dev/null
check cmake --build "$TMP/proj/build" >/dev/null
check "$TMP/proj/build/consumer" "$TMP/hello.txt"
check "$TMP/prefix/bin/gsread" --version
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
