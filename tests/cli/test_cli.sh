#!/usr/bin/env bash
# Tests of the gsread command-line tool that need no network: help and
# version, usage errors, byte-exact `cat` of local files (whole and ranges,
# many --io-size values, every library option, --zero-copy, --trace,
# --stats), `stat --json`, `bench` (argument handling and its JSON), and
# failures.
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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup cli "$@" # no server is started: local files only
read -r -a WRAP <<<"${GSREAD_WRAPPER:-}"
# Nothing in the environment may point elsewhere (cli_setup cleared the
# endpoint and the token).
unset GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST GSREAD_TOKEN_URI

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
    "cat foo --help" "stat --json --help" "help bench" "bench --help" \
    "bench -h" "bench --json --help"; do
    # shellcheck disable=SC2086 # split on purpose
    expect_help "gsread $args" $args
  done

  run --help
  for word in cat stat bench help gs://BUCKET/OBJECT http:// https:// file:/// \
    STORAGE_EMULATOR_HOST GSREAD_ACCESS_TOKEN "Exit status"; do
    expect_out_has "gsread --help" "$word"
  done
  run cat --help
  for word in --offset --length --io-size --cache --block-size --endpoint \
    --ca-bundle --max-connections --stall-timeout --help "default: 16MiB" \
    --concurrency --prefetch --min-part-size --memory-budget --max-prefetch \
    --max-blocks --stats --trace --ranges --zero-copy "default: sequential" \
    "default: 5MiB" "default: 32"; do
    expect_out_has "gsread cat --help" "$word"
  done
  run bench --help
  for word in --pattern --io-size --mode --cache --block-size --concurrency \
    --procs --max-bytes --max-seconds --seed --trace --zero-copy --json \
    --endpoint --max-blocks --min-part-size --max-prefetch --memory-budget \
    "default: 1MiB" "default: 4" "default: 1GiB" "default: 10" \
    "default: seq" "default: 1)" concurrent prefetch; do
    expect_out_has "gsread bench --help" "$word"
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

