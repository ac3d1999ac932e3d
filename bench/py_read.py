#!/usr/bin/python3
"""Reads one object through Python and prints one JSON line: bytes,
seconds (the read loop only), MB/s, CPU seconds of this process.

  bench/py_read.py gsread URL [--io 1M] [--loop read|readinto|whole]
                              [--cache none]
                              [--prefetch sequential] [--concurrency N]
                              [--block-size 5M] [--pattern seq|rand]
                              [--max-bytes N] [--max-seconds S] [--seed S]
  bench/py_read.py http   URL ...   (fsspec's HTTPFileSystem)

gsread: URL is gsread://BUCKET/OBJECT (the endpoint from
$STORAGE_EMULATOR_HOST). http: the stand-in's plain /http/ URL. Options not
given are the filesystem's defaults.

Without bounds, seq reads the object once, front to back (scripts/demo.sh).
With --max-bytes or --max-seconds it reads like one process of `gsread
bench` (bench/python_bench.sh): seq reopens the file at the end and starts
again from 0; rand reads io-size reads at io-size-aligned offsets drawn by
the same generator as gsread bench's first process (same --seed, same
offsets); it stops at the first bound, checked between reads. The clock and
the CPU count cover the opens, reads and closes, not the interpreter's
start, the imports or making the client. Run it with Debian's
/usr/bin/python3 and PYTHONPATH=build/python (or from a venv with gsread
installed).
"""
import argparse
import json
import resource
import time

import fsspec

M64 = (1 << 64) - 1


def size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


class Offsets:
    """gsread bench's rand offsets (cli/bench/proc.c): splitmix64 seeded
    with the seed (process 0), uniform over the io-size slots without
    modulo bias."""

    def __init__(self, seed, slots):
        self.state = seed & M64
        self.slots = slots
        self.skip = ((M64 % slots) + 1) % slots  # 2^64 mod slots

    def _next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def next(self):
        while True:
            x = self._next()
            if not self.skip or x < (1 << 64) - self.skip:
                return x % self.slots


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["gsread", "http"])
    ap.add_argument("url")
    ap.add_argument("--io", type=size, default=1 << 20)
    ap.add_argument("--loop", choices=["read", "readinto", "whole"], default="read")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--prefetch", default=None)
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--block-size", type=size, default=None)
    ap.add_argument("--pattern", choices=["seq", "rand"], default="seq")
    ap.add_argument("--max-bytes", type=size, default=0)
    ap.add_argument("--max-seconds", type=float, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    bounded = bool(a.max_bytes or a.max_seconds)
    if a.pattern == "rand" and not bounded:
        ap.error("--pattern rand needs --max-bytes or --max-seconds")
    if a.kind == "gsread":
        import gsread

        fs = gsread.GsreadFileSystem()
        opts = {
            "cache_type": a.cache,
            "prefetch": a.prefetch,
            "concurrency": a.concurrency,
            "block_size": a.block_size,
        }
        fs.client  # made before the clock starts, like the HTTP session below
    else:
        fs = fsspec.filesystem("http")
        opts = {"cache_type": a.cache, "block_size": a.block_size}
    opts = {k: v for k, v in opts.items() if v is not None}
    obj_size = fs.size(a.url)
    buf = bytearray(a.io)
    total = reads = opens = 0
    offsets = Offsets(a.seed, -(-obj_size // a.io))
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds if a.max_seconds else None

    def more():
        return (not a.max_bytes or total < a.max_bytes) and (
            deadline is None or time.monotonic() < deadline
        )

    while more():
        with fs.open(a.url, "rb", **opts) as f:
            opens += 1
            while more():
                if a.pattern == "rand":
                    f.seek(offsets.next() * a.io)
                if a.loop == "whole":  # one f.read() of the rest
                    n = len(f.read())
                elif a.loop == "read":
                    n = len(f.read(a.io))
                else:
                    n = f.readinto(buf)
                if not n:
                    break  # seq: the end; reopen, as gsread bench does
                total += n
                reads += 1
        if not bounded:
            break
    secs = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(
        json.dumps(
            {
                "tool": a.kind,
                "bytes": total,
                "seconds": round(secs, 3),
                "MBps": round(total / 1e6 / secs, 1) if secs else 0,
                "cpu_seconds": round(cpu, 3),
                "loop": a.loop,
                "io": a.io,
                "pattern": a.pattern,
                "reads": reads,
                "opens": opens,
                "options": opts,
                "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
                "fsspec": fsspec.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
