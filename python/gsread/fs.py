"""gsread's fsspec filesystem: GsreadFileSystem and its files.

Everything that moves bytes is in the C extension (gsread._gsread), with
the GIL released; this module maps fsspec's calls onto it and owns the
decisions that are Python's: options, paths, errors, processes, pickling.
"""
import base64
import datetime
import errno
import io
import json
import logging
import os
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import fsspec
from fsspec.spec import AbstractFileSystem

from . import _gsread
from ._gsread import ObjectChanged

logger = logging.getLogger("gsread")

MiB = 1 << 20
DEFAULT_BLOCK_SIZE = 5 * MiB  # as gcsfs
# None: the library's default, gcsfs's since 2026.8.0: no cache and the
# adaptive prefetcher (unless $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING says
# otherwise). Any cache named turns the prefetcher off, as in gcsfs.
DEFAULT_CACHE_TYPE = None
# fsspec caches gsread has no twin of, read through the nearest of its own:
# "mmap" keeps every block it fetched (a block cache), "parts" serves the
# parts it was given (cache_options["data"], as fsspec.parquet passes) and
# reads anything else from the object.
CACHE_ALIASES = {"mmap": "blockcache", "parts": "none"}
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
# An open with no listing at hand asks the server for the object's metadata
# (a request, a first-byte wait). The second object opened from one
# directory lists that directory instead, one page at most (fewer than
# LISTED_OPEN_MAX entries, else it is not kept and its opens go on asking):
# a Dask worker, whose filesystem arrives unpickled with no listing, then
# opens its tasks' objects with no request.
LISTED_OPEN_MAX = 1000  # one page of objects.list
DIR_OPENS_MAX = 4096  # directories whose opens are counted, per instance
# The listing fields a listed open passes to the C layer (gsr_list_entry).
LISTED_TEXTS = (
    "updated",
    "etag",
    "md5Hash",
    "contentType",
    "contentEncoding",
    "storageClass",
    "timeCreated",
)


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


def _gcsfs_truthy(value):
    """gcsfs's reading of use_experimental_adaptive_prefetching: a str is
    true if "true" or "1" (any case), anything else by bool()."""
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def file_options(
    cache_type=None,
    block_size=None,
    prefetch=None,
    concurrency=None,
    max_blocks=None,
    max_prefetch=None,
    use_experimental_adaptive_prefetching=None,
):
    """The C file options of one open.

    gcsfs's rules (2026.8.0), which the library applies: with no
    cache_type, no cache and the client's prefetch mode (adaptive unless
    $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING says otherwise, or the
    use_experimental_adaptive_prefetching keyword); a cache_type named
    ("none" too) turns the prefetcher off unless prefetch is given too.
    """
    cache = CACHE_ALIASES.get(cache_type, cache_type)
    if cache is not None and cache not in CACHE_TYPES:
        raise ValueError(
            f"cache_type {cache_type!r}: not one of "
            f"{', '.join(CACHE_TYPES + tuple(CACHE_ALIASES))}"
        )
    if prefetch is True:
        prefetch = "adaptive"
    elif prefetch is False:
        prefetch = "off"
    if prefetch is not None and prefetch not in PREFETCH_MODES:
        raise ValueError(
            f"prefetch {prefetch!r}: not one of {', '.join(PREFETCH_MODES)}"
        )
    if (
        prefetch is None
        and cache is None
        and use_experimental_adaptive_prefetching is not None
    ):
        prefetch = (
            "adaptive"
            if _gcsfs_truthy(use_experimental_adaptive_prefetching)
            else "off"
        )
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


def _timestamp(text):
    """gcsfs's mtime/ctime: an RFC 3339 time as an aware datetime (UTC)."""
    if not text:
        return None
    t = text[:-1] + "+00:00" if text.endswith("Z") else text
    if "." in t:  # fromisoformat wants 3 or 6 fraction digits
        head, _, rest = t.partition(".")
        frac, sign, tz = rest.partition("+")
        t = f"{head}.{(frac + '000000')[:6]}{sign}{tz}"
    try:
        return datetime.datetime.fromisoformat(t)
    except ValueError:
        return None


