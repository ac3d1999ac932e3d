#!/usr/bin/env bash
# Tests of `gsread cat` against the local GCS server (started here, stopped
# on exit): --stats' bytes_fetched equals the bytes the server sent, and
# no more are sent than --length asks (cat and cat --copy, ranges and the
# whole object); a body 11 bytes longer than asked fails every time, with
# and without --copy, with the length announced or not (chunked); --stats'
# requests equals the server's count of GETs, retries included.
#
# Usage: tests/cli/test_cat_net_cli.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup cat-net-cli "$@"


B=bkt
D=$T/data/$B
mkdir -p "$D"
# Under the 24 MiB past which cat measures one stream against blocks
# (a stream left for blocks is canceled with bytes on their way).
head -c $((20 * 1024 * 1024 + 3)) /dev/urandom >"$D/obj"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$D/small"

start_server
export STORAGE_EMULATOR_HOST=$EP
# Body bytes of the media requests the server logged after line $1.
sent_since() {
  sleep 0.2 # the log line is written as the request ends
  tail -n +$(($1 + 1)) "$T/state/requests.log" |
    grep '"kind":"media"' | grep -o '"body_bytes_sent":[0-9]*' |
    awk -F: '{s += $2} END {print s + 0}'
}

# ---- bytes_fetched against the server's count
# cat_exact NAME WANT ARGS...: the bytes written, --stats' bytes_fetched
# and the server's body bytes are all WANT.
cat_exact() {
  local name=$1 want=$2 from
  shift 2
  from=$(wc -l <"$T/state/requests.log")
  "$BIN" cat --anonymous --stats "$@" >out 2>"$T/err"
  eq "$name: bytes written" "$(wc -c <out)" "$want"
  eq "$name: bytes_fetched" \
    "$(awk '$1 == "bytes_fetched:" {print $2}' "$T/err")" "$want"
  eq "$name: server sent" "$(sent_since "$from")" "$want"
}
for mode in "" --copy; do
  cat_exact "cat $mode 10000000" 10000000 $mode --length 10000000 "gs://$B/obj"
  cat_exact "cat $mode range" 7000000 $mode --offset 1234567 --length 7000000 "gs://$B/obj"
  cat_exact "cat $mode whole" $((20 * 1024 * 1024 + 3)) $mode "gs://$B/obj"
done
cat_exact "cat --copy blocks" 9000000 --copy --prefetch adaptive --io-size 1M \
  --offset 5 --length 9000000 "gs://$B/obj"
head -c $((1234567 + 7000000)) "$D/obj" | tail -c 7000000 >want
"$BIN" cat --anonymous --copy --offset 1234567 --length 7000000 "gs://$B/obj" >out
eq "cat --copy range bytes" "$(cmp -s out want && echo same)" same

# ---- --stats' requests against the server's count of media GETs
# cat_requests NAME FAULT ARGS...: after the knobs FAULT (or "-"), cat's
# requests equals the GETs the server logged, at least MIN of them.
gets_since() {
  sleep 0.2
  tail -n +$(($1 + 1)) "$T/state/requests.log" |
    grep '"kind":"media"' | grep -c '"method":"GET"'
}
cat_requests() {
  local name=$1 fault=$2 min=$3 from got
  shift 3
  ctl reset
  [ "$fault" = - ] || ctl "config?$fault"
  from=$(wc -l <"$T/state/requests.log")
  "$BIN" cat --anonymous --stats "$@" >out 2>"$T/err"
  got=$(awk '$1 == "requests:" {print $2}' "$T/err")
  eq "$name: requests = the server's GETs" "$got" "$(gets_since "$from")"
  check "$name: at least $min requests" test "${got:-0}" -ge "$min"
}
printf '17 100000\n6291473 100000\n12582929 100000\n' >ranges.txt
for fault in - fault_kind=status\&fault_next=2 fault_kind=cut\&fault_next=1; do
  n=0
  [ "$fault" = - ] || n=1
  cat_requests "cat ($fault)" "$fault" $((1 + n)) --length 3000000 "gs://$B/obj"
  cat_requests "cat --copy ($fault)" "$fault" $((1 + n)) --copy --prefetch off \
    --offset 5 --length 12000000 "gs://$B/obj"
  cat_requests "cat --ranges ($fault)" "$fault" $((3 + n)) --ranges ranges.txt \
    "gs://$B/obj"
done
ctl reset

# ---- cat --trace --cache X: the cache's requests alone (fsspec's), the
# same as with --prefetch off, on every run; --prefetch adaptive stacks.
ranges_since() {
  sleep 0.2
  tail -n +$(($1 + 1)) "$T/state/requests.log" | grep '"kind":"media"' |
    grep -o '"range":"[^"]*"' | tr '\n' ' '
}
awk 'BEGIN { for (i = 0; i < 256; i++) print i * 65536, 65536;
             for (i = 0; i < 40; i++) print 3000000 + i * 100000, 100000 }' >trace.txt
for cache in readahead readahead_chunked; do
  from=$(wc -l <"$T/state/requests.log")
  "$BIN" cat --anonymous --trace trace.txt --cache $cache --prefetch off \
    "gs://$B/obj" >want
  ref=$(ranges_since "$from")
  same=0
  for i in 1 2 3; do
    from=$(wc -l <"$T/state/requests.log")
    "$BIN" cat --anonymous --trace trace.txt --cache $cache "gs://$B/obj" >out
    [ "$(ranges_since "$from")" = "$ref" ] && cmp -s out want && same=$((same + 1))
  done
  eq "cat --trace --cache $cache: runs with the cache's requests alone" "$same" 3
  from=$(wc -l <"$T/state/requests.log")
  "$BIN" cat --anonymous --trace trace.txt --cache $cache --prefetch adaptive \
    "gs://$B/obj" >out
  check "cat --trace --cache $cache --prefetch adaptive: stacked" \
    test "$(ranges_since "$from")" != "$ref"
done

# ---- a body 11 bytes longer than asked: an error every time
for length in true none; do
  ctl reset
  ctl "config?fault_kind=long&fault_ratio=1&long_extra=11&long_length=$length"
  for mode in "" --copy; do
    bad=0 msg=0
    for i in $(seq 50); do
      if "$BIN" cat --anonymous $mode "gs://$B/small" >/dev/null 2>"$T/err"; then
        bad=$((bad + 1))
      fi
      grep -q 'server sent 11 bytes more than the [0-9]* asked' "$T/err" ||
        msg=$((msg + 1))
    done
    eq "long ($length) cat $mode: runs that succeeded" "$bad" 0
    eq "long ($length) cat $mode: runs without the message" "$msg" 0
  done
done
ctl reset

tally
