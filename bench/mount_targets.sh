#!/usr/bin/env bash
# Issue 24's targets for `gsread mount`, one run, fresh mounts, each cell
# alternated with its peer RUNS times, medians:
#   - gcs profile: `dd bs=1M` of a SIZE MiB object through the mount
#     against `gsread cat` of it; the daemon's peak RSS against the
#     memory budget (256 MiB) + 32 MiB, its CPU s/GiB and minor faults/GiB;
#   - unshaped: the same dd against dd through a bindfs passthrough of the
#     same bytes on local disk (the FUSE cost here);
#   - 32 processes reading one 256 MiB file: bytes the server sent / size;
#   - 200 small files after a listing (ls): requests per file and the
#     time to read them all (cat), against rclone mount (gcs profile).
# Usage: bench/mount_targets.sh path/to/gsread [RUNS] [SIZE_MIB]
#        (root, /dev/fuse, bindfs, rclone)
# Figures: BENCHMARKS.md.
# SPDX-License-Identifier: MIT
set -euo pipefail
RUNS=${2:-3}
MIB=${3:-1024}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/mount_setup.sh"
mount_setup mtargets "$1" "$MIB"
PY=/usr/bin/python3
LOG=$T/state/requests.log
D=$T/data/bkt
head -c $((256 * 1024 * 1024)) /dev/urandom >"$D/share"
mkdir -p "$D/small" "$T/bmnt"
for i in $(seq -w 1 200); do head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$D/small/f$i"; done
ctl() { curl -sS --fail -o /dev/null "$EP/_control/$1"; }
GIB=$(echo "$MIB / 1024" | bc -l)
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

dd_mount() { timeout 600 dd if="$M/obj" of=/dev/null bs=1M status=none; }
cat_obj() { timeout 600 "$BIN" cat gs://bkt/obj >/dev/null; }

echo "## gcs profile, $MIB MiB: dd bs=1M through the mount against gsread cat"
cat_s=() dd_s=() dcpu=() dflt=() drss=()
for r in $(seq "$RUNS"); do
  cat_s+=("$(secs cat_obj)")
  mount_gsread
  dd_s+=("$(secs dd_mount)")
  read -r c f h < <(daemon_use)
  dcpu+=("$(echo "$c / $GIB" | bc -l)") dflt+=("$(echo "$f / $GIB" | bc -l)") drss+=("$((h / 1024))")
  umount_it
  sleep 0.5
done
c=$(med "${cat_s[@]}") d=$(med "${dd_s[@]}")
printf 'cat %.3f s (%.0f MB/s), dd through the mount %.3f s (%.0f MB/s): %.2fx (target >= 0.9x)\n' \
  "$c" "$(echo "$MIB * 1.048576 / $c" | bc -l)" "$d" "$(echo "$MIB * 1.048576 / $d" | bc -l)" "$(echo "$c / $d" | bc -l)"
printf 'daemon: %.2f CPU s/GiB, %.0f minor faults/GiB, peak RSS %d MiB (target <= 256 + 32)\n' \
  "$(med "${dcpu[@]}")" "$(med "${dflt[@]}")" "$(med "${drss[@]}")"

echo "## unshaped, $MIB MiB: dd through the mount against dd through bindfs of the local file"
ctl "config?ttfb_ms=0&rate=0"
cat "$D/obj" >/dev/null # the local bytes in the page cache, as a warm disk
bindfs -r "$D" "$T/bmnt"
b_s=() g_s=()
for r in $(seq "$RUNS"); do
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  cat "$D/obj" >/dev/null
  b_s+=("$(secs timeout 600 dd if="$T/bmnt/obj" of=/dev/null bs=1M status=none)")
  mount_gsread
  g_s+=("$(secs dd_mount)")
  umount_it
  sleep 0.5
done
fusermount3 -u "$T/bmnt"
b=$(med "${b_s[@]}") g=$(med "${g_s[@]}")
printf 'bindfs %.3f s (%.0f MB/s), gsread mount %.3f s (%.0f MB/s): %.2fx (target >= 0.8x)\n' \
  "$b" "$(echo "$MIB * 1.048576 / $b" | bc -l)" "$g" "$(echo "$MIB * 1.048576 / $g" | bc -l)" "$(echo "$b / $g" | bc -l)"
ctl reset

echo "## gcs profile: 32 processes reading one 256 MiB file through the mount"
x=()
for r in $(seq "$RUNS"); do
  mount_gsread
  s0=$(sent)
  for i in $(seq 32); do timeout 600 cat "$M/share" >/dev/null & done
  wait
  sleep 0.3
  x+=("$(echo "($(sent) - $s0) / (256 * 1048576)" | bc -l)")
  umount_it
  sleep 0.5
done
printf 'fetched / size: median %.3f, runs: %s (target <= 1.1)\n' "$(med "${x[@]}")" "$(printf '%.3f ' "${x[@]}")"

echo "## gcs profile: 200 small files after a listing, gsread mount against rclone mount"
small() {
  "mount_$1"
  ls "$M/small" >/dev/null
  sleep 0.3
  local from t
  from=$(wc -l <"$LOG")
  t=$(secs sh -c "cat '$M'/small/* >/dev/null")
  sleep 0.3
  echo "$t $(($(wc -l <"$LOG") - from))"
  umount_it
  sleep 0.5
}
gt=() gn=() rt=() rn=()
for r in $(seq "$RUNS"); do
  read -r t n < <(small gsread); gt+=("$t") gn+=("$n")
  read -r t n < <(small rclone); rt+=("$t") rn+=("$n")
done
printf 'gsread %.2f s, %s requests; rclone %.2f s, %s requests: gsread / rclone time %.2fx (target <= 1.0, <= 200 requests)\n' \
  "$(med "${gt[@]}")" "$(med "${gn[@]}")" "$(med "${rt[@]}")" "$(med "${rn[@]}")" "$(echo "$(med "${gt[@]}") / $(med "${rt[@]}")" | bc -l)"
