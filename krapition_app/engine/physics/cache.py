"""Keeps numba's on-disk kernel cache honest.

numba invalidates a cached kernel only when the file that defines it changes, not when a helper it
inlines from another module does. So this package stamps the cache with a digest of all its sources
and drops its cached kernels when the digest changes (an upgrade, a local edit).

A frozen bundle (PyInstaller) is left alone: its sources cannot change, its kernels come from the
bundle's own cache (stamped with the build id by ``packaging/``), and its folder may be read-only.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_STAMP = "krapition-physics.stamp"


def source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cache_dirs() -> list[Path]:
    dirs = [_PACKAGE / "__pycache__"]
    root = os.environ.get("NUMBA_CACHE_DIR")
    if root:
        dirs.append(Path(root))
    return dirs


def ensure_fresh() -> bool:
    """Deletes this package's cached kernels if the sources changed since they were compiled.
    Returns True when something was deleted. Never raises: a cache problem only costs compile time."""
    if getattr(sys, "frozen", False):
        return False
    digest = source_digest()
    modules = {p.stem for p in _PACKAGE.glob("*.py")}
    dropped = False
    for directory in _cache_dirs():
        try:
            stamp = directory / _STAMP
            if stamp.is_file() and stamp.read_text().strip() == digest:
                continue
            if directory.is_dir():
                for f in directory.rglob("*.nb[ic]"):
                    if f.name.split(".", 1)[0] in modules and "physics" in str(f.parent):
                        f.unlink(missing_ok=True)
                        dropped = True
            directory.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest + "\n")
        except OSError:
            continue
    return dropped
