"""pip install of gsread's Python package (docs/python.md):

    /usr/bin/python3 -m venv --system-site-packages ~/gsread-venv
    ~/gsread-venv/bin/pip install --no-build-isolation --no-index ./python

Offline, with Debian's packages (fsspec, setuptools, wheel): the library is
built by the project's CMake (its static archive, in pip's build directory)
and linked into the extension, so nothing else needs installing: neither
libfuse3 (the mount is the CLI's) nor ninja (make does, if ninja is absent).
The CLI is not part of it: docs/python.md says how to get `gsread`.
"""
import os
import re
import shlex
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("GSREAD_SOURCE_DIR", os.path.dirname(HERE))


def version():
    with open(os.path.join(ROOT, "include", "gsread.h")) as f:
        return re.search(r'#define GSR_VERSION_STRING "([^"]+)"', f.read()).group(1)


class BuildWithCMake(build_ext):
    """Builds libgsread.a with the project's CMake, then the extension."""

    def build_extension(self, ext):
        bdir = os.path.join(os.path.abspath(self.build_temp), "libgsread")
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        subprocess.check_call(
            ["cmake", "-S", ROOT, "-B", bdir]
            + generator
            + ["-DCMAKE_BUILD_TYPE=Release", "-DGSR_BUILD_TESTS=OFF"]
        )
        subprocess.check_call(
            ["cmake", "--build", bdir, "--target", "gsread_static", "--parallel"]
        )
        libs = subprocess.check_output(
            ["pkg-config", "--libs", "libcurl", "json-c", "libisal", "libcrypto"]
            + ["libnghttp2", "libprotobuf-c", "libssl"],
            text=True,
        )
        ext.include_dirs.append(os.path.join(ROOT, "include"))
        ext.extra_objects.append(os.path.join(bdir, "libgsread.a"))
        ext.extra_link_args += shlex.split(libs) + ["-pthread"]
        super().build_extension(ext)


setup(
    name="gsread",
    version=version(),
    description="Google Cloud Storage for Python through gsread's C engine "
    "(an fsspec filesystem)",
    packages=["gsread"],
    package_dir={"gsread": os.path.relpath(os.path.join(HERE, "gsread"))},
    ext_modules=[
        Extension(
            "gsread._gsread",
            [os.path.relpath(os.path.join(HERE, "gsread", "_gsread.c"))],
            extra_compile_args=["-std=c11", "-D_GNU_SOURCE"],
        )
    ],
    cmdclass={"build_ext": BuildWithCMake},
    install_requires=["fsspec>=2022.11"],
    python_requires=">=3.9",
    entry_points={"fsspec.specs": ["gsread = gsread.fs:GsreadFileSystem"]},
    license="MIT",
)
