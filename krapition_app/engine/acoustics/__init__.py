"""Acoustics: from contact events to sound at the speakers (or in a WAV file).

Modules, one job each: ``bodies`` (the body table), ``modes`` (mode tables), ``excitation`` (contacts to
mode excitations: Hertz contact, sliding/rolling noise), ``room`` (shoebox settings), ``paths`` (image
sources, ITD/ILD), ``prepare`` (poles, paths and air absorption per excitation), ``voices`` (voice pool
and stealing), ``synth`` (modal + path kernel), ``reverb`` (FDN), ``mixer`` (the synthesis core and
master limiter), ``events`` (acoustic event payloads), ``ring`` and ``realtime`` (the PortAudio engine),
``devices`` (device list), ``offline`` (WAV rendering), ``jack_dummy`` (a private JACK dummy server for
tests and the benchmark).

The app's entry points: :class:`AudioEngine` (real time) and :func:`render_scene_audio` (offline).
"""

from pathlib import Path

from .. import kernel_cache

# before any kernel loads from the disk cache: the fused block kernel (mixer) inlines the others
kernel_cache.ensure_fresh(Path(__file__).absolute().parent, "acoustics")

from .bodies import BOX, SPHERE, BodyTable  # noqa: E402
from .devices import OutputDevice, list_output_devices  # noqa: E402
from .errors import AcousticInputError, AudioDeviceError  # noqa: E402
from .events import acoustic_events  # noqa: E402
from .excitation import Excitations, excite  # noqa: E402
from .listener import ListenerPose  # noqa: E402
from .mixer import Mixer, MixerConfig  # noqa: E402
from .offline import RenderResult, render_scene_audio, render_steps, write_wav  # noqa: E402
from .paths import OUTPUT_MODES  # noqa: E402
from .realtime import AudioEngine, AudioStatus, EngineConfig  # noqa: E402
from .room import WALLS, RoomSettings  # noqa: E402

__all__ = [
    "BOX",
    "OUTPUT_MODES",
    "SPHERE",
    "WALLS",
    "AcousticInputError",
    "AudioDeviceError",
    "AudioEngine",
    "AudioStatus",
    "BodyTable",
    "EngineConfig",
    "Excitations",
    "ListenerPose",
    "Mixer",
    "MixerConfig",
    "OutputDevice",
    "RenderResult",
    "RoomSettings",
    "acoustic_events",
    "excite",
    "list_output_devices",
    "render_scene_audio",
    "render_steps",
    "write_wav",
]
