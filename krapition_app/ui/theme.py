"""Light and dark themes for the Fusion style.

Qt follows the desktop's colour scheme where the platform reports one; where it does not (a bare
X server), an explicit palette still gives the user the theme they chose.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

THEMES = ("system", "light", "dark")
Role = QtGui.QPalette.ColorRole
Group = QtGui.QPalette.ColorGroup


def dark_palette() -> QtGui.QPalette:
    p = QtGui.QPalette()
    colours = {
        Role.Window: "#2b2d31", Role.WindowText: "#e6e6e6", Role.Base: "#1e1f22",
        Role.AlternateBase: "#26282b", Role.ToolTipBase: "#2b2d31", Role.ToolTipText: "#e6e6e6",
        Role.Text: "#e6e6e6", Role.Button: "#33353a", Role.ButtonText: "#e6e6e6",
        Role.BrightText: "#ff5555", Role.Link: "#6ea8ff", Role.Highlight: "#3d6fd9",
        Role.HighlightedText: "#ffffff", Role.PlaceholderText: "#8a8d93",
    }
    for role, colour in colours.items():
        p.setColor(role, QtGui.QColor(colour))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        p.setColor(Group.Disabled, role, QtGui.QColor("#6c6f75"))
    return p


def apply_theme(theme: str) -> None:
    """Applies ``theme`` ("system", "light" or "dark") to the whole application."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; themes: {', '.join(THEMES)}")
    app = QtWidgets.QApplication.instance()
    scheme = {"light": QtCore.Qt.ColorScheme.Light, "dark": QtCore.Qt.ColorScheme.Dark}.get(
        theme, QtCore.Qt.ColorScheme.Unknown)
    QtGui.QGuiApplication.styleHints().setColorScheme(scheme)
    if theme == "dark":
        app.setPalette(dark_palette())
    elif theme == "light" or QtGui.QGuiApplication.styleHints().colorScheme() != QtCore.Qt.ColorScheme.Dark:
        app.setPalette(app.style().standardPalette())
    else:  # the system says dark and the style already follows it
        app.setPalette(QtGui.QPalette())


def is_dark(palette: QtGui.QPalette) -> bool:
    return palette.color(Role.Window).lightness() < 128
