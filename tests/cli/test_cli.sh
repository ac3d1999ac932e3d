#!/usr/bin/env bash
# Tests of the gsread command-line tool that need no network: help and
# version, usage errors, byte-exact `cat` of local files (whole and ranges,
# many --io-size values), `stat --json`, and failures.
#
# Usage: tests/cli/test_cli.sh path/to/gsread
# Set GSREAD_WRAPPER to run every invocation under a checker, e.g.
#   GSREAD_WRAPPER="valgrind -q --leak-check=full --error-exitcode=99" \
#     tests/cli/test_cli.sh build/gsread
# (a checker's own exit status then shows up as a wrong status).
# The last line printed is "N passed, M failed"; the exit status is 0 only
# if nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 path/to/gsread" >&2
  exit 2
fi
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
read -r -a WRAP <<<"${GSREAD_WRAPPER:-}"
# Local files only: make sure nothing in the environment points elsewhere.
unset STORAGE_EMULATOR_HOST GSREAD_ACCESS_TOKEN

T=$(mktemp -d "${TMPDIR:-/tmp}/gsread-cli.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  if [ -s "$T/err" ]; then sed 's/^/  stderr: /' "$T/err" | head -5 >&2; fi
}

# Runs gsread with the given arguments: stdout to $T/out, stderr to
# $T/err, exit status in $rc.
run() {
  "${WRAP[@]}" "$BIN" "$@" >"$T/out" 2>"$T/err"
  rc=$?
}

lines() { wc -l <"$1" | tr -d ' '; }

# ---- help and version -------------------------------------------------------

# expect_help DESCRIPTION ARGS...: exit 0, text on stdout, nothing on stderr.
expect_help() {
  local desc=$1
  shift
  run "$@"
  if [ "$rc" -eq 0 ] && [ -s "$T/out" ] && [ ! -s "$T/err" ]; then
    pass
  else
    fail "$desc: rc=$rc, want 0 with output on stdout only"
  fi
}

# expect_out_has DESCRIPTION TEXT: the last run's stdout contains TEXT.
expect_out_has() {
  if grep -qF -- "$2" "$T/out"; then pass; else fail "$1: no '$2' in output"; fi
}

test_help() {
  local args word
  for args in "--help" "-h" "help" "help help" "--help cat" "help cat" \
    "help stat" "cat --help" "cat -h" "stat --help" "stat -h" \
    "cat foo --help" "stat --json --help"; do
    # shellcheck disable=SC2086 # split on purpose
    expect_help "gsread $args" $args
  done

  run --help
  for word in cat stat help gs://BUCKET/OBJECT http:// https:// file:/// \
    STORAGE_EMULATOR_HOST GSREAD_ACCESS_TOKEN "Exit status"; do
    expect_out_has "gsread --help" "$word"
  done
  run cat --help
  for word in --offset --length --io-size --cache --block-size --endpoint \
    --ca-bundle --max-connections --stall-timeout --help "default: 16MiB"; do
    expect_out_has "gsread cat --help" "$word"
  done
  run stat --help
  for word in --json --endpoint --help; do
    expect_out_has "gsread stat --help" "$word"
  done

  run --version
  if [ "$rc" -eq 0 ] && grep -qE '^gsread [0-9]+\.[0-9]+\.[0-9]+' "$T/out" &&
    [ "$(lines "$T/out")" = 1 ]; then
    pass
  else
    fail "gsread --version: rc=$rc, output '$(cat "$T/out")'"
  fi
}

# ---- usage errors -----------------------------------------------------------

# expect_usage DESCRIPTION ARGS...: exit 2, nothing on stdout, a
# "gsread: ..." message and a "Try 'gsread ..." hint on stderr.
expect_usage() {
  local desc=$1
  shift
  run "$@"
  if [ "$rc" -eq 2 ] && [ ! -s "$T/out" ] && grep -q '^gsread: ' "$T/err" &&
    grep -q "^Try 'gsread .*--help'\.\$" "$T/err"; then
    pass
  else
    fail "$desc: rc=$rc, want 2 with a message"
  fi
}

