# Sourced by the CLI test scripts: the pass/fail tally they share. A
# failure prints its name and the first lines of $T/err, if any.
# SPDX-License-Identifier: MIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  if [ -s "$T/err" ]; then sed 's/^/  stderr: /' "$T/err" | head -5 >&2; fi
}
# Prints "N passed, M failed"; true only if nothing failed.
tally() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
