#!/usr/bin/env bash
# The gsread tool against a hostile server (tests/server/evil-server,
# started here on 127.0.0.1, stopped on exit) and a few hostile inputs.
# Every case ends in bounded time with a clear message:
#  - listings whose nextPageToken repeats (the same, or a cycle): ls,
#    cp -r and ls through the mount stop with an error instead of listing
#    for ever (needs /dev/fuse and fuse3, as cli_mount);
#  - a listing page of 6 MiB: refused, not parsed (json-c holds ~30x);
#  - endless error bodies: read up to the text kept, then the error;
#  - a token endpoint that echoes the request's secrets: never printed;
#    one that says expires_in 1e17 or 2^63-1: one token for the run;
#  - STORAGE_EMULATOR_HOST: no credentials of the environment sent to it;
#  - --trace and --ranges of /dev/zero: a line too long, at once;
#  - --request-timeout: accepted and applied;
#  - --concurrency 256 with --max-connections 1: one connection (the local
#    GCS server, tests/server/gcs-server).
#
# Usage: tests/cli/test_evil_cli.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup evil-cli "$@"
EVIL=$(cd "$CLI_LIB_DIR/../server" && pwd)/evil-server

evil_pid=
MPID=
M=$T/mnt
mounted() { grep -qF " $M fuse.gsread " /proc/self/mounts; }
stop_evil() {
  # Nothing stays mounted, no daemon or server stays behind.
  if mounted 2>/dev/null; then
    timeout 10 "$BIN" unmount "$M" 2>/dev/null || fusermount3 -u -z "$M" 2>/dev/null
  fi
  if [ -n "$MPID" ]; then kill -KILL "$MPID" 2>/dev/null; fi
  if [ -n "$evil_pid" ]; then kill "$evil_pid" 2>/dev/null; wait "$evil_pid" 2>/dev/null; fi
  cli_cleanup
}
trap stop_evil EXIT
/usr/bin/python3 "$EVIL" --port-file "$T/evil.port" --log "$T/evil.log" \
  --max-seconds 280 &
evil_pid=$!
for _ in $(seq 100); do [ -s "$T/evil.port" ] && break; sleep 0.1; done
if [ ! -s "$T/evil.port" ]; then
  fail "evil-server start"
  tally
  exit 1
fi
EV=$(cat "$T/evil.port")
G=(timeout 20 "$BIN")
# Lines of the evil server's log that match a pattern.
logged() { grep -c -- "$1" "$T/evil.log"; }

# ---- repeated page tokens (#27 item 7)
for b in sametoken cycletoken; do
  rc=0; "${G[@]}" ls --endpoint "$EV" "gs://$b/" >"$T/out" 2>"$T/err" || rc=$?
  eq "ls of a listing whose token repeats ($b) exits 1" "$rc" 1
  check "... saying the token came again" \
    grep -q 'the server sent a page token again after [23] pages (the listing would never end)' "$T/err"
  check "... after printing at most 3 lines" test "$(wc -l <"$T/out")" -le 3
done
mkdir -p "$T/cpdir"
rc=0; "${G[@]}" cp -r -q --endpoint "$EV" gs://sametoken/ "$T/cpdir" 2>"$T/err" || rc=$?
eq "cp -r of a listing whose token repeats exits 1" "$rc" 1
check "... saying the token came again" grep -q 'sent a page token again' "$T/err"
rc=0; "${G[@]}" ls --endpoint "$EV" gs://twopages/ >"$T/out" 2>"$T/err" || rc=$?
eq "ls of two honest pages exits 0" "$rc 2" "0 $(wc -l <"$T/out")"

# Through the mount: ls of a directory whose listing repeats its token
# fails (it hung in D state), and SIGTERM then ends the daemon.
mkdir -p "$M"
timeout 60 "$BIN" mount -f --endpoint "$EV" gs://mixed "$M" 2>"$T/mount.log" &
MPID=$!
for _ in $(seq 100); do mounted && break; sleep 0.1; done
check "mount of a bucket with a looping directory" mounted
rc=0; timeout 20 ls "$M/loop" >/dev/null 2>"$T/err" || rc=$?
eq "ls through the mount of a looping directory fails (EIO)" "$rc" 2
check "... the mount's log says why" grep -q 'sent a page token again' "$T/mount.log"
kill -TERM "$MPID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
check "... and SIGTERM ends the daemon" sh -c "! kill -0 $MPID 2>/dev/null"
wait "$MPID" 2>/dev/null
MPID=

