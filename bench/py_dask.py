#!/usr/bin/python3
"""The Dask cells of bench/python_bench.sh.

  bench/py_dask.py make DIR --bytes N [--seed 1] [--file-bytes 128M]
      writes a CSV data set of about N bytes into DIR (part-000.csv, ...):
      fixed-width rows "id,a,b,x,name" of numbers and letters drawn from
      numpy's generator seeded with (seed, file index): the same arguments
      give the same bytes. Prints one JSON line (files, bytes, seconds).
  bench/py_dask.py run --gsread GLOB [--http URL...] [--gcsfs GLOB]
                       [--local GLOB] [--reps 3] [--workers 2]
      on one distributed.LocalCluster (WORKERS processes, 1 thread each),
      computes the row count and sum(a) of dask.dataframe.read_csv(GLOB)
      through gsread:// (its defaults), of read_csv(URLs) through fsspec's
      HTTPFileSystem (its defaults) and of read_csv(gs://GLOB) through
      gcsfs (its defaults, anonymous, at $STORAGE_EMULATOR_HOST; gcsfs must
      be importable by the workers too) and of read_csv(GLOB) of local
      files (--local: the floor, no reader's cost), alternating, REPS times each; one
      JSON line per run: wall seconds from read_csv to the result (the
      graph's listing and metadata included), bytes of CSV, MB/s. The
      results must all be equal.

Run with Debian's /usr/bin/python3, PYTHONPATH=build/python and
$STORAGE_EMULATOR_HOST set (the workers inherit both).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROW = 39  # bytes per row: "%010d,%06d,%04d,0.%06d,%6s\n"


def digits(values, width):
    """The decimal digits of non-negative ints, zero-padded, as uint8 ASCII
    columns (n x width): formatting with numpy, ~20x pandas' to_csv."""
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64)
    for k in range(width - 1, -1, -1):
        out[:, k] = v % 10 + 48
        v //= 10
    return out


def csv_bytes(rng, first_id, n):
    cols = [
        digits(np.arange(first_id, first_id + n), 10),
        digits(rng.integers(0, 1_000_000, n), 6),
        digits(rng.integers(0, 10_000, n), 4),
        np.frombuffer(b"0." * n, dtype=np.uint8).reshape(n, 2),
        digits(rng.integers(0, 1_000_000, n), 6),
        rng.integers(97, 123, (n, 6), dtype=np.uint8),
    ]
    comma = np.full((n, 1), ord(","), dtype=np.uint8)
    row = np.hstack(
        [
            cols[0],
            comma,
            cols[1],
            comma,
            cols[2],
            comma,
            cols[3],
            cols[4],
            comma,
            cols[5],
            np.full((n, 1), ord("\n"), dtype=np.uint8),
        ]
    )
    assert row.shape[1] == ROW
    return row.tobytes()


def make(a):
    t0 = time.monotonic()
    os.makedirs(a.dir, exist_ok=True)
    header = b"id,a,b,x,name\n"
    rows_total = max(1, a.bytes // ROW)
    rows_per_file = max(1, a.file_bytes // ROW)
    total = files = first = 0
    while first < rows_total:
        n = min(rows_per_file, rows_total - first)
        rng = np.random.default_rng([a.seed, files])
        path = os.path.join(a.dir, f"part-{files:03d}.csv")
        with open(path, "wb") as f:
            f.write(header)
            for i in range(0, n, 1 << 20):  # ~40 MB at a time
                f.write(csv_bytes(rng, first + i, min(1 << 20, n - i)))
        total += os.path.getsize(path)
        first += n
        files += 1
    print(
        json.dumps(
            {
                "tool": "csv",
                "files": files,
                "bytes": total,
                "rows": rows_total,
                "seed": a.seed,
                "seconds": round(time.monotonic() - t0, 3),
            }
        )
    )


def run(a):
    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster
    import fsspec
    import gsread

    fs = gsread.GsreadFileSystem()
    nbytes = sum(fs.size(p) for p in fs.glob(a.gsread))
    readers = {"gsread": lambda: dd.read_csv(a.gsread)}
    if a.http:
        readers["http"] = lambda: dd.read_csv(a.http)
    if a.local:
        readers["local"] = lambda: dd.read_csv(a.local)
    if a.gcsfs:
        opts = {"token": "anon", "endpoint_url": os.environ["STORAGE_EMULATOR_HOST"]}
        readers["gcsfs"] = lambda: dd.read_csv(a.gcsfs, storage_options=opts)

    def measure(df):
        return dask.compute(df.shape[0], df["a"].sum())

    with LocalCluster(
        n_workers=a.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as cluster, Client(cluster, timeout=60):
        # Both readers once on one partition, untimed: the workers import
        # gsread, aiohttp and the rest before the first measurement.
        for r in readers.values():
            r().partitions[0].head(1)
        results = {}
        for rep in range(a.reps):
            order = list(readers)
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for kind in order:
                t0 = time.monotonic()
                rows, total_a = measure(readers[kind]())
                secs = time.monotonic() - t0
                results.setdefault(kind, set()).add((int(rows), int(total_a)))
                print(
                    json.dumps(
                        {
                            "tool": "dask",
                            "reader": kind,
                            "rep": rep + 1,
                            "workers": a.workers,
                            "threads_per_worker": 1,
                            "bytes": nbytes,
                            "rows": int(rows),
                            "seconds": round(secs, 3),
                            "MBps": round(nbytes / 1e6 / secs, 1),
                            "dask": dask.__version__,
                            "fsspec": fsspec.__version__,
                        }
                    ),
                    flush=True,
                )
    if len({v for s in results.values() for v in s}) != 1:
        sys.exit(f"py_dask.py: the readers disagree: {results}")


def size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--bytes", type=size, required=True)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--file-bytes", type=size, default=128 << 20)
    r = sub.add_parser("run")
    r.add_argument("--gsread", required=True)
    r.add_argument("--http", nargs="+", default=[])
    r.add_argument("--gcsfs", default=None)
    r.add_argument("--local", default=None)
    r.add_argument("--reps", type=int, default=3)
    r.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    (make if a.cmd == "make" else run)(a)


if __name__ == "__main__":
    main()
