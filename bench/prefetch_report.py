#!/usr/bin/env python3
"""Turns bench/prefetch_targets.sh's JSON lines into the sequential
engine's table: medians per cell, each checked against its target, and the
CPU seconds per GiB beside the base build's (if one ran)."""
import json
import statistics
import sys

from ceiling import flag

MiB = 1 << 20
GiB = 1 << 30
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


def ceiling(n):
    return statistics.median(r["mbps"] for r in rows if r.get("cell") == f"ceiling{n}")


c4, c8 = ceiling(4), ceiling(8)
cells = {}
for r in rows:
    if r.get("cell", "").startswith("ceiling"):
        continue
    mode = r.get("mode")
    if mode == "prefetch":
        mode = f"prefetch {r['prefetch']}"
    key = (
        ("cat", 0, "defaults")
        if r.get("cell") == "cat"
        else (r["pattern"], r["io_size"], mode)
    )
    cells.setdefault((r["build"],) + key, []).append(r)


def med(key, rs):
    return statistics.median(x[key] for x in rs)


def size(n):
    return "-" if n == 0 else f"{n // MiB} MiB" if n >= MiB else f"{n // 1024} KiB"


def cpu_per_gib(rs):
    return statistics.median(x["cpu_seconds"] / (x.get("bytes", GiB) / GiB) for x in rs)


n4 = sum(1 for r in rows if r.get("cell") == "ceiling4")
print(
    f"Ceilings (parallel curl range requests covering the object, same server, "
    f"same run, median of {n4}): 4 curls **{c4:.0f} MB/s**{flag(c4)}, "
    f"8 curls **{c8:.0f} MB/s**\n"
)
print(
    "| pattern | io | mode | MB/s | target | met | fetched / delivered | peak RSS MiB (limit) | CPU s/GiB (base) | requests |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
order = {"seq": 0, "cat": 1, "rand": 2}
print(
    "CPU s/GiB: user+sys of the client per GiB delivered; (base): the same "
    "cell with $GSREAD_BASE in the same run.\n"
)
for (build, pat, io, mode), rs in sorted(
    cells.items(), key=lambda kv: (order[kv[0][1]], kv[0][2], kv[0][3])
):
    if build != "new":
        continue
    mbps = med("mbps", rs)
    rss = med("peak_rss_mb", rs)
    base = cells.get(("base", pat, io, mode))
    cpu = f"{cpu_per_gib(rs):.2f}" + (f" ({cpu_per_gib(base):.2f})" if base else "")
    was = f", base {med('mbps', base):.0f}" if base else ""
    limit = 128 + 2 * io / MiB
    fetched = (
        f"{med('bytes_fetched', rs) / max(med('bytes', rs), 1):.3f}"
        if "bytes_fetched" in rs[0]
        else "-"
    )
    reqs = f"{med('requests', rs):.0f}" if "requests" in rs[0] else "-"
    if pat == "seq":
        target, ok = (
            ">= 0.95 x 4 curls, RSS <= 128 MiB + 2 x io",
            mbps >= 0.95 * c4 and rss <= limit,
        )
        note = f"{mbps / c4:.2f} x 4 curls{flag(c4)}{was}"
        lim = f"{limit:.0f}"
    elif pat == "cat":
        target, ok = ">= 0.95 x 4 curls", mbps >= 0.95 * c4
        note = f"{mbps / c4:.2f} x 4 curls{flag(c4)}, {mbps / c8:.2f} x 8 curls{was}"
        lim = "-"
    elif mode.startswith("prefetch"):
        dflt = med("mbps", cells[(build, pat, io, "default")])
        ratio = med("bytes_fetched", rs) / max(med("bytes", rs), 1)
        target = ">= 0.98 x default, fetched <= 1.02 x delivered"
        ok = mbps >= 0.98 * dflt and ratio <= 1.02
        note = f"{mbps / dflt:.2f} x default"
        lim = "-"
    else:
        target, ok, note, lim = "(baseline)", True, "", "-"
    print(
        f"| {pat} | {size(io)} | {mode} | {mbps:.0f} ({note}) | {target} | "
        f"{'yes' if ok else 'NO'} | {fetched} | {rss:.0f} ({lim}) | {cpu} | {reqs} |"
    )
