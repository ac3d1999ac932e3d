# Sourced by the benchmark scripts: a temporary work directory holding one
# random object gs://bench/NAME of SIZE bytes, served by the local GCS
# stand-in, both removed at exit.
#   bench_server TAG SIZE NAME [gcs-server start options...]
# sets WORK, EP (the endpoint), MEDIA (the object's media URL, pinned to
# its generation) and BENCH_SIZE. The metadata GET makes the server hash
# the object once (cached by generation), so no timed run pays for it.
# The server runs BENCH_WORKERS nginx workers (default 4, one per curl of
# the ceiling: on the 2-core machine 4 gave the highest and steadiest
# 4-curl figures, 2, 6 and 8 lower medians or deeper dips; see
# docs/server.md); a --workers among the options wins.
#   bench_ceiling N
# checks that the server is not the bound (below).
# SPDX-License-Identifier: MIT

# Every gsread cat of a benchmark starts cold, as a first run does: no
# prefetch plan remembered from the run before (docs/cli.md).
export GSREAD_PLANS_FILE=
BENCH_WORKERS=${BENCH_WORKERS:-4}

bench_server() {
  local tag=$1 size=$2 name=$3 gen
  shift 3
  WORK=$(mktemp -d "/tmp/gsread-$tag-XXXXXX")
  trap '"$ROOT/tests/server/gcs-server" stop --state "$WORK/state" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
  mkdir -p "$WORK/data/bench" "$WORK/state"
  head -c "$size" /dev/urandom >"$WORK/data/bench/$name"
  EP=$("$ROOT/tests/server/gcs-server" start --data "$WORK/data" --state "$WORK/state" \
    --workers "$BENCH_WORKERS" "$@")
  gen=$(curl -s "$EP/storage/v1/b/bench/o/$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
  MEDIA="$EP/download/storage/v1/b/bench/o/$name?alt=media&generation=$gen"
  BENCH_SIZE=$size
}

# bench_ceiling N: N parallel curls, each a ranged GET of the whole object
# (curl -r 0-(BENCH_SIZE-1) of $MEDIA), BENCH_CEILING_RUNS times (default
# 3); prints the median aggregate MB/s and whether the N curls reach 0.85 x
# N x the server's per-connection rate (the "rate" of $EP/_control/config;
# the unshaped profile has none, and the check does not apply; the rule is
# bench/ceiling.py's want_mbps). Exports
#   BENCH_CEILING_MBPS       the median aggregate MB/s
#   BENCH_CEILING_WANT_MBPS  0.85 x N x rate in MB/s, empty without a rate
#   BENCH_SERVER_BOUND       1 if the curls fell short, else 0
# which bench/ceiling.py reads: every ratio against a ceiling under the
# wanted figure is printed with "FLAG: ceiling is server-bound".
# A script with its own server sets EP, MEDIA and BENCH_SIZE first.
bench_ceiling() {
  local n=$1 runs=${BENCH_CEILING_RUNS:-3} rate r i t0 t1 all=()
  rate=$(curl -sS --fail "$EP/_control/config" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["rate"])') || return 1
  for r in $(seq "$runs"); do
    t0=$(date +%s.%N)
    for i in $(seq "$n"); do
      curl -sS --fail -o /dev/null -r "0-$((BENCH_SIZE - 1))" "$MEDIA" &
    done
    wait
    t1=$(date +%s.%N)
    all+=("$(python3 -c "print(round($n * $BENCH_SIZE / ($t1 - $t0) / 1e6, 1))")")
  done
  read -r BENCH_CEILING_MBPS BENCH_CEILING_WANT_MBPS BENCH_SERVER_BOUND < <(
    python3 "$ROOT/bench/ceiling.py" "$n" "$rate" "${all[@]}")
  [ "$BENCH_CEILING_WANT_MBPS" = - ] && BENCH_CEILING_WANT_MBPS=
  export BENCH_CEILING_MBPS BENCH_CEILING_WANT_MBPS BENCH_SERVER_BOUND
  echo "ceiling: $n parallel curls over the whole object: $BENCH_CEILING_MBPS MB/s (median of $runs: ${all[*]})"
  if [ -z "$BENCH_CEILING_WANT_MBPS" ]; then
    echo "ceiling check: the server has no per-connection rate (unshaped profile): the check does not apply"
  elif [ "$BENCH_SERVER_BOUND" = 1 ]; then
    echo "ceiling check: $n curls reach >= 0.85 x $n x $rate B/s = $BENCH_CEILING_WANT_MBPS MB/s: NO; FLAG: ceiling is server-bound: every ratio below is flagged"
  else
    echo "ceiling check: $n curls reach >= 0.85 x $n x $rate B/s = $BENCH_CEILING_WANT_MBPS MB/s: yes"
  fi
}
