# Sourced by the mount benchmarks: a temporary directory T with one random
# object gs://bkt/obj of MIB MiB, served by the local GCS stand-in (gcs
# profile, BENCH_WORKERS nginx workers, default 4), the mount point
# M=$T/mnt, and a clean-up at exit that leaves nothing mounted and the
# server stopped.
#   mount_setup TAG PATH/TO/gsread MIB
# sets BIN (the gsread binary, absolute), T, M, EP, SERVER; exports
# STORAGE_EMULATOR_HOST and an empty GSREAD_PLANS_FILE (every mount starts
# cold); defines sent (the bytes the server sent so far), and mount_gsread,
# mount_rclone (each mounts gs://bkt on M and sets MPID, the daemon),
# umount_it (unmounts M and waits for MPID to exit), daemon_use (the
# daemon's CPU seconds, minor faults and peak RSS in KiB so far) and secs
# (the seconds a command took; its output is not captured).
# SPDX-License-Identifier: MIT
mount_setup() {
  local tag=$1 mib=$3
  BIN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  SERVER=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../tests/server/gcs-server
  T=$(mktemp -d "/tmp/gsread-$tag.XXXXXX")
  M=$T/mnt
  trap mount_cleanup EXIT
  mkdir -p "$T/data/bkt" "$M"
  head -c $((mib * 1024 * 1024)) /dev/urandom >"$T/data/bkt/obj"
  EP=$("$SERVER" start --data "$T/data" --state "$T/state" --profile gcs \
    --workers "${BENCH_WORKERS:-4}")
  export STORAGE_EMULATOR_HOST=$EP GSREAD_PLANS_FILE=
}

mount_cleanup() {
  if mountpoint -q "$M"; then fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M"; fi
  "$SERVER" stop --state "$T/state" >/dev/null 2>&1 || true
  rm -rf "$T"
}

sent() {
  curl -s "$EP/_control/stats" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["body_bytes_sent"])'
}

mount_gsread() {
  "$BIN" mount "gs://bkt" "$M"
  MPID=$(pgrep -f "gsread mount gs://bkt $M" | tail -1)
}
mount_rclone() {
  rclone mount ":gcs,anonymous=true,endpoint='$EP/storage/v1/':bkt" "$M" \
    --read-only --daemon --log-file "$T/rclone.log" 2>/dev/null
  for _ in $(seq 100); do mountpoint -q "$M" && break; sleep 0.1; done
  MPID=$(pgrep -f "rclone mount .*$M" | tail -1)
}
umount_it() {
  fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M"
  for _ in $(seq 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
}

daemon_use() {
  local cpu flt
  read -r cpu flt < <(awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t, $10}' "/proc/$MPID/stat")
  echo "$cpu $flt $(awk '/VmHWM/ {print $2}' "/proc/$MPID/status")"
}
secs() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
