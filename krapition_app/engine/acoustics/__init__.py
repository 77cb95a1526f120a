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

from .bodies import BOX, SPHERE, BodyTable
from .devices import OutputDevice, list_output_devices
from .errors import AcousticInputError, AudioDeviceError
from .events import acoustic_events
from .excitation import Excitations, excite
from .listener import ListenerPose
from .mixer import Mixer, MixerConfig
from .offline import RenderResult, render_scene_audio, render_steps, write_wav
from .paths import OUTPUT_MODES
from .realtime import AudioEngine, AudioStatus, EngineConfig
from .room import WALLS, RoomSettings

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
