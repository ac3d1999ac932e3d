#!/usr/bin/env bash
# `gsread cp` of 256 MiB under valgrind (--tool=none: one thread runs at a
# time there, so a thread that busy-waits starves the one it waits for).
# With 4 connections the copy must finish within 3x the time of one
# connection: a waiter that spun until the I/O thread finished a part made
# it 10x or more (minutes). Both copies are checked byte for byte.
#
# Usage: tests/cli/test_cp_valgrind.sh path/to/gsread
# The last line printed is "N passed, M failed".
#
# SPDX-License-Identifier: MIT
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cli_setup cp-vg "$@"

if ! command -v valgrind >/dev/null; then
  fail "valgrind is not installed (scripts/install-deps.sh)"
  tally
  exit 1
fi
mkdir -p "$T/data/bkt"
head -c $((256 * 1024 * 1024)) /dev/urandom >"$T/data/bkt/big"
start_server
export STORAGE_EMULATOR_HOST=$EP
curl -s -o /dev/null "$EP/download/storage/v1/b/bkt/o/big?alt=media" # warm the page cache

# copy N: sets ms to the copy's wall time in milliseconds, 0 if it failed
# (a 600 s cap).
copy() {
  local t0 t1
  ms=0
  rm -f "$T/out"
  t0=$(date +%s%N)
  if ! timeout 600 valgrind --tool=none -q "$BIN" cp gs://bkt/big "$T/out" \
      --concurrency "$1" >/dev/null 2>"$T/err"; then
    fail "cp --concurrency $1 under valgrind"
    return
  fi
  t1=$(date +%s%N)
  if cmp -s "$T/out" "$T/data/bkt/big"; then pass; else fail "cp --concurrency $1: bytes differ"; fi
  ms=$(((t1 - t0) / 1000000))
}

copy 1
one=$ms
copy 4
four=$ms
echo "valgrind cp 256 MiB: 1 connection ${one} ms, 4 connections ${four} ms"
if [ "$one" -gt 0 ] && [ "$four" -gt 0 ] && [ "$four" -le $((3 * one)) ]; then
  pass
else
  fail "4 connections took ${four} ms, more than 3x the ${one} ms of one"
fi
tally
