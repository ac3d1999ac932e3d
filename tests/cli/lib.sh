# Sourced by the CLI test scripts that talk to the local GCS server: their
# common set-up. Provides the tally (tally.sh), check and eq, and:
#   cli_setup NAME ARGS...  checks the one argument (path/to/gsread) and
#       sets BIN to it, SERVER to tests/server/gcs-server, T to a fresh
#       temporary directory (removed on exit, the server stopped first), and
#       cds there; clears the environment that points gsread elsewhere.
#   start_server [ARGS...]  starts the server on $T/data (profile unshaped
#       unless ARGS say otherwise), state in $T/state; sets EP. A server that
#       does not start is a failure, never a skip.
#   cli_start_zonal ROOT [ARGS...]  starts the zonal (gRPC) stand-in on
#       ROOT with zonal-server ARGS, sets ZPID and exports
#       STORAGE_GRPC_ENDPOINT; one that does not start is a failure.
#       ZONAL_SERVER, if set, is the stand-in to start (with the same
#       --port 0 --port-file --root): e.g. zonal-fast-server.
#   stop_zonal  stops it (if one was started); a trap of the zonal tests.
#   zonal_tree BYTES  the zonal tests' bucket B=zbkt in D=$T/root/zbkt:
#       obj (BYTES random bytes), dir/small (1000), empty.
#   ctl WHAT  asks the server's /_control/WHAT (config?..., reset).
# For the tests of gsread mount:
#   cli_mount_setup NAME ARGS...  cli_setup, then the mount point M=$T/mnt
#       (made) and a clean-up that leaves nothing mounted (stacked mounts
#       too) and no daemon ($MPID) behind; where FUSE (/dev/fuse,
#       fusermount3) is missing, a failure, never a skip.
#   mounted [DIR]  DIR (default $M) is a gsread mount now.
#   mnt_start ARGS...  gsread mount -f ARGS gs://$B $M in the background
#       (MPID; its log in $T/mount.log, copied to $T/err if it fails),
#       until mounted.
#   mnt_wait_exit SECONDS  the daemon ended within SECONDS; status in $mrc.
#   mnt_stop  gsread unmount $M, then the daemon's end (20 s at most).
#   readers_agree N WANT CMD...  runs CMD... I for I = 1..N, all at once,
#       each printing a digest; prints 1 if every one printed WANT, else 0.
# SPDX-License-Identifier: MIT
CLI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$CLI_LIB_DIR/tally.sh"

# check NAME COMMAND...: passes when COMMAND succeeds.
check() { local n=$1; shift; if "$@"; then pass; else fail "$n"; fi; }
# eq NAME GOT WANT
eq() { if [ "$2" == "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi; }

cli_cleanup() {
  "$SERVER" stop --state "$T/state" >/dev/null 2>&1
  rm -rf "$T"
}

cli_setup() {
  local name=$1
  shift
  if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 path/to/gsread" >&2
    exit 2
  fi
  BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  SERVER=$(cd "$CLI_LIB_DIR/../server" && pwd)/gcs-server
  unset STORAGE_EMULATOR_HOST GSREAD_ACCESS_TOKEN
  # cat keeps no plans between runs (nothing written to $HOME) unless a
  # test asks for it.
  export GSREAD_PLANS_FILE=
  T=$(mktemp -d "${TMPDIR:-/tmp}/gsread-$name.XXXXXX") || exit 2
  trap cli_cleanup EXIT
  cd "$T" || exit 2
}

start_server() {
  if ! EP=$("$SERVER" start --data "$T/data" --state "$T/state" --profile unshaped "$@" 2>"$T/err"); then
    fail "server start"
    tally
    exit 1
  fi
}

ctl() { curl -s -o /dev/null -m 5 "$EP/_control/$1"; }

cli_start_zonal() {
  local root=$1
  shift
  rm -f "$T/port"
  "${ZONAL_SERVER:-$CLI_LIB_DIR/../server/zonal-server}" --port 0 --port-file "$T/port" \
    --root "$root" "$@" >"$T/zonal.out" 2>&1 &
  ZPID=$!
  for _ in $(seq 100); do
    [ -s "$T/port" ] && break
    sleep 0.1
  done
  if [ ! -s "$T/port" ]; then
    fail "zonal server start: $(cat "$T/zonal.out")"
    tally
    exit 1
  fi
  export STORAGE_GRPC_ENDPOINT=http://127.0.0.1:$(cat "$T/port")
}

stop_zonal() { [ -n "${ZPID:-}" ] && kill "$ZPID" 2>/dev/null && wait "$ZPID" 2>/dev/null; }

zonal_tree() {
  B=zbkt
  D=$T/root/$B
  mkdir -p "$D/dir"
  head -c "$1" /dev/urandom >"$D/obj"
  head -c 1000 /dev/urandom >"$D/dir/small"
  : >"$D/empty"
}

mounted() { grep -qF " ${1:-$M} fuse.gsread " /proc/self/mounts; }

cli_mount_cleanup() {
  # Four rounds: a build that did not refuse a mount over a mount stacks
  # them.
  for _ in 1 2 3 4; do
    mounted || break
    timeout 10 "$BIN" unmount "$M" 2>/dev/null || umount -l "$M" 2>/dev/null ||
      fusermount3 -u -z "$M" 2>/dev/null
  done
  if [ -n "$MPID" ]; then kill -KILL "$MPID" 2>/dev/null; fi
  cli_cleanup
}

cli_mount_setup() {
  cli_setup "$@"
  M=$T/mnt
  MPID=
  trap cli_mount_cleanup EXIT
  mkdir "$M"
  if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    fail "FUSE is not available: /dev/fuse or fusermount3 (package fuse3) missing; gsread mount cannot be tested on this machine"
    tally
    exit 1
  fi
}

mnt_start() {
  timeout 600 "$BIN" mount -f "$@" "gs://$B" "$M" 2>"$T/mount.log" &
  MPID=$!
  for _ in $(seq 100); do
    mounted && return 0
    kill -0 "$MPID" 2>/dev/null || break
    sleep 0.1
  done
  cp "$T/mount.log" "$T/err"
  return 1
}

mnt_wait_exit() {
  mrc=timeout
  for _ in $(seq $(($1 * 10))); do
    if ! kill -0 "$MPID" 2>/dev/null; then
      wait "$MPID"
      mrc=$?
      MPID=
      return 0
    fi
    sleep 0.1
  done
  return 1
}

mnt_stop() {
  timeout 10 "$BIN" unmount "$M" >/dev/null 2>&1
  mnt_wait_exit 20
}

readers_agree() {
  local n=$1 want=$2 i ok=1 pids=()
  shift 2
  for i in $(seq "$n"); do
    ("$@" "$i" >"$T/reader$i") &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in $(seq "$n"); do [ "$(cat "$T/reader$i")" == "$want" ] || ok=0; done
  echo "$ok"
}
