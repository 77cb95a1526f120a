"""The main window: the 3D viewport in the middle, menus from the action registry, a status bar."""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import platform
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..engine.acoustics import AudioEngine
from ..model.errors import KrapitionError, SceneFormatError
from ..model.scene import Scene, load_scene, save_scene
from ..model.uri import DEFAULT_PORT, Authority, KrapitionURI
from ..p2p.balancing import DEFAULT_STRATEGY, parse_strategy, parse_weights
from ..paths import AppPaths
from .actions import build_actions
from .audio_dock import AudioDock
from .bodies import body_from_snapshot
from .events_dock import EventsDock
from .inspector_dock import InspectorDock
from .metrics_dock import MetricsDock
from .overlay import FpsOverlay
from .ownership import OwnerTint, node_colour
from .peers_dock import PeerRow, PeersDock
from .spawn_palette import SpawnPalette
from .theme import apply_theme
from .viewport import WorldViewport
from .world_controller import WorldController

log = logging.getLogger(__name__)
def local_authority() -> Authority:
    """This machine's name as a URI authority, or localhost where the name is not a valid host."""
    try:
        return Authority.parse(f"{socket.gethostname()}:{DEFAULT_PORT}")
    except ValueError:
        return Authority("localhost", DEFAULT_PORT)


SCENE_FILTER = "Krapition scenes (*.json);;All files (*)"
MAX_RECENT = 8
#: seconds of sound File > Export Audio renders
EXPORT_SECONDS = 10.0


