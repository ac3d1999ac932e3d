#!/usr/bin/env bash
# `gsread cp` against the usual ways to fetch one big object over 4
# connections: aria2c -x 4 -s 4, and 4 parallel curl range requests each
# written at its offset (dd conv=notrunc). The local server runs the "gcs"
# profile (38 ms to first byte, 220 MiB/s per connection); runs alternate
# tools in one loop (drift hits all alike), medians of RUNS. Every tool's
# copy is compared with the source once. Markdown table on stdout, after
# bench_ceiling 4's check that the server is not the bound (if it is,
# every ratio is flagged).
#
# Usage: bench/cp_bench.sh [SIZE_MIB [RUNS]]   (defaults: 1024 MiB, 3 runs;
#        256 for a quick check). Needs a release build in build/ (or
#        GSREAD=path) and aria2c (Debian: aria2).
#
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
command -v aria2c >/dev/null || { echo "aria2c is not installed (apt-get install aria2)" >&2; exit 1; }
OBJ=obj
SIZE=$((SIZE_MIB * 1024 * 1024))
. "$ROOT/bench/server.sh"
bench_server cpbench "$SIZE" "$OBJ" --profile gcs
SRC=$WORK/data/bench/$OBJ
mkdir -p "$WORK/out"
cat "$SRC" >/dev/null # the source in the page cache for everyone
bench_ceiling 4

run_gsread() { # the defaults: part size = size / 4, at most 64 MiB
  STORAGE_EMULATOR_HOST=$EP "$GSREAD" cp -q --concurrency 4 "gs://bench/$OBJ" "$1"
}
# Small parts: one first-byte wait (38 ms in the gcs profile) per 8 MiB.
run_gsread8() {
  STORAGE_EMULATOR_HOST=$EP "$GSREAD" cp -q --concurrency 4 --part-size 8M \
    "gs://bench/$OBJ" "$1"
}
run_aria2c() {
  aria2c -q -x 4 -s 4 --allow-overwrite=true --auto-file-renaming=false \
    --file-allocation=none -d "$(dirname "$1")" -o "$(basename "$1")" "$MEDIA"
}
run_curl4() {
  local part=$(((SIZE + 3) / 4)) i first last pids=()
  : >"$1"
  for i in 0 1 2 3; do
    first=$((i * part)); last=$((first + part - 1))
    [ "$last" -ge "$SIZE" ] && last=$((SIZE - 1))
    curl -sf -r "$first-$last" "$MEDIA" |
      dd of="$1" bs=1M seek="$first" oflag=seek_bytes conv=notrunc status=none &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}

TOOLS=(gsread gsread8 aria2c curl4)
declare -A TIMES
for r in $(seq "$RUNS"); do
  for tool in "${TOOLS[@]}"; do
    out=$WORK/out/$tool
    rm -f "$out"
    sync
    t0=$(date +%s.%N)
    "run_$tool" "$out"
    t1=$(date +%s.%N)
    TIMES[$tool]+="$(python3 -c "print($t1 - $t0)") "
    if [ "$r" = 1 ] && ! cmp -s "$out" "$SRC"; then
      echo "$tool: the copy differs from the source" >&2
      exit 1
    fi
    rm -f "$out"
  done
done

python3 - "$SIZE_MIB" "$RUNS" "${TIMES[gsread]}" "${TIMES[gsread8]}" "${TIMES[aria2c]}" "${TIMES[curl4]}" "$ROOT/bench" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[7])
from ceiling import flag
mib, runs = int(sys.argv[1]), int(sys.argv[2])
rows = [("gsread cp --concurrency 4 (default parts: size/4, max 64 MiB; CRC32C checked, temp + rename)", sys.argv[3]),
        ("gsread cp --concurrency 4 --part-size 8M (same)", sys.argv[4]),
        ("aria2c -x 4 -s 4", sys.argv[5]),
        ("4 x curl -r (parallel ranges, dd at offsets)", sys.argv[6])]
rows = [(n, [float(x) for x in t.split()]) for n, t in rows]
base = statistics.median(rows[2][1])
print(f"| tool ({mib} MiB object, gcs profile: 38 ms TTFB, 220 MiB/s per connection) | median s | MiB/s | vs aria2c |")
print("|---|---|---|---|")
for name, xs in rows:
    m = statistics.median(xs)
    print(f"| {name} | {m:.3f} | {mib / m:.0f} | {base / m:.2f}x{flag()} |")
print(f"\nruns: {runs}, alternated; all times (s): " +
      "; ".join(f"{k} {[round(x, 3) for x in xs]}" for k, (n, xs) in
                 zip(("gsread", "gsread-8M", "aria2c", "curl4"), rows)))
PY
