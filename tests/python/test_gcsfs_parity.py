"""gsread as a drop-in for gcsfs (issue #26): the same answers as gcsfs
(tests/python/gcsfs_answers.json, recorded from gcsfs 2026.8.0), gcsfs's
current defaults, the listing cache, writes handed to gcsfs, the request
count of a Dask graph build and of its tasks' opens, and a whole read held
once in memory."""
import datetime
import io
import json
import os
import pickle
import random
import time
from pathlib import Path

import fsspec
import pytest

import gsread
from conftest import BUCKET, run_python

HERE = Path(__file__).resolve().parent
ANSWERS = json.loads((HERE / "gcsfs_answers.json").read_text())
FAKE_GCSFS = str(HERE / "fake_gcsfs")
SMALL = f"{BUCKET}/small.bin"
BIG = f"{BUCKET}/big.bin"


def counts(server):
    return server.requests_by_kind()


def delta(server, before):
    return server.requests_by_kind(since=before)


# ---- answers -------------------------------------------------------------------
def test_ls_gives_names_by_default_and_gcsfs_entries(fs, server):
    names = fs.ls(f"{BUCKET}/list")
    assert ANSWERS["ls_default_detail"] is False
    assert all(isinstance(n, str) for n in names) and f"{BUCKET}/list/f00" in names
    det = {e["name"]: e for e in fs.ls(f"{BUCKET}/list", detail=True)}
    want = set(ANSWERS["object_entry_keys"]) - set(ANSWERS["gsread_leaves_out"])
    e = det[f"{BUCKET}/list/f03"]
    assert set(e) == want
    for k, t in ANSWERS["object_entry_types"].items():
        v = e[k]
        if t == "datetime":
            assert isinstance(v, datetime.datetime) and v.utcoffset() is not None
        else:
            assert type(v).__name__ == t, k
    meta = json.load(
        fsspec.open(f"{server.endpoint}/storage/v1/b/{BUCKET}/o/list%2Ff03").open()
    )
    for k in want - {"name", "size", "type", "mtime", "ctime"}:
        assert e[k] == meta[k], k
    assert e["mtime"] == datetime.datetime.fromisoformat(
        meta["updated"].replace("Z", "+00:00")
    )
    d = dict(ANSWERS["directory_entry"])
    assert det[d["name"]] == d


def test_file_info_is_the_listing_entry(fs, server):
    entry = {e["name"]: e for e in fs.ls(f"{BUCKET}/list", detail=True)}
    with fs.open(f"{BUCKET}/list/f04") as f:
        assert f.info() == entry[f"{BUCKET}/list/f04"]
    fresh = gsread.GsreadFileSystem(skip_instance_cache=True)
    assert fresh.info(f"{BUCKET}/list/f04") == entry[f"{BUCKET}/list/f04"]


def test_find_withdirs_includes_the_root(fs, server):
    assert ANSWERS["find_withdirs_includes_root"]
    got = fs.find(f"{BUCKET}/list", withdirs=True)
    assert got[0] == f"{BUCKET}/list" and f"{BUCKET}/list/sub/deep" in got
    assert f"{BUCKET}/list" not in fs.find(f"{BUCKET}/list")
    det = fs.find(f"{BUCKET}/list", withdirs=True, detail=True)
    assert det[f"{BUCKET}/list"]["type"] == "directory"


def test_cat_of_a_prefix_recursive(fs, server):
    out = fs.cat(f"{BUCKET}/list/sub", recursive=True)
    assert out == {f"{BUCKET}/list/sub/deep/z": b"z"}
    out = fs.cat(f"{BUCKET}/list", recursive=True)
    assert len(out) == 26 and out[f"{BUCKET}/list/f07"] == b"7"


@pytest.mark.parametrize("cache", ANSWERS["cache_types_opened"])
def test_every_fsspec_cache_type_opens(fs, server, cache):
    data = server.bytes("small.bin")
    with fs.open(SMALL, cache_type=cache) as f:
        f.seek(1000)
        assert f.read(5000) == data[1000:6000]
        assert f.cache.name in (
            "none",
            "readahead",
            "blockcache",
            "background",
            "first",
            "all",
            "bytes",
        )
        assert f.cache.blocksize == 5 * 2**20 and f.cache.size == len(data)