# ---- a huge listing page (#27 item 11)
rc=0; "${G[@]}" ls --endpoint "$EV" gs://hugepage/ >"$T/out" 2>"$T/err" || rc=$?
eq "ls of a 6 MiB listing page exits 1" "$rc" 1
check "... saying the page is too large" grep -q 'response larger than 4194304 bytes' "$T/err"
check "... printing nothing" test ! -s "$T/out"

# ---- endless error bodies (#27 item 8): the status, at once
rc=0; "${G[@]}" stat --endpoint "$EV" gs://endless/obj >/dev/null 2>"$T/err" || rc=$?
eq "stat of an object whose 403 body never ends exits 1" "$rc" 1
check "... saying HTTP 403" grep -q 'HTTP 403' "$T/err"
rc=0; "${G[@]}" ls --endpoint "$EV" gs://endless/ >/dev/null 2>"$T/err" || rc=$?
eq "ls whose 403 body never ends exits 1" "$rc" 1
rc=0; "${G[@]}" cat "$EV/http/endless403/obj" >/dev/null 2>"$T/err" || rc=$?
eq "cat of an http object whose 403 body never ends exits 1" "$rc" 1
check "... saying HTTP 403" grep -q 'HTTP 403' "$T/err"

# ---- a token endpoint that echoes the request's secrets (#27 item 12)
SECRET=s3cr3t-client-secret-value-0123
REFRESH=1//r3fr3sh-token-value-4567
cat >"$T/user.json" <<EOF
{"type":"authorized_user","client_id":"evil-client-id",
 "client_secret":"$SECRET","refresh_token":"$REFRESH"}
EOF
rc=0; GOOGLE_APPLICATION_CREDENTIALS=$T/user.json GSREAD_TOKEN_URI=$EV/token/echo \
  "${G[@]}" ls --endpoint "$EV" gs://twopages/ >/dev/null 2>"$T/err" || rc=$?
eq "ls with a token endpoint that echoes secrets exits 1" "$rc" 1
check "... saying HTTP 400" grep -q 'HTTP 400' "$T/err"
check "... and that the text is left out" grep -q 'repeats the request.s credentials' "$T/err"
check "... never printing the client secret" sh -c "! grep -q -e 's3cr3t-client' -e 'value-0123' '$T/err'"
check "... nor the refresh token" sh -c "! grep -q -e 'r3fr3sh' -e 'value-4567' '$T/err'"

# ---- a token that says it lives for ever (#27 item 13): fetched once, not
# before every request (a signed overflow made it born expired).
for mode in huge max; do
  before=$(logged "POST /token/")
  sent=$(logged 'GET /storage/v1/b/twopages/o.*auth=Bearer tok-evil')
  rc=0; GOOGLE_APPLICATION_CREDENTIALS=$T/user.json GSREAD_TOKEN_URI=$EV/token/$mode \
    "${G[@]}" ls --endpoint "$EV" gs://twopages/ >"$T/out" 2>"$T/err" || rc=$?
  eq "ls with expires_in $mode exits 0" "$rc" 0
  eq "... one token for its two pages" "$(($(logged "POST /token/") - before))" 1
  eq "... both pages sent it" \
    "$(($(logged 'GET /storage/v1/b/twopages/o.*auth=Bearer tok-evil') - sent))" 2
done

# ---- STORAGE_EMULATOR_HOST: anonymous (#27 item 15)
before=$(logged "auth=Bearer")
rc=0; STORAGE_EMULATOR_HOST=$EV GSREAD_ACCESS_TOKEN=sekrit-env-token \
  "${G[@]}" ls gs://twopages/ >/dev/null 2>"$T/err" || rc=$?
