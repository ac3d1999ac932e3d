#!/usr/bin/env bash
# Tests of the CLI against a hostile but fair user, with the
# local GCS server (started here, stopped on exit):
#  - closed standard output: "standard output is closed", exit 1, nothing
#    read from the server, no hang; closed stdin and stdout where they are
#    not used: the command works;
#  - hostile object names (escape sequences, a newline, a backslash): ls
#    and ls -l print one escaped line per object;
#  - long names and paths: the error message keeps its reason (the HTTP
#    status, "File name too long") with the URL shortened in the middle;
#  - cp --part-size below 256 KiB is refused as a usage error.
#
# Usage: tests/cli/test_cli_hostile.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup hostile-cli "$@"

# Requests the server logged so far.
served() { wc -l <"$T/state/requests.log"; }

B=hbk
D=$T/data/$B
mkdir -p "$D"
head -c 100000 /dev/urandom >"$D/obj"
ESC=$'\033'
for n in "esc-$ESC[31mred$ESC[0m" $'nl-a\nb' 'back\slash'; do
  echo x >"$D/$n"
done

start_server
export STORAGE_EMULATOR_HOST=$EP
G=(timeout 30 "$BIN")
mkdir out

# ---- closed standard output (fd 1): refused before anything is read
for c in "cat" "cat --copy" "stat" "ls -l" "cp -q"; do
  args=($c "gs://$B/obj")
  [ "$c" = "cp -q" ] && args+=(-)
  [ "$c" = "ls -l" ] && args=(ls -l "gs://$B/")
  before=$(served)
  rc=0; "${G[@]}" "${args[@]}" >&- 2>"$T/err" || rc=$?
  eq "$c with stdout closed exits 1" "$rc" 1
  eq "$c with stdout closed says so" "$(cat "$T/err")" \
    "gsread: standard output is closed"
  eq "$c with stdout closed reads nothing" "$(served)" "$before"
done
rc=0; "${G[@]}" --version >&- 2>"$T/err" || rc=$?
eq "--version with stdout closed exits 1" "$rc" 1
eq "--version with stdout closed says so" "$(cat "$T/err")" \
  "gsread: standard output is closed"
# cp to a file needs no stdout (nor stdin): it works, and its bytes land
# in DEST, not in a descriptor that took fd 0 or 1.
rc=0; "${G[@]}" cp -q "gs://$B/obj" out/cp1 <&- >&- 2>"$T/err" || rc=$?
eq "cp to a file with stdin and stdout closed exits 0" "$rc" 0
check "... and copies the bytes" cmp -s out/cp1 "$D/obj"
# mount and unmount write nothing to stdout (a daemon is often started
# with it closed): they run and fail for their own reasons here.
mkdir -p mnt
rc=0; "${G[@]}" unmount mnt >&- 2>"$T/err" || rc=$?
eq "unmount with stdout closed: its own error" "$rc $(cat "$T/err")" \
  "1 gsread: cannot unmount $T/mnt: not a gsread mount"
rc=0; "${G[@]}" mount -f gs://no-such-bucket mnt >&- 2>"$T/err" || rc=$?
eq "mount with stdout closed: its own error" "$rc $(cat "$T/err")" \
  "1 gsread: cannot list gs://no-such-bucket: gs://no-such-bucket: no such bucket"
# A closed stdin (nothing reads it) changes nothing.
rc=0; "${G[@]}" cat "gs://$B/obj" <&- >out/cat1 2>"$T/err" || rc=$?
eq "cat with stdin closed exits 0" "$rc" 0
check "... and writes the bytes" cmp -s out/cat1 "$D/obj"
rc=0; "${G[@]}" cat --copy "gs://$B/obj" <&- 2>&- >out/cat2 || rc=$?
eq "cat --copy with stdin and stderr closed exits 0" "$rc" 0
check "... and writes the bytes" cmp -s out/cat2 "$D/obj"

