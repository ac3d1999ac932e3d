#!/usr/bin/python3
"""One fs.cat_ranges call through gsread:// with no options (the endpoint
from $STORAGE_EMULATOR_HOST): COUNT ranges of SIZE bytes at random offsets
(seeded) of BUCKET/OBJECT. Prints one JSON line: bytes, seconds (the call
only), mbps, cpu_seconds (this process, all threads), peak_rss_mb.

  bench/py_cat_ranges.py BUCKET/OBJECT COUNT SIZE [--seed S]
"""
import argparse
import json
import random
import resource
import time

import fsspec


def size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("count", type=int)
    ap.add_argument("size", type=size)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    fs = fsspec.filesystem("gsread", skip_instance_cache=True)
    total = fs.size(a.path)
    rng = random.Random(a.seed)
    starts = [rng.randrange(0, total - a.size) for _ in range(a.count)]
    ends = [s + a.size for s in starts]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    out = fs.cat_ranges([a.path] * a.count, starts, ends)
    secs = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    got = sum(len(b) for b in out)
    assert got == a.count * a.size, f"{got} bytes of {a.count * a.size}"
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(
        json.dumps(
            {
                "bytes": got,
                "seconds": round(secs, 3),
                "mbps": round(got / 1e6 / secs, 1),
                "cpu_seconds": round(cpu, 3),
                "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
