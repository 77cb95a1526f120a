"""The real-time audio engine: contacts in, sound at the speakers, on time.

Threads:

- the caller (simulation thread) validates contacts and turns them into excitations
  (:meth:`AudioEngine.submit`), then hands them over through a deque and wakes the synthesis thread;
- the synthesis thread keeps a lock-free ring ``ahead_s`` (tens of milliseconds) of mix ahead of the
  callback, rendered with the numba kernels (``nogil``). Each excitation's timestamp maps to the output
  frame that plays at that moment plus one fixed offset, so every impact keeps its exact sub-block
  time. That frame is normally already in the ring: the impact is added to the frames from there on
  (:mod:`.late`; the synthesis is linear in the excitations) and to its voice's state for the blocks
  still to come. So the lead costs no latency, and a render that runs slow or a machine that stalls
  for less than the lead costs no underrun: at worst an impact sounds late;
- the PortAudio callback (48 kHz, blocksize 256, latency 'low') copies from the ring into the output
  buffer and applies the master section (volume, mono fold, limiter; after late impacts were added)
  via one njit function: no allocation of buffers, no lock, no logging, no file.

Robust on a loaded machine: the synthesis thread asks for real-time scheduling (``SCHED_FIFO`` at a
low priority, see :mod:`.rtsched`; the PortAudio callback thread too, where the host API left it under
normal scheduling), and falls back quietly where the OS refuses (:attr:`AudioStatus.realtime` says
which). Both threads need the GIL, and a thread waiting for it gets it only when the holder drops it:
at the latest after the interpreter's switch interval, which :meth:`AudioEngine.start` lowers from
5 ms to 0.5 ms while audio runs. So the audio path hands the GIL over as rarely as possible: one
kernel call per block (voices, synthesis, reverb and the ring store together), one per batch of late
impacts, a callback kernel that keeps the GIL for its few microseconds, and a caller whose per-step
work (:meth:`AudioEngine.submit`: excitation and preparation) runs in kernels that release it.

Frame numbers are playback frames: frame F leaves the DAC at ``play_time(F)``. The clock mapping comes
from the callback's own timestamps (``time.monotonic()`` plus PortAudio's DAC latency), taking the
earliest-consistent record of the last few callbacks so a late callback does not shift it.
Without an output device the engine says so in :attr:`status` and runs silently: :meth:`submit`
still validates and still produces events.

The fixed offset is the latency budget, every term of it structural (:meth:`AudioEngine.latency_budget`):

- ``dac``: the device's own buffering, outputBufferDacTime - currentTime of the callback (JACK:
  one period in sync mode, two in asynchronous mode);
- ``block``: the callback takes 256 frames at once, so the next frame it has not taken yet can be up to
  a block past the DAC's;
- ``guard``: from an impact reaching the synthesis thread to it being in the ring (wake-up, GIL, the
  late-impact kernel);
- ``margin``: time from the contact's timestamp to its excitations reaching the synthesis thread
  (the work in :meth:`AudioEngine.submit`); grows when impacts keep coming late for their frame,
  relaxes after quiet time.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...model.events import EventPayload
from ..contacts import ContactEvents
from .bodies import BodyTable
from .devices import OutputDevice, find_device, list_output_devices, portaudio, rescan
from .errors import AcousticInputError, AudioDeviceError
from .events import UriOf, acoustic_events
from .excitation import Excitations, excite
from .listener import ListenerPose, output_mode_code
from .mixer import Mixer, MixerConfig
from .prepare import Geometry, Prepared, prepare
from .ring import CALLBACKS, PA_UNDERFLOWS, TIMING_RECORDS, UNDERRUNS, FrameRing, callback_play
from .room import RoomSettings
from .rtsched import SYNTH_PRIORITY, promote
from .voices import ARRIVAL_RING

log = logging.getLogger(__name__)

BLOCKSIZE = 256
PLACEMENT_LOG = 4096
INBOX_STEPS = 512
#: the interpreter's switch interval while audio runs (CPython's default is 5 ms): the longest an audio
#: thread waits for the GIL while another thread runs Python
SWITCH_INTERVAL_S = 0.0005
#: the longest the synthesis thread sleeps (it applies settings and sees underruns then); an impact wakes it
MAX_SLEEP_S = 0.002
#: frames of the ring (170 ms at 48 kHz): more than the longest lead
RING_FRAMES = 8192
#: per-block log of render slack (seconds between a block being ready and its callback)
SLACK_LOG = 4096
#: callbacks before the clock mapping is trusted, and how many recent ones it is taken from
CLOCK_SETTLE = 16
CLOCK_WINDOW = 64


@dataclass(frozen=True, slots=True)
class EngineConfig:
    #: real time: the 8 strongest paths per voice (direct + 7 reflections); offline renders take all 63
    mixer: MixerConfig = field(default_factory=lambda: MixerConfig(paths_per_voice=8))
    blocksize: int = BLOCKSIZE
    #: frames of silence in the ring when the stream starts (before the clock is known)
    lead_frames: int = 512
    #: keep this much mix rendered ahead of the callback (the ring's lead). Impacts for frames already
    #: rendered are added to them, so the lead adds no latency; a render that runs slow or a stall of the
    #: machine shorter than it costs no underrun
    ahead_s: float = 0.02
    #: after an underrun, or a block ready less than near_miss_s before its callback, the lead grows by
    #: the block's lateness plus ahead_step_s, up to ahead_max_s; it relaxes after guard_relax_s
    ahead_step_s: float = 0.004
    ahead_max_s: float = 0.06
    near_miss_s: float = 0.004
    #: from an impact reaching the synthesis thread to it being in the ring (a term of the fixed offset)
    guard_s: float = 0.002
    #: seconds without an underrun, a near miss or a late impact before the lead or margin steps back down
    guard_relax_s: float = 10.0
    #: frames the synthesis thread renders at a time: a whole block, one kernel call (one GIL hand-over)
    chunk_frames: int = BLOCKSIZE
    #: ask for SCHED_FIFO for the synthesis thread (and a normally scheduled callback thread)
    realtime: bool = True
    #: frames added to the fixed offset for the time between a contact's timestamp and the synthesis
    #: thread seeing its excitations (submit's own work); grows by margin_step_frames while more than
    #: late_fraction of recent impacts come too late for their frame (a systematic cost, such as a
    #: large step's submit; a stray late impact only costs its own delay), up to margin_max_frames,
    #: and relaxes like the guard
    margin_frames: int = 32
    margin_step_frames: int = 24
    margin_max_frames: int = 144
    late_fraction: float = 0.1
    #: keep the last this many frames as played, for tests and diagnostics (0: off)
    monitor_frames: int = 0
    static_material: str = "stone"
    #: produce acoustic events in submit() (needs uri_of)
    events: bool = True
    max_event_sources: int = 8


@dataclass(frozen=True, slots=True)
class AudioStatus:
    running: bool
    silent: bool
    reason: str
    device: str | None = None
    sample_rate: int = 48_000
    blocksize: int = BLOCKSIZE
    #: PortAudio's reported output latency, seconds
    output_latency: float = 0.0
    #: the fixed collision-to-output delay every impact gets, seconds (0 until the clock is known)
    scheduled_latency: float = 0.0
    #: the synthesis thread's scheduling: "SCHED_FIFO priority 10", or "normal scheduling (why)"
    realtime: str = ""
    #: the PortAudio callback thread's scheduling, as seen from here ("" until the first callbacks)
    callback_realtime: str = ""


class AudioEngine:
    """Public API the app and the UI call. Every method is safe to call from any thread."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        room: RoomSettings | None = None,
        listener: ListenerPose | None = None,
        output_mode: str = "stereo",
        uri_of: UriOf | None = None,
        listener_uri: str = "krapition://localhost:8080/audio/listeners/main",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or EngineConfig()
        self.fs = self.config.mixer.sample_rate
        output_mode_code(output_mode)
        self._room = room or RoomSettings()
        self._listener = listener or ListenerPose()
        self._mode = output_mode
        self._uri_of = uri_of
        self._listener_uri = listener_uri
        self._clock = clock
        self._volume = 1.0
        self._muted = False
        #: newest value of each setting not yet applied by the synthesis thread (dict ops are atomic)
        self._commands: dict[str, Any] = {}
        #: bounded: if the synthesis thread ever stalls, the oldest steps are dropped, memory stays flat
        self._inbox: collections.deque[tuple[float, Excitations, Prepared]] = collections.deque(
            maxlen=INBOX_STEPS
        )
        self._geometry = self._make_geometry()
        self._status = AudioStatus(running=False, silent=True, reason="not started")
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._device_choice: int | str | None = None
        self._offset = -1
        self._ahead = self.config.ahead_s
        self._last_near_miss = 0.0
        self._wake = threading.Event()  # set by submit: an impact to place
        self._dac = 0.0
        self._seen_underruns = 0
        self._origin = 0.0
        self._origin_count = -1
        self._margin = self.config.margin_frames
        self._last_late = 0.0
        self._late_placements = 0
        self._late_rate = 0.0
        self._slack = np.full(SLACK_LOG, np.nan)
        self._blocks_ready = 0
        self._placements = np.zeros((PLACEMENT_LOG, 2), np.float64)
        self._placed = 0
        #: impacts scheduled but not yet in the ring: (placement log slot, target frame, clock known)
        self._unsettled: list[tuple[int, int, bool]] = []
        self._rejected = 0
        self._switch_interval: float | None = None
        self._realtime = ""
        self._callback_realtime = ""
        #: native id of the PortAudio callback thread (0 until the first callback records it)
        self._callback_tid = 0
        self._lock = threading.Lock()  # guards start/stop only (never taken by the audio path)
        self.mixer: Mixer | None = None
        self.ring: FrameRing | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self, device: int | str | None = None) -> AudioStatus:
        """Open the output (``device``: index, name or None for the default) and start the threads.

        Never raises for a missing device: the engine then runs silently and :attr:`status` says why.
        """
        with self._lock:
            self._stop_locked()
            self._device_choice = device
            self.mixer = Mixer(self.config.mixer, self._room, self._listener, self._mode)
            self.ring = FrameRing(RING_FRAMES, 2, self.config.monitor_frames, self.fs)
            self._apply_gain(ramp=False)
            self.ring.set_mono(self._mode == "mono")
            self._offset = -1
            self._ahead = self.config.ahead_s
            self._margin = self.config.margin_frames
            self._late_placements = 0
            self._late_rate = 0.0
            self._slack[:] = np.nan
            self._blocks_ready = 0
            self._seen_underruns = 0
            self._origin_count = -1
            self._realtime = ""
            self._callback_realtime = ""
            self._callback_tid = 0
            self._commands.clear()
            _warm_up(self.config)
            sd = portaudio()
            chosen = find_device(device) if sd is not None else None
            if sd is None or chosen is None:
                reason = (
                    "PortAudio is not available"
                    if sd is None
                    else f"no audio output device{'' if device is None else f' matching {device!r}'}"
                )
                self._status = AudioStatus(running=False, silent=True, reason=reason + "; running silently")
                log.warning("audio: %s", self._status.reason)
                return self._status
            try:
                self._stream = sd.OutputStream(
                    samplerate=self.fs,
                    blocksize=self.config.blocksize,
                    device=chosen.index,
                    channels=2,
                    dtype="float32",
                    latency="low",
                    callback=self._callback,
                )
            except Exception as exc:  # PortAudioError and ValueError for unsupported settings
                self._stream = None
                self._status = AudioStatus(
                    running=False, silent=True, reason=f"cannot open {chosen.name!r}: {exc}; running silently"
                )
                log.warning("audio: %s", self._status.reason)
                return self._status
            self._stop.clear()
            # the audio threads need the GIL between kernels: let a waiting thread in after 0.5 ms instead of
            # CPython's default 5 ms (longer than the reaction guard); restored by stop()
            if self._switch_interval is None:
                self._switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._prefill()
            self._thread = threading.Thread(
                target=self._synth_loop, name="krapition-audio-synth", daemon=True
            )
            self._thread.start()
            self._stream.start()
            self._status = AudioStatus(
                running=True,
                silent=False,
                reason="playing",
                device=chosen.name,
                sample_rate=self.fs,
                blocksize=self.config.blocksize,
                output_latency=float(self._stream.latency),
            )
            log.info(
                "audio: playing on %r (%s), latency %.1f ms",
                chosen.name,
                chosen.hostapi,
                1000 * self._stream.latency,
            )
            return self._status

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()
            self._status = AudioStatus(running=False, silent=True, reason="stopped")

    def _stop_locked(self) -> None:
        self._stop.set()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:
                log.warning("audio: closing the stream failed: %s", exc)
            self._stream = None
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __enter__(self) -> AudioEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _make_geometry(self) -> Geometry:
        return Geometry(
            self._room,
            self._listener,
            self._mode,
            float(self.fs),
            self.config.mixer.paths_per_voice,
            ARRIVAL_RING,
        )

    # ---- devices, volume, settings -----------------------------------------------------------------
    @staticmethod
    def devices(refresh: bool = False) -> list[OutputDevice]:
        if refresh:
            rescan()
        return list_output_devices()

    def set_device(self, device: int | str | None) -> AudioStatus:
        """Switch to another output device (restarts the stream; ringing voices are cut)."""
        if device is not None and find_device(device) is None:
            raise AudioDeviceError(f"no audio output device matching {device!r}")
        return self.start(device)

    @property
    def status(self) -> AudioStatus:
        offset = self._offset
        if self._status.running:
            return replace(
                self._status,
                scheduled_latency=offset / self.fs if offset > 0 else 0.0,
                realtime=self._realtime,
                callback_realtime=self._callback_realtime,
            )
        return self._status

    @property
    def volume(self) -> float:
        return self._volume

    def set_volume(self, volume: float) -> None:
        """Master volume, 0 .. 2 (1 = unity)."""
        if not (isinstance(volume, int | float) and math.isfinite(volume) and 0.0 <= volume <= 2.0):
            raise AcousticInputError("volume", f"a number in 0..2, got {volume!r}")
        self._volume = float(volume)
        self._commands["volume"] = self._volume

    @property
    def muted(self) -> bool:
        return self._muted

    def set_muted(self, muted: bool) -> None:
        self._muted = bool(muted)
        self._commands["muted"] = self._muted

    @property
    def room(self) -> RoomSettings:
        return self._room

    def set_room(self, room: RoomSettings) -> None:
        self._room = room
        self._geometry = self._make_geometry()
        self._commands["room"] = room

    @property
    def listener(self) -> ListenerPose:
        return self._listener

    def set_listener(self, pose: ListenerPose) -> None:
        """The camera moved: paths are recomputed for every ringing voice."""
        self._listener = pose
        self._geometry = self._make_geometry()
        self._commands["listener"] = pose

    @property
    def output_mode(self) -> str:
        return self._mode

    def set_output_mode(self, mode: str) -> None:
        """'mono', 'stereo' (speakers: panning) or 'headphones' (interaural time and level differences)."""
        output_mode_code(mode)
        self._mode = mode
        self._geometry = self._make_geometry()
        self._commands["mode"] = mode

    # ---- contacts ----------------------------------------------------------------------------------
    def submit(
        self,
        contacts: ContactEvents,
        bodies: BodyTable,
        time: float | None = None,
        step_dt: float = 1.0 / 240.0,
    ) -> list[EventPayload]:
        """Sound one physics step's contacts, stamped ``time`` (this engine's clock; default: now).

        Raises :class:`AcousticInputError` (or ``UnknownMaterialError``) for bad input, before anything
        is queued: the stream keeps running. Returns the step's acoustic events (empty without uri_of).
        """
        stamp = self._clock() if time is None else float(time)
        try:
            rows = excite(
                contacts,
                bodies,
                stamp,
                static_material=self.config.static_material,
                step_dt=step_dt,
                max_rows=self.config.mixer.max_voices,
            )
        except Exception:
            self._rejected += 1
            raise
        if len(rows) and self._status.running:
            # paths, poles and air absorption are worked out here (numba, no GIL), not in the audio thread
            self._inbox.append((stamp, rows, prepare(rows, self._geometry)))
            self._wake.set()
        if not (self.config.events and self._uri_of is not None and len(rows)):
            return []
        return acoustic_events(
            contacts,
            bodies,
            rows,
            self._room,
            self._listener,
            self._uri_of,
            self._listener_uri,
            static_material=self.config.static_material,
            max_sources=self.config.max_event_sources,
        )

    # ---- measurements ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        ring = self.ring
        mixer = self.mixer
        out: dict[str, Any] = {
            "underruns": 0,
            "portaudio_underflows": 0,
            "callbacks": 0,
            "rejected": self._rejected,
            "placed": self._placed,
            "late_placements": self._late_placements,
            #: how far ahead of the callback the ring is kept (grows after an underrun or a near miss)
            "render_ahead_ms": round(self._ahead * 1000.0, 3),
        }
        if ring is not None:
            out.update(
                underruns=int(ring.index[UNDERRUNS]),
                portaudio_underflows=int(ring.index[PA_UNDERFLOWS]),
                callbacks=int(ring.index[CALLBACKS]),
            )
        if mixer is not None:
            out.update(mixer.stats())
        if self._stream is not None:
            with contextlib.suppress(Exception):  # PortAudio errors are plain Exceptions
                out["cpu_load"] = float(self._stream.cpu_load)
        return out

    def placements(self) -> np.ndarray:
        """(n, 2) of the most recent impacts: (event time, frame its first sample was scheduled at)."""
        n = min(self._placed, PLACEMENT_LOG)
        idx = np.arange(self._placed - n, self._placed) % PLACEMENT_LOG
        return self._placements[idx].copy()

    def play_time(self, frames: np.ndarray) -> np.ndarray:
        """Clock time at which each frame leaves the DAC, from the callbacks that played it (NaN: not yet)."""
        ring = self.ring
        frames = np.asarray(frames, np.float64)
        if ring is None:
            return np.full(frames.shape, np.nan)
        count = int(ring.index[CALLBACKS])
        n = min(count, TIMING_RECORDS)
        rec = ring.timing[np.arange(count - n, count) % TIMING_RECORDS]
        starts = rec[:, 0]
        k = np.searchsorted(starts, frames, side="right") - 1
        ok = (k >= 0) & (frames < starts[-1] + self.config.blocksize) if n else np.zeros(frames.shape, bool)
        k = np.clip(k, 0, max(n - 1, 0))
        t = rec[k, 1] + rec[k, 2] + (frames - rec[k, 0]) / self.fs if n else np.full(frames.shape, np.nan)
        return np.where(ok, t, np.nan)

    def monitor(self, first_frame: int, frames: int) -> np.ndarray:
        """What the callback played for frames [first_frame, first_frame + frames) (monitor_frames > 0)."""
        if self.ring is None or not self.ring.monitor_on:
            raise AcousticInputError("monitor", "start the engine with EngineConfig(monitor_frames > 0)")
        return self.ring.monitor_copy(first_frame, frames)

    def frame_at(self, t: float) -> float | None:
        """The playback frame leaving the DAC at clock time ``t`` (None before the first callbacks)."""
        ring = self.ring
        if ring is None:
            return None
        count = int(ring.index[CALLBACKS])
        if count < CLOCK_SETTLE:
            return None
        n = min(count - 4, CLOCK_WINDOW)
        rec = ring.timing[np.arange(count - n, count) % TIMING_RECORDS]
        origin = (rec[:, 1] + rec[:, 2] - rec[:, 0] / self.fs).min()  # earliest-consistent record
        return (t - origin) * self.fs

    # ---- the audio thread --------------------------------------------------------------------------
    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if not self._callback_tid:  # once: the synthesis thread may raise this thread's priority
            self._callback_tid = threading.get_native_id()
        ring = self.ring
        callback_play(
            outdata,
            ring.data,
            ring.index,
            ring.index[0],
            ring.monitor,
            ring.monitor_on,
            ring.timing,
            self._clock(),
            time_info.outputBufferDacTime - time_info.currentTime,
            status.output_underflow,
            ring.master,
        )

    # ---- the synthesis thread ----------------------------------------------------------------------
    def _prefill(self) -> None:
        block = np.zeros((self.config.lead_frames, 2), np.float32)
        self.ring.push(block)
        self.mixer.frame = self.ring.written

    def _apply_commands(self) -> None:
        mixer = self.mixer
        while self._commands:
            try:
                name, value = self._commands.popitem()
            except KeyError:
                break
            if name in ("volume", "muted"):
                self._apply_gain()
            elif name == "room":
                mixer.set_room(value)
            elif name == "listener":
                mixer.set_listener(value)
            elif name == "mode":
                mixer.set_output_mode(value)
                self.ring.set_mono(value == "mono")

    def _apply_gain(self, ramp: bool = True) -> None:
        """The callback's master gain: volume over the mixer's full-scale pressure, 0 when muted."""
        gain = 0.0 if self._muted else self._volume
        self.ring.set_gain(gain / self.config.mixer.full_scale_pa, ramp)

    def _schedule_inbox(self) -> None:
        mixer = self.mixer
        ring = self.ring
        if self._offset < 0 and int(ring.index[CALLBACKS]) >= CLOCK_SETTLE:
            dac = float(np.median(ring.timing[4:CLOCK_SETTLE, 2]))
            # the latest frame rendered at time t is at most (guard + DAC latency) * fs + one block ahead
            # of the frame leaving the DAC at t: that, plus a margin, is every impact's fixed delay
            self._dac = dac
            self._set_offset()
        while self._inbox:
            stamp, rows, prepared = self._inbox.popleft()
            frame_now = self.frame_at(stamp)
            known = frame_now is not None and self._offset >= 0
            target = math.floor(frame_now) + self._offset if known else ring.read
            mixer.schedule(np.full(len(rows), target, np.int64), rows, prepared)
            k = self._placed % PLACEMENT_LOG
            self._placements[k, 0] = stamp
            self._placements[k, 1] = target
            self._placed += 1
            self._unsettled.append((k, target, known))
        if self._unsettled:
            self._place_late()

    def _place_late(self) -> None:
        """Add the impacts due before the render head to the frames in the ring (see late.py); those due
        before the first frame the callback had not played yet start there (late)."""
        read = self.mixer.patch(self.ring)
        for k, target, known in self._unsettled:
            self._placements[k, 1] = max(target, read)
            if known:
                self._placement_was(late=target < read)
        self._unsettled.clear()

    def _set_offset(self) -> None:
        self._offset = (
            math.ceil((self.config.guard_s + self._dac) * self.fs) + self.config.blocksize + self._margin
        )

    def _placement_was(self, late: bool) -> None:
        """Widen the margin while impacts keep reaching the synthesis thread after their frame was rendered
        (a running average over about 20 impacts above ``late_fraction``)."""
        self._late_rate += 0.05 * (float(late) - self._late_rate)
        if not late:
            return
        self._late_placements += 1
        self._last_late = self._clock()
        if self._late_rate > self.config.late_fraction and self._margin < self.config.margin_max_frames:
            self._margin = min(self.config.margin_max_frames, self._margin + self.config.margin_step_frames)
            self._late_rate = 0.0
            self._set_offset()

    def latency_budget(self) -> dict[str, float]:
        """The fixed collision-to-output offset, term by term, in milliseconds (zeros until it is known)."""
        if self._offset <= 0:
            return {"dac": 0.0, "block": 0.0, "guard": 0.0, "margin": 0.0, "total": 0.0}
        ms = 1000.0 / self.fs
        dac_guard = math.ceil((self.config.guard_s + self._dac) * self.fs)  # the two as rendered, in frames
        return {
            "dac": round(self._dac * 1000.0, 3),
            "block": round(self.config.blocksize * ms, 3),
            "guard": round(dac_guard * ms - self._dac * 1000.0, 3),
            "margin": round(self._margin * ms, 3),
            "total": round(self._offset * ms, 3),
        }

    def render_slack(self) -> np.ndarray:
        """Seconds between each recent block being ready in the ring and its callback (oldest first)."""
        n = min(self._blocks_ready, SLACK_LOG)
        idx = np.arange(self._blocks_ready - n, self._blocks_ready) % SLACK_LOG
        return self._slack[idx].copy()

    def _adapt(self) -> None:
        """An underrun after the clock settled: render further ahead from now on (no latency cost).

        After ``guard_relax_s`` without an underrun or a near miss the lead steps back towards
        ``ahead_s``, and without a late impact the margin steps back towards ``margin_frames``.
        """
        underruns = int(self.ring.index[UNDERRUNS])
        now = self._clock()
        if underruns > self._seen_underruns:
            self._seen_underruns = underruns
            if self._offset > 0:
                self._grow_ahead(self.config.ahead_step_s)
        elif self._ahead > self.config.ahead_s and now - self._last_near_miss > self.config.guard_relax_s:
            self._ahead = max(self.config.ahead_s, self._ahead - self.config.ahead_step_s)
            self._last_near_miss = now
        if self._offset > 0 and self._margin > self.config.margin_frames and now - self._last_late > (
            self.config.guard_relax_s
        ):
            self._margin = max(self.config.margin_frames, self._margin - self.config.margin_step_frames)
            self._last_late = now
            self._set_offset()

    def _grow_ahead(self, by: float) -> None:
        self._ahead = min(self.config.ahead_max_s, self._ahead + by)
        self._last_near_miss = self._clock()

    def _callback_origin(self) -> float | None:
        """Clock time at which the callback for frame 0 ran, from the earliest-consistent recent record.

        Recomputed only when a callback has run since the last call.
        """
        ring = self.ring
        count = int(ring.index[CALLBACKS])
        if count < CLOCK_SETTLE:
            return None
        if count != self._origin_count:
            n = min(count - 4, CLOCK_WINDOW)  # the first callbacks of a stream come in a burst: skip them
            rec = ring.timing[np.arange(count - n, count) % TIMING_RECORDS]
            self._origin = float((rec[:, 1] - rec[:, 0] / self.fs).min())
            self._origin_count = count
        return self._origin

    def _ahead_frames(self) -> int:
        return math.ceil(self._ahead * self.fs)

    def _block_ready(self, written: int, origin: float | None) -> None:
        """Log how early the block that ``written`` just completed is, against its callback; a near miss
        (or a late block) grows the guard by its lateness, before underruns pile up."""
        block = self.config.blocksize
        if origin is None or written % block:
            return
        self._log_slack(origin + (written - block) / self.fs - self._clock())

    def _log_slack(self, slack: float) -> None:
        """A block that came closer than ``near_miss_s`` to its callback (or late) grows the lead by its
        lateness plus a step, before underruns happen."""
        self._slack[self._blocks_ready % SLACK_LOG] = slack
        self._blocks_ready += 1
        near = self.config.near_miss_s
        if slack < near and self._offset > 0:
            self._grow_ahead(near - slack + self.config.ahead_step_s)

    def _promote_callback_thread(self) -> None:
        """The callback thread, once it has run: real-time just above the synthesis thread (it must preempt
        it), unless the host API already runs it real-time (JACK with -R, rtkit) or that is refused."""
        if self.config.realtime:
            self._callback_realtime = promote(self._callback_tid, SYNTH_PRIORITY + 1)
        else:
            self._callback_realtime = "normal scheduling"
        log.info("audio: callback thread: %s", self._callback_realtime)

    def _synth_loop(self) -> None:
        mixer = self.mixer
        ring = self.ring
        chunk = np.zeros((self.config.chunk_frames, 2), np.float32)
        rev = np.zeros(self.config.chunk_frames, np.float32)
        tid = threading.get_native_id()
        self._realtime = promote(tid, SYNTH_PRIORITY) if self.config.realtime else "normal scheduling"
        log.info("audio: synthesis thread: %s", self._realtime)
        try:
            while not self._stop.is_set():
                if self._callback_tid and not self._callback_realtime:
                    self._promote_callback_thread()
                self._apply_commands()
                read = ring.read
                origin = self._callback_origin()
                if ring.written < read:  # underrun: the callback went past what we had
                    if origin is not None:  # log how late the block we never rendered was
                        self._log_slack(origin + ring.written / self.fs - self._clock())
                    ring.skip_to(read)
                    mixer.frame = read
                self._adapt()
                self._wake.clear()  # before the inbox is read: a later submit wakes the next wait
                self._schedule_inbox()
                while ring.space() >= chunk.shape[0] and ring.written - ring.read < self._ahead_frames():
                    mixer.render(chunk, rev, ring)  # one kernel call; it publishes the block in the ring
                    self._block_ready(ring.written, origin)
                    self._schedule_inbox()
                # sleep until an impact arrives or the callback takes the ring's lead below ahead_s
                wait = MAX_SLEEP_S
                if origin is not None:
                    wait = min(wait, origin + (ring.written - self._ahead_frames()) / self.fs - self._clock())
                if wait > 0:
                    self._wake.wait(wait)
        except Exception:  # never let the synthesis thread die silently
            log.exception("audio: synthesis thread failed; the output is silent from now on")
            self._status = AudioStatus(running=False, silent=True, reason="synthesis thread failed")


