"""The kernel-cache stamp finds numba's real cache folders: beside the sources and under
NUMBA_CACHE_DIR (where the app keeps them), with a real kernel compiled by numba."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core.caching import _CacheLocator

from krapition_app.engine import kernel_cache
from krapition_app.engine.physics import cache as physics_cache

KERNELS = '''
from numba import njit
from helper import SCALE

@njit(cache=True)
def scaled(x):
    return x * SCALE
'''


def _run(package: Path, cache_root: Path | None) -> str:
    """Imports the package in a fresh interpreter (stamp check first, as the app does), calls the
    kernel; prints its result."""
    code = (f"import sys; sys.path.insert(0, {str(package)!r}); from pathlib import Path\n"
            "from krapition_app.engine import kernel_cache\n"
            f"kernel_cache.ensure_fresh(Path({str(package)!r}), 'demo')\n"
            "import kernels; print(kernels.scaled(2.0))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    if cache_root is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_root)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("where", ["beside the sources", "NUMBA_CACHE_DIR"])
def test_an_edit_of_an_inlined_helper_is_not_served_from_the_stale_cache(tmp_path: Path, where: str) -> None:
    package = tmp_path / "demo"
    package.mkdir()
    (package / "kernels.py").write_text(KERNELS)
    (package / "helper.py").write_text("SCALE = 10.0\n")
    root = tmp_path / "numba-cache" if where == "NUMBA_CACHE_DIR" else None
    assert _run(package, root) == "20.0"
    with pytest.MonkeyPatch.context() as m:
        if root is None:
            m.delenv("NUMBA_CACHE_DIR", raising=False)
        else:
            m.setenv("NUMBA_CACHE_DIR", str(root))
        folders = kernel_cache.cache_dirs(package)
    folder = folders[-1]
    assert list(folder.glob("kernels.scaled-*.nbi")), f"numba cached the kernel elsewhere: {folder}"
    # numba checks only kernels.py: without the stamp it would keep serving SCALE = 10
    (package / "helper.py").write_text("SCALE = 100.0\n")
    assert _run(package, root) == "200.0"


def test_the_cache_folder_is_the_one_numba_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    package = Path(physics_cache.__file__).absolute().parent
    expected = tmp_path / _CacheLocator.get_suitable_cache_subpath(str(package / "solver.py"))
    assert kernel_cache.cache_dirs(package) == [package / "__pycache__", expected]
