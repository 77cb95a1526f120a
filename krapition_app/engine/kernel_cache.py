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
    """Where numba keeps the package's kernels: beside the sources, and under NUMBA_CACHE_DIR."""
    dirs = [package / "__pycache__"]
    root = os.environ.get("NUMBA_CACHE_DIR")
    if root:
        dirs.append(Path(root))
    return dirs


def ensure_fresh(package: Path, name: str) -> bool:
    """Deletes the package's cached kernels if its sources changed since they were compiled (the
    stamp ``krapition-<name>.stamp`` keeps the digest they were compiled from). Returns True when
    something was deleted. Never raises: a cache problem only costs compile time."""
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
                for f in directory.rglob("*.nb[ic]"):
                    if f.name.split(".", 1)[0] in modules and package.name in f.parent.parts:
                        f.unlink(missing_ok=True)
                        dropped = True
            directory.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest + "\n")
        except OSError:
            continue
    return dropped
