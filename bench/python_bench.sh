#!/usr/bin/env bash
# What does Python cost? gsread through Python against the C path and
# fsspec's HTTPFileSystem, on the local GCS stand-in (gcs profile: 38 ms to
# the first byte, 220 MiB/s per request), in one run:
#
#   ceiling  4 parallel curl range streams over the object (bench/peers.py),
#            checked against 0.85 x 4 x 220 MiB/s: below it the machine is
#            too busy or too small and the ratios are flagged
#   cells    seq and rand x io 64K 1M 16M 100M, each read by
#              C       gsread bench --json (one process)
#              gsread  GsreadFileSystem, f.read(io) and f.readinto(buf)
#              http    fsspec HTTPFileSystem on {endpoint}/http/bench/obj,
#                      f.read(io) and f.readinto(buf)
#            (bench/py_read.py, a fresh interpreter per cell), each bounded
#            like gsread bench: the object's size in bytes or --max-seconds;
#            the readers rotate their order each round
#   dask     dask.dataframe.read_csv over a CSV data set on a LocalCluster of
#            2 worker processes, gsread:// against http:// (bench/py_dask.py)
#
# Medians of --reps rounds. The C cells and the gsread files use the same
# library settings: --mode prefetch (adaptive prefetch, 4 connections per
# fetch), --cache none, 5 MiB blocks by default; fsspec uses its readahead
# cache with 5 MiB blocks (as bench/matrix.sh's fsspec peer).
#
# Usage: bench/python_bench.sh [--quick] [--size SIZE] [--reps N]
#          [--max-seconds S] [--csv-size SIZE] [--no-dask]
#          [--mode default|concurrent|prefetch] [--cache TYPE] [--out DIR]
#          [--plan]
# Prints a Markdown table; the raw JSON lines are in DIR/python_bench.jsonl
# (default DIR: a new /tmp/gsread-pybench-results.XXXXXX), the table in
# DIR/python_bench.md. Needs a build in build/ (or $GSREAD and
# $GSREAD_PYTHONPATH).
#
# SPDX-License-Identifier: MIT
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROG=python_bench.sh
PY=/usr/bin/python3 # Debian's: fsspec, dask, distributed, numpy live there
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
export PYTHONPATH=${GSREAD_PYTHONPATH:-"$ROOT/build/python"}${PYTHONPATH:+:$PYTHONPATH}

die() { echo "$PROG: $*" >&2; exit 1; }
usage() {
  sed -n 's/^# \{0,1\}//; /^Usage:/,/^$/p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

SIZE=1G REPS=3 MAX_SECONDS=4 CSV_SIZE=2G DASK=1 MODE=prefetch CACHE=none
BLOCK=5M OUT= PLAN=0 QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; SIZE=256M REPS=1 MAX_SECONDS=1 CSV_SIZE=64M; shift ;;
    --size) SIZE=${2:?}; shift 2 ;;
    --reps) REPS=${2:?}; shift 2 ;;
    --max-seconds) MAX_SECONDS=${2:?}; shift 2 ;;
    --csv-size) CSV_SIZE=${2:?}; shift 2 ;;
    --no-dask) DASK=0; shift ;;
    --mode) MODE=${2:?}; shift 2 ;;
    --cache) CACHE=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --plan) PLAN=1; shift ;;
    -h|--help) usage ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage ;;
  esac
done
bytes() { "$PY" -c 'import sys; t=sys.argv[1]; m={"K":1<<10,"M":1<<20,"G":1<<30}
print(int(float(t[:-1]) * m[t[-1]]) if t[-1] in m else int(t))' "$1"; }
SIZE_BYTES=$(bytes "$SIZE") CSV_BYTES=$(bytes "$CSV_SIZE")
case $MODE in
  default) PYMODE=(--prefetch off --concurrency 1) CMODE=() ;;
  concurrent) PYMODE=(--prefetch off --concurrency 4) CMODE=(--concurrency 4) ;;
  prefetch) PYMODE=(--prefetch adaptive --concurrency 4) CMODE=(--concurrency 4) ;;
  *) die "--mode: default, concurrent or prefetch" ;;
esac
IOS="64K 1M 16M 100M" PATTERNS="seq rand"

