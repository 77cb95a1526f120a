"""Keeps numba's on-disk kernel cache honest, one kernel package at a time.

numba invalidates a cached kernel only when the file that defines it changes, not when a helper it
inlines from another module does (the fused audio kernel in ``mixer.py`` compiles in ``synth.py``
and ``voices.py``; the physics stepper inlines ``vecmath``). So a package stamps the cache with a
digest of all its sources and drops its cached kernels when the digest changes (an upgrade, a local
edit).

A frozen bundle (PyInstaller) is left alone: its sources cannot change, its kernels come from the
bundle's own cache (stamped with the build id by ``packaging/``), and its folder may be read-only.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def source_digest(package: Path) -> str:
    """SHA-256 over the names and bytes of the package's modules."""
    h = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_dirs(package: Path) -> list[Path]:
    """The folders numba keeps the package's kernels in: ``__pycache__`` beside the sources, and,
    when NUMBA_CACHE_DIR is set, the folder numba names there after the package's path:
    ``<folder name>_<SHA-1 of its absolute path>`` (numba's ``get_suitable_cache_subpath``)."""
    dirs = [package / "__pycache__"]
    root = os.environ.get("NUMBA_CACHE_DIR")
    if root:
        folder = os.path.abspath(package)  # as numba takes it from the module's file: not resolved
        dirs.append(Path(root) / f"{os.path.basename(folder)}_{hashlib.sha1(folder.encode()).hexdigest()}")
    return dirs


def ensure_fresh(package: Path, name: str) -> bool:
    """Deletes the package's cached kernels if its sources changed since they were compiled (the
    stamp ``krapition-<name>.stamp`` in each kernel folder keeps the digest they were compiled
    from). Returns True when something was deleted. Never raises: a cache problem only costs
    compile time."""
    if getattr(sys, "frozen", False):
        return False
    digest = source_digest(package)
    modules = {p.stem for p in package.glob("*.py")}
    stamp_name = f"krapition-{name}.stamp"
    dropped = False
    for directory in cache_dirs(package):
        try:
            stamp = directory / stamp_name
            if stamp.is_file() and stamp.read_text().strip() == digest:
                continue
            if directory.is_dir():
                for f in directory.glob("*.nb[ic]"):
                    if f.name.split(".", 1)[0] in modules:
                        f.unlink(missing_ok=True)
                        dropped = True
            directory.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest + "\n")
        except OSError:
            continue
    return dropped