def test_parts_serves_the_parts_given(fs, server):
    data = server.bytes("small.bin")
    known = {(100, 200): b"K" * 100}  # not the object's bytes: proves the source
    with fs.open(SMALL, cache_type="parts", cache_options={"data": known}) as f:
        f.seek(120)
        assert f.read(30) == b"K" * 30 and f.tell() == 150
        f.seek(5000)
        assert f.read(10) == data[5000:5010]  # not known: from the object


def test_file_has_what_gcsfs_files_have(fs, server):
    with fs.open(f"{BUCKET}/lines.txt") as f:
        for a in ANSWERS["file_has"]:
            assert hasattr(f, a), a
        data = server.bytes("lines.txt")
        assert f.readuntil(b"\n") == b"first\n"
        f.seek(0)
        assert f.readuntil(b"line 5") == data[: data.index(b"line 5") + 6]
        assert f.tell() == data.index(b"line 5") + 6
        at = f.tell()
        assert f.readuntil(b"nothing like this", blocks=4096) == data[at:]
        assert f.cache.hit_count >= 0 and f.cache.total_requested_bytes > 0


@pytest.mark.parametrize(
    "args", [(-5,), (0, 10), (-5, 1), (-5, 2), (-1, 2), (3, 1), (10**9,)]
)
def test_seek_answers_as_io(fs, server, args):
    data = server.bytes("small.bin")
    ref = io.BytesIO(data)
    ref.seek(7)
    with fs.open(SMALL) as f:
        f.seek(7)
        try:
            want = ref.seek(*args)
        except Exception as e:
            with pytest.raises(type(e)) as got:
                f.seek(*args)
            assert str(got.value) == str(e)
        else:
            assert f.seek(*args) == want and f.tell() == want


# ---- defaults ----------------------------------------------------------------------
DEFAULTS_CHILD = r"""
import gsread, json, sys
kw = json.loads(sys.argv[1])
fs = gsread.GsreadFileSystem()
with fs.open("bkt/big.bin", **kw) as f:
    while f.read(1 << 20):
        pass
    s = f.stats()
print(json.dumps({"prefetch": s["window"] > 0 or s["plan"] != "none"}))
"""


def prefetches(env, **kw):
    r = run_python(DEFAULTS_CHILD, json.dumps(kw), env=env)
    return json.loads(r.stdout)["prefetch"]


def test_gcsfs_defaults_environment(server):
    d = ANSWERS["defaults"]
    assert d["cache_type"] == "none" and d["prefetcher_with_no_cache_type"]
    for value, on in d["USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING"].items():
        env = (
            {} if value == "unset" else {"USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING": value}
        )
        assert prefetches(env) is on, value
        assert prefetches(env, cache_type="none") is False  # any cache: off


def test_gcsfs_prefetch_keyword(server):
    for value, on in ANSWERS["defaults"][
        "use_experimental_adaptive_prefetching"
    ].items():
        v = {"True": True, "False": False}.get(value, value)
        assert prefetches({}, use_experimental_adaptive_prefetching=v) is on, value
        # Under an explicit cache gcsfs ignores it: off.
        assert (
            prefetches(
                {}, cache_type="readahead", use_experimental_adaptive_prefetching=v
            )
            is False
        )


def test_concurrency_is_honoured_by_cat_ranges(server):
    # 12 MiB in one range: parts of >= 5 MiB, at most `concurrency` of them.
    for conc, parts in ((1, 1), (2, 2), (None, 2)):
        fs = gsread.GsreadFileSystem(concurrency=conc, skip_instance_cache=True)
        before = counts(server)
        out = fs.cat_ranges([BIG], [0], [None])
        assert out[0] == server.bytes("big.bin")
        assert delta(server, before)["media_requests"] == parts, conc


