# Sourced by the benchmark scripts: a temporary work directory holding one
# random object gs://bench/NAME of SIZE bytes, served by the local GCS
# stand-in, both removed at exit.
#   bench_server TAG SIZE NAME [gcs-server start options...]
# sets WORK, EP (the endpoint) and MEDIA (the object's media URL, pinned to
# its generation). The metadata GET makes the server hash the object once
# (cached by generation), so no timed run pays for it.
# SPDX-License-Identifier: MIT

# Every gsread cat of a benchmark starts cold, as a first run does: no
# prefetch plan remembered from the run before (docs/cli.md).
export GSREAD_PLANS_FILE=

bench_server() {
  local tag=$1 size=$2 name=$3 gen
  shift 3
  WORK=$(mktemp -d "/tmp/gsread-$tag-XXXXXX")
  trap '"$ROOT/tests/server/gcs-server" stop --state "$WORK/state" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
  mkdir -p "$WORK/data/bench" "$WORK/state"
  head -c "$size" /dev/urandom >"$WORK/data/bench/$name"
  EP=$("$ROOT/tests/server/gcs-server" start --data "$WORK/data" --state "$WORK/state" "$@")
  gen=$(curl -s "$EP/storage/v1/b/bench/o/$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
  MEDIA="$EP/download/storage/v1/b/bench/o/$name?alt=media&generation=$gen"
}
