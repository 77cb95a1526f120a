"""One registry of user actions feeds the menus and the shortcuts (as napari's action manager).

An action is declared once with its menu, text and shortcut; the window binds it to a handler
method of the same name. Adding an action is one entry here plus its handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtGui, QtWidgets

Key = QtGui.QKeySequence.StandardKey


@dataclass(frozen=True, slots=True)
class ActionSpec:
    #: also the name of the window's handler method
    id: str
    menu: str
    text: str
    tip: str
    shortcut: Key | str | None = None
    checkable: bool = False
    #: a separator goes before this action in its menu
    separator_before: bool = False


MENUS: tuple[str, ...] = ("&File", "&View", "&Help")

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_scene", "&File", "&Open Scene…", "Open a scene file", Key.Open),
    ActionSpec("save_scene_as", "&File", "Save Scene &As…", "Save the scene to a file", Key.SaveAs),
    ActionSpec("save_screenshot", "&File", "Save &Screenshot…", "Save a PNG of the 3D view", "F12",
               separator_before=True),
    ActionSpec("quit", "&File", "&Quit", "Quit Krapition", Key.Quit, separator_before=True),
    ActionSpec("reset_camera", "&View", "&Reset Camera", "Look at the whole scene again", "Home"),
    ActionSpec("toggle_full_screen", "&View", "&Full Screen", "Fill the screen with the window",
               "F11", checkable=True),
    ActionSpec("show_about", "&Help", "&About Krapition", "Version, folders and renderer"),
    ActionSpec("open_log_folder", "&Help", "Open &Log Folder", "Show the folder with the log files"),
)


def build_actions(window: QtWidgets.QMainWindow) -> dict[str, QtGui.QAction]:
    """Creates every action, connects it to ``window.<id>`` and puts it in the menu bar."""
    menus = {title: window.menuBar().addMenu(title) for title in MENUS}
    actions: dict[str, QtGui.QAction] = {}
    for spec in ACTIONS:
        action = QtGui.QAction(spec.text, window)
        action.setObjectName(spec.id)
        action.setStatusTip(spec.tip)
        action.setToolTip(spec.tip)
        if spec.shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(spec.shortcut))
        action.setCheckable(spec.checkable)
        handler = getattr(window, spec.id)
        if spec.checkable:
            action.toggled.connect(handler)
        else:
            action.triggered.connect(lambda _checked=False, h=handler: h())
        if spec.id == "quit":
            action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
        elif spec.id == "show_about":
            action.setMenuRole(QtGui.QAction.MenuRole.AboutRole)
        if spec.separator_before:
            menus[spec.menu].addSeparator()
        menus[spec.menu].addAction(action)
        actions[spec.id] = action
    return actions
