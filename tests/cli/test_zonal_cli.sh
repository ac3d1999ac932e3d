#!/usr/bin/env bash
# Zonal-bucket reads (gRPC BidiReadObject) through the CLI against the zonal
# stand-in (tests/server/zonal-server, started here): cat, cp and stat over
# STORAGE_GRPC_ENDPOINT and --grpc-endpoint, sequential, ranged, prefetched
# and vectored (cat --ranges) reads byte-exact, a large file over two
# streams, and every injected fault:
# split and interleaved pieces, range_end on an empty piece, a CRC mismatch
# (resumed, or a clear error when it persists), a broken stream (resumed on
# a new stream with the read handle, same read_id, offset moved), an OK end
# with ranges pending, a silent stall (resumed after the stall timeout),
# redirects at open and mid-stream (token in the spec and the header), a
# BidiReadObjectError naming one range (it fails, the others resume), the
# object replaced (GSR_ECHANGED), permission denied, not found. Never wrong
# bytes: a failing command's output is empty or a prefix of the object.
#
# Usage: tests/cli/test_zonal_cli.sh path/to/gsread
# GSR_WRAP, if set, prefixes every gsread command (ctest valgrind_zonal:
# valgrind's memcheck, any error failing the command).
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup zonal-cli "$@"
ZSERVER=$CLI_LIB_DIR/../server/zonal-server
WRAP=${GSR_WRAP:-}

zonal_tree $((9 * 1024 * 1024 + 12345))

start_zonal() { cli_start_zonal "$T/root" --faults "$T/faults" --log "$T/log" "$@"; }
trap 'stop_zonal; cli_cleanup' EXIT
start_zonal

# faults MODES PLAN: the stand-in's fault file (JSON lists, e.g. '"split"').
faults() { printf '{"modes": [%s], "plan": [%s]}\n' "$1" "$2" >"$T/faults"; }
faults "" ""
# No JSON server runs: every read is forced onto gRPC (--grpc), its metadata
# from the stream alone; a request that went to the JSON API would fail.
# (gRPC chosen by the JSON metadata of a zonal bucket: test_zonal_stack.sh.)
export STORAGE_EMULATOR_HOST=http://127.0.0.1:9

# same NAME WANT_FILE ARGS...: cat's output is byte-identical to WANT_FILE.
same() {
  local name=$1 want=$2
  shift 2
  if timeout 60 $WRAP "$BIN" cat --anonymous --grpc "$@" >out 2>"$T/err" && cmp -s out "$want"; then
    pass
  else
    fail "$name: $(head -c 300 "$T/err")"
  fi
}
# prefix_only NAME: out is empty or a prefix of the object (no wrong bytes).
prefix_only() {
  local n
  n=$(wc -c <out)
  if [ "$n" -eq 0 ] || cmp -s out <(head -c "$n" "$D/obj"); then pass; else
    fail "$1: wrong bytes written"
  fi
}
slice() { head -c $(($1 + $2)) "$D/obj" | tail -c "$2" >"$3"; }

# ---- reads
same "cat whole" "$D/obj" "gs://$B/obj"
same "cat small, nested name" "$D/dir/small" "gs://$B/dir/small"
same "cat empty" "$D/empty" "gs://$B/empty"
slice 1234567 3000000 want
same "cat range" want --offset 1234567 --length 3000000 "gs://$B/obj"
same "cat --copy adaptive 1M" "$D/obj" --copy --prefetch adaptive --io-size 1M "gs://$B/obj"
same "cat readahead_chunked" "$D/obj" --cache readahead_chunked --io-size 300000 "gs://$B/obj"
same "cat --grpc-endpoint" "$D/obj" --grpc-endpoint "$STORAGE_GRPC_ENDPOINT" "gs://$B/obj"
STORAGE_GRPC_ENDPOINT= same "cat --grpc + --grpc-endpoint, no env" "$D/obj" --grpc \
  --grpc-endpoint "http://127.0.0.1:$(cat "$T/port")" "gs://$B/obj"
# --no-grpc goes to the JSON API (nothing listens there): a network error
if timeout 30 $WRAP "$BIN" cat --anonymous --no-grpc "gs://$B/obj" >out 2>"$T/err"; then
  fail "--no-grpc: read over gRPC anyway"
else pass; fi

# random ranges, one vectored read (cat --ranges)
: >ranges
: >want
for i in $(seq 150); do
  o=$(((i * 7919 * 613) % (9 * 1024 * 1024))) l=$(((i * 4099) % 70000 + 1))
  echo "$o $l" >>ranges
  slice "$o" "$l" piece
  cat piece >>want
done
same "cat --ranges 150 (vectored)" want --ranges ranges "gs://$B/obj"
eq "vectored: ranges split into messages of at most 100" \
  "$(grep '"ranges"' "$T/log" | tail -n +1 | /usr/bin/python3 -c '
