#!/usr/bin/env bash
# A zonal bucket as the library's users see it, with no new options: the
# JSON stand-in (gcs-server) answers listing and metadata (storage class
# RAPID for the zonal bucket, whose media GETs it refuses with 400 as GCS
# does), the zonal stand-in (zonal-server) serves object data over gRPC,
# both from the same directory, and STORAGE_GRPC_ENDPOINT points at the
# second. The CLI (ls, cat, stat, bench), the Python package (gsread://:
# open and read with seeks, cat_file, cat_ranges) and the mount read the
# zonal objects byte-exact over gRPC, chosen by the object's metadata: no
# media request reaches the JSON server, no gRPC stream opens before a
# read (stat opens none); a plain bucket's object beside it
# still reads over JSON; --no-grpc gets the server's refusal.
#
# Usage: tests/cli/test_zonal_stack.sh path/to/gsread
# Needs the Python package built next to gsread (build/python) and FUSE:
# without them the test FAILS, never skips.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup zonal-stack "$@"
PYDIR=$(dirname "$BIN")/python
M=$T/mnt
ZPID=
MPID=

B=zonalbkt
D=$T/data/$B
mkdir -p "$D/dir" "$M"
head -c $((6 * 1024 * 1024 + 777)) /dev/urandom >"$D/obj"
head -c 5000 /dev/urandom >"$D/dir/a"

stack_cleanup() {
  if grep -qF " $M fuse.gsread " /proc/self/mounts 2>/dev/null; then
    timeout 10 "$BIN" unmount "$M" 2>/dev/null || umount -l "$M" 2>/dev/null ||
      fusermount3 -u -z "$M" 2>/dev/null
  fi
  [ -n "$MPID" ] && kill -KILL "$MPID" 2>/dev/null
  [ -n "$ZPID" ] && kill "$ZPID" 2>/dev/null
  cli_cleanup
}
trap stack_cleanup EXIT

start_server
export STORAGE_EMULATOR_HOST=$EP
cli_start_zonal "$T/data" --log "$T/zonal.log"

MARK=0 # media_bytes counts the log's lines after this one
media_bytes() {
  sleep 0.2
  tail -n +$((MARK + 1)) "$T/state/requests.log" 2>/dev/null | grep '"kind":"media"' |
    grep -o '"body_bytes_sent":[0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}

# The JSON stand-in answers for a zonal bucket as GCS does: storage class
# RAPID, media GETs refused (400, counted in its log).
curl -s -o /dev/null "$EP/_control/config?zonal_buckets=$B"
P=plainbkt
mkdir -p "$T/data/$P"
head -c 300000 /dev/urandom >"$T/data/$P/obj"

# ---- CLI: listing over JSON; a zonal bucket's data over gRPC, chosen by
# its metadata; a plain bucket's over JSON, beside it
"$BIN" ls --anonymous "gs://$B/" >ls.out 2>"$T/err"
check "ls lists the zonal bucket" grep -q "gs://$B/obj" ls.out
if timeout 60 "$BIN" cat --anonymous "gs://$B/obj" >out 2>"$T/err" && cmp -s out "$D/obj"; then
  pass
else fail "cat: $(head -c 300 "$T/err")"; fi
if timeout 60 "$BIN" bench --anonymous --pattern rand --io-size 64K "gs://$B/obj" \
  >bench.out 2>"$T/err"; then pass; else fail "bench rand: $(head -c 300 "$T/err")"; fi
eq "CLI: no media request over JSON" "$(media_bytes)" 0
opens() { grep -c '"open"' "$T/zonal.log"; }
o0=$(opens)
"$BIN" stat --anonymous "gs://$B/obj" >st 2>"$T/err"
eq "stat of a zonal object" "$(awk '$1 == "size:" {print $2}' st)" "$(wc -c <"$D/obj")"
# the JSON metadata stands: no stream before a read, and a read's opens
# with its ranges (one stream for 6 MiB)
eq "stat by the JSON metadata: no gRPC stream opened" "$(opens)" "$o0"
timeout 60 "$BIN" cat --anonymous --offset 1000 --length 5000 "gs://$B/obj" >out 2>"$T/err"
check "a range by detection: bytes right" cmp -s out <(head -c 6000 "$D/obj" | tail -c 5000)
eq "a range by detection: one stream opened" "$(opens)" $((o0 + 1))
if timeout 60 "$BIN" cat --anonymous "gs://$P/obj" >out 2>"$T/err" &&
  cmp -s out "$T/data/$P/obj"; then pass; else fail "plain bucket: $(head -c 300 "$T/err")"; fi
eq "plain bucket: over JSON" "$(media_bytes)" 300000
# forced onto JSON, the server's refusal is the error
if timeout 60 "$BIN" cat --anonymous --no-grpc "gs://$B/obj" >out 2>"$T/err"; then
  fail "--no-grpc: a zonal object read over JSON"
elif grep -q "Zonal objects only support gRPC API" "$T/err"; then pass; else
  fail "--no-grpc: message '$(head -c 300 "$T/err")' lacks the server's"
fi
sleep 0.2
MARK=$(wc -l <"$T/state/requests.log") # what went to JSON on purpose

# ---- Python: gsread:// with no new option
if [ ! -d "$PYDIR/gsread" ]; then
  fail "the Python package is not built at $PYDIR"
else
  if PYTHONPATH=$PYDIR timeout 120 /usr/bin/python3 - "$B" "$D/obj" >py.out 2>&1 <<'EOF'; then
import sys
import gsread

bucket, local = sys.argv[1], sys.argv[2]
want = open(local, "rb").read()
fs = gsread.GsreadFileSystem(token="anon")
url = "gsread://%s/obj" % bucket
assert fs.info(url)["size"] == len(want), fs.info(url)
assert fs.cat_file(url) == want
assert fs.cat_file(url, start=1000, end=500000) == want[1000:500000]
starts = [i * 37171 for i in range(120)]
ends = [s + 999 + i for i, s in enumerate(starts)]
got = fs.cat_ranges([url] * len(starts), starts, ends)
assert got == [want[s:e] for s, e in zip(starts, ends)]
with fs.open(url, "rb", cache_type="readahead_chunked") as f:
    f.seek(3_000_000)
    assert f.read(100_000) == want[3_000_000:3_100_000]
    f.seek(17)
    assert f.read(5) == want[17:22]
print("ok")
EOF
    pass
  else
    fail "python: $(tail -5 py.out)"
  fi
  eq "Python: no media request over JSON" "$(media_bytes)" 0
fi

# ---- the mount: listing over JSON, reads over gRPC
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  fail "FUSE is not available (/dev/fuse, fusermount3)"
else
  timeout 300 "$BIN" mount -f --anonymous "gs://$B" "$M" 2>"$T/mount.log" &
  MPID=$!
  for _ in $(seq 100); do
    grep -qF " $M fuse.gsread " /proc/self/mounts && break
    sleep 0.1
  done
  if cmp -s "$M/obj" "$D/obj" && cmp -s "$M/dir/a" "$D/dir/a"; then pass; else
    fail "mount: bytes differ: $(tail -3 "$T/mount.log")"
  fi
  eq "mount: a read at an offset" "$(dd if="$M/obj" bs=4096 skip=700 count=3 2>/dev/null | sha256sum)" \
    "$(dd if="$D/obj" bs=4096 skip=700 count=3 2>/dev/null | sha256sum)"
  eq "mount: no media request over JSON" "$(media_bytes)" 0
  timeout 10 "$BIN" unmount "$M"
  wait "$MPID" 2>/dev/null
  MPID=
fi

tally