# ---- the listing cache -----------------------------------------------------------
def test_metadata_answers_from_a_listing(server):
    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    names = fs.ls(f"{BUCKET}/list")
    before = counts(server)
    for n in names:
        fs.info(n), fs.size(n), fs.exists(n), fs.isdir(n), fs.checksum(n)
        if fs.isfile(n):
            fs.ukey(n)
    assert not fs.exists(f"{BUCKET}/list/nope")
    assert fs.isdir(f"{BUCKET}/list/sub")
    assert delta(server, before)["requests"] == 0
    # An open from the listing reads the object there is now: the listed
    # generation is gone, so it reopens (test_open_from_a_stale_listing).
    listed = fs.info(f"{BUCKET}/list/f09")["generation"]
    server.replace("list/f09", b"nine, anew")
    with fs.open(f"{BUCKET}/list/f09") as f:
        assert f.read() == b"nine, anew"
        assert f.info()["generation"] != listed
    fs.invalidate_cache(f"{BUCKET}/list/f09")
    assert fs.info(f"{BUCKET}/list/f09")["size"] == len(b"nine, anew")
    server.replace("list/f09", b"9")


def test_listing_cache_expiry_invalidation_and_off(server):
    import time

    fs = gsread.GsreadFileSystem(listings_expiry_time=0.5, skip_instance_cache=True)
    fs.ls(f"{BUCKET}/list")
    before = counts(server)
    fs.size(f"{BUCKET}/list/f01")
    assert delta(server, before)["requests"] == 0
    time.sleep(0.6)
    fs.size(f"{BUCKET}/list/f01")  # expired: asked again
    assert delta(server, before)["metadata_requests"] == 1

    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    fs.ls(f"{BUCKET}/list")
    fs.invalidate_cache()
    before = counts(server)
    fs.size(f"{BUCKET}/list/f01")
    assert delta(server, before)["metadata_requests"] == 1

    fs = gsread.GsreadFileSystem(use_listings_cache=False, skip_instance_cache=True)
    fs.ls(f"{BUCKET}/list")
    before = counts(server)
    fs.size(f"{BUCKET}/list/f01")
    assert delta(server, before)["metadata_requests"] == 1

    fs = gsread.GsreadFileSystem(max_paths=1, skip_instance_cache=True)
    fs.ls(f"{BUCKET}/list")
    fs.ls(f"{BUCKET}/data")  # the one listing kept now
    before = counts(server)
    fs.size(f"{BUCKET}/data/0.csv")
    assert delta(server, before)["requests"] == 0
    fs.size(f"{BUCKET}/list/f01")
    assert delta(server, before)["metadata_requests"] == 1


def test_dask_graph_build_requests(server):
    import dask.dataframe as dd  # Debian's python3-dask (install-deps.sh)

    fs = fsspec.filesystem("gsread")  # the instance dd.read_csv gets too
    fs.invalidate_cache()
    before = counts(server)
    df = dd.read_csv(f"gsread://{BUCKET}/csv20/*.csv")
    d = delta(server, before)
    assert df.npartitions == 20
    # One listing of the one directory; no metadata request (the open that
    # reads the first object's head for the sample opens from the listing).
    assert d["list_requests"] <= 1
    assert d["metadata_requests"] == 0, d


def test_dask_tasks_open_from_one_listing(server):
    """A Dask worker's tasks: the filesystem arrives unpickled (no listing),
    and read_block_from_file reads each object (a seek to the end, a read
    there, the whole block). 20 objects of one directory: the first open
    asks the metadata, the second lists the directory once, and every
    other open costs no request: one media request per task."""
    from dask.bytes.core import read_block_from_file
    from fsspec.core import OpenFile

    fs = fsspec.filesystem("gsread")
    paths = sorted(fs.glob(f"{BUCKET}/csv20/*.csv"))
    sizes = [fs.size(p) for p in paths]
    tasks = pickle.dumps([OpenFile(fs, p) for p in paths])
    type(fs).clear_instance_cache()  # as in a worker process
    files = pickle.loads(tasks)
    assert files[0].fs is not fs and not files[0].fs.dircache
    before = counts(server)
    got = [read_block_from_file(f, 0, n, b"\n") for f, n in zip(files, sizes)]
    d = delta(server, before)
    assert got == [server.bytes(p.split("/", 1)[1]) for p in paths]
    assert d["metadata_requests"] == 1 and d["list_requests"] == 1, d
    assert d["media_requests"] == len(paths), d


