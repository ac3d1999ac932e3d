#!/usr/bin/env bash
# Do vectored reads pay? gsr_read_ranges against the same
# ranges read the ways a reader without them does, under the "gcs" profile
# of the local server (38 ms to the first byte, 220 MiB/s per request).
#
# Two patterns (bench/ranges_patterns.py, seed 16): Parquet-like (64 KiB
# footer, 20 row groups x 10 column chunks of 64 KiB..8 MiB, one batch:
# all ranges, 256 MiB per call) and Zarr-like (2,000 chunks of
# 256 KiB..1 MiB at random offsets, batches of 100). Each read four ways
# (gsread bench --ranges --ranges-mode):
#   vectored           gsr_read_ranges per batch, at its defaults (the
#                      width chosen from the plan, within the pool)
#   pread              one gsr_pread per range, in turn
#   pread-threads=16   the same from 16 threads
#   get-per-range=4    one GET per range (concurrency 1), 4 at a time: gcsfs
#   get-per-range=16   the same, 16 at a time
# Every round first measures the 4-curl ceiling (4 parallel range requests
# over the whole object); a round runs every cell once, RUNS rounds, and
# the table shows medians.
#
# The bound of a pattern: bytes the vectored read fetched /
# the ceiling rate + 38 ms per round of spans, where a round is
# ceil(spans / width) per batch (the batches run one after another;
# within one, at most `concurrency` spans are in flight, each paying one
# first-byte wait). Every mode's ratio is its wall time / that same bound,
# so the ratios compare the modes; the target is vectored <= 1.15 with
# hole bytes <= 5% of the delivered; and (issue 25) vectored <= 0.8x the
# time of the faster of 16 threads of pread and 16 GETs in flight. If the
# ceiling is below
# 0.85 x 4 x 220 MiB/s (bench_ceiling 4 at the start, or the rounds'
# median), every ratio is flagged: the bound then measures the machine.
#
# Usage: bench/ranges_bench.sh [--quick] [--size BYTES] [--runs N]
#                              [--out FILE.jsonl] [--gsread PATH]
#   default: a 1 GiB object, 3 rounds (about 8 minutes on a quiet 2-core
#   machine; the sequential pread of 2,000 Zarr chunks alone is ~80 s a
#   round); --quick: a 64 MiB object, 41 and 200 ranges, 1 round (~30 s).
# Needs a release build (build/gsread, or --gsread / $GSREAD).
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=1073741824
RUNS=3
QUICK=()
OUT=
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=(--quick); SIZE=67108864; RUNS=1 ;;
    --size) SIZE=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --gsread) GSREAD=$2; shift ;;
    *) sed -n '2,/^# SPDX/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
[ -x "$GSREAD" ] || { echo "ranges_bench.sh: no gsread at $GSREAD (build it first)" >&2; exit 2; }
MODES=(vectored pread pread-threads=16 get-per-range=4 get-per-range=16)
PATTERNS=(parquet zarr)
declare -A BATCH=([parquet]=0 [zarr]=100)

. "$ROOT/bench/server.sh"
bench_server rangesbench "$SIZE" obj --profile gcs
bench_ceiling 4 >&2
RAW="$WORK/results.jsonl"
# Warm the page cache (the server reads the file), without the profile's
# pacing in the way.
cat "$WORK/data/bench/obj" >/dev/null
for p in "${PATTERNS[@]}"; do
  /usr/bin/python3 "$ROOT/bench/ranges_patterns.py" "$p" "$SIZE" "${QUICK[@]}" >"$WORK/$p"
  echo "ranges_bench.sh: $(head -1 "$WORK/$p" | sed 's/^# //')" >&2
done

ceiling() { # 4 parallel curl range streams over the object: one JSON line
  local q=$(((SIZE + 3) / 4)) t0 t1 i
  t0=$(date +%s.%N)
  for i in 0 1 2 3; do
    curl -sS --fail -o /dev/null -r $((i * q))-$((i * q + q - 1)) "$MEDIA" &
  done
  wait
  t1=$(date +%s.%N)
  /usr/bin/python3 -c "import json; print(json.dumps({'cell': 'ceiling', 'bytes': $SIZE, 'seconds': $t1 - $t0}))"
}

