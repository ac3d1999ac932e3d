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

run_gsread() { # the defaults: connections chosen by measurement (cold)
  STORAGE_EMULATOR_HOST=$EP GSREAD_PLANS_FILE= "$GSREAD" cp -q "gs://bench/$OBJ" "$1"
}
run_gsread4() {
  STORAGE_EMULATOR_HOST=$EP "$GSREAD" cp -q --concurrency 4 "gs://bench/$OBJ" "$1"
}
# Small blocks: 8 MiB, about what one connection gets in one first-byte
# wait (38 ms in the gcs profile).
run_gsread8() {
  STORAGE_EMULATOR_HOST=$EP "$GSREAD" cp -q --concurrency 4 --part-size 8M \
    "gs://bench/$OBJ" "$1"
}
# GSREAD_BASE (another build, e.g. the previous commit's) at 4 connections.
run_base4() {
  STORAGE_EMULATOR_HOST=$EP "$GSREAD_BASE" cp -q --concurrency 4 "gs://bench/$OBJ" "$1"
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

TOOLS=(gsread gsread4 gsread8 aria2c curl4)
if [ -n "${GSREAD_BASE:-}" ]; then TOOLS+=(base4); fi
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

python3 - "$SIZE_MIB" "$RUNS" "$ROOT/bench" "${TIMES[gsread]}" "${TIMES[gsread4]}" "${TIMES[gsread8]}" "${TIMES[aria2c]}" "${TIMES[curl4]}" "${TIMES[base4]:-}" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[3])
from ceiling import flag
mib, runs = int(sys.argv[1]), int(sys.argv[2])
names = ["gsread cp (defaults: connections measured; CRC32C checked, temp + rename)",
         "gsread cp --concurrency 4 (same)",
         "gsread cp --concurrency 4 --part-size 8M (same)",
         "aria2c -x 4 -s 4",
         "4 x curl -r (parallel ranges, dd at offsets)",
         "$GSREAD_BASE cp --concurrency 4"]
rows = [(n, [float(x) for x in t.split()]) for n, t in zip(names, sys.argv[4:]) if t.strip()]
base = statistics.median(rows[3][1])
print(f"| tool ({mib} MiB object, gcs profile: 38 ms TTFB, 220 MiB/s per connection) | median s | MiB/s | vs aria2c |")
print("|---|---|---|---|")
for name, xs in rows:
    m = statistics.median(xs)
    print(f"| {name} | {m:.3f} | {mib / m:.0f} | {base / m:.2f}x{flag()} |")
print(f"\nruns: {runs}, alternated; all times (s): " +
      "; ".join(f"{k} {[round(x, 3) for x in xs]}" for k, (n, xs) in
                 zip(("gsread", "gsread-c4", "gsread-8M", "aria2c", "curl4", "base-c4"), rows)))
PY