class MainWindow(QtWidgets.QMainWindow):
    #: an audio export finished: the WAV's path, or "" and the reason it failed
    audioExported = QtCore.Signal(str, str)
    #: Session > Join Session: the new session (or None if its node did not start), from its thread
    sessionStarted = QtCore.Signal(object)
    #: from the node's thread: the peer table (a tuple of PeerSnapshot), events (a list of SignedEvent)
    peersChanged = QtCore.Signal(object)
    eventsArrived = QtCore.Signal(object)
    #: Session > Connect to Address finished: the address, and "" or why it failed
    connectFinished = QtCore.Signal(str, str)
    #: a line from the session for the status bar (a refused grab, a peer gone), from its thread
    sessionNotice = QtCore.Signal(str)

    def __init__(self, scene: Scene, scene_path: Path | None, paths: AppPaths,
                 settings: QtCore.QSettings, *, physics: bool = True,
                 authority: Authority | None = None, audio: AudioEngine | None = None) -> None:
        super().__init__()
        #: the host:port this node owns URIs under
        self.authority = authority or local_authority()
        self.paths = paths
        self.settings = settings
        self.scene = scene
        self.scene_path = scene_path
        # A closed window is deleted by Qt, whole tree in Qt's order: the GL window container holds a
        # raw pointer to its window, which Python's garbage collector could otherwise free first.
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        self.viewport = WorldViewport()
        self.viewport_widget = self.viewport.container(self)
        self.setCentralWidget(self.viewport_widget)
        self.actions_by_id = build_actions(self)
        self._build_status_bar()
        self.viewport.framePainted.connect(self._on_frame)
        self._frame_times: collections.deque[float] = collections.deque()
        self.audioExported.connect(self._on_audio_exported)
        self.sessionStarted.connect(self._on_session_started)
        #: builds and starts a new session (passphrase or None); set by the app
        self.make_session = None
        self.metrics_dock = self.add_dock(MetricsDock(self), QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.metrics_dock.hide()  # until the user opens it (View menu); then the layout is remembered
        self.inspector_dock = self.add_dock(InspectorDock(self), QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.peers_dock = self.add_dock(PeersDock(self), QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.peers_dock.hide()
        self.events_dock = self.add_dock(EventsDock(self), QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        self.events_dock.hide()
        #: the LAN session (app.py attaches it; None: the window runs alone)
        self.session = None
        self._peers_timer: QtCore.QTimer | None = None
        self.peersChanged.connect(self._on_peers)
        self.eventsArrived.connect(self._on_events)
        self.connectFinished.connect(self._on_connect_finished)
        self.sessionNotice.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.palette = SpawnPalette(self)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, self.palette)
        self.menu_by_title("&View").addAction(self.palette.toggleViewAction())
        self.controller: WorldController | None = None
        self.actions_by_id["undo"].setEnabled(False)
        self.actions_by_id["redo"].setEnabled(False)
        self.audio = audio
        self.audio_dock: AudioDock | None = None
        if audio is not None:
            self.audio_dock = self.add_dock(AudioDock(audio, settings, self),
                                            QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
            self.tabifyDockWidget(self.inspector_dock, self.audio_dock)
            self.inspector_dock.raise_()
            self.audio_dock.follow_camera.toggled.connect(self._on_follow_camera)
            self.audio_dock.roomChanged.connect(self._show_room)
            self._show_room(audio.room)
            self.audio_label = QtWidgets.QLabel(self.audio_dock.status_text())
            self.statusBar().insertPermanentWidget(2, self.audio_label)
        if physics:
            self.controller = WorldController(self.viewport, self, audio=audio)
            self.controller.warmUpProgress.connect(self._on_warm_up)
            self.controller.stepped.connect(self._on_stepped)
            self.controller.ready.connect(self._on_world_ready)
            stack = self.controller.undo_stack
            stack.indexChanged.connect(self._update_undo_actions)
            self.palette.templateChanged.connect(self._on_palette)
            self.inspector_dock.stateEdited.connect(self.controller.edit_state)
            self.controller.warm_up_in_background()
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
        else:  # first start: a narrow inspector beside a wide view
            self.resizeDocks([self.inspector_dock], [300], QtCore.Qt.Orientation.Horizontal)

    # ---- state shown --------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.scene_label = QtWidgets.QLabel()
        self.bodies_label = QtWidgets.QLabel()
        self.frame_label = QtWidgets.QLabel("render: -")
        self.renderer_label = QtWidgets.QLabel("renderer: starting")
        self.sim_label = QtWidgets.QLabel("physics: starting")
        self.peers_label = QtWidgets.QLabel("offline")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMinimumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        bar.addWidget(self.progress)
        for label in (self.scene_label, self.bodies_label, self.peers_label, self.sim_label, self.frame_label,
                      self.renderer_label):
            bar.addPermanentWidget(label)

    def _on_warm_up(self, fraction: float, what: str) -> None:
        self.progress.setVisible(fraction < 1.0)
        self.progress.setValue(int(fraction * 100))
        self.progress.setFormat(f"{what} %p%")
        self.sim_label.setText("physics: ready" if fraction >= 1.0 else "physics: compiling")
        self.statusBar().showMessage(what, 3000)

    def _show_room(self, room) -> None:
        self.viewport.show_room(room.size, room.origin_)

    def _on_follow_camera(self, on: bool) -> None:
        if self.controller is not None:
            self.controller.listener_follows_camera = on

    def refresh_audio(self) -> None:
        """Once a second: the audio dock's status and the status bar's audio state."""
        if self.audio_dock is not None:
            self.audio_dock.refresh()
            self.audio_label.setText(self.audio_dock.status_text())

    def _on_world_ready(self) -> None:
        self._on_palette(self.palette.template())

    def _on_palette(self, template) -> None:
        if self.controller is not None and self.controller.interaction is not None:
            self.controller.interaction.spawn_template = template
        self.viewport.setCursor(QtCore.Qt.CursorShape.CrossCursor if template is not None
                                else QtCore.Qt.CursorShape.ArrowCursor)

    def _on_stepped(self, step: int, sim_time: float) -> None:
        world = self.controller.world if self.controller else None
        n = len(world.snapshot()) if world is not None else 0
        self._update_inspector()
        state = "paused" if self.controller and self.controller.clock.paused else "running"
        step_ms = world.step_ms if world is not None else 0.0
        self.sim_label.setText(f"t = {sim_time:.2f} s, {state}, step {step_ms:.1f} ms")
        self.bodies_label.setText(f"bodies: {n}")

    def set_scene(self, scene: Scene, path: Path | None) -> None:
        self.scene = scene
        self.scene_path = path
        self.viewport.show_scene(scene)
        if self.controller is not None:
            self.controller.load(scene)
        where = f" — {path.name}" if path else ""
        self.setWindowTitle(f"{scene.name}{where} — Krapition")
        self.scene_label.setText(f"scene: {scene.name}")
        n_static = sum(b.static for b in scene.bodies)
        self.bodies_label.setText(f"bodies: {len(scene.bodies)} ({n_static} static)")
        log.info("scene shown", extra={"scene": scene.name, "bodies": len(scene.bodies),
                                       "path": str(path) if path else None})

    def _on_frame(self) -> None:
        now = time.monotonic()
        self._frame_times.append(now)
        while self._frame_times and now - self._frame_times[0] > 1.0:
            self._frame_times.popleft()
        self.frame_label.setText(f"{len(self._frame_times)} fps, render {self.viewport.paint_ms:.1f} ms")
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
        if self.controller is not None and (current := self.controller.scene()) is not None:
            self.scene = current  # save the world as it is now, not as it was loaded
        try:
            save_scene(self.scene, path)
        except OSError as exc:
            QtWidgets.QMessageBox.warning(self, "Cannot save the scene", f"{path}: {exc.strerror or exc}")
            return False
        self.scene_path = path
        self.set_scene(self.scene, path)
        self._remember_scene(path)
        return True

    def export_audio(self, path: Path | None = None,
                     seconds: float = EXPORT_SECONDS) -> threading.Thread | None:
        """Renders what the camera would hear of the world from now on, offline, to a WAV file.

        Runs on a thread of its own with a copy of the world, so the live world keeps going."""
        if path is None:
            chosen, _ = QtWidgets.QFileDialog.getSaveFileName(
                self, "Export Audio", str(self._scene_folder() / f"{self.scene.name}.wav"),
                "WAV audio (*.wav)")
            if not chosen:
                return None
            path = Path(chosen)
        scene = (self.controller.scene() if self.controller else None) or self.scene
        eye, centre = self.viewport.cameraPosition(), self.viewport.opts["center"]
        position = (eye.x(), eye.y(), eye.z())
        forward = (centre.x() - eye.x(), centre.y() - eye.y(), centre.z() - eye.z())
        room = self.audio.room if self.audio is not None else None
        mode = self.audio.output_mode if self.audio is not None else "stereo"

        def run() -> None:
            from ..engine.acoustics import ListenerPose, render_scene_audio
            from ..engine.sounding import simulated_steps
            from ..engine.world import World

            try:
                world = World.from_scene(scene)
                render_scene_audio(simulated_steps(world), seconds, path, room=room,
                                   listener=ListenerPose(position=position, forward=forward),
                                   output_mode=mode, step_dt=world.sim.settings.dt)
            except (KrapitionError, OSError) as exc:
                self.audioExported.emit("", str(exc))
            else:
                self.audioExported.emit(str(path), "")

        self.statusBar().showMessage(f"exporting {seconds:g} s of audio to {path.name}…")
        thread = threading.Thread(target=run, name="krapition-export-audio", daemon=True)
        thread.start()
        return thread

    def _on_audio_exported(self, path: str, error: str) -> None:
        if error:
            QtWidgets.QMessageBox.warning(self, "Cannot export the audio", error)
        else:
            self.statusBar().showMessage(f"audio written to {path}", 5000)

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

    def handover_strategy(self) -> str:
        """The load-balancing strategy a hand-over follows (setting ``session/handover_strategy``)."""
        try:
            return parse_strategy(str(self.settings.value("session/handover_strategy", "") or "")).value
        except ValueError:
            return DEFAULT_STRATEGY.value

    def set_handover_strategy(self, strategy: str) -> None:
        strategy = parse_strategy(strategy).value
        self.settings.setValue("session/handover_strategy", strategy)
        if self.session is not None:
            self._apply_handover_settings(self.session)

    def _apply_handover_settings(self, session) -> None:
        session.strategy = parse_strategy(self.handover_strategy())
        text = str(self.settings.value("session/handover_weights", "") or "")
        try:
            weights = parse_weights(text)
        except ValueError as exc:
            log.warning("ignoring the setting session/handover_weights: %s", exc)
            weights = {}
        session.balancer.settings = replace(session.balancer.settings, weights=weights)

    def _restore_view_settings(self) -> None:
        strategy = self.actions_by_id.get(f"handover_{self.handover_strategy()}")
        if strategy is not None:
            strategy.setChecked(True)
        theme = str(self.settings.value("view/theme", "system"))
        self.actions_by_id.get(f"theme_{theme}", self.actions_by_id["theme_system"]).setChecked(True)
        fps = self.settings.value("view/fps_overlay", False)
        self.actions_by_id["toggle_fps_overlay"].setChecked(fps in (True, "true"))

    def _update_inspector(self) -> None:
        interaction = self.controller.interaction if self.controller else None
        world = self.controller.world if self.controller else None
        name = interaction.selected if interaction else None
        if world is None or name is None or name not in world.snapshot().names:
            self.inspector_dock.show_body(None)
            return
        if not self.inspector_dock.isVisible():
            return
        body = body_from_snapshot(world.snapshot(), name)
        if self.session is not None and self.session.is_remote(name):
            uri = self.session.uri_of(name)
            owner = str(KrapitionURI.parse(uri).authority)
            self.inspector_dock.show_body(body, uri=uri, owner=owner, editable=False)
            return
        uri = KrapitionURI.build(self.authority, "physics", "objects", name)
        self.inspector_dock.show_body(body, uri=str(uri), owner=f"this node ({self.authority})",
                                      editable=True)

    def _update_undo_actions(self) -> None:
        stack = self.controller.undo_stack if self.controller else None
        for name, can, text in (("undo", stack and stack.canUndo(), stack and stack.undoText()),
                                ("redo", stack and stack.canRedo(), stack and stack.redoText())):
            action = self.actions_by_id[name]
            action.setEnabled(bool(can))
            action.setText(f"&{name.capitalize()} {text or ''}".strip())

    def undo(self) -> None:
        if self.controller is not None:
            self.controller.undo_stack.undo()

    def redo(self) -> None:
        if self.controller is not None:
            self.controller.undo_stack.redo()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == QtCore.Qt.Key.Key_Escape and self.palette.place.isChecked():
            self.palette.stop_placing()
            return
        super().keyPressEvent(event)

    # ---- simulation ---------------------------------------------------------------------------

    def toggle_pause(self, paused: bool) -> None:
        if self.controller is not None:
            self.controller.set_paused(paused)

    def single_step(self) -> None:
        if self.controller is not None:
            self.controller.single_step()
            self.actions_by_id["toggle_pause"].setChecked(True)

    def toggle_slow_motion(self, on: bool) -> None:
        if self.controller is not None:
            self.controller.set_slow_motion(on)

    def delete_selected(self) -> None:
        if self.controller is not None and self.controller.interaction is not None:
            interaction = self.controller.interaction
            target = interaction.selected or interaction.hovered
            if target is not None and self.session is not None and self.session.is_remote(target):
                owner = KrapitionURI.parse(self.session.uri_of(target)).authority
                self.statusBar().showMessage(f"{target} belongs to {owner}: only its owner deletes it", 5000)
                return
            name = interaction.delete()
            if name:
                self.statusBar().showMessage(f"deleted {name}", 3000)

    def drop_balls(self, count: str) -> None:
        if self.controller is not None:
            self.controller.drop_balls(int(count))

    def reset_scene(self) -> None:
        self.set_scene(self.scene, self.scene_path)

    def _stop_world(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    # ---- the LAN session ----------------------------------------------------------------------

    def attach_session(self, session) -> None:
        """Joins the window to a running :class:`~krapition_app.session.Session`: its world follows
        the controller's, the Peers and Event stream docks and the status bar follow the node."""
        self.session = session
        self._apply_handover_settings(session)
        session.on_peers = self._emit_peers
        session.on_events = self._emit_events
        session.on_notice = self._emit_notice
        if self.controller is not None:
            self.controller.owner_tint = OwnerTint(session)
            self.controller.session = session
            session.on_remote_impacts = self.controller.hear_remote
            self.controller.ready.connect(lambda: session.attach(self.controller.world))
            if self.controller.world is not None:
                session.attach(self.controller.world)
        self._peers_timer = QtCore.QTimer(self)
        self._peers_timer.setInterval(1000)  # round trips and body counts change without joins
        self._peers_timer.timeout.connect(self._poll_peers)
        self._peers_timer.start()
        self._on_peers(())

    def _emit_peers(self, peers) -> None:
        """Node thread: on to the GUI thread (a queued signal)."""
        with contextlib.suppress(RuntimeError):  # the window is gone
            self.peersChanged.emit(peers)

    def _emit_notice(self, text: str) -> None:
        with contextlib.suppress(RuntimeError):
            self.sessionNotice.emit(text)

    def _emit_events(self, events) -> None:
        with contextlib.suppress(RuntimeError):
            self.eventsArrived.emit(list(events))

    def _poll_peers(self) -> None:
        if self.session is None or self.session.node.loop is None:
            return
        try:
            future = self.session.node.submit(self.session.peers)
        except RuntimeError:  # the node's loop has closed
            return
        future.add_done_callback(lambda f: f.exception() is None and self._emit_peers(f.result()))

    def peer_rows(self, peers) -> list[PeerRow]:
        session = self.session
        if session is None:
            return []
        counts = session.owned_counts()
        node = session.node
        me = node.identity.fingerprint if node.identity is not None else ""
        rows = [PeerRow(name=node.config.name, authority=session.authority, fingerprint=me, state="self",
                        rtt_ms=None, owned_bodies=counts.get(session.authority, 0), colour=node_colour(me))]
        for p in peers:
            rows.append(PeerRow(name=p.name, authority=p.authority, fingerprint=p.fingerprint,
                                state=str(p.liveness), rtt_ms=p.rtt_ms_median,
                                owned_bodies=counts.get(p.authority, 0), colour=node_colour(p.fingerprint)))
        return rows

    def _on_peers(self, peers) -> None:
        rows = self.peer_rows(peers)
        self.peers_dock.set_peers(rows)
        if self.session is None:
            self.peers_label.setText("offline")
            return
        alive = sum(r.state == "alive" for r in rows)
        self.peers_label.setText(f"peers: {alive}" if len(rows) > 1 else "peers: none yet")

    def _on_events(self, events) -> None:
        self.events_dock.append(events)

    def connect_to_address(self, address: str | None = None) -> threading.Thread | None:
        """Session > Connect to Address: dials ``host:port`` off the GUI thread."""
        if self.session is None:
            QtWidgets.QMessageBox.information(self, "Offline", "This window is not in a LAN session "
                                              "(started with --offline, or its node did not start).")
            return None
        if address is None:
            address, ok = QtWidgets.QInputDialog.getText(self, "Connect to Address",
                                                         "Node address (host:port):")
            if not ok or not address.strip():
                return None
        address = address.strip()
        host, _, port_text = address.rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            QtWidgets.QMessageBox.warning(self, "Cannot connect", f"{address!r} is not host:port")
            return None
        session = self.session

        def run() -> None:
            try:
                session.connect(host.strip("[]"), int(port_text))
            except Exception as exc:  # any failure is the user's to read, not a crash
                self.connectFinished.emit(address, f"{type(exc).__name__}: {exc}")
            else:
                self.connectFinished.emit(address, "")

        self.statusBar().showMessage(f"connecting to {address}…")
        thread = threading.Thread(target=run, name="krapition-connect", daemon=True)
        thread.start()
        return thread

    def _on_connect_finished(self, address: str, error: str) -> None:
        if error:
            QtWidgets.QMessageBox.warning(self, "Cannot connect", f"{address}: {error}")
        else:
            self.statusBar().showMessage(f"connected to {address}", 5000)
            self.show_peers()

    def _detach_session(self, keep_world: bool = False) -> None:
        """``keep_world``: the session keeps our world (it hands our bodies over while it leaves)."""
        session = self.session
        session.on_peers = None
        session.on_events = None
        if not keep_world:
            session.attach(None)
        if self.controller is not None:
            self.controller.owner_tint = None

    def leave_session(self) -> threading.Thread | None:
        """Leaves the session: with peers connected, our bodies are first handed over to them (by
        the hand-over strategy setting; they leave our world and live on there), then the node says
        goodbye and stops (on a thread: that takes up to a few seconds); the world keeps running,
        other nodes' bodies stay where they were last seen."""
        session = self.session
        if session is None:
            return None
        peers = len(session.peers())
        strategy = self.handover_strategy()
        self._detach_session(keep_world=bool(peers))
        self.session = None
        if self._peers_timer is not None:
            self._peers_timer.stop()
        self._on_peers(())
        if peers:
            self.statusBar().showMessage(
                f"left the session: your bodies are handed over to {peers} "
                f"{'peer' if peers == 1 else 'peers'} ({strategy.replace('_', ' ')}); running alone", 8000)
            target = functools.partial(session.stop, hand_over=True, strategy=strategy)
        else:
            self.statusBar().showMessage("left the session: running alone", 5000)
            target = session.stop
        thread = threading.Thread(target=target, name="krapition-leave", daemon=True)
        thread.start()
        return thread

    def join_session(self, passphrase: str | None = None, *, ask: bool = True) -> threading.Thread | None:
        """Starts a new node for this window and joins the LAN session (a passphrase, if given,
        makes it answer only nodes that know it). Needs ``make_session`` from the app."""
        if self.make_session is None:
            return None
        if ask:
            text, ok = QtWidgets.QInputDialog.getText(
                self, "Join Session", "Session passphrase (empty for none):",
                QtWidgets.QLineEdit.EchoMode.Password)
            if not ok:
                return None
            passphrase = text or None
        if self.session is not None:
            old = self.leave_session()
            if old is not None:
                old.join(10.0)  # the old node must let go of its port and data folder first
        make = self.make_session

        def start() -> None:
            session = make(passphrase)
            with contextlib.suppress(RuntimeError):  # the window closed meanwhile
                self.sessionStarted.emit(session)

        self.statusBar().showMessage("joining the session…")
        thread = threading.Thread(target=start, name="krapition-join", daemon=True)
        thread.start()
        return thread

    def _on_session_started(self, session) -> None:
        if session is None:
            QtWidgets.QMessageBox.warning(self, "Cannot join the session",
                                          "The node did not start; the log says why.")
            return
        self.attach_session(session)
        self.statusBar().showMessage(f"joined the session as {session.authority}", 5000)

    def show_peers(self) -> None:
        self.peers_dock.show()
        self.peers_dock.raise_()

    def show_events(self) -> None:
        self.events_dock.show()
        self.events_dock.raise_()

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
        if self._peers_timer is not None:
            self._peers_timer.stop()
        if self.session is not None:  # the node lives on until app.py stops it; the window does not
            self._detach_session()
        self._stop_world()
        super().closeEvent(event)
