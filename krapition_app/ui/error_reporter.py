"""Errors reach the user: an uncaught exception in any thread is logged and shown in a dialog.

The app never disappears silently. Python's ``sys.excepthook`` (which also sees exceptions raised
in Qt slots) and ``threading.excepthook`` both route here; the dialog is always opened on the GUI
thread, through a queued signal.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

from PySide6 import QtCore, QtGui, QtWidgets

log = logging.getLogger(__name__)
#: one dialog at a time; further errors while it is open are logged and counted in it
MAX_OPEN_DIALOGS = 1


class ErrorReporter(QtCore.QObject):
    _report = QtCore.Signal(str, str)

    def __init__(self, parent: QtWidgets.QWidget, log_folder: Path) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.log_folder = log_folder
        self.box: QtWidgets.QMessageBox | None = None
        self.reported = 0
        self._report.connect(self._show, QtCore.Qt.ConnectionType.QueuedConnection)
        self._previous = (sys.excepthook, threading.excepthook)

    def install(self) -> None:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def _sys_hook(self, kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous[0](kind, value, tb)
            return
        self.report(value, tb, where="main thread")

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread else "a thread"
        self.report(args.exc_value, args.exc_traceback, where=f"thread {name}")

    def report(self, error: BaseException, tb: TracebackType | None, *, where: str) -> None:
        """Logs the error with its traceback and asks the GUI thread to show it (any thread)."""
        details = "".join(traceback.format_exception(type(error), error, tb))
        log.error("uncaught exception", extra={"where": where, "error": repr(error), "traceback": details})
        self._report.emit(f"{type(error).__name__}: {error} (in the {where})", details)

    def _show(self, summary: str, details: str) -> None:
        self.reported += 1
        if self.box is not None and self.box.isVisible():
            self.box.setInformativeText(f"{self.reported} errors so far; all are in the log.")
            return
        box = QtWidgets.QMessageBox(self.parent_widget)
        box.setIcon(QtWidgets.QMessageBox.Icon.Critical)
        box.setWindowTitle("Krapition hit an error")
        box.setText(f"Something went wrong and was not handled:\n\n{summary}\n\n"
                    "The app keeps running; the details are in the log.")
        box.setDetailedText(details)
        open_logs = box.addButton("Open log folder", QtWidgets.QMessageBox.ButtonRole.ActionRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Close)
        open_logs.clicked.connect(self.open_log_folder)
        box.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        box.open()
        self.box = box

    def open_log_folder(self) -> None:
        self.log_folder.mkdir(parents=True, exist_ok=True)
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.log_folder)))
