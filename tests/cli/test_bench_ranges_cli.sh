#!/usr/bin/env bash
# gsread bench --ranges FILE, against the local server (unshaped) and a
# local file: every --ranges-mode reports its fields and every byte asked;
# on a clustered pattern the vectored read sends far fewer requests than
# one gsr_pread per range, and the server's log agrees with the counts;
# pread modes send one request per range, get-per-range one connection's
# worth each (concurrency 1); rounds and --batch are as documented; bad
# values are usage errors.
#
# Usage: tests/cli/test_bench_ranges_cli.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup bench-ranges-cli "$@"

has() { grep -qF -- "$2" "$1"; }
# num FILE KEY: the number KEY has in the one JSON object in FILE.
num() { sed -n "s/.*\"$2\":\\([0-9.]*\\).*/\\1/p" "$1"; }
# media requests the server has logged so far (a line is written as its
# request ends: wait until the count stops moving).
media() {
  local a b
  b=$(grep -c '"kind":"media"' "$T/state/requests.log")
  while :; do
    sleep 0.2
    a=$b
    b=$(grep -c '"kind":"media"' "$T/state/requests.log")
    [ "$a" = "$b" ] && break
  done
  echo "$b"
}

SIZE=$((4 * 1024 * 1024))
mkdir -p data/bkt
head -c $SIZE /dev/urandom >data/bkt/obj
# Clustered: 100 ranges of 8 KiB, 16 KiB apart (holes of 8 KiB, far
# under any hole limit), out of order, plus one that runs past the end,
# one past it and an empty one. No overlaps: fetched = delivered + holes.
{
  echo "# clustered"
  for i in $(seq 99 -1 0); do echo "$((i * 16384 + 4096)) 8192"; done
  echo "$((SIZE - 100)) 1000"
  echo "$((SIZE + 5)) 10"
  echo "77 0"
} >clustered
WANT=$((100 * 8192 + 100))
NONEMPTY=101
start_server

