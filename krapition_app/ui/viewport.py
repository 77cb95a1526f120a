"""The 3D viewport: ground, grid and every body, drawn with instanced meshes.

The viewport only draws what it is given; it never computes physics. Orbit with the left mouse
button, pan with the middle one (or Ctrl + left), zoom with the wheel.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph.opengl as gl
from OpenGL import GL
from pyqtgraph.opengl.GLViewWidget import GLViewMixin
from PySide6 import QtCore, QtGui, QtOpenGL, QtWidgets

from ..model.materials import MATERIAL_NAMES, MATERIALS
from ..model.scene import Scene
from .instanced import InstancedMeshItem, sphere_impostors, unit_cube
from .interaction import Interaction

BACKGROUND = (24, 26, 32)
GROUND_HALF_SIZE = 60.0
GRID_HALF_SIZE = 20.0
#: colour of each material by index (RGBA), from the catalogue
MATERIAL_COLOURS = np.array([(*MATERIALS[name].colour, 1.0) for name in MATERIAL_NAMES], np.float32)
#: static bodies (walls, beams) are drawn darker so they read as fixed
STATIC_SHADE = 0.6


class WorldViewport(GLViewMixin, QtOpenGL.QOpenGLWindow):
    """A pyqtgraph GL view with the world's ground and bodies.

    A QOpenGLWindow (put in the widget tree by :meth:`container`) rather than a QOpenGLWidget:
    the widget renders into an offscreen framebuffer that is read back and composed with the
    other widgets every frame, which under software GL (Mesa llvmpipe, Xvfb) costs three times
    the frame rate of drawing straight into a native window.
    """

    #: emitted after each frame is drawn
    framePainted = QtCore.Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setBackgroundColor(BACKGROUND)
        self.renderer_name = "not started"
        #: set by the app when a world is running: mouse presses pick and drag bodies
        self.interaction: Interaction | None = None
        self.gl_version = "not started"
        self._add_ground()
        self.spheres = sphere_impostors()
        self.boxes = InstancedMeshItem(*unit_cube())
        self.addItem(self.spheres)
        self.addItem(self.boxes)
        self.joints = gl.GLLinePlotItem(mode="lines", color=(0.85, 0.85, 0.9, 1.0), width=2.0,
                                        antialias=True, glOptions="opaque")
        self.addItem(self.joints)
        self.room = gl.GLLinePlotItem(mode="lines", color=(0.55, 0.65, 0.85, 0.55), width=1.5,
                                      antialias=True, glOptions="translucent")
        self.room.setVisible(False)
        self.addItem(self.room)
        self.paint_ms = 0.0
        self.reset_camera()

    def _add_ground(self) -> None:
        s = GROUND_HALF_SIZE
        verts = np.array([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]], np.float32)
        faces = np.array([[0, 1, 2], [0, 2, 3]], np.uint32)
        ground = gl.GLMeshItem(vertexes=verts, faces=faces, color=(0.16, 0.17, 0.20, 1.0),
                               smooth=False, shader=None, glOptions="opaque")
        ground.translate(0, 0, -0.002)  # just under the grid, so the grid lines win the depth test
        self.addItem(ground)
        g = GRID_HALF_SIZE
        grid = gl.GLGridItem(size=QtGui.QVector3D(2 * g, 2 * g, 1), color=(120, 125, 140, 90))
        grid.setSpacing(0.5, 0.5, 1)
        self.addItem(grid)
        self.grid = grid

    def devicePixelRatioF(self) -> float:  # GLViewMixin asks the QWidget spelling
        return self.devicePixelRatio()

    def container(self, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
        """The widget that holds this window in a layout."""
        widget = QtWidgets.QWidget.createWindowContainer(self, parent)
        widget.setMinimumSize(320, 240)
        widget.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        return widget

    # ---- interaction: mouse events go to the world first, then to the camera ----------------

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:
        pos = ev.position()
        if (self.interaction is not None and ev.button() == QtCore.Qt.MouseButton.LeftButton
                and not ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier
                and self.interaction.press(pos.x(), pos.y())):
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:
        pos = ev.position()
        if self.interaction is not None and (self.interaction.drag is not None or not ev.buttons()):
            self.interaction.move(pos.x(), pos.y())
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:
        if self.interaction is not None and self.interaction.release():
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:
        if self.interaction is not None and self.interaction.wheel(ev.angleDelta().y() / 120.0):
            ev.accept()
            return
        super().wheelEvent(ev)

    def show_room(self, size: tuple[float, float, float], origin: tuple[float, float, float]) -> None:
        """Outlines the acoustic room (the shoebox the sound reflects in) with its twelve edges."""
        x0, y0, z0 = origin
        x1, y1, z1 = x0 + size[0], y0 + size[1], z0 + size[2]
        corners = np.array([[x, y, z] for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)], np.float32)
        edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3),
                 (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
        self.room.setData(pos=corners[np.array(edges).reshape(-1)])
        self.room.setVisible(True)

    def reset_camera(self) -> None:
        self.setCameraPosition(pos=QtGui.QVector3D(0.0, -0.3, 0.4), distance=6.5,
                               elevation=24, azimuth=-62)

    def show_scene(self, scene: Scene) -> None:
        """Draws the scene's bodies where the scene places them, and its joints as rods."""
        self.show_bodies(**scene_instances(scene))
        segments = constraint_segments(scene)
        self.joints.setData(pos=segments if len(segments) else np.zeros((0, 3), np.float32))

    def show_snapshot(self, snapshot, highlight: str | None = None,
                      owner_tint: np.ndarray | None = None) -> None:
        """Draws a world snapshot: every body where the physics put it."""
        self.show_bodies(**snapshot_instances(snapshot, highlight=highlight, owner_tint=owner_tint))

    def show_bodies(self, *, sphere: tuple[np.ndarray, ...], box: tuple[np.ndarray, ...]) -> None:
        self.spheres.set_instances(*sphere)
        self.boxes.set_instances(*box)

    @property
    def body_count(self) -> int:
        return self.spheres.count + self.boxes.count

    def initializeGL(self) -> None:
        super().initializeGL()
        # the context is current only here and in paintGL: read what it is made of once
        name = GL.glGetString(GL.GL_RENDERER)
        version = GL.glGetString(GL.GL_VERSION)
        self.renderer_name = name.decode(errors="replace") if name else "unknown"
        self.gl_version = version.decode(errors="replace") if version else "unknown"

    def paintGL(self) -> None:
        start = time.perf_counter()
        super().paintGL()
        self.paint_ms = 1000.0 * (time.perf_counter() - start)
        self.framePainted.emit()


