"""gsread's fsspec filesystem: GsreadFileSystem and its files.

Everything that moves bytes is in the C extension (gsread._gsread), with
the GIL released; this module maps fsspec's calls onto it and owns the
decisions that are Python's: options, paths, errors, processes, pickling.
"""
import base64
import errno
import io
import json
import os
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import fsspec
from fsspec.spec import AbstractFileSystem

from . import _gsread
from ._gsread import ObjectChanged

MiB = 1 << 20
DEFAULT_BLOCK_SIZE = 5 * MiB  # as gcsfs
DEFAULT_CACHE_TYPE = "readahead"  # as gcsfs and fsspec
CACHE_TYPES = (
    "none",
    "readahead",
    "readahead_chunked",
    "readahead_v2",
    "blockcache",
    "background",
    "first",
    "all",
    "bytes",
)
PREFETCH_MODES = ("off", "adaptive", "sequential")
# Opens of distinct objects at once (cat of many keys, cat_ranges).
OPEN_THREADS = 16


# ---- Processes ---------------------------------------------------------------
# A C client owns an I/O thread, which fork() does not copy: each process
# makes its own, lazily. _proc.pid changes in a forked child (os.getpid()
# would be a system call on every read); clients and open files compare it
# with the pid they were made in.
class _Proc:
    pid = os.getpid()
    lock = threading.Lock()
    clients = {}  # frozen client options -> _gsread.Client, this process's


_proc = _Proc()
_live_files = weakref.WeakSet()


def _before_fork():
    # A child reopens its files at the position they had at the fork.
    for f in list(_live_files):
        f._remember_position()


def _after_fork_child():
    _proc.pid = os.getpid()
    _proc.lock = threading.Lock()
    # The parent's clients are not freed here (their I/O threads are not in
    # this process); the C objects refuse use and skip freeing.
    _proc.clients = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_child)


