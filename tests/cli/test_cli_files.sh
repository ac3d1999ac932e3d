#!/usr/bin/env bash
# The CLI and the files around it, with the local GCS server (started
# here, stopped on exit):
#  - local files that are not regular (a FIFO, a device, /proc's files),
#    and a FIFO named as the credentials or the plans file: a clear error
#    at once, never a hang, never 0 bytes with exit 0;
#  - a non-blocking standard output (a parent set O_NONBLOCK on a pipe):
#    cat, cp to - and cat of a local file wait while the pipe is full;
#  - names with C1 control characters (U+0080-U+009F): escaped by ls;
#  - cp to a destination that is not a regular file (a device, a FIFO, a
#    symlink to one): written into, as cp(1) does, never replaced;
#  - long names: cp names the copy after the real last component; cp -r
#    skips a leading empty component, copies a 255-byte component, goes on
#    past a failed object and names every failure; an empty name in a
#    listing;
#  - an object whose size does not fit 63 bits: refused at open.
#
# Usage: tests/cli/test_cli_files.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup files-cli "$@"

B=fbk
D=$T/data/$B
mkdir -p "$D"
head -c 3000000 /dev/urandom >"$D/obj"
C1=$'c1-\xc2\x9b31mred'    # U+009B, a CSI to a UTF-8 terminal
RAW=$'raw-\x9b31mred'        # 0x9b alone: a CSI to an 8-bit terminal
UTF=$'utf-\xc3\xa9t\xc3\xa9' # "été": printed as it is
mkdir -p "$T/data/c1bk"
for n in "$C1" "$RAW" "$UTF"; do echo x >"$T/data/c1bk/$n"; done
# Long paths: a local path of 1300 bytes (six 200-byte directories; a
# gs:// name is at most 1024), a last component of 250 bytes.
LB=longbk
DIR200=$(printf 'd%.0s' {1..200})
LONGDIR=$DIR200/$DIR200/$DIR200/$DIR200/$DIR200/$DIR200
NAME250=$(printf 'n%.0s' {1..250})
mkdir -p "$T/deep/$LONGDIR" "$T/data/$LB/tree"
echo deep >"$T/deep/$LONGDIR/last.txt"
echo long >"$T/data/$LB/tree/$NAME250"
echo abs >"$T/data/$LB/tree/abs.txt"
echo bad >"$T/data/$LB/tree/bad"
echo fine >"$T/data/$LB/tree/fine"
start_server
export STORAGE_EMULATOR_HOST=$EP
G=(timeout 30 "$BIN")
mkdir out
mkfifo fifo

# ---- local files that are not regular: refused at once
for f in fifo /dev/null /proc/self/status; do
  rc=0; out=$("${G[@]}" cat "$f" 2>"$T/err") || rc=$?
  eq "cat $f is refused, not a hang or 0 bytes" "$rc" 2
  check "cat $f says why" grep -q "regular file\|holds 0 bytes but has data" "$T/err"
done
# --endpoint, not STORAGE_EMULATOR_HOST: an emulator is read anonymously
# (docs/auth.md), and the credentials file would not be opened at all.
rc=0; env -u STORAGE_EMULATOR_HOST GOOGLE_APPLICATION_CREDENTIALS=$T/fifo \
  "${G[@]}" stat --endpoint "$EP" "gs://$B/obj" >/dev/null 2>"$T/err" || rc=$?
eq "a FIFO as the credentials file fails, no hang" "$rc" 1
check "... and says why" grep -q "not a regular file" "$T/err"
rc=0; GSREAD_PLANS_FILE=$T/fifo "${G[@]}" cat "$D/obj" >out/plans 2>"$T/err" || rc=$?
eq "a FIFO as the plans file is ignored, no hang" "$rc" 0
check "... the cat is whole" cmp -s out/plans "$D/obj"
check "... and the FIFO is still a FIFO" test -p fifo

# ---- a non-blocking standard output: the writes wait, they do not fail.
# The reader sleeps first, so the pipe (64 KiB) is full for a while.
nonblock() {
  /usr/bin/python3 -c '
import fcntl, os, sys
fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_NONBLOCK)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}
for c in "cat gs://$B/obj" "cp -q gs://$B/obj -" "cat $D/obj" \
  "cat --copy gs://$B/obj"; do
  # shellcheck disable=SC2086 # c is split into its words on purpose
  nonblock "$BIN" $c 2>"$T/err" | (sleep 1; cat >out/nb)
  rc=${PIPESTATUS[0]}
  eq "$c to a non-blocking pipe exits 0" "$rc" 0
  check "$c to a non-blocking pipe writes every byte" cmp -s out/nb "$D/obj"
done

# ---- C1 control characters in names: escaped, other UTF-8 kept
"${G[@]}" ls gs://c1bk/ >out/ls 2>"$T/err"
eq "ls escapes C1 (c2 9b) and bytes that are not UTF-8" "$(cat out/ls)" \
  "gs://c1bk/c1-\\xc2\\x9b31mred
