"""The offline renderer: bit-identical between runs, impacts at their exact sample, a valid WAV."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np
import pytest
from acoustic_helpers import DRY_ROOM, LISTENER, impact, one_body

from krapition_app.engine.acoustics import AcousticInputError, render_scene_audio, render_steps
from krapition_app.engine.contacts import SLIDING

FS = 48_000


def _scene():
    bodies = one_body("box", "metal", half_extents=(0.3, 0.03, 0.01))
    steps = [
        (0.05, impact(speed=1.0), bodies),
        (0.2, impact(speed=2.0), bodies),
        (0.25, impact(speed=0.0, impulse=0.02, kind=SLIDING, tangential=1.0), bodies),
    ]
    return lambda: iter(steps)


def test_render_is_bit_identical_between_runs(tmp_path: Path) -> None:
    a = render_scene_audio(_scene(), 0.5, tmp_path / "a.wav")
    b = render_scene_audio(_scene(), 0.5, tmp_path / "b.wav")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "a.wav", tmp_path / "b.wav")]
    assert digest[0] == digest[1]
    assert a.frames == b.frames == FS // 2 and a.steps == 3
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, FS, FS // 2)
    assert 0 < a.peak <= np.float32(0.98)


def test_impact_lands_on_its_exact_sample() -> None:
    bodies = one_body("box", "wood", position=(0.0, 0.0, 0.5), half_extents=(0.25, 0.04, 0.02))
    for t in (0.0123, 0.0456789):
        out, _ = render_steps(
            [(t, impact(point=(0.0, 0.0, 0.5)), bodies)],
            0.2,
            room=DRY_ROOM,
            listener=LISTENER,
            output_mode="mono",
        )
        onset = int(np.nonzero(np.abs(out[:, 0]) > 0)[0][0])
        assert onset == round(t * FS) + round(2.0 / 343.0 * FS)  # event frame + direct path (2 m)


def test_bad_seconds_and_times_are_rejected() -> None:
    with pytest.raises(AcousticInputError, match="seconds"):
        render_steps([], -1.0)
    bodies = one_body()
    with pytest.raises(AcousticInputError, match="time"):
        render_steps([(float("nan"), impact(), bodies)], 0.1)