def _object_info(bucket, name, m):
    """An object's info as gcsfs gives it: the object resource's keys
    (from the listing or the metadata read at open; those GCS did not send
    left out), size an int, name with the bucket, type "file", mtime and
    ctime as datetimes. m: the C layer's fields under GCS's names."""
    gen = str(m["generation"])
    out = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{gen}",
        "name": f"{bucket}/{name}",
        "bucket": bucket,
        "generation": gen,
        "metageneration": str(m.get("metageneration") or 1),
    }
    for k in ("contentType", "contentEncoding", "storageClass"):
        if m.get(k):
            out[k] = m[k]
    out["size"] = int(m["size"])
    if m.get("md5Hash"):
        out["md5Hash"] = m["md5Hash"]
    if m.get("crc32c") is not None:
        out["crc32c"] = _b64(m["crc32c"].to_bytes(4, "big"))
    for k in ("etag", "timeCreated", "updated"):
        if m.get(k):
            out[k] = m[k]
    out["type"] = "file"
    if m.get("updated"):
        out["mtime"] = _timestamp(m["updated"])
    if m.get("timeCreated"):
        out["ctime"] = _timestamp(m["timeCreated"])
    return out


def _file_info(path, st):
    """gcsfs's info of an object from a stat dict (the metadata at open)."""
    bucket, name = _split(path)
    md5 = st.get("md5")
    return _object_info(
        bucket,
        name,
        {
            "generation": st["generation"],
            "metageneration": st.get("metageneration"),
            "contentType": st.get("content_type"),
            "contentEncoding": st.get("content_encoding"),
            "storageClass": st.get("storage_class"),
            "size": st["size"],
            "md5Hash": md5 and _b64(bytes.fromhex(md5)),
            "crc32c": st.get("crc32c"),
            "etag": st.get("etag"),
            "timeCreated": st.get("time_created"),
            "updated": st.get("updated"),
        },
    )


def _listed_entry(info):
    """The C layer's listing entry (open(listed=...)) of an object's info
    from a listing (_object_info's keys)."""
    crc = info.get("crc32c")
    e = {
        "size": int(info["size"]),
        "generation": int(info["generation"]),
        "metageneration": int(info.get("metageneration") or 0),
        "crc32c": int.from_bytes(base64.b64decode(crc), "big") if crc else None,
    }
    e.update((k, info[k]) for k in LISTED_TEXTS if info.get(k))
    return e


def _dir_info(path):
    """A "directory" (a prefix, or a bucket) as gcsfs gives it."""
    return {
        "bucket": _split(path)[0],
        "name": path,
        "size": 0,
        "storageClass": "DIRECTORY",
        "type": "directory",
    }


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


class WritesNeedGcsfs(NotImplementedError):
    """A write (open for writing, pipe, put, rm, cp_file, mv, mkdir...) on a
    gsread filesystem while gcsfs is not installed: gsread only reads, and
    hands writes to gcsfs when it is there."""


def _writes_hint(what):
    return (
        f"gsread reads only: {what} is a write, which gsread hands to gcsfs "
        "when gcsfs is installed (pip install gcsfs, same credentials and "
        "endpoint); it is not installed here"
    )


def _gcsfs_module():
    """gcsfs if installed, else None (imported once, on the first write)."""
    try:
        import gcsfs
    except ImportError:
        return None
    return gcsfs


def _write_method(name):
    """GsreadFileSystem.NAME, a write: gcsfs's method of that name (see
    _writer), then the listing cache forgets the paths it was given."""

    def write(self, *args, **kwargs):
        fs = self._writer(f"{name}()")
        try:
            return getattr(fs, name)(*args, **kwargs)
        finally:
            for a in args[:2]:
                for p in a if isinstance(a, (list, tuple, dict)) else [a]:
                    if isinstance(p, (str, os.PathLike)):
                        self.invalidate_cache(self._strip_protocol(os.fspath(p)))

    write.__name__ = write.__qualname__ = name
    write.__doc__ = f"{name}: a write, done by gcsfs (WritesNeedGcsfs without it)."
    return write


