#!/usr/bin/env python3
"""The ceiling and the peers of gsread's benchmark matrix (bench/matrix.sh).

Each subcommand runs one measurement against the local GCS server and
prints ONE JSON line with the same keys as `gsread bench --json`, so
bench/report.py can read them side by side:

  ceiling --streams N   curl: N parallel range streams over the whole object
                        (N=1: one plain GET); what the server and this
                        machine can deliver at all
  aria2c                aria2c -x 4 -s 4 over the whole object, to a temp
                        file that is deleted afterwards
  fsspec                fsspec's HTTPFileSystem (Debian's python3-fsspec),
                        cache_type="readahead", 1 MiB sequential reads,
                        bounded like a gsread cell, reopened at EOF

Every tool runs as child processes measured with os.wait4(): wall time
from the first start to the last exit, peak RSS (the sum of the
processes' peaks, MiB) and user+system CPU seconds, as gsread bench does.
Requests and bytes fetched come from the server's request log (the lines
the run added), so they count what really went over the wire.

Python standard library only; the fsspec child runs under --python
(default: Debian's /usr/bin/python3, where python3-fsspec lives).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024

# The fsspec reader, run in its own interpreter so that its RSS and CPU
# are its own. It reads like a gsread seq cell: io-size reads from 0,
# reopening at EOF, until max_bytes or max_seconds. It times only its read
# loop (not the interpreter's start and imports) and prints JSON.
FSSPEC_CHILD = r"""
import json, sys, time
import fsspec
url, io, bs, max_bytes, max_seconds = (sys.argv[1], int(sys.argv[2]),
    int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
fs = fsspec.filesystem("http")
total = opens = 0
t0 = time.monotonic()
deadline = t0 + max_seconds
while total < max_bytes and time.monotonic() < deadline:
    with fs.open(url, "rb", block_size=bs, cache_type="readahead") as f:
        opens += 1
        while total < max_bytes and time.monotonic() < deadline:
            data = f.read(io)
            if not data:
                break
            total += len(data)
print(json.dumps({"bytes": total, "seconds": time.monotonic() - t0,
                  "opens": opens, "fsspec": fsspec.__version__}))
"""


class Run:
    """Processes started together and measured as one."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.procs = []  # (Popen, stdout file)

    def start(self, argv):
        out = tempfile.TemporaryFile()
        # stderr stays ours: a failing tool's message reaches the user.
        proc = subprocess.Popen(argv, stdout=out)
        self.procs.append((proc, out))

    def wait(self):
        """Reaps every process with wait4 (Popen.wait would drop the
        rusage). Returns (wall seconds, peak RSS bytes summed, CPU
        seconds summed, [(exit status, stdout text)])."""
        rss = cpu = 0.0
        results = []
        for proc, out in self.procs:
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            rss += ru.ru_maxrss * 1024  # Linux: KiB
            cpu += ru.ru_utime + ru.ru_stime
            out.seek(0)
            results.append((proc.returncode, out.read().decode()))
            out.close()
        return time.monotonic() - self.t0, rss, cpu, results


class LogWindow:
    """The lines the server's request log gains during a measurement."""

    def __init__(self, path):
        self.path = path
        self.start = os.path.getsize(path) if path else 0

    def totals(self):
        """(requests, body bytes sent) of the API requests since start."""
        if not self.path:
            return None, None
        time.sleep(0.2)  # the last request's line is written as it ends
        requests = sent = 0
        with open(self.path, "rb") as f:
            f.seek(self.start)
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                requests += 1
                sent += int(rec.get("body_bytes_sent", 0))
        return requests, sent


def record(tool, label, args, wall, rss, cpu, nbytes, log, **extra):
    """One result line with gsread bench's keys."""
    requests, fetched = log.totals()
    rec = {
        "tool": tool,
        "label": label,
        "url": args.url,
        "pattern": "seq",
        "io_size": None,
        "mode": "peer",
        "cache": None,
        "block_size": None,
        "concurrency": 1,
        "prefetch": None,
        "procs": 1,
        "bytes": nbytes,
        "seconds": round(wall, 6),
        "mbps": round(nbytes / wall / 1e6, 3) if wall > 0 else 0.0,
        "peak_rss_mb": round(rss / MIB, 3),
        "cpu_seconds": round(cpu, 6),
        "requests": requests,
        "bytes_fetched": fetched,
        "wasted_bytes": max(0, fetched - nbytes) if fetched is not None else None,
        "stall_seconds": None,
    }
    rec.update(extra)
    print(json.dumps(rec), flush=True)


def fail(msg):
    print(f"peers.py: {msg}", file=sys.stderr)
    sys.exit(1)


def split_ranges(size, n):
    """n contiguous byte ranges covering [0, size), as curl -r values."""
    step = -(-size // n)
    return [f"{a}-{min(a + step, size) - 1}" for a in range(0, size, step)]


def cmd_ceiling(args):
    log = LogWindow(args.log)
    run = Run()
    base = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"]
    if args.streams == 1:
        run.start(base + [args.url])
    else:
        for r in split_ranges(args.size, args.streams):
            run.start(base + ["-r", r, args.url])
    wall, rss, cpu, results = run.wait()
    if any(rc != 0 for rc, _ in results):
        fail(f"curl failed: {results}")
    nbytes = sum(int(out) for _, out in results)
    if nbytes != args.size:
        fail(f"curl read {nbytes} bytes, want {args.size}")
    label = (
        "curl, 1 stream"
        if args.streams == 1
        else f"curl, {args.streams} parallel range streams"
    )
    record(
        "curl",
        label,
        args,
        wall,
        rss,
        cpu,
        nbytes,
        log,
        concurrency=args.streams,
        streams=args.streams,
        procs=args.streams,
    )


def cmd_aria2c(args):
    log = LogWindow(args.log)
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        run = Run()
        run.start(
            [
                "aria2c",
                "-q",
                "-x",
                "4",
                "-s",
                "4",
                "--file-allocation=none",
                "--allow-overwrite=true",
                "--auto-file-renaming=false",
                "--check-certificate=false",
                "-d",
                d,
                "-o",
                "obj",
                args.url,
            ]
        )
        wall, rss, cpu, results = run.wait()
        path = os.path.join(d, "obj")
        nbytes = os.path.getsize(path) if os.path.exists(path) else 0
    if results[0][0] != 0:
        fail(f"aria2c failed with status {results[0][0]}")
    if nbytes != args.size:
        fail(f"aria2c wrote {nbytes} bytes, want {args.size}")
    record(
        "aria2c",
        "aria2c -x 4 -s 4",
        args,
        wall,
        rss,
        cpu,
        nbytes,
        log,
        concurrency=4,
        streams=4,
    )


def cmd_fsspec(args):
    log = LogWindow(args.log)
    run = Run()
    run.start(
        [
            args.python,
            "-c",
            FSSPEC_CHILD,
            args.url,
            str(args.io_size),
            str(args.block_size),
            str(args.max_bytes),
            str(args.max_seconds),
        ]
    )
    wall, rss, cpu, results = run.wait()
    rc, out = results[0]
    if rc != 0:
        fail(f"the fsspec reader failed with status {rc}")
    child = json.loads(out.strip().splitlines()[-1])
    # Timed like gsread's cells: the read loop, with opens, but not the
    # interpreter's start-up and imports (wall_seconds has those).
    record(
        "fsspec",
        "fsspec HTTPFileSystem, readahead",
        args,
        child["seconds"],
        rss,
        cpu,
        child["bytes"],
        log,
        io_size=args.io_size,
        cache="readahead",
        block_size=args.block_size,
        opens=child["opens"],
        wall_seconds=round(wall, 6),
        version=child["fsspec"],
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("ceiling", "aria2c", "fsspec"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True)
        s.add_argument("--size", type=int, required=True)
        s.add_argument("--log", help="the server's requests.log")
        if name == "ceiling":
            s.add_argument("--streams", type=int, default=1)
        if name == "aria2c":
            s.add_argument(
                "--tmp", default=None, help="where the download goes (then deleted)"
            )
        if name == "fsspec":
            s.add_argument(
                "--python",
                default="/usr/bin/python3"
                if os.path.exists("/usr/bin/python3")
                else sys.executable,
            )
            s.add_argument("--io-size", type=int, default=MIB)
            s.add_argument("--block-size", type=int, default=5 * MIB)
            s.add_argument("--max-bytes", type=int, default=1024 * MIB)
            s.add_argument("--max-seconds", type=float, default=10)
    args = p.parse_args()
    {"ceiling": cmd_ceiling, "aria2c": cmd_aria2c, "fsspec": cmd_fsspec}[args.cmd](args)


if __name__ == "__main__":
    main()