# ---- Options ----------------------------------------------------------------
def _size(value, what):
    """An int, or a size string ("5M", "64KiB"); None stays None."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError(f"{what}: expected a size, not {value!r}")
        return None
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what}: must not be negative")
        return value
    if isinstance(value, str):
        return _gsread.parse_size(value)
    raise ValueError(f"{what}: expected an int or a size string")


def client_options(
    token=None,
    project=None,
    requester_pays=False,
    endpoint_url=None,
    max_connections=None,
    memory_budget=None,
    ca_bundle=None,
    request_timeout_ms=None,
):
    """The C client's options from gcsfs-style storage options.

    token: None or "google_default" or "cloud": the credentials chain
    (Application Default Credentials); "anon": no credentials; a path to a
    service-account or authorized_user JSON file; a dict of the same (or
    {"access_token": T}). requester_pays: True bills `project`, a str
    bills that project. Returns a dict; "credentials_info" (a dict) is
    written to a private file only while a client is made.
    """
    o = {}
    if token is None or token in ("google_default", "cloud"):
        pass
    elif token == "anon":
        o["anonymous"] = True
    elif isinstance(token, (str, os.PathLike)):
        path = os.fspath(token)
        if token in ("browser", "cache"):
            raise ValueError(
                f"token={token!r} (interactive gcsfs login) is not "
                "supported: use gcloud's application default "
                "credentials, a key file or 'anon'"
            )
        if not os.path.isfile(path):
            raise FileNotFoundError(
                errno.ENOENT, "token: no such credentials file", path
            )
        o["credentials_file"] = os.path.abspath(path)
    elif isinstance(token, dict):
        if set(token) <= {"access_token", "token", "expires_in", "token_type"} and (
            "access_token" in token or "token" in token
        ):
            o["access_token"] = str(token.get("access_token", token.get("token")))
        elif "type" in token:
            # Frozen for hashing; written out when the client is made.
            o["credentials_info"] = json.dumps(token, sort_keys=True)
        else:
            raise ValueError(
                "token: a dict must be a service-account or "
                "authorized_user JSON (with 'type') or hold "
                "'access_token'"
            )
    else:
        # Never the value itself: it may be a secret.
        raise ValueError(f"token: unsupported type {type(token).__name__}")
    if requester_pays:
        bill = requester_pays if isinstance(requester_pays, str) else project
        if not bill:
            raise ValueError("requester_pays=True needs project=")
        o["user_project"] = bill
    if endpoint_url is not None:
        o["endpoint"] = str(endpoint_url)
    if max_connections is not None:
        o["max_connections"] = int(max_connections)
    budget = _size(memory_budget, "memory_budget")
    if budget:
        o["memory_budget"] = budget
    if ca_bundle is not None:
        o["ca_bundle"] = str(ca_bundle)
    if request_timeout_ms is not None:
        o["request_timeout_ms"] = int(request_timeout_ms)
    return o


def file_options(
    cache_type=None,
    block_size=None,
    prefetch=None,
    concurrency=None,
    max_blocks=None,
    max_prefetch=None,
):
    """The C file options of one open.

    gcsfs's rule, which the library applies: an explicit cache_type other
    than "none" turns the prefetcher off unless prefetch is given too.
    Without either, the cache is "readahead" (gcsfs's default, not the
    caller's choice) and prefetch "default": the library's mode, from
    $GSREAD_PREFETCH or gcsfs's $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING.
    """
    explicit = cache_type is not None
    cache = DEFAULT_CACHE_TYPE if cache_type is None else cache_type
    if cache not in CACHE_TYPES:
        raise ValueError(f"cache_type {cache!r}: not one of {', '.join(CACHE_TYPES)}")
    if prefetch is True:
        prefetch = "adaptive"
    elif prefetch is False:
        prefetch = "off"
    if prefetch is not None and prefetch not in PREFETCH_MODES:
        raise ValueError(
            f"prefetch {prefetch!r}: not one of {', '.join(PREFETCH_MODES)}"
        )
    if prefetch is None and not explicit:
        prefetch = "default"
    o = {
        "cache_type": cache,
        "prefetch": prefetch,
        "block_size": _size(block_size, "block_size") or DEFAULT_BLOCK_SIZE,
    }
    for k, v in (("concurrency", concurrency), ("max_blocks", max_blocks)):
        if v is not None:
            if int(v) < 0:
                raise ValueError(f"{k}: must not be negative")
            o[k] = int(v)
    mp = _size(max_prefetch, "max_prefetch")
    if mp:
        o["max_prefetch"] = mp
    return o


def _make_client(opts):
    opts = dict(opts)
    info = opts.pop("credentials_info", None)
    if info is None:
        return _gsread.Client(**opts)
    # The library reads a credentials file at client creation: a private
    # one, removed at once.
    with tempfile.TemporaryDirectory(prefix="gsread-creds-") as d:
        path = os.path.join(d, "credentials.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fp:
            fp.write(info)
        return _gsread.Client(credentials_file=path, **opts)


def _client_for(opts):
    """This process's client for these options (one per set of options:
    fsspec makes a filesystem per thread, they share the client)."""
    key = tuple(sorted(opts.items()))
    c = _proc.clients.get(key)
    if c is not None:
        return c
    with _proc.lock:
        c = _proc.clients.get(key)
        if c is None:
            c = _make_client(opts)
            _proc.clients[key] = c
        return c


def _gs_url(path):
    """gs://BUCKET/OBJECT for a stripped path; the object name verbatim."""
    return "gs://" + path


def _split(path):
    bucket, _, key = path.partition("/")
    return bucket, key


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _file_info(path, st):
    """fsspec's info dict (with gcsfs's names) from a stat dict."""
    crc = st.get("crc32c")
    md5 = st.get("md5")
    out = {
        "name": path,
        "size": st["size"],
        "type": "file",
        "bucket": _split(path)[0],
        "generation": str(st["generation"]),
        "metageneration": str(st.get("metageneration", 0)),
        "etag": st.get("etag", ""),
        "crc32c": None if crc is None else _b64(crc.to_bytes(4, "big")),
        "md5Hash": None if md5 is None else _b64(bytes.fromhex(md5)),
        "md5": md5,
        "contentType": st.get("content_type", ""),
        "updated": st.get("updated", ""),
        "contentEncoding": st.get("content_encoding", ""),
    }
    return out


def _dir_info(path):
    return {"name": path, "size": 0, "type": "directory", "bucket": _split(path)[0]}


