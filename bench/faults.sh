#!/usr/bin/env bash
# Is every page faulted in once? Minor page faults per GiB, CPU s/GiB and
# peak RSS beside MB/s, from time(1), for five readers of the same 1 GiB
# object, alternated: `gsread cat` (defaults), `gsread bench --pattern seq
# --io-size 16M --mode prefetch --concurrency 4`, 4 parallel curls over
# the same bytes (a quarter each), and Python (gsread://, no options:
# a f.read(1 MiB) loop, and one f.read() of the whole object; the figures
# of the whole process, the interpreter's start and imports included).
# The targets (issue 24): minor faults x 4 KiB <= peak RSS + 32 MiB for cat
# and the bench line (the column "faulted / (RSS + 32 MiB)", <= 1.00 meets
# it); Python's CPU <= 1.5x cat's, and the whole read's peak RSS <= the
# object + 64 MiB.
# Usage: bench/faults.sh [--profile gcs|unshaped] [RUNS]   (default gcs, 3)
# GSREAD=PATH measures another build (default build/gsread).
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE=gcs
if [ "${1:-}" = --profile ]; then PROFILE=$2; shift 2; fi
RUNS=${1:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
SIZE=1073741824
. "$ROOT/bench/server.sh"
bench_server faults "$SIZE" 1GiB --profile "$PROFILE"
curl -s -o /dev/null "$MEDIA" # the page cache and the server's hash cache
export STORAGE_EMULATOR_HOST="$EP"

# time(1) of a command: "wall user sys maxrss_kib minor_faults"; the
# figures of a shell include its children's (the curls, bench's worker).
measure() { /usr/bin/time -f '%e %U %S %M %R' -o "$WORK/time" "$@" >/dev/null; cat "$WORK/time"; }
curls() {
  local q=$((SIZE / 4)) i
  for i in 0 1 2 3; do
    curl -s -o /dev/null -r $((i * q))-$((i * q + q - 1)) "$MEDIA" &
  done
  wait
}
export -f curls
export SIZE MEDIA
out=()
for r in $(seq "$RUNS"); do
  out+=("cat $(measure "$GSREAD" cat gs://bench/1GiB)")
  out+=("bench $(measure "$GSREAD" bench gs://bench/1GiB --pattern seq \
    --io-size 16M --mode prefetch --concurrency 4 --max-bytes 1GiB \
    --max-seconds 60)")
  out+=("curl4 $(measure bash -c curls)")
  out+=("py1m $(PYTHONPATH="$ROOT/build/python" measure /usr/bin/python3 \
    "$ROOT/bench/py_read.py" gsread gsread://bench/1GiB --io 1M)")
  out+=("pywhole $(PYTHONPATH="$ROOT/build/python" measure /usr/bin/python3 \
    "$ROOT/bench/py_read.py" gsread gsread://bench/1GiB --loop whole)")
done
printf '%s\n' "${out[@]}" | python3 -c '
import statistics, sys
GiB, MiB = 1 << 30, 1 << 20
rows = {}
for line in sys.stdin:
    name, *v = line.split()
    rows.setdefault(name, []).append([float(x) for x in v])
print("| reader (1 GiB, %s profile) | MB/s | CPU s/GiB | peak RSS MiB | minor faults/GiB | faulted / (RSS + 32 MiB) |" % sys.argv[1])
print("|---|---|---|---|---|---|")
names = {"cat": "gsread cat", "bench": "gsread bench seq 16M prefetch c4",
         "curl4": "4 parallel curls (a quarter each)",
         "py1m": "Python gsread://, f.read(1 MiB) loop",
         "pywhole": "Python gsread://, one f.read()"}
for name, rs in rows.items():
    med = lambda i: statistics.median(r[i] for r in rs)
    wall, cpu, rss, flt = med(0), statistics.median(r[1] + r[2] for r in rs), med(3) * 1024, med(4)
    ratio = flt * 4096 / (rss + 32 * MiB)
    print(f"| {names[name]} | {GiB / wall / 1e6:.0f} | {cpu:.2f} | {rss / MiB:.0f} | {flt:.0f} | {ratio:.2f} |")
print("\nruns: %d, medians; raw (wall user sys maxrss_KiB minor_faults):" % len(next(iter(rows.values()))))
for name, rs in rows.items():
    print(f"  {name}: {rs}")
' "$PROFILE"