# Usage errors of the options added for cat and bench.
test_usage_errors_new() {
  printf 'x' >one
  expect_usage "bad concurrency" cat --concurrency x one
  expect_usage "negative concurrency" cat --concurrency -1 one
  expect_usage "concurrency with junk" cat --concurrency 4x one
  expect_usage "concurrency above the library's limit" cat --concurrency 100000 one
  expect_usage "empty prefetch" cat --prefetch= one
  expect_usage "unknown prefetch mode" cat --prefetch sometimes one
  expect_usage "min-part-size 0" cat --min-part-size 0 one
  expect_usage "bad min-part-size" cat --min-part-size 5X one
  expect_usage "min-part-size of 2^63" cat --min-part-size 8388608T one
  expect_usage "max-blocks 0" cat --max-blocks 0 one
  expect_usage "bad memory-budget" cat --memory-budget 12Q one
  expect_usage "negative max-prefetch" cat --max-prefetch -1 one
  expect_usage "stats with a value" cat --stats=yes one
  expect_usage "zero-copy with a value" cat --zero-copy=1 one
  expect_usage "empty trace name" cat --trace= one
  expect_usage "missing trace file" cat --trace "$T/no-such-trace" one
  printf '0 1\n' >tr-ok
  expect_usage "trace and offset" cat --trace tr-ok --offset 1 one
  expect_usage "trace and length" cat --trace tr-ok one --length 1
  expect_usage "stat --stats" stat --stats one

  expect_usage "bench: missing URL" bench --json
  expect_usage "bench: unknown pattern" bench --pattern zig one
  expect_usage "bench: pattern trace is not a value" bench --pattern trace one
  expect_usage "bench: unknown mode" bench --mode fast one
  expect_usage "bench: default mode with concurrency" bench --concurrency 2 one
  expect_usage "bench: concurrency 0" bench --mode concurrent --concurrency 0 one
  expect_usage "bench: procs 0" bench --procs 0 one
  expect_usage "bench: too many procs" bench --procs 2000 one
  expect_usage "bench: max-seconds 0" bench --max-seconds 0 one
  expect_usage "bench: negative max-seconds" bench --max-seconds -1 one
  expect_usage "bench: max-seconds in e-notation" bench --max-seconds 1e3 one
  expect_usage "bench: max-seconds .5" bench --max-seconds .5 one
  expect_usage "bench: max-seconds 1." bench --max-seconds 1. one
  expect_usage "bench: max-seconds above a day" bench --max-seconds 86401 one
  expect_usage "bench: max-bytes 0" bench --max-bytes 0 one
  expect_usage "bench: negative seed" bench --seed -1 one
  expect_usage "bench: io-size 0" bench --io-size 0 one
  expect_usage "bench: trace and pattern" bench --trace tr-ok --pattern seq one
  expect_usage "bench: offset is cat's" bench --offset 1 one
  expect_usage "bench: stats is cat's" bench --stats one
  expect_usage "bench: prefetch comes from --mode" bench --prefetch off one
  expect_usage "bench: unknown cache type" bench --cache frobnicate \
    --max-seconds 1 one
  printf '# nothing\n\n' >tr-empty
  expect_usage "bench: trace without lines" bench --trace tr-empty one
  printf '0 1\n1 x\n' >tr-bad
  expect_usage "bench: malformed trace" bench --trace tr-bad one
  if grep -qF "tr-bad:2:" "$T/err"; then pass; else fail "bench: trace error names the line"; fi
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

# ---- cat: library options, zero-copy, stats, traces ------------------------

test_cat_options() {
  local f=f$((5 * 1024 * 1024 + 1)) io
  expect_cat "cat --concurrency 3" "$f" "$f" --concurrency 3 --io-size 5M
  expect_cat "cat --concurrency 0 (library default)" "$f" "$f" --concurrency 0
  expect_cat "cat --prefetch off" "$f" "$f" --prefetch off --io-size 1M
  expect_cat "cat --prefetch adaptive" "$f" "$f" --prefetch=adaptive --io-size 64K
  expect_cat "cat --prefetch sequential, odd reads" "$f" "$f" \
    --prefetch sequential --io-size 777777 --max-prefetch 2M
  expect_cat "cat --min-part-size 64K" "$f" "$f" --min-part-size 64K \
    --concurrency 4 --prefetch off
  expect_cat "cat --memory-budget 1M --max-prefetch 256K" "$f" "$f" \
    --memory-budget 1M --max-prefetch 256K --io-size 64K
  expect_cat "cat --max-blocks 2 --cache blockcache" "$f" "$f" --max-blocks 2 \
    --cache blockcache --block-size 64K --io-size 100000
  expect_cat "cat --cache readahead --zero-copy" "$f" "$f" --cache readahead \
    --zero-copy --io-size 100000
  expect_cat "cat --cache readahead_chunked --zero-copy" "$f" "$f" \
    --cache readahead_chunked --block-size 1M --zero-copy --io-size 3M
  for io in 7 4096 1M; do
    expect_cat "cat --zero-copy --io-size $io (4095 bytes)" f4095 f4095 \
      --zero-copy --io-size "$io"
    expect_cat "cat --zero-copy --prefetch off --io-size $io" f4095 f4095 \
      --zero-copy --prefetch off --io-size "$io"
  done
  expect_cat "cat --zero-copy, 1 byte per call" f1 f1 --zero-copy --io-size 1
  expect_cat "cat --zero-copy, empty file" f0 f0 --zero-copy
  slice "$f" 4000000 1000001 >want
  expect_cat "cat --zero-copy range" want "$f" --zero-copy --offset 4000000 \
    --length 1000001 --io-size 333333
}

# stats_value KEY: the value of "KEY: value" in the last run's stderr.
stats_value() {
  sed -n "s/^$1: *//p" "$T/err"
}

# expect_stats DESCRIPTION SIZE HOW: the last run wrote SIZE bytes, and
# stderr has every counter as a number, some requests, and SIZE bytes
# delivered: HOW "copy" into our buffer (copied by the library, or landed
# there straight from the source: direct), or HOW "slices" (referenced).
expect_stats() {
  local desc=$1 size=$2 how=$3 key v ok=1 buffered referenced
  for key in reads hits misses requests bytes_fetched bytes_delivered \
    bytes_copied bytes_referenced bytes_direct prefetched_unused stalls \
    stall_seconds window peak_buffered; do
    v=$(stats_value "$key")
    if ! [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
      fail "$desc: no number for $key in --stats ('$v')"
      ok=0
    fi
  done
  case $(stats_value plan) in
    none | ramp | full) ;;
    *) fail "$desc: no plan in --stats ('$(stats_value plan)')"; ok=0 ;;
  esac
  [ "$ok" = 1 ] || return
  buffered=$(($(stats_value bytes_copied) + $(stats_value bytes_direct)))
  referenced=$(stats_value bytes_referenced)
  # copy wants buffered == SIZE and referenced == 0; slices the reverse,
  # which these subtractions turn into the same test.
  if [ "$how" = slices ]; then
    buffered=$((size - buffered)) referenced=$((size - referenced))
  fi
  if [ "$(stats_value bytes_delivered)" != "$size" ] ||
    [ "$buffered" != "$size" ] || [ "$referenced" != 0 ] ||
    [ "$(stats_value requests)" -lt 1 ] || [ "$(wc -c <"$T/out")" != "$size" ]; then
    fail "$desc: want $size bytes delivered by $how: $(tr '\n' ' ' <"$T/err")"
    ok=0
  fi
  [ "$ok" = 1 ] && pass
}

