#!/usr/bin/env bash
# Issue 4's benchmark targets, "gcs" profile (38 ms to first byte, 220 MiB/s
# per connection) on the local server, a 1 GiB object, concurrency 4,
# medians of ROUNDS (default 3). In every round, in this order:
#   ceiling   4 parallel curl range requests over the whole object
# (first, once: bench_ceiling 4 checks that the server is not the bound;
# if it is, every ratio is flagged)
#   seq       gsread bench --mode prefetch, io 64 KiB, 1 MiB, 16 MiB, 100 MiB
#   rand      gsread bench --mode default and --mode prefetch, same sizes
# Prints a markdown table with each target and whether it is met.
# Usage: bench/prefetch_targets.sh [ROUNDS [RAW.jsonl]]   (needs a release build in build/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
. "$ROOT/bench/server.sh"
bench_server pfbench 1073741824 1GiB --profile gcs
bench_ceiling 4
OUT="$WORK/results.jsonl"

ceiling() { # MB/s of 4 parallel curl streams over the object
  local q=268435456 t0 t1
  t0=$(date +%s.%N)
  for i in 0 1 2 3; do curl -s -o /dev/null -r $((i*q))-$((i*q+q-1)) "$MEDIA" & done
  wait
  t1=$(date +%s.%N)
  python3 -c "import json; print(json.dumps({'cell':'ceiling','mbps':1073741824/($t1-$t0)/1e6}))"
}
cell() { # pattern io mode seconds
  local conc=()
  if [ "$3" != default ]; then conc=(--concurrency 4); fi
  STORAGE_EMULATOR_HOST="$EP" "$GSREAD" bench gs://bench/1GiB --json --pattern "$1" \
    --io-size "$2" --mode "$3" "${conc[@]}" --max-bytes 1GiB --max-seconds "$4"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  ceiling >> "$OUT"
  for io in 64K 1M 16M 100M; do cell seq "$io" prefetch 20 >> "$OUT"; done
  for io in 64K 1M 16M 100M; do
    cell rand "$io" default 6 >> "$OUT"
    cell rand "$io" prefetch 6 >> "$OUT"
  done
done
python3 "$ROOT/bench/prefetch_report.py" "$OUT"
if [ -n "${2:-}" ]; then cp "$OUT" "$2"; fi
