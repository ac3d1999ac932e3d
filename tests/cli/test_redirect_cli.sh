#!/usr/bin/env bash
# Redirects through the CLI, against the local server's redirector
# (docs/server.md): cat, cat of a range, stat and cp follow a chain of 3
# byte-exact, stat shows the final URL's ETag; a loop and 6 hops fail
# naming the hops; --no-follow fails showing the status and the Location;
# gs:// never follows; --help documents --no-follow.
#
# Usage: tests/cli/test_redirect_cli.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup redirect-cli "$@"

has() { grep -qF -- "$2" "$1"; }

mkdir -p data/bkt
head -c $((3 * 1024 * 1024 + 5)) /dev/urandom >data/bkt/obj
start_server
G=("$BIN")
R=$EP/redirect
FINAL=$EP/http/bkt/obj

# ---- a chain of 3 is followed
rc=0; "${G[@]}" cat "$R/301/3/http/bkt/obj" >out 2>"$T/err" || rc=$?
eq "cat through 3 redirects: exit" "$rc" 0
check "cat through 3 redirects: bytes" cmp -s out data/bkt/obj
rc=0; "${G[@]}" cat --copy --offset 1000000 --length 70000 "$R/302/3/http/bkt/obj" >out 2>"$T/err" || rc=$?
eq "cat range through 3 redirects: exit" "$rc" 0
check "cat range through 3 redirects: bytes" cmp -s out <(tail -c +1000001 data/bkt/obj | head -c 70000)
rc=0; "${G[@]}" cp -q "$R/307/3/http/bkt/obj" copy 2>"$T/err" || rc=$?
eq "cp through 3 redirects: exit" "$rc" 0
check "cp through 3 redirects: bytes" cmp -s copy data/bkt/obj
"${G[@]}" stat --json "$FINAL" >final.json 2>"$T/err"
"${G[@]}" stat --json "$R/308/3/http/bkt/obj" >redirected.json 2>"$T/err"
etag() { sed -n 's/.*"etag":"\(\([^"\\]\|\\.\)*\)".*/\1/p' "$1"; }
check "stat: the final URL has an ETag" test -n "$(etag final.json)"
eq "stat through 3 redirects: the final URL's ETag" "$(etag redirected.json)" "$(etag final.json)"

# ---- a loop, and one hop too many, fail naming the hops
rc=0; "${G[@]}" cat "$R/302/loop/http/bkt/obj" >out 2>"$T/err" || rc=$?
eq "loop: exit" "$rc" 1
check "loop: says so" has "$T/err" "redirect loop"
check "loop: names the hops" has "$T/err" "/302/loop/http/bkt/obj -> $R/302/loop-b/http/bkt/obj -> "
rc=0; "${G[@]}" stat "$R/302/6/http/bkt/obj" >out 2>"$T/err" || rc=$?
eq "6 hops: exit" "$rc" 1
check "6 hops: too many" has "$T/err" "too many redirects (more than 5)"
check "6 hops: names them" has "$T/err" "/302/1/http/bkt/obj -> "

# ---- --no-follow: today's behaviour, with the Location
rc=0; "${G[@]}" cat --no-follow "$R/301/3/http/bkt/obj" >out 2>"$T/err" || rc=$?
eq "--no-follow: exit" "$rc" 1
check "--no-follow: status and Location" has "$T/err" "HTTP 301: redirect to $R/301/2/http/bkt/obj (not followed)"
check "--no-follow: nothing written" test ! -s out
rc=0; "${G[@]}" cp -q --no-follow "$R/301/1/http/bkt/obj" nf 2>"$T/err" || rc=$?
eq "cp --no-follow: exit" "$rc" 1
check "cp --no-follow: no file" test ! -e nf
rc=0; "${G[@]}" cat --no-follow "$FINAL" >out 2>"$T/err" || rc=$?
eq "--no-follow without a redirect: exit" "$rc" 0

# ---- gs:// never follows (the redirect fault sends media requests to
# localhost:PORT); the message shows the Location
curl -s "$EP/_control/config?fault_kind=redirect&fault_next=1" >/dev/null
rc=0; STORAGE_EMULATOR_HOST=$EP "${G[@]}" cat gs://bkt/obj >out 2>"$T/err" || rc=$?
eq "gs:// redirect: exit" "$rc" 1
check "gs:// redirect: not followed" has "$T/err" "HTTP 307: redirect to http://localhost:"
check "gs:// redirect: nothing asked of the other host" test -z "$(grep '"host":"localhost' "$T/state/requests.log")"

# ---- help
for c in cat cp stat bench; do
  "${G[@]}" "$c" --help >help 2>&1
  check "$c --help shows --no-follow" has help "--no-follow"
done
"${G[@]}" --help >help 2>&1
check "--help: redirects are followed" has help "(redirects followed, up to 5, unless --no-follow)"

tally
