#!/usr/bin/env python3
"""Turns bench/matrix.sh's results.jsonl into markdown tables and charts.

    bench/report.py RESULTS.jsonl [--out DIR]

Writes DIR/results.md (default DIR: the directory of RESULTS.jsonl) and,
if gnuplot is installed, one chart per pattern and cache as DIR/NAME.png
and DIR/NAME.svg: MB/s against the read size for each mode, 1 process,
with the ceiling as a horizontal line.

Units: MB/s is 10^6 bytes per second; memory is the peak RSS summed over
the processes, in MiB; "per GB" is per 10^9 bytes read; waste is the share
of the fetched bytes that were never read.

Python standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

from ceiling import flag

MIB = 1024 * 1024
IO_SIZES = [
    (64 * 1024, "64 KiB"),
    (MIB, "1 MiB"),
    (16 * MIB, "16 MiB"),
    (100 * MIB, "100 MiB"),
]
MODES = [
    ("default", "Default"),
    ("concurrent", "Concur."),
    ("prefetch", "Prefetch+Concur."),
]
# One colour per mode in every chart, whichever modes it has.
MODE_COLOR = {"default": "#9400d3", "concurrent": "#009e73", "prefetch": "#0072b2"}
MODE_LEGEND = {
    "default": "default (concurrency 1)",
    "concurrent": "concurrent (concurrency N)",
    "prefetch": "prefetch (adaptive, concurrency N)",
}
CACHES = ["none", "readahead", "readahead_chunked"]
PATTERNS = [("seq", "sequential"), ("rand", "random")]

# Which gsread cell each peer is compared with: (pattern, io size, mode,
# cache, procs). curl's single stream against the one-connection mode;
# the parallel downloaders against prefetching with 4 connections; fsspec's
# readahead against gsread's readahead with the same 1 MiB reads.
PEER_MATCH = {
    ("curl", 1): ("seq", 16 * MIB, "default", "none", 1),
    ("curl", 4): ("seq", 16 * MIB, "prefetch", "none", 1),
    ("aria2c", 4): ("seq", 16 * MIB, "prefetch", "none", 1),
    ("fsspec", 1): ("seq", MIB, "default", "readahead", 1),
}

# gcsfs's published figures, from "GCSFS Adaptive Concurrent Prefetching:
# Architecture & Usage Guide" (docs/source/prefetcher.rst): MB/s for the
# Default / Concur. / Prefetch+Concur. columns, then memory in MB for the
# same. Measured on real GCS (c4-standard-192 VM, one 20 GiB object, 30 s
# per round); the harness computes MiB though the tables say MB.
# (cache, processes) -> [(pattern, io bytes, d, c, p, d_mem, c_mem, p_mem)]
PUBLISHED = {
    ("none", 1): [
        ("seq", 64 * 1024, 1.66, 1.69, 208.14, 150.07, 150.24, 244.43),
        ("seq", MIB, 23.69, 23.43, 658.71, 150.33, 150.49, 544.21),
        ("seq", 16 * MIB, 156.36, 219.48, 736.58, 174.31, 209.91, 622.55),
        ("seq", 100 * MIB, 205.48, 416.17, 507.18, 415.75, 520.14, 752.66),
        ("rand", 64 * 1024, 1.38, 1.31, 1.36, 151.05, 151.03, 151.0),
        ("rand", MIB, 18.01, 19.49, 18.84, 151.5, 151.23, 151.03),
        ("rand", 16 * MIB, 142.53, 164.97, 173.44, 175.44, 195.93, 192.45),
        ("rand", 100 * MIB, 201.72, 394.35, 399.8, 423.78, 534.98, 545.19),
    ],
    ("none", 48): [
        ("seq", 64 * 1024, 103.06, 100.12, 6427.04, 6395.91, 6566.95, 10260.48),
        ("seq", MIB, 1493.46, 1457.01, 14751.12, 6549.4, 6381.8, 19975.98),
        ("seq", 16 * MIB, 7321.71, 10604.33, 17088.18, 7596.4, 8600.75, 23418.01),
        ("seq", 100 * MIB, 8427.14, 13033.72, 15004.08, 14987.33, 18409.79, 23167.73),
        ("rand", 64 * 1024, 94.47, 91.7, 92.79, 6418.76, 6397.77, 6617.16),
        ("rand", MIB, 1233.89, 1248.04, 1269.04, 6358.52, 6438.66, 6525.85),
        ("rand", 16 * MIB, 6216.86, 9286.27, 9374.38, 7625.34, 8519.78, 8627.13),
        ("rand", 100 * MIB, 8932.1, 12550.82, 12968.84, 15041.77, 18421.29, 18508.52),
    ],
    ("readahead", 1): [
        ("seq", 64 * 1024, 78.16, 86.38, 523.89, 150.64, 150.61, 611.31),
        ("seq", MIB, 100.23, 109.25, 758.56, 150.46, 150.5, 578.07),
        ("seq", 16 * MIB, 139.03, 187.91, 586.25, 214.49, 227.27, 622.75),
        ("seq", 100 * MIB, 190.21, 337.83, 177.71, 600.24, 634.02, 799.69),
        ("rand", 64 * 1024, 0.91, 0.86, 0.93, 151.07, 151.23, 150.81),
        ("rand", MIB, 13.76, 15.27, 16.12, 150.89, 150.59, 151.14),
        ("rand", 16 * MIB, 115.72, 168.69, 166.08, 225.39, 244.38, 249.5),
        ("rand", 100 * MIB, 201.14, 353.14, 344.58, 532.25, 640.24, 646.37),
    ],
    ("readahead", 48): [
        ("seq", 64 * 1024, 3714.63, 4836.03, 13159.98, 6473.32, 6451.69, 23453.56),
        ("seq", MIB, 5181.51, 5938.07, 13595.9, 6558.29, 6464.87, 23465.71),
        ("seq", 16 * MIB, 6364.01, 8241.61, 8685.56, 9603.04, 10482.2, 26589.36),
        ("seq", 100 * MIB, 7933.12, 9073.42, 6559.75, 21102.71, 24100.92, 34867.5),
        ("rand", 64 * 1024, 49.31, 50.49, 55.03, 6470.39, 6403.98, 6513.27),
        ("rand", MIB, 753.51, 796.78, 891.93, 6379.23, 6519.89, 6293.09),
        ("rand", 16 * MIB, 5864.85, 7647.61, 7868.37, 10027.41, 11680.56, 11808.4),
        ("rand", 100 * MIB, 8276.16, 10171.59, 10172.54, 20621.17, 23598.05, 24086.18),
    ],
}


# ---- Loading -----------------------------------------------------------------


class Results:
    def __init__(self, path):
        self.meta = {}
        self.peers = []  # ceiling and peer records
        self.cells = {}  # (pattern, io, mode, cache, procs) -> record
        self.errors = []  # cells that failed
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    self.add(json.loads(line), path, n)

    def add(self, rec, path, n):
        tool = rec.get("tool")
        if tool == "meta":
            self.meta = rec
        elif tool == "gsread" and "error" in rec:
            self.errors.append(rec)
        elif tool == "gsread":
            key = (
                rec["pattern"],
                rec["io_size"],
                rec["mode"],
                rec["cache"],
                rec["procs"],
            )
            self.cells[key] = rec
        elif tool in ("curl", "aria2c", "fsspec"):
            self.peers.append(rec)
        else:
            print(f"{path}:{n}: unknown record, skipped", file=sys.stderr)

    def ceiling(self):
        """(MB/s, label) of the best curl run, or (None, None)."""
        curls = [p for p in self.peers if p["tool"] == "curl"]
        if not curls:
            return None, None
        best = max(curls, key=lambda p: p["mbps"])
        return best["mbps"], best["label"]

    def procs_values(self):
        return sorted({k[4] for k in self.cells})


# ---- Formatting --------------------------------------------------------------


def num(v, digits=1):
    """A number for a table; '–' for a missing one."""
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def per_gb(value, nbytes):
    if value is None or not nbytes:
        return None
    return value / (nbytes / 1e9)


def waste_pct(rec):
    fetched = rec.get("bytes_fetched")
    if not fetched or rec.get("wasted_bytes") is None:
        return None
    return 100.0 * rec["wasted_bytes"] / fetched


def mib_per_s(rec):
    return rec["bytes"] / rec["seconds"] / MIB if rec["seconds"] else None


def io_label(io):
    for size, label in IO_SIZES:
        if size == io:
            return label
    return f"{io} B"


def cell_label(key):
    pattern, io, mode, cache, procs = key
    return (
        f"{pattern} {io_label(io)}, {mode}, cache {cache}, "
        f"{procs} proc{'s' if procs > 1 else ''}"
    )


# The measures a row shows for one result line, a peer's or a cell's.
MEASURES = ["MB/s", "× ceiling", "Peak MiB", "CPU s/GB", "Requests/GB", "Waste %"]


def measures(rec, ceil):
    """The MEASURES columns of result line rec; ceil: the ceiling's MB/s."""
    return [
        num(rec["mbps"]),
        num(rec["mbps"] / ceil, 2) + flag(ceil) if ceil else "–",
        num(rec["peak_rss_mb"]),
        num(per_gb(rec["cpu_seconds"], rec["bytes"]), 2),
        num(per_gb(rec.get("requests"), rec["bytes"])),
        num(waste_pct(rec)),
    ]


