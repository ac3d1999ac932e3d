#!/usr/bin/env bash
# How does throughput scale with connections and processes? For N in $NS connections, against tests/server
# (unshaped and gcs profiles, one nginx worker per CPU):
#   - N parallel curls, each a range of 1/N of the object;
#   - one gsread process reading the object with N connections
#     (gsread cat --concurrency N --max-connections 2N: N carry bytes, and
#     each may have the next request waiting for its first byte beside it);
#   - P = cores/2 gsread processes at once, each the whole object with
#     N/P connections (at least 1);
# each with its throughput, the gsread cells with the client's CPU seconds
# (user+sys, /usr/bin/time) per GiB. Medians of $RUNS. Prints a markdown
# table.
# Usage: bench/scale.sh [SIZE_BYTES]   env: NS="1 4 8 16" RUNS=3
#        PROFILES="unshaped gcs" GSREAD=build/gsread GSREAD_ARGS=...
#        bench/scale.sh --bundle OUT  builds a self-contained folder (the
#        binaries with their libraries and loader, nginx with its Lua
#        module, this script and the server) that runs where nothing is
#        installed: OUT/run.sh [SIZE_BYTES].
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "${1:-}" = "--bundle" ]; then
  out=${2:?usage: bench/scale.sh --bundle OUT}
  carry=""
  for d in "$ROOT/../shared/tools" "$ROOT/../../shared/tools" /work/shared/tools; do
    [ -x "$d/carry-bundle.sh" ] && { carry="$d/carry-bundle.sh"; break; }
  done
  [ -n "$carry" ] || { echo "carry-bundle.sh not found" >&2; exit 1; }
  LD_LIBRARY_PATH="$ROOT/build" "$carry" "$out" "$ROOT/build/gsread" curl \
    /usr/bin/python3 /usr/bin/time --nginx
  mkdir -p "$out/repo/bench" "$out/repo/tests" "$out/repo/build"
  cp "$ROOT/bench/scale.sh" "$ROOT/bench/server.sh" "$out/repo/bench/"
  cp -r "$ROOT/tests/server" "$out/repo/tests/"
  # python3's standard library (the server's helpers use json, socket).
  py=$(/usr/bin/python3 -c 'import os; print(os.path.dirname(os.__file__))')
  mkdir -p "$out/pylib"
  (cd "$py" && tar cf - --exclude=test --exclude=__pycache__ \
     --exclude=site-packages --exclude=idlelib --exclude=tkinter \
     --exclude=ensurepip --exclude=lib2to3 --exclude=pydoc_data \
     --exclude=distutils --exclude=config-3\* .) | (cd "$out/pylib" && tar xf -)
  cat >"$out/run.sh" <<'RUN'
#!/bin/sh
# Runs the scale benchmark with the carried binaries only.
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$here/bin:$PATH" PYTHONHOME="$here/pylib" PYTHONPATH="$here/pylib"
export GSREAD="$here/bin/gsread" GSR_NGINX_MODULES="$here/lib/modules"
export LUA_PATH="$here/lualib/?.lua;;" # the Lua module's default path
exec bash "$here/repo/bench/scale.sh" "$@"
RUN
  chmod +x "$out/run.sh"
  du -sh "$out"
  exit 0
fi

SIZE=${1:-1073741824}
NS=${NS:-"1 4 8 16"}
RUNS=${RUNS:-3}
PROFILES=${PROFILES:-"unshaped gcs"}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
CPUS=$(nproc)
P=$((CPUS / 2)); [ "$P" -ge 1 ] || P=1
TIME=${TIME:-/usr/bin/time}
read -r -a EXTRA <<<"${GSREAD_ARGS:-}"

now() { date +%s.%N; }
# N parallel curls over the object in N ranges; prints seconds.
curls() {
  local n=$1 i first last t0 pids=()
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    first=$((SIZE * i / n)); last=$((SIZE * (i + 1) / n - 1))
    curl -s -o /dev/null -r "$first-$last" "$MEDIA" & pids+=($!)
  done
  wait "${pids[@]}"
  echo "$(now) $t0" | awk '{print $1 - $2}'
}
# P gsread processes with C connections each; prints "seconds cpu_seconds".
gsreads() {
  local p=$1 c=$2 i t0 pids=()
  t0=$(now)
  for ((i = 0; i < p; i++)); do
    STORAGE_EMULATOR_HOST="$EP" "$TIME" -f "%U %S" -o "$WORK/cpu.$i" \
      "$GSREAD" cat "gs://bench/obj" --concurrency "$c" --max-connections "$((2 * c))" \
      "${EXTRA[@]}" >/dev/null & pids+=($!)
  done
  wait "${pids[@]}"
  local t1 cpu=0
  t1=$(now)
  cpu=$(cat "$WORK"/cpu.* | awk '{s += $1 + $2} END {print s}')
  rm -f "$WORK"/cpu.*
  echo "$t1 $t0 $cpu" | awk '{print $1 - $2, $3}'
}
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_profile() {
  local prof=$1
  . "$ROOT/bench/server.sh"
  bench_server scale "$SIZE" obj --profile "$prof" --workers "$CPUS"
  curl -s -o /dev/null "$MEDIA" # page cache and the server's hash cache
  local gib
  gib=$(awk -v s="$SIZE" 'BEGIN {print s / 1073741824}')
  for n in $NS; do
    local cs="" gs="" gc="" ps="" pc="" r out c
    c=$((n / P)); [ "$c" -ge 1 ] || c=1
    for ((r = 0; r < RUNS; r++)); do
      cs+=" $(curls "$n")"
      out=$(gsreads 1 "$n"); gs+=" ${out% *}"; gc+=" ${out#* }"
      out=$(gsreads "$P" "$c"); ps+=" ${out% *}"; pc+=" ${out#* }"
    done
    awk -v prof="$prof" -v n="$n" -v p="$P" -v c="$c" -v gib="$gib" \
      -v cs="$(echo "$cs" | med)" -v gs="$(echo "$gs" | med)" \
      -v gc="$(echo "$gc" | med)" -v ps="$(echo "$ps" | med)" \
      -v pc="$(echo "$pc" | med)" 'BEGIN {
      b = gib * 1.073741824; # GB
      printf "| %s | %d | %.2f | %.2f (%.2fx) | %.2f | %d x %d: %.2f (%.2fx) | %.2f |\n",
        prof, n, b / cs, b / gs, cs / gs, gc / gib, p, c, p * b / ps,
        (p * b / ps) / (b / cs), pc / (p * gib) }'
  done
  "$ROOT/tests/server/gcs-server" stop --state "$WORK/state" >/dev/null 2>&1 || true
}

echo "scale: $SIZE bytes, $CPUS CPUs, server workers $CPUS, P=$P, medians of $RUNS, gsread $("$GSREAD" --version 2>/dev/null | head -1)"
echo
echo "| profile | N | N curls GB/s | 1 gsread, N conns GB/s (vs curls) | its CPU s/GiB | P gsreads x conns: GB/s (vs curls) | their CPU s/GiB |"
echo "|---|---|---|---|---|---|---|"
for prof in $PROFILES; do (run_profile "$prof"); done
