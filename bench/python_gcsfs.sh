#!/usr/bin/env bash
# Is gsread's fsspec filesystem, with no options, a drop-in for gcsfs as it
# is now (adaptive prefetcher on, cache none) and as fast as gsread's C?
# One object behind the stand-in (gcs profile, 4 workers), ROUNDS rounds,
# the readers alternated:
#   seq    `f.read(1 MiB)` front to back: `gsread bench --pattern seq
#          --io-size 1M --mode prefetch` (C), `fs.open(p).read(1 MiB)` loop
#          through gsread:// with no options (bench/py_read.py), and
#          gcsfs with no options;
#   rand   200 reads of 1 MiB at random offsets, the same three ways, with
#          the bytes the server sent per byte asked;
#   ranges one `fs.cat_ranges` of 200 random 1 MiB ranges, gsread and gcsfs;
#   dask   with GCSFS_PEER_PATH (the folder that makes `import gcsfs` work):
#          `dd.read_csv` over 20 CSV objects on a LocalCluster of 2 worker
#          processes, gsread:// against gs:// through gcsfs, the whole job
#          (listing, graph, reads) timed (bench/py_dask.py).
# Prints medians, CPU s/GiB, peak RSS and the issue's targets (26): Python
# seq >= 0.9x C and >= 2x gcsfs; rand fetches <= 1.02x what was asked;
# cat_ranges >= 1.2x gcsfs; the Dask job <= 0.8x gcsfs's time.
# gcsfs is not a Debian package, and this machine reaches no other index:
# GCSFS_PEER names a script that runs one gcsfs cell (same arguments and
# JSON line as /tmp/gcsfs-peer/peer_read.py: ENDPOINT PATH --io N --pattern
# seq|rand [--count K] | --cat-ranges K --range-size N). Without it the
# gcsfs columns say "not run".
# Usage: bench/python_gcsfs.sh [--size BYTES] [ROUNDS]   (512 MiB, 3)
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=$((512 * 1024 * 1024))
if [ "${1:-}" = --size ]; then SIZE=$2; shift 2; fi
ROUNDS=${1:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
PY=/usr/bin/python3
export PYTHONPATH="$ROOT/build/python${PYTHONPATH:+:$PYTHONPATH}"
PEER=${GCSFS_PEER:-}
. "$ROOT/bench/server.sh"
bench_server pygcsfs "$SIZE" obj --profile gcs
export STORAGE_EMULATOR_HOST=$EP
curl -s -o /dev/null "$MEDIA"

sent() { curl -s "$EP/_control/stats" | $PY -c 'import json,sys; print(json.load(sys.stdin)["body_bytes_sent"])'; }
# A cell: prints "mbps cpu_s_per_gib maxrss_mib fetched_per_asked".
cell() {
  local who=$1 what=$2 line s0 s1
  s0=$(sent)
  case $who.$what in
  c.seq) line=$("$GSREAD" bench gs://bench/obj --pattern seq --io-size 1M --mode prefetch \
    --max-bytes "$SIZE" --json) ;;
  c.rand) line=$("$GSREAD" bench gs://bench/obj --pattern rand --io-size 1M --mode prefetch \
    --max-bytes 200M --json) ;;
  py.seq) line=$($PY "$ROOT/bench/py_read.py" gsread gsread://bench/obj --io 1M) ;;
  py.rand) line=$($PY "$ROOT/bench/py_read.py" gsread gsread://bench/obj --io 1M \
    --pattern rand --max-bytes 200M) ;;
  py.ranges) line=$($PY "$ROOT/bench/py_cat_ranges.py" bench/obj 200 1M) ;;
  gcsfs.seq) line=$($PY "$PEER" "$EP" bench/obj --io 1M --pattern seq) ;;
  gcsfs.rand) line=$($PY "$PEER" "$EP" bench/obj --io 1M --pattern rand --count 200) ;;
  gcsfs.ranges) line=$($PY "$PEER" "$EP" bench/obj --cat-ranges 200 --range-size 1M) ;;
  esac
  s1=$(sent)
  echo "$line" | $PY -c '