def table(header, rows, align=None):
    """A markdown table; align: 'l'/'r' per column (default: text left,
    the rest right)."""
    align = align or ["l"] * 2 + ["r"] * (len(header) - 2)
    out = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


# ---- Sections ----------------------------------------------------------------


def md_run(res):
    m = res.meta
    ceil, label = res.ceiling()
    size = m.get("object_size")
    lines = [
        "# gsread benchmark results",
        "",
        "Measured by `bench/matrix.sh` against the local GCS stand-in "
        "server (`tests/server/gcs-server`), all in one run on one machine.",
        "",
        f"- Server profile: `{m.get('profile', '?')}`"
        + (
            " (38 ms to the first byte, 220 MiB/s per request)"
            if m.get("profile") == "gcs"
            else ""
        ),
        f"- Object: {size / MIB:,.0f} MiB of random bytes" if size else "- Object: ?",
        f"- Bounds per process: {m.get('max_bytes', '?')} or "
        f"{m.get('max_seconds', '?')} s, whichever comes first"
        + (" (**quick run**: a handful of cells)" if m.get("quick") else ""),
        f"- Machine: {m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}), "
        f"Linux {m.get('kernel', '?')}; {m.get('date', '?')}",
        f"- Tools: {m.get('gsread', '?')}; "
        f"{' '.join((m.get('curl') or '?').split()[:2])}; "
        f"{m.get('aria2c', '?')}; fsspec {m.get('fsspec', '?')}",
        f"- **Ceiling**: {num(ceil)} MB/s ({label}){flag(ceil)}"
        if ceil
        else "- Ceiling: not measured",
        "",
        "MB/s is 10^6 bytes/s. Memory is the peak RSS of each process, "
        "summed over the processes, in MiB. CPU and requests are per GB "
        "(10^9 bytes) read. Waste is the share of fetched bytes that were "
        'never read. "× ceiling" is MB/s over the ceiling.',
        "",
    ]
    if res.errors:
        lines += [f"**{len(res.errors)} cell(s) failed:**", ""]
        lines += [
            f"- {e['pattern']} {e['io']} {e['mode']} cache "
            f"{e['cache']} procs {e['procs']}: {e['error']}"
            for e in res.errors
        ]
        lines.append("")
    return "\n".join(lines) + "\n"


