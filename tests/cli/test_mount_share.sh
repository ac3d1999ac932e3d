#!/usr/bin/env bash
# Tests of what `gsread mount` costs and shares, against the local GCS
# server (its request log): 32 readers of one file fetch it about once
# (one engine file per object generation); opening small files after a
# listing costs one request each (the open answers from the listing);
# versions never mix (a reader of the old version, after another opened
# the new one, gets the old bytes or ESTALE, never the new bytes);
# `--cache blockcache` for 4 KiB random readers; a mount over a mount,
# and roots that are no directory, refused; --log-file; -o options and
# the mount.gsread helper.
#
# Needs /dev/fuse and fusermount3 (fuse3): without them the test FAILS.
#
# Usage: tests/cli/test_mount_share.sh path/to/gsread
# SPDX-License-Identifier: MIT
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 path/to/gsread" >&2
  exit 2
fi
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "${BASH_SOURCE[0]}")/tally.sh" # before any cd
SERVER=$(cd "$(dirname "${BASH_SOURCE[0]}")/../server" && pwd)/gcs-server
PY=/usr/bin/python3
unset STORAGE_EMULATOR_HOST GSREAD_ACCESS_TOKEN
export GSREAD_PLANS_FILE=

T=$(mktemp -d "${TMPDIR:-/tmp}/gsread-mshare.XXXXXX") || exit 2
M=$T/mnt
MPID=
cleanup() {
  local m
  for m in "$M" "$T/mnt2"; do
    if grep -qF " $m fuse.gsread " /proc/self/mounts 2>/dev/null; then
      umount -l "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
    fi
  done
  if [ -n "$MPID" ]; then kill -KILL "$MPID" 2>/dev/null; fi
  "$SERVER" stop --state "$T/state" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2
mkdir "$M" "$T/mnt2"

check() { local n=$1; shift; if "$@"; then pass; else fail "$n"; fi; }
eq() { if [ "$2" == "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi; }
sha() { timeout 120 sha256sum <"$1" | cut -d' ' -f1; }
mounted() { grep -qF " $1 fuse.gsread " /proc/self/mounts; }

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  fail "FUSE is not available: /dev/fuse or fusermount3 (package fuse3) missing"
  tally
  exit 1
fi

B=bkt
D=$T/data/$B
mkdir -p "$D/small" "$D/deep/er"
head -c $((64 * 1024 * 1024 + 4321)) /dev/urandom >"$D/shared"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$D/mix"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$D/pages"
head -c 1000 /dev/urandom >"$D/deep/er/leaf"
for i in $(seq -w 1 200); do head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$D/small/f$i"; done

if ! EP=$("$SERVER" start --data "$T/data" --state "$T/state" --profile unshaped 2>"$T/err"); then
  fail "server start"
  tally
  exit 1
fi
export STORAGE_EMULATOR_HOST=$EP
LOG=$T/state/requests.log

# lines: the request log's length now (after the last request landed).
lines() { sleep 0.3; wc -l <"$LOG"; }
# since N: the request log lines after line N.
since() { tail -n +$(($1 + 1)) "$LOG"; }
# media_bytes N: body bytes of the data requests after line N.
media_bytes() {
  since "$1" | grep '"kind":"media"' | grep -o '"body_bytes_sent":[0-9]*' |
    awk -F: '{s += $2} END {print s + 0}'
}

mnt_start() {
  timeout 600 "$BIN" mount -f "$@" "gs://$B" "$M" 2>"$T/mount.log" &
  MPID=$!
  for _ in $(seq 100); do
    mounted "$M" && return 0
    kill -0 "$MPID" 2>/dev/null || break
    sleep 0.1
  done
  cp "$T/mount.log" "$T/err"
  return 1
}
mnt_stop() {
  timeout 10 "$BIN" unmount "$M" >/dev/null 2>&1
  for _ in $(seq 100); do
    kill -0 "$MPID" 2>/dev/null || { wait "$MPID"; MPID=; return 0; }
    sleep 0.1
  done
  return 1
}

check "mount -f" mnt_start

# ---- 32 readers of one file: one engine file, its blocks shared.
from=$(lines)
pids=()
for i in $(seq 32); do
  (timeout 300 sha256sum <"$M/shared" | cut -d' ' -f1 >"$T/r$i") &
  pids+=($!)
done
wait "${pids[@]}"
ok=1; want=$(sha "$D/shared")
for i in $(seq 32); do [ "$(cat "$T/r$i")" == "$want" ] || ok=0; done
eq "32 readers of one file: every byte right" "$ok" 1
sent=$(media_bytes "$from"); size=$(stat -c %s "$D/shared")
echo "  (32 readers: the server sent $sent bytes for a $size-byte file)"
check "... fetched at most 1.1x the file ($sent for $size)" \
  test "$sent" -le $((size * 11 / 10))

# ---- 200 small files after a listing: one request each at most.
ls "$M/small" >/dev/null
from=$(lines)
ok=1
for i in $(seq -w 1 200); do
  cmp -s "$M/small/f$i" "$D/small/f$i" || ok=0
done
eq "200 small files: every byte right" "$ok" 1
n=$(since "$from" | wc -l)
echo "  (200 small files after a listing: $n requests)"
check "... at most one request per file ($n)" test "$n" -le 200
check "... no metadata request" sh -c "! tail -n +$((from + 1)) '$LOG' | grep -q '\"kind\":\"meta\"'"

mnt_stop

# ---- Versions never mix: A opened the old version and read some; the
# object is replaced; B opens and reads the new one; A's reads give the
# old bytes or fail (ESTALE/EIO), never the new bytes.
# A TTL of 2 s: B's open, after it, sees the new generation, and A's
# reads, within the next 2 s, trust the kernel's cached pages.
check "mount -f --ttl 2" mnt_start --ttl 2
cp "$D/mix" "$T/mix.old"
cat >"$T/mix.py" <<'EOF'
import errno, os, sys, time
m, local, old = sys.argv[1], sys.argv[2], sys.argv[3]
old = open(old, "rb").read()
a = os.open(m, os.O_RDONLY)
assert os.pread(a, 1 << 20, 0) == old[:1 << 20], "A's first read"
new = os.urandom(len(old))
with open(local + ".new", "wb") as f:
    f.write(new)
st = os.stat(local)
os.utime(local + ".new", ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
os.replace(local + ".new", local)
time.sleep(2.2)
b = os.open(m, os.O_RDONLY)
got = b""
while len(got) < len(new):
    x = os.read(b, 1 << 20)
    if not x:
        break
    got += x
if got != new:
    print("B did not read the new version")
    sys.exit(0)
verdict = "old"
for off in range(1 << 20, len(old), 1 << 20):
    try:
        x = os.pread(a, 1 << 20, off)
    except OSError as e:
        verdict = errno.errorcode.get(e.errno, str(e.errno))
        break
    if x == new[off:off + len(x)]:
        verdict = "NEW bytes at %d" % off
        break
    if x != old[off:off + len(x)]:
        verdict = "wrong bytes at %d" % off
        break
print(verdict)
EOF
r=$(timeout 120 $PY "$T/mix.py" "$M/mix" "$D/mix" "$T/mix.old" 2>&1)
check "version mix: A gets the old bytes or an error (got: $r)" \
  test "$r" = old -o "$r" = ESTALE -o "$r" = EIO
eq "... a new open reads the new version" "$(sha "$M/mix")" "$(sha "$D/mix")"
mnt_stop

# ---- --cache blockcache: 4 KiB random reads fetch blocks, not pages.
check "mount -f --cache blockcache --block-size 1M" \
  mnt_start --cache blockcache --block-size 1M --direct-io
cat >"$T/pages.py" <<'EOF'
import os, random, sys
m, l = sys.argv[1], sys.argv[2]
fm, fl = os.open(m, os.O_RDONLY), os.open(l, os.O_RDONLY)
size = os.fstat(fl).st_size
r = random.Random(5)
for _ in range(2000):
    off = r.randrange(0, size // 4096) * 4096
    if os.pread(fm, 4096, off) != os.pread(fl, 4096, off):
        print("mismatch at %d" % off); sys.exit(0)
print("ok")
EOF
from=$(lines)
eq "blockcache: 2000 random 4 KiB reads right" "$(timeout 120 $PY "$T/pages.py" "$M/pages" "$D/pages" 2>&1)" ok
n=$(since "$from" | grep -c '"kind":"media"')
echo "  (2000 random 4 KiB reads of an 8 MiB file: $n data requests)"
check "... about one request per 1 MiB block ($n)" test "$n" -le 16
mnt_stop

tally