# The writes a gsread filesystem hands to gcsfs, besides open in a write
# mode (GsreadFileSystem._open).
WRITES = (
    "pipe_file",
    "pipe",
    "put_file",
    "put",
    "rm_file",
    "rm",
    "rmdir",
    "cp_file",
    "copy",
    "mv",
    "mkdir",
    "makedirs",
    "touch",
)


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
      cache_type      default cache of open(): none by default, with the
                      adaptive prefetcher (gcsfs's default); readahead,
                      readahead_chunked/readahead_v2, blockcache,
                      background, first, all, bytes, mmap, parts. Naming
                      one turns the prefetcher off, as in gcsfs.
      concurrency     connections per fetch, cat_ranges too (default
                      $GSREAD_CONCURRENCY, $DEFAULT_GCSFS_CONCURRENCY,
                      else 4)
      prefetch        "off", "adaptive", "sequential" (default
                      $GSREAD_PREFETCH, else gcsfs's
                      $USE_EXPERIMENTAL_ADAPTIVE_PREFETCHING: adaptive
                      unless it is set and not true/1)
      use_experimental_adaptive_prefetching   gcsfs's keyword, as gcsfs
                      reads it (ignored under a cache_type)
      use_listings_cache, listings_expiry_time, max_paths   fsspec's
                      listing cache (on, no expiry, by default); opens
                      of listed objects cost no request (docs/python.md)
      memory_budget   bytes of prefetched data per process (default 256 MiB)
      max_connections connection pool per process (default 64)
      request_timeout_ms  abort (and retry) an HTTP attempt that takes
                      longer (default 0: no limit)
      max_blocks, max_prefetch, ca_bundle   see docs/python.md
    Writes go to gcsfs when it is installed (WritesNeedGcsfs otherwise).
    """

    protocol = ("gsread", "gs", "gcs")
    root_marker = ""
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
        use_experimental_adaptive_prefetching=None,
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
        # What gcsfs gets for writes: the same credentials and endpoint.
        self._gcsfs_opts = {
            k: v
            for k, v in (
                ("token", token),
                ("project", project),
                ("requester_pays", requester_pays or None),
                ("endpoint_url", endpoint_url),
            )
            if v is not None
        }
        self._file_defaults = {
            "cache_type": cache_type if cache_type is not None else default_cache_type,
            "block_size": block_size if block_size is not None else default_block_size,
            "prefetch": prefetch,
            "concurrency": concurrency,
            "max_blocks": max_blocks,
            "max_prefetch": max_prefetch,
            "use_experimental_adaptive_prefetching": (
                use_experimental_adaptive_prefetching
            ),
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

    # -- the listing cache (fsspec's DirCache, self.dircache): a directory's
    # listing, kept per instance; info, size, ukey, exists, isdir and
    # checksum answer from it. Writes through this filesystem drop what
    # they touch; invalidate_cache() drops the rest.
    def invalidate_cache(self, path=None):
        if path is None:
            self.dircache.clear()
        else:
            path = self._strip_protocol(path)
            while path:
                self.dircache.pop(path, None)
                path = self._parent(path)
        super().invalidate_cache(path)

    def _cached_info(self, path):
        """path's info from a listing already made; None if none covers
        it; FileNotFoundError if its directory was listed without it."""
        if path in self.dircache:
            return _dir_info(path)
        try:
            listing = self.dircache[self._parent(path)]
        except KeyError:
            return None
        for e in listing:
            if e["name"] == path:
                return e
        raise FileNotFoundError(errno.ENOENT, "No such object", path)

    # -- metadata
    def info(self, path, refresh=False, **kwargs):
        path = self._strip_protocol(path)
        bucket, key = _split(path)
        if not bucket:
            raise ValueError("gsread: listing buckets is not supported")
        if not refresh and key:
            cached = self._cached_info(path)
            if cached is not None:
                return cached
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

    def _list_dir(self, path, limit=0):
        """One directory's entries (objects and prefixes, gcsfs's infos),
        listed now and kept in the listing cache. limit: at most that many
        entries listed; a listing that reaches it is returned, not kept
        (it may be cut short)."""
        bucket, key = _split(path)
        prefix = key + "/" if key else ""
        entries = self.client.list(_gs_url(bucket + "/" + prefix), limit=limit)
        out = []
        for e in entries:
            name = e["name"]
            if name == prefix:
                continue  # a "directory placeholder" object
            if e["is_prefix"]:
                out.append(_dir_info(bucket + "/" + name.rstrip("/")))
            else:
                out.append(_object_info(bucket, name, e))
        if (out or not key) and not (limit and len(entries) >= limit):
            self.dircache[path] = out
        return out

    def _open_info(self, path):
        """path's info to open it from with no request (a listing's), or
        None (the open asks the server). From the listing cache; else, at
        the second object opened from path's directory, from a listing of
        that directory made now (one page at most; see LISTED_OPEN_MAX).
        A directory too big, or that cannot be listed (a reader allowed
        objects.get only), is not listed again by opens."""
        if not self.dircache.use_listings_cache:
            return None
        parent = self._parent(path)
        if parent not in self.dircache:
            opens = self.__dict__.setdefault("_dir_opens", {})
            seen = opens.get(parent)
            if seen is None:
                if len(opens) >= DIR_OPENS_MAX:
                    opens.clear()
                opens[parent] = "opened"
                return None
            if seen != "opened":
                return None  # not listed: too big, or it failed
            opens[parent] = "not listed"
            try:
                self._list_dir(parent, limit=LISTED_OPEN_MAX)
            except Exception:
                return None
            if parent not in self.dircache:
                return None
            opens.pop(parent, None)  # listed: if it expires, counted again
        try:
            info = self._cached_info(path)
        except FileNotFoundError:
            return None  # perhaps made since the listing: the server says
        return info if info is not None and info["type"] == "file" else None

    def ls(self, path, detail=False, refresh=False, **kwargs):
        """A directory's entries: names, or gcsfs's infos with detail=True
        (gcsfs's default is names too). From the listing cache unless
        refresh."""
        path = self._strip_protocol(path)
        if not _split(path)[0]:
            raise ValueError("gsread: listing buckets is not supported")
        out = None
        if not refresh:
            if path in self.dircache:
                out = self.dircache[path]
            else:
                cached = self._cached_info(path)
                if cached is not None and cached["type"] == "file":
                    out = [cached]
        if out is None:
            out = self._list_dir(path)
            if not out and _split(path)[1]:
                out = [self.info(path)]  # a file, or FileNotFoundError
                if out[0]["type"] == "directory":
                    out = []
        return list(out) if detail else [o["name"] for o in out]

    def _walk_cache(self, path):
        """Everything under path from the listing cache: (files, dirs) as
        {name: info}, or None unless path and every directory under it are
        in the cache."""
        files, dirs, todo = {}, {}, [path]
        while todo:
            try:
                listing = self.dircache[todo.pop()]
            except KeyError:
                return None
            for e in listing:
                if e["type"] == "directory":
                    dirs[e["name"]] = e
                    todo.append(e["name"])
                else:
                    files[e["name"]] = e
        return files, dirs

    def _walk_listing(self, path):
        """Everything under path from one recursive (paged) listing, which
        fills the listing cache for path and every directory in it:
        (files, dirs) as {name: info}."""
        bucket, key = _split(path)
        prefix = key + "/" if key else ""
        try:
            entries = self.client.list(_gs_url(bucket + "/" + prefix), recursive=True)
        except FileNotFoundError:
            entries = []
        files, dirs, children = {}, {}, {}

        def add_dir(d):
            # d and every directory between it and path.
            while d != path and d not in dirs:
                dirs[d] = _dir_info(d)
                par = self._parent(d)
                children.setdefault(par, []).append(dirs[d])
                d = par

        for e in entries:
            full = bucket + "/" + e["name"]
            if e["name"].endswith("/"):  # a directory placeholder object
                if full.rstrip("/") != path:
                    add_dir(full.rstrip("/"))
                continue
            inf = _object_info(bucket, e["name"], e)
            files[full] = inf
            par = self._parent(full)
            children.setdefault(par, []).append(inf)
            if par != path:
                add_dir(par)
        if entries:
            for d in [path] + list(dirs):
                self.dircache[d] = sorted(children.get(d, []), key=lambda i: i["name"])
        return files, dirs

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """Every object under path: from the listing cache if it holds the
        whole tree, else one recursive (paged) listing, which fills it."""
        path = self._strip_protocol(path)
        key = _split(path)[1]
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        walked = None if kwargs.get("refresh") else self._walk_cache(path)
        files, dirs = walked if walked is not None else self._walk_listing(path)
        depth = path.count("/") + 1 if path else 0

        def within(n):
            return maxdepth is None or n.count("/") + 1 - depth <= maxdepth

        out = {n: i for n, i in files.items() if within(n)}
        if withdirs:
            out.update((n, i) for n, i in dirs.items() if within(n))
            if files or dirs or not key:
                out[path] = _dir_info(path)  # as fsspec's: the root too
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
        mtime = self.info(path).get("mtime")
        if mtime is None:
            raise NotImplementedError("no update time")
        return mtime

    # -- bytes
    def _read_ranges(self, paths, starts, ends):
        """THE vectored read: every (path, start, end) at once, each a
        bytes or the exception it failed with. Distinct objects are opened
        concurrently; the ranges go to the C extension's read_ranges: one
        gsr_read_ranges_files call for all objects (each object's ranges
        joined by cost, every object's spans fetched under one width: the
        filesystem's concurrency, else chosen from the plans), the GIL
        released."""
        unique = list(dict.fromkeys(paths))
        conc = self._file_defaults["concurrency"]
        extra = {"concurrency": int(conc)} if conc else {}

        def op(p):
            try:
                return self.client.open(
                    _gs_url(p), cache_type="none", prefetch="off", **extra
                )
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
        glob, recursive), as {path: bytes}, like fsspec's. A prefix with
        recursive=True gives the objects under it (its directories hold
        no bytes), as gcsfs."""
        paths = self.expand_path(path, recursive=recursive)
        if recursive:
            paths = [p for p in paths if not self.isdir(p)]
        if (
            len(paths) != 1
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
        use_experimental_adaptive_prefetching=None,
        **kwargs,
    ):
        if mode != "rb":
            fs = self._writer(f"open(mode={mode!r})")
            self.invalidate_cache(self._strip_protocol(path))
            return fs._open(
                self._strip_protocol(path),
                mode=mode,
                block_size=block_size,
                autocommit=autocommit,
                cache_options=cache_options,
                **kwargs,
            )
        cache_options = cache_options or {}
        opts = self._options(
            cache_type=cache_type,
            block_size=block_size,
            prefetch=prefetch,
            concurrency=concurrency,
            max_blocks=cache_options.get("maxblocks"),
            use_experimental_adaptive_prefetching=(
                use_experimental_adaptive_prefetching
            ),
        )
        parts = cache_options.get("data") if cache_type == "parts" else None
        return GsreadFile(self, self._strip_protocol(path), opts, parts=parts)

    # -- writes: gcsfs's, when installed
    def _writer(self, what):
        """The gcsfs filesystem that does this one's writes (same
        credentials and endpoint), made at the first write;
        WritesNeedGcsfs if gcsfs is not installed."""
        fs = self.__dict__.get("_gcsfs")
        if fs is None:
            gcsfs = _gcsfs_module()
            if gcsfs is None:
                raise WritesNeedGcsfs(_writes_hint(what))
            fs = gcsfs.GCSFileSystem(**self._gcsfs_opts)
            self.__dict__["_gcsfs"] = fs
        return fs


for _name in WRITES:
    setattr(GsreadFileSystem, _name, _write_method(_name))


def writes_backend():
    """Who does gs:// writes: "gcsfs VERSION", or None (not installed)."""
    gcsfs = _gcsfs_module()
    if gcsfs is None:
        return None
    return f"gcsfs {getattr(gcsfs, '__version__', '(unknown version)')}"


def register_gs():
    """Makes gs:// (and gcs://) URLs use gsread, from now on in this process,
    in place of gcsfs. gsread:// works without it. Reads go through gsread;
    writes go to gcsfs if it is installed, else raise WritesNeedGcsfs.
    Returns (and logs, at INFO on the "gsread" logger) a line saying which
    it did."""
    fsspec.register_implementation("gs", GsreadFileSystem, clobber=True)
    fsspec.register_implementation("gcs", GsreadFileSystem, clobber=True)
    w = writes_backend()
    if w is None:
        msg = (
            "gs:// and gcs:// now read through gsread; writes raise "
            "WritesNeedGcsfs (gcsfs is not installed: pip install gcsfs "
            "to write through it)"
        )
    else:
        msg = f"gs:// and gcs:// now read through gsread; writes go to {w}"
    logger.info(msg)
    return msg


fsspec.register_implementation("gsread", GsreadFileSystem, clobber=True)


# ---- Files --------------------------------------------------------------------
def _unpickle_file(fs, path, opts, position, pin, closed, details, parts=None):
    # Lazy: the file reopens at its first use in this process, so that an
    # object replaced meanwhile is an ObjectChanged from that call, not a
    # failure to unpickle.
    f = GsreadFile.__new__(GsreadFile)
    f._setup(fs, path, opts, position, pin, closed, details, parts)
    return f


class FileCache:
    """What fsspec's f.cache answers (its name, blocksize, size and
    counters), from the C file's counters: the bytes are in the library's
    cache, not here."""

    def __init__(self, file):
        self._file = file
        self.name = file._opts.get("cache_type") or "none"
        self.blocksize = file.blocksize
        self.size = file.size

    def _stats(self):
        return self._file.stats()

    @property
    def hit_count(self):
        return self._stats()["hits"]

    @property
    def miss_count(self):
        return self._stats()["misses"]

    @property
    def total_requested_bytes(self):
        return self._stats()["bytes_fetched"]

    def __repr__(self):
        return (
            f"<gsread cache {self.name}: block size {self.blocksize}, "
            f"size {self.size}>"
        )


class GsreadFile(io.BufferedIOBase):
    """A gsread object open for reading: read, readinto (into the caller's
    buffer), readline and iteration, seek, tell, close, with. Pinned at open
    to the object's generation: if it is replaced, reads raise
    ObjectChanged. Pickles by path, position and generation; used in another
    process (forked or unpickled), it reopens there, at that position, and
    raises ObjectChanged if the object changed meanwhile."""

    def __init__(self, fs, path, opts, parts=None):
        super().__init__()
        self._setup(fs, path, opts, 0, None, False, None, parts)

    def _setup(self, fs, path, opts, position, pin, closed, details, parts=None):
        self.fs, self.path, self.mode = fs, path, "rb"
        self._opts = opts
        # cache_type "parts": {(start, stop): bytes} known already, served
        # from here; anything else is read from the object.
        self._parts = (
            sorted((int(a), int(b), v) for (a, b), v in parts.items())
            if parts
            else None
        )
        self.blocksize = opts.get("block_size")
        self._f = None
        self._pid = None
        self._pos = position
        self._pin = pin
        # Opened from a listing and no byte read yet: see _retry_changed.
        self._listed = False
        if closed:
            super().close()
            return
        if details is None:
            self._reopen()
        else:
            self.details, self.size = details, details["size"]
        _live_files.add(self)

    def _reopen(self, listing=True):
        """Opens the C file here: a first open from a listing when one
        holds the object (no request), else (and to check a pin) asking
        the server."""
        info = None
        if listing and self._pin is None:
            info = self.fs._open_info(self.path)
        if info is not None:
            f = self.fs.client.open(
                _gs_url(self.path), listed=_listed_entry(info), **self._opts
            )
            st = f.stat()
            self._pin = (st["generation"], st["etag"])
            self.size = st["size"]
            self.details = dict(info)
            self._f, self._pid, self._listed = f, _proc.pid, True
            if self._pos:
                f.seek(self._pos)
            return
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
        self._f, self._pid, self._listed = f, _proc.pid, False

    def _retry_changed(self, call, *args):
        """call(C file, *args), a read. A file opened from a listing that
        has read no byte yet, whose object was replaced or deleted since
        the listing (ObjectChanged: its generation is gone), reopens once
        asking the server and reads the object there is now: nothing of
        the old one was delivered, so nothing mixes; the stale listing is
        dropped. Once a byte came, the pin holds as for any open."""
        try:
            got = call(self._f, *args)
        except ObjectChanged:
            if not self._listed:
                raise
            self.fs.invalidate_cache(self.fs._parent(self.path))
            self._pos = self._f.tell()
            self._f.close()
            self._pin = None
            self._reopen(listing=False)
            got = call(self._f, *args)
        if got:
            self._listed = False
        return got

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
                {(a, b): v for a, b, v in self._parts} if self._parts else None,
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
        if self._parts is not None:
            got = self._from_parts(size)
            if got is not None:
                return got
        # One bytes of the right size, filled in place by the library; a
        # read to the end lands straight in it, past the cache.
        if self._listed:
            return self._retry_changed(type(self._f).read, -1 if size is None else size)
        return self._f.read(-1 if size is None else size)

    read1 = read

    def _from_parts(self, size):
        """A read that one known part holds (cache_type "parts"), or None."""
        pos = self._f.tell()
        end = self.size if size is None or size < 0 else min(pos + size, self.size)
        for a, b, v in self._parts:
            if a <= pos and end <= b:
                self._f.seek(end)
                return v[pos - a : end - a]
        return None

    def readinto(self, b):
        if self._pid != _proc.pid:
            self._h()
        if self._listed:
            return self._retry_changed(type(self._f).readinto, b)
        return self._f.readinto(b)

    readinto1 = readinto

    def _read_until(self, char, limit, step):
        """Bytes from the position up to and including char (or limit
        bytes, or the end), read ahead in growing steps with pread; the
        position moves past them."""
        f = self._h()
        pos = f.tell()
        chunks, got, scan = [], 0, b""
        while limit < 0 or got < limit:
            want = step if limit < 0 else min(step, limit - got)
            data = self._retry_changed(type(f).pread, want, pos + got)
            f = self._f  # reopened if the listing was stale
            if not data:
                break
            # char may straddle two reads: search the tail kept from before.
            hay = scan + data
            i = hay.find(char)
            if i >= 0:
                data = data[: i - len(scan) + len(char)]
            chunks.append(data)
            got += len(data)
            if i >= 0:
                break
            scan = hay[-(len(char) - 1) :] if len(char) > 1 else b""
            step = min(step * 2, MiB)
        f.seek(pos + got)
        return b"".join(chunks)

    def readline(self, size=-1):
        return self._read_until(b"\n", -1 if size is None else size, 8192)

    def readuntil(self, char=b"\n", blocks=None):
        """fsspec's: the bytes up to and including char (or to the end)."""
        if not char:
            raise ValueError("readuntil: char must not be empty")
        return self._read_until(char, -1, blocks or 8192)

    def seek(self, offset, whence=0):
        """As io.BytesIO: a negative position from the start is a
        ValueError, from the position or the end it stops at 0."""
        if whence not in (0, 1, 2):
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        f = self._h()
        if whence == 0 and offset < 0:
            raise ValueError(f"negative seek value {offset}")
        base = 0 if whence == 0 else f.tell() if whence == 1 else self.size
        return f.seek(max(0, base + offset))

    def info(self):
        """gcsfs's f.info(): the object's info, as read at open."""
        return self.details

    @property
    def cache(self):
        return FileCache(self)

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
