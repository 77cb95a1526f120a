"""The kernel cache is dropped when the physics sources change (numba alone would miss inlined edits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.engine.physics import cache


def test_stale_kernels_are_dropped_and_fresh_ones_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    kernel_dir = tmp_path / "krapition_app" / "engine" / "physics"
    kernel_dir.mkdir(parents=True)
    stale = kernel_dir / "solver.solve_contacts-237.py311.nbi"
    stale.write_bytes(b"old")
    other = tmp_path / "elsewhere" / "mixer.render-10.py311.nbi"  # another package's kernel
    other.parent.mkdir()
    other.write_bytes(b"keep")
    (tmp_path / "krapition-physics.stamp").write_text("an old digest\n")
    assert cache.ensure_fresh() is True
    assert not stale.exists() and other.exists()
    assert (tmp_path / "krapition-physics.stamp").read_text().strip() == cache.source_digest()
    fresh = kernel_dir / "solver.solve_contacts-237.py311.nbc"
    fresh.write_bytes(b"new")
    assert cache.ensure_fresh() is False
    assert fresh.exists()


def test_a_frozen_bundle_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's kernels are its own (stamped with the build id) and its folder may be read-only."""
    import sys

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    kernel = tmp_path / "krapition_app" / "engine" / "physics" / "solver.solve_contacts-237.py311.nbi"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"bundled")
    (tmp_path / "krapition-physics.stamp").write_text("the build's digest\n")
    assert cache.ensure_fresh() is False
    assert kernel.read_bytes() == b"bundled"
    assert (tmp_path / "krapition-physics.stamp").read_text() == "the build's digest\n"
