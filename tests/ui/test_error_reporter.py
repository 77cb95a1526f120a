import json
import threading

import pytest
from PySide6 import QtCore, QtWidgets

from krapition_app.logs import configure_logging
from krapition_app.ui.error_reporter import ErrorReporter

pytestmark = pytest.mark.gui


@pytest.fixture
def reporter(qtbot, tmp_path):
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    r = ErrorReporter(parent, tmp_path / "logs")
    r.install()
    yield r
    r.uninstall()


def test_an_exception_in_a_slot_shows_the_dialog_and_is_logged(qtbot, reporter, tmp_path):
    log_file = configure_logging(tmp_path / "logs")

    class Emitter(QtCore.QObject):
        fired = QtCore.Signal()

    emitter = Emitter()

    def broken_slot() -> None:
        raise RuntimeError("the slot broke")

    emitter.fired.connect(broken_slot)
    with qtbot.capture_exceptions():  # pytest-qt would otherwise fail the test on any slot error
        reporter.install()  # after pytest-qt's hook, as the app installs it after Qt starts
        emitter.fired.emit()
        qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
    box = reporter.box
    assert "RuntimeError: the slot broke" in box.text()
    assert "broken_slot" in box.detailedText()
    assert any(b.text() == "Open log folder" for b in box.buttons())
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    [record] = [r for r in records if r["message"] == "uncaught exception"]
    assert record["level"] == "ERROR" and "the slot broke" in record["traceback"]


def test_an_exception_in_a_thread_reaches_the_gui_thread(qtbot, reporter):
    def work() -> None:
        raise ValueError("worker failed")

    thread = threading.Thread(target=work, name="sim")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: reporter.box is not None and reporter.box.isVisible())
    assert "ValueError: worker failed (in the thread sim)" in reporter.box.text()
    # a second error while the dialog is open is counted, not stacked as another dialog
    reporter.report(KeyError("x"), None, where="main thread")
    qtbot.waitUntil(lambda: reporter.reported == 2)
    assert "2 errors so far" in reporter.box.informativeText()
