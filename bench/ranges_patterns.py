#!/usr/bin/python3
"""Two read patterns (Parquet-like, Zarr-like), as 'OFFSET LENGTH' lines (gsread cat
--ranges / bench --ranges), from a fixed seed.

  parquet SIZE   a 64 KiB footer at the end of the object, read first;
                 then 20 row groups of 10 column chunks, each 64 KiB to
                 8 MiB (uniform), in file order. A row group's chunks lie
                 back to back; the space the chunks leave free (columns
                 not read) is cut at random into the gaps before the row
                 groups. If the chunks would not fit in 90% of the object,
                 they are all scaled down to fit.
  zarr SIZE      2,000 chunks of 256 KiB to 1 MiB (uniform) at uniformly
                 random offsets (they may overlap, as the object is
                 smaller than their sum), in the order drawn; read in
                 batches of 100 (bench --batch 100).

Sizes are for a 1 GiB object and scale with SIZE / 1 GiB
(at least 4 KiB each); --quick also cuts the counts (4 row groups, 200
chunks), for a short run on a small object.

Usage: ranges_patterns.py {parquet|zarr} SIZE [--seed N] [--quick]
Python standard library only.
"""
import argparse
import random

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def scaled(n, size):
    return max(4 * KIB, n * size // GIB)


def parquet(size, rng, quick):
    footer = min(64 * KIB, size // 16)
    groups, columns = (4 if quick else 20), 10
    lo, hi = scaled(64 * KIB, size), scaled(8 * MIB, size)
    lens = [[rng.randint(lo, hi) for _ in range(columns)] for _ in range(groups)]
    room = size - footer
    total = sum(map(sum, lens))
    if total > 0.9 * room:
        lens = [[max(1, n * int(0.9 * room) // total) for n in g] for g in lens]
        total = sum(map(sum, lens))
    # The free space, cut at random into one gap before each row group.
    cuts = sorted(rng.randint(0, room - total) for _ in range(groups - 1))
    gaps = [b - a for a, b in zip([0] + cuts, cuts + [room - total])]
    out = [(size - footer, footer)]
    at = 0
    for gap, group in zip(gaps, lens):
        at += gap
        for n in group:
            out.append((at, n))
            at += n
    assert at <= room
    return out


def zarr(size, rng, quick):
    count = 200 if quick else 2000
    lo, hi = scaled(256 * KIB, size), scaled(1 * MIB, size)
    out = []
    for _ in range(count):
        n = rng.randint(lo, hi)
        out.append((rng.randint(0, size - n), n))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=("parquet", "zarr"))
    p.add_argument("size", type=int)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.size < 4 * MIB:
        p.error("SIZE must be at least 4 MiB")
    rng = random.Random(a.seed)
    ranges = (parquet if a.kind == "parquet" else zarr)(a.size, rng, a.quick)
    print(
        f"# {a.kind}, object {a.size} bytes, seed {a.seed}"
        f"{', quick' if a.quick else ''}: {len(ranges)} ranges, "
        f"{sum(n for _, n in ranges)} bytes"
    )
    for off, n in ranges:
        print(off, n)


if __name__ == "__main__":
    main()
