"""gsread's fsspec filesystem against the local GCS stand-in: bytes, seeks,
EOF, readinto, ranges, odd names, listing, errors, options, environment,
pickling and processes, threads."""
import base64
import errno
import hashlib
import io
import json
import multiprocessing
import os
import pickle
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import fsspec
import numpy as np
import pytest

import gsread
from gsread import _gsread
from gsread.fs import CACHE_TYPES
from conftest import BUCKET, ODD_NAMES, run_python

SMALL = f"{BUCKET}/small.bin"
BIG = f"{BUCKET}/big.bin"


# ---- the package -------------------------------------------------------------
def test_registered_at_import_and_by_entry_point(server):
    assert isinstance(fsspec.filesystem("gsread"), gsread.GsreadFileSystem)
    from importlib.metadata import entry_points

    eps = [e for e in entry_points(group="fsspec.specs") if e.name == "gsread"]
    assert [e.value for e in eps] == ["gsread.fs:GsreadFileSystem"]
    # fsspec finds it through the entry point alone, before any import.
    r = run_python(
        "import fsspec, sys\n"
        "assert 'gsread' not in sys.modules\n"
        "fs = fsspec.filesystem('gsread')\n"
        "assert 'gsread' in sys.modules\n"
        "print(type(fs).__module__, fs.cat_file('bkt/empty'))"
    )
    assert r.stdout.split() == ["gsread.fs", "b''"]


def test_register_gs_only_when_asked(server):
    r = run_python(
        "import fsspec, gsread\n"
        "try:\n"
        "    before = fsspec.get_filesystem_class('gs')\n"
        "except ImportError:  # gcsfs is not installed\n"
        "    before = None\n"
        "assert before is not gsread.GsreadFileSystem\n"
        "gsread.register_gs()\n"
        "fs = fsspec.filesystem('gs')\n"
        "assert isinstance(fs, gsread.GsreadFileSystem)\n"
        "with fsspec.open('gs://bkt/odd/a b') as f: print(len(f.read()))\n"
    )
    assert int(r.stdout) == len(server.bytes("odd/a b"))


# ---- bytes ------------------------------------------------------------------
@pytest.mark.parametrize("cache", [None, *CACHE_TYPES])
def test_sequential_reads_byte_exact(fs, server, cache):
    want = server.bytes("big.bin")
    for io_size in (1, 4096, 65536, 1 << 20, 5 * (1 << 20) + 3):
        got = []
        with fs.open(f"gsread://{BIG}", cache_type=cache, block_size=1 << 20) as f:
            n = 0
            while n < len(want):
                b = f.read(io_size)
                assert b, "EOF too early"
                got.append(b)
                n += len(b)
                if io_size == 1 and n >= 3000:  # 1-byte reads: a prefix
                    want = want[:n]
                    break
            if io_size != 1:
                assert f.read(io_size) == b""
        assert b"".join(got) == want
        want = server.bytes("big.bin")


def test_read_all_and_past_the_end(fs, server):
    want = server.bytes("small.bin")
    with fs.open(SMALL) as f:
        assert f.size == len(want)
        assert f.read() == want
        assert f.read() == b"" and f.read(10) == b""
        assert f.tell() == len(want)
        f.seek(len(want) + 1000)
        assert f.read(5) == b""
    with fs.open(f"{BUCKET}/empty") as f:
        assert f.read() == b"" and f.read(1) == b""


def test_seek_and_tell(fs, server):
    want = server.bytes("small.bin")
    with fs.open(SMALL, cache_type="blockcache", block_size=65536) as f:
        assert f.seekable() and f.readable() and not f.writable()
        assert f.seek(1000) == 1000 and f.read(10) == want[1000:1010]
        assert f.seek(-10, io.SEEK_END) == len(want) - 10
        assert f.read() == want[-10:]
        f.seek(500)
        assert f.seek(100, io.SEEK_CUR) == 600 and f.tell() == 600
        assert f.read(3) == want[600:603]
        with pytest.raises(ValueError):
            f.seek(-1)
        with pytest.raises(ValueError):
            f.seek(0, 7)
        assert f.tell() == 603  # a failed seek moves nothing


