"""Physics to sound: the body table, and `krapition render-audio` end to end."""

import json
import wave

import numpy as np
import pytest

from krapition_app.cli import main
from krapition_app.engine.sounding import body_table, simulated_steps
from krapition_app.engine.world import World
from krapition_app.model.materials import MATERIAL_NAMES
from krapition_app.model.scene import BodySpec, Scene, save_scene

BALL = BodySpec(name="ball", shape="sphere", radius=0.1, material="glass", position=(1.0, 0.0, 0.6))
WALL = BodySpec(name="wall", shape="box", half_extents=(0.5, 0.05, 0.5), material="stone",
                position=(0.0, 2.0, 0.5), static=True)


def test_body_table_mirrors_the_physics():
    world = World.from_scene(Scene(bodies=(BALL, WALL)))
    table = body_table(world)
    assert list(table.shape) == [0, 1]
    assert table.radius[0] == 0.1
    assert list(table.half_extents[1]) == [0.5, 0.05, 0.5]
    assert [MATERIAL_NAMES[m] for m in table.material] == ["glass", "stone"]
    assert table.mass[0] == pytest.approx(2500 * 4 / 3 * np.pi * 0.1**3)
    assert table.mass[1] == 0.0  # static: the acoustics derives it


def test_steps_carry_the_bounce():
    world = World.from_scene(Scene(bodies=(BALL,)))
    impacts = [(t, c) for t, c, _ in (next(s) for s in [simulated_steps(world)] * 90) if len(c)]
    assert impacts, "the ball hits the ground within 1.5 s"
    t, contacts = impacts[0]
    # dropped from 0.5 m above its resting height: it lands after sqrt(2 h / g) = 0.32 s
    assert t == pytest.approx((2 * 0.5 / 9.81) ** 0.5, abs=0.05)
    assert contacts.normal_impulse.max() > 0


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels()).astype(float)


def test_render_audio_is_bit_identical_and_placed(tmp_path, capsys):
    scene = tmp_path / "drop.json"
    save_scene(Scene(name="drop", bodies=(BALL,)), scene)
    near, again, far = tmp_path / "near.wav", tmp_path / "again.wav", tmp_path / "far.wav"
    for out, listener in ((near, "1,-1,0.5"), (again, "1,-1,0.5"), (far, "1,-3.5,0.5")):
        assert main(["render-audio", str(scene), str(out), "--seconds", "1", "--listener", listener,
                     "--look-at", "1,0,0.3"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[0])
    # 59 steps: the one ending at exactly 1 s falls past the end of the recording
    assert report["sample_rate"] == 48000 and report["steps"] == 59
    assert near.read_bytes() == again.read_bytes()
    a, b = read_wav(near), read_wav(far)
    assert np.abs(a).max() > 1000  # the bounce is heard
    onset = lambda x: int(np.argmax(np.abs(x).sum(axis=1) > 0.05 * np.abs(x).max()))  # noqa: E731
    assert onset(b) > onset(a)  # farther away: later ...
    assert np.abs(b).max() < np.abs(a).max()  # ... and quieter


def test_render_audio_reports_bad_input(tmp_path, capsys):
    assert main(["render-audio", str(tmp_path / "missing.json"), str(tmp_path / "x.wav")]) == 2
    assert "cannot read scene file" in capsys.readouterr().err
