#!/usr/bin/env bash
# gsread's benchmark matrix, against the local GCS stand-in server.
#
#   bench/matrix.sh [--profile gcs|unshaped] [--quick] [--out DIR] [--plan]
#                   [--gsread PATH]
#
# In one run, on one machine, with one server:
#   1. starts tests/server/gcs-server with the profile (own temp state dir,
#      stopped on exit) and makes a test object of random bytes (1 GiB;
#      256 MiB with --quick);
#   2. checks that the server is not the bound (bench_ceiling 4, from
#      bench/server.sh; if it is, every ratio is flagged) and measures the
#      CEILING: curl over the whole object with 1 stream and with 4
#      parallel range streams (bench/peers.py);
#   3. measures the PEERS: aria2c -x 4 -s 4, and fsspec's HTTPFileSystem
#      (readahead cache, 5 MiB blocks, 1 MiB sequential reads);
#   4. runs `gsread bench --json` for every cell: seq/rand x 64 KiB, 1 MiB,
#      16 MiB, 100 MiB x default/concurrent/prefetch x cache none/readahead/
#      readahead_chunked x 1 and 8 processes (144 cells), each bounded by
#      --max-bytes and --max-seconds;
#   5. writes DIR/results.jsonl (one JSON object per line: a "meta" line,
#      then the ceiling, the peers and the cells) and runs bench/report.py,
#      which writes DIR/results.md and the charts (DIR/*.png, DIR/*.svg).
#
# --quick: a handful of cells and a smaller object, for a demo (< 1 min).
# --plan: print the cells and the worst-case duration, run nothing.
# --gsread: the binary to measure (default: build/gsread).
# Default DIR: bench/results/.
#
# SPDX-License-Identifier: MIT
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PROG=matrix.sh

die() { echo "$PROG: $*" >&2; exit 1; }
usage() {
  echo "usage: bench/matrix.sh [--profile gcs|unshaped] [--quick] [--out DIR] [--plan] [--gsread PATH]" >&2
  exit 2
}

PROFILE=gcs QUICK=0 PLAN=0 OUT=$HERE/results GSREAD=$ROOT/build/gsread
while [ $# -gt 0 ]; do
  case $1 in
    --profile) PROFILE=${2:?--profile needs a value}; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --plan) PLAN=1; shift ;;
    --gsread) GSREAD=${2:?--gsread needs a value}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage ;;
  esac
done
case $PROFILE in gcs|unshaped) ;; *) die "unknown profile '$PROFILE' (gcs|unshaped)" ;; esac

# ---- Cells and bounds --------------------------------------------------------
#
# Each process of a cell stops at --max-bytes or --max-seconds, whichever
# comes first. 1 GiB is one pass over the object; most cells are bounded by
# the seconds (rand 64 KiB under the gcs profile does ~25 reads/s: 38 ms to
# the first byte each). The seconds are what keep the matrix within 15
# minutes on a 2-core machine: see worst_case below.
MAX_BYTES=1GiB
if [ "$QUICK" = 1 ]; then
  OBJECT_BYTES=$((256 * 1024 * 1024)) MAX_SECONDS=3
else
  OBJECT_BYTES=$((1024 * 1024 * 1024)) MAX_SECONDS=4
fi
BUCKET=bench OBJECT=obj
BLOCK_BYTES=$((5 * 1024 * 1024)) # the caches' block size (library default)

# Prints the cells, one "pattern io-size mode cache procs" per line.
cells() {
  if [ "$QUICK" = 1 ]; then
    printf '%s\n' "seq 1MiB default none 1" "seq 1MiB prefetch none 1" \
      "seq 16MiB default none 1" "seq 16MiB concurrent none 1" \
      "seq 16MiB prefetch none 1" "rand 1MiB prefetch none 1" \
      "seq 1MiB default readahead 1"
    return
  fi
  local procs cache pattern io mode
  for procs in 1 8; do
    for cache in none readahead readahead_chunked; do
      for pattern in seq rand; do
        for io in 64KiB 1MiB 16MiB 100MiB; do
          for mode in default concurrent prefetch; do
            echo "$pattern $io $mode $cache $procs"
          done
        done
      done
    done
  done
}

