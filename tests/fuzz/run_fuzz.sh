#!/bin/sh
# Runs one fuzzer for a while over a COPY of its seed corpus, so that the
# inputs it finds (and any crash artifact) land in the build tree, never in
# the repository. Used by CTest (label "fuzz") and scripts/fuzz.sh.
# Usage: run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS [libFuzzer args...]
set -eu
fuzzer=$1 seeds=$2 work=$3 secs=$4
shift 4
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus"
