"""``krapition bench render``: frames per second of the 3D view drawing N moving bodies.

Three ways to draw the same bodies are measured one after another in one process, in the same
1280x720 native GL window (as the app's viewport): Krapition's instanced item (one draw call
per shape kind), pyqtgraph's GLMeshItem per body, and GLScatterPlotItem (point sprites: the
cheapest thing pyqtgraph offers,
though it draws no boxes and no shading). Every frame moves every body, so the per-frame cost of
updating the bodies is measured along with drawing them. Needs an X display; without one it starts
its own Xvfb.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from collections.abc import Callable

import numpy as np

DESCRIPTION = "3D view frames per second: instanced bodies vs pyqtgraph's GLMeshItem and scatter items"
WIDTH, HEIGHT = 1280, 720


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bodies", type=int, default=2000, help="number of bodies (default 2000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds measured per approach")
    parser.add_argument("--skip-meshitem", action="store_true",
                        help="leave out the (slow) GLMeshItem-per-body approach")
    parser.add_argument("--json", action="store_true", help="print JSON (always on)")


def _rerun_under_xvfb() -> dict:
    """Without a display, runs this same benchmark in a child process under xvfb-run."""
    import json
    import sys

    if shutil.which("xvfb-run") is None:
        raise SystemExit("krapition bench render needs an X display, or xvfb-run (apt install xvfb)")
    child = subprocess.run(
        ["xvfb-run", "-a", "-s", f"-screen 0 {WIDTH}x{HEIGHT}x24", sys.executable, "-m", "krapition_app",
         "--log-level", "WARNING", "bench", "render", *sys.argv[sys.argv.index("render") + 1:]],
        capture_output=True, text=True, timeout=1800, check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"krapition bench render failed under Xvfb:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout)


def _bodies(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    side = max(1, int(np.ceil(n ** (1 / 3))))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    centers = (grid - side / 2) * 0.3 + np.array([0, 0, side * 0.15 + 0.2])
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    sizes = rng.uniform(0.05, 0.12, size=n)
    colours = np.column_stack([rng.uniform(0.2, 0.9, size=(n, 3)), np.ones(n)])
    return {"centers": centers.astype(np.float32), "rotations": q.astype(np.float32),
            "sizes": sizes.astype(np.float32), "colours": colours.astype(np.float32),
            "sphere": np.arange(n) % 2 == 0}


def _measure(view, update: Callable[[int], None], seconds: float) -> float:
    """Frames per second: move the bodies, ask for a frame, wait until it is on screen, repeat."""
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance()
    swapped = [0]
    view.frameSwapped.connect(lambda: swapped.__setitem__(0, swapped[0] + 1))

    def one_frame(frame: int) -> None:
        target = swapped[0] + 1
        update(frame)
        view.update()
        deadline = time.perf_counter() + 30.0
        while swapped[0] < target and time.perf_counter() < deadline:
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)

    for frame in range(3):  # warm-up: shader compiles, first buffer uploads
        one_frame(frame)
    frames = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        frames += 1
        one_frame(frames)
    return frames / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict:
    if not os.environ.get("DISPLAY"):
        return _rerun_under_xvfb()
    return _run(args)


def _run(args: argparse.Namespace) -> dict:
    from PySide6 import QtGui, QtWidgets

    from ..app import configure_opengl

    configure_opengl()
    import pyqtgraph.opengl as gl

    from ..ui.instanced import InstancedMeshItem, sphere_impostors, unit_cube

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    n = args.bodies
    rng = np.random.default_rng(1)
    b = _bodies(n, rng)
    wobble = rng.normal(scale=0.002, size=(64, n, 3)).astype(np.float32)

    from pyqtgraph.opengl.GLViewWidget import GLViewMixin
    from PySide6 import QtOpenGL

    class View(GLViewMixin, QtOpenGL.QOpenGLWindow):
        """The window kind the app's viewport uses, so all three approaches draw into the same."""

        def devicePixelRatioF(self) -> float:
            return self.devicePixelRatio()

    def make_view() -> View:
        view = View()
        view.resize(WIDTH, HEIGHT)
        view.setCameraPosition(distance=max(6.0, n ** (1 / 3) * 0.6), elevation=25, azimuth=-60)
        view.show()
        app.processEvents()
        return view

    results: dict[str, float | int | str | None] = {"bodies": n, "width": WIDTH, "height": HEIGHT}

    # 1. instanced: two items, whole arrays per frame
    view = make_view()
    spheres = sphere_impostors()
    boxes = InstancedMeshItem(*unit_cube())
    view.addItem(spheres)
    view.addItem(boxes)
    s, bx = b["sphere"], ~b["sphere"]
    scales = np.repeat(b["sizes"][:, None], 3, axis=1)

    def update_instanced(frame: int) -> None:
        pos = b["centers"] + wobble[frame % 64]
        spheres.set_instances(pos[s], b["rotations"][s], scales[s], b["colours"][s])
        boxes.set_instances(pos[bx], b["rotations"][bx], scales[bx], b["colours"][bx])

    results["fps"] = round(_measure(view, update_instanced, args.seconds), 2)
    results["renderer"] = _renderer(view)
    view.close()

    # 2. GLScatterPlotItem: one item, positions per frame (points, not meshes)
    view = make_view()
    scatter = gl.GLScatterPlotItem(pos=b["centers"], color=b["colours"], size=b["sizes"] * 2, pxMode=False)
    view.addItem(scatter)
    results["scatter_fps"] = round(_measure(
        view, lambda f: scatter.setData(pos=b["centers"] + wobble[f % 64]), args.seconds), 2)
    view.close()

    # 3. GLMeshItem per body: a transform per item per frame
    if args.skip_meshitem:
        results["meshitem_fps"] = None
        results["ratio_vs_meshitem"] = None
    else:
        view = make_view()
        sphere_md = gl.MeshData.sphere(rows=16, cols=24)
        cube = unit_cube()
        cube_md = gl.MeshData(vertexes=cube[0], faces=cube[2])
        items = []
        for i in range(n):
            item = gl.GLMeshItem(meshdata=sphere_md if b["sphere"][i] else cube_md, smooth=b["sphere"][i],
                                 color=tuple(b["colours"][i]), shader="shaded")
            view.addItem(item)
            items.append(item)

        def update_items(frame: int) -> None:
            pos = b["centers"] + wobble[frame % 64]
            for i, item in enumerate(items):
                t = QtGui.QMatrix4x4()
                t.translate(*pos[i])
                w, x, y, z = b["rotations"][i]
                t.rotate(QtGui.QQuaternion(w, x, y, z))
                t.scale(float(b["sizes"][i]))
                item.setTransform(t)

        results["meshitem_fps"] = round(_measure(view, update_items, args.seconds), 2)
        view.close()
        results["ratio_vs_meshitem"] = (round(results["fps"] / results["meshitem_fps"], 1)
                                        if results["meshitem_fps"] else None)
    scatter = results["scatter_fps"]
    results["ratio_vs_scatter"] = round(results["fps"] / scatter, 2) if scatter else None
    return results


def _renderer(view) -> str:
    from OpenGL import GL

    view.makeCurrent()
    try:
        name = GL.glGetString(GL.GL_RENDERER)
    finally:
        view.doneCurrent()
    return name.decode() if name else "unknown"