def _warm_up(config: EngineConfig) -> None:
    """Run every kernel once (numba loads or compiles them on first call) before the stream starts."""
    from ..contacts import IMPACT

    mixer = Mixer(MixerConfig(max_voices=4, spare_voices=2, paths_per_voice=4))
    bodies = BodyTable.build(shape=["sphere"], material=["wood"], position=[[0.0, 0.0, 0.5]], radius=[0.05])
    contacts = ContactEvents.empty(1)
    contacts.body_b[:] = -1
    contacts.normal[:, 2] = 1.0
    contacts.normal_impulse[:] = 0.1
    contacts.normal_speed[:] = 1.0
    contacts.kind[:] = IMPACT
    rows = excite(contacts, bodies, 0.0)
    geometry = mixer.geometry()
    mixer.schedule(np.zeros(len(rows), np.int64), rows, prepare(rows, geometry))
    block = np.zeros((config.chunk_frames, 2), np.float32)
    mixer.render(block)
    ring = FrameRing(1024, 2, 0)
    mixer.render(block, np.zeros(config.chunk_frames, np.float32), ring)
    mixer.schedule(np.full(len(rows), mixer.frame - 8, np.int64), rows, prepare(rows, geometry))
    mixer.patch(ring)  # the late-impact kernels
    out = np.zeros((config.blocksize, 2), np.float32)
    r = ring
    callback_play(out, r.data, r.index, r.index[0], r.monitor, False, r.timing, 0.0, 0.0, False, r.master)
