#!/usr/bin/env bash
# zonal-fast-server (tests/server/zonal_fast.c, the benchmarks' zonal
# stand-in in C) against gsread: a 64 MiB object read whole, at random
# ranges, vectored (150 ranges: requests of at most 100, pieces interleaved
# across read_ids) and with the engine's read-ahead (many ranges in flight
# on one stream), two processes at once, byte-exact (cmp); the first
# response's metadata as the Python stand-in's (the same `gsread stat`
# output for the same file); NOT_FOUND; --ttfb-ms and --rate as lower
# bounds on the time a read takes, --rate's bursts (a range's first bytes
# at once, as nginx's limit_rate sends them), request messages served one
# after another (each its own first-byte wait) unless --pipeline; and a
# clean exit on SIGTERM (under a sanitizer build its leak check runs then;
# any report fails the test).
#
# Usage: tests/cli/test_zonal_fast.sh path/to/gsread
# ZONAL_FAST: the server (default: tests/zonal-fast-server beside gsread).
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAST=${ZONAL_FAST:-$(dirname "${1:-.}")/tests/zonal-fast-server}
FAST=$(realpath -m "$FAST")
cli_setup zonal-fast "$@"
if [ ! -x "$FAST" ]; then
  fail "no zonal-fast-server at $FAST (built with the tests)"
  tally
  exit 1
fi

zonal_tree $((64 * 1024 * 1024 + 4321))
SIZE=$(wc -c <"$D/obj")

trap 'stop_zonal; cli_cleanup' EXIT
# fast [ARGS...]: (re)starts zonal-fast-server with ARGS.
fast() {
  stop_zonal
  ZONAL_SERVER=$FAST cli_start_zonal "$T/root" "$@"
}
fast
# Every read over gRPC, its metadata from the stream (no JSON server runs).
export STORAGE_EMULATOR_HOST=http://127.0.0.1:9

# same NAME WANT_FILE ARGS...: cat's output is byte-identical to WANT_FILE.
same() {
  local name=$1 want=$2
  shift 2
  if timeout 120 "$BIN" cat --anonymous --grpc "$@" >out 2>"$T/err" && cmp -s out "$want"; then
    pass
  else
    fail "$name: $(head -c 300 "$T/err")"
  fi
}
slice() { head -c $(($1 + $2)) "$D/obj" | tail -c "$2" >"$3"; }

same "cat whole 64 MiB" "$D/obj" "gs://$B/obj"
same "cat small, nested name" "$D/dir/small" "gs://$B/dir/small"
same "cat empty" "$D/empty" "gs://$B/empty"
same "cat --prefetch adaptive 1M (ranges in flight)" "$D/obj" --copy --prefetch adaptive \
  --io-size 1M "gs://$B/obj"

# random ranges, each its own cat; the last one runs to the object's end
for i in 1 2 3 4 5; do
  o=$(((RANDOM * 32768 + RANDOM) % SIZE)) l=$(((RANDOM * 512 + RANDOM) % (9 * 1024 * 1024) + 1))
  [ "$i" -eq 5 ] && l=$((SIZE - o))
  [ $((o + l)) -gt "$SIZE" ] && l=$((SIZE - o))
  slice "$o" "$l" want
  same "cat range $o+$l" want --offset "$o" --length "$l" "gs://$B/obj"
done

# one vectored read of 150 ranges
: >ranges
: >want
for i in $(seq 150); do
  o=$(((i * 7919 * 613 + RANDOM) % (SIZE - 300000))) l=$(((i * 4099) % 270000 + 1))
  echo "$o $l" >>ranges
  slice "$o" "$l" piece
  cat piece >>want
done
same "cat --ranges 150 (vectored)" want --ranges ranges "gs://$B/obj"

# two processes at once: two connections, two server threads
timeout 120 "$BIN" cat --anonymous --grpc "gs://$B/obj" >out1 2>"$T/err1" &
p1=$!
timeout 120 "$BIN" cat --anonymous --grpc --offset 1000000 "gs://$B/obj" >out2 2>"$T/err2" &
p2=$!
wait "$p1" && cmp -s out1 "$D/obj" && pass || fail "concurrent cat 1: $(head -c 300 "$T/err1")"
wait "$p2" && cmp -s out2 <(tail -c +1000001 "$D/obj") && pass ||
  fail "concurrent cat 2: $(head -c 300 "$T/err2")"

# not found: a clear error, nothing written
if timeout 30 "$BIN" cat --anonymous --grpc "gs://$B/nope" >out 2>"$T/err"; then
  fail "missing object: read anyway"
else
  check "missing object: NOT_FOUND" grep -q "NOT_FOUND" "$T/err"
  eq "missing object: no bytes" "$(wc -c <out)" 0
fi

# metadata: gsread stat the same as against the Python stand-in
timeout 30 "$BIN" stat --anonymous --grpc "gs://$B/obj" >st.fast 2>"$T/err"
eq "stat size" "$(awk '$1 == "size:" {print $2}' st.fast)" "$SIZE"
stop_zonal
cli_start_zonal "$T/root"
timeout 30 "$BIN" stat --anonymous --grpc "gs://$B/obj" >st.py 2>"$T/err"
if [ -s st.py ] && cmp -s st.fast st.py; then pass; else
  fail "stat differs from the Python stand-in's: $(diff st.fast st.py | head -c 400)"
fi

