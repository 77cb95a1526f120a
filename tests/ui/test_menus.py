"""File, View and theme actions of the main window."""

import pytest
from PySide6 import QtGui, QtWidgets

from krapition_app.app import load_start_scene
from krapition_app.model.scene import Scene, load_scene, save_scene
from krapition_app.ui.theme import is_dark

pytestmark = pytest.mark.gui


def test_new_scene_is_empty(make_window):
    w = make_window()
    w.actions_by_id["new_scene"].trigger()
    assert w.scene.bodies == () and w.viewport.body_count == 0
    assert w.windowTitle().startswith("Untitled")


def test_save_writes_to_the_scene_file_and_recent_lists_it(make_window, tmp_path):
    w = make_window()
    path = tmp_path / "mine.json"
    save_scene(Scene(name="Mine"), path)
    assert w.open_scene(path)
    w.actions_by_id["save_scene"].trigger()
    assert load_scene(path).name == "Mine"
    assert w.recent_scenes() == [path]
    w.recent_menu.aboutToShow.emit()
    assert [a.text() for a in w.recent_menu.actions()] == ["mine.json"]
    # the last scene is what the next start opens
    scene, start_path = load_start_scene(None, path)
    assert start_path == path and scene.name == "Mine"


def test_a_broken_last_scene_falls_back_to_the_playground(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    scene, path = load_start_scene(None, broken)
    assert path is None and scene.name == "Krapition playground"


def test_theme_choice_applies_and_is_remembered(make_window):
    w = make_window()
    w.actions_by_id["theme_dark"].trigger()
    assert is_dark(QtWidgets.QApplication.palette())
    w.actions_by_id["theme_light"].trigger()
    assert not is_dark(QtWidgets.QApplication.palette())
    w.actions_by_id["theme_dark"].trigger()
    w.close()
    again = make_window()
    assert again.actions_by_id["theme_dark"].isChecked()
    assert is_dark(QtWidgets.QApplication.palette())
    again.actions_by_id["theme_system"].trigger()
    assert again.settings.value("view/theme") == "system"


def test_fps_overlay_draws_over_the_view(make_window, qtbot):
    w = make_window()
    w.actions_by_id["toggle_fps_overlay"].trigger()
    assert w.fps_overlay is not None
    for _ in range(3):
        w.viewport.update()
        qtbot.wait(30)
    image = w.viewport.grabFramebuffer()
    corner = image.copy(8, 8, 110, 24)
    # the overlay's dark box with light text sits in the top-left corner
    light = sum(QtGui.QColor(corner.pixel(x, y)).lightness() > 200 for x in range(110) for y in range(24))
    assert light > 20
    w.actions_by_id["toggle_fps_overlay"].trigger()
    assert w.fps_overlay is None


def test_hand_over_strategy_choice_is_remembered_and_given_to_the_session(make_window):
    from types import SimpleNamespace

    from krapition_app.p2p.balancing import Balancer, Strategy

    w = make_window()
    assert w.handover_strategy() == "least_loaded"  # the default
    assert w.actions_by_id["handover_least_loaded"].isChecked()
    w.actions_by_id["handover_round_robin"].trigger()
    assert w.settings.value("session/handover_strategy") == "round_robin"
    w.settings.setValue("session/handover_weights", "b.lan:7000=3, c.lan:7000=1")
    session = SimpleNamespace(strategy=Strategy.LEAST_LOADED, balancer=Balancer())
    w._apply_handover_settings(session)
    assert session.strategy is Strategy.ROUND_ROBIN
    assert session.balancer.settings.weights == {"b.lan:7000": 3.0, "c.lan:7000": 1.0}
    w.close()
    again = make_window()
    assert again.actions_by_id["handover_round_robin"].isChecked()
    again.actions_by_id["handover_adaptive"].trigger()
    assert again.handover_strategy() == "adaptive"
