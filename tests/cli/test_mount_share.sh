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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_mount_setup mshare "$@"
PY=/usr/bin/python3

sha() { timeout 120 sha256sum <"$1" | cut -d' ' -f1; }

B=bkt
D=$T/data/$B
mkdir -p "$D/small" "$D/deep/er"
head -c $((64 * 1024 * 1024 + 4321)) /dev/urandom >"$D/shared"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$D/mix"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$D/pages"
head -c 1000 /dev/urandom >"$D/deep/er/leaf"
for i in $(seq -w 1 200); do head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$D/small/f$i"; done

start_server
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

check "mount -f" mnt_start

# ---- 32 readers of one file: one engine file, its blocks shared.
from=$(lines)
read_shared() { timeout 300 sha256sum <"$M/shared" | cut -d' ' -f1; }
eq "32 readers of one file: every byte right" "$(readers_agree 32 "$(sha "$D/shared")" read_shared)" 1
sent=$(media_bytes "$from"); size=$(stat -c %s "$D/shared")
echo "  (32 readers: the server sent $sent bytes for a $size-byte file)"
# The aim is 1.1x (the benchmark's, BENCHMARKS.md). What goes past 1.0x
# is the kernel sending one reader's 1 MiB request after another's beyond
# it: it goes to the stream it lies behind, whose engine file serves it
# from the blocks it kept behind (reorder_bytes) or fetches just its
# bytes. Before that, it went to a stream of its own, which fetched it
# again with a window: up to 1.33x on a loaded machine, 2.05x once in CI.
# Now 1.00-1.11x with the machine's load at 8. The bound catches that
# and what came before: one engine file per open (4.9-6.3x), or one for
# all readers without reorder_bytes (2.1-2.7x).
check "... fetched under 1.5x the file ($sent for $size)" \
  test "$sent" -lt $((size * 3 / 2))

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

# ---- A mount over a mount, live or dead, is refused.
rc=0; timeout 30 "$BIN" mount "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "background mount" "$rc" 0
bgpid=$(pgrep -f "gsread mount gs://$B $M\$" | head -1)
rc=0; timeout 30 "$BIN" mount "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "a mount over a live gsread mount exits 1" "$rc" 1
check "... pointing at gsread unmount" grep -q "already is a gsread mount; run 'gsread unmount'" "$T/err"
eq "... and stacks nothing" "$(grep -c " $M fuse.gsread " /proc/self/mounts)" 1
kill -KILL "$bgpid"
sleep 0.3
rc=0; timeout 30 "$BIN" mount "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "a mount over a dead (kill -9) gsread mount exits 1" "$rc" 1
check "... pointing at gsread unmount" grep -q "gsread mount.*run 'gsread unmount'" "$T/err"
eq "... and stacks nothing" "$(grep -c " $M fuse.gsread " /proc/self/mounts)" 1
rc=0; timeout 30 "$BIN" unmount "$M" 2>"$T/err" || rc=$?
eq "gsread unmount of the dead mount exits 0" "$rc" 0
check "... and it is gone" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"

# ---- Roots: an object is refused; an empty prefix mounts with a warning.
rc=0; timeout 30 "$BIN" mount "gs://$B/shared" "$M" 2>"$T/err" || rc=$?
eq "a root naming an object exits 1" "$rc" 1
check "... saying so" grep -q "is an object, not a directory" "$T/err"
check "... and mounts nothing" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"
rc=0; timeout 30 "$BIN" mount --log-file "$T/bg.log" "gs://$B/nothing-here" "$M" 2>"$T/err" || rc=$?
eq "an empty prefix mounts" "$rc" 0
check "... with a warning" grep -q "warning: nothing under gs://$B/nothing-here/" "$T/err"
timeout 10 "$BIN" unmount "$M" 2>/dev/null
sleep 0.5

# ---- In the background: --log-file gets the errors; without it and
# without syslog, a warning.
rc=0; timeout 30 "$BIN" mount --log-file "$T/bg.log" --ttl 0 "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "background mount with --log-file" "$rc" 0
check "... no syslog warning then" sh -c "! grep -q 'no syslog' '$T/err'"
ctl "config?fault_on=all&fault_kind=status&fault_status=400&fault_ratio=1"
timeout 30 cat "$M/small/f001" >/dev/null 2>&1
ctl reset
check "... the daemon's error is in the log file" grep -q "gsread\[[0-9]*\]: cannot .*400" "$T/bg.log"
timeout 10 "$BIN" unmount "$M" 2>/dev/null
sleep 0.5
rc=0; timeout 30 "$BIN" mount "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "background mount without --log-file" "$rc" 0
if [ -e /dev/log ]; then
  check "syslog here: no warning" sh -c "! grep -q 'no syslog' '$T/err'"
else
  check "no /dev/log here: a warning" grep -q "warning: no syslog here (/dev/log" "$T/err"
fi
timeout 10 "$BIN" unmount "$M" 2>/dev/null
sleep 0.5

# ---- -o options, and mount(8)'s helper mount.gsread (a link to gsread).
rc=0; timeout 30 "$BIN" mount -o nosuch=1 "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "an unknown -o option is a usage error" "$rc" 2
rc=0; timeout 30 "$BIN" mount -o file_mode 0400 "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "an -o option without its value is a usage error" "$rc" 2
ln -s "$BIN" "$T/mount.gsread"
rc=0; timeout 30 "$T/mount.gsread" "gs://$B" "$M" -o rw,defaults,_netdev,x-systemd.automount,file_mode=0440,dir_mode=0550,ttl=5 2>"$T/err" || rc=$?
eq "mount.gsread SPEC DIR -o ... exits 0" "$rc" 0
eq "... the -o modes apply" "$(stat -c %a "$M/shared") $(stat -c %a "$M/small")" "440 550"
eq "... and it reads" "$(sha "$M/small/f002")" "$(sha "$D/small/f002")"
timeout 10 "$BIN" unmount "$M" 2>/dev/null
sleep 0.5
rc=0; timeout 30 "$T/mount.gsread" -f "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "mount.gsread -f (fake) exits 0" "$rc" 0
check "... mounting nothing" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"

tally