eq "ls on an emulator with GSREAD_ACCESS_TOKEN set exits 0" "$rc" 0
eq "... sending no token" "$(logged "auth=Bearer")" "$before"
rc=0; STORAGE_EMULATOR_HOST=$EV GOOGLE_APPLICATION_CREDENTIALS=$T/user.json \
  GSREAD_TOKEN_URI=$EV/token/huge "${G[@]}" ls gs://twopages/ >/dev/null 2>"$T/err" || rc=$?
eq "ls on an emulator with a credentials file exits 0" "$rc 0" "0 $(($(logged "auth=Bearer") - before))"
rc=0; STORAGE_EMULATOR_HOST=$EV GSREAD_ACCESS_TOKEN=sekrit-env-token \
  "${G[@]}" auth >"$T/out" 2>"$T/err" || rc=$?
check "gsread auth on an emulator says anonymous" grep -q '^kind: *anonymous$' "$T/out"
check "... because of STORAGE_EMULATOR_HOST" grep -q '^source: *STORAGE_EMULATOR_HOST$' "$T/out"
# --endpoint is not an emulator: the chain's token goes (as documented).
rc=0; GSREAD_ACCESS_TOKEN=sekrit-env-token "${G[@]}" ls --endpoint "$EV" gs://twopages/ \
  >/dev/null 2>"$T/err" || rc=$?
eq "ls --endpoint with GSREAD_ACCESS_TOKEN sends it" "$rc $(logged 'auth=Bearer sekrit-env-token')" "0 2"

# ---- lines without end (#27 item 14)
for opt in --trace --ranges; do
  rc=0; "${G[@]}" cat "$opt" /dev/zero "$EV/http/ok/obj" >/dev/null 2>"$T/err" || rc=$?
  eq "cat $opt /dev/zero is a usage error" "$rc" 2
  check "... saying the line is too long" grep -q '/dev/zero:1: line longer than 4096 bytes' "$T/err"
done
printf '0 10\n%05000d 1\n' 0 >"$T/long.trace"
rc=0; "${G[@]}" cat --trace "$T/long.trace" "$EV/http/ok/obj" >/dev/null 2>"$T/err" || rc=$?
eq "cat --trace with a 5 KB line 2 is a usage error" "$rc" 2
check "... naming line 2" grep -q 'long.trace:2: line longer than 4096 bytes' "$T/err"
printf '0 10\n# %04090d\n10 5\n' 0 >"$T/ok.trace" # a 4096-byte comment line
rc=0; "${G[@]}" cat --trace "$T/ok.trace" "$EV/http/ok/obj" >"$T/out" 2>"$T/err" || rc=$?
eq "cat --trace with a 4096-byte line exits 0" "$rc $(wc -c <"$T/out")" "0 15"

# ---- --request-timeout (#27 item 9): each attempt cut at the limit
rc=0; timeout 8 "$BIN" cat --debug --request-timeout 1000 --stall-timeout 100000 \
  "$EV/http/trickle/obj" >/dev/null 2>"$T/err" || rc=$?
check "cat --request-timeout 1000 retries an attempt cut at 1 s" \
  grep -q 'retry in .*Operation timed out after 1[0-9][0-9][0-9] milliseconds' "$T/err"
rc=0; "${G[@]}" cat --request-timeout -1 "$EV/http/ok/obj" >/dev/null 2>"$T/err" || rc=$?
eq "--request-timeout -1 is a usage error" "$rc" 2
check "cat --help shows --request-timeout" \
  sh -c "'$BIN' cat --help | grep -q -- '--request-timeout MS .*0: no limit'"

# ---- the width is capped at the pool (#27 item 19)
mkdir -p "$T/data/bkt"
head -c $((16 << 20)) /dev/urandom >"$T/data/bkt/big"
start_server
rc=0; STORAGE_EMULATOR_HOST=$EP "${G[@]}" cat --stats --concurrency 256 \
  --max-connections 1 --min-part-size 64K gs://bkt/big >"$T/out" 2>"$T/err" || rc=$?
eq "cat --concurrency 256 --max-connections 1 exits 0" "$rc" 0
check "... with the bytes" cmp -s "$T/out" "$T/data/bkt/big"
eq "... on one connection" "$(sed -n 's/^connections: *//p' "$T/err")" 1

tally