def test_readinto_fills_the_callers_buffer(fs, server):
    want = server.bytes("small.bin")
    with fs.open(SMALL, cache_type="none") as f:
        buf = bytearray(1000)
        assert f.readinto(buf) == 1000 and buf == want[:1000]
        arr = np.zeros(4096, dtype=np.uint8)  # numpy: written in place
        assert f.readinto(arr) == 4096
        assert arr.tobytes() == want[1000:5096]
        big = bytearray(10)
        mv = memoryview(big)[2:7]  # a slice: only its bytes change
        assert f.readinto(mv) == 5
        assert big == b"\0\0" + want[5096:5101] + b"\0\0\0"
        f.seek(len(want) - 3)
        assert f.readinto(buf) == 3 and buf[:3] == want[-3:]
        assert f.readinto(buf) == 0
        with pytest.raises(TypeError):
            f.readinto(b"read-only bytes")


def test_readline_and_iteration(fs, server):
    want = server.bytes("lines.txt")
    with fs.open(f"{BUCKET}/lines.txt") as f:
        assert list(f) == want.splitlines(keepends=True)
    with fs.open(f"{BUCKET}/lines.txt") as f:
        assert f.readline() == b"first\n"
        assert f.readline(3) == b"\n"
        assert f.readline(5) == b"xxxxx" and f.tell() == 12
        assert f.readline() == b"x" * 19995 + b"\n"
        rest = f.read()
        assert want.endswith(rest)
    with fs.open(f"{BUCKET}/lines.txt", "r", encoding="utf-8") as t:
        lines = t.readlines()
        assert lines[3] == "été line\n" and lines[-1] == "no newline at the end"


def test_cat_file_ranges(fs, server):
    want = server.bytes("small.bin")
    n = len(want)
    cases = [
        (None, None),
        (0, 10),
        (10, None),
        (-100, None),
        (5, -5),
        (n - 3, n + 100),
        (n + 5, None),
        (20, 10),
        (-n - 50, 4),
    ]
    for s, e in cases:
        py = slice(s, e)
        assert fs.cat_file(f"gsread://{SMALL}", start=s, end=e) == want[py], (s, e)
    assert fs.cat(f"{BUCKET}/empty") == b""


