#!/usr/bin/env bash
# What a remembered width buys a later process: `gsread cat` of an
# object from the local server's "gcs" profile (38 ms to the first byte,
# 220 MiB/s per connection), cold (GSREAD_PLANS_FILE empty: the width is
# measured, from 4) against warm (the width one run wrote to a plans
# file, from the start), alternated, medians.
# Usage: bench/plans_warm.sh [RUNS] [SIZE_MIB]   (defaults 6, 96)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-6}
MIB=${2:-96}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
. "$ROOT/bench/server.sh"
bench_server plans $((MIB << 20)) obj --profile gcs
PLANS=$WORK/plans
env STORAGE_EMULATOR_HOST="$EP" GSREAD_PLANS_FILE="$PLANS" \
  "$GSREAD" cat gs://bench/obj >/dev/null # measures and writes the width
grep -Eq " [0-9]+ [0-9]+$" "$PLANS" || { echo "no width was chosen:" >&2; cat "$PLANS" >&2; exit 1; }

t() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); python3 -c "print($t1-$t0)"; }
COLD=(); WARM=()
for i in $(seq 1 "$RUNS"); do
  COLD+=("$(t env STORAGE_EMULATOR_HOST="$EP" GSREAD_PLANS_FILE= "$GSREAD" cat gs://bench/obj)")
  WARM+=("$(t env STORAGE_EMULATOR_HOST="$EP" GSREAD_PLANS_FILE="$PLANS" "$GSREAD" cat gs://bench/obj)")
done
python3 - "${COLD[*]}" "${WARM[*]}" "$MIB" <<'PY'
import statistics, sys
cold, warm = ([float(x) for x in a.split()] for a in sys.argv[1:3])
mib = float(sys.argv[3])
mc = statistics.median(cold)
print(f"| gsread cat, {mib:.0f} MiB, gcs profile | median s | MiB/s | vs cold |")
print("|---|---|---|---|")
for name, xs in (("cold: the width is measured (GSREAD_PLANS_FILE=)", cold),
                 ("warm: the width remembered from the run before", warm)):
    m = statistics.median(xs)
    print(f"| {name} | {m:.3f} | {mib / m:.0f} | {mc / m:.2f}x |")
print(f"\nruns: {len(cold)}, alternated; cold {cold}, warm {warm}")
PY