def md_peers(res):
    ceil, _ = res.ceiling()
    rows = []
    for p in res.peers:
        key = PEER_MATCH.get((p["tool"], p.get("streams", 1)))
        cell = res.cells.get(key) if key else None
        ratio = p["mbps"] / cell["mbps"] if cell and cell["mbps"] else None
        rows.append(
            [p["label"]]
            + measures(p, ceil)
            + [
                cell_label(key) if key else "–",
                num(cell["mbps"]) if cell else "–",
                num(ratio, 2),
            ]
        )
    header = (
        ["Tool"] + MEASURES + ["Matching gsread cell", "gsread MB/s", "Peer ÷ gsread"]
    )
    text = (
        "## Ceiling and peers\n\n"
        "The ceiling is the best of curl with one stream and with 4 "
        "parallel range streams over the whole object. Each peer is "
        "compared with the gsread cell that does the same work. "
        "fsspec's MB/s counts its read loop only (not Python's start-up), "
        "like gsread's cells; requests and waste come from the server's "
        "request log.\n\n"
    )
    return text + table(header, rows, ["l"] + ["r"] * 6 + ["l", "r", "r"])


def md_gcsfs_style(res, cache, procs):
    """The layout of gcsfs's published tables: MB/s and memory per mode."""
    rows = []
    for pattern, _ in PATTERNS:
        for io, label in IO_SIZES:
            recs = [res.cells.get((pattern, io, m, cache, procs)) for m, _ in MODES]
            if not any(recs):
                continue
            rows.append(
                [pattern, label]
                + [num(r["mbps"]) if r else "–" for r in recs]
                + [num(r["peak_rss_mb"]) if r else "–" for r in recs]
            )
    if not rows:
        return ""
    header = (
        ["Pattern", "IO size"]
        + [f"{t} (MB/s)" for _, t in MODES]
        + [f"{t} Mem (MiB)" for _, t in MODES]
    )
    return (
        f"### Cache `{cache}`, {procs} process"
        f"{'es' if procs > 1 else ''}\n\n" + table(header, rows) + "\n"
    )