# One line per cell: "pattern io reader loop". The order of the five
# readers of a (pattern, io) rotates with the round ($1), so that none
# always runs first, after the server was idle, or after the same other.
cells() {
  local pattern io k readers=("c gsr_read" "gsread read" "gsread readinto" "http read" "http readinto")
  for pattern in $PATTERNS; do
    for io in $IOS; do
      for k in 0 1 2 3 4; do
        echo "$pattern $io ${readers[$(((k + $1) % 5))]}"
      done
    done
  done
}

# The worst case, from the bounds: a cell lasts --max-seconds, plus 1 s to
# start an interpreter (0.3 s for C) and the read begun just before the
# deadline (io + a block, at a pessimistic 100 MB/s); each round's ceiling
# (the object at 400 MB/s); the CSV (written at 50 MB/s) and the Dask runs
# (one untimed warm-up, 2 readers x reps at 100 MB/s, 20 s for the cluster).
worst_case() {
  cells 0 | awk -v S="$MAX_SECONDS" -v R="$REPS" -v O="$SIZE_BYTES" \
    -v C="$CSV_BYTES" -v D="$DASK" '
    { io = $2 + 0; io *= ($2 ~ /K$/) ? 1024 : 1048576
      t += S + ($3 == "c" ? 0.3 : 1) + (io + 5242880) / 100e6; n++ }
    END { total = R * (t + O / 400e6) + 10 + O / 300e6
          if (D) total += C / 50e6 + 20 + 2 * R * C / 100e6
          printf "%d %.0f\n", n * R, total }'
}
read -r NCELLS WORST < <(worst_case)
echo "$PROG: $NCELLS cells (mode $MODE, cache $CACHE, object $SIZE, <= $MAX_SECONDS s each," \
  "$REPS round(s))$([ "$DASK" = 1 ] && echo ", Dask over $CSV_SIZE of CSV");" \
  "worst case $((WORST / 60)) min $((WORST % 60)) s" >&2
if [ "$PLAN" = 1 ]; then cells 0; exit 0; fi

[ -x "$GSREAD" ] || die "no gsread binary at $GSREAD (build first: cmake -S . -B build -G Ninja && cmake --build build)"
"$PY" -c 'import gsread, fsspec, aiohttp' 2>/dev/null ||
  die "$PY cannot import gsread, fsspec and aiohttp (build first; bash scripts/install-deps.sh)"
if [ "$DASK" = 1 ]; then
  "$PY" -c 'import dask.dataframe, distributed, numpy' 2>/dev/null ||
    die "$PY cannot import dask.dataframe and distributed (bash scripts/install-deps.sh; or --no-dask)"
fi
if [ -z "$OUT" ]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/gsread-pybench-results.XXXXXX"); fi
mkdir -p "$OUT"
RESULTS=$OUT/python_bench.jsonl
: >"$RESULTS"

# The library's environment defaults stay out of the measurement.
unset GSREAD_PREFETCH GSREAD_CONCURRENCY USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING \
  DEFAULT_GCSFS_CONCURRENCY
. "$HERE/server.sh" # GSREAD_PLANS_FILE= : every open starts cold
bench_server pybench "$SIZE_BYTES" obj --profile gcs
bench_ceiling 4 >&2 # the server must not be the bound; else every ratio is flagged
export STORAGE_EMULATOR_HOST=$EP
LOG=$WORK/state/requests.log
cat "$WORK/data/bench/obj" >/dev/null # the page cache, before any timing

