#!/usr/bin/python3
"""Reads one object front to back through Python and prints one JSON line:
bytes, seconds (the read loop only), MB/s, CPU seconds of this process.

  bench/py_read.py gsread URL [--io 1M] [--loop read|readinto] [--cache none]
                              [--prefetch sequential] [--max-bytes N]
  bench/py_read.py http   URL ...   (fsspec's HTTPFileSystem, its defaults)

gsread: URL is gsread://BUCKET/OBJECT (the endpoint from
$STORAGE_EMULATOR_HOST). http: the stand-in's plain /http/ URL. Used by
scripts/demo.sh. Run it with Debian's /usr/bin/python3 and
PYTHONPATH=build/python (or from a venv with gsread installed).
"""
import argparse
import json
import resource
import time

import fsspec


def size(text):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["gsread", "http"])
    ap.add_argument("url")
    ap.add_argument("--io", type=size, default=1 << 20)
    ap.add_argument("--loop", choices=["read", "readinto"], default="read")
    ap.add_argument("--cache", default=None)
    ap.add_argument("--prefetch", default=None)
    ap.add_argument("--max-bytes", type=size, default=0)
    a = ap.parse_args()
    if a.kind == "gsread":
        import gsread
        fs = gsread.GsreadFileSystem()
        opts = {"cache_type": a.cache, "prefetch": a.prefetch}
        fs.client  # made before the clock starts, like the HTTP session below
    else:
        fs = fsspec.filesystem("http")
        opts = {"cache_type": a.cache} if a.cache else {}
    opts = {k: v for k, v in opts.items() if v is not None}
    buf = bytearray(a.io)
    total = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    with fs.open(a.url, "rb", **opts) as f:
        while not a.max_bytes or total < a.max_bytes:
            if a.loop == "read":
                n = len(f.read(a.io))
            else:
                n = f.readinto(buf)
            if not n:
                break
            total += n
    secs = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"tool": a.kind, "bytes": total, "seconds": round(secs, 3),
                      "MBps": round(total / 1e6 / secs, 1) if secs else 0,
                      "cpu_seconds": round(cpu, 3), "loop": a.loop, "io": a.io,
                      "fsspec": fsspec.__version__}))


if __name__ == "__main__":
    main()