import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
b = d.get("bytes", 0); cpu = d.get("cpu_seconds", 0)
mbps = d.get("mbps", d.get("MBps", 0))  # C and the peer: mbps; py_read: MBps
rss = d["peak_rss_mb"] if "peak_rss_mb" in d else d.get("maxrss_kib", 0) / 1024
print(mbps, cpu / (b / 2**30) if b else 0, rss, (int(sys.argv[1]) / b) if b else 0)' "$((s1 - s0))"
}

declare -A got
whos="c py"
[ -n "$PEER" ] && whos="c py gcsfs"
for r in $(seq "$ROUNDS"); do
  for what in seq rand ranges; do
    for who in $whos; do
      [ "$who.$what" = c.ranges ] && continue
      got[$who.$what]+="$(cell "$who" "$what" | tr ' ' ,) "
    done
  done
done
if [ -n "${GCSFS_PEER_PATH:-}" ]; then
  mkdir -p "$WORK/data/bench/csv"
  for i in $(seq -w 0 19); do
    $PY "$ROOT/bench/py_dask.py" make "$WORK/csv$i" --bytes 16M --seed "$((10#$i + 1))" >/dev/null
    mv "$WORK/csv$i/part-000.csv" "$WORK/data/bench/csv/part-$i.csv"
  done
  echo "Dask: read_csv over 20 objects of 16 MiB, LocalCluster of 2 processes (seconds per job):"
  PYTHONPATH="$PYTHONPATH:$GCSFS_PEER_PATH" GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false \
    $PY "$ROOT/bench/py_dask.py" run --gsread "gsread://bench/csv/*.csv" \
    --gcsfs "gs://bench/csv/*.csv" --local "$WORK/data/bench/csv/*.csv" \
    --reps "$ROUNDS" | $PY -c '
import json, statistics, sys
runs = {}
for line in sys.stdin:
    d = json.loads(line)
    runs.setdefault(d["reader"], []).append(d["seconds"])
for k, v in runs.items():
    print(f"  {k}: median {statistics.median(v):.2f} s ({v})")
if "gcsfs" in runs:
    r = statistics.median(runs["gsread"]) / statistics.median(runs["gcsfs"])
    print(f"  gsread / gcsfs: {r:.2f} (target <= 0.8)")
if "local" in runs and "gcsfs" in runs:
    r = statistics.median(runs["local"]) / statistics.median(runs["gcsfs"])
    print(f"  local files / gcsfs: {r:.2f} (the floor: no reader at all)")'
fi
$PY - "$(declare -p got)" "$([ -n "$PEER" ] && echo 1 || echo 0)" <<'EOF'
import re, statistics, sys
cells = dict(re.findall(r'\[([^\]]+)\]="([^"]*)"', sys.argv[1]))
peer = sys.argv[2] == "1"
def med(key, i):
    runs = [tuple(map(float, x.split(","))) for x in cells.get(key, "").split()]
    return statistics.median(r[i] for r in runs) if runs else None
def fmt(v, f="{:.0f}"):
    return "not run" if v is None else f.format(v)
print("| cell | reader | MB/s | CPU s/GiB | peak RSS MiB | server bytes / asked |")
print("|---|---|---:|---:|---:|---:|")
for what in ["seq", "rand", "ranges"]:
    for who, name in [("c", "gsread C (bench)"), ("py", "gsread:// Python, no options"),
                      ("gcsfs", "gcsfs, no options")]:
        k = f"{who}.{what}"
        if k == "c.ranges" or (who == "gcsfs" and not peer):
            continue
        print(f"| {what} | {name} | {fmt(med(k, 0))} | {fmt(med(k, 1), '{:.2f}')} | "
              f"{fmt(med(k, 2))} | {fmt(med(k, 3), '{:.3f}')} |")
seq_py, seq_c = med("py.seq", 0), med("c.seq", 0)
print(f"\nPython seq / C seq: {seq_py / seq_c:.2f} (target >= 0.9)")
print(f"Python rand server bytes / asked: {med('py.rand', 3):.3f} (target <= 1.02)")
if peer:
    print(f"Python seq / gcsfs seq: {seq_py / med('gcsfs.seq', 0):.2f} (target >= 2)")
    print(f"cat_ranges gsread / gcsfs: {med('py.ranges', 0) / med('gcsfs.ranges', 0):.2f} (target >= 1.2)")
EOF
