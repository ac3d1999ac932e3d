#!/usr/bin/env bash
# gsread mount against `gsread cat` and `rclone mount` (its GCS backend
# pointed at the same local server, anonymous), one run, gcs profile:
# fio sequential reads (1 MiB and 16 MiB blocks, 1 and 4 jobs) and random
# reads (64 KiB, 1 MiB) of one object, each cell on a fresh mount. Prints a
# Markdown table: MB/s, bytes the server sent per byte asked, and the peak
# RSS of the mount's process, after bench_ceiling 4's check that the
# server is not the bound (if it is, every figure is flagged).
# Figures: BENCHMARKS.md.
#
# Usage: bench/mount_bench.sh path/to/gsread [SIZE_MIB]   (root, /dev/fuse)
# SPDX-License-Identifier: MIT
set -euo pipefail
MIB=${2:-512}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$HERE/..
. "$HERE/mount_setup.sh"
mount_setup mbench "$1" "$MIB"
. "$HERE/server.sh" # BENCH_WORKERS, bench_ceiling
PY=/usr/bin/python3
MEDIA="$EP/download/storage/v1/b/bkt/o/obj?alt=media" BENCH_SIZE=$((MIB * 1024 * 1024)) bench_ceiling 4
FLAG=$($PY -c "import sys; sys.path.insert(0, '$HERE'); from ceiling import flag; print(flag())")
# Peak RSS (VmHWM, KiB) of the process serving $M.
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# cell TOOL NAME FIO-ARGS...: one fio run on a fresh mount.
cell() {
  local tool=$1 name=$2 s0 s1 out
  shift 2
  "mount_$tool"
  s0=$(sent)
  out=$(timeout 600 fio --name=m --filename="$M/obj" --ioengine=psync \
    --group_reporting --randrepeat=1 --output-format=json "$@" 2>/dev/null)
  s1=$(sent)
  echo "$out" | $PY -c 'import json,sys
j=json.load(sys.stdin)["jobs"][0]["read"]
tool,name,s0,s1,rss=sys.argv[1:6]
print("| %s | %s | %.1f%s | %.3f | %d |" % (tool, name, j["bw_bytes"]/1e6, sys.argv[6],
      (int(s1)-int(s0))/j["io_bytes"], int(rss)//1024))' \
    "$tool" "$name" "$s0" "$s1" "$(hwm "$MPID")" "$FLAG"
  umount_it
  sleep 1
}

echo "| tool | reads | MB/s | fetched / asked | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
for i in 1 2; do
  s0=$(sent); t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$T/cat.rss" "$BIN" cat gs://bkt/obj >/dev/null
  t1=$(date +%s.%N); s1=$(sent)
  printf '| gsread cat | whole object (run %d) | %.1f%s | %.3f | %d |\n' "$i" \
    "$(echo "$MIB * 1.048576 / ($t1 - $t0)" | bc -l)" "$FLAG" \
    "$(echo "($s1 - $s0) / ($MIB * 1048576)" | bc -l)" $(($(cat "$T/cat.rss") / 1024))
done
for tool in gsread rclone; do
  cell $tool "seq 1 MiB, 1 job" --rw=read --bs=1m
  cell $tool "seq 16 MiB, 1 job" --rw=read --bs=16m
  cell $tool "seq 1 MiB, 4 jobs" --rw=read --bs=1m --numjobs=4
  cell $tool "seq 16 MiB, 4 jobs" --rw=read --bs=16m --numjobs=4
  cell $tool "rand 64 KiB" --rw=randread --bs=64k --io_size=16m
  cell $tool "rand 1 MiB" --rw=randread --bs=1m --io_size=64m
done
