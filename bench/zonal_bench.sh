#!/usr/bin/env bash
# Is a zonal bucket read over gRPC (BidiReadObject) as fast as the same
# object over the JSON API? One object, served by both stand-ins with the
# same profile (first-byte wait, rate per connection or stream), read by
# the same commands, alternated, ROUNDS times: `gsread cat --concurrency
# 4` (4 connections, or 4 streams: the issue compares at the same
# connection count, and gsread opens 4 streams from 500 MiB), `bench
# --pattern seq` at 1 MiB and 16 MiB (--mode prefetch --concurrency 4) and
# `bench --pattern rand` at 1 MiB (--concurrency 4). Prints each cell's
# median MB/s over JSON and over gRPC and their ratio. The targets (issue
# 28): sequential >= 0.9x JSON, random >= 1.0x.
# The zonal stand-in is zonal-fast-server (tests/server/zonal_fast.c, C,
# nghttp2), built with the tests beside gsread: the Python one (grpcio,
# tests/server/zonal-server, which keeps the faults for the tests) tops out
# near 234 MB/s on a 2-core machine, below one stream's 220 MiB/s. Its
# ceiling (one cat of the object with nothing shaped, over the streams
# gsread opens for it: 1 under 100 MiB, 2 under 500 MiB, else 4) is printed
# first so a ratio can be read against it.
# Usage: bench/zonal_bench.sh [--python] [--pipeline] [--ceiling]
#                             [--size BYTES] [ROUNDS]   (512 MiB, 3 rounds)
#   --python: the Python stand-in instead. --pipeline: zonal-fast-server's
#   first-byte wait runs from each request message's arrival, so waits of
#   requests sent while others stream overlap (by default, as the Python
#   one, each request waits its turn, then its first-byte wait).
#   --ceiling: print the stand-in's ceiling only.
# GSREAD=PATH measures another build (default build/gsread); ZONAL_FAST=PATH
# another zonal-fast-server (default tests/zonal-fast-server beside it).
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=$((512 * 1024 * 1024))
STANDIN=fast
CEILING_ONLY=
PIPELINE=()
while [ $# -gt 0 ]; do
  case $1 in
  --python) STANDIN=python; shift ;;
  --ceiling) CEILING_ONLY=1; shift ;;
  --pipeline) PIPELINE=(--pipeline); shift ;;
  --size) SIZE=$2; shift 2 ;;
  *) break ;;
  esac
done
ROUNDS=${1:-3}
GSREAD=${GSREAD:-"$ROOT/build/gsread"}
ZONAL_FAST=${ZONAL_FAST:-"$(dirname "$GSREAD")/tests/zonal-fast-server"}
if [ "$STANDIN" = python ] && [ ${#PIPELINE[@]} -gt 0 ]; then
  echo "zonal_bench: --pipeline is zonal-fast-server's" >&2
  exit 2
fi
if [ "$STANDIN" = fast ] && [ ! -x "$ZONAL_FAST" ]; then
  echo "zonal_bench: no zonal-fast-server at $ZONAL_FAST (build the tests, or --python)" >&2
  exit 2
fi
TTFB_MS=38
RATE=$((220 * 1024 * 1024))
. "$ROOT/bench/server.sh"
bench_server zonal "$SIZE" obj --profile gcs
ZPID=
trap '[ -n "$ZPID" ] && kill "$ZPID" 2>/dev/null; "$ROOT/tests/server/gcs-server" stop --state "$WORK/state" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

start_zonal() { # extra zonal-server options
  [ -n "$ZPID" ] && kill "$ZPID" 2>/dev/null && wait "$ZPID" 2>/dev/null || true
  rm -f "$WORK/zport"
  local server=$ZONAL_FAST
  [ "$STANDIN" = python ] && server=$ROOT/tests/server/zonal-server
  "$server" --port 0 --port-file "$WORK/zport" \
    --root "$WORK/data" "$@" >"$WORK/zonal.out" 2>&1 &
  ZPID=$!
  for _ in $(seq 100); do [ -s "$WORK/zport" ] && break; sleep 0.1; done
  [ -s "$WORK/zport" ] || { cat "$WORK/zonal.out"; exit 1; }
  ZEP=http://127.0.0.1:$(cat "$WORK/zport")
}

# seconds CMD...: wall seconds of CMD, output discarded.
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}
# mbps_of JSON_LINE: bench --json's MB/s.
mbps_of() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["mbps"])'; }

json() { STORAGE_EMULATOR_HOST=$EP "$GSREAD" "$@" --no-grpc; }
grpc() { STORAGE_EMULATOR_HOST=$EP STORAGE_GRPC_ENDPOINT=$ZEP "$GSREAD" "$@" --grpc; }

cell() { # NAME RUNNER: one figure in MB/s
  local runner=$2
  case $1 in
  cat) python3 -c "print(round($SIZE / $(seconds "$runner" cat --concurrency 4 gs://bench/obj) / 1e6, 1))" ;;
  seq1m) "$runner" bench gs://bench/obj --pattern seq --io-size 1M --mode prefetch \
    --concurrency 4 --max-bytes "$SIZE" --json | mbps_of ;;
  seq16m) "$runner" bench gs://bench/obj --pattern seq --io-size 16M --mode prefetch \
    --concurrency 4 --max-bytes "$SIZE" --json | mbps_of ;;
  rand1m) "$runner" bench gs://bench/obj --pattern rand --io-size 1M --mode concurrent --concurrency 4 \
    --max-bytes 128M --max-seconds 20 --json | mbps_of ;;
  esac
}

start_zonal
echo "zonal stand-in ($STANDIN) unshaped (its own bound): cat over gRPC: $(cell cat grpc) MB/s"
[ -n "$CEILING_ONLY" ] && exit 0
start_zonal --ttfb-ms "$TTFB_MS" --rate "$RATE" "${PIPELINE[@]}"
echo "profile: $TTFB_MS ms first byte${PIPELINE:+ (pipelined)}, $RATE B/s per connection or stream; object $SIZE bytes; $ROUNDS rounds"
declare -A got
for r in $(seq "$ROUNDS"); do
  for c in cat seq1m seq16m rand1m; do
    if [ $((r % 2)) -eq 1 ]; then order="json grpc"; else order="grpc json"; fi
    for who in $order; do got[$c.$who]+="$(cell "$c" "$who") "; done
  done
done
python3 - "$(declare -p got)" <<'EOF'
import re, statistics, sys
cells = dict(re.findall(r'\[([^\]]+)\]="([^"]*)"', sys.argv[1]))
target = {"cat": 0.9, "seq1m": 0.9, "seq16m": 0.9, "rand1m": 1.0}
print("| cell | JSON MB/s | gRPC MB/s | gRPC / JSON | target | runs (JSON; gRPC) |")
print("|---|---:|---:|---:|---:|---|")
for c in ["cat", "seq1m", "seq16m", "rand1m"]:
    j = [float(x) for x in cells[c + ".json"].split()]
    g = [float(x) for x in cells[c + ".grpc"].split()]
    mj, mg = statistics.median(j), statistics.median(g)
    ok = "met" if mg / mj >= target[c] else "NOT met"
    print(f"| {c} | {mj:.0f} | {mg:.0f} | {mg / mj:.2f} | >= {target[c]} ({ok}) | "
          f"{' '.join(f'{x:.0f}' for x in j)}; {' '.join(f'{x:.0f}' for x in g)} |")
EOF