def md_detail(res, cache, procs):
    ceil, _ = res.ceiling()
    rows = []
    for pattern, _ in PATTERNS:
        for io, label in IO_SIZES:
            for mode, _ in MODES:
                r = res.cells.get((pattern, io, mode, cache, procs))
                if not r:
                    continue
                rows.append(
                    [pattern, label, mode]
                    + measures(r, ceil)
                    + [
                        num(r["stall_seconds"], 2),
                        num(r["bytes"] / 1e6, 0),
                        num(r["seconds"], 2),
                    ]
                )
    if not rows:
        return ""
    header = (
        ["Pattern", "IO size", "Mode"] + MEASURES + ["Stall s", "MB read", "Seconds"]
    )
    return (
        f"### Cache `{cache}`, {procs} process"
        f"{'es' if procs > 1 else ''}: every measure\n\n"
        + table(header, rows, ["l", "l", "l"] + ["r"] * 9)
        + "\n"
    )


def md_published(res):
    """gcsfs's own figures next to ours, in its units (MiB/s)."""
    out = [
        "## gcsfs's published figures, quoted\n",
        "> **Measured on real GCS elsewhere, by gcsfs's authors; not "
        "comparable run-for-run.** Their figures come from a "
        "c4-standard-192 VM reading a 20 GiB object from a GCS bucket "
        "for 30 s per round; ours from the local stand-in server on this "
        "machine. Both columns are in MiB/s (gcsfs's harness computes "
        "MiB/s and labels it MB/s; ours are converted for this table). "
        "Their many-process runs used 48 processes, ours 8. Their "
        "\"ReadAhead\" is fsspec's readahead cache; ours is gsread's "
        "`readahead`.\n",
    ]
    for (cache, their_procs), rows in PUBLISHED.items():
        our_procs = 1 if their_procs == 1 else 8
        trows = []
        for pattern, io, *vals in rows:
            line = [pattern, io_label(io)]
            for i, (mode, _) in enumerate(MODES):
                r = res.cells.get((pattern, io, mode, cache, our_procs))
                line += [num(vals[i]), num(mib_per_s(r)) if r else "–"]
            trows.append(line)
        header = ["Pattern", "IO size"]
        for _, t in MODES:
            header += [f"gcsfs {t}", f"gsread {t}"]
        out.append(
            f"### Cache `{cache}`: gcsfs {their_procs} process"
            f"{'es' if their_procs > 1 else ''}, gsread {our_procs}\n"
        )
        out.append(table(header, trows))
    return "\n".join(out) + "\n"


# ---- Charts ------------------------------------------------------------------


def chart_data(res, pattern, cache):
    """Rows 'io default concurrent prefetch' (MB/s, NaN if missing) for
    1 process, and the modes that have at least one value."""
    rows, present = [], set()
    for io, _ in IO_SIZES:
        vals = []
        for mode, _ in MODES:
            r = res.cells.get((pattern, io, mode, cache, 1))
            vals.append(f"{r['mbps']:.3f}" if r else "NaN")
            if r:
                present.add(mode)
        rows.append(f"{io} " + " ".join(vals))
    return "\n".join(rows) + "\n", present


