"""gsread for Python: Google Cloud Storage through gsread's C engine.

    import gsread, fsspec
    fs = fsspec.filesystem("gsread")          # gsread://bucket/object
    with fs.open("gsread://bkt/data.csv") as f:
        head = f.read(1 << 20)

    import pandas as pd
    pd.read_csv("gsread://bkt/data.csv")

    gsread.register_gs()                      # gs:// too, from now on
                                              # (writes: gcsfs, if installed)

GsreadFileSystem is an fsspec filesystem (protocol "gsread", registered at
import and through the "fsspec.specs" entry point). Its files read through
libgsread: one client and its I/O threads per process, concurrent ranged reads, gsread's
caches and prefetcher, every object pinned to its generation. See
docs/python.md for the options, the errors and how it behaves in Dask.

Errors: FileNotFoundError, PermissionError, ValueError, OSError with an
errno (TimeoutError, ConnectionAbortedError...), and ObjectChanged (an
OSError, errno ESTALE) when an object is replaced under an open file. Each
carries .gsr_status, the library's code ("GSR_ENOENT").
"""
from ._gsread import ObjectChanged, library_version
from .fs import (
    GsreadFile,
    GsreadFileSystem,
    WritesNeedGcsfs,
    register_gs,
    writes_backend,
)

__version__ = library_version
__all__ = [
    "GsreadFileSystem",
    "GsreadFile",
    "ObjectChanged",
    "WritesNeedGcsfs",
    "register_gs",
    "writes_backend",
    "__version__",
]
