#!/usr/bin/env bash
# Many threads on one file descriptor through the mount (issue 25): 16
# threads of 4 KiB preads at random offsets of one object, sharing one
# descriptor, against the same 16 threads with a descriptor each, each
# cell on a fresh mount, gcs profile, 4 nginx workers, alternated ROUNDS
# times. Prints reads per second per cell, the medians and their ratio
# (target: one descriptor >= 0.9x sixteen). --prefetch off is a third
# cell (the mount without its engine).
# Usage: bench/mount_threads.sh path/to/gsread [ROUNDS] [SECONDS]   (3, 5; root, /dev/fuse)
# SPDX-License-Identifier: MIT
set -euo pipefail
ROUNDS=${2:-3}
SECS=${3:-5}
. "$(dirname "${BASH_SOURCE[0]}")/mount_setup.sh"
mount_setup mthreads "$1" 256
PY=/usr/bin/python3

# cell NAME FDS [mount options...]: reads/s of 16 threads over FDS descriptors.
cell() {
  local name=$1 fds=$2
  shift 2
  "$BIN" mount --log-file "$T/mount.log" "$@" gs://bkt "$M"
  local rate
  rate=$($PY - "$M/obj" "$fds" "$SECS" <<'PYEOF'
import os, random, sys, threading, time
path, fds, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
size = os.path.getsize(path)
descs = [os.open(path, os.O_RDONLY) for _ in range(fds)]
count = [0] * 16
stop = time.monotonic() + secs
def work(i):
    fd, rng = descs[i % fds], random.Random(i)
    while time.monotonic() < stop:
        off = rng.randrange(0, size - 4096) & ~4095
        assert len(os.pread(fd, 4096, off)) == 4096
        count[i] += 1
ts = [threading.Thread(target=work, args=(i,)) for i in range(16)]
t0 = time.monotonic()
for t in ts: t.start()
for t in ts: t.join()
print(round(sum(count) / (time.monotonic() - t0), 1))
PYEOF
)
  fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M"
  for _ in $(seq 50); do mountpoint -q "$M" || break; sleep 0.1; done
  echo "$name $rate"
}

for r in $(seq "$ROUNDS"); do
  cell one-fd 1
  cell sixteen-fds 16
  cell one-fd-prefetch-off 1 --prefetch off
done | tee "$T/out"
$PY - "$T/out" <<'PYEOF'
import statistics, sys
got = {}
for line in open(sys.argv[1]):
    name, rate = line.split()
    got.setdefault(name, []).append(float(rate))
med = {k: statistics.median(v) for k, v in got.items()}
for k, v in med.items():
    print(f"median {k}: {v:.1f} reads/s")
print(f"one fd / sixteen fds: {med['one-fd'] / med['sixteen-fds']:.2f} (target >= 0.9)")
PYEOF
