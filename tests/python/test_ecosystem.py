"""The libraries gsread is for, reading through it from the local GCS
stand-in: pandas, xarray/Zarr, h5py, Dask (bytes, and dataframes on a
distributed cluster of 2 worker processes)."""
import fsspec
import numpy as np
import pandas as pd
import pytest

import gsread  # noqa: F401  (registers gsread://)
from conftest import BUCKET


def test_pandas_read_csv(server):
    got = pd.read_csv(f"gsread://{BUCKET}/data/1.csv")
    want = pd.read_csv(server.path("data/1.csv"))
    pd.testing.assert_frame_equal(got, want)
    got = pd.read_csv(
        f"gsread://{BUCKET}/data/2.csv",
        storage_options={"cache_type": "blockcache", "block_size": 4096},
    )
    pd.testing.assert_frame_equal(got, pd.read_csv(server.path("data/2.csv")))


def test_xarray_open_zarr_over_get_mapper(server):
    import xarray as xr

    want = xr.open_zarr(str(server.path("store.zarr")))
    mapper = fsspec.get_mapper(f"gsread://{BUCKET}/store.zarr")
    got = xr.open_zarr(mapper)
    assert float(got["temp"].sum()) == float(want["temp"].sum())
    xr.testing.assert_identical(got.load(), want.load())
    # A chunk's bytes went through gsread: the mapper reads its keys.
    assert mapper[".zmetadata"] == server.bytes("store.zarr/.zmetadata")
    assert "temp/0.0" in mapper and "temp/9.9" not in mapper


def test_h5py_on_a_gsread_file(server):
    import h5py

    fs = fsspec.filesystem("gsread")
    with fs.open(f"{BUCKET}/test.h5", cache_type="blockcache", block_size=65536) as f:
        with h5py.File(f, "r") as h:
            assert h.attrs["title"] == "gsread"
            m = h["matrix"][50:60, 100:110]
            np.testing.assert_array_equal(
                m, np.arange(200 * 300, dtype="f8").reshape(200, 300)[50:60, 100:110]
            )
            np.testing.assert_array_equal(
                h["group/ints"][:], np.arange(1000, dtype="i4")
            )


def test_dask_read_bytes_with_a_delimiter(server):
    from dask.bytes import read_bytes
    import dask

    sample, blocks = read_bytes(
        f"gsread://{BUCKET}/records.txt",
        delimiter=b"\n",
        blocksize=100_000,
        sample=1000,
    )
    blocks = blocks[0]
    assert len(blocks) > 5
    parts = dask.compute(*blocks, scheduler="threads")
    want = server.bytes("records.txt")
    assert b"".join(parts) == want
    assert all(p.endswith(b"\n") for p in parts)
    assert sample == want[: len(sample)] and sample.endswith(b"\n")


def test_dask_dataframe_on_two_worker_processes(server):
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    want = pd.concat(
        [pd.read_csv(server.path(f"data/{i}.csv")) for i in range(4)], ignore_index=True
    )
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as cluster, Client(cluster, timeout=60) as client:
        df = dd.read_csv(f"gsread://{BUCKET}/data/*.csv", blocksize=20_000)
        assert df.npartitions > 4  # files split into byte ranges
        before = server.requests_by_kind()
        got = client.compute(df, sync=True).reset_index(drop=True)
        d = server.requests_by_kind(since=before)
        # Each worker's filesystem arrives with no listing: its first open
        # asks the metadata, its second lists the directory, and every
        # other task opens from that listing, with no request.
        assert d["metadata_requests"] <= 2 and d["list_requests"] <= 2, d
        assert d["media_requests"] >= df.npartitions, d
        # The work ran in both worker processes, each with its own client.
        pids = client.run(lambda: __import__("os").getpid())
        assert len(set(pids.values())) == 2
        used = client.run(lambda: len(__import__("gsread").fs._proc.clients))
        assert sorted(used.values()) != [0, 0]
    pd.testing.assert_frame_equal(got, want)
