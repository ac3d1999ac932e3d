#!/usr/bin/env bash
# One handle, many threads (issue 25): 16 threads of random 1 MiB preads
# sharing ONE handle (`--ranges-mode pread-threads=16`) against a handle
# per thread (`pread-handles=16`), the prefetcher on ("adaptive"), under
# each cache named (default: none, readahead, blockcache), alternated,
# RUNS rounds, medians; gcs profile, 1 GiB, 400 ranges. Target: one
# handle >= 0.9x the rate of 16 handles.
# Usage: bench/one_handle.sh [RUNS] [CACHE...]   GSREAD=PATH (default build/gsread)
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-3}
shift || true
CACHES=("$@")
[ ${#CACHES[@]} -gt 0 ] || CACHES=(none readahead blockcache)
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
SIZE=1073741824
. "$ROOT/bench/server.sh"
bench_server onehandle "$SIZE" 1GiB --profile gcs
export STORAGE_EMULATOR_HOST="$EP"
python3 -c "import random as r
r.seed(25)
for _ in range(400): print(r.randrange($SIZE - 2**20), 2**20)" >"$WORK/ranges"
one() { # CACHE MODE -> mbps requests
  "$GSREAD" bench gs://bench/1GiB --ranges "$WORK/ranges" --ranges-mode "$2" \
    --prefetch adaptive --cache "$1" --json |
    python3 -c 'import json,sys; j=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(j["mbps"], j.get("requests", ""))'
}
echo "| cache | one handle MB/s | 16 handles MB/s | one / 16 | requests (one, 16) |"
echo "|---|---:|---:|---:|---|"
for c in "${CACHES[@]}"; do
  a=() b=() ra="" rb=""
  for r in $(seq "$RUNS"); do
    read -r m q < <(one "$c" pread-threads=16); a+=("$m"); ra=$q
    read -r m q < <(one "$c" pread-handles=16); b+=("$m"); rb=$q
  done
  python3 - "$c" "$ra" "$rb" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
c, ra, rb, a, b = sys.argv[1:6]
a = statistics.median(map(float, a.split())); b = statistics.median(map(float, b.split()))
print(f"| {c} | {a:.1f} | {b:.1f} | {a / b:.2f} | {ra}, {rb} |")
PY
done
