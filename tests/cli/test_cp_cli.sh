#!/usr/bin/env bash
# Tests of `gsread cp` and `gsread ls` against the local GCS server (started
# here, stopped on exit): byte-exact copies (file, directory, stdout,
# --recursive with nested and special names), no temporary files left,
# quiet and summary output, ls (plain, -l, --json, -r, pages of 2), usage
# errors, and a failing copy that leaves nothing behind.
#
# Usage: tests/cli/test_cp_cli.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup cp-cli "$@"

no_temps() { [ -z "$(find "$1" -name '.*.gsread-*' 2>/dev/null)" ]; }

B=bkt
D=$T/data/$B
mkdir -p "$D/dir/sub" "$D/tree/a/b"
: >"$D/empty"
head -c 1 /dev/urandom >"$D/one"
head -c $((5 * 1024 * 1024 + 1)) /dev/urandom >"$D/five"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$D/big"
for n in "tree/x" "tree/a/y" "tree/a/b/z z" "tree/h#sh" "tree/q?1" "tree/p%41" \
         "tree/plus+" "tree/utf8-été-日"; do
  head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$D/$n"
done
for i in 1 2 3 4 5; do echo "$i" >"$D/dir/f$i"; done

start_server
G=("$BIN")
export STORAGE_EMULATOR_HOST=$EP
mkdir out

# ---- cp of single objects
for n in empty one five; do
  rc=0; "${G[@]}" cp "gs://$B/$n" "out/$n" 2>"$T/err" || rc=$?
  eq "cp $n exit" "$rc" 0
  check "cp $n bytes" cmp -s "out/$n" "$D/$n"
done
rc=0; "${G[@]}" cp --part-size 8M --concurrency 4 "gs://$B/big" out/big 2>"$T/err" || rc=$?
eq "cp big exit" "$rc" 0
check "cp big bytes" cmp -s out/big "$D/big"
check "summary line" grep -qE '^gsread: copied 67108864 bytes in [0-9.]+ s \([0-9.]+ MB/s, 8 requests\)$' "$T/err"
"${G[@]}" cp --quiet "gs://$B/one" out/q 2>"$T/err"
eq "--quiet prints nothing" "$(cat "$T/err")" ""
"${G[@]}" cp -q "gs://$B/five" out/ 2>"$T/err"
check "cp into a directory keeps the name" cmp -s out/five "$D/five"
"${G[@]}" cp -q --part-size 1M --concurrency 3 "gs://$B/five" - >out/stdout 2>"$T/err"
check "cp to stdout in order" cmp -s out/stdout "$D/five"
check "no temporary files" no_temps out

# ---- cp --recursive
rc=0; "${G[@]}" cp -r -q "gs://$B/tree/" out/tree 2>"$T/err" || rc=$?
eq "cp -r exit" "$rc" 0
want=$(cd "$D/tree" && find . -type f | LC_ALL=C sort)
eq "cp -r recreates the sub-paths" "$(cd out/tree && find . -type f | LC_ALL=C sort)" "$want"
ok=1
while IFS= read -r f; do cmp -s "$D/tree/$f" "out/tree/$f" || ok=0; done <<<"$want"
eq "cp -r bytes" "$ok" 1
"${G[@]}" cp -r -q "gs://$B/tree" out/tree2 2>"$T/err"
check "cp -r without a slash keeps the last component" cmp -s "out/tree2/tree/a/b/z z" "$D/tree/a/b/z z"
check "no temporary files after -r" no_temps out

# ---- failures leave nothing
rc=0; "${G[@]}" cp -q "gs://$B/nope" out/nope 2>"$T/err" || rc=$?
eq "cp of a missing object exits 1" "$rc" 1
check "... and creates nothing" test ! -e out/nope
ctl "config?fault_kind=status&fault_status=503&fault_ratio=1"
rc=0; "${G[@]}" cp -q --part-size 1M "gs://$B/five" out/faulty 2>"$T/err" || rc=$?
ctl "reset"
eq "cp under constant 503s exits 1" "$rc" 1
check "... names the 503" grep -q 503 "$T/err"
check "... and leaves no DEST" test ! -e out/faulty
check "... and no temporary file" no_temps out

# ---- usage errors
rc=0; "${G[@]}" cp "gs://$B/one" 2>"$T/err" || rc=$?
eq "cp without DEST is a usage error" "$rc" 2
rc=0; "${G[@]}" cp -r "gs://$B/tree/" - 2>"$T/err" || rc=$?
eq "cp -r to - is a usage error" "$rc" 2
rc=0; "${G[@]}" cp "gs://$B/one" a b 2>"$T/err" || rc=$?
eq "cp with three arguments is a usage error" "$rc" 2
check "cp --help lists --part-size" sh -c "'$BIN' cp --help | grep -q -- --part-size"
check "ls --help lists -l" sh -c "'$BIN' ls --help | grep -q -- '-l, --long'"

# ---- ls
eq "ls folds directories" "$("${G[@]}" ls "gs://$B/" 2>"$T/err")" \
  "$(printf 'gs://%s/%s\n' $B big $B dir/ $B empty $B five $B one $B tree/)"
