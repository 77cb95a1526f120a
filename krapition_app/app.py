"""Composition root: builds the parts and wires them. Only this module knows all of them."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .model.errors import SceneFormatError
from .model.scene import Scene, load_scene
from .paths import AppPaths, asset

log = logging.getLogger(__name__)
DEFAULT_SCENE = "default-scene.json"
#: how long after the window shows that --screenshot without --quit-after captures it
SCREENSHOT_DELAY_S = 1.0
#: with --quit-after of at least SCREENSHOT_LEAD_MIN_S, the screenshot is taken this long before quitting
SCREENSHOT_LEAD_S = 3.0
SCREENSHOT_LEAD_MIN_S = 10.0


def load_start_scene(path: Path | None, last: Path | None = None) -> tuple[Scene, Path | None]:
    """The scene named on the command line, else the last one opened, else the bundled playground.

    A named scene that cannot be read is an error; a remembered one that has gone bad is skipped
    (and logged), so a broken file never keeps the app from starting.
    """
    if path is not None:
        return load_scene(path), path
    if last is not None and last.is_file():
        try:
            return load_scene(last), last
        except SceneFormatError as exc:
            log.warning("last scene skipped", extra={"path": str(last), "reason": str(exc)})
    return load_scene(asset(DEFAULT_SCENE)), None


def configure_opengl() -> None:
    """Process-wide OpenGL set-up; must run before the QApplication exists.

    Contexts share resources, so a GL widget that is re-parented (a dock floated, a window
    re-created) keeps its shaders and buffers; pyqtgraph caches its shader programs process-wide
    and they are only valid in contexts that share.
    """
    from PySide6 import QtCore, QtGui

    QtCore.QCoreApplication.setAttribute(QtCore.Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    fmt = QtGui.QSurfaceFormat()
    fmt.setDepthBufferSize(24)
    QtGui.QSurfaceFormat.setDefaultFormat(fmt)


def run_app(args: argparse.Namespace, paths: AppPaths) -> int:
    import shiboken6
    from PySide6 import QtCore, QtWidgets

    paths.config.mkdir(parents=True, exist_ok=True)
    settings = QtCore.QSettings(str(paths.config / "ui.ini"), QtCore.QSettings.Format.IniFormat)
    last = settings.value("scenes/last")
    try:
        scene, scene_path = load_start_scene(args.scene, Path(last) if isinstance(last, str) else None)
    except SceneFormatError as exc:
        print(f"krapition: {exc}", file=sys.stderr) if sys.stderr else None
        log.error("cannot open the start scene", extra={"reason": str(exc)})
        return 2

    from .ui.error_reporter import ErrorReporter
    from .ui.main_window import MainWindow

    configure_opengl()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    app.setApplicationName("Krapition")
    app.setOrganizationName("Krapition")
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")  # one look everywhere, and it follows the light/dark colour scheme
    # Python's cyclic garbage collector runs on whichever thread allocates; if that is the physics
    # or audio thread and the garbage holds a Qt object, Qt aborts. Collect on the GUI thread only.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    gui_thread_gc = GarbageCollector(interval=1.0)
    audio = start_audio(settings)
    session = None if getattr(args, "offline", False) else start_session(args, paths)
    authority = None
    if session is not None:
        from .model.uri import Authority

        authority = Authority.parse(session.authority)
    window = MainWindow(scene, scene_path, paths, settings, audio=audio, authority=authority)
    if session is not None:
        window.attach_session(session)
    window.make_session = lambda passphrase: start_session(args, paths, passphrase=passphrase)
    reporter = ErrorReporter(window, paths.logs)
    reporter.install()
    sample_metrics_every_second(window)
    window.show()
    log.info("app started", extra={"version": __version__, "scene": scene.name})
    schedule_screenshot_and_quit(window, args.screenshot, args.quit_after)
    try:
        return app.exec()
    finally:
        gui_thread_gc.timer.stop()
        reporter.uninstall()
        current = window.session if shiboken6.isValid(window) else session
        if current is not None:  # the one the window ended with (Session > Join may have replaced it)
            current.stop()
        audio.stop()


def node_config(args: argparse.Namespace, paths: AppPaths):
    """The app's node: its key and database in the user data folder, named after this machine.

    ``--interface`` (one or more addresses) bounds where it listens and discovers; without it the node
    listens on every interface and discovers on all of them (the LAN)."""
    import socket

    from .p2p.node import NodeConfig

    interfaces = [a for group in (getattr(args, "interfaces", None) or []) for a in group]
    passphrase = None
    passphrase_file = getattr(args, "node_passphrase_file", None)
    if passphrase_file is not None:
        passphrase = passphrase_file.read_text(encoding="utf-8").strip() or None
    listen = interfaces[0] if len(interfaces) == 1 else "0.0.0.0"
    name = (socket.gethostname() or "krapition")[:64]
    return NodeConfig(data_dir=paths.data / "node", name=name, interface=listen,
                      port=getattr(args, "node_port", 0) or 0, passphrase=passphrase,
                      discovery_interfaces=tuple(interfaces) or None)


def start_session(args: argparse.Namespace, paths: AppPaths, *, passphrase: str | None = None):
    """Starts the node and the session that joins it with the world; None (the app runs alone) when
    the node cannot start: the window never depends on the network. ``passphrase`` replaces the one
    of ``--passphrase-file`` (Session > Join Session)."""
    import dataclasses

    from .p2p.node import Node
    from .session import Session

    try:
        config = node_config(args, paths)
        if passphrase is not None:
            config = dataclasses.replace(config, passphrase=passphrase)
        session = Session(Node(config))
        session.start()
    except Exception as exc:
        log.exception("the node did not start: running offline", extra={"reason": str(exc)})
        return None
    log.info("session joined", extra={"authority": session.authority})
    return session


def start_audio(settings):
    """The real-time audio engine on the device chosen last time, started on a thread of its own:
    starting compiles the synthesis kernels (seconds on a first run), which must not delay the
    window. Silent (and saying why) when there is no device or PortAudio is missing; it never stops
    the app from starting."""
    import threading

    from .engine.acoustics import AudioEngine

    engine = AudioEngine()
    device = settings.value("audio/device") or None

    def start() -> None:
        status = engine.start(device)
        log.info("audio", extra={"running": status.running, "silent": status.silent,
                                 "reason": status.reason, "device": status.device})

    threading.Thread(target=start, name="krapition-audio-start", daemon=True).start()
    return engine


def sample_metrics_every_second(window) -> None:
    """Feeds the metrics dock once a second: frame and step time, CPU, memory, audio load and underruns."""
    import time

    from PySide6 import QtCore

    from .sysmetrics import ProcessMetrics

    process = ProcessMetrics()
    start = time.monotonic()

    def sample() -> None:
        values = process.sample()
        values["frame_ms"] = window.viewport.paint_ms
        if window.controller is not None and window.controller.world is not None:
            values["step_ms"] = window.controller.world.step_ms
        if window.audio is not None:
            stats = window.audio.stats()
            values["audio_underruns"] = stats.get("underruns", 0)
            if "cpu_load" in stats:
                values["audio_load"] = 100.0 * stats["cpu_load"]
        window.metrics_dock.record(time.monotonic() - start, values)

    timer = QtCore.QTimer(window)
    timer.setInterval(1000)
    timer.timeout.connect(sample)
    timer.timeout.connect(window.refresh_audio)
    timer.start()


def schedule_screenshot_and_quit(window, screenshot: Path | None, quit_after: float | None) -> None:
    """--screenshot writes a PNG of the window just before --quit-after quits (SCREENSHOT_LEAD_S before
    for runs of SCREENSHOT_LEAD_MIN_S or more), or after a second without --quit-after."""
    from PySide6 import QtCore, QtWidgets

    def capture() -> None:
        assert screenshot is not None
        image = window.grab_window()
        if image.save(str(screenshot), "PNG"):
            log.info("screenshot written", extra={"path": str(screenshot)})
        else:
            log.error("screenshot not written", extra={"path": str(screenshot)})

    lead = screenshot is not None and quit_after is not None and quit_after >= SCREENSHOT_LEAD_MIN_S

    def finish() -> None:
        if screenshot is not None and not lead:
            capture()
        window.close()
        QtWidgets.QApplication.quit()

    if quit_after is not None:
        if lead:
            # a little before quitting: windows of one session started together quit at about the
            # same time, and a peer that has quit already is drawn stale
            QtCore.QTimer.singleShot(int((quit_after - SCREENSHOT_LEAD_S) * 1000), capture)
        QtCore.QTimer.singleShot(int(quit_after * 1000), finish)
    elif screenshot is not None:
        QtCore.QTimer.singleShot(int(SCREENSHOT_DELAY_S * 1000), capture)
