from __future__ import annotations

from pathlib import Path

import pytest

from krapition_app.paths import AppPaths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    monkeypatch.setenv("KRAPITION_HOME", str(tmp_path / "home"))
    return AppPaths.default()
