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