# The worst-case duration in seconds, from the bounds. A cell lasts at
# most MAX_SECONDS, plus its slack: 0.4 s to fork, open and tear down,
# and the one read each process may have started just before the
# deadline: io-size + a cache block, at 100 MB/s for a lone process and
# 40 MB/s each for 8. Those rates are pessimistic: on a quiet 2-core
# machine under the gcs profile one process gets 150-170 MB/s, and 8
# processes of 100 MiB reads 530-680 MB/s together, ~70 MB/s each (a
# machine busy with other work did worse). Fixed costs: 10 s to make the
# object and start and warm the server, the three whole-object peer
# downloads at 150 MB/s, fsspec's bounded run + 2 s to start Python, 10 s
# for the report and charts.
worst_case() {
  cells | awk -v S="$MAX_SECONDS" -v B="$BLOCK_BYTES" -v O="$OBJECT_BYTES" '
    function bytes(s) {
      if (s ~ /KiB$/) return s * 1024
      if (s ~ /MiB$/) return s * 1048576
      return s + 0
    }
    {
      rate = ($5 == 1) ? 100e6 : 40e6
      total += S + 0.4 + (bytes($2) + B) / rate
      n++
    }
    END {
      fixed = 10 + 3 * O / 150e6 + S + 2 + 10
      printf "%d %.0f %.0f\n", n, total, total + fixed
    }'
}

read -r NCELLS CELLS_WORST TOTAL_WORST < <(worst_case)
plan_summary() {
  echo "$PROG: $NCELLS cells, each <= ${MAX_SECONDS} s or $MAX_BYTES per process;" \
    "worst case $((TOTAL_WORST / 60)) min $((TOTAL_WORST % 60)) s" \
    "(cells $CELLS_WORST s, the rest fixed costs)" >&2
  if [ "$TOTAL_WORST" -gt 900 ]; then
    echo "$PROG: warning: that is more than 15 minutes" >&2
  fi
}
if [ "$PLAN" = 1 ]; then
  cells
  plan_summary
  exit 0
fi

# ---- Set-up ------------------------------------------------------------------

FSSPEC_PYTHON=${FSSPEC_PYTHON:-/usr/bin/python3}
[ -x "$GSREAD" ] || die "no gsread binary at $GSREAD (build first: cmake -S . -B build -G Ninja && cmake --build build)"
for tool in curl aria2c python3; do
  command -v "$tool" >/dev/null || die "$tool not found (bash scripts/install-deps.sh)"
done
"$FSSPEC_PYTHON" -c 'import fsspec, aiohttp' 2>/dev/null ||
  die "$FSSPEC_PYTHON cannot import fsspec and aiohttp (bash scripts/install-deps.sh; or set FSSPEC_PYTHON)"
command -v gnuplot >/dev/null || echo "$PROG: gnuplot not found: no charts" >&2