def test_one_open_does_not_list(server):
    # pandas' read_csv of one object: one metadata request, no listing.
    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    before = counts(server)
    with fs.open(f"{BUCKET}/data/0.csv") as f:
        assert f.read(2) == b"id"
    d = delta(server, before)
    assert d["metadata_requests"] == 1 and d["list_requests"] == 0, d


def test_opens_from_threads_share_one_listing(server):
    # A Dask worker with several threads: concurrent first opens in one
    # directory, each answered right (those made while the listing is on
    # its way ask the server); then every open comes from that listing.
    from concurrent.futures import ThreadPoolExecutor

    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    names = [f"csv20/{i:02d}.csv" for i in range(20)]

    def read(n):
        with fs.open(f"{BUCKET}/{n}") as f:
            return f.read()

    for rnd in range(2):
        before = counts(server)
        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(read, names))
        d = delta(server, before)
        assert got == [server.bytes(n) for n in names]
        assert d["media_requests"] == len(names), d
        assert d["list_requests"] >= 1 if rnd == 0 else d["requests"] == len(names), d


def test_a_big_directory_is_not_listed_by_opens(server, monkeypatch):
    # More entries than one page (here 10): opens ask the metadata, and
    # the directory is tried once, not kept.
    monkeypatch.setattr(gsread.fs, "LISTED_OPEN_MAX", 10)
    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    before = counts(server)
    for i in range(4):
        with fs.open(f"{BUCKET}/list/f{i:02d}") as f:
            assert f.read() == b"%d" % i
    d = delta(server, before)
    assert d["list_requests"] == 1 and d["metadata_requests"] == 4, d
    assert f"{BUCKET}/list" not in fs.dircache


def test_open_from_a_stale_listing(server):
    """An open from a listing pins the listed generation; if that one is
    gone by the first read (nothing delivered yet), the file reopens and
    reads the object there is now. After a byte was read, a replacement is
    ObjectChanged as for any open; a deleted object is FileNotFoundError."""
    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    name = f"{BUCKET}/list/f03"
    try:
        server.replace("list/f03", b"old bytes")
        fs.ls(f"{BUCKET}/list")
        time.sleep(0.01)
        server.replace("list/f03", b"new, longer bytes")
        before = counts(server)
        with fs.open(name) as f:
            assert delta(server, before)["requests"] == 0  # from the listing
            assert f.read() == b"new, longer bytes"
            assert f.size == len(b"new, longer bytes")
        # The stale listing was dropped: the next answer is the server's.
        assert fs.size(name) == len(b"new, longer bytes")
        fs.ls(f"{BUCKET}/list")
        with fs.open(name) as f:
            assert f.read(3) == b"new"
            time.sleep(0.01)
            server.replace("list/f03", b"third")
            with pytest.raises(gsread.ObjectChanged):
                f.read(3)
        fs.ls(f"{BUCKET}/list", refresh=True)
        server.path("list/f03").unlink()
        with fs.open(name) as f:
            with pytest.raises(FileNotFoundError):
                f.read()
    finally:
        server.replace("list/f03", b"3")


def test_listed_open_checks_its_entry(server):
    c = gsread.GsreadFileSystem(skip_instance_cache=True).client
    url = f"gs://{SMALL}"
    with pytest.raises(TypeError):
        c.open(url, listed=[1])
    with pytest.raises(ValueError):
        c.open(url, listed={"size": 5})  # no generation
    with pytest.raises(ValueError):
        c.open(url, listed={"size": 5, "generation": 0})  # the library's check


# ---- writes -------------------------------------------------------------------------
def test_writes_without_gcsfs_say_how(fs, server):
    assert gsread.writes_backend() is None
    calls = [
        lambda: fs.open(f"{BUCKET}/w", "wb"),
        lambda: fs.pipe_file(f"{BUCKET}/w", b"x"),
        lambda: fs.put_file(__file__, f"{BUCKET}/w"),
        lambda: fs.rm(SMALL),
        lambda: fs.cp_file(SMALL, f"{BUCKET}/w"),
        lambda: fs.mv(SMALL, f"{BUCKET}/w"),
        lambda: fs.mkdir(f"{BUCKET}/newdir"),
    ]
    for call in calls:
        with pytest.raises(gsread.WritesNeedGcsfs) as e:
            call()
        assert isinstance(e.value, NotImplementedError)
        assert "gsread reads only" in str(e.value) and "pip install gcsfs" in str(
            e.value
        )
    assert "writes raise" in gsread.register_gs()