test_cat_stats() {
  local f=f$((5 * 1024 * 1024 + 1)) size=$((5 * 1024 * 1024 + 1))
  run cat --stats --copy "$f" --io-size 1M --prefetch off
  expect_stats "cat --stats --copy" "$size" copy
  if [ "$(stats_value plan)" = none ]; then pass; else
    fail "cat --stats --prefetch off: plan $(stats_value plan), want none"; fi
  if cmp -s "$f" "$T/out"; then pass; else fail "cat --stats: output differs"; fi
  run cat --stats --zero-copy "$f" --io-size 1M
  expect_stats "cat --stats --zero-copy" "$size" slices
  run cat --stats f4095 --offset 100 --length 1000
  expect_stats "cat --stats of a range (slices: cat's default)" 1000 slices
  run cat --stats --copy f4095 --offset 100 --length 1000
  expect_stats "cat --stats --copy of a range" 1000 copy
  # A failed open has no file, hence no counters: just the one message.
  run cat --stats "$T/missing"
  if [ "$rc" -eq 1 ] && [ "$(lines "$T/err")" = 1 ]; then
    pass
  else
    fail "cat --stats of a missing file: rc=$rc"
  fi
}

# want_trace FILE TRACE > OUT: what replaying TRACE over FILE writes,
# computed independently of gsread (a Python model of the format).
want_trace() {
  python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
for line in open(sys.argv[2], "rb").read().split(b"\n"):
    line = line.rstrip(b"\r").strip(b" \t")
    if not line or line.startswith(b"#"):
        continue
    off, length = (int(x) for x in line.split())
    sys.stdout.buffer.write(data[off:off + length])' "$@"
}

