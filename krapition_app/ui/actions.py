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
    #: the window method called, when it is not ``id`` (several actions can share one)
    handler: str | None = None
    #: passed to the handler (the handler of a checkable action gets ``checked`` instead)
    argument: str | None = None
    #: put in this submenu of ``menu``
    submenu: str | None = None
    #: checkable actions of one group exclude each other
    group: str | None = None


MENUS: tuple[str, ...] = ("&File", "&Edit", "&View", "&Simulation", "S&ession", "&Help")

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("new_scene", "&File", "&New Scene", "Start from an empty world", Key.New),
    ActionSpec("open_scene", "&File", "&Open Scene…", "Open a scene file", Key.Open),
    ActionSpec("save_scene", "&File", "&Save Scene", "Save the scene to its file", Key.Save),
    ActionSpec("save_scene_as", "&File", "Save Scene &As…", "Save the scene to a file", Key.SaveAs),
    ActionSpec("export_audio", "&File", "&Export Audio…",
               "Render the next seconds of the world, as heard from the camera, to a WAV file",
               separator_before=True),
    ActionSpec("save_screenshot", "&File", "Save &Screenshot…", "Save a PNG of the 3D view", "F12"),
    ActionSpec("quit", "&File", "&Quit", "Quit Krapition", Key.Quit, separator_before=True),
    ActionSpec("undo", "&Edit", "&Undo", "Undo the last change to the world", Key.Undo),
    ActionSpec("redo", "&Edit", "&Redo", "Redo what was undone", Key.Redo),
    ActionSpec("reset_camera", "&View", "&Reset Camera", "Look at the whole scene again", "Home"),
    ActionSpec("toggle_full_screen", "&View", "&Full Screen", "Fill the screen with the window",
               "F11", checkable=True),
    ActionSpec("toggle_fps_overlay", "&View", "Show &FPS", "Frames per second over the 3D view",
               "Ctrl+Shift+F", checkable=True),
    ActionSpec("theme_system", "&View", "Follow the &System", "Light or dark as the system is",
               handler="set_theme", argument="system", submenu="&Theme", group="theme", checkable=True),
    ActionSpec("theme_light", "&View", "&Light", "A light theme", handler="set_theme", argument="light",
               submenu="&Theme", group="theme", checkable=True),
    ActionSpec("theme_dark", "&View", "&Dark", "A dark theme", handler="set_theme", argument="dark",
               submenu="&Theme", group="theme", checkable=True),
    ActionSpec("toggle_pause", "&Simulation", "&Pause", "Stop the clock of the world", "Space",
               checkable=True),
    ActionSpec("single_step", "&Simulation", "Single &Step", "One step forward (pauses)", "."),
    ActionSpec("toggle_slow_motion", "&Simulation", "S&low Motion", "Run the world at a quarter speed",
               "Ctrl+M", checkable=True),
    ActionSpec("delete_selected", "&Simulation", "&Delete Body", "Remove the selected body", Key.Delete,
               separator_before=True),
    ActionSpec("drop_balls", "&Simulation", "Drop &100 Balls", "Rain 100 rubber balls on the world",
               "Ctrl+1", argument="100"),
    ActionSpec("drop_balls_1000", "&Simulation", "Drop 1,&000 Balls", "Rain 1,000 balls on the world",
               "Ctrl+2", handler="drop_balls", argument="1000"),
    ActionSpec("reset_scene", "&Simulation", "&Reset Scene", "Back to how the scene was loaded", "Ctrl+R",
               separator_before=True),
    ActionSpec("connect_to_address", "S&ession", "&Connect to Address…",
               "Dial a node by host:port (where the LAN's discovery does not reach it)"),
    ActionSpec("join_session", "S&ession", "&Join Session…",
               "Join the LAN session again, optionally with a passphrase (only nodes that know it answer)",
               separator_before=True),
    ActionSpec("leave_session", "S&ession", "&Leave Session",
               "Hand your bodies over to the other nodes, then stop talking to them; your world keeps "
               "running alone"),
    ActionSpec("handover_round_robin", "S&ession", "&Round Robin", "Hand bodies over to the peers in turn",
               checkable=True, submenu="&Hand-over Strategy", group="handover",
               handler="set_handover_strategy", argument="round_robin"),
    ActionSpec("handover_least_loaded", "S&ession", "&Least Loaded",
               "Hand bodies over to the least loaded peers first (their heartbeats tell their load)",
               checkable=True, submenu="&Hand-over Strategy", group="handover",
               handler="set_handover_strategy", argument="least_loaded"),
    ActionSpec("handover_weighted", "S&ession", "&Weighted",
               "Hand bodies over at random by their weights (session/handover_weights in ui.ini)",
               checkable=True, submenu="&Hand-over Strategy", group="handover",
               handler="set_handover_strategy", argument="weighted"),
    ActionSpec("handover_adaptive", "S&ession", "&Adaptive",
               "Hand bodies over by load and round trip together", checkable=True,
               submenu="&Hand-over Strategy", group="handover", handler="set_handover_strategy",
               argument="adaptive"),
    ActionSpec("show_peers", "S&ession", "Show &Peers", "The nodes of the session, their state and bodies"),
    ActionSpec("show_events", "S&ession", "Show &Event Stream", "Every event of the session, live"),
    ActionSpec("show_about", "&Help", "&About Krapition", "Version, folders and renderer"),
    ActionSpec("open_log_folder", "&Help", "Open &Log Folder", "Show the folder with the log files"),
)


def build_actions(window: QtWidgets.QMainWindow) -> dict[str, QtGui.QAction]:
    """Creates every action, connects it to ``window.<id>`` and puts it in the menu bar."""
    menus = {title: window.menuBar().addMenu(title) for title in MENUS}
    submenus: dict[tuple[str, str], QtWidgets.QMenu] = {}
    groups: dict[str, QtGui.QActionGroup] = {}
    actions: dict[str, QtGui.QAction] = {}
    for spec in ACTIONS:
        action = QtGui.QAction(spec.text, window)
        action.setObjectName(spec.id)
        action.setStatusTip(spec.tip)
        action.setToolTip(spec.tip)
        if spec.shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(spec.shortcut))
        action.setCheckable(spec.checkable)
        handler = getattr(window, spec.handler or spec.id)
        if spec.group is not None:
            group = groups.get(spec.group)
            if group is None:
                group = groups[spec.group] = QtGui.QActionGroup(window)
                group.setExclusive(True)
            group.addAction(action)
            # only the action that becomes checked calls the handler, with its argument
            action.toggled.connect(lambda checked, h=handler, a=spec.argument: checked and h(a))
        elif spec.checkable:
            action.toggled.connect(handler)
        elif spec.argument is not None:
            action.triggered.connect(lambda _checked=False, h=handler, a=spec.argument: h(a))
        else:
            action.triggered.connect(lambda _checked=False, h=handler: h())
        if spec.id == "quit":
            action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
        elif spec.id == "show_about":
            action.setMenuRole(QtGui.QAction.MenuRole.AboutRole)
        menu = menus[spec.menu]
        if spec.submenu is not None:
            key = (spec.menu, spec.submenu)
            if key not in submenus:
                submenus[key] = menu.addMenu(spec.submenu)
            menu = submenus[key]
        if spec.separator_before:
            menu.addSeparator()
        menu.addAction(action)
        actions[spec.id] = action
    return actions
