"""Offline rendering: a timed sequence of contact steps to exactly what the listener hears, as WAV.

The renderer runs the same Mixer as the real-time engine, but on simulated time: a step stamped t
seconds sounds at frame round(t * fs), with no device, thread or clock involved, so the same steps
always give bit-identical samples. ``krapition render-audio SCENE.json OUT.wav --seconds S`` wires a
physics World's step loop to :func:`render_scene_audio`.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contacts import ContactEvents
from .bodies import BodyTable
from .errors import AcousticInputError
from .excitation import excite
from .listener import ListenerPose
from .mixer import Mixer, MixerConfig
from .room import RoomSettings

Step = tuple[float, ContactEvents, BodyTable]
StepSource = Iterable[Step] | Callable[[], Iterable[Step]]
BLOCK = 256
#: offline quality: every image source of order <= 3 (63 paths) per voice
OFFLINE_MIXER = MixerConfig(paths_per_voice=64)


@dataclass(frozen=True, slots=True)
class RenderResult:
    path: Path | None
    frames: int
    sample_rate: int
    peak: float
    steps: int
    stats: dict[str, int]


def render_steps(
    steps: StepSource,
    seconds: float,
    *,
    room: RoomSettings | None = None,
    listener: ListenerPose | None = None,
    output_mode: str = "stereo",
    config: MixerConfig = OFFLINE_MIXER,
    static_material: str = "stone",
    step_dt: float = 1.0 / 240.0,
) -> tuple[np.ndarray, RenderResult]:
    """(frames, 2) float32 samples of ``seconds`` of sound from the steps (time, contacts, bodies)."""
    if not (math.isfinite(seconds) and 0 < seconds <= 3600):
        raise AcousticInputError("seconds", f"must be in (0, 3600], got {seconds!r}")
    mixer = Mixer(config, room, listener, output_mode)
    fs = mixer.fs
    total = round(seconds * fs)
    out = np.zeros((total + BLOCK, 2), np.float32)
    rev = np.zeros(BLOCK, np.float32)
    count = 0
    iterator: Iterator[Step] = iter(steps() if callable(steps) else steps)
    for time, contacts, bodies in iterator:
        if not math.isfinite(time) or time < 0:
            raise AcousticInputError("time", f"step times must be finite and >= 0, got {time!r}")
        frame = round(time * fs)
        if frame >= total:
            break
        while mixer.frame + BLOCK <= frame:  # render everything before this step's block
            mixer.render(out[mixer.frame : mixer.frame + BLOCK], rev)
        rows = excite(
            contacts,
            bodies,
            time,
            static_material=static_material,
            step_dt=step_dt,
            max_rows=config.max_voices,
        )
        mixer.schedule(np.full(len(rows), max(frame, mixer.frame), np.int64), rows)
        count += 1
    while mixer.frame < total:
        mixer.render(out[mixer.frame : mixer.frame + BLOCK], rev)
    samples = out[:total]
    result = RenderResult(
        path=None,
        frames=total,
        sample_rate=fs,
        peak=float(np.abs(samples).max(initial=0.0)),
        steps=count,
        stats=mixer.stats(),
    )
    return samples, result


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM WAV (samples in -1..1; the limiter keeps them there)."""
    path = Path(path)
    pcm = np.clip(np.round(samples.astype(np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(samples.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return path


def render_scene_audio(
    step_source: StepSource, seconds: float, out_path: str | Path, **options: object
) -> RenderResult:
    """Render ``seconds`` of the steps to a WAV at ``out_path``; options as :func:`render_steps`."""
    samples, result = render_steps(step_source, seconds, **options)  # type: ignore[arg-type]
    path = write_wav(out_path, samples, result.sample_rate)
    return RenderResult(
        path=path,
        frames=result.frames,
        sample_rate=result.sample_rate,
        peak=result.peak,
        steps=result.steps,
        stats=result.stats,
    )
