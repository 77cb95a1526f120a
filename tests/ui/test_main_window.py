"""The first window, driven in-process with pytest-qt (OpenGL under Xvfb via pytest-xvfb)."""

import json

import pytest
from images import rgb_array
from PySide6 import QtCore, QtGui

from krapition_app import __version__
from krapition_app.model.scene import load_scene
from krapition_app.ui.actions import ACTIONS

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, make_window):
    w = make_window()
    qtbot.waitUntil(lambda: w.viewport.renderer_name != "not started", timeout=10_000)
    return w


def test_shows_every_body_of_the_default_scene(window):
    assert window.viewport.body_count == len(window.scene.bodies) == 27
    assert "27" in window.bodies_label.text()
    assert window.windowTitle().startswith("Krapition playground")
    assert window.renderer_label.text().startswith("renderer: ")


def test_menus_come_from_the_action_registry(window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Simulation", "S&ession", "&Help"]
    for spec in ACTIONS:
        action = window.actions_by_id[spec.id]
        assert action.text() == spec.text
        if spec.shortcut is not None:
            assert not action.shortcut().isEmpty()
    assert window.actions_by_id["quit"].shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Quit)


def test_about_names_version_and_log_folder(window):
    text = window.about_text()
    assert __version__ in text
    assert str(window.paths.logs) in text


def test_opening_a_broken_scene_warns_and_keeps_the_current_one(window, tmp_path, dialogs):
    broken = tmp_path / "broken.json"
    broken.write_text('{"bodies": [{"name": "x", "shape": "sphere", "radius": "big"}]}')
    before = window.scene
    assert not window.open_scene(broken)
    assert window.scene is before
    [(kind, title, text)] = dialogs
    assert kind == "warning" and title == "Cannot open the scene"
    assert "broken.json" in text and "$.bodies[0].radius" in text


def test_save_and_open_a_scene(window, tmp_path, dialogs):
    path = tmp_path / "copy.json"
    assert window.save_scene_as(path)
    assert load_scene(path) == window.scene
    data = json.loads(path.read_text())
    data["name"] = "Copy"
    data["bodies"] = data["bodies"][:3]
    path.write_text(json.dumps(data))
    assert not window.open_scene(path)  # its constraints name bodies that are gone
    assert "names unknown body" in dialogs[-1][2]
    data["constraints"] = []
    path.write_text(json.dumps(data))
    assert window.open_scene(path)
    assert window.viewport.body_count == 3
    assert "copy.json" in window.windowTitle()


def test_viewport_screenshot_shows_the_bodies(window, artifacts, qtbot):
    path = artifacts / "default-scene.png"
    assert window.save_screenshot(path)
    rgb = rgb_array(QtGui.QImage(str(path)))
    assert rgb.std() > 10  # not blank
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert ((r > 110) & (r > 2 * g) & (r > 2 * b)).sum() > 30  # the red rubber ball
    assert ((b > 110) & (b > 1.5 * r) & (b > 1.2 * g)).sum() > 200  # the blue plastic pyramid


def test_window_geometry_is_remembered(window):
    window.resize(900, 640)
    window.close()
    assert isinstance(window.settings.value("window/geometry"), QtCore.QByteArray)
