"""The ceiling's rule and verdict for the benchmarks, in one place.

bench_ceiling (bench/server.sh) measures N parallel curls and asks
want_mbps() what they must reach; it exports BENCH_CEILING_WANT_MBPS and
BENCH_SERVER_BOUND. A report appends flag(its ceiling's MB/s) to every
ratio it computes against a ceiling: flagged if the run's check failed, or
if the ceiling the ratio used is under the wanted figure.
SPDX-License-Identifier: MIT
"""
import os

FLAG = "FLAG: ceiling is server-bound"


def want_mbps(n, rate):
    """MB/s that n curls must reach: 0.85 x n x the per-connection rate
    (bytes/s); None without a rate (the unshaped profile)."""
    return 0.85 * n * rate / 1e6 if rate > 0 else None


def want():
    """The run's wanted MB/s, or None (no check, or it does not apply)."""
    w = os.environ.get("BENCH_CEILING_WANT_MBPS")
    return float(w) if w else None


def server_bound(ceiling_mbps=None):
    if os.environ.get("BENCH_SERVER_BOUND") == "1":
        return True
    w = want()
    return w is not None and ceiling_mbps is not None and ceiling_mbps < w


def flag(ceiling_mbps=None):
    """ " (FLAG: ...)" for a ratio against this ceiling, else ""."""
    return f" ({FLAG})" if server_bound(ceiling_mbps) else ""


if __name__ == "__main__":
    # bench_ceiling: N RATE MBPS... -> "median want bound" (want "-": none)
    import statistics
    import sys

    n, rate = int(sys.argv[1]), int(sys.argv[2])
    mbps = statistics.median(float(x) for x in sys.argv[3:])
    w = want_mbps(n, rate)
    print(f"{mbps:.1f} {f'{w:.1f}' if w else '-'} {int(w is not None and mbps < w)}")
