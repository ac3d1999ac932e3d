#!/usr/bin/env bash
# gsread mount: the kernel's readahead against the engine's (docs/mount.md).
# For each setting, a fresh mount of the local server (gcs profile), then:
# one sequential dd (bs=1M) of the object, and fio random reads (64 KiB and
# 1 MiB), each reporting MB/s and the bytes the server sent per byte asked.
# The kernel's readahead is the mount's bdi read_ahead_kb (root only);
# FUSE starts it at 128 KiB.
#
# Usage: bench/mount_readahead.sh path/to/gsread [SIZE_MIB]  (run as root)
# SPDX-License-Identifier: MIT
set -euo pipefail
MIB=${2:-512}
. "$(dirname "${BASH_SOURCE[0]}")/mount_setup.sh"
mount_setup mra "$1" "$MIB"

# run LABEL PREFETCH READ_AHEAD_KB
run() {
  local label=$1 pf=$2 ra=$3 s0 s1 t0 t1
  "$BIN" mount --prefetch "$pf" "gs://bkt" "$M"
  echo "$ra" >"/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb"
  curl -s -o /dev/null "$EP/_control/reset"
  s0=$(sent); t0=$(date +%s.%N)
  timeout 300 dd if="$M/obj" of=/dev/null bs=1M status=none
  t1=$(date +%s.%N); s1=$(sent)
  printf '%-28s seq  %7.1f MB/s  fetched/asked %.3f\n' "$label" \
    "$(echo "$MIB * 1.048576 / ($t1 - $t0)" | bc -l)" \
    "$(echo "($s1 - $s0) / ($MIB * 1048576)" | bc -l)"
  timeout 300 dd if="$M/obj" of=/dev/null bs=4k count=25000 status=none && echo "  dd bs=4k 100MB: ok"
  for bs in ${RAND_BS:-64k 1m}; do
    s0=$(sent)
    out=$(timeout 300 fio --name=r --filename="$M/obj" --rw=randread --bs=$bs \
      --io_size=32m --ioengine=psync --randrepeat=1 --output-format=json 2>/dev/null)
    s1=$(sent)
    echo "$out" | /usr/bin/python3 -c 'import json,sys
j=json.load(sys.stdin)["jobs"][0]["read"]
print("%-28s rand %-4s %7.1f MB/s  fetched/asked %.3f" % (sys.argv[1], sys.argv[2], j["bw_bytes"]/1e6, (int(sys.argv[4])-int(sys.argv[3]))/j["io_bytes"]))' \
      "$label" "$bs" "$s0" "$s1"
  done
  "$BIN" unmount "$M"
  sleep 1
}

s0=$(sent); t0=$(date +%s.%N)
"$BIN" cat gs://bkt/obj >/dev/null
t1=$(date +%s.%N)
printf '%-28s seq  %7.1f MB/s\n' "gsread cat (reference)" \
  "$(echo "$MIB * 1.048576 / ($t1 - $t0)" | bc -l)"
# $CONFIGS: PREFETCH:READ_AHEAD_KB words.
for c in ${CONFIGS:-adaptive:128 adaptive:1024 adaptive:4096 adaptive:16384 off:128 off:1024 off:16384}; do
  run "engine ${c%%:*}, kernel ${c##*:}K" "${c%%:*}" "${c##*:}"
done