import json, sys
print(max(len(json.loads(l)["ranges"]) for l in sys.stdin) <= 100)')" True

# cp and stat
if timeout 60 $WRAP "$BIN" cp --anonymous --grpc -q "gs://$B/obj" copy 2>"$T/err" && cmp -s copy "$D/obj"; then
  pass
else fail "cp: $(head -c 300 "$T/err")"; fi
$WRAP "$BIN" stat --anonymous --grpc "gs://$B/obj" >st 2>"$T/err"
eq "stat size" "$(awk '$1 == "size:" {print $2}' st)" "$(wc -c <"$D/obj")"
eq "stat crc32c" "$(awk '$1 == "crc32c:" {print $2}' st)" \
  "$(/usr/bin/python3 -c '
import base64, crc32c, sys
print(base64.b64encode(crc32c.crc32c(open(sys.argv[1], "rb").read()).to_bytes(4, "big")).decode())' "$D/obj")"

# bench: the engine's read-ahead over the stream, cancelled at each hard
# seek (rand) and at close (it checks no bytes; the run must succeed)
for pat in seq rand; do
  if timeout 60 $WRAP "$BIN" bench --anonymous --grpc --pattern $pat --mode prefetch --prefetch adaptive \
    --io-size 256K --max-bytes 40M --max-seconds 3 "gs://$B/obj" >bench.out 2>"$T/err"; then
    pass
  else fail "bench $pat: $(head -c 300 "$T/err")"; fi
done

# ---- faults that must still give the exact bytes
faults '"split"' ""
same "split pieces" "$D/obj" "gs://$B/obj"
same "split pieces, vectored" want --ranges ranges "gs://$B/obj"
faults '"empty_end"' ""
same "range_end on an empty piece" "$D/obj" "gs://$B/obj"
faults '"split", "empty_end"' ""
slice 5 4000000 want2
same "split + empty_end, range" want2 --offset 5 --length 4000000 "gs://$B/obj"

# resume: count the opens and check the resumed range
: >"$T/log"
faults "" '"abort:3000000"'
same "broken stream resumed" "$D/obj" "gs://$B/obj"
/usr/bin/python3 - "$T/log" >resume.txt <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
opens = [l["open"] for l in lines if "open" in l]
ranges = [r for l in lines if "ranges" in l for r in l["ranges"]]
print(len(opens))
print("handle" if opens[-1]["read_handle"] else "nohandle")
print("gen" if opens[-1]["generation"] else "nogen")
# the first range and its resumption: same id, offset moved, length shortened
first, again = ranges[0], [r for r in ranges[1:] if r[0] == ranges[0][0]]
ok = bool(again) and again[0][1] > first[1] and again[0][1] + again[0][2] == first[1] + first[2]
print("resumed" if ok else "not-resumed %r" % ranges)
EOF
eq "resume: opens" "$(sed -n 1p resume.txt)" 2
eq "resume: read handle sent" "$(sed -n 2p resume.txt)" handle
eq "resume: generation pinned" "$(sed -n 3p resume.txt)" gen
eq "resume: same read_id, remainder" "$(sed -n 4p resume.txt)" resumed

faults "" '"ok_end:2500000"'
same "OK end with ranges pending resumed" "$D/obj" "gs://$B/obj"
: >"$T/log"
faults "" '"crc"'
same "CRC mismatch once: resumed" "$D/obj" "gs://$B/obj"
eq "CRC mismatch once: a second stream" "$(grep -c '"open"' "$T/log")" 2

faults "" '"stall:2000000"'
same "silent stall: resumed after the stall timeout" "$D/obj" --stall-timeout 1000 "gs://$B/obj"

: >"$T/log"
faults "" '"redirect_after:3000000:tok-mid"'
same "redirect mid-stream" "$D/obj" "gs://$B/obj"
eq "redirect mid-stream: token in the spec and the header" \
  "$(grep '"routing_token": "tok-mid"' "$T/log" | grep -c 'routing_token=tok-mid')" 1
/usr/bin/python3 - "$T/log" >resume.txt <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ranges = [r for l in lines if "ranges" in l for r in l["ranges"]]
first, again = ranges[0], [r for r in ranges[1:] if r[0] == ranges[0][0]]
ok = bool(again) and again[0][1] > first[1] and again[0][1] + again[0][2] == first[1] + first[2]
print("resumed" if ok else "not-resumed %r" % ranges)
EOF
eq "redirect mid-stream: same read_id, remainder" "$(cat resume.txt)" resumed

: >"$T/log"
faults "" '"redirect:tok-42"'
same "redirect at open" "$D/obj" "gs://$B/obj"
eq "redirect: token in the spec" \
  "$(grep -c '"routing_token": "tok-42"' "$T/log")" 1