test_cat_trace() {
  local f=f$((5 * 1024 * 1024 + 1)) size=$((5 * 1024 * 1024 + 1)) io zc
  # Comments, blank lines, tabs, CRLF, backwards and repeated offsets, a
  # zero length, a line past the end, one straddling it, and one longer
  # than every io-size below (read in pieces).
  printf '%s\n' "# a recorded access pattern" "" "0 10" "  4096	100  " \
    "$((size - 5)) 100" "1048576 3000000" "4096 100" "12 0" \
    "$((size + 10)) 5" "   # indented comment" "7 1" >trace
  printf '100 20\r\n200 30\r\n' >>trace
  want_trace "$f" trace >want
  for io in 7 65536 1M 16M; do
    for zc in "" --zero-copy; do
      # shellcheck disable=SC2086 # $zc is empty or one word
      expect_cat "cat --trace --io-size $io $zc" want "$f" --trace trace \
        --io-size "$io" $zc
    done
  done
  expect_cat "cat --trace= with a file:// URL" want "file://$T/$f" \
    --trace="$T/trace" --prefetch off --cache readahead
  printf '# only comments\n\n' >trace-empty
  : >want
  expect_cat "cat --trace without lines" want "$f" --trace trace-empty
  expect_cat "cat --trace over an empty object" want f0 --trace trace

  # A malformed line: exit 2 naming FILE:LINE, and nothing written even
  # though the lines before it are fine.
  local bad
  for bad in "1" "1 2 3" "-1 5" "1 +5" "1 5K" "0x10 5" "1,2" "1 2x" \
    "9223372036854775808 1" "0 18446744073709551616" "a b"; do
    printf '0 10\n# ok\n%s\n5 5\n' "$bad" >trace-bad
    run cat "$f" --trace trace-bad
    if [ "$rc" -eq 2 ] && [ ! -s "$T/out" ] && grep -qF "trace-bad:3:" "$T/err"; then
      pass
    else
      fail "cat --trace with line '$bad': rc=$rc, want 2 naming trace-bad:3"
    fi
  done
  # The largest values that are still valid.
  printf '9223372036854775807 1\n0 18446744073709551615\n' >trace-max
  expect_cat "cat --trace with the largest offset and length" "$f" "$f" \
    --trace trace-max
}

# cat --ranges: the same lines read in one vectored read (gsr_read_ranges),
# written in the file's order; --stats adds its counters.
test_cat_vectored() {
  local f=f$((5 * 1024 * 1024 + 1)) size=$((5 * 1024 * 1024 + 1))
  # Unsorted, overlapping, repeated, empty, past and straddling the end,
  # adjacent, and one range larger than the rest together.
  printf '%s\n' "# ranges" "4096 100" "0 10" "4100 50" "0 10" "12 0" \
    "$((size - 5)) 100" "$((size + 10)) 5" "10 20" "1048576 3000000" \
    "" "4150 7" >ranges
  want_trace "$f" ranges >want
  expect_cat "cat --ranges" want "$f" --ranges ranges
  expect_cat "cat --ranges= with a file:// URL" want "file://$T/$f" \
    --ranges="$T/ranges" --concurrency 2
  run cat "$f" --ranges ranges --stats
  if cmp -s want "$T/out" && grep -q '^ranges: *10$' "$T/err" &&
    grep -q '^ranges_spans: *[1-9]' "$T/err" &&
    grep -q '^ranges_failed: *0$' "$T/err" &&
    grep -q "^ranges_bytes_delivered: *$(wc -c <want)\$" "$T/err"; then
    pass
  else
    fail "cat --ranges --stats: rc=$rc, counters: $(grep ranges "$T/err" | tr '\n' ' ')"
  fi
  : >want
  expect_cat "cat --ranges over an empty object" want f0 --ranges ranges
  printf '0 10\n5 x\n' >ranges-bad
  run cat "$f" --ranges ranges-bad
  if [ "$rc" -eq 2 ] && [ ! -s "$T/out" ] && grep -qF "ranges-bad:2:" "$T/err"; then
    pass
  else
    fail "cat --ranges with a bad line: rc=$rc, want 2 naming ranges-bad:2"
  fi
  expect_usage "ranges and trace" cat --ranges ranges --trace ranges "$f"
  expect_usage "ranges and offset" cat --ranges ranges --offset 1 "$f"
}

# ---- bench ------------------------------------------------------------------

