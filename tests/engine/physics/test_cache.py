"""The kernel cache is dropped when the physics sources change (numba alone would miss inlined edits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.engine import kernel_cache
from krapition_app.engine.physics import cache

PHYSICS = Path(cache.__file__).absolute().parent


def _kernel_dir() -> Path:
    """The folder numba keeps the physics kernels in under NUMBA_CACHE_DIR."""
    return kernel_cache.cache_dirs(PHYSICS)[-1]


def test_stale_kernels_are_dropped_and_fresh_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    kernel_dir = _kernel_dir()
    kernel_dir.mkdir(parents=True)
    stale = kernel_dir / "solver.solve_contacts-237.py311.nbi"
    stale.write_bytes(b"old")
    other = tmp_path / "acoustics_0123" / "mixer.render-10.py311.nbi"  # another package's kernel
    other.parent.mkdir()
    other.write_bytes(b"keep")
    (kernel_dir / "krapition-physics.stamp").write_text("an old digest\n")
    assert cache.ensure_fresh() is True
    assert not stale.exists() and other.exists()
    assert (kernel_dir / "krapition-physics.stamp").read_text().strip() == cache.source_digest()
    fresh = kernel_dir / "solver.solve_contacts-237.py311.nbc"
    fresh.write_bytes(b"new")
    assert cache.ensure_fresh() is False
    assert fresh.exists()


def test_a_frozen_bundle_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's kernels are its own (stamped with the build id) and its folder may be read-only."""
    import sys

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    kernel = _kernel_dir() / "solver.solve_contacts-237.py311.nbi"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"bundled")
    (kernel.parent / "krapition-physics.stamp").write_text("the build's digest\n")
    assert cache.ensure_fresh() is False
    assert kernel.read_bytes() == b"bundled"
    assert (kernel.parent / "krapition-physics.stamp").read_text() == "the build's digest\n"
