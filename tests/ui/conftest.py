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
def make_window(qtbot, tmp_path, windows):
    """Opens a main window (the playground unless a scene is given) with its settings in tmp_path;
    every window of a test shares them, as two starts of the app would."""
    from PySide6 import QtCore

    from krapition_app.app import load_start_scene
    from krapition_app.paths import AppPaths
    from krapition_app.ui.main_window import MainWindow

    ini = str(tmp_path / "ui.ini")

    def make(scene=None, *, physics: bool = True):
        start, path = load_start_scene(None)
        w = MainWindow(scene or start, None if scene else path, AppPaths.default(),
                       QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat), physics=physics)
        windows.append(w)
        w.show()
        qtbot.waitExposed(w)
        return w

    return make


@pytest.fixture(autouse=True, scope="session")
def collect_garbage_on_the_gui_thread():
    """As the app does: Python's cyclic GC must not run on the physics or audio threads, where
    collecting a Qt object aborts the process. Tests collect at their end, on the main thread."""
    import gc

    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def collect_after_each_test():
    import gc

    yield
    gc.collect()


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