G=("$BIN" bench gs://bkt/obj --ranges clustered)
export STORAGE_EMULATOR_HOST=$EP

# bench MODE NAME [ARGS...]: one --json run into NAME.json; checks exit 0,
# every field, and all the bytes; checks the server saw as many media
# requests as the run reports.
bench() {
  local mode=$1 name=$2 rc=0 before after k
  shift 2
  before=$(media)
  "${G[@]}" --json --ranges-mode "$mode" "$@" >"$name.json" 2>"$T/err" || rc=$?
  after=$(media)
  eq "$name: exit" "$rc" 0
  for k in seconds mbps cpu_seconds cpu_seconds_per_gib requests spans \
    rounds bytes_fetched hole_bytes concurrency threads batch; do
    check "$name: has $k" test -n "$(num "$name.json" $k)"
  done
  check "$name: one line" test "$(wc -l <"$name.json")" -eq 1
  eq "$name: bytes" "$(num "$name.json" bytes)" $WANT
  eq "$name: ranges_count" "$(num "$name.json" ranges_count)" 103
  eq "$name: requests = the server's" "$(num "$name.json" requests)" \
    $((after - before))
}

bench vectored vec
eq "vectored: the mode" "$(sed -n 's/.*"ranges_mode":"\([^"]*\)".*/\1/p' vec.json)" vectored
check "vectored: at most 3 requests for 101 clustered ranges" \
  test "$(num vec.json requests)" -le 3
eq "vectored: fetched = delivered + holes" "$(num vec.json bytes_fetched)" \
  $((WANT + $(num vec.json hole_bytes)))
check "vectored: holes fetched" test "$(num vec.json hole_bytes)" -gt 0
eq "vectored: rounds = ceil(spans / 4)" "$(num vec.json rounds)" \
  $((($(num vec.json spans) + 3) / 4))

bench pread seq
eq "pread: one request per range" "$(num seq.json requests)" $NONEMPTY
eq "pread: spans = ranges with bytes" "$(num seq.json spans)" $NONEMPTY
eq "pread: rounds = ranges" "$(num seq.json rounds)" $NONEMPTY
eq "pread: no holes" "$(num seq.json hole_bytes)" 0
eq "pread: fetched = delivered" "$(num seq.json bytes_fetched)" $WANT
check "vectored sends fewer requests than pread" \
  test "$(num vec.json requests)" -lt "$(num seq.json requests)"

bench pread-threads thr
eq "pread-threads: default 16 threads" "$(num thr.json threads)" 16
eq "pread-threads: one request per range" "$(num thr.json requests)" $NONEMPTY
eq "pread-threads: rounds = ceil(101 / 16)" "$(num thr.json rounds)" 7

# A handle per thread: every handle's requests are counted (the server's
# agree); the opens are no media requests.
bench pread-handles=4 hnd
eq "pread-handles: 4 threads" "$(num hnd.json threads)" 4
eq "pread-handles: one request per range" "$(num hnd.json requests)" $NONEMPTY
eq "pread-handles: rounds = ceil(101 / 4)" "$(num hnd.json rounds)" 26
# Threads on one handle under a cache, the prefetcher on: every byte.
bench pread-threads=8 thc --cache readahead --prefetch adaptive

bench get-per-range=3 gpr
eq "get-per-range: concurrency 1" "$(num gpr.json concurrency)" 1
eq "get-per-range: one request per range" "$(num gpr.json requests)" $NONEMPTY
eq "get-per-range: rounds = ceil(101 / 3)" "$(num gpr.json rounds)" 34

bench vectored bat --batch 10
eq "--batch 10: 11 calls, one round each" "$(num bat.json rounds)" 11
check "--batch 10: at least a request per call" \
  test "$(num bat.json requests)" -ge 11

# The readable line.
rc=0; "${G[@]}" >line 2>"$T/err" || rc=$?
eq "text: exit" "$rc" 0
check "text: the fields" grep -qE "mode vectored.*$WANT bytes in .* MB/s; [0-9]+ requests, [0-9]+ spans, [0-9]+ rounds, [0-9]+ bytes fetched, [0-9]+ hole bytes, CPU .* s/GiB" line

# A local file: no first-byte wait, so no hole is worth fetching.
rc=0; "$BIN" bench --ranges clustered --json data/bkt/obj >loc.json 2>"$T/err" || rc=$?
eq "local file: exit" "$rc" 0
eq "local file: bytes" "$(num loc.json bytes)" $WANT
eq "local file: no holes" "$(num loc.json hole_bytes)" 0

# ---- bad values
usage() { # NAME ARGS...: exit 2 and a message
  local n=$1 rc=0
  shift
  "$BIN" bench "$@" >out 2>"$T/err" || rc=$?
  eq "$n: exit 2" "$rc" 2
  check "$n: says why" test -s "$T/err"
}
usage "unknown mode" --ranges clustered --ranges-mode preads data/bkt/obj
usage "zero threads" --ranges clustered --ranges-mode pread-threads=0 data/bkt/obj
usage "too many threads" --ranges clustered --ranges-mode get-per-range=257 data/bkt/obj
usage "pread takes no N" --ranges clustered --ranges-mode pread=2 data/bkt/obj
usage "too many handles" --ranges clustered --ranges-mode pread-handles=257 data/bkt/obj
usage "get-per-range splits nothing" --ranges clustered --ranges-mode get-per-range --concurrency 4 data/bkt/obj
usage "--procs" --ranges clustered --procs 2 data/bkt/obj
usage "--trace" --ranges clustered --trace clustered data/bkt/obj
usage "--ranges-mode alone" --ranges-mode pread data/bkt/obj
usage "--batch alone" --batch 3 data/bkt/obj
: >empty
usage "no ranges" --ranges empty data/bkt/obj
printf '0 10\n5 x\n' >bad
usage "bad line" --ranges bad data/bkt/obj
check "bad line: named" has "$T/err" "bad:2:"
echo "$((SIZE + 1)) 10" >past
rc=0; "$BIN" bench --ranges past data/bkt/obj >out 2>"$T/err" || rc=$?
eq "nothing inside the object: exit 1" "$rc" 1

"$BIN" bench --help >help 2>&1
for w in "--ranges FILE" "--ranges-mode M" "--batch N" "get-per-range=N" \
  "(default: vectored)"; do
  check "bench --help shows $w" has help "$w"
done

tally