# Adds the cell's labels to the JSON line on stdin.
tag() { "$PY" -c 'import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
d.update(json.loads(sys.argv[1]))
print(json.dumps(d))' "$1"; }

"$PY" - "$MODE" "$CACHE" "$BLOCK" "$SIZE_BYTES" "$REPS" "$MAX_SECONDS" "$CSV_BYTES" "$QUICK" "$GSREAD" >>"$RESULTS" <<'EOF2'
import json, os, platform, subprocess, sys, time
import fsspec
mode, cache, block, size, reps, secs, csv, quick, gsread = sys.argv[1:]
try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    model = None
print(json.dumps({"tool": "meta", "profile": "gcs", "mode": mode, "cache": cache,
    "block_size": block, "object_size": int(size), "reps": int(reps),
    "max_seconds": float(secs), "csv_bytes": int(csv), "quick": quick == "1",
    "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(),
    "cpus": os.cpu_count(), "cpu_model": model, "loadavg": os.getloadavg(),
    "python": platform.python_version(), "fsspec": fsspec.__version__,
    "gsread": subprocess.run([gsread, "--version"], capture_output=True,
                             text=True).stdout.strip()}))
EOF2

failures=0
cell() { # round pattern io reader loop
  local round=$1 pattern=$2 io=$3 reader=$4 loop=$5 out label
  label="{\"round\": $round, \"reader\": \"$reader\", \"loop\": \"$loop\", \"pattern\": \"$pattern\", \"io_size\": $(bytes "$io")}"
  case $reader in
    c) out=$("$GSREAD" bench --json --endpoint "$EP" --pattern "$pattern" --io-size "$io" \
      --mode "$MODE" "${CMODE[@]}" --cache "$CACHE" --block-size "$BLOCK" \
      --max-bytes "$SIZE_BYTES" --max-seconds "$MAX_SECONDS" gs://bench/obj 2>"$WORK/cell.err") ;;
    gsread) out=$("$PY" "$HERE/py_read.py" gsread gsread://bench/obj --io "$io" --loop "$loop" \
      --pattern "$pattern" --cache "$CACHE" --block-size "$BLOCK" "${PYMODE[@]}" \
      --max-bytes "$SIZE_BYTES" --max-seconds "$MAX_SECONDS" 2>"$WORK/cell.err") ;;
    http) out=$("$PY" "$HERE/py_read.py" http "$EP/http/bench/obj" --io "$io" --loop "$loop" \
      --pattern "$pattern" --cache readahead --block-size 5M \
      --max-bytes "$SIZE_BYTES" --max-seconds "$MAX_SECONDS" 2>"$WORK/cell.err") ;;
  esac && [ -n "$out" ] || {
    echo "$PROG: $pattern $io $reader $loop FAILED: $(tail -3 "$WORK/cell.err" | tr '\n' ' ')" >&2
    failures=$((failures + 1))
    return 0
  }
  echo "$out" | tag "$label" >>"$RESULTS"
  printf '%s: round %d %-4s %-4s %-6s %-8s %s\n' "$PROG" "$round" "$pattern" "$io" "$reader" "$loop" \
    "$(tail -1 "$RESULTS" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print("%.1f MB/s" % d.get("mbps", d.get("MBps", 0)))')" >&2
}

start=$SECONDS
for round in $(seq "$REPS"); do
  "$PY" "$HERE/peers.py" ceiling --streams 4 --url "$MEDIA" --size "$SIZE_BYTES" --log "$LOG" |
    tag "{\"round\": $round}" >>"$RESULTS" || { echo "$PROG: the ceiling failed" >&2; failures=$((failures + 1)); }
  while read -r pattern io reader loop; do
    cell "$round" "$pattern" "$io" "$reader" "$loop"
  done < <(cells "$round")
done
echo "$PROG: cells took $((SECONDS - start)) s" >&2

if [ "$DASK" = 1 ]; then
  mkdir -p "$WORK/data/csv"
  "$PY" "$HERE/py_dask.py" make "$WORK/data/csv/data" --bytes "$CSV_BYTES" --seed 1 >>"$RESULTS"
  urls=()
  for f in "$WORK/data/csv/data"/*.csv; do urls+=("$EP/http/csv/data/$(basename "$f")"); done
  echo "$PROG: dask read_csv over $CSV_SIZE of CSV, ${#urls[@]} files, 2 workers" >&2
  start=$SECONDS
  "$PY" "$HERE/py_dask.py" run --gsread "gsread://csv/data/*.csv" --http "${urls[@]}" \
    --reps "$REPS" --workers 2 >>"$RESULTS" || { echo "$PROG: dask failed" >&2; failures=$((failures + 1)); }
  echo "$PROG: dask took $((SECONDS - start)) s" >&2
fi

"$PY" "$HERE/python_report.py" "$RESULTS" | tee "$OUT/python_bench.md"
echo "$PROG: wrote $RESULTS and $OUT/python_bench.md" >&2
[ "$failures" = 0 ] || die "$failures measurement(s) failed; see the messages above"