gs://c1bk/raw-\\x9b31mred
gs://c1bk/$UTF"
"${G[@]}" ls -l gs://c1bk/ >out/ls 2>"$T/err"
no_c1() { ! LC_ALL=C grep -q $'\xc2\x9b' "$1"; }
check "ls -l has no C1 byte" no_c1 out/ls
"${G[@]}" ls --json gs://c1bk/ >out/ls 2>"$T/err"
check "ls --json has no C1 byte" no_c1 out/ls
check "... it is \\u009b" grep -q 'c1-\\u009b31mred' out/ls
rc=0; "${G[@]}" stat "gs://c1bk/$C1-missing" 2>"$T/err" || rc=$?
check "a message escapes C1 too" grep -qF 'c1-\xc2\x9b31mred-missing' "$T/err"

# ---- cp into what is not a regular file: written into, never replaced.
# (Never the real /dev/null itself: a gsread that renames over DEST would
# replace it for the whole machine. A symlink to it is safe either way.)
ln -s /dev/null out/null
rc=0; "${G[@]}" cp -q "gs://$B/obj" out/null 2>"$T/err" || rc=$?
eq "cp to a symlink to /dev/null exits 0" "$rc" 0
check "... the symlink is still there" test -L out/null
check "... and /dev/null is still a device" test -c /dev/null
ln -s "$T/fifo" out/fifolink
for dest in fifo out/fifolink; do
  timeout 20 cat fifo >out/fromfifo &
  reader=$!
  rc=0; "${G[@]}" cp -q "gs://$B/obj" "$dest" 2>"$T/err" || rc=$?
  wait "$reader"
  eq "cp to $dest (a FIFO) exits 0" "$rc" 0
  check "... the reader got every byte" cmp -s out/fromfifo "$D/obj"
  check "... and it is still a FIFO" test -p "$dest"
done
ls -a >out/names
check "... no temporary file left" sh -c "! grep -q gsread- out/names"

# ---- long paths: the real last component, whatever the length
knob() { curl -sf "$EP/_control/config?$1" >/dev/null || fail "knob $1"; }
mkdir out/long
rc=0; "${G[@]}" cp -q "$T/deep/$LONGDIR/last.txt" out/long/ 2>"$T/err" || rc=$?
eq "cp of a 1300-byte path into a directory exits 0" "$rc" 0
eq "... named after its last component" "$(ls out/long)" "last.txt"
# cp -r: a 250-byte component is copied (its temporary name fits); a name
# with a leading '/' is skipped, not folded onto another; a failed object
# does not stop the others, and is named again at the end.
knob "list_extra=1&list_extra_name=/tree/abs.txt"
knob "fault_kind=status&fault_status=403&fault_match=tree/bad&fault_ratio=1"
rc=0; "${G[@]}" cp -r -q "gs://$LB/tree/" out/tree 2>"$T/err" || rc=$?
knob "list_extra=0&fault_ratio=0"
eq "cp -r with a failed object exits 1" "$rc" 1
check "... copies the 250-byte name" cmp -s "out/tree/$NAME250" "$T/data/$LB/tree/$NAME250"
check "... copies the objects after the failed one" cmp -s out/tree/fine "$T/data/$LB/tree/fine"
check "... names the failure at the end" \
  sh -c "tail -1 '$T/err' | grep -q 'not copied: gs://$LB/tree/bad: 1 of 5 objects were not copied'"
check "... skips /tree/abs.txt (a leading empty component)" \
  grep -q "skipping /tree/abs.txt: not a safe relative path" "$T/err"
eq "... and abs.txt is the object abs.txt" "$(cat out/tree/abs.txt)" abs
ls -a out/tree >out/names
check "... no temporary file left" sh -c "! grep -q gsread- out/names"

# ---- an empty name in a listing (a hostile server's): skipped, no crash
knob "list_extra=1&list_extra_name="
rc=0; "${G[@]}" cp -r -q "gs://$LB" out/empty 2>"$T/err" || rc=$?
knob "list_extra=0"
eq "cp -r of a listing with an empty name exits 0" "$rc" 0
check "... and skips it" grep -q "skipping : not a safe relative path" "$T/err"
check "... copying the rest" cmp -s out/empty/tree/fine "$T/data/$LB/tree/fine"

# ---- a size past 2^63-1: refused at open
knob "meta_size=9223372036854775808"
for c in "cat" "stat" "cp -q"; do
  args=($c "gs://$B/obj")
  [ "$c" = "cp -q" ] && args+=(out/huge)
  rc=0; "${G[@]}" "${args[@]}" >/dev/null 2>"$T/err" || rc=$?
  eq "$c of an object of 2^63 bytes exits 1" "$rc" 1
  check "... and says why" grep -q "past the largest gsread can address" "$T/err"
done
knob "meta_size="

tally
