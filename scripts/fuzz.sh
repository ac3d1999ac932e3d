#!/usr/bin/env bash
# Long local fuzzing runs: builds the libFuzzer targets in build-fuzz/ (clang,
# ASan+UBSan, -DGSR_FUZZ=ON) and runs each for SECONDS (default 600) over a
# working corpus in build-fuzz/fuzz-work/NAME that grows from run to run
# (seeded from tests/fuzz/corpus/NAME; the repository is never written).
# Crashes land in build-fuzz/fuzz-work/NAME/artifacts/.
# Usage: scripts/fuzz.sh [SECONDS] [NAME...]   (NAME: url metadata http size plans ranges grpc)
# To keep the new inputs as seeds, minimize them into the seed corpus:
#   build-fuzz/tests/fuzz/fuzz_NAME -merge=1 tests/fuzz/corpus/NAME build-fuzz/fuzz-work/NAME/corpus
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_EACH=${1:-600}
shift || true
NAMES=("$@")
[ "${#NAMES[@]}" -gt 0 ] || NAMES=(url metadata http size plans grpc)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Debug -DGSR_SANITIZE=address,undefined -DGSR_FUZZ=ON >/dev/null
cmake --build build-fuzz --target fuzzers

status=0
for name in "${NAMES[@]}"; do
  echo "== fuzz_$name: ${SECONDS_EACH} s"
  tests/fuzz/run_fuzz.sh "build-fuzz/tests/fuzz/fuzz_$name" "tests/fuzz/corpus/$name" \
    "build-fuzz/fuzz-work/$name" "$SECONDS_EACH" || { status=1; echo "fuzz_$name FAILED"; }
done
exit "$status"
