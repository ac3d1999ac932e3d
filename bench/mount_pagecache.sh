#!/usr/bin/env bash
# What the kernel's page cache costs a sequential reader of the mount:
# `dd bs=1M` of a SIZE MiB object (gcs profile) through a fresh mount with
# its defaults and through one with --direct-io (no page cache), against
# `gsread cat` of it, RUNS rounds in that order, each round printed (the
# first round on a VM that reclaims idle memory runs at half speed: read
# the later ones). The daemon's CPU seconds beside each dd.
# Usage: bench/mount_pagecache.sh path/to/gsread [RUNS] [SIZE_MIB]
# Figures: BENCHMARKS.md, docs/mount.md.
# SPDX-License-Identifier: MIT
set -euo pipefail
RUNS=${2:-3}
MIB=${3:-1024}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/mount_setup.sh"
mount_setup mpagecache "$1" "$MIB"
cat_obj() { timeout 600 "$BIN" cat gs://bkt/obj >/dev/null; }
dd_one() { # extra mount options...: "seconds daemon-CPU-seconds"
  local s c _
  "$BIN" mount "gs://bkt" "$M" "$@" 2>/dev/null
  MPID=$(pgrep -f "gsread mount gs://bkt $M" | tail -1)
  s=$(secs timeout 600 dd if="$M/obj" of=/dev/null bs=1M status=none)
  read -r c _ < <(daemon_use)
  umount_it
  sleep 0.5
  echo "$s $c"
}
for r in $(seq "$RUNS"); do
  c=$(secs cat_obj)
  read -r d dc < <(dd_one)
  read -r x xc < <(dd_one --direct-io)
  printf 'round %d: cat %.3f s; mount %.3f s (%.2fx cat, daemon %.2f CPU s); --direct-io %.3f s (%.2fx, daemon %.2f CPU s)\n' \
    "$r" "$c" "$d" "$(echo "$c / $d" | bc -l)" "$dc" "$x" "$(echo "$c / $x" | bc -l)" "$xc"
done
