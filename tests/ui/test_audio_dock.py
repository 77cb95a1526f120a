"""The Audio dock drives the engine's public API and remembers the choices."""

import pytest
from PySide6 import QtCore

from krapition_app.engine.acoustics import AudioEngine
from krapition_app.ui.audio_dock import DEFAULT_DEVICE, AudioDock

pytestmark = pytest.mark.gui


@pytest.fixture
def engine():
    e = AudioEngine()
    yield e
    e.stop()


def make_dock(qtbot, engine, tmp_path) -> AudioDock:
    settings = QtCore.QSettings(str(tmp_path / "ui.ini"), QtCore.QSettings.Format.IniFormat)
    dock = AudioDock(engine, settings)
    qtbot.addWidget(dock)
    return dock


def test_controls_reach_the_engine_and_survive_a_restart(qtbot, engine, tmp_path):
    dock = make_dock(qtbot, engine, tmp_path)
    assert dock.device.itemText(0) == DEFAULT_DEVICE
    dock.volume.setValue(150)
    dock.mute.setChecked(True)
    dock.mode.setCurrentText("headphones")
    dock.room_size[0].setValue(6.0)
    dock.absorption.setValue(60)
    assert engine.volume == pytest.approx(1.5)
    assert engine.muted
    assert engine.output_mode == "headphones"
    assert engine.room.size == (6.0, 8.0, 4.0)
    assert engine.room.absorption == (0.6,) * 6
    again = make_dock(qtbot, AudioEngine(), tmp_path)
    assert again.volume.value() == 150 and again.mute.isChecked()
    assert again.mode.currentText() == "headphones"
    assert again.engine.room.size == (6.0, 8.0, 4.0)


def test_a_silent_engine_says_why(qtbot, engine, tmp_path):
    engine.start(device="no such device anywhere")
    dock = make_dock(qtbot, engine, tmp_path)
    dock.refresh()
    assert dock.status.text().startswith("Silent: ")
    assert dock.status_text() == "audio: silent"
    assert "underruns" in dock.stats.text()


def test_a_playing_engine_shows_its_delay_and_the_sound_threads_scheduling(qtbot, tmp_path):
    from krapition_app.engine.acoustics import AudioStatus

    class Playing(AudioEngine):
        @property
        def status(self) -> AudioStatus:
            return AudioStatus(running=True, silent=False, reason="", device="dummy out",
                               scheduled_latency=0.0143, realtime="SCHED_FIFO priority 10")

    dock = make_dock(qtbot, Playing(), tmp_path)
    dock.refresh()
    assert dock.status.text() == ("Playing on dummy out, 14 ms from collision to sound; "
                                  "sound threads: SCHED_FIFO priority 10")
    assert dock.status_text() == "audio: dummy out"