# check_bench_json DESCRIPTION CHECKS: the last run printed exactly one
# line, a JSON object with every documented key, sane numbers, and the
# Python expressions in CHECKS (over the dict d) hold.
check_bench_json() {
  if [ "$rc" -ne 0 ]; then
    fail "$1: rc=$rc"
    return
  fi
  if [ "$(lines "$T/out")" != 1 ]; then
    fail "$1: want exactly one line, got $(lines "$T/out")"
    return
  fi
  if python3 -c '
import json, sys
d = json.loads(open(sys.argv[2], "rb").read().decode("utf-8"))
need = {"tool", "version", "url", "pattern", "io_size", "mode", "cache",
        "block_size", "concurrency", "prefetch", "procs", "seed",
        "zero_copy", "trace", "max_bytes", "max_seconds", "object_size",
        "bytes", "seconds", "mbps", "peak_rss_mb", "cpu_seconds", "reads",
        "opens", "requests", "bytes_fetched", "wasted_bytes",
        "prefetched_unused", "stall_seconds"}
assert need <= set(d), need - set(d)
for k in ("io_size", "block_size", "concurrency", "procs", "seed", "bytes",
          "reads", "opens", "requests", "bytes_fetched", "wasted_bytes",
          "prefetched_unused", "max_bytes", "object_size"):
    assert type(d[k]) is int and d[k] >= 0, (k, d[k])
for k in ("seconds", "mbps", "peak_rss_mb", "cpu_seconds", "stall_seconds",
          "max_seconds"):
    assert isinstance(d[k], (int, float)) and d[k] >= 0, (k, d[k])
assert d["tool"] == "gsread"
assert d["bytes"] > 0 and d["mbps"] > 0 and d["requests"] > 0, d
assert d["seconds"] > 0 and d["peak_rss_mb"] > 0 and d["reads"] > 0, d
assert abs(d["mbps"] - d["bytes"] / d["seconds"] / 1e6) < 0.01 * d["mbps"] + 0.01
assert d["wasted_bytes"] <= d["bytes_fetched"]
for check in sys.argv[3:]:
    assert eval(check), (check, d)
' "$1" "$T/out" "${@:2}" 2>"$T/err"; then
    pass
  else
    fail "$1: bad JSON: $(head -c 600 "$T/out")"
  fi
}

test_bench() {
  local url="file://$T/f4095"
  run bench --json "$url" --max-bytes 64K --max-seconds 5
  check_bench_json "bench --json (defaults)" 'd["pattern"] == "seq"' \
    'd["mode"] == "default"' 'd["concurrency"] == 1' 'd["prefetch"] == "off"' \
    'd["cache"] == "none"' 'd["procs"] == 1' 'd["io_size"] == 1048576' \
    'd["object_size"] == 4095' 'd["url"].endswith("/f4095")' \
    'd["bytes"] >= 65536 and d["bytes"] < 65536 + 4095' \
    'd["opens"] >= 16' 'd["trace"] is None' 'd["zero_copy"] is False' \
    'd["max_bytes"] == 65536 and d["max_seconds"] == 5' \
    'd["block_size"] == 5242880 and d["seed"] == 1'
  run bench --json "$url" --pattern rand --io-size 1K --mode concurrent \
    --concurrency 3 --procs 3 --seed 7 --max-bytes 100K --max-seconds 5 \
    --cache readahead --block-size 2K
  check_bench_json "bench --json rand, 3 procs" 'd["pattern"] == "rand"' \
    'd["mode"] == "concurrent"' 'd["concurrency"] == 3' 'd["procs"] == 3' \
    'd["seed"] == 7' 'd["cache"] == "readahead"' 'd["block_size"] == 2048' \
    'd["bytes"] >= 3 * 102400 and d["bytes"] < 3 * (102400 + 1024)' \
    'd["opens"] == 3' 'd["prefetch"] == "off"'
  run bench --json "$url" --mode prefetch --io-size 100 --zero-copy \
    --max-bytes 50K --max-seconds 5 --memory-budget 1M --max-prefetch 64K \
    --min-part-size 1K --max-blocks 4
  check_bench_json "bench --json prefetch, zero-copy" \
    'd["mode"] == "prefetch"' 'd["prefetch"] == "adaptive"' \
    'd["concurrency"] == 4' 'd["zero_copy"] is True' 'd["io_size"] == 100'
  printf '# trace\n0 100\n4000 1000\n99999 5\n' >trace-bench
  run bench --json "$url" --trace trace-bench --io-size 64 --max-bytes 10K \
    --max-seconds 5
  check_bench_json "bench --json --trace" 'd["pattern"] == "trace"' \
    'd["trace"] == "trace-bench"' 'd["opens"] >= 10240 // 195' \
    'd["bytes"] >= 10240'
  # A time bound: 1000 TB of reads cannot finish, 0.3 s must stop them.
  run bench --json "$url" --io-size 4K --max-bytes 1000TB --max-seconds 0.3 \
    --procs 2
  check_bench_json "bench --max-seconds bounds the run" \
    'd["seconds"] >= 0.3 and d["seconds"] < 10' 'd["procs"] == 2'

  # Without --json: one readable line, nothing on stderr off a terminal.
  run bench "$url" --max-bytes 8K --max-seconds 5
  if [ "$rc" -eq 0 ] && [ "$(lines "$T/out")" = 1 ] && [ ! -s "$T/err" ] &&
    grep -qE '^seq 1MiB reads, mode default .* MB/s' "$T/out"; then
    pass
  else
    fail "bench (one line): rc=$rc, $(head -c 300 "$T/out")"
  fi

  expect_fail "bench of a missing file" "$T/missing" bench "$T/missing"
  expect_fail "bench of an empty file" "empty" bench f0 --max-seconds 1
  printf '99999 10\n' >trace-outside
  expect_fail "bench of a trace outside the object" "trace" bench f4095 \
    --trace trace-outside --max-seconds 1
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
        "md5", "content_type", "content_encoding", "updated"}