def gnuplot_script(name, title, present, ceil, ceil_label, terminal):
    xtics = ", ".join(f'"{label}" {io}' for io, label in IO_SIZES)
    # A mode without points would only draw a legend entry (and make
    # gnuplot warn): leave it out.
    plots = [
        f"'{name}.dat' using 1:{i + 2} with linespoints lw 2 pt 7 "
        f"lc rgb '{MODE_COLOR[mode]}' title '{MODE_LEGEND[mode]}'"
        for i, (mode, _) in enumerate(MODES)
        if mode in present
    ]
    if ceil:
        plots.append(
            f"{ceil} with lines dt 2 lw 2 lc rgb 'black' title "
            f"'ceiling: {ceil_label}, {ceil:.0f} MB/s'"
        )
    return "\n".join(
        [
            terminal,
            'set datafile missing "NaN"',
            "set logscale x 2",
            f"set xtics ({xtics})",
            "set xrange [40000:170000000]",
            "set yrange [0:*]",
            "set grid",
            "set key below",  # above the plot it would hide the ceiling line
            'set xlabel "read size (--io-size), log scale"',
            'set ylabel "MB/s (10^6 bytes/s)"',
            f'set title "{title}"',
            "plot " + ", \\\n     ".join(plots),
            "",
        ]
    )


def charts(res, out_dir):
    """Writes the charts; returns [(name, caption)] of those made."""
    if not shutil.which("gnuplot"):
        print("report.py: gnuplot not found: no charts", file=sys.stderr)
        return []
    ceil, ceil_label = res.ceiling()
    profile = res.meta.get("profile", "?")
    made = []
    # A chart left from an earlier, fuller run in the same directory would
    # look like part of this one.
    for pattern, _ in PATTERNS:
        for cache in CACHES:
            for ext in ("png", "svg"):
                stale = os.path.join(out_dir, f"{pattern}-{cache}.{ext}")
                if os.path.exists(stale):
                    os.remove(stale)
    for pattern, pname in PATTERNS:
        for cache in CACHES:
            data, present = chart_data(res, pattern, cache)
            if not present:
                continue
            name = f"{pattern}-{cache}"
            title = (
                f"gsread, {pname} reads, cache {cache}, 1 process "
                f"(server profile {profile})"
            )
            with open(os.path.join(out_dir, name + ".dat"), "w") as f:
                f.write(data)
            for ext, term in (
                (
                    "png",
                    "set terminal pngcairo size 900,560 noenhanced " "font 'sans,10'",
                ),
                (
                    "svg",
                    "set terminal svg size 900,560 dynamic "
                    "noenhanced font 'sans,10'",
                ),
            ):
                script = gnuplot_script(
                    name,
                    title,
                    present,
                    ceil,
                    ceil_label,
                    term + f"\nset output '{name}.{ext}'",
                )
                subprocess.run(
                    ["gnuplot"], input=script, text=True, cwd=out_dir, check=True
                )
            os.remove(os.path.join(out_dir, name + ".dat"))
            made.append((name, title))
    return made


def md_charts(made):
    if not made:
        return ""
    out = [
        "## Charts\n",
        "MB/s against the read size, one process; the dashed line is "
        "the ceiling. Each chart also exists as SVG.\n",
    ]
    out += [f"![{caption}]({name}.png)\n" for name, caption in made]
    return "\n".join(out) + "\n"


# ---- Main --------------------------------------------------------------------


def report(res, made):
    parts = [
        md_run(res),
        md_peers(res),
        "\n## gsread: MB/s and memory\n\n"
        "The layout of gcsfs's tables. Default = concurrency 1, no "
        "prefetch; Concur. = 4 connections per fetch; Prefetch+Concur. "
        "= adaptive prefetch with 4 connections.\n\n",
    ]
    for procs in res.procs_values():
        for cache in CACHES:
            parts.append(md_gcsfs_style(res, cache, procs))
    parts.append("## gsread: every measure\n\n")
    for procs in res.procs_values():
        for cache in CACHES:
            parts.append(md_detail(res, cache, procs))
    parts.append(md_charts(made))
    parts.append(md_published(res))
    return "".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", help="results.jsonl from bench/matrix.sh")
    p.add_argument("--out", help="output directory (default: the " "results file's)")
    args = p.parse_args()
    out_dir = args.out or os.path.dirname(os.path.abspath(args.results))
    os.makedirs(out_dir, exist_ok=True)
    res = Results(args.results)
    made = charts(res, out_dir)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(report(res, made))


if __name__ == "__main__":
    main()