def scene_instances(scene: Scene) -> dict[str, tuple[np.ndarray, ...]]:
    """Per shape kind: (centres, rotations, scales, colours) arrays of the scene's bodies."""
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for shape in ("sphere", "box"):
        bodies = [b for b in scene.bodies if b.shape == shape]
        n = len(bodies)
        centers = np.array([b.position for b in bodies], np.float32).reshape(n, 3)
        rotations = np.array([b.orientation for b in bodies], np.float32).reshape(n, 4)
        if shape == "sphere":
            scales = np.repeat(np.array([b.radius for b in bodies], np.float32).reshape(n, 1), 3, axis=1)
        else:
            scales = np.array([b.half_extents for b in bodies], np.float32).reshape(n, 3)
        colours = MATERIAL_COLOURS[[MATERIAL_NAMES.index(b.material) for b in bodies]].reshape(n, 4)
        static = np.array([b.static for b in bodies], bool)
        colours[static, :3] *= STATIC_SHADE
        out[shape] = (centers, rotations, scales, colours)
    return out


def constraint_segments(scene: Scene) -> np.ndarray:
    """Line segments (pairs of points) drawing each constraint: body centre - anchor - body centre."""
    centres = {b.name: b.position for b in scene.bodies}
    points: list[tuple[float, float, float]] = []
    for c in scene.constraints:
        anchor_b = getattr(c, "anchor_b", c.anchor)
        points += [centres[c.body_a], c.anchor]
        if anchor_b != c.anchor:
            points += [c.anchor, anchor_b]
        if c.body_b is not None:
            points += [anchor_b, centres[c.body_b]]
    return np.array(points, np.float32).reshape(-1, 3)


#: how far another node's bodies are drawn towards that node's colour
OWNER_TINT = 0.45
#: how much lighter the body under the mouse is drawn
HIGHLIGHT = 0.35
#: sleeping bodies are drawn this much greyer, so a settled pile reads as asleep
SLEEP_DESATURATION = 0.35


def snapshot_instances(snapshot, highlight: str | None = None,
                       owner_tint: np.ndarray | None = None) -> dict[str, tuple[np.ndarray, ...]]:
    """Per shape kind: (centres, rotations, scales, colours) of a world snapshot, vectorised.

    ``owner_tint``: (n, 3) RGB of each body's owning node, NaN for our own bodies; other nodes'
    bodies are tinted towards their node's colour (the colour the Peers dock shows)."""
    colours = MATERIAL_COLOURS[snapshot.material].copy()
    if owner_tint is not None and len(owner_tint) == len(colours):
        theirs = ~np.isnan(owner_tint[:, 0])
        colours[theirs, :3] += (owner_tint[theirs] - colours[theirs, :3]) * OWNER_TINT
    colours[snapshot.static, :3] *= STATIC_SHADE
    asleep = snapshot.sleeping & ~snapshot.static
    grey = colours[asleep, :3].mean(axis=1, keepdims=True)
    colours[asleep, :3] += (grey - colours[asleep, :3]) * SLEEP_DESATURATION
    if highlight is not None and highlight in snapshot.names:
        i = snapshot.names.index(highlight)
        colours[i, :3] += (1.0 - colours[i, :3]) * HIGHLIGHT
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for code, shape in ((0, "sphere"), (1, "box")):
        rows = snapshot.shape == code
        out[shape] = (snapshot.position[rows], snapshot.orientation[rows], snapshot.half_extents[rows],
                      colours[rows])
    return out
