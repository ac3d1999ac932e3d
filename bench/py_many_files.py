#!/usr/bin/python3
"""Ranges over many objects from Python, two ways, alternated ROUNDS times
in one process pair per cell (each cell a fresh filesystem, so no open file
or listing is reused): one fs.cat_ranges call over every (object, range),
and a ThreadPoolExecutor(THREADS) of fs.cat_file calls over the same
ranges, what a user writes without cat_ranges. The objects are
BUCKET/PREFIX0 .. BUCKET/PREFIX{N-1}; each gets PER ranges of SIZE bytes at
random (seeded) offsets. Prints one JSON line per cell and a last line with
the medians and their ratio (issue 25's target: cat_ranges <= 0.8x the
pool's time).

  bench/py_many_files.py BUCKET/PREFIX N PER SIZE [--rounds R] [--threads T]
"""
import argparse
import json
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import fsspec

from py_cat_ranges import size  # "1M" and the like, as the other cells read it


def ranges(fs, prefix, n, per, sz, seed):
    rng = random.Random(seed)
    paths, starts, ends = [], [], []
    for i in range(n):
        p = f"{prefix}{i}"
        total = fs.size(p)
        for _ in range(per):
            s = rng.randrange(0, total - sz)
            paths.append(p)
            starts.append(s)
            ends.append(s + sz)
    return paths, starts, ends


def one(mode, a, seed):
    # The sizes come from a filesystem of their own: the timed one starts
    # with nothing open and nothing listed.
    plan = ranges(
        fsspec.filesystem("gsread", skip_instance_cache=True),
        a.prefix,
        a.n,
        a.per,
        a.size,
        seed,
    )
    fs = fsspec.filesystem("gsread", skip_instance_cache=True)
    t0 = time.monotonic()
    if mode == "cat_ranges":
        out = fs.cat_ranges(*plan)
    else:
        with ThreadPoolExecutor(a.threads) as ex:
            out = list(ex.map(fs.cat_file, *plan))
    secs = time.monotonic() - t0
    got = sum(len(b) for b in out)
    assert got == len(plan[0]) * a.size, f"{got} bytes"
    return {
        "mode": mode,
        "seconds": round(secs, 3),
        "bytes": got,
        "mbps": round(got / 1e6 / secs, 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("n", type=int)
    ap.add_argument("per", type=int)
    ap.add_argument("size", type=size)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=16)
    a = ap.parse_args()
    secs = {"cat_ranges": [], "threads": []}
    for r in range(a.rounds):
        for mode in ("cat_ranges", "threads"):
            d = one(mode, a, seed=r)
            secs[mode].append(d["seconds"])
            print(json.dumps(d), flush=True)
    mc, mt = statistics.median(secs["cat_ranges"]), statistics.median(secs["threads"])
    print(
        json.dumps(
            {
                "cat_ranges_s": mc,
                "threads_s": mt,
                "ratio": round(mc / mt, 3),
                "target": 0.8,
            }
        )
    )


if __name__ == "__main__":
    main()