def test_cat_ranges(fs, server):
    small, big = server.bytes("small.bin"), server.bytes("big.bin")
    paths = [SMALL, BIG, SMALL, f"gsread://{BIG}", BIG]
    starts = [0, 5 << 20, -10, 100, 12 << 20]
    ends = [10, (11 << 20) + 5, None, 200, None]
    out = fs.cat_ranges(paths, starts, ends)
    assert out == [
        small[:10],
        big[5 << 20 : (11 << 20) + 5],
        small[-10:],
        big[100:200],
        big[12 << 20 :],
    ]
    # Scalar starts and ends apply to every path (fsspec 2022.11's default
    # put the starts in place of the ends).
    assert fs.cat_ranges([SMALL, BIG], 3, 8) == [small[3:8], big[3:8]]
    # on_error: "return" puts the exception in its place, "raise" raises.
    out = fs.cat_ranges([SMALL, f"{BUCKET}/missing", SMALL], 0, 4)
    assert out[0] == small[:4] and out[2] == small[:4]
    assert isinstance(out[1], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges([SMALL, f"{BUCKET}/missing"], 0, 4, on_error="raise")
    with pytest.raises(ValueError):
        fs.cat_ranges([SMALL, BIG], [0], [1, 2])


def test_cat_ranges_run_concurrently(fs, server):
    # 300 ms before each answer: 8 ranges one after another would take
    # at least 2.4 s (+ the open); at once, about 0.6 s.
    server.control("config?ttfb_ms=300")
    t0 = time.monotonic()
    out = fs.cat_ranges(
        [BIG] * 8, [i * 1000 for i in range(8)], [i * 1000 + 10 for i in range(8)]
    )
    took = time.monotonic() - t0
    big = server.bytes("big.bin")
    assert out == [big[i * 1000 : i * 1000 + 10] for i in range(8)]
    assert took < 1.6, f"8 ranges took {took:.2f} s: not concurrent"


def test_cat_ranges_vectored(fs, server):
    # 200 small ranges of one object, 4 KiB apart: gsr_read_ranges joins
    # them (holes far under the cost model's limit) into a few requests,
    # where one GET per range would send 200.
    big = server.bytes("big.bin")
    starts = [i * 4096 for i in range(200)]
    ends = [s + 100 for s in starts]
    before = server.requests()
    out = fs.cat_ranges([BIG] * 200, starts, ends)
    sent = server.requests() - before  # the open's metadata GET too
    assert out == [big[s:e] for s, e in zip(starts, ends)]
    assert sent <= 5, f"200 ranges took {sent} requests: not vectored"


def test_cat_many_objects(fs, server):
    out = fs.cat(f"gsread://{BUCKET}/odd/*")
    assert sorted(out) == sorted(f"{BUCKET}/{n}" for n in ODD_NAMES)
    for n in ODD_NAMES:
        assert out[f"{BUCKET}/{n}"] == server.bytes(n)
    out = fs.cat([SMALL, f"{BUCKET}/nope"], on_error="omit")
    assert list(out) == [SMALL]
    out = fs.cat([SMALL, f"{BUCKET}/nope"], on_error="return")
    assert isinstance(out[f"{BUCKET}/nope"], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat([SMALL, f"{BUCKET}/nope"])


def test_odd_names(fs, server):
    for n in ODD_NAMES:
        p = f"gsread://{BUCKET}/{n}"
        assert fs.cat(p) == server.bytes(n), n
        assert fs.info(p)["size"] == len(server.bytes(n))
        with fs.open(p) as f:
            assert f.read() == server.bytes(n)
    assert sorted(fs.ls(f"{BUCKET}/odd", detail=False)) == sorted(
        f"{BUCKET}/{n}" for n in ODD_NAMES
    )


def test_get_file(fs, server, tmp_path):
    dest = tmp_path / "copy.bin"
    fs.get_file(f"gsread://{BIG}", str(dest))
    assert dest.read_bytes() == server.bytes("big.bin")
    fs.get(f"gsread://{BUCKET}/list/", str(tmp_path / "tree"), recursive=True)
    assert (tmp_path / "tree" / "f07").read_bytes() == b"7"
    assert (tmp_path / "tree" / "sub" / "deep" / "z").read_bytes() == b"z"
    with pytest.raises(FileNotFoundError):
        fs.get_file(f"{BUCKET}/nope", str(tmp_path / "nope"))
    assert not (tmp_path / "nope").exists()


# ---- metadata and listing ------------------------------------------------------
def test_long_content_type(fs, server):
    """A contentType too long for the library's 127 bytes, whose 127th byte
    falls inside a UTF-8 sequence, is left out rather than cut (info then
    has no contentType, as for an object that has none): info and open
    work (a cut one raised UnicodeDecodeError)."""
    ct = "a" * 126 + "\u00e9"
    server.control("config?content_type=" + urllib.parse.quote(ct))
    assert fs.info(SMALL).get("contentType", "") == ""  # left out, as unsent
    with fs.open(SMALL) as f:
        assert f.read(4) == server.bytes("small.bin")[:4]
    server.control("config?content_type=" + urllib.parse.quote("text/\u00e9"))
    assert fs.info(SMALL)["contentType"] == "text/\u00e9"


def test_info_and_ukey(fs, server):
    data = server.bytes("small.bin")
    i = fs.info(f"gsread://{SMALL}")
    assert i["name"] == SMALL and i["type"] == "file" and i["size"] == len(data)
    assert base64.b64decode(i["md5Hash"]) == hashlib.md5(data).digest()
    assert len(base64.b64decode(i["crc32c"])) == 4
    meta = json.load(
        fsspec.open(f"{server.endpoint}/storage/v1/b/{BUCKET}/o/small.bin").open()
    )
    assert i["crc32c"] == meta["crc32c"] and i["generation"] == meta["generation"]
    assert i["updated"] == meta["updated"]
    assert fs.ukey(SMALL) == meta["generation"]
    assert fs.info(f"{BUCKET}/odd")["type"] == "directory"
    assert fs.info(BUCKET)["type"] == "directory"
    assert fs.isdir(f"{BUCKET}/list/sub") and not fs.isfile(f"{BUCKET}/list/sub")
    assert fs.isfile(SMALL) and fs.size(SMALL) == len(data)
    assert fs.exists(SMALL) and not fs.exists(f"{BUCKET}/nope")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{BUCKET}/nope")
    with pytest.raises(FileNotFoundError):
        fs.info("no-such-bucket")
    # A new generation is a new ukey.
    server.replace("list/f00", b"new")
    g0 = fs.ukey(f"{BUCKET}/list/f00")
    time.sleep(0.01)
    server.replace("list/f00", b"0")
    assert fs.ukey(f"{BUCKET}/list/f00") != g0


def test_ls_find_glob_paged(fs, server):
    server.control("config?list_max=3")  # 9+ pages
    names = [f"{BUCKET}/list/f{i:02d}" for i in range(25)]
    got = fs.ls(f"gsread://{BUCKET}/list", detail=False)
    assert got == names + [f"{BUCKET}/list/sub"]
    det = {d["name"]: d for d in fs.ls(f"{BUCKET}/list/", detail=True)}
    assert det[f"{BUCKET}/list/sub"]["type"] == "directory"
    assert det[names[3]]["size"] == 1 and det[names[3]]["type"] == "file"
    assert fs.find(f"{BUCKET}/list") == names + [f"{BUCKET}/list/sub/deep/z"]
    assert fs.find(f"{BUCKET}/list", maxdepth=1) == names
    assert fs.find(f"{BUCKET}/list", withdirs=True)[-3:] == [
        f"{BUCKET}/list/sub",
        f"{BUCKET}/list/sub/deep",
        f"{BUCKET}/list/sub/deep/z",
    ]
    assert fs.find(SMALL) == [SMALL]
    assert fs.find(f"{BUCKET}/nothing-here") == []
    assert fs.glob(f"gsread://{BUCKET}/list/f1*") == names[10:20]
    assert fs.glob(f"{BUCKET}/list/**/z") == [f"{BUCKET}/list/sub/deep/z"]
    assert fs.glob(f"{BUCKET}/data/*.csv") == [
        f"{BUCKET}/data/{i}.csv" for i in range(4)
    ]
    assert fs.ls(SMALL, detail=False) == [SMALL]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{BUCKET}/nothing-here")


# ---- errors ---------------------------------------------------------------------
def test_errors_map_to_python_exceptions(fs, server):
    with pytest.raises(FileNotFoundError) as e:
        fs.open(f"{BUCKET}/nope")
    assert e.value.errno == errno.ENOENT and e.value.gsr_status == "GSR_ENOENT"
    assert "bkt/nope" in str(e.value)
    with pytest.raises(FileNotFoundError):
        fs.cat_file("no-such-bucket/x")
    # 403 on the metadata request: PermissionError. (A fresh filesystem:
    # this one's second open in the bucket's root would list it instead.)
    server.control("config?fault_on=meta&fault_status=403&fault_next=1")
    with pytest.raises(PermissionError) as e:
        gsread.GsreadFileSystem(skip_instance_cache=True).open(SMALL)
    assert e.value.errno == errno.EACCES
    # A non-retryable HTTP status on a read: OSError with errno EIO.
    with fs.open(SMALL, cache_type="none") as f:
        server.control("config?fault_on=media&fault_status=400&fault_next=1")
        with pytest.raises(OSError) as e:
            f.read(10)
        assert type(e.value) is OSError and e.value.errno == errno.EIO
        assert e.value.gsr_status == "GSR_EHTTP"
        assert f.read(10) == server.bytes("small.bin")[:10]  # still usable
    with pytest.raises(ValueError):
        fs.open(SMALL, cache_type="lru")
    with pytest.raises(ValueError):
        fs.open(SMALL, prefetch="always")
    with pytest.raises(NotImplementedError):
        fs.open(f"{BUCKET}/new", "wb")
    f = fs.open(SMALL)
    f.close()
    f.close()
    with pytest.raises(ValueError):
        f.read(1)
    with pytest.raises(ValueError):
        f.readinto(bytearray(4))
    assert f.closed


def test_object_changed_under_an_open_file(fs, server):
    server.replace("list/f01", b"version one")
    with fs.open(f"{BUCKET}/list/f01", cache_type="none") as f:
        assert f.read(3) == b"ver"
        time.sleep(0.01)
        server.replace("list/f01", b"VERSION TWO")
        with pytest.raises(gsread.ObjectChanged) as e:
            f.read(3)
    assert isinstance(e.value, OSError) and e.value.errno == errno.ESTALE
    assert e.value.gsr_status == "GSR_ECHANGED"
    server.replace("list/f01", b"1")


def test_no_token_in_messages(server):
    server.control("config?require_token=1")
    fs = gsread.GsreadFileSystem(
        token={"access_token": "secret-token-4711"}, skip_instance_cache=True
    )
    with pytest.raises(PermissionError) as e:
        fs.cat_file(SMALL)
    assert "401" in str(e.value) and "secret-token-4711" not in str(e.value)
    assert "secret-token-4711" not in repr(e.value)
    with pytest.raises(ValueError) as e:
        gsread.GsreadFileSystem(token=12345, skip_instance_cache=True)
    assert "12345" not in str(e.value)


# ---- options ------------------------------------------------------------------------
def test_token_options(server, tmp_path):
    server.control("config?require_token=1")
    anon = gsread.GsreadFileSystem(token="anon", skip_instance_cache=True)
    with pytest.raises(PermissionError):
        anon.cat_file(SMALL)
    user = {
        "type": "authorized_user",
        "client_id": "test-client-id",
        "client_secret": "test-client-secret",
        "refresh_token": "test-refresh-token",
        "token_uri": f"{server.endpoint}/token",
    }
    path = tmp_path / "user.json"
    path.write_text(json.dumps(user))
    for token in (str(path), user):  # a path, and a dict of the same
        fs = gsread.GsreadFileSystem(token=token, skip_instance_cache=True)
        assert fs.cat_file(SMALL, 0, 5) == server.bytes("small.bin")[:5]
        assert fs.client.auth_info()["kind"] == "authorized_user"
    server.control("config?fixed_token=tok-123")
    fs = gsread.GsreadFileSystem(
        token={"access_token": "tok-123"}, skip_instance_cache=True
    )
    assert fs.cat_file(SMALL, 0, 5) == server.bytes("small.bin")[:5]
    with pytest.raises(FileNotFoundError):
        gsread.GsreadFileSystem(
            token=str(tmp_path / "missing.json"), skip_instance_cache=True
        )


def test_requester_pays_and_endpoint(server, monkeypatch):
    server.control("config?require_user_project=proj-9")
    plain = gsread.GsreadFileSystem(skip_instance_cache=True)
    with pytest.raises(OSError):
        plain.cat_file(SMALL, 0, 1)
    for kw in (
        {"requester_pays": "proj-9"},
        {"requester_pays": True, "project": "proj-9"},
    ):
        fs = gsread.GsreadFileSystem(skip_instance_cache=True, **kw)
        assert fs.cat_file(SMALL, 0, 4) == server.bytes("small.bin")[:4]
    with pytest.raises(ValueError):
        gsread.GsreadFileSystem(requester_pays=True, skip_instance_cache=True)
    server.control("reset")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    fs = gsread.GsreadFileSystem(endpoint_url=server.endpoint, skip_instance_cache=True)
    assert fs.cat_file(SMALL, 0, 4) == server.bytes("small.bin")[:4]


def test_block_size_and_explicit_cache(fs, server):
    with fs.open(SMALL, cache_type="readahead", block_size="64K") as f:
        f.read(10)
        s = f.stats()
        assert s["requests"] == 1 and s["bytes_fetched"] == 10 + 65536
    fs2 = gsread.GsreadFileSystem(
        block_size=100_000, cache_type="readahead", skip_instance_cache=True
    )
    with fs2.open(SMALL) as f:
        f.read(10)
        assert f.stats()["bytes_fetched"] == 100_010
    with fs.open(SMALL) as f:  # the default: no cache (gcsfs's, 2026.8.0)
        f.read(10)
        assert f.stats()["bytes_fetched"] == 10


PREFETCH_CHILD = r"""
import gsread, json, sys
fs = gsread.GsreadFileSystem()
out = {}
for name, kw in (("default", {}), ("explicit_cache", {"cache_type": "readahead"}),
                 ("explicit_both", {"cache_type": "none", "prefetch": "adaptive"})):
    with fs.open("bkt/big.bin", **kw) as f:
        while f.read(256 * 1024):
            pass
        s = f.stats()
        out[name] = s["window"] > 0 or s["plan"] != "none"
with fs.open("bkt/big.bin", cache_type="none") as f:
    f.read()
    out["requests"] = f.stats()["requests"]
print(json.dumps(out))
"""


def test_gcsfs_environment_variables(server):
    r = run_python(
        PREFETCH_CHILD,
        env={
            "USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING": "true",
            "DEFAULT_GCSFS_CONCURRENCY": "1",
        },
    )
    out = json.loads(r.stdout)
    # The prefetcher runs by gcsfs's variable, and an explicit cache turns
    # it off unless prefetch is given too.
    assert out["default"] and not out["explicit_cache"] and out["explicit_both"]
    assert out["requests"] == 1  # 12 MiB in one request: concurrency 1
    r = run_python(PREFETCH_CHILD, env={"DEFAULT_GCSFS_CONCURRENCY": "3"})
    out = json.loads(r.stdout)
    # Unset, gcsfs's variable means true (gcsfs >= 2026.8.0).
    assert out["default"] and not out["explicit_cache"] and out["explicit_both"]
    assert out["requests"] == 2  # 12 MiB: 2 parts of >= 5 MiB
    r = run_python(
        PREFETCH_CHILD, env={"USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING": "false"}
    )
    out = json.loads(r.stdout)
    assert not out["default"] and out["explicit_both"]


# ---- processes, pickling, threads -------------------------------------------------
def test_filesystem_pickles_by_options(server):
    fs = gsread.GsreadFileSystem(
        block_size=123456, requester_pays="p", skip_instance_cache=True
    )
    fs2 = pickle.loads(pickle.dumps(fs))
    assert fs2.storage_options == fs.storage_options
    assert fs2._client_opts == fs._client_opts


UNPICKLE_CHILD = r"""
import pickle, sys
f = pickle.loads(bytes.fromhex(sys.stdin.readline()))
try:
    print(f.tell(), f.read(50).hex())
except OSError as e:
    print(type(e).__name__, e.errno)
"""


def unpickle_in_child(state):
    """Runs UNPICKLE_CHILD on a pickled file's hex state in a fresh
    Python; returns its CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", UNPICKLE_CHILD],
        input=state + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_open_file_pickles_into_a_subprocess(fs, server):
    want = server.bytes("small.bin")
    with fs.open(SMALL, cache_type="blockcache") as f:
        f.seek(777)
        state = pickle.dumps(f).hex()
        assert f.read(5) == want[777:782]  # the original goes on
    r = unpickle_in_child(state)
    assert r.returncode == 0, r.stderr
    pos, data = r.stdout.split()
    assert int(pos) == 777 and bytes.fromhex(data) == want[777:827]
    # Pinned: the object replaced in between is ObjectChanged over there.
    server.replace("list/f02", b"old old old")
    with fs.open(f"{BUCKET}/list/f02") as f:
        state = pickle.dumps(f).hex()
    time.sleep(0.01)
    server.replace("list/f02", b"new")
    r = unpickle_in_child(state)
    assert r.stdout.split() == ["ObjectChanged", str(errno.ESTALE)], r.stderr
    server.replace("list/f02", b"2")


def _child_reads(f, q):
    try:
        q.put((f.tell(), f.read(100), f.fs.client.pid == os.getpid()))
    except BaseException as e:  # reported, not lost
        q.put(repr(e))


def test_fork_makes_a_new_client(fs, server):
    want = server.bytes("small.bin")
    parent_client = fs.client
    f = fs.open(SMALL, cache_type="none")
    f.seek(4000)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_reads, args=(f, q))
    p.start()
    res = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert res == (4000, want[4000:4100], True), res
    # The parent's client and file are untouched.
    assert fs.client is parent_client
    assert f.read(10) == want[4000:4010]
    f.close()


def test_threads_read_in_parallel(server):
    # 250 ms before each answer; 4 threads each open and read their own
    # file. Holding the GIL while waiting would serialize them (>= 2 s).
    server.control("config?ttfb_ms=250")
    fs = gsread.GsreadFileSystem(skip_instance_cache=True)
    fs.client  # made before the clock starts
    names = [f"{BUCKET}/{n}" for n in ODD_NAMES[:4]]

    def work(p):
        with fs.open(p, cache_type="none") as f:
            return f.read()

    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as ex:
        out = list(ex.map(work, names))
    took = time.monotonic() - t0
    assert out == [server.bytes(n) for n in ODD_NAMES[:4]]
    assert took < 1.5, f"4 threads took {took:.2f} s: the GIL was held"


# ---- the install command of docs/python.md -------------------------------------------
def test_pip_install_into_a_venv_offline(server, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = tmp_path / "src"  # a copy: pip's build leaves files beside setup.py
    shutil.copytree(
        root,
        src,
        ignore=shutil.ignore_patterns(
            "build*", ".git", "__pycache__", "*.egg-info", "results"
        ),
    )
    venv = tmp_path / "venv"
    subprocess.run(
        ["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=120,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # A machine without libfuse3: the Python package does not need it.
    subprocess.run(
        [
            str(root / "tests" / "install" / "pc_without.sh"),
            str(tmp_path / "pc"),
            "fuse3",
        ],
        check=True,
        timeout=60,
    )
    env["PKG_CONFIG_LIBDIR"] = str(tmp_path / "pc")

    def pip_install(*flags):
        return subprocess.run(
            [str(venv / "bin" / "pip"), "install", *flags, str(src / "python")],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=tmp_path,
        )

    # Without the flags: pip's isolated build cannot see Debian's
    # setuptools; the build says which command works (no PyPI asked).
    r = pip_install()
    assert r.returncode != 0
    assert "--no-build-isolation --no-index ./python" in r.stdout + r.stderr
    r = pip_install("--no-build-isolation", "--no-index")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import fsspec, gsread\n"
            "print(gsread.__file__)\n"
            "print(fsspec.open('gsread://bkt/list/f05').open().read().decode())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    path, data = r.stdout.split()
    assert path.startswith(str(venv)) and data == "5"


def test_read_ranges_clamps_before_allocating(fs, server):
    # A length far past the object's end is cut to the object before the
    # result is allocated (2^62 bytes would raise MemoryError).
    small = server.bytes("small.bin")
    f = fs.client.open(f"gs://{SMALL}")
    try:
        n = len(small)
        out = _gsread.read_ranges(
            [(f, 0, 1 << 62), (f, n - 3, 1 << 62), (f, n + 5, 1 << 62)]
        )
    finally:
        f.close()
    assert out == [small, small[-3:], b""]


def test_open_refuses_min_part_size_of_2_63(fs, server):
    with pytest.raises(ValueError, match="min_part_size"):
        fs.client.open(f"gs://{SMALL}", min_part_size=1 << 63)


def test_request_timeout_ms(server):
    # Each HTTP attempt is cut at request_timeout_ms (#27 item 9): the
    # server waits 1.5 s before answering, the client gives up at 0.3 s.
    server.control("config?ttfb_ms=1500")
    c = _gsread.Client(
        endpoint=server.endpoint,
        anonymous=True,
        request_timeout_ms=300,
        retry_max_attempts=1,
    )
    t0 = time.monotonic()
    with pytest.raises(OSError, match="timed out"):
        c.open(f"gs://{SMALL}").read(10)
    assert time.monotonic() - t0 < 1.2
    fs = gsread.GsreadFileSystem(request_timeout_ms=5000, skip_instance_cache=True)
    assert fs._client_opts["request_timeout_ms"] == 5000
    assert fs.cat_file(SMALL, 0, 4) == server.bytes("small.bin")[:4]
