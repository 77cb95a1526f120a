"""Test set-up shared by the whole suite.

Every test runs with KRAPITION_HOME in a temporary folder, so no test reads or writes the real
user folders (logs, data, settings).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def krapition_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("krapition-home")
    monkeypatch.setenv("KRAPITION_HOME", str(home))
    return home


def pytest_configure(config: pytest.Config) -> None:
    # numba's cache goes beside the sources unless told otherwise; keep it out of the tree
    os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".venv" / "numba-cache"))
    # the app's own OpenGL set-up, before pytest-qt creates the QApplication
    from krapition_app.app import configure_opengl

    configure_opengl()
