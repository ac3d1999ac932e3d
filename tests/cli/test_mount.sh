#!/usr/bin/env bash
# Tests of `gsread mount` / `gsread unmount` against the local GCS server
# (started here, stopped on exit): bytes through the mount (cat, dd with
# odd block sizes) against the files; ls -R and find against the bucket's
# listing with awkward names; 16 concurrent readers; random preads from
# Python, also from many threads on one descriptor; an object replaced
# while open (ESTALE); errors to errno with the server's message in the
# log (ENOENT, EACCES, EIO); a stalled server and a stopped one (EIO in
# bounded time, the mount still answering); unmount and SIGTERM with a
# file open; the background mode and its start-up errors.
#
# Needs /dev/fuse and fusermount3 (fuse3): without them the test FAILS,
# saying so; it never skips.
#
# Usage: tests/cli/test_mount.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_mount_setup mount "$@"
PY=/usr/bin/python3

sha() { timeout 60 sha256sum <"$1" | cut -d' ' -f1; }

if ! command -v strace >/dev/null; then
  fail "strace is missing (scripts/install-deps.sh installs it)"
  tally
  exit 1
fi

B=bkt
D=$T/data/$B
mkdir -p "$D/dir/sub" "$D/odd dir/ü" "$D/many"
head -c $((64 * 1024 * 1024 + 12345)) /dev/urandom >"$D/big"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$D/slow"
: >"$D/empty"
for n in "dir/a" "dir/sub/z z" "dir/h#sh" "dir/p%41" "dir/q?1" "dir/plus+" \
         "odd dir/ü/été-日本" "odd dir/x"; do
  head -c $((RANDOM % 5000 + 1)) /dev/urandom >"$D/$n"