assert set(d) == keys, set(d) ^ keys
assert d["url"] == want_url, (d["url"], want_url)
assert d["size"] == want_size and type(d["size"]) is int, d["size"]
assert type(d["generation"]) is int and type(d["metageneration"]) is int
for k in ("crc32c", "md5"):
    assert d[k] is None or (isinstance(d[k], str) and
                            all(c in "0123456789abcdef" for c in d[k])), d[k]
for k in ("etag", "content_type", "content_encoding", "updated"):
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
    content_type content_encoding updated; do
    if grep -qE "^$key: +[^ ]" "$T/out"; then pass; else fail "stat (human): no $key line"; fi
  done
  # A local file has no generation: "-", not a made-up 0.
  if grep -qE '^generation: +-$' "$T/out" &&
    grep -qE '^metageneration: +-$' "$T/out"; then
    pass
  else
    fail "stat (human) of a local file: $(grep generation "$T/out")"
  fi
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

# ---- auth (no network: fixed token, anonymous, a missing key file) ----------

test_auth() {
  run auth --anonymous
  if [ "$rc" -eq 0 ] && grep -q '^source: *option$' "$T/out" &&
    grep -q '^kind: *anonymous$' "$T/out"; then
    pass
  else
    fail "gsread auth --anonymous: rc=$rc, output '$(cat "$T/out")'"
  fi
  # The token is never printed, not even with --debug.
  GSREAD_ACCESS_TOKEN=sekrit-token-123 run auth --json --debug
  if [ "$rc" -eq 0 ] && grep -q '"source":"GSREAD_ACCESS_TOKEN"' "$T/out" &&
    grep -q '"kind":"access_token"' "$T/out" &&
    ! grep -q sekrit "$T/out" "$T/err"; then
    pass
  else
    fail "gsread auth with GSREAD_ACCESS_TOKEN: rc=$rc, '$(cat "$T/out")'"
  fi
  # --anonymous wins over the variable.
  GSREAD_ACCESS_TOKEN=sekrit-token-123 run auth --anonymous
  if [ "$rc" -eq 0 ] && grep -q '^kind: *anonymous$' "$T/out"; then pass; else
    fail "gsread auth --anonymous with GSREAD_ACCESS_TOKEN: '$(cat "$T/out")'"
  fi
  # A missing key file: exit 1, the file named.
  GOOGLE_APPLICATION_CREDENTIALS=$T/no-such-key.json run auth
  if [ "$rc" -eq 1 ] && grep -q 'no-such-key.json' "$T/err"; then pass; else
    fail "gsread auth with a missing key file: rc=$rc"
  fi
  run auth --help
  for word in --anonymous --user-project --json; do
    expect_out_has "gsread auth --help" "$word"
  done
}

test_help
test_auth
test_usage_errors
test_usage_errors_new
test_cat_whole
test_cat_options
test_cat_stats
test_cat_trace
test_cat_vectored
test_bench
test_cat_ranges
test_stat
test_failures

tally