plan_summary
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gsread-matrix.XXXXXX")
STATE=$TMP/state
cleanup() {
  "$ROOT/tests/server/gcs-server" stop --state "$STATE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP/data/$BUCKET" "$OUT"
head -c "$OBJECT_BYTES" /dev/urandom >"$TMP/data/$BUCKET/$OBJECT"
. "$HERE/server.sh" # BENCH_WORKERS, bench_ceiling
EP=$("$ROOT/tests/server/gcs-server" start --data "$TMP/data" --state "$STATE" \
  --profile "$PROFILE" --workers "$BENCH_WORKERS")
MEDIA_URL="$EP/download/storage/v1/b/$BUCKET/o/$OBJECT?alt=media"
HTTP_URL="$EP/http/$BUCKET/$OBJECT"
GS_URL="gs://$BUCKET/$OBJECT"
LOG=$STATE/requests.log
# The first metadata request hashes the whole object (~1.7 s/GiB, the
# worker busy meanwhile): pay for it now, not in the first measurement.
curl -sS --fail -o /dev/null "$EP/storage/v1/b/$BUCKET/o/$OBJECT"
MEDIA=$MEDIA_URL BENCH_SIZE=$OBJECT_BYTES bench_ceiling 4 >&2

RESULTS=$OUT/results.jsonl
: >"$RESULTS"

# The run's circumstances, first line of results.jsonl.
write_meta() {
  python3 - "$@" >>"$RESULTS" <<'EOF'
import json, os, platform, subprocess, sys, time
profile, size, max_bytes, max_seconds, quick, gsread, fsspec_py = sys.argv[1:8]
def first_line(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return None
model = None
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(json.dumps({
    "tool": "meta", "profile": profile, "object_size": int(size),
    "max_bytes": max_bytes, "max_seconds": float(max_seconds),
    "quick": quick == "1", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    "host": platform.node(), "cpus": os.cpu_count(), "cpu_model": model,
    "kernel": platform.release(), "gsread": first_line([gsread, "--version"]),
    "curl": first_line(["curl", "--version"]),
    "aria2c": first_line(["aria2c", "--version"]),
    "fsspec": first_line([fsspec_py, "-c", "import fsspec; print(fsspec.__version__)"]),
}))
EOF
}
write_meta "$PROFILE" "$OBJECT_BYTES" "$MAX_BYTES" "$MAX_SECONDS" "$QUICK" "$GSREAD" "$FSSPEC_PYTHON"

# ---- Ceiling and peers -------------------------------------------------------

failures=0
peer() { # label, peers.py arguments...
  local label=$1
  shift
  echo "$PROG: $label" >&2
  if ! python3 "$HERE/peers.py" "$@" --size "$OBJECT_BYTES" --log "$LOG" >>"$RESULTS"; then
    echo "$PROG: $label failed" >&2
    failures=$((failures + 1))
  fi
}
peer "ceiling: curl, 1 stream" ceiling --streams 1 --url "$MEDIA_URL"
peer "ceiling: curl, 4 range streams" ceiling --streams 4 --url "$MEDIA_URL"
peer "peer: aria2c -x 4 -s 4" aria2c --url "$MEDIA_URL" --tmp "$TMP"
peer "peer: fsspec readahead, 1 MiB reads" fsspec --url "$HTTP_URL" \
  --python "$FSSPEC_PYTHON" --io-size $((1024 * 1024)) \
  --block-size "$BLOCK_BYTES" --max-bytes $((1024 * 1024 * 1024)) \
  --max-seconds "$MAX_SECONDS"

# ---- gsread cells ------------------------------------------------------------

# Runs one cell; its JSON line goes to results.jsonl. A failed cell is
# recorded as an "error" line and the matrix goes on.
run_cell() { # index pattern io mode cache procs
  local i=$1 pattern=$2 io=$3 mode=$4 cache=$5 procs=$6 line err
  local args=(bench --json --endpoint "$EP" --pattern "$pattern" --io-size "$io"
    --mode "$mode" --cache "$cache" --procs "$procs"
    --max-bytes "$MAX_BYTES" --max-seconds "$MAX_SECONDS")
  [ "$mode" = default ] || args+=(--concurrency 4)
  if line=$("$GSREAD" "${args[@]}" "$GS_URL" 2>"$TMP/cell.err"); then
    echo "$line" >>"$RESULTS"
    printf '%s: [%3d/%d] %-4s %-6s %-10s %-17s procs %d: %s MB/s\n' "$PROG" \
      "$i" "$NCELLS" "$pattern" "$io" "$mode" "$cache" "$procs" \
      "$(grep -o '"mbps":[0-9.]*' <<<"$line" | cut -d: -f2)" >&2
  else
    err=$(tr '\n' ' ' <"$TMP/cell.err")
    echo "$PROG: [$i/$NCELLS] $pattern $io $mode $cache procs $procs FAILED: $err" >&2
    python3 -c 'import json, sys; print(json.dumps({"tool": "gsread", "error": sys.argv[6],
      "pattern": sys.argv[1], "io": sys.argv[2], "mode": sys.argv[3],
      "cache": sys.argv[4], "procs": int(sys.argv[5])}))' \
      "$pattern" "$io" "$mode" "$cache" "$procs" "$err" >>"$RESULTS"
    failures=$((failures + 1))
  fi
}

i=0
start=$SECONDS
while read -r pattern io mode cache procs; do
  i=$((i + 1))
  run_cell "$i" "$pattern" "$io" "$mode" "$cache" "$procs"
done < <(cells)
echo "$PROG: cells took $((SECONDS - start)) s" >&2

# ---- Report ------------------------------------------------------------------

python3 "$HERE/report.py" "$RESULTS" --out "$OUT"
echo "$PROG: wrote $RESULTS, $OUT/results.md and the charts in $OUT" >&2
if [ "$failures" -gt 0 ]; then
  die "$failures measurement(s) failed; see the messages above"
fi