test_usage_errors() {
  printf 'x' >one
  expect_usage "no command"
  expect_usage "unknown command" frobnicate one
  expect_usage "unknown global option" --frobnicate
  expect_usage "help of an unknown command" help frobnicate
  expect_usage "missing URL" cat
  expect_usage "stat: missing URL" stat --json
  expect_usage "extra argument" cat one two
  expect_usage "stat: extra argument" stat one two
  expect_usage "unknown option" cat --frobnicate one
  expect_usage "unknown short option" cat -x one
  expect_usage "option of another command" stat --offset 1 one
  expect_usage "cat --json" cat --json one
  expect_usage "bad size suffix" cat --io-size 12Q one
  expect_usage "bad size suffix (=)" cat --io-size=12Q one
  expect_usage "negative offset" cat --offset -1 one
  expect_usage "negative length" cat --length=-5 one
  expect_usage "fractional size" cat --length 1.5M one
  expect_usage "empty size" cat --offset= one
  expect_usage "io-size 0" cat --io-size 0 one
  expect_usage "block-size 0" cat --block-size 0 one
  expect_usage "offset beyond INT64_MAX" cat --offset 9223372036854775808 one
  expect_usage "size overflow" cat --length 99999999999999999999 one
  expect_usage "missing value" cat one --offset
  expect_usage "missing value (last word)" cat one --io-size
  expect_usage "flag with a value" stat --json=yes one
  expect_usage "bad max-connections" cat --max-connections 0 one
  expect_usage "bad max-connections (junk)" cat --max-connections 4x one
  expect_usage "bad stall-timeout" cat --stall-timeout -3 one
  expect_usage "empty endpoint" cat --endpoint= one
  expect_usage "version with an argument" --version extra
  # Values only the library can judge are usage errors too.
  expect_usage "unknown cache type" cat --cache frobnicate one
  expect_usage "malformed gs:// URL" cat gs://
  expect_usage "stat: malformed gs:// URL" stat gs://bucket-only
  expect_usage "max-connections above the library's limit" cat \
    --max-connections 100000 one

  run cat --io-size 12Q one
  if grep -qF "12Q" "$T/err"; then pass; else fail "bad size message names the value"; fi
}

# ---- cat --------------------------------------------------------------------

# make_file NAME SIZE: NAME filled with SIZE random bytes.
make_file() {
  head -c "$2" /dev/urandom >"$1"
}

# expect_cat DESCRIPTION EXPECTED_FILE ARGS...: exit 0, stdout equals the
# expected file byte for byte, stderr empty.
expect_cat() {
  local desc=$1 want=$2
  shift 2
  run cat "$@"
  if [ "$rc" -ne 0 ]; then
    fail "$desc: rc=$rc"
  elif ! cmp -s "$want" "$T/out"; then
    fail "$desc: output differs ($(wc -c <"$T/out") bytes, want $(wc -c <"$want"))"
  elif [ -s "$T/err" ]; then
    fail "$desc: unexpected stderr"
  else
    pass
  fi
}

# slice FILE OFFSET LENGTH > OUT: the bytes cat should write for a range
# (LENGTH "" = to the end), computed independently of gsread.
slice() {
  python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
off = int(sys.argv[2])
end = len(data) if sys.argv[3] == "" else off + int(sys.argv[3])
sys.stdout.buffer.write(data[off:end])' "$@"
}

test_cat_whole() {
  local size f io
  for size in 0 1 4095 $((5 * 1024 * 1024 + 1)); do
    f=f$size
    make_file "$f" "$size"
    expect_cat "cat $size bytes, plain path" "$f" "$f"
    expect_cat "cat $size bytes, relative ./ path" "$f" "./$f"
    expect_cat "cat $size bytes, file:// URL" "$f" "file://$T/$f"
    for io in 1 7 4096 1M; do
      # One byte per call over 5 MiB is millions of calls: covered for the
      # small files and for a range of the large one (test_cat_ranges).
      if [ "$io" = 1 ] && [ "$size" -gt 4095 ]; then continue; fi
      expect_cat "cat $size bytes, --io-size $io" "$f" --io-size "$io" "$f"
      expect_cat "cat $size bytes, file://, --io-size=$io" "$f" \
        "file://$T/$f" "--io-size=$io"
    done
  done
  expect_cat "cat with all library options" f4095 f4095 --block-size 64K \
    --max-connections 4 --stall-timeout 5000 --io-size 5MB --cache none \
    --endpoint http://127.0.0.1:9 --ca-bundle /nonexistent.pem
  printf 'dash' >-dash
  expect_cat "cat -- -dash" ./-dash -- -dash
}

