#!/usr/bin/env bash
# How fast is a sequential reader against the line rate, and at what cost?
# The sequential engine's targets on the "gcs" profile (38 ms to the first
# byte, 220 MiB/s per connection) of the local server, a 1 GiB object,
# medians of ROUNDS (default 3). First, once, bench_ceiling 4 checks that
# the server is not the bound (if it is, every ratio is flagged). Then in
# every round, in this order:
#   ceiling   4 and 8 parallel curl range requests covering the object
#   seq       gsread bench --mode prefetch --concurrency 4, io 64 KiB,
#             1 MiB, 16 MiB, 100 MiB: adaptive (and the same with
#             $GSREAD_BASE), and --prefetch sequential (a promised reader)
#   cat       gsread cat with its defaults to /dev/null (and $GSREAD_BASE)
#   rand      gsread bench --mode default and --mode prefetch, same sizes
# Prints a markdown table with each target and whether it is met.
# Usage: [GSREAD_BASE=OLD-BINARY] bench/prefetch_targets.sh [ROUNDS [RAW.jsonl]]
# (needs a release build in build/; GSREAD_BASE: a build to compare CPU
# seconds per GiB with, in the same run, e.g. one of the previous commit)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
BASE=${GSREAD_BASE:-}
. "$ROOT/bench/server.sh"
bench_server pfbench 1073741824 1GiB --profile gcs
bench_ceiling 4
OUT="$WORK/results.jsonl"
SIZE=1073741824

ceiling() { # N: MB/s of N parallel curl range requests covering the object
  local n=$1 q=$((SIZE / $1)) t0 t1
  t0=$(date +%s.%N)
  for i in $(seq 0 $((n - 1))); do
    curl -s -o /dev/null -r $((i * q))-$((i * q + q - 1)) "$MEDIA" &
  done
  wait
  t1=$(date +%s.%N)
  python3 -c "import json; print(json.dumps({'cell':'ceiling$n','mbps':$SIZE/($t1-$t0)/1e6}))"
}
cell() { # binary build pattern io mode seconds [options...]
  local conc=() bin=$1 build=$2 pat=$3 io=$4 mode=$5 secs=$6
  shift 6
  if [ "$mode" != default ]; then conc=(--concurrency 4); fi
  STORAGE_EMULATOR_HOST="$EP" "$bin" bench gs://bench/1GiB --json --pattern "$pat" \
    --io-size "$io" --mode "$mode" "${conc[@]}" --max-bytes 1GiB \
    --max-seconds "$secs" "$@" |
    python3 -c "import json,sys; d=json.load(sys.stdin); d['build']='$build'; print(json.dumps(d))"
}
catcell() { # binary build: gsread cat with its defaults, timed by time(1)
  local t
  t=$( { STORAGE_EMULATOR_HOST="$EP" /usr/bin/time -f "%e %U %S %M" "$1" cat \
         gs://bench/1GiB >/dev/null; } 2>&1 | tail -1)
  python3 -c "
import json; e,u,s,m = map(float, '$t'.split())
print(json.dumps({'cell':'cat','build':'$2','mbps':$SIZE/e/1e6,
                  'cpu_seconds':u+s,'peak_rss_mb':m/1024}))"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  ceiling 4 >> "$OUT"
  ceiling 8 >> "$OUT"
  for io in 64K 1M 16M 100M; do
    cell "$GSREAD" new seq "$io" prefetch 20 >> "$OUT"
    if [ -n "$BASE" ]; then cell "$BASE" base seq "$io" prefetch 20 >> "$OUT"; fi
    cell "$GSREAD" new seq "$io" prefetch 20 --prefetch sequential >> "$OUT"
  done
  catcell "$GSREAD" new >> "$OUT"
  if [ -n "$BASE" ]; then catcell "$BASE" base >> "$OUT"; fi
  for io in 64K 1M 16M 100M; do
    cell "$GSREAD" new rand "$io" default 6 >> "$OUT"
    cell "$GSREAD" new rand "$io" prefetch 6 >> "$OUT"
  done
done
python3 "$ROOT/bench/prefetch_report.py" "$OUT"
if [ -n "${2:-}" ]; then cp "$OUT" "$2"; fi