# ---- hostile names: one escaped line per object
want="gs://$B/back\\\\slash
gs://$B/esc-\\x1b[31mred\\x1b[0m
gs://$B/nl-a\\x0ab
gs://$B/obj"
rc=0; "${G[@]}" ls "gs://$B/" >"$T/ls" 2>"$T/err" || rc=$?
eq "ls of hostile names exits 0" "$rc" 0
eq "ls prints one escaped line per object" "$(cat "$T/ls")" "$want"
rc=0; "${G[@]}" ls -l "gs://$B/" >"$T/lsl" 2>"$T/err" || rc=$?
eq "ls -l of hostile names exits 0" "$rc" 0
eq "ls -l: 4 objects, 4 lines and TOTAL" "$(wc -l <"$T/lsl")" 5
eq "ls -l ends each line with the escaped URL" \
  "$(head -4 "$T/lsl" | sed 's/.*  gs:/gs:/')" "$want"
check "ls and ls -l print no control byte" \
  sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$T/ls' '$T/lsl'"
# A message echoing such a name escapes it too.
rc=0; "${G[@]}" stat "gs://$B/esc-$ESC[31mno\\pe" 2>"$T/err" >/dev/null || rc=$?
eq "stat of a missing hostile name exits 1" "$rc" 1
check "... its message is one line" test "$(wc -l <"$T/err")" -eq 1
check "... with the name escaped" grep -qF 'esc-\x1b[31mno\\pe' "$T/err"
check "... and no control byte" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$T/err'"

# ---- long names and paths: the reason stays at the end of the message
hashes=$(printf '#%.0s' $(seq 700)) # 700 bytes, 2100 once percent-encoded
rc=0; "${G[@]}" cat "gs://$B/$hashes" >/dev/null 2>"$T/err" || rc=$?
eq "cat of a missing 2 KB gs URL exits 1" "$rc" 1
check "... its message has the HTTP status" grep -q 'HTTP 404: No such object' "$T/err"
check "... and the URL shortened in the middle" grep -q '…' "$T/err"
long=$(head -c 100000 /dev/zero | tr '\0' c)
rc=0; "${G[@]}" cat "$EP/http/$B/$long" >/dev/null 2>"$T/err" || rc=$?
eq "cat of a 100 KB http URL exits 1" "$rc" 1
check "... its message ends with the HTTP status" grep -qE ': HTTP 414[^c]*$' "$T/err"
check "... in one short line" test "$(wc -c <"$T/err")" -lt 3000
rc=0; "${G[@]}" cat "$T/$long" >/dev/null 2>"$T/err" || rc=$?
eq "cat of a 100 KB local path exits 1" "$rc" 1
check "... its message ends with the reason" grep -q ': File name too long$' "$T/err"
check "... in one short line" test "$(wc -c <"$T/err")" -lt 3000
rc=0; "${G[@]}" cp -q "gs://$B/obj" "$T/$long" 2>"$T/err" || rc=$?
eq "cp to a 100 KB local path exits 1" "$rc" 1
check "... its message ends with the reason" grep -q 'File name too long$' "$T/err"

# ---- cp --part-size has a floor of 256 KiB
before=$(served)
rc=0; "${G[@]}" cp --part-size 1 "gs://$B/obj" out/p1 2>"$T/err" || rc=$?
eq "cp --part-size 1 is a usage error" "$rc" 2
check "... saying the bound" grep -q -- '--part-size must be at least 256KiB' "$T/err"
check "... creating nothing" test ! -e out/p1
eq "... reading nothing" "$(served)" "$before"
rc=0; "${G[@]}" cp --part-size 262143 "gs://$B/obj" out/p1 2>"$T/err" || rc=$?
eq "cp --part-size 256K-1 is a usage error" "$rc" 2
rc=0; "${G[@]}" cp -q --part-size 256K "gs://$B/obj" out/p2 2>"$T/err" || rc=$?
eq "cp --part-size 256K exits 0" "$rc" 0
check "... and copies the bytes" cmp -s out/p2 "$D/obj"
check "cp --help shows the bound" sh -c "'$BIN' cp --help | grep -q -- '--part-size SIZE .*at least 256KiB'"

tally
