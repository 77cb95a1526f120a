"""Keeps numba's on-disk cache of the physics kernels honest (see :mod:`..kernel_cache`)."""

from __future__ import annotations

from pathlib import Path

from .. import kernel_cache

# as imported, not resolved: numba names its cache folder after the path the module was loaded from
_PACKAGE = Path(__file__).absolute().parent


def source_digest() -> str:
    return kernel_cache.source_digest(_PACKAGE)


def ensure_fresh() -> bool:
    """Deletes the cached physics kernels if the sources changed since they were compiled."""
    return kernel_cache.ensure_fresh(_PACKAGE, "physics")