test_cat_ranges() {
  local f=f$((5 * 1024 * 1024 + 1)) size=$((5 * 1024 * 1024 + 1))
  local spec off len io
  # off:len pairs (len "" = to the end): inside, straddling the end, at
  # the end, past the end, empty, at the start.
  for spec in "0:1" "1:4095" "1048576:65536" "4000000:1000001" \
    "$((size - 1)):" "$((size - 10)):100" "$((size - 1)):1" "$size:" \
    "$size:10" "$((size + 100)):5" "12345:0" "0:" "7:"; do
    off=${spec%%:*}
    len=${spec#*:}
    slice "$f" "$off" "$len" >want
    for io in 7 4096 1M; do
      if [ -n "$len" ]; then
        expect_cat "cat --offset $off --length $len --io-size $io" want \
          "$f" --offset "$off" --length "$len" --io-size "$io"
      else
        expect_cat "cat --offset=$off --io-size=$io" want \
          --offset="$off" "--io-size=$io" "$f"
      fi
    done
  done
  # One byte per call over a range of the large file.
  slice "$f" 3000000 20000 >want
  expect_cat "cat range, --io-size 1" want "$f" --offset 3000000 \
    --length 20000 --io-size 1
  # Suffixes, and options on both sides of the URL.
  slice "$f" 1048576 65536 >want
  expect_cat "cat --offset 1M --length 64KiB" want --offset 1M "file://$T/$f" \
    --length 64KiB
  slice "$f" 5000000 1000 >want
  expect_cat "cat --offset 5MB (powers of 1000)" want --offset 5MB "$f" \
    --length 1000
  slice f1 0 "" >want
  expect_cat "1-byte file, --length past the end" want f1 --length 1G
  : >want
  expect_cat "0-byte file, --offset 0 --length 5" want f0 --offset 0 --length 5
  expect_cat "1-byte file, --offset 1" want f1 --offset 1
}

# ---- stat -------------------------------------------------------------------

# check_json DESCRIPTION URL SIZE: the last run printed exactly one line of
# strict UTF-8 JSON with every key, the given url and size.
check_json() {
  if [ "$rc" -ne 0 ]; then
    fail "$1: rc=$rc"
    return
  fi
  if [ "$(lines "$T/out")" != 1 ]; then
    fail "$1: want exactly one line"
    return
  fi
  if python3 -c '
import json, sys
want_url, want_size = sys.argv[1], int(sys.argv[2])
d = json.loads(open(sys.argv[3], "rb").read().decode("utf-8"))
keys = {"url", "size", "generation", "metageneration", "etag", "crc32c",
        "md5", "content_type", "updated"}
assert set(d) == keys, set(d) ^ keys
assert d["url"] == want_url, (d["url"], want_url)
assert d["size"] == want_size and type(d["size"]) is int, d["size"]
assert type(d["generation"]) is int and type(d["metageneration"]) is int
for k in ("crc32c", "md5"):
    assert d[k] is None or (isinstance(d[k], str) and
                            all(c in "0123456789abcdef" for c in d[k])), d[k]
for k in ("etag", "content_type", "updated"):
    assert isinstance(d[k], str), d[k]
' "$2" "$3" "$T/out" 2>"$T/err"; then
    pass
  else
    fail "$1: bad JSON: $(head -c 300 "$T/out")"
  fi
}

test_stat() {
  local f=f$((5 * 1024 * 1024 + 1)) weird
  run stat --json "$f"
  check_json "stat --json" "$f" $((5 * 1024 * 1024 + 1))
  run stat "file://$T/f0" --json
  check_json "stat --json file://, 0 bytes" "file://$T/f0" 0

  # Quotes, backslash, tab, newline, DEL, UTF-8 and a byte that is not
  # UTF-8 (JSON cannot carry it: it must come out as U+FFFD).
  weird=$(printf 'we"ird\\ta\tb\nc\177d-\303\251-\377')
  printf 'abc' >"$weird"
  run stat --json "$weird"
  check_json "stat --json of an odd file name" \
    "$(printf 'we"ird\\ta\tb\nc\177d-\303\251-')"$'\ufffd' 3

  run stat f4095
  if [ "$rc" -eq 0 ] && grep -qE '^size: +4095$' "$T/out" &&
    grep -qE '^url: +f4095$' "$T/out"; then
    pass
  else
    fail "stat (human): rc=$rc, $(head -c 300 "$T/out")"
  fi
  local key
  for key in url size generation metageneration etag crc32c md5 \
    content_type updated; do
    if grep -qE "^$key: +[^ ]" "$T/out"; then pass; else fail "stat (human): no $key line"; fi
  done
}

# ---- failures ---------------------------------------------------------------

# expect_fail DESCRIPTION NEEDLE ARGS...: exit 1, no stdout, one line on
# stderr starting "gsread: " and containing NEEDLE.
expect_fail() {
  local desc=$1 needle=$2
  shift 2
  run "$@"
  if [ "$rc" -eq 1 ] && [ ! -s "$T/out" ] && [ "$(lines "$T/err")" = 1 ] &&
    grep -q '^gsread: ' "$T/err" && grep -qF -- "$needle" "$T/err"; then
    pass
  else
    fail "$desc: rc=$rc, want 1 and one line naming '$needle'"
  fi
}

test_failures() {
  expect_fail "cat of a missing file" "$T/no/such/file" cat "$T/no/such/file"
  expect_fail "cat of a missing file:// URL" "$T/missing" cat "file://$T/missing"
  expect_fail "stat of a missing file" "missing-here" stat --json missing-here

  # A reader that leaves early: status 1, and no message (or a short one).
  local status
  "${WRAP[@]}" "$BIN" cat "f$((5 * 1024 * 1024 + 1))" 2>"$T/err" | head -c 10 >/dev/null
  status=${PIPESTATUS[0]}
  if [ "$status" -eq 1 ] && [ "$(lines "$T/err")" -le 1 ]; then
    pass
  else
    fail "cat into a closed pipe: rc=$status"
  fi

  # A full disk must not look like success.
  if [ -w /dev/full ]; then
    "${WRAP[@]}" "$BIN" cat f4095 >/dev/full 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q '^gsread: .*standard output' "$T/err"; then
      pass
    else
      fail "cat > /dev/full: rc=$rc"
    fi
    "${WRAP[@]}" "$BIN" --help >/dev/full 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 1 ]; then pass; else fail "--help > /dev/full: rc=$rc"; fi
  fi
}

test_help
test_usage_errors
test_cat_whole
test_cat_ranges
test_stat
test_failures

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
