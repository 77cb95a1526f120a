"""UI test fixtures: modal dialogs never block a test run; they are recorded instead."""

from __future__ import annotations

import pytest
from PySide6 import QtWidgets


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every message box a test opens, as (kind, title, text), without showing it."""
    shown: list[tuple[str, str, str]] = []
    for kind in ("warning", "critical", "information", "about", "question"):

        def record(_parent, title, text, *_rest, _kind=kind):
            shown.append((_kind, title, text))
            return QtWidgets.QMessageBox.StandardButton.Ok

        monkeypatch.setattr(QtWidgets.QMessageBox, kind, record)
    return shown


@pytest.fixture
def windows():
    """Main windows a test opens; each is closed at the end unless the test closed it (a closed main
    window deletes itself, so it must not be touched again)."""
    import shiboken6

    opened: list[QtWidgets.QWidget] = []
    yield opened
    for w in opened:
        if shiboken6.isValid(w):
            w.close()


@pytest.fixture
def artifacts():
    """A folder for pictures a person may want to look at after the run (build/ is git-ignored)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
