#!/usr/bin/env bash
# Is `gsread cat` as fast as curl? `gsread cat` of a 1 GiB object from the UNSHAPED
# local server to /dev/null against `curl -o /dev/null` of the same media
# URL, alternated in one run, medians of 5. Prints a markdown table.
# Usage: bench/cat_vs_curl.sh [RUNS]   (needs a release build in build/)
# WORKERS=1 runs the server with one nginx worker (default: bench/server.sh's
# BENCH_WORKERS): on two cores a second worker, serving gsread's extra
# connections, may take the core the client needs; curl's one connection
# never wakes it. bench_ceiling 4 runs first (on this unshaped profile its
# check does not apply, and no ratio is flagged).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-5}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
. "$ROOT/bench/server.sh"
WORKERS=${WORKERS:-$BENCH_WORKERS}
bench_server catbench 1073741824 1GiB --profile unshaped --workers "$WORKERS"
curl -s -o /dev/null "$MEDIA" # warm the page cache and the server's hash cache
bench_ceiling 4

t() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); python3 -c "print($t1-$t0)"; }
G=(); C=(); GC=()
one() {
  case $1 in
    0) C+=("$(t curl -s -o /dev/null "$MEDIA")") ;;
    1) G+=("$(t env STORAGE_EMULATOR_HOST="$EP" "$GSREAD" cat gs://bench/1GiB)") ;;
    2) GC+=("$(t env STORAGE_EMULATOR_HOST="$EP" "$GSREAD" cat gs://bench/1GiB --copy)") ;;
  esac
}
# Alternated, the order rotating each round (curl first, then second, then
# third), so that no reader always runs right after the same other one.
for i in $(seq 0 $((RUNS - 1))); do
  for k in 0 1 2; do one $(((i + k) % 3)); done
done
python3 - "${C[*]}" "${G[*]}" "${GC[*]}" "$WORKERS" "$ROOT/bench" <<'PY'
import statistics, sys
sys.path.insert(0, sys.argv[5])
from ceiling import flag
c, g, g1 = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mib = lambda s: 1024 / s
mc = statistics.median(c)
print(f"| reader (1 GiB, unshaped local server, {sys.argv[4]} nginx worker(s), /dev/null) | median s | MiB/s | vs curl |")
print("|---|---|---|---|")
for name, xs in (("curl -o /dev/null (1 connection)", c),
                 ("gsread cat (defaults: gsr_sendfile, one stream straight to stdout)", g),
                 ("gsread cat --copy (reads through the prefetcher's blocks)", g1)):
    m = statistics.median(xs)
    print(f"| {name} | {m:.3f} | {mib(m):.0f} | {mc/m:.2f}x{flag()} |")
print(f"\nruns: {len(c)}, alternated; all times: curl {c}, gsread {g}, gsread --copy {g1}")
PY
