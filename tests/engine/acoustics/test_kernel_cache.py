"""A change to any acoustics source drops the package's cached kernels: the fused block kernel in
mixer.py compiles in synth.py and voices.py, and numba alone checks only mixer.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.engine import kernel_cache
from krapition_app.engine.acoustics import synth

ACOUSTICS = Path(synth.__file__).absolute().parent
PHYSICS = ACOUSTICS.parent / "physics"


def test_stale_audio_kernels_are_dropped_and_other_packages_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    audio = kernel_cache.cache_dirs(ACOUSTICS)[-1]
    physics = kernel_cache.cache_dirs(PHYSICS)[-1]
    audio.mkdir(parents=True)
    physics.mkdir(parents=True)
    stale = audio / "mixer.mix_block-290.py311.nbi"
    stale.write_bytes(b"built before synth.py changed")
    other = physics / "solver.solve_contacts-237.py311.nbi"
    other.write_bytes(b"keep")
    (audio / "krapition-acoustics.stamp").write_text("the digest of older sources\n")
    assert kernel_cache.ensure_fresh(ACOUSTICS, "acoustics") is True
    assert not stale.exists() and other.exists()
    stamp = (audio / "krapition-acoustics.stamp").read_text().strip()
    assert stamp == kernel_cache.source_digest(ACOUSTICS)
    fresh = audio / "mixer.mix_block-290.py311.nbc"
    fresh.write_bytes(b"new")
    assert kernel_cache.ensure_fresh(ACOUSTICS, "acoustics") is False
    assert fresh.exists()


def test_the_digest_covers_every_module_of_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mixer.py").write_text("x = 1\n")
    (package / "synth.py").write_text("y = 1\n")
    before = kernel_cache.source_digest(package)
    (package / "synth.py").write_text("y = 2\n")  # only the inlined helper changes
    assert kernel_cache.source_digest(package) != before
