"""numba's kernel cache for the frozen (PyInstaller) Krapition bundle.

A bundle holds bytecode, not ``.py`` files, so numba's own locators either refuse to cache (the
source file does not exist) or key the cache on the bundle's absolute path and on the executable's
mtime. This locator, chosen through ``NUMBA_CACHE_LOCATOR_CLASSES`` by the bundle's runtime hook:

- keeps kernels under ``NUMBA_CACHE_DIR`` (the user cache folder, set by ``krapition_app.cli``),
  in a folder named after the module's path *inside* the bundle, so moving or copying the bundle
  keeps the cache valid;
- stamps them with the bundle's build id (a digest of the app's sources and of the numba, llvmlite,
  numpy and Python versions, written by ``packaging/pyinstaller.spec``), so a new build recompiles.

It never refuses: an unwritable cache folder falls back to one in the temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from numba.core import config
from numba.core.caching import _CacheLocator

BUILD_ID_FILE = "krapition-build-id"


def bundle_root() -> Path:
    return Path(getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(sys.executable))))


def build_id() -> str:
    try:
        return (bundle_root() / BUILD_ID_FILE).read_text(encoding="ascii").strip()
    except OSError:  # not built by our spec: fall back to the executable's identity
        st = os.stat(sys.executable)
        return f"exe-{st.st_size}-{st.st_mtime_ns}"


def relative_source(py_file: str) -> str:
    """The module's path inside the bundle (``krapition_app/engine/physics/solver.py``)."""
    path = py_file.replace("\\", "/")
    root = str(bundle_root()).replace("\\", "/").rstrip("/") + "/"
    if path.startswith(root):
        path = path[len(root):]
    return path.lstrip("/")


class BundleCacheLocator(_CacheLocator):
    def __init__(self, py_func, py_file: str) -> None:
        self._lineno = py_func.__code__.co_firstlineno
        folder = os.path.dirname(relative_source(py_file))
        # a folder of its own: a source checkout's stamp check (krapition_app.engine.kernel_cache)
        # prunes only the folders numba names after that checkout's package paths
        self._subpath = os.path.join("bundle", hashlib.sha1(folder.encode()).hexdigest()[:20])
        self._cache_path = os.path.join(config.CACHE_DIR or self._fallback_root(), self._subpath)

    @staticmethod
    def _fallback_root() -> str:
        user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
        return os.path.join(tempfile.gettempdir(), f"krapition-numba-{user}")

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return build_id()

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file: str) -> BundleCacheLocator:
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            self._cache_path = os.path.join(self._fallback_root(), self._subpath)
            self.ensure_cache_path()
        return self
