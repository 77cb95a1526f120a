"""The main window: the 3D viewport in the middle, menus from the action registry, a status bar."""

from __future__ import annotations

import logging
import platform
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..model.errors import SceneFormatError
from ..model.scene import Scene, load_scene, save_scene
from ..paths import AppPaths
from .actions import build_actions
from .metrics_dock import MetricsDock
from .overlay import FpsOverlay
from .theme import apply_theme
from .viewport import WorldViewport

log = logging.getLogger(__name__)
SCENE_FILTER = "Krapition scenes (*.json);;All files (*)"
MAX_RECENT = 8


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, scene: Scene, scene_path: Path | None, paths: AppPaths,
                 settings: QtCore.QSettings) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings
        self.scene = scene
        self.scene_path = scene_path
        self.viewport = WorldViewport()
        self.viewport_widget = self.viewport.container(self)
        self.setCentralWidget(self.viewport_widget)
        self.actions_by_id = build_actions(self)
        self._build_status_bar()
        self.viewport.framePainted.connect(self._on_frame)
        self.metrics_dock = self.add_dock(MetricsDock(self), QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.metrics_dock.hide()  # until the user opens it (View menu); then the layout is remembered
        self.fps_overlay: FpsOverlay | None = None
        self.recent_menu = self._build_recent_menu()
        self.resize(1280, 800)
        self.restore_layout()
        self._restore_view_settings()
        self.set_scene(scene, scene_path)

    # ---- docks --------------------------------------------------------------------------------

    def add_dock(self, dock: QtWidgets.QDockWidget, area: QtCore.Qt.DockWidgetArea) -> QtWidgets.QDockWidget:
        """Adds a hideable dock; its show/hide toggle goes in the View menu."""
        self.addDockWidget(area, dock)
        view_menu = self.menu_by_title("&View")
        if not any(a.objectName() == "docks_separator" for a in view_menu.actions()):
            view_menu.addSeparator().setObjectName("docks_separator")
        view_menu.addAction(dock.toggleViewAction())
        return dock

    def menu_by_title(self, title: str) -> QtWidgets.QMenu:
        for action in self.menuBar().actions():
            if action.text() == title and action.menu() is not None:
                return action.menu()
        raise KeyError(title)

    def restore_layout(self) -> None:
        """Window geometry and dock layout from the last session, if there was one."""
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QtCore.QByteArray):
            self.restoreState(state)

    # ---- state shown --------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.scene_label = QtWidgets.QLabel()
        self.bodies_label = QtWidgets.QLabel()
        self.frame_label = QtWidgets.QLabel("render: -")
        self.renderer_label = QtWidgets.QLabel("renderer: starting")
        for label in (self.scene_label, self.bodies_label, self.frame_label, self.renderer_label):
            bar.addPermanentWidget(label)

    def set_scene(self, scene: Scene, path: Path | None) -> None:
        self.scene = scene
        self.scene_path = path
        self.viewport.show_scene(scene)
        where = f" — {path.name}" if path else ""
        self.setWindowTitle(f"{scene.name}{where} — Krapition")
        self.scene_label.setText(f"scene: {scene.name}")
        n_static = sum(b.static for b in scene.bodies)
        self.bodies_label.setText(f"bodies: {len(scene.bodies)} ({n_static} static)")
        log.info("scene shown", extra={"scene": scene.name, "bodies": len(scene.bodies),
                                       "path": str(path) if path else None})

    def _on_frame(self) -> None:
        self.frame_label.setText(f"render: {self.viewport.paint_ms:.1f} ms")
        self.renderer_label.setText(f"renderer: {self.viewport.renderer_name}")

    # ---- actions (names match ui.actions.ACTIONS) ---------------------------------------------

    def new_scene(self) -> None:
        self.set_scene(Scene(name="Untitled"), None)

    def open_scene(self, path: Path | None = None) -> bool:
        if path is None:
            chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Open Scene", str(self._scene_folder()), SCENE_FILTER)
            if not chosen:
                return False
            path = Path(chosen)
        try:
            scene = load_scene(path)
        except SceneFormatError as exc:
            log.warning("scene not opened", extra={"path": str(path), "reason": str(exc)})
            QtWidgets.QMessageBox.warning(self, "Cannot open the scene", str(exc))
            return False
        self.set_scene(scene, path)
        self._remember_scene(path)
        return True

    def save_scene(self) -> bool:
        return self.save_scene_as(self.scene_path)

    def save_scene_as(self, path: Path | None = None) -> bool:
        if path is None:
            chosen, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Save Scene As", str(self._scene_folder() / f"{self.scene.name}.json"), SCENE_FILTER)
            if not chosen:
                return False
            path = Path(chosen)
        try:
            save_scene(self.scene, path)
        except OSError as exc:
            QtWidgets.QMessageBox.warning(self, "Cannot save the scene", f"{path}: {exc.strerror or exc}")
            return False
        self.scene_path = path
        self.set_scene(self.scene, path)
        self._remember_scene(path)
        return True

    def save_screenshot(self, path: Path | None = None) -> bool:
        if path is None:
            chosen, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Save Screenshot", str(Path.home() / "krapition.png"), "PNG images (*.png)")
            if not chosen:
                return False
            path = Path(chosen)
        ok = self.viewport.grabFramebuffer().save(str(path), "PNG")
        if not ok:
            QtWidgets.QMessageBox.warning(self, "Cannot save the screenshot", f"Could not write {path}")
        return ok

    def grab_window(self) -> QtGui.QImage:
        """The whole window as the user sees it, the 3D view included.

        ``QWidget.grab`` cannot see into the native GL window, so its framebuffer is drawn into the
        widget grab at the place of its container.
        """
        image = self.grab().toImage()
        view = self.viewport.grabFramebuffer()
        painter = QtGui.QPainter(image)
        try:
            top_left = self.viewport_widget.mapTo(self, QtCore.QPoint(0, 0))
            target = QtCore.QRect(top_left, self.viewport_widget.size())
            painter.drawImage(target, view)
        finally:
            painter.end()
        return image

    def quit(self) -> None:
        self.close()

    def reset_camera(self) -> None:
        self.viewport.reset_camera()

    def toggle_fps_overlay(self, checked: bool) -> None:
        if checked and self.fps_overlay is None:
            self.fps_overlay = FpsOverlay()
            self.viewport.addItem(self.fps_overlay)
        elif not checked and self.fps_overlay is not None:
            self.viewport.removeItem(self.fps_overlay)
            self.fps_overlay = None
        self.settings.setValue("view/fps_overlay", checked)
        self.viewport.update()

    def set_theme(self, theme: str) -> None:
        """"system" follows the desktop's light or dark setting; "light" and "dark" force one."""
        apply_theme(theme)
        self.settings.setValue("view/theme", theme)

    def _restore_view_settings(self) -> None:
        theme = str(self.settings.value("view/theme", "system"))
        self.actions_by_id.get(f"theme_{theme}", self.actions_by_id["theme_system"]).setChecked(True)
        fps = self.settings.value("view/fps_overlay", False)
        self.actions_by_id["toggle_fps_overlay"].setChecked(fps in (True, "true"))

    # ---- recent scenes ------------------------------------------------------------------------

    def _build_recent_menu(self) -> QtWidgets.QMenu:
        file_menu = self.menu_by_title("&File")
        menu = QtWidgets.QMenu("Open &Recent", self)
        file_menu.insertMenu(self.actions_by_id["save_scene"], menu)
        menu.aboutToShow.connect(self._fill_recent_menu)
        return menu

    def recent_scenes(self) -> list[Path]:
        value = self.settings.value("scenes/recent", [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in paths]

    def _remember_scene(self, path: Path) -> None:
        recent = [p for p in self.recent_scenes() if p != path]
        recent.insert(0, path)
        self.settings.setValue("scenes/recent", [str(p) for p in recent[:MAX_RECENT]])
        self.settings.setValue("scenes/last", str(path))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_scenes()
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setEnabled(path.is_file())
            action.triggered.connect(lambda _checked=False, p=path: self.open_scene(p))
        if not recent:
            self.recent_menu.addAction("No recent scenes").setEnabled(False)

    def toggle_full_screen(self, checked: bool) -> None:
        self.showFullScreen() if checked else self.showNormal()

    def show_about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About Krapition", self.about_text())

    def about_text(self) -> str:
        return (
            f"<h3>Krapition {__version__}</h3>"
            "<p>A LAN-shared 3D physics sandbox: one world on every machine, every collision heard.</p>"
            f"<p>Log folder: <code>{self.paths.logs}</code><br>"
            f"Data folder: <code>{self.paths.data}</code></p>"
            f"<p>Python {platform.python_version()}, Qt {QtCore.qVersion()}, "
            f"OpenGL {self.viewport.gl_version} on {self.viewport.renderer_name}</p>"
        )

    def open_log_folder(self) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.paths.logs)))

    # ---- lifecycle ----------------------------------------------------------------------------

    def _scene_folder(self) -> Path:
        return self.scene_path.parent if self.scene_path else Path.home()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)
