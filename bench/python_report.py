#!/usr/bin/python3
"""bench/python_bench.sh's JSON lines -> its Markdown report: per cell the
medians of MB/s and CPU seconds per GiB, the ratios of each Python reader
to the C cell, and the targets for gsread through Python: MB/s at
least 0.9x the C cell at 1 MiB and above, 0.75x at 64 KiB, CPU per GiB at
most 1.2x. Then the Dask runs. Python standard library only.

  bench/python_report.py python_bench.jsonl
"""
import json
import statistics
import sys

from ceiling import FLAG, server_bound, want

MiB, GiB = 1 << 20, 1 << 30

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
meta = next((r for r in rows if r.get("tool") == "meta"), {})
ceilings = [r["mbps"] for r in rows if r.get("tool") == "curl"]
cells = {}
for r in rows:
    if "reader" in r and r.get("tool") != "dask":
        cells.setdefault(
            (r["pattern"], r["io_size"], r["reader"], r["loop"]), []
        ).append(r)


def mbps(r):
    return r["mbps"] if "mbps" in r else r["MBps"]


def cpu_per_gib(r):
    return r["cpu_seconds"] / (r["bytes"] / GiB) if r["bytes"] else float("nan")


def med(f, rs):
    return statistics.median(f(r) for r in rs)


def size(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n // 1024} KiB"


ceiling = statistics.median(ceilings) if ceilings else None
low = ceiling is None or server_bound(ceiling)
mark = f" † ({FLAG})" if low else ""
print(
    f"gcs profile, object {meta.get('object_size', 0) / GiB:g} GiB, medians of "
    f"{meta.get('reps')} round(s), cells bounded by {meta.get('max_seconds')} s or "
    f"one pass; {meta.get('cpus')} CPUs ({meta.get('cpu_model')}), load "
    f"{' '.join('%.2f' % x for x in meta.get('loadavg', []))} at the start; "
    f"{meta.get('gsread')}, Python {meta.get('python')}, fsspec {meta.get('fsspec')}.\n"
)
print(
    f"C cells and gsread files: mode {meta.get('mode')}, cache {meta.get('cache')}, "
    f"{meta.get('block_size')} blocks; fsspec HTTPFileSystem: readahead cache, 5 MiB blocks.\n"
)
if ceiling is None:
    print("Ceiling: not measured. **† every ratio is flagged.**\n")
else:
    print(
        f"Ceiling (4 parallel curl range streams): **{ceiling:.0f} MB/s** "
        f"(median of {len(ceilings)}); want >= 0.85 x 4 x 220 MiB/s = {want() or 0:.0f} MB/s: "
        + (
            "**BELOW: † the machine was busy or too small; the ratios are not conclusive.**"
            if low
            else "met."
        )
        + "\n"
    )

print(
    "| pattern | io | reader | loop | MB/s | CPU s/GiB | MB/s ÷ C | CPU ÷ C | target | met |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
names = {
    "c": "C (gsread bench)",
    "gsread": "Python, GsreadFileSystem",
    "http": "Python, fsspec HTTPFileSystem",
}
order = {"c": 0, "gsread": 1, "http": 2}
misses = 0
for key in sorted(cells, key=lambda k: (k[0] != "seq", k[1], order[k[2]], k[3])):
    pattern, io, reader, loop = key
    rs = cells[key]
    m, c = med(mbps, rs), med(cpu_per_gib, rs)
    base = cells.get((pattern, io, "c", "gsr_read"))
    ratio = cratio = target = met = ""
    if reader != "c" and base:
        bm, bc = med(mbps, base), med(cpu_per_gib, base)
        ratio = f"{m / bm:.2f}{mark}" if bm else "-"
        cratio = f"{c / bc:.2f}{mark}" if bc else "-"
        if reader == "gsread":
            want = 0.9 if io >= MiB else 0.75
            target = f">= {want}x, CPU <= 1.2x"
            ok = bm and bc and m >= want * bm and c <= 1.2 * bc
            met = "yes" if ok else "**NO**"
            misses += not ok
    print(
        f"| {pattern} | {size(io)} | {names[reader]} | {loop} | {m:.1f} | {c:.2f} | "
        f"{ratio} | {cratio} | {target} | {met} |"
    )

dask = [r for r in rows if r.get("tool") == "dask"]
csv = next((r for r in rows if r.get("tool") == "csv"), None)
if dask:
    runs = {}
    for r in dask:
        runs.setdefault(r["reader"], []).append(r)
    print(
        f"\nDask: dask.dataframe.read_csv, row count and sum of a column, "
        f"{csv['bytes'] / GiB:.2f} GiB of CSV in {csv['files']} files (seed {csv['seed']}), "
        f"LocalCluster of {dask[0]['workers']} worker processes x "
        f"{dask[0]['threads_per_worker']} thread, each filesystem's defaults; "
        f"dask {dask[0]['dask']}.\n"
    )
    print("| reader | seconds | MB/s | ÷ http |")
    print("|---|---|---|---|")
    base = med(mbps, runs["http"]) if "http" in runs else None
    for reader, label in (
        ("gsread", "gsread://csv/data/*.csv"),
        ("http", "http URLs, HTTPFileSystem"),
    ):
        if reader in runs:
            m = med(mbps, runs[reader])
            ratio = f"{m / base:.2f}{mark}" if base else "-"
            print(
                f"| {label} | {med(lambda r: r['seconds'], runs[reader]):.2f} | "
                f"{m:.1f} | {ratio} |"
            )
print(
    f"\ntargets for gsread through Python: {'all met' if not misses else f'{misses} cell(s) missed'}"
    + (" († the ceiling was low)" if low else "")
)
