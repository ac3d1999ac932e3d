"""Fixtures of gsread's Python tests: the local GCS stand-in (tests/server),
started once for the session on a data directory made here, and stopped at
the end. A server that cannot start fails the tests; nothing is skipped.

Run: PYTHONPATH=BUILD/python /usr/bin/python3 -m pytest tests/python
(ctest -L python does this; scripts/test.sh runs it after the release run).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SERVER = HERE.parent / "server" / "gcs-server"
BUCKET = "bkt"
ODD_NAMES = [
    "odd/a b",
    "odd/h#sh",
    "odd/q?1",
    "odd/p%41",
    "odd/plus+",
    "odd/utf8-été-日",
    "odd/semi;colon",
    "odd/tilde~x",
]


class Server:
    def __init__(self, root):
        self.root = root
        self.data = root / "data"
        self.state = root / "state"
        self.bucket = self.data / BUCKET
        self.endpoint = None

    def path(self, name):
        return self.bucket / name

    def bytes(self, name):
        return self.path(name).read_bytes()

    def control(self, what):
        """GET /_control/WHAT (e.g. 'config?fault_next=1'); the JSON."""
        with urllib.request.urlopen(
            f"{self.endpoint}/_control/{what}", timeout=30
        ) as r:
            return json.loads(r.read())

    def requests(self):
        return self.control("stats")["requests"]

    def requests_by_kind(self, since=None):
        """The stand-in's request counters (all, listing, metadata, media);
        given an earlier answer, the requests made since."""
        s = self.control("stats")
        keys = ("requests", "list_requests", "metadata_requests", "media_requests")
        return {k: s[k] - (since[k] if since else 0) for k in keys}

    def replace(self, name, data):
        """Replaces an object as GCS would: a new generation."""
        tmp = self.path(name).with_name(".tmp-replace")
        tmp.write_bytes(data)
        os.replace(tmp, self.path(name))


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _make_data(b):
    rnd = random.Random(17)
    _write(b / "small.bin", rnd.randbytes(1024 * 1024 + 123))
    _write(b / "big.bin", rnd.randbytes(12 * 1024 * 1024 + 7))
    _write(b / "empty", b"")
    for n in ODD_NAMES:
        _write(b / n, n.encode() + rnd.randbytes(rnd.randrange(1, 3000)))
    lines = [b"first", b"", b"x" * 20000, b"\xc3\xa9t\xc3\xa9 line"]
    lines += [b"line %d" % i for i in range(1000)]
    _write(b / "lines.txt", b"\n".join(lines) + b"\nno newline at the end")
    for i in range(25):
        _write(b / "list" / ("f%02d" % i), b"%d" % i)
    _write(b / "list" / "sub" / "deep" / "z", b"z")
    # CSV files for pandas and Dask: 4 files of 3000 rows.
    for i in range(4):
        rows = ["id,value,name"]
        rows += [
            "%d,%.3f,n%d" % (i * 3000 + j, rnd.random() * 1000, j % 17)
            for j in range(3000)
        ]
        _write(b / "data" / ("%d.csv" % i), ("\n".join(rows) + "\n").encode())
    # 20 small CSV files in one directory: Dask's graph build over a glob.
    for i in range(20):
        _write(b / "csv20" / ("%02d.csv" % i), b"a,b\n%d,%d\n" % (i, i * i))
    # Records for dask.bytes.read_bytes with a delimiter.
    recs = b"".join(
        b"record-%06d:%s\n" % (i, b"r" * rnd.randrange(0, 200)) for i in range(20000)
    )
    _write(b / "records.txt", recs)
    # A Zarr store (xarray) and an HDF5 file, written by the real libraries.
    import numpy as np
    import xarray as xr

    ds = xr.Dataset(
        {
            "temp": (("t", "x"), np.arange(40 * 30, dtype="f4").reshape(40, 30)),
            "flag": (("t",), np.arange(40) % 3 == 0),
        },
        coords={"t": np.arange(40), "x": np.linspace(0, 1, 30)},
    )
    ds.to_zarr(str(b / "store.zarr"), encoding={"temp": {"chunks": (10, 15)}})
    import h5py

    with h5py.File(b / "test.h5", "w") as h:
        h["matrix"] = np.arange(200 * 300, dtype="f8").reshape(200, 300)
        h["group/ints"] = np.arange(1000, dtype="i4")
        h.attrs["title"] = "gsread"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcs")
    srv = Server(root)
    _make_data(srv.bucket)
    r = subprocess.run(
        [
            str(SERVER),
            "start",
            "--data",
            str(srv.data),
            "--state",
            str(srv.state),
            "--profile",
            "unshaped",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        pytest.fail(f"gcs-server start failed: {r.stderr}")
    srv.endpoint = r.stdout.strip()
    # Every client of this process and its children (Dask workers, the
    # subprocesses of the pickling tests) talks to the stand-in.
    os.environ["STORAGE_EMULATOR_HOST"] = srv.endpoint
    os.environ["GSREAD_PLANS_FILE"] = ""  # nothing written to $HOME
    for v in (
        "GSREAD_ACCESS_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GSREAD_PREFETCH",
        "USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING",
        "GSREAD_CONCURRENCY",
        "DEFAULT_GCSFS_CONCURRENCY",
        "CLOUDSDK_CONFIG",
        "GCE_METADATA_HOST",
    ):
        os.environ.pop(v, None)
    os.environ["HOME"] = str(root)  # no gcloud credentials of the user's
    try:
        yield srv
    finally:
        subprocess.run(
            [str(SERVER), "stop", "--state", str(srv.state)],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _reset_knobs(request):
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").control("reset")


@pytest.fixture
def fs(server):
    import gsread

    return gsread.GsreadFileSystem(skip_instance_cache=True)


def run_python(code, *args, env=None, timeout=120):
    """Runs code in a fresh /usr/bin/python3 (same PYTHONPATH and
    environment); returns the CompletedProcess, failing the test on a
    non-zero exit."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=e,
    )
    assert r.returncode == 0, f"child failed ({r.returncode}):\n{r.stderr}"
    return r
