#!/usr/bin/env bash
# Ranges over many objects from Python (issue 25): one fs.cat_ranges over
# N objects x PER ranges against a ThreadPoolExecutor(16) of fs.cat_file
# calls over the same ranges (bench/py_many_files.py), gcs profile, the
# stand-in with 4 workers, alternated, medians of ROUNDS.
# Usage: bench/many_files.sh [ROUNDS] [N PER SIZE]   (3; 20 50 1M)
# SPDX-License-Identifier: MIT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-3}
N=${2:-20}
PER=${3:-50}
RSIZE=${4:-1M}
OBJ=$((64 * 1024 * 1024))
export PYTHONPATH="${GSREAD_PYTHON:-$ROOT/build/python}${PYTHONPATH:+:$PYTHONPATH}"
. "$ROOT/bench/server.sh"
bench_server manyfiles "$OBJ" f0 --profile gcs
for i in $(seq 1 $((N - 1))); do
  head -c "$OBJ" /dev/urandom >"$WORK/data/bench/f$i"
done
export STORAGE_EMULATOR_HOST=$EP
/usr/bin/python3 "$ROOT/bench/py_many_files.py" bench/f "$N" "$PER" "$RSIZE" \
  --rounds "$ROUNDS"