WRITES_CHILD = r"""
import fsspec, gsread, json, sys
import pandas as pd
print(gsread.register_gs())
fs = fsspec.filesystem("gs", token="anon", project="proj-1")
fs.ls("bkt/w")  if fs.exists("bkt/w") else None
pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv("gs://bkt/w/df.csv", index=False)
fs.pipe_file("bkt/w/piped", b"piped bytes")
fs.cp_file("bkt/w/piped", "bkt/w/copied")
fs.mv("bkt/w/copied", "bkt/w/moved")
fs.mkdir("bkt/w/sub")
with fs.open("bkt/w/opened", "wb") as f:
    f.write(b"opened")
out = {
    "csv": pd.read_csv("gs://bkt/w/df.csv").to_dict("list"),
    "ls": fs.ls("bkt/w"),
    "moved": fs.cat_file("bkt/w/moved").decode(),
    "opened": fs.cat_file("bkt/w/opened").decode(),
}
fs.rm("bkt/w/moved")
out["after_rm"] = fs.ls("bkt/w")
print(json.dumps(out))
"""


def test_writes_go_to_gcsfs_when_installed(server, tmp_path):
    log = tmp_path / "made.jsonl"
    env = {
        "PYTHONPATH": FAKE_GCSFS + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "FAKE_GCSFS_ROOT": str(server.data),
        "FAKE_GCSFS_LOG": str(log),
    }
    try:
        r = run_python(WRITES_CHILD, env=env)
    finally:
        import shutil

        shutil.rmtree(server.path("w"), ignore_errors=True)
    said, out = r.stdout.splitlines()[-2:]
    assert "writes go to gcsfs 0+fake" in said
    out = json.loads(out)
    assert out["csv"] == {"a": [1, 2], "b": ["x", "y"]}
    assert out["ls"] == ["bkt/w/df.csv", "bkt/w/moved", "bkt/w/opened", "bkt/w/piped"]
    assert out["moved"] == "piped bytes" and out["opened"] == "opened"
    assert out["after_rm"] == ["bkt/w/df.csv", "bkt/w/opened", "bkt/w/piped"]
    made = [json.loads(x) for x in log.read_text().splitlines()]
    # The gsread filesystem made with options hands them on; pandas' own
    # (no storage options) makes one with none.
    assert {"token": "anon", "project": "proj-1"} in made
    assert all(m in ({}, {"token": "anon", "project": "proj-1"}) for m in made)


# ---- a whole read held once (#24) --------------------------------------------------
RSS_CHILD = r"""
import gsread, json, resource, sys
kw = json.loads(sys.argv[1])
fs = gsread.GsreadFileSystem()
f = fs.open("bkt/rss256", **kw)
f.read(10); f.seek(0)  # the client, its thread and the cache made
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
data = f.read()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"len": len(data), "grew": peak - base, "sum": sum(data[::4096])}))
"""


def test_a_whole_read_is_held_once(server):
    size = 256 * 2**20
    path = server.path("rss256")
    rnd = random.Random(5)
    block = rnd.randbytes(2**20)
    with open(path, "wb") as f:
        for _ in range(256):
            f.write(block)
    try:
        want = sum(block[::4096]) * 256
        for kw in (
            {},
            {"cache_type": "readahead"},
            {"cache_type": "blockcache"},
            {"cache_type": "bytes"},
        ):
            r = run_python(RSS_CHILD, json.dumps(kw), timeout=300)
            out = json.loads(r.stdout)
            assert out["len"] == size and out["sum"] == want
            assert out["grew"] <= size + 64 * 2**20, (kw, out["grew"] / 2**20)
    finally:
        os.remove(path)
