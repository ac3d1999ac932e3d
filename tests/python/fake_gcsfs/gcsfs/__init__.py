"""A stand-in for gcsfs in gsread's tests (Debian packages no gcsfs, and
the tests have no network): GCSFileSystem's write calls, done on the
stand-in server's data directory ($FAKE_GCSFS_ROOT/BUCKET/NAME), so that
gsread reads what was written back through the server. Each instance
records the options it was made with (MADE, and in $FAKE_GCSFS_LOG as
JSON lines, for a test to check the credentials and endpoint it got).
Only on sys.path where a test puts it (PYTHONPATH=.../fake_gcsfs)."""
import json
import os
import shutil

from fsspec.implementations.local import LocalFileSystem

__version__ = "0+fake"
MADE = []


class GCSFileSystem:
    def __init__(self, **options):
        MADE.append(options)
        log = os.environ.get("FAKE_GCSFS_LOG")
        if log:
            with open(log, "a") as f:
                f.write(json.dumps(options, sort_keys=True) + "\n")
        self.options = options
        self.root = os.environ["FAKE_GCSFS_ROOT"]
        self.local = LocalFileSystem(auto_mkdir=True)

    def _p(self, path):
        path = str(path)
        if "://" in path:
            path = path.split("://", 1)[1]
        return os.path.join(self.root, path.lstrip("/"))

    def _open(self, path, mode="rb", autocommit=True, **kwargs):
        return self.local._open(self._p(path), mode=mode, autocommit=autocommit)

    def pipe_file(self, path, value, **kwargs):
        p = self._p(path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(value)

    def pipe(self, path, value=None, **kwargs):
        items = path.items() if isinstance(path, dict) else [(path, value)]
        for k, v in items:
            self.pipe_file(k, v)

    def put_file(self, lpath, rpath, **kwargs):
        os.makedirs(os.path.dirname(self._p(rpath)), exist_ok=True)
        shutil.copyfile(lpath, self._p(rpath))

    put = put_file

    def rm_file(self, path):
        os.remove(self._p(path))

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        self.local.rm([self._p(p) for p in paths], recursive=recursive)

    def cp_file(self, path1, path2, **kwargs):
        os.makedirs(os.path.dirname(self._p(path2)), exist_ok=True)
        shutil.copyfile(self._p(path1), self._p(path2))

    copy = cp_file

    def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
        os.makedirs(os.path.dirname(self._p(path2)), exist_ok=True)
        os.replace(self._p(path1), self._p(path2))

    def mkdir(self, path, create_parents=True, **kwargs):
        pass  # as gcsfs: no directories inside a bucket

    def makedirs(self, path, exist_ok=False):
        pass

    def rmdir(self, path):
        pass

    def touch(self, path, truncate=True, **kwargs):
        self.pipe_file(path, b"")