eq "redirect: token in x-goog-request-params" \
  "$(grep -c 'routing_token=tok-42' "$T/log")" 1
eq "redirect: the redirect's handle sent" \
  "$(grep -c '"read_handle": "redirected-handle"' "$T/log")" 1

# a file of 100 MiB or more reads over two streams (the second opened with
# the first one's read handle); one breaks and is resumed
head -c $((130 * 1024 * 1024 + 5)) /dev/urandom >"$D/big"
: >"$T/log"
faults "" '"", "abort:5000000"'
same "two streams, one broken" "$D/big" --io-size 4M "gs://$B/big"
eq "two streams: opens (first, second, second resumed)" \
  "$(grep -c '"open"' "$T/log")" 3
eq "two streams: later opens carry the read handle" \
  "$(grep '"open"' "$T/log" | tail -n 2 | grep -c '"read_handle": "handle-')" 2
rm -f "$D/big"

# an IPv6 endpoint: http://[::1]:PORT (its :authority bracketed too)
"$ZSERVER" --host ::1 --port 0 --port-file "$T/port6" --root "$T/root" >"$T/zonal6.out" 2>&1 &
Z6=$!
for _ in $(seq 100); do
  [ -s "$T/port6" ] && break
  sleep 0.1
done
STORAGE_GRPC_ENDPOINT="http://[::1]:$(cat "$T/port6" 2>/dev/null)" same "IPv6 endpoint" "$D/dir/small" "gs://$B/dir/small"
kill "$Z6" 2>/dev/null
wait "$Z6" 2>/dev/null

# TLS (https://, ALPN h2, the certificate checked against --ca-bundle)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$T/tls.key" -out "$T/tls.pem" -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
"$ZSERVER" --tls-cert "$T/tls.pem" --tls-key "$T/tls.key" --port 0 \
  --port-file "$T/port-tls" --root "$T/root" >"$T/zonal-tls.out" 2>&1 &
ZT=$!
for _ in $(seq 100); do
  [ -s "$T/port-tls" ] && break
  sleep 0.1
done
TLS_EP="https://127.0.0.1:$(cat "$T/port-tls" 2>/dev/null)"
same "TLS endpoint" "$D/obj" --grpc-endpoint "$TLS_EP" --ca-bundle "$T/tls.pem" "gs://$B/obj"
if timeout 60 $WRAP "$BIN" cat --anonymous --grpc --grpc-endpoint "$TLS_EP" "gs://$B/obj" >out 2>"$T/err"; then
  fail "TLS: an unknown certificate accepted"
elif grep -q "certificate" "$T/err"; then pass; else
  fail "TLS: message '$(head -c 300 "$T/err")' lacks 'certificate'"
fi
if timeout 60 $WRAP "$BIN" cat --anonymous --grpc --grpc-endpoint "https://localhost:${TLS_EP##*:}" \
  --ca-bundle "$T/tls.pem" "gs://$B/dir/small" >out 2>"$T/err" && cmp -s out "$D/dir/small"; then
  pass
else fail "TLS by name: $(head -c 300 "$T/err")"; fi
kill "$ZT" 2>/dev/null
wait "$ZT" 2>/dev/null

# ---- faults that must fail clearly, never with wrong bytes
# expect_fail NAME PATTERN ARGS...: cat fails, its message matches PATTERN.
expect_fail() {
  local name=$1 pat=$2
  shift 2
  if timeout 60 $WRAP "$BIN" cat --anonymous --grpc "$@" >out 2>"$T/err"; then
    fail "$name: succeeded"
  elif grep -qi -- "$pat" "$T/err"; then
    pass
  else
    fail "$name: message '$(head -c 300 "$T/err")' lacks '$pat'"
  fi
  prefix_only "$name"
}
faults "" '"replaced"'
expect_fail "object replaced" "changed\|replaced" --io-size 1M "gs://$B/obj"
faults "" '"crc", "crc"'
expect_fail "CRC mismatch every time" "CRC32C mismatch" "gs://$B/obj"
# a BidiReadObjectError naming one range of three: that one fails, the
# others are resumed on a new stream (C++'s way)
printf '0 1000\n2000000 1000\n4000000 1000\n' >three
: >"$T/log"
faults "" '"range_error"'
expect_fail "one range's error" "bytes 0-999: object changed" --ranges three "gs://$B/obj"
eq "one range's error: the others resumed, it not" \
  "$(grep '"ranges"' "$T/log" | tail -n 1)" \
  '{"ranges": [[2, 2000000, 1000], [3, 4000000, 1000]]}'
faults "" '"denied"'
expect_fail "permission denied" "permission denied" "gs://$B/obj"
faults "" '"unauth"'
expect_fail "unauthenticated" "authentication\|UNAUTHENTICATED" "gs://$B/obj"
faults "" ""
expect_fail "not found" "not found" "gs://$B/nope"

tally
