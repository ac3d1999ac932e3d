#!/usr/bin/env python3
"""Turns bench/prefetch_targets.sh's JSON lines into the issue 4 table:
medians per cell, each checked against its target."""
import json
import statistics
import sys

from ceiling import flag

MiB = 1 << 20
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ceil = statistics.median(r["mbps"] for r in rows if r.get("cell") == "ceiling")
cells = {}
for r in rows:
    if r.get("cell") == "ceiling":
        continue
    cells.setdefault((r["pattern"], r["io_size"], r["mode"]), []).append(r)


def med(key, rs):
    return statistics.median(x[key] for x in rs)


def size(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n // 1024} KiB"


print(f"Ceiling (4 parallel curl range streams, same server, same run): "
      f"**{ceil:.0f} MB/s** (median of {sum(1 for r in rows if r.get('cell') == 'ceiling')})\n")
print("| pattern | io | mode | MB/s | target | met | fetched / delivered | peak RSS MiB (limit) | requests | stall s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (pat, io, mode), rs in sorted(cells.items(), key=lambda kv: (kv[0][0] != "seq", kv[0][1], kv[0][2])):
    mbps = med("mbps", rs)
    delivered = med("bytes", rs)
    fetched = med("bytes_fetched", rs)
    rss = med("peak_rss_mb", rs)
    limit = 128 + 2 * io / MiB
    if pat == "seq":
        target, ok = ">= 0.90 x ceiling", mbps >= 0.9 * ceil
        note = f"{mbps / ceil:.2f} x ceiling{flag(ceil)}"
    elif mode == "prefetch":
        base = med("mbps", cells[(pat, io, "default")])
        target = ">= 0.95 x default, fetched <= 1.05 x delivered"
        ok = mbps >= 0.95 * base and fetched <= 1.05 * delivered
        note = f"{mbps / base:.2f} x default"
    else:
        target, ok, note = "(baseline)", True, ""
    print(f"| {pat} | {size(io)} | {mode} | {mbps:.0f} ({note}) | {target} | "
          f"{'yes' if ok and rss <= limit else 'NO'} | {fetched / max(delivered, 1):.3f} | "
          f"{rss:.0f} ({limit:.0f}) | {med('requests', rs):.0f} | {med('stall_seconds', rs):.2f} |")
