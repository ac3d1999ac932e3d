#!/usr/bin/env bash
# The demo: starts the local GCS stand-in with the "gcs" profile (38 ms to
# the first byte, 220 MiB/s per connection), creates a 1 GiB object, and
# reads it with gsread four ways to show what concurrency and prefetching
# (adaptive, and sequential as cat uses it) buy, next to the ceiling (4
# parallel curl range requests). Those read 1 MiB at a time (cat --copy);
# the last gsread lines are plain `gsread cat` (gsr_sendfile), measuring
# its width, then again starting with the width it remembered. Then the same
# object from Python: gsread's fsspec filesystem and fsspec's
# HTTPFileSystem, in MB/s.
# Then runs a few cells of the benchmark matrix if it is available.
# Usage: scripts/demo.sh [--no-install]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ "${1:-}" != "--no-install" ]; then bash scripts/install-deps.sh; fi

echo "== building (release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
GSREAD="$ROOT/build/gsread"
# Each cat measures its width afresh (a later gsread cat would start with
# the one remembered in ~/.cache/gsread/plans: docs/cli.md).
export GSREAD_PLANS_FILE=

WORK=$(mktemp -d /tmp/gsread-demo-XXXXXX)
cleanup() { tests/server/gcs-server stop --state "$WORK/state" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/data/demo-bucket" "$WORK/state"
echo "== creating a 1 GiB object of random bytes"
head -c 1073741824 /dev/urandom > "$WORK/data/demo-bucket/1GiB.bin"
ENDPOINT=$(tests/server/gcs-server start --data "$WORK/data" --state "$WORK/state" --profile gcs)
export STORAGE_EMULATOR_HOST="$ENDPOINT"
echo "== local GCS server at $ENDPOINT (profile gcs)"
URL="gs://demo-bucket/1GiB.bin"
"$GSREAD" stat "$URL" >/dev/null   # warm the server's hash cache

# Seconds a command takes (its output discarded), and MiB/s.
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }
rate() { python3 -c "print('%.1f' % ($1 / 1048576 / $2))"; }

GEN=$(curl -s "$ENDPOINT/storage/v1/b/demo-bucket/o/1GiB.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
MEDIA="$ENDPOINT/download/storage/v1/b/demo-bucket/o/1GiB.bin?alt=media&generation=$GEN"
ceiling() {
  local q=268435456
  for i in 0 1 2 3; do curl -s -o /dev/null -r $((i*q))-$((i*q+q-1)) "$MEDIA" & done
  wait
}

printf '\n%-58s %10s %8s\n' "gs://demo-bucket/1GiB.bin: 1 MiB reads (cat --copy), then cat" "MiB/s" "bytes"
S=$(seconds "$GSREAD" cat "$URL" --copy --io-size 1M --prefetch off --concurrency 1 --length 128M)
printf '%-58s %10s %8s\n' "no prefetch, 1 connection (gcsfs's old default)" "$(rate 134217728 "$S")" "128 MiB"
S=$(seconds "$GSREAD" cat "$URL" --copy --io-size 1M --prefetch adaptive --concurrency 4)
printf '%-58s %10s %8s\n' "adaptive prefetch, 4 connections" "$(rate 1073741824 "$S")" "1 GiB"
S=$(seconds "$GSREAD" cat "$URL" --copy --io-size 1M --prefetch sequential --concurrency 4)
printf '%-58s %10s %8s\n' "sequential (a promise): full width at once, 4 connections" "$(rate 1073741824 "$S")" "1 GiB"
# Plain cat twice with one plans file: the first measures its width (and
# writes it), the second starts with it. --stats says which it was.
plan() { sed -n 's/^connections: *//p' "$WORK/stats"; }
S=$(GSREAD_PLANS_FILE="$WORK/plans" seconds "$GSREAD" cat "$URL" --stats 2>"$WORK/stats")
printf '%-58s %10s %8s\n' "gsread cat, its defaults (measured: $(plan) connections)" "$(rate 1073741824 "$S")" "1 GiB"
S=$(GSREAD_PLANS_FILE="$WORK/plans" seconds "$GSREAD" cat "$URL" --stats 2>"$WORK/stats")
printf '%-58s %10s %8s\n' "gsread cat again: $(plan) connections, remembered" "$(rate 1073741824 "$S")" "1 GiB"
S=$(seconds ceiling)
printf '%-58s %10s %8s\n' "ceiling: 4 parallel curl range requests, same server" "$(rate 1073741824 "$S")" "1 GiB"

# The same object from Python (1 MiB f.read() calls, the read loop timed):
# gsread's fsspec filesystem (python/, docs/python.md) beside fsspec's own
# HTTPFileSystem on the stand-in's plain HTTP URL of the object.
pyread() { PYTHONPATH="$ROOT/build/python" /usr/bin/python3 bench/py_read.py "$@" |
  /usr/bin/python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["MBps"])'; }
printf '\n%-58s %10s %8s\n' "the same from Python: 1 MiB f.read() calls" "MB/s" "bytes"
if ls build/python/gsread/_gsread*.so >/dev/null 2>&1; then
  printf '%-58s %10s %8s\n' "gsread fsspec filesystem, prefetch=sequential" \
    "$(pyread gsread "gsread://demo-bucket/1GiB.bin" --cache none --prefetch sequential)" "1 GiB"
  printf '%-58s %10s %8s\n' "gsread fsspec filesystem, its defaults (readahead 5 MiB)" \
    "$(pyread gsread "gsread://demo-bucket/1GiB.bin")" "1 GiB"
else
  echo "gsread's Python package was not built (python3-dev missing?): skipped"
fi
printf '%-58s %10s %8s\n' "fsspec HTTPFileSystem (its defaults), plain HTTP URL" \
  "$(pyread http "$ENDPOINT/http/demo-bucket/1GiB.bin")" "1 GiB"

if "$GSREAD" help bench >/dev/null 2>&1 && [ -x bench/matrix.sh ]; then
  echo
  echo "== a few cells of the benchmark matrix (bench/matrix.sh --quick)"
  bench/matrix.sh --quick --out "$WORK/results" 2>&1 | tail -1
  echo
  # The report's tables (the charts stay behind in the temp dir).
  awk '/^## Ceiling and peers/{on=1} /^## gsread: every measure/{on=0} on' \
    "$WORK/results/results.md"
fi
