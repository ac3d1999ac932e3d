#!/usr/bin/env bash
# `gsread cp` and `cp -r` interrupted: SIGINT, SIGTERM and SIGHUP at random
# points of a copy kept in flight by the server's rate knob end it with
# status 128+N, no temporary file left, and DEST untouched (an old DEST
# keeps its bytes; under -r only whole copies exist). After a kill -9, the
# next cp of the same DEST removes the temporary file its dead owner left;
# one whose owner lives (this shell), or of another DEST, stays.
#
# Usage: tests/cli/test_cp_signals.sh path/to/gsread
# The last line printed is "N passed, M failed"; exit status 0 only if
# nothing failed. GSR_SIGNAL_RUNS (default 4): runs per signal and mode.
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup cp-sig "$@"
RUNS=${GSR_SIGNAL_RUNS:-4}

temps() { find "$1" -name '.*.gsread-*' 2>/dev/null; }

B=bkt
D=$T/data/$B
mkdir -p "$D/tree/sub"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$D/big"
for n in a b sub/c; do head -c $((3 * 1024 * 1024)) /dev/urandom >"$D/tree/$n"; done
echo small >"$D/small"

start_server
export STORAGE_EMULATOR_HOST=$EP
# 2 MiB/s per request (nginx gives somewhat more): big (2 parts of 8 MiB)
# takes ~3 s, the tree's 3 objects ~1 s each, so every signal below (at
# most 0.9 s and 1.2 s in) lands before the copy is done.
curl -s -o /dev/null "$EP/_control/config?rate=2m"

# run_sig SIG DELAY DEST ARGS...: starts gsread cp ARGS DEST with SIG at its
# default action (a background job of a script ignores SIGINT), sends SIG
# after DELAY seconds, and sets rc (the exit status) and seen (a temporary
# file existed when the signal went).
# (The shell's own "Hangup" job notices go to /dev/null.)
run_sig() {
  local sig=$1 delay=$2 dest=$3; shift 3
  {
    env --default-signal="$sig" "$BIN" cp -q "$@" "$dest" 2>"$T/err" &
    local pid=$! i=0
    sleep "$delay"
    seen=$(temps out | head -1)
    kill -s "$sig" "$pid"
    # Bounded: a copy that ignores the signal is killed after 10 s and fails.
    while kill -0 "$pid" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid"
    rc=0; wait "$pid" || rc=$?
  } 2>/dev/null
}

declare -A num=([INT]=2 [HUP]=1 [TERM]=15)
mkdir out
echo old >"$T/old"
for sig in INT TERM HUP; do
  inflight=0 inflight_r=0
  for ((k = 0; k < RUNS; k++)); do
    # ---- cp over an existing DEST
    cp "$T/old" out/dest
    delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", r / 32768 * 0.9 }')
    run_sig "$sig" "$delay" out/dest "gs://$B/big"
    eq "cp, SIG$sig after ${delay}s: exit status" "$rc" $((128 + num[$sig]))
    eq "cp, SIG$sig after ${delay}s: temporary files left" "$(temps out)" ""
    check "cp, SIG$sig after ${delay}s: the old DEST is untouched" cmp -s out/dest "$T/old"
    [ -n "$seen" ] && inflight=$((inflight + 1))
    # ---- cp -r: only whole copies under DEST
    rm -rf out/tree
    delay=$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", r / 32768 * 1.2 }')
    run_sig "$sig" "$delay" out/tree -r "gs://$B/tree/"
    eq "cp -r, SIG$sig after ${delay}s: exit status" "$rc" $((128 + num[$sig]))
    eq "cp -r, SIG$sig after ${delay}s: temporary files left" "$(temps out)" ""
    ok=1
    for f in a b sub/c; do
      [ ! -e "out/tree/$f" ] || cmp -s "out/tree/$f" "$D/tree/$f" || ok=0
    done
    eq "cp -r, SIG$sig after ${delay}s: only whole copies" "$ok" 1
    [ -n "$seen" ] && inflight_r=$((inflight_r + 1))
  done
  # Else the runs above proved nothing about copies in flight.
  check "cp, SIG$sig: some signals came with a temporary file there" test "$inflight" -gt 0
  check "cp -r, SIG$sig: some signals came with a temporary file there" test "$inflight_r" -gt 0
done

# ---- the temporary file names its owner; after kill -9 it stays, and the
# next cp of the same DEST removes it.
rm -rf out && mkdir out
"$BIN" cp -q "gs://$B/big" out/dest 2>"$T/err" &
pid=$!
for ((i = 0; i < 100; i++)); do [ -n "$(temps out)" ] && break; sleep 0.05; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
left=$(temps out)
check "the temporary file is named .dest.gsread-PID-XXXXXX" \
  grep -qE "^out/\.dest\.gsread-$pid-[A-Za-z0-9]{6}$" <<<"$left"
sh -c 'exit 0' & dead=$!
wait "$dead"
: >"out/.dest.gsread-$dead-Zz0Zz0"   # dead owner: removed
: >"out/.dest.gsread-$$-Aa1Aa1"      # live owner (this shell): kept
: >"out/.other.gsread-$dead-Bb2Bb2"  # another DEST: kept
: >"out/.dest.gsread-x$dead-Cc3Cc3"  # not a pid: kept
curl -s -o /dev/null "$EP/_control/config?rate=0"
rc=0; "$BIN" cp -q "gs://$B/small" out/dest 2>"$T/err" || rc=$?
eq "cp after a kill -9: exit status" "$rc" 0
check "cp after a kill -9: copied" cmp -s out/dest "$D/small"
eq "cp after a kill -9: what is left" "$(temps out | LC_ALL=C sort)" \
  "$(printf '%s\n' "out/.dest.gsread-$$-Aa1Aa1" "out/.dest.gsread-x$dead-Cc3Cc3" \
     "out/.other.gsread-$dead-Bb2Bb2" | LC_ALL=C sort)"
# Into a directory: the stale file of the resolved name goes too.
: >"out/.small.gsread-$dead-Dd4Dd4"
rc=0; "$BIN" cp -q "gs://$B/small" out/ 2>"$T/err" || rc=$?
eq "cp into a directory: exit status" "$rc" 0
check "cp into a directory: the stale file of DIR/NAME is removed" \
  test ! -e "out/.small.gsread-$dead-Dd4Dd4"

# ---- a signal ignored on entry stays ignored (nohup)
curl -s -o /dev/null "$EP/_control/config?rate=4m"
(trap '' HUP; exec "$BIN" cp -q "gs://$B/big" out/hup 2>"$T/err") &
pid=$!
sleep 0.3
kill -HUP "$pid"
rc=0; wait "$pid" || rc=$?
eq "an ignored SIGHUP stays ignored: exit status" "$rc" 0
check "an ignored SIGHUP stays ignored: copied" cmp -s out/hup "$D/big"

tally