# the profile's options, as lower bounds (a busy machine only adds time)
elapsed() { # elapsed CMD...: seconds CMD took (output to out)
  local t0 t1
  t0=$(date +%s%N)
  "$@" >out 2>"$T/err"
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
# (the open's first response, the metadata, waits too, as a metadata GET
# does on the JSON stand-in)
fast --ttfb-ms 700
ms=$(elapsed timeout 30 "$BIN" cat --anonymous --grpc "gs://$B/dir/small")
check "--ttfb-ms 700: bytes right" cmp -s out "$D/dir/small"
check "--ttfb-ms 700: open and a small read took ${ms} ms (>= 1400)" \
  test "$ms" -ge 1400
# --rate paces as the JSON stand-in's nginx does: bursts of 512 KiB, each
# followed by a pause of 512 KiB / RATE, the first at once (8 MiB: 15
# pauses)
fast --rate $((16 * 1024 * 1024))
slice 0 $((8 * 1024 * 1024)) want
ms=$(elapsed timeout 30 "$BIN" cat --anonymous --grpc --length $((8 * 1024 * 1024)) "gs://$B/obj")
check "--rate 16 MiB/s: bytes right" cmp -s out want
check "--rate 16 MiB/s: 8 MiB took ${ms} ms (>= 460)" test "$ms" -ge 460
# a range's first bytes leave when its first-byte wait ends, not a whole
# piece's time at RATE later: at 1 MiB/s, 512 KiB (one burst) comes long
# before the half second its piece's time would be, 2 MiB after 3 pauses
fast --rate $((1024 * 1024))
slice 3000000 $((512 * 1024)) want
ms=$(elapsed timeout 30 "$BIN" cat --anonymous --grpc --offset 3000000 --length $((512 * 1024)) "gs://$B/obj")
check "--rate 1 MiB/s: 512 KiB bytes right" cmp -s out want
check "--rate 1 MiB/s: 512 KiB took ${ms} ms (< 400: one burst, no pause)" test "$ms" -lt 400
slice 3000000 $((2 * 1024 * 1024)) want
ms=$(elapsed timeout 30 "$BIN" cat --anonymous --grpc --offset 3000000 --length $((2 * 1024 * 1024)) "gs://$B/obj")
check "--rate 1 MiB/s: 2 MiB bytes right" cmp -s out want
check "--rate 1 MiB/s: 2 MiB took ${ms} ms (>= 1450: 3 pauses)" test "$ms" -ge 1450

# three request messages sent at once (250 ranges, at most 100 a message):
# served one after another, each after its own first-byte wait, as the
# Python stand-in does; with --pipeline the waits overlap
for i in $(seq 250); do echo "$((i * 30000)) 1000"; done >ranges
for i in $(seq 250); do slice $((i * 30000)) 1000 piece && cat piece; done >want
fast --ttfb-ms 1500
ms=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --ranges ranges "gs://$B/obj")
check "3 messages, serial waits: bytes right" cmp -s out want
check "3 messages, serial waits: took ${ms} ms (>= 6000: open, 3 waits)" \
  test "$ms" -ge 6000
fast --ttfb-ms 1500 --pipeline
ms=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --ranges ranges "gs://$B/obj")
check "--pipeline: bytes right" cmp -s out want
check "--pipeline: took ${ms} ms (>= 3000, < 5000: open, the waits overlap)" \
  test "$ms" -ge 3000 -a "$ms" -lt 5000

# the engine's read-ahead on one stream: each block's request goes out
# while the one before it waits or streams, so their first-byte waits
# overlap (--pipeline). 64 MiB at --concurrency 1 is 4 blocks: after the
# open's 1 s, two rounds of 1 s waits; when a block's request waited for
# the first bytes of the one before it to show (a whole piece), every wait
# came after another: 5 s. The waits are what it takes beyond the same
# read with none (a sanitizer build's transfer is slow).
fast --pipeline
ms0=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --concurrency 1 "gs://$B/obj")
fast --ttfb-ms 1000 --pipeline
ms=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --concurrency 1 "gs://$B/obj")
check "read-ahead, 1 s waits: bytes right" cmp -s out "$D/obj"
check "read-ahead, 1 s waits: open, 4 blocks waited $((ms - ms0)) ms (< 3700: waits overlap)" \
  test $((ms - ms0)) -lt 3700

# a stream opened for a read, the file's metadata known: its ranges go
# with the spec, not a round trip later. 101 MiB (sparse) is read over 2
# streams: two ranges, one on each, the second stream opened for its
# range: after the open's 1 s, 1 s (2 s when it first waited for the
# metadata), beyond the same read with no waits
truncate -s $((101 * 1024 * 1024)) "$D/sparse"
printf '1000000 1000\n90000000 1000\n' >ranges
fast --pipeline
ms0=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --concurrency 2 --ranges ranges "gs://$B/sparse")
fast --ttfb-ms 1000 --pipeline
ms=$(elapsed timeout 60 "$BIN" cat --anonymous --grpc --concurrency 2 --ranges ranges "gs://$B/sparse")
check "second stream, 1 s waits: bytes right" cmp -s out <(head -c 2000 /dev/zero)
check "second stream, 1 s waits: waited $((ms - ms0)) ms (< 2500: ranges with the spec)" \
  test $((ms - ms0)) -lt 2500

# SIGTERM: threads end, memory freed, exit status 0, nothing on stderr
kill "$ZPID"
wait "$ZPID"
eq "exit status on SIGTERM" "$?" 0
ZPID=
check "server stderr empty" test ! -s "$T/zonal.out"
[ -s "$T/zonal.out" ] && head -20 "$T/zonal.out" >&2

tally