eq "ls -r dir/" "$("${G[@]}" ls -r "gs://$B/dir/")" "$(printf 'gs://bkt/dir/f%s\n' 1 2 3 4 5)"
ctl "config?list_max=2"
eq "ls across pages of 2" "$("${G[@]}" ls "gs://$B/dir/")" "$(printf 'gs://bkt/dir/f%s\n' 1 2 3 4 5)"
ctl "reset"
line=$("${G[@]}" ls -l "gs://$B/five" | head -1)
check "ls -l has the size" grep -qE "^ +5242881  [0-9T:.-]+Z +[0-9]+  gs://bkt/five$" <<<"$line"
check "ls -l has a TOTAL" sh -c "'$BIN' ls -l gs://$B/ | tail -1 | grep -q '^TOTAL: 4 objects, '"
"${G[@]}" ls --json -r "gs://$B/tree/" >"$T/json"
eq "ls --json one object per line" "$(python3 -c '
import json, sys
names = [json.loads(l)["name"] for l in open(sys.argv[1])]
print(len(names), all(n.startswith("tree/") for n in names))' "$T/json")" "8 True"
check "ls --json names with UTF-8" grep -q '"tree/utf8-été-日"' "$T/json"
rc=0; "${G[@]}" ls "gs://nobucket" 2>"$T/err" || rc=$?
eq "ls of a missing bucket exits 1" "$rc" 1
rc=0; "${G[@]}" ls "/tmp" 2>"$T/err" || rc=$?
eq "ls of a local path is a usage error" "$rc" 2

# ---- cat keeps the width it measured between runs
# (~/.cache/gsread/plans, "gsread-plans 2": "ORIGIN WIDTH SECONDS"): the
# second run starts with it, measuring nothing. Connections capped, so
# that more of them pay; reads of 1 MiB and an 8 MiB window (blocks of
# 768 KiB at width 4), so that the measurement's steps (3 x width blocks
# each: 4, 6, 8) fit well within the object.
ctl "config?rate=30m"
plans=$T/home/.cache/gsread/plans
catp() { env -u GSREAD_PLANS_FILE -u GSREAD_CONCURRENCY HOME="$T/home" XDG_CACHE_HOME= \
  "${G[@]}" cat --copy --io-size 1M --max-prefetch 8M "$@"; }
rc=0; catp "gs://$B/big" >out/cat1 2>"$T/err" || rc=$?
eq "cat (capped) exit" "$rc" 0
check "cat (capped) bytes" cmp -s out/cat1 "$D/big"
check "cat wrote its width to ~/.cache/gsread/plans" grep -Eq "^$EP [0-9]+ [0-9]+$" "$plans"
eq "the plans file's version" "$(head -n 1 "$plans" 2>/dev/null)" "gsread-plans 2"
width=$(awk -v ep="$EP" '$1 == ep {print $2}' "$plans" 2>/dev/null)
rc=0; catp --debug "gs://$B/big" >out/cat2 2>"$T/err" || rc=$?
eq "cat with a remembered width exit" "$rc" 0
check "cat with a remembered width bytes" cmp -s out/cat2 "$D/big"
check "the next cat starts with the width" \
  grep -q "width ${width:-none} (chosen before for this server)" "$T/err"
check "the next cat measures nothing" test -z "$(grep "(trying)" "$T/err")"
rc=0; env -u GSREAD_CONCURRENCY HOME="$T/home2" XDG_CACHE_HOME= GSREAD_PLANS_FILE= \
  "${G[@]}" cat --debug "gs://$B/big" >out/cat3 2>"$T/err" || rc=$?
eq "GSREAD_PLANS_FILE= exit" "$rc" 0
check "GSREAD_PLANS_FILE=: measured" grep -q "width 4 (a start: chosen by measurement)" "$T/err"
check "GSREAD_PLANS_FILE=: nothing written" test ! -e "$T/home2"
rc=0; catp --debug --concurrency 3 "gs://$B/big" >out/cat4 2>"$T/err" || rc=$?
check "--concurrency is obeyed" grep -q "plan full, width 3," "$T/err"
check "--concurrency measures nothing" test "$(grep -c "chosen" "$T/err")" = 0
ctl "reset"

# ---- an object stored gzip-compressed (contentEncoding: gzip). Asked
# without Accept-Encoding: gzip, GCS (and this server) decompress it and
# ignore Range; gsread asks for the stored bytes, which its size and CRC32C
# describe.
mkdir -p "$D/gz"
seq 1 200000 >"$T/plain.txt"
gzip -c "$T/plain.txt" >"$D/gz/t.txt.gz"
ctl "config?gzip_names=gz/t.txt.gz"
eq "the server transcodes without Accept-Encoding: gzip" \
  "$(curl -s "$EP/download/storage/v1/b/$B/o/gz%2Ft.txt.gz?alt=media" | cmp - "$T/plain.txt" && echo same)" same
rc=0; "${G[@]}" stat "gs://$B/gz/t.txt.gz" >"$T/stat.out" 2>"$T/err" || rc=$?
eq "stat of a gzip-encoded object exit" "$rc" 0
check "stat says content_encoding gzip" grep -qE '^content_encoding: +gzip$' "$T/stat.out"
rc=0; "${G[@]}" cat "gs://$B/gz/t.txt.gz" >out/gz 2>"$T/err" || rc=$?
eq "cat of a gzip-encoded object exit" "$rc" 0
check "cat gives the stored (compressed) bytes" cmp -s out/gz "$D/gz/t.txt.gz"
rc=0; "${G[@]}" cat "gs://$B/gz/t.txt.gz" --offset 1000 --length 5000 >out/gzr 2>"$T/err" || rc=$?
eq "cat of a range of a gzip-encoded object exit" "$rc" 0
check "the range is of the stored bytes" cmp -s out/gzr <(tail -c +1001 "$D/gz/t.txt.gz" | head -c 5000)
rc=0; "${G[@]}" cp "gs://$B/gz/t.txt.gz" out/gzcp 2>"$T/err" || rc=$?
eq "cp of a gzip-encoded object exit" "$rc" 0
check "cp copies the stored bytes (CRC32C checked)" cmp -s out/gzcp "$D/gz/t.txt.gz"
ctl "reset"

tally