def _clamp(start, end, size):
    """fsspec's range rules: None = the object's start/end, negative counts
    from the end, past the end is the end. Returns (offset, length)."""
    start = 0 if start is None else int(start)
    end = size if end is None else int(end)
    if start < 0:
        start = max(0, size + start)
    if end < 0:
        end = max(0, size + end)
    start, end = min(start, size), min(end, size)
    return start, max(0, end - start)


# ---- The filesystem -----------------------------------------------------------
class GsreadFileSystem(AbstractFileSystem):
    """fsspec filesystem over gsread: gsread://BUCKET/OBJECT.

    Storage options (gcsfs's names, then gsread's own):
      token           None: Application Default Credentials; "anon"; a path
                      to a service-account or authorized_user JSON file; a
                      dict of the same
      project, requester_pays   requester pays: requester_pays=True bills
                      project; a str bills that project
      endpoint_url    GCS JSON API endpoint (default $STORAGE_EMULATOR_HOST,
                      else https://storage.googleapis.com)
      block_size      cache block size, bytes or "8M" (default 5 MiB)
      cache_type      default cache of open(): none, readahead (default),
                      readahead_chunked/readahead_v2, blockcache,
                      background, first, all, bytes
      concurrency     connections per fetch (default $GSREAD_CONCURRENCY,
                      $DEFAULT_GCSFS_CONCURRENCY, else 4)
      prefetch        "off", "adaptive", "sequential" (default
                      $GSREAD_PREFETCH, gcsfs's
                      $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING, else off; an
                      explicit cache_type turns it off unless given)
      memory_budget   bytes of prefetched data per process (default 256 MiB)
      max_connections connection pool per process (default 16)
      request_timeout_ms  abort (and retry) an HTTP attempt that takes
                      longer (default 0: no limit)
      max_blocks, max_prefetch, ca_bundle   see docs/python.md
    """

    protocol = ("gsread", "gs", "gcs")
    root_marker = ""
    # fsspec's own: no directory listing cache to go stale.
    cachable = True

    def __init__(
        self,
        token=None,
        project=None,
        requester_pays=False,
        endpoint_url=None,
        block_size=None,
        cache_type=None,
        concurrency=None,
        prefetch=None,
        memory_budget=None,
        max_connections=None,
        max_blocks=None,
        max_prefetch=None,
        ca_bundle=None,
        request_timeout_ms=None,
        default_block_size=None,
        default_cache_type=None,
        **kwargs,
    ):
        # gcsfs options that do not apply (consistency, timeouts, session
        # arguments...) are accepted and ignored, as fsspec does.
        for k in (
            "consistency",
            "cache_timeout",
            "secure_serialize",
            "check_connection",
            "requests_timeout",
            "timeout",
            "session_kwargs",
            "default_location",
            "version_aware",
            "access",
            "asynchronous",
            "loop",
        ):
            kwargs.pop(k, None)
        super().__init__(**kwargs)
        self._client_opts = client_options(
            token=token,
            project=project,
            requester_pays=requester_pays,
            endpoint_url=endpoint_url,
            max_connections=max_connections,
            memory_budget=memory_budget,
            ca_bundle=ca_bundle,
            request_timeout_ms=request_timeout_ms,
        )
        self._file_defaults = {
            "cache_type": cache_type if cache_type is not None else default_cache_type,
            "block_size": block_size if block_size is not None else default_block_size,
            "prefetch": prefetch,
            "concurrency": concurrency,
            "max_blocks": max_blocks,
            "max_prefetch": max_prefetch,
        }
        file_options(**self._file_defaults)  # bad options fail here, not later

    # -- the client, made lazily in each process
    @property
    def client(self):
        """This process's _gsread.Client (made at first use, and anew in a
        forked child)."""
        return _client_for(self._client_opts)

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = fsspec.utils.stringify_path(path)
        for p in cls.protocol:
            if path.startswith(p + "://"):
                path = path[len(p) + 3 :]
                break
        return path.lstrip("/").rstrip("/")

    def _options(self, **given):
        o = dict(self._file_defaults)
        o.update({k: v for k, v in given.items() if v is not None})
        return file_options(**o)

    def _raw_open(self, path, **given):
        return self.client.open(_gs_url(path), **self._options(**given))

    # -- metadata
    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        bucket, key = _split(path)
        if not bucket:
            raise ValueError("gsread: listing buckets is not supported")
        if key:
            try:
                f = self.client.open(_gs_url(path), cache_type="none", prefetch="off")
            except FileNotFoundError:
                pass
            else:
                try:
                    return _file_info(path, f.stat())
                finally:
                    f.close()
        # A "directory": a prefix with something under it, or a bucket.
        prefix = key + "/" if key else ""
        if self.client.list(_gs_url(bucket + "/" + prefix), limit=1):
            return _dir_info(path)
        if not key:
            return _dir_info(path)  # an empty bucket (list raised if none)
        raise FileNotFoundError(errno.ENOENT, "No such object", path)

    def ls(self, path, detail=True, **kwargs):
        path = self._strip_protocol(path)
        bucket, key = _split(path)
        if not bucket:
            raise ValueError("gsread: listing buckets is not supported")
        prefix = key + "/" if key else ""
        out = []
        for e in self.client.list(_gs_url(bucket + "/" + prefix)):
            name = e["name"]
            if name == prefix:
                continue  # a "directory placeholder" object
            full = bucket + "/" + name.rstrip("/")
            if e["is_prefix"]:
                out.append(_dir_info(full))
            else:
                out.append(self._entry_info(bucket, e))
        if not out and key:
            out = [self.info(path)]  # a file, or FileNotFoundError
            if out[0]["type"] == "directory":
                out = []
        return out if detail else [o["name"] for o in out]

    @staticmethod
    def _entry_info(bucket, e):
        crc = e.get("crc32c")
        return {
            "name": bucket + "/" + e["name"],
            "size": e["size"],
            "type": "file",
            "bucket": bucket,
            "generation": str(e["generation"]),
            "crc32c": None if crc is None else _b64(crc.to_bytes(4, "big")),
            "updated": e["updated"],
        }

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """Every object under path: one recursive (paged) listing."""
        path = self._strip_protocol(path)
        bucket, key = _split(path)
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        prefix = key + "/" if key else ""
        out = {}
        try:
            entries = self.client.list(_gs_url(bucket + "/" + prefix), recursive=True)
        except FileNotFoundError:
            entries = []
        for e in entries:
            rel = e["name"][len(prefix) :]
            parts = rel.rstrip("/").split("/")
            if (
                rel
                and not rel.endswith("/")
                and (maxdepth is None or len(parts) <= maxdepth)
            ):
                out[bucket + "/" + e["name"]] = self._entry_info(bucket, e)
            if withdirs:
                dirs = parts if rel.endswith("/") else parts[:-1]
                for i in range(1, len(dirs) + 1):
                    if maxdepth is not None and i > maxdepth:
                        break
                    d = (
                        path + "/" + "/".join(dirs[:i])
                        if key
                        else bucket + "/" + "/".join(dirs[:i])
                    )
                    out.setdefault(d, _dir_info(d))
        if not out and key:
            try:
                inf = self.info(path)
            except FileNotFoundError:
                inf = None
            if inf is not None and inf["type"] == "file":
                out[path] = inf
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def ukey(self, path):
        """The object's generation: a new one is a new object."""
        return self.info(path)["generation"]

    def modified(self, path):
        import datetime

        upd = self.info(path).get("updated")
        if not upd:
            raise NotImplementedError("no update time")
        return datetime.datetime.fromisoformat(upd.replace("Z", "+00:00"))

    # -- bytes
    def _read_ranges(self, paths, starts, ends):
        """THE vectored read: every (path, start, end) at once, each a
        bytes or the exception it failed with. Distinct objects are opened
        concurrently; the ranges go to the C extension's read_ranges: one
        gsr_read_ranges call per object (joined by cost, fetched in
        parallel), objects on C threads, the GIL released."""
        unique = list(dict.fromkeys(paths))

        def op(p):
            try:
                return self.client.open(_gs_url(p), cache_type="none", prefetch="off")
            except Exception as e:  # one result per range, never a crash
                return e

        if len(unique) > 1:
            with ThreadPoolExecutor(min(OPEN_THREADS, len(unique))) as ex:
                files = dict(zip(unique, ex.map(op, unique)))
        else:
            files = {p: op(p) for p in unique}
        try:
            out = [None] * len(paths)
            items, where = [], []
            for i, (p, s, e) in enumerate(zip(paths, starts, ends)):
                f = files[p]
                if isinstance(f, Exception):
                    out[i] = f
                    continue
                off, n = _clamp(s, e, f.size)
                items.append((f, off, n))
                where.append(i)
            for i, r in zip(where, _gsread.read_ranges(items)):
                out[i] = r
            return out
        finally:
            for f in files.values():
                if not isinstance(f, Exception):
                    f.close()

    def cat_file(self, path, start=None, end=None, **kwargs):
        r = self._read_ranges([self._strip_protocol(path)], [start], [end])[0]
        if isinstance(r, Exception):
            raise r
        return r

    def cat_ranges(
        self, paths, starts, ends, max_gap=None, on_error="return", **kwargs
    ):
        """Many ranges at once (concurrently). starts/ends may be scalars
        (the same for every path); on_error "return" puts each failure's
        exception in its place, "raise" raises the first. max_gap is
        accepted for compatibility and ignored: the library joins ranges
        by the link's measured cost (docs/ranges.md)."""
        if isinstance(paths, str):
            paths = [paths]
        paths = [self._strip_protocol(p) for p in paths]
        if not isinstance(starts, (list, tuple)):
            starts = [starts] * len(paths)
        if not isinstance(ends, (list, tuple)):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("cat_ranges: paths, starts and ends differ in length")
        out = self._read_ranges(paths, list(starts), list(ends))
        if on_error == "raise":
            for r in out:
                if isinstance(r, Exception):
                    raise r
        return out

    # fsspec's async layer calls this name; the same vectored read.
    async def _cat_ranges(self, *args, **kwargs):
        return self.cat_ranges(*args, **kwargs)

    def cat(self, path, recursive=False, on_error="raise", **kwargs):
        """Whole objects; several at once when given several (a list, a
        glob, recursive), as {path: bytes}, like fsspec's."""
        paths = self.expand_path(path, recursive=recursive)
        if (
            len(paths) > 1
            or isinstance(path, list)
            or paths[0] != self._strip_protocol(path)
        ):
            res = self._read_ranges(paths, [None] * len(paths), [None] * len(paths))
            out = {}
            for p, r in zip(paths, res):
                if isinstance(r, Exception):
                    if on_error == "raise":
                        raise r
                    if on_error == "return":
                        out[p] = r
                else:
                    out[p] = r
            return out
        return self.cat_file(paths[0])

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        """Copies one object with gsread's cp engine: parallel parts into a
        temporary file, renamed over lpath once the CRC32C matched."""
        rpath = self._strip_protocol(rpath)
        if outfile is not None:
            raise NotImplementedError("get_file(outfile=...)")
        if os.path.isdir(lpath) and self.isdir(rpath):
            return
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return
        st = self.client.download(
            _gs_url(rpath),
            os.fspath(lpath),
            concurrency=int(kwargs.get("concurrency") or 0),
        )
        if callback is not None:
            callback.set_size(st["bytes"])
            callback.relative_update(st["bytes"])

    def _open(
        self,
        path,
        mode="rb",
        block_size=None,
        autocommit=True,
        cache_options=None,
        cache_type=None,
        prefetch=None,
        concurrency=None,
        **kwargs,
    ):
        if mode != "rb":
            raise NotImplementedError("gsread is read-only: mode must be 'rb'")
        opts = self._options(
            cache_type=cache_type,
            block_size=block_size,
            prefetch=prefetch,
            concurrency=concurrency,
            max_blocks=(cache_options or {}).get("maxblocks"),
        )
        return GsreadFile(self, self._strip_protocol(path), opts)