for r in $(seq "$RUNS"); do
  echo "ranges_bench.sh: round $r/$RUNS" >&2
  ceiling >>"$RAW"
  for p in "${PATTERNS[@]}"; do
    for m in "${MODES[@]}"; do
      STORAGE_EMULATOR_HOST="$EP" "$GSREAD" bench gs://bench/obj --json \
        --ranges "$WORK/$p" --ranges-mode "$m" --batch "${BATCH[$p]}" >>"$RAW"
    done
  done
done
if [ -n "$OUT" ]; then cp "$RAW" "$OUT"; fi

/usr/bin/python3 - "$RAW" "$SIZE" "$RUNS" "$ROOT/bench" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, sys.argv[4])
from ceiling import FLAG, flag, server_bound
MIB = 1024 * 1024
TTFB = 0.038                      # the gcs profile's first-byte time
raw, size, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
recs = [json.loads(l) for l in open(raw)]
med = statistics.median
ceil = med([r["bytes"] / r["seconds"] for r in recs if r.get("cell") == "ceiling"])
low = server_bound(ceil / 1e6)
print(f"4-curl ceiling: {ceil / MIB:.0f} MiB/s (median of {runs}); "
      f"wanted >= 0.85 x 4 x 220 MiB/s (bench_ceiling): "
      + (f"BELOW, every ratio is flagged ({FLAG}): the machine limits the bound"
         if low else "ok"))
print(f"\nobject {size} bytes, gcs profile (38 ms, 220 MiB/s per request), "
      f"medians of {runs}; bound = vectored's bytes fetched / ceiling + "
      f"38 ms x its rounds (round: ceil(spans / width) per batch)\n")
print("| pattern | mode | wall s | MB/s | requests | spans | rounds "
      "| hole / delivered | CPU s/GiB | wall / bound |")
print("|---|---|---|---|---|---|---|---|---|---|")
cells = {}
for r in recs:
    if r.get("tool") == "gsread":
        cells.setdefault((os.path.basename(r["ranges"]), r["ranges_mode"]),
                         []).append(r)
verdicts = []
for pat in ("parquet", "zarr"):
    vec = cells[(pat, "vectored")]
    bound = (med([c["bytes_fetched"] for c in vec]) / ceil
             + TTFB * med([c["rounds"] for c in vec]))
    for mode in ("vectored", "pread", "pread-threads=16", "get-per-range=4",
                 "get-per-range=16"):
        cs = cells[(pat, mode)]
        m = lambda k: med([c[k] for c in cs])
        hole = m("hole_bytes") / m("bytes")
        ratio = m("seconds") / bound
        print(f"| {pat} | {mode} | {m('seconds'):.3f} | {m('mbps'):.1f} "
              f"| {m('requests'):.0f} | {m('spans'):.0f} | {m('rounds'):.0f} "
              f"| {100 * hole:.2f}% | {m('cpu_seconds_per_gib'):.3f} "
              f"| {ratio:.2f}{flag(ceil / 1e6)} |")
        if mode == "vectored":
            verdicts.append(f"{pat}: bound {bound:.3f} s; wall / bound "
                            f"{ratio:.2f} (target <= 1.15: "
                            f"{'met' if ratio <= 1.15 else 'NOT met'}"
                            f"{flag(ceil / 1e6)}); hole bytes "
                            f"{100 * hole:.2f}% of delivered (target <= 5%: "
                            f"{'met' if hole <= 0.05 else 'NOT met'})")
    peer = min(med([c["seconds"] for c in cells[(pat, m)]])
               for m in ("pread-threads=16", "get-per-range=16"))
    vs = med([c["seconds"] for c in vec]) / peer
    verdicts.append(f"{pat}: vectored / the faster of 16 threads and 16 GETs: "
                    f"{vs:.2f} (target <= 0.8: {'met' if vs <= 0.8 else 'NOT met'})")
print()
for v in verdicts:
    print(f"- {v}")
PY
