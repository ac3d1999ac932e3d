"""The build backend of `pip install ./python` (pyproject.toml): setuptools'
own, taken from the Python that runs pip (Debian's python3-setuptools),
never fetched from PyPI, so that the install works offline. pip's isolated
build environment hides that setuptools: there the build fails at once
with the command that works (docs/python.md), instead of failing to reach
PyPI."""

HINT = (
    "gsread's Python package builds offline with Debian's setuptools, which "
    "pip's isolated build environment hides. Install it with:\n"
    "    /usr/bin/python3 -m venv --system-site-packages ~/gsread-venv\n"
    "    ~/gsread-venv/bin/pip install --no-build-isolation --no-index ./python\n"
    "(scripts/install-deps.sh installs python3-setuptools; see docs/python.md)"
)

try:
    from setuptools import build_meta as _setuptools
except ImportError:
    _setuptools = None


def _backend():
    if _setuptools is None:
        raise RuntimeError(HINT)
    return _setuptools


def get_requires_for_build_wheel(config_settings=None):
    return _backend().get_requires_for_build_wheel(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _backend().prepare_metadata_for_build_wheel(
        metadata_directory, config_settings
    )


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _backend().build_wheel(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_sdist(config_settings=None):
    return _backend().get_requires_for_build_sdist(config_settings)


def build_sdist(sdist_directory, config_settings=None):
    return _backend().build_sdist(sdist_directory, config_settings)
