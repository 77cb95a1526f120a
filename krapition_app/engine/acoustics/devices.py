"""Output devices through PortAudio (sounddevice), imported lazily: without PortAudio, no devices."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_samplerate: float
    low_latency_s: float
    is_default: bool


def portaudio() -> ModuleType | None:
    """The sounddevice module, or None where PortAudio cannot be loaded."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:  # no libportaudio on this system
        log.warning("audio: PortAudio is not available (%s); running silently", exc)
        return None
    return sounddevice


def rescan() -> None:
    """Make PortAudio look for devices again (after a JACK server or a USB device appeared)."""
    sd = portaudio()
    if sd is None:
        return
    sd._terminate()
    sd._initialize()


def list_output_devices() -> list[OutputDevice]:
    """Every device that can play at least two channels (one is enough for mono hardware)."""
    sd = portaudio()
    if sd is None:
        return []
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default = sd.default.device[1]
    except Exception as exc:  # PortAudio errors are plain Exceptions
        log.warning("audio: cannot list devices (%s)", exc)
        return []
    out = []
    for i, d in enumerate(devices):
        if d["max_output_channels"] < 1:
            continue
        out.append(
            OutputDevice(
                index=i,
                name=str(d["name"]),
                hostapi=str(hostapis[d["hostapi"]]["name"]),
                channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                low_latency_s=float(d["default_low_output_latency"]),
                is_default=(i == default),
            )
        )
    return out


def find_device(choice: int | str | None) -> OutputDevice | None:
    """The device for ``choice`` (index, exact name or substring); None: the default one, if any."""
    devices = list_output_devices()
    if not devices:
        return None
    if choice is None:
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    for d in devices:
        if (isinstance(choice, int) and d.index == choice) or d.name == choice:
            return d
    if isinstance(choice, str):
        for d in devices:
            if choice.lower() in d.name.lower():
                return d
    return None
