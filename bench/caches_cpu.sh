#!/usr/bin/env bash
# What does each cache mode cost in CPU? CPU seconds per GB delivered for the readahead,
# readahead_chunked and zero-copy paths (and "none" as the floor), block
# sizes 5 MiB and 100 MiB with reads of the block size (aligned), a 1 GiB
# object on the UNSHAPED local server, one connection, medians of ROUNDS.
# Usage: bench/caches_cpu.sh [ROUNDS [RAW.jsonl]]   (needs build/ in release)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-5}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
. "$ROOT/bench/server.sh"
bench_server cachebench 1073741824 1GiB --profile unshaped
OUT="$WORK/results.jsonl"
cell() { # label bs cache [--zero-copy]
  local label=$1 bs=$2 cache=$3; shift 3
  STORAGE_EMULATOR_HOST="$EP" "$GSREAD" bench gs://bench/1GiB --json --pattern seq \
    --mode default --io-size "$bs" --block-size "$bs" --cache "$cache" \
    --max-bytes 1GiB --max-seconds 60 "$@" |
    python3 -c "import json,sys; d=json.load(sys.stdin); d['label']='$label'; print(json.dumps(d))"
}
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  for bs in 5M 100M; do
    cell "none" "$bs" none >> "$OUT"
    cell "none, zero-copy" "$bs" none --zero-copy >> "$OUT"
    cell "readahead" "$bs" readahead >> "$OUT"
    cell "readahead_chunked" "$bs" readahead_chunked >> "$OUT"
    cell "readahead_chunked, zero-copy" "$bs" readahead_chunked --zero-copy >> "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cells = {}
for r in rows:
    cells.setdefault((r["block_size"], r["label"]), []).append(r)
print("| block = read size | path | CPU s per GB | MB/s | bytes copied per GB | bytes by reference per GB |")
print("|---|---|---|---|---|---|")
for (bs, label), rs in sorted(cells.items()):
    m = lambda k: statistics.median(x.get(k, 0) for x in rs)
    gb = m("bytes") / 1e9
    print(f"| {bs >> 20} MiB | {label} | {m('cpu_seconds') / gb:.3f} | {m('mbps'):.0f} | "
          f"{m('bytes_copied') / gb / 1e9:.2f} GB | {m('bytes_referenced') / gb / 1e9:.2f} GB |")
print(f"\nmedians of {len(rows) // max(len(cells), 1)} runs per cell")
PY
if [ -n "${2:-}" ]; then cp "$OUT" "$2"; fi