done
for i in $(seq -w 1 16); do head -c $((1024 * 1024 + 10#$i)) /dev/urandom >"$D/many/f$i"; done
head -c $((32 * 1024 * 1024)) /dev/urandom >"$D/repl"
head -c $((32 * 1024 * 1024)) /dev/urandom >"$D/stop"

start_server
PORT=${EP##*:}
export STORAGE_EMULATOR_HOST=$EP

# ---- start-up errors reach the terminal, in the background mode too
rc=0; timeout 30 "$BIN" mount "gs://nosuchbucket" "$M" 2>"$T/err" || rc=$?
eq "background mount of a missing bucket exits 1" "$rc" 1
check "... saying why on the terminal" grep -q "cannot list gs://nosuchbucket" "$T/err"
check "... and mounts nothing" test "$(grep -c " $M fuse.gsread" /proc/self/mounts)" = 0
rc=0; timeout 30 "$BIN" mount "gs://$B" "$D/big" 2>"$T/err" || rc=$?
eq "a file as mount point exits 1" "$rc" 1
rc=0; timeout 30 "$BIN" mount "gs://$B" 2>"$T/err" || rc=$?
eq "no mount point is a usage error" "$rc" 2
rc=0; timeout 30 "$BIN" mount --file-mode 999 "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "a bad --file-mode is a usage error" "$rc" 2
rc=0; timeout 10 "$BIN" unmount "$T" 2>"$T/err" || rc=$?
eq "unmount of a non-mount exits 1" "$rc" 1
check "... saying so" grep -q "not a gsread mount" "$T/err"
check "mount --help lists --ttl" sh -c "'$BIN' mount --help | grep -q -- '--ttl S'"

# ---- background mode: returns once mounted; unmount ends the daemon
rc=0; timeout 30 "$BIN" mount "gs://$B" "$M" 2>"$T/err" || rc=$?
eq "background mount exits 0" "$rc" 0
check "... and is mounted when it returns" mounted
eq "... reads" "$(sha "$M/dir/a")" "$(sha "$D/dir/a")"
bgpid=$(pgrep -f "gsread mount gs://$B $M" | head -1)
timeout 10 "$BIN" unmount "$M" 2>"$T/err"
check "unmount: gone from /proc/self/mounts" test "$(grep -c " $M fuse.gsread " /proc/self/mounts)" = 0
ok=0
for _ in $(seq 100); do kill -0 "$bgpid" 2>/dev/null || { ok=1; break; }; sleep 0.1; done
eq "... and the daemon exits" "$ok" 1

# ---- the main mount, foreground, short TTL
check "mount -f" mnt_start --stall-timeout 1000 --ttl 2

# Bytes: cat and dd with odd block sizes, against the files.
for f in big empty dir/a "dir/sub/z z" "odd dir/ü/été-日本"; do
  eq "cat $f" "$(timeout 60 cat "$M/$f" | sha256sum | cut -d' ' -f1)" "$(sha "$D/$f")"
done
for bs in 1 4097 65537 1000003 16M; do
  cnt=""; [ "$bs" = 1 ] && cnt="count=70001" # a byte at a time: a sample
  want=$(sha "$D/big"); [ -n "$cnt" ] && want=$(head -c 70001 "$D/big" | sha256sum | cut -d' ' -f1)
  eq "dd bs=$bs" "$(timeout 120 dd if="$M/big" bs="$bs" $cnt status=none | sha256sum | cut -d' ' -f1)" "$want"
done
eq "dd skip= (a seek into the middle)" \
  "$(timeout 60 dd if="$M/big" bs=65537 skip=333 count=77 status=none | sha256sum | cut -d' ' -f1)" \
  "$(dd if="$D/big" bs=65537 skip=333 count=77 status=none | sha256sum | cut -d' ' -f1)"
eq "stat size" "$(stat -c %s "$M/big")" "$(stat -c %s "$D/big")"
eq "stat mode" "$(stat -c %a "$M/big") $(stat -c %a "$M/dir")" "444 555"
eq "mtime is the object's updated time" "$(stat -c %Y "$M/dir/a")" "$(stat -c %Y "$D/dir/a")"

# Listings: ls -R and find against the bucket's, names with spaces, #, %, UTF-8.
eq "ls -R" "$(cd "$M" && timeout 30 ls -R)" "$(cd "$D" && ls -R)"
eq "find" "$(cd "$M" && timeout 30 find . | LC_ALL=C sort)" "$(cd "$D" && find . | LC_ALL=C sort)"
eq "find -type f against gsread ls -r" \
  "$(cd "$M" && timeout 30 find . -type f | sed 's|^\./||' | LC_ALL=C sort)" \
  "$(timeout 30 "$BIN" ls -r "gs://$B/" | sed "s|^gs://$B/||" | LC_ALL=C sort)"
rc=0; timeout 10 cat "$M/dir/nope" 2>"$T/err" >/dev/null || rc=$?
check "a missing object is ENOENT" grep -q "No such file or directory" "$T/err"
check "... and not logged" sh -c "! grep -q nope '$T/mount.log'"
rc=0; timeout 10 sh -c "echo x > '$M/new'" 2>"$T/err" || rc=$?
check "writing fails (read-only)" grep -q "Read-only file system" "$T/err"

# 16 concurrent readers of different files, then of the same file.
pids=()
for i in $(seq -w 1 16); do
  (timeout 120 sha256sum <"$M/many/f$i" | cut -d' ' -f1 >"$T/c$i") &
  pids+=($!)
done
wait "${pids[@]}"
ok=1
for i in $(seq -w 1 16); do [ "$(cat "$T/c$i")" == "$(sha "$D/many/f$i")" ] || ok=0; done
eq "16 readers of 16 files" "$ok" 1
# Reader I: dd with a block size of 4 KiB x I + 1 byte.
read_slow() { timeout 120 dd if="$M/slow" bs=$((4096 * $1 + 1)) status=none | sha256sum | cut -d' ' -f1; }
eq "16 readers of one file" "$(readers_agree 16 "$(sha "$D/slow")" read_slow)" 1

# Random preads from Python against the local file, one thread and 16 on
# one descriptor.
cat >"$T/preads.py" <<'EOF'
import os, random, sys
from concurrent.futures import ThreadPoolExecutor
m, l, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
fm, fl = os.open(m, os.O_RDONLY), os.open(l, os.O_RDONLY)
size = os.fstat(fl).st_size
assert os.fstat(fm).st_size == size, "sizes differ"
def job(seed):
    r = random.Random(seed)
    for _ in range(150):
        off = r.randrange(0, size + 5000)
        n = r.choice([1, 7, 4096, 65536, 1 << 20, r.randrange(1, 3 << 20)])
        if os.pread(fm, n, off) != os.pread(fl, n, off):
            return "mismatch at %d+%d" % (off, n)
    return None
with ThreadPoolExecutor(threads) as ex:
    bad = [x for x in ex.map(job, range(threads)) if x]
print(bad[0] if bad else "ok")
EOF
eq "python random preads" "$(timeout 120 $PY "$T/preads.py" "$M/big" "$D/big" 1 2>&1)" ok
eq "python preads, 16 threads, one descriptor" "$(timeout 120 $PY "$T/preads.py" "$M/big" "$D/big" 16 2>&1)" ok

# An object replaced while open: ESTALE, never the new bytes under the
# old open; a new open reads the new object.
cat >"$T/replace.py" <<'EOF'
import errno, os, sys
m, local = sys.argv[1], sys.argv[2]
fd = os.open(m, os.O_RDONLY)
size = os.fstat(fd).st_size
first = os.pread(fd, 4096, 0)
new = os.urandom(size)
tmp = local + ".new"
with open(tmp, "wb") as f:
    f.write(new)
st = os.stat(local)
os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
os.replace(tmp, local)
try:
    got = os.pread(fd, 65536, size - 3 * 65536)
    print("read %d bytes after the replace, %s" % (len(got), "new" if got == new[size - 3 * 65536:][:len(got)] else "old"))
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
EOF
r=$(timeout 120 $PY "$T/replace.py" "$M/repl" "$D/repl" 2>&1)
check "replaced while open: ESTALE (got $r)" test "$r" = ESTALE -o "$r" = EIO
check "... logged" grep -q "cannot read gs://$B/repl" "$T/mount.log"
eq "... a new open reads the new object" "$(sha "$M/repl")" "$(sha "$D/repl")"

# Errors to errno, with the server's message in the log.
sleep 2.2 # the TTL: lookups go to the server again
ctl "config?require_token=1"
rc=0; timeout 30 cat "$M/many/f02" 2>"$T/err" >/dev/null || rc=$?
check "refused credentials: EACCES" grep -q "Permission denied" "$T/err"
check "... the server's message in the log" grep -q "401" "$T/mount.log"
ctl reset
sleep 2.2
ctl "config?fault_on=all&fault_kind=status&fault_status=400&fault_ratio=1"
rc=0; timeout 30 ls "$M/odd dir" 2>"$T/err" >/dev/null || rc=$?
check "a server error: EIO" grep -q "Input/output error" "$T/err"
check "... the server's message in the log" grep -q "gs://$B/odd dir.*400" "$T/mount.log"
ctl reset

# A stalled server (headers, then nothing): EIO after the stall timeout
# (1 s here) and the retries, while the rest of the mount keeps answering.
ctl "config?fault_kind=stall&stall_ms=60000&fault_ratio=1&fault_match=many/f03&cut_at=0"
start=$(date +%s)
(timeout 120 cat "$M/many/f03" >/dev/null 2>"$T/stall.err"; echo $? >"$T/stall.rc") &
spid=$!
sleep 1
eq "... meanwhile other files read" "$(sha "$M/many/f04")" "$(sha "$D/many/f04")"
check "... and directories list" timeout 5 ls "$M/dir" >/dev/null
wait $spid
el=$(($(date +%s) - start)); echo "  (took ${el}s)"
check "a stalled read fails with EIO" grep -q "Input/output error" "$T/stall.err"
check "... in bounded time (${el}s)" test "$el" -lt 60
ctl reset

# The server stopped mid-read: EIO in bounded time, the mount alive, and
# reads work again once it is back.
ctl "config?rate=1m"
start=$(date +%s)
(timeout 150 dd if="$M/stop" of=/dev/null bs=1M 2>"$T/stop.err"; echo $? >"$T/stop.rc") &
dpid=$!
sleep 1.5
"$SERVER" stop --state "$T/state" >/dev/null 2>&1
wait $dpid
el=$(($(date +%s) - start)); echo "  (took ${el}s)"
cp "$T/stop.err" "$T/err"; check "server stopped mid-read: EIO (dd: $(cat "$T/stop.rc"))" grep -q "Input/output error" "$T/stop.err"
check "... in bounded time (${el}s)" test "$el" -lt 60
check "... the mount is still there" mounted
check "... and answers what needs no server" sh -c "timeout 5 stat '$M' && timeout 5 stat -f '$M'" >/dev/null
if EP2=$("$SERVER" start --data "$T/data" --state "$T/state" --profile unshaped --port "$PORT" 2>"$T/err"); then
  eq "... and reads again once the server is back" "$(sha "$M/many/f05")" "$(sha "$D/many/f05")"
else
  fail "server restart on port $PORT"
fi

# Unmount with a file open: the mount point is free at once, the open
# file still reads to its end, and the daemon exits once it is closed.
exec 3<"$M/many/f06"
head -c 1000 <&3 >/dev/null
rc=0; timeout 10 "$BIN" unmount "$M" 2>"$T/err" || rc=$?
eq "unmount with a file open exits 0" "$rc" 0
check "... the mount point is free at once" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"
eq "... the open file reads on" "$(timeout 30 cat <&3 | wc -c)" $((1024 * 1024 + 6 - 1000))
exec 3<&-
check "... the daemon exits once it is closed" mnt_wait_exit 20
eq "... with status 0" "$mrc" 0

# SIGTERM with a file open and a read stalled in flight (the default stall
# timeout, 30 s, is far off): unmounts and exits promptly all the same.
check "mount again" mnt_start
ctl "config?fault_kind=stall&stall_ms=60000&fault_ratio=1&fault_match=many/f07&cut_at=0"
exec 3<"$M/many/f07"
(timeout 60 cat <&3 >/dev/null 2>&1) &
cpid=$!
sleep 1
kill -TERM "$MPID"
check "SIGTERM with a read in flight: the daemon exits within 10 s" mnt_wait_exit 10
eq "... with status 0" "$mrc" 0
check "... and unmounted" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"
check "... the reader ends too" timeout 30 tail --pid=$cpid -f /dev/null
exec 3<&-
check "... saying so on stderr" grep -q "unmounting" "$T/mount.log"
ctl reset

# SIGINT on an idle mount (no request in flight to end the loop by).
check "mount again" mnt_start
kill -INT "$MPID"
check "SIGINT on an idle mount: the daemon exits within 5 s" mnt_wait_exit 5
eq "... with status 0" "$mrc" 0
check "... and unmounted" sh -c "! grep -qF ' $M fuse.gsread ' /proc/self/mounts"

# Read replies from the engine's blocks: a pipe of references to them,
# which libfuse splices into /dev/fuse; the daemon copies nothing. Every
# reply of 2 pages up to what the pipes take goes so: with 128 KiB of
# readahead a sequential dd sends 128 KiB requests. Bytes exact, random
# preads too.
check "mount with --debug --max-readahead 128K" mnt_start --debug --max-readahead 128K
dpid=$(pgrep -P "$MPID" | head -1) # the daemon, under timeout
strace -f -c -e trace=vmsplice,splice,writev -p "${dpid:-$MPID}" -o "$T/strace" 2>/dev/null &
stpid=$!
for _ in $(seq 50); do grep -q "^TracerPid:[[:space:]]*$stpid\$" "/proc/$dpid/status" && break; sleep 0.1; done
sleep 0.5 # its threads too
eq "dd bs=1M through spliced replies" "$(timeout 120 dd if="$M/big" bs=1M status=none | sha256sum | cut -d' ' -f1)" "$(sha "$D/big")"
kill -INT "$stpid"; wait "$stpid"
calls() { awk -v c="$1" '$NF == c {print $4}' "$T/strace"; }
splices=$(calls splice); vmsplices=$(calls vmsplice); writevs=$(calls writev)
echo "  (strace: splice ${splices:-0}, vmsplice ${vmsplices:-0}, writev ${writevs:-0})"
# 64 MiB in 128 KiB replies: 513, each a vmsplice of ours and one of
# libfuse's header, two splices (our pipe -> libfuse's -> /dev/fuse).
check "... 513+ replies spliced" test "${splices:-0}" -ge 1026 -a "${vmsplices:-0}" -ge 1026
check "... none written from a buffer (writev: lookups, opens)" test "${writevs:-0}" -le 16
eq "python random preads, spliced" "$(timeout 120 $PY "$T/preads.py" "$M/big" "$D/big" 4 2>&1)" ok
mnt_stop
eq "... the daemon exits 0 (no sanitizer report)" "$mrc" 0
counters() {
  line=$(grep -o "read replies: [0-9]* through a pipe from the engine's blocks, [0-9]* copied" "$T/mount.log")
  piped=$(echo "$line" | awk '{print $3}'); copied=$(echo "$line" | awk '{print $(NF-1)}')
  echo "  (replies: ${piped:-0} piped, ${copied:-?} copied)"
}
counters
check "... the counters say so (${line:-no counter line})" test "${piped:-0}" -ge 513
check "... copies only for replies under 2 pages" test -n "$copied" -a "${copied:-1}" -le $((${piped:-0} / 4))

# 1 MiB requests (the kept readahead, as root): their replies take a
# pipe of more than 1 MiB (fs.pipe-max-size, or CAP_SYS_RESOURCE); where
# pipes stop at 1 MiB they are copied. Bytes exact either way.
big_pipes=$($PY -c 'import fcntl, os; r, w = os.pipe(); fcntl.fcntl(r, 1031, 2 << 20); print(1)' 2>/dev/null || echo 0)
check "mount with --debug" mnt_start --debug
eq "dd bs=1M, 1 MiB requests" "$(timeout 120 dd if="$M/big" bs=1M status=none | sha256sum | cut -d' ' -f1)" "$(sha "$D/big")"
mnt_stop
eq "... the daemon exits 0 (no sanitizer report)" "$mrc" 0
counters
check "... every reply counted" test $((${piped:-0} + ${copied:-0})) -ge 65
if [ "$big_pipes" = 1 ]; then
  check "... pipes over 1 MiB: spliced" test "${piped:-0}" -ge 64 -a "${copied:-9}" -le 2
fi

tally