def register_gs():
    """Makes gs:// (and gcs://) URLs use gsread, from now on in this process,
    in place of gcsfs. gsread:// works without it."""
    fsspec.register_implementation("gs", GsreadFileSystem, clobber=True)
    fsspec.register_implementation("gcs", GsreadFileSystem, clobber=True)


fsspec.register_implementation("gsread", GsreadFileSystem, clobber=True)


# ---- Files --------------------------------------------------------------------
def _unpickle_file(fs, path, opts, position, pin, closed, details):
    # Lazy: the file reopens at its first use in this process, so that an
    # object replaced meanwhile is an ObjectChanged from that call, not a
    # failure to unpickle.
    f = GsreadFile.__new__(GsreadFile)
    f._setup(fs, path, opts, position, pin, closed, details)
    return f


class GsreadFile(io.BufferedIOBase):
    """A gsread object open for reading: read, readinto (into the caller's
    buffer), readline and iteration, seek, tell, close, with. Pinned at open
    to the object's generation: if it is replaced, reads raise
    ObjectChanged. Pickles by path, position and generation; used in another
    process (forked or unpickled), it reopens there, at that position, and
    raises ObjectChanged if the object changed meanwhile."""

    def __init__(self, fs, path, opts):
        super().__init__()
        self._setup(fs, path, opts, 0, None, False, None)

    def _setup(self, fs, path, opts, position, pin, closed, details):
        self.fs, self.path, self.mode = fs, path, "rb"
        self._opts = opts
        self.blocksize = opts.get("block_size")
        self._f = None
        self._pid = None
        self._pos = position
        self._pin = pin
        if closed:
            super().close()
            return
        if details is None:
            self._reopen()
        else:
            self.details, self.size = details, details["size"]
        _live_files.add(self)

    def _reopen(self):
        f = self.fs.client.open(_gs_url(self.path), **self._opts)
        st = f.stat()
        pin = (st["generation"], st["etag"])
        if self._pin is not None and pin != self._pin:
            f.close()
            e = ObjectChanged(
                errno.ESTALE,
                f"gs://{self.path}: replaced since it was opened "
                f"(generation {self._pin[0]}, now {pin[0]})",
            )
            e.gsr_status = "GSR_ECHANGED"
            raise e
        if self._pos:
            f.seek(self._pos)
        self._pin = pin
        self.size = st["size"]
        self.details = _file_info(self.path, st)
        self._f, self._pid = f, _proc.pid

    def _h(self):
        """The C file, reopened first if this process did not open it."""
        if self._pid != _proc.pid:
            if self.closed:
                raise ValueError("I/O operation on closed file")
            self._reopen()
        return self._f

    def _remember_position(self):
        if self._f is not None and self._pid == _proc.pid and not self._f.closed:
            try:
                self._pos = self._f.tell()
            except Exception:
                pass

    def __reduce__(self):
        if not self.closed and self._pid == _proc.pid:
            self._pos = self._f.tell()
        return (
            _unpickle_file,
            (
                self.fs,
                self.path,
                self._opts,
                self._pos,
                self._pin,
                self.closed,
                getattr(self, "details", None),
            ),
        )

    # -- io
    def readable(self):
        return True

    def seekable(self):
        return True

    def writable(self):
        return False

    def read(self, size=-1):
        if self._pid != _proc.pid:
            self._h()
        return self._f.read(-1 if size is None else size)

    read1 = read

    def readinto(self, b):
        if self._pid != _proc.pid:
            self._h()
        return self._f.readinto(b)

    readinto1 = readinto

    def readline(self, size=-1):
        f = self._h()
        pos = f.tell()
        chunks, got, step = [], 0, 8192
        limit = -1 if size is None else size
        while limit < 0 or got < limit:
            want = step if limit < 0 else min(step, limit - got)
            data = f.pread(want, pos + got)
            if not data:
                break
            i = data.find(b"\n")
            if i >= 0:
                data = data[: i + 1]
            chunks.append(data)
            got += len(data)
            if i >= 0:
                break
            step = min(step * 2, MiB)
        f.seek(pos + got)
        return b"".join(chunks)

    def seek(self, offset, whence=0):
        return self._h().seek(offset, whence)

    def tell(self):
        return self._h().tell()

    @property
    def loc(self):
        return self.tell()

    def stats(self):
        """The C file's counters (requests, bytes fetched, hits...)."""
        return self._h().stats()

    def close(self):
        if self._f is not None and self._pid == _proc.pid:
            self._f.close()
        _live_files.discard(self)
        super().close()

    def __repr__(self):
        return f"<GsreadFile gsread://{self.path}>"
