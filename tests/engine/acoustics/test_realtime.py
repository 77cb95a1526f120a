"""The real-time path on a JACK dummy device: heard at the expected sample, through a monitor tap.

Nothing here asserts on wall-clock time: waits only give the audio threads time to run, and every
check is on frames the engine placed and the samples the callback actually played.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from acoustic_helpers import avalanche_bodies, avalanche_step, impact, one_body

from krapition_app.engine.acoustics import (
    AcousticInputError,
    AudioDeviceError,
    AudioEngine,
    EngineConfig,
    ListenerPose,
    RoomSettings,
)
from krapition_app.engine.acoustics.ring import UNDERRUNS
from krapition_app.engine.acoustics.stalls import StallProbe
from krapition_app.model.errors import UnknownMaterialError

FS = 48_000
QUIET_ROOM = RoomSettings(size=(20.0, 20.0, 10.0), absorption=(0.9,) * 6, reverb=False)
LISTENER = ListenerPose(position=(0.0, -2.0, 0.5), forward=(0.0, 1.0, 0.0))
URI = "krapition://host:8080/physics/objects/plank"


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def engine(jack_server: str) -> Iterator[AudioEngine]:
    eng = AudioEngine(
        EngineConfig(monitor_frames=1 << 19),
        room=QUIET_ROOM,
        listener=LISTENER,
        uri_of=lambda b: URI if b >= 0 else None,
    )
    status = eng.start()
    assert status.running and not status.silent, status.reason
    assert _wait(lambda: eng.status.scheduled_latency > 0), "the clock never settled"
    yield eng
    eng.stop()


def _played_onset(eng: AudioEngine, frame: int, before: int = 64, after: int = 4096) -> int | None:
    assert _wait(lambda: eng.ring.read > frame + after), "the stream stopped"
    played = eng.monitor(frame - before, before + after)
    loud = np.nonzero(np.abs(played).max(axis=1) > 0)[0]
    return int(loud[0]) - before if len(loud) else None


def _strike(eng: AudioEngine, position=(0.0, 0.0, 0.5)) -> int:
    bodies = one_body("box", "wood", position=position, half_extents=(0.25, 0.04, 0.02))
    placed = eng.stats()["placed"]
    eng.submit(impact(point=position), bodies)
    assert _wait(lambda: eng.stats()["placed"] > placed)
    return int(eng.placements()[-1, 1])


def test_jack_output_is_listed(jack_server: str) -> None:
    devices = AudioEngine.devices()
    assert any(d.hostapi.startswith("JACK") for d in devices)


def test_scripted_collision_is_heard_at_the_expected_sample(engine: AudioEngine) -> None:
    assert engine.status.device is not None and engine.status.blocksize == 256
    frame = _strike(engine)
    direct = round(2.0 / 343.0 * FS)  # 2 m in front of the listener
    assert _played_onset(engine, frame + direct) == 0  # silent before, sound from that exact sample on
    # the fixed offset every impact gets (its size is measured by ``krapition bench audio``)
    assert 0 < engine.status.scheduled_latency < 0.05


@pytest.mark.parametrize("ahead_s", [0.04, 0.005], ids=["lead-covers-it", "underrun"])
def test_a_stall_of_the_synthesis_thread(jack_server: str, ahead_s: float) -> None:
    """The synthesis thread stops for 15 ms (longer than any render guard before the ring had a lead) while
    an impact comes in. With a longer lead the callback plays the frames rendered ahead: no underrun, and
    the impact is added to them once the thread runs again, at its frame or, if that was played meanwhile,
    at the first frame not played. With a shorter one the callback may run dry, and the impact still
    sounds where the placement log says."""
    config = EngineConfig(monitor_frames=1 << 19, ahead_s=ahead_s)
    eng = AudioEngine(config, room=QUIET_ROOM, listener=LISTENER)
    status = eng.start()
    assert status.running, status.reason
    try:
        assert _wait(lambda: eng.status.scheduled_latency > 0), "the clock never settled"
        time.sleep(0.3)
        underruns = eng.stats()["underruns"]
        render = eng.mixer.render
        stalled = threading.Event()

        def stall_once(*args):
            if not stalled.is_set():
                stalled.set()
                time.sleep(0.015)
            render(*args)

        eng.mixer.render = stall_once
        assert stalled.wait(1.0)
        frame = _strike(eng)  # submitted while the thread sleeps
        assert _played_onset(eng, frame + round(2.0 / 343.0 * FS)) == 0
        if ahead_s > 0.015 + 0.005:
            assert eng.stats()["underruns"] == underruns
    finally:
        eng.stop()


def test_bad_input_is_rejected_and_the_stream_keeps_running(engine: AudioEngine) -> None:
    bodies = one_body("box", "wood", half_extents=(0.25, 0.04, 0.02))
    bad = impact()
    bad.normal_impulse[0] = float("nan")
    with pytest.raises(AcousticInputError, match="normal_impulse"):
        engine.submit(bad, bodies)
    negative = one_body("box", "wood", half_extents=(0.25, 0.04, 0.02))
    negative.half_extents[0, 0] = -0.25
    with pytest.raises(AcousticInputError, match="size"):
        engine.submit(impact(), negative)
    unknown = one_body()
    unknown.material[0] = 42
    with pytest.raises(UnknownMaterialError):
        engine.submit(impact(), unknown)
    callbacks = engine.stats()["callbacks"]
    frame = _strike(engine)
    assert _played_onset(engine, frame + round(2.0 / 343.0 * FS)) == 0
    assert engine.stats()["callbacks"] > callbacks and engine.status.running
    assert engine.stats()["rejected"] == 3


def test_mute_and_volume(engine: AudioEngine) -> None:
    engine.set_muted(True)
    time.sleep(0.05)
    frame = _strike(engine)
    assert _played_onset(engine, frame + round(2.0 / 343.0 * FS)) is None
    engine.set_muted(False)
    engine.set_volume(0.5)
    assert engine.volume == 0.5 and not engine.muted
    time.sleep(0.05)
    frame = _strike(engine) + round(2.0 / 343.0 * FS)
    assert _wait(lambda: engine.ring.read > frame + 4096)
    quiet_tail, struck = engine.monitor(frame - 4096, 4096), engine.monitor(frame, 4096)
    assert np.abs(struck).max() > 4 * np.abs(quiet_tail).max()  # the muted strike's tail is still ringing


def test_listener_room_and_mode_changes_apply_live(engine: AudioEngine) -> None:
    engine.set_output_mode("headphones")
    engine.set_listener(ListenerPose(position=(0.0, -4.0, 0.5), forward=(0.0, 1.0, 0.0)))
    engine.set_room(RoomSettings(size=(12.0, 10.0, 4.0), absorption=(0.9,) * 6, reverb=False))
    time.sleep(0.05)
    frame = _strike(engine)
    assert _played_onset(engine, frame + round(4.0 / 343.0 * FS)) == 0  # now 4 m away


def test_events_come_back_from_submit(engine: AudioEngine) -> None:
    bodies = one_body("box", "wood", half_extents=(0.25, 0.04, 0.02))
    events = engine.submit(impact(), bodies)
    assert {type(e).__name__ for e in events} >= {"SoundEmitted", "SoundReceived", "AcousticCollision"}


def test_no_device_runs_silently_and_says_so(jack_server: str) -> None:
    eng = AudioEngine(uri_of=lambda b: URI if b >= 0 else None)
    status = eng.start(device="no-such-device")
    assert not status.running and status.silent and "no audio output device" in status.reason
    assert eng.submit(impact(), one_body())  # still validates and reports events
    with pytest.raises(AudioDeviceError):
        eng.set_device("no-such-device")
    eng.stop()


def _soak(engine: AudioEngine, seconds: float) -> dict:
    """A 5,000-sphere avalanche: 120 new contacts a step (impacts, sliding, rolling), 60 steps a second.
    Each step also notes when the underrun and JACK xrun counters moved (``events``)."""
    bodies = avalanche_bodies(5000)
    rng = np.random.default_rng(3)
    engine.submit(avalanche_step(bodies, rng, 120), bodies)  # warm the per-step path once
    time.sleep(0.2)
    before = engine.stats()
    seen = before["underruns"], before["portaudio_underflows"]
    events: list[tuple[float, int, int]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        engine.submit(avalanche_step(bodies, rng, 120), bodies)
        now = engine.stats()
        if (now["underruns"], now["portaudio_underflows"]) != seen:
            moved = now["underruns"] - seen[0], now["portaudio_underflows"] - seen[1]
            events.append((time.monotonic(), *moved))
            seen = now["underruns"], now["portaudio_underflows"]
        time.sleep(1 / 60)
    after = engine.stats()
    return {
        "underruns": after["underruns"] - before["underruns"],
        "jack_xruns": after["portaudio_underflows"] - before["portaudio_underflows"],
        "placed": after["placed"] - before["placed"],
        "peak": float(np.abs(engine.monitor(engine.ring.read - FS, FS)).max()),
        "events": events,
        **after,
    }


#: an underrun is the machine's when, in the 0.25 s before the step that saw it, a stall probe
#: (a process per CPU, real-time above the audio threads) woke this much late, or JACK missed a
#: cycle then or just after (PortAudio flags an xrun in a later callback)
STALL_BEFORE_S = 0.25
XRUN_AFTER_S = 0.1
MACHINE_STALL_S = 0.003


def _machine_stalls(result: dict, probe: StallProbe | None) -> tuple[list, list]:
    """The soak's underrun events split into (the machine's, the engine's own)."""
    machine, own = [], []
    events = result["events"]
    for at, underruns, _ in events:
        if not underruns:
            continue
        stalls = [] if probe is None else probe.near(at, STALL_BEFORE_S, min_late_s=MACHINE_STALL_S)
        xruns = sum(x for t, _, x in events if at - STALL_BEFORE_S <= t <= at + XRUN_AFTER_S)
        (machine if stalls or xruns else own).append((round(at, 3), underruns, xruns,
                                                       [round(s.late_s * 1e3, 1) for s in stalls]))
    return machine, own


def _judge(result: dict, probe: StallProbe | None = None) -> None:
    if not result["underruns"]:
        return
    machine, own = _machine_stalls(result, probe)
    # underruns of the engine's own fail the soak; those that came with a machine stall (a probe
    # process, asleep at a priority above every audio thread, woke milliseconds late, or JACK's own
    # dummy driver missed its cycles) cannot be judged: reported as xfail, never as a pass
    assert not own, f"underruns without a machine stall: {own}; with one: {machine}; {result}"
    pytest.xfail(f"the machine stalled: {len(machine)} underrun events each came with a stall "
                 f"(time, underruns, JACK xruns, probe lateness ms): {machine}")


@pytest.fixture
def soak_engine(jack_server: str) -> Iterator[AudioEngine]:
    eng = AudioEngine(EngineConfig(monitor_frames=1 << 17))
    eng.start()
    assert _wait(lambda: eng.status.scheduled_latency > 0)
    yield eng
    eng.stop()


def test_short_avalanche_soak(soak_engine: AudioEngine) -> None:
    """The short version that runs in every `make test`: the stream survives an avalanche, keeps
    placing impacts, the limiter holds, and underruns are counted where the UI reads them.

    Whether there are zero underruns depends on how busy the machine is, so it is judged only by the
    ten-minute soak (`-m slow`) and the audio benchmark, never in the default run."""
    result = _soak(soak_engine, 3.0)
    assert result["placed"] > 100 and soak_engine.status.running
    assert 0 < result["peak"] <= np.float32(0.98)  # the limiter holds under a thousand voices' worth
    stats = soak_engine.stats()
    assert stats["underruns"] >= result["underruns"] >= 0
    assert stats["callbacks"] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ten_minute_avalanche_soak(soak_engine: AudioEngine) -> None:
    with StallProbe() as probe:
        result = _soak(soak_engine, 600.0)
    assert soak_engine.status.running
    _judge(result, probe if probe.scheduling.startswith("SCHED_") else None)


def test_latency_budget_terms_add_up_to_the_fixed_offset(engine: AudioEngine) -> None:
    """The JACK dummy server runs in sync mode: the DAC term JACK reports is one 256-frame period."""
    budget = engine.latency_budget()
    assert budget["dac"] == pytest.approx(256 / 48.0, abs=0.01)
    assert budget["block"] == pytest.approx(256 / 48.0, abs=0.01)
    assert budget["dac"] + budget["block"] + budget["guard"] + budget["margin"] == pytest.approx(
        budget["total"], abs=0.002
    )
    assert budget["total"] == pytest.approx(engine.status.scheduled_latency * 1000, abs=0.001)
    assert np.isfinite(engine.render_slack()).all()
    # the synthesis thread asked for real-time scheduling and the status says what it got
    assert engine.status.realtime.startswith(("SCHED_FIFO", "SCHED_RR", "normal scheduling"))


def test_jack_dummy_server_command() -> None:
    from krapition_app.engine.acoustics.jack_dummy import jackd_command

    sync = jackd_command("jackd", "x")
    assert "-S" in sync and sync[-4:] == ["-r", "48000", "-p", "256"]
    assert "-S" not in jackd_command("jackd", "x", sync=False)
    assert "--no-realtime" in sync and "-R" not in sync
    assert jackd_command("jackd", "x", realtime=True)[3:6] == ["-R", "-P", "70"]


class _FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _settled(clock: _FakeClock) -> AudioEngine:
    """An engine whose offset is known, driven by hand (no stream): the adaptation rules alone."""
    from krapition_app.engine.acoustics.ring import FrameRing

    eng = AudioEngine(clock=clock)
    eng.ring = FrameRing(1024)
    eng._dac = 256 / FS
    eng._set_offset()
    return eng


def test_a_near_miss_grows_the_lead_not_the_latency_and_it_relaxes() -> None:
    clock = _FakeClock()
    eng = _settled(clock)
    cfg = eng.config
    offset = eng._offset
    eng._log_slack(cfg.near_miss_s + 0.002)  # comfortably early: nothing changes
    assert eng._ahead == cfg.ahead_s
    eng._log_slack(-0.001)  # 1 ms late: the lead grows by the lateness, the near-miss band and a step
    assert eng._ahead == pytest.approx(cfg.ahead_s + 0.001 + cfg.near_miss_s + cfg.ahead_step_s)
    assert eng._offset == offset  # impacts are added to frames rendered ahead: no latency for it
    eng._log_slack(-0.5)  # capped
    assert eng._ahead == cfg.ahead_max_s
    clock.t += cfg.guard_relax_s + 1
    eng._adapt()
    assert eng._ahead == pytest.approx(cfg.ahead_max_s - cfg.ahead_step_s)


def test_an_underrun_grows_the_lead() -> None:
    clock = _FakeClock()
    eng = _settled(clock)
    cfg = eng.config
    eng.ring.index[UNDERRUNS] = 1
    eng._adapt()
    assert eng._ahead == pytest.approx(cfg.ahead_s + cfg.ahead_step_s)
    eng._adapt()  # the same underrun counts once
    assert eng._ahead == pytest.approx(cfg.ahead_s + cfg.ahead_step_s)
    assert eng.stats()["render_ahead_ms"] == pytest.approx(1000 * (cfg.ahead_s + cfg.ahead_step_s))


def test_the_margin_grows_only_for_systematically_late_impacts() -> None:
    clock = _FakeClock()
    eng = _settled(clock)
    cfg = eng.config
    for _ in range(20):
        eng._placement_was(late=False)
    eng._placement_was(late=True)  # a stray late impact costs only its own delay
    assert eng._margin == cfg.margin_frames
    for _ in range(200):
        eng._placement_was(late=True)  # every impact late: the margin steps up to its cap
    assert eng._margin == cfg.margin_max_frames
    assert eng.latency_budget()["margin"] == pytest.approx(cfg.margin_max_frames / 48.0, abs=0.001)
    clock.t += cfg.guard_relax_s + 1
    eng._adapt()
    assert eng._margin == cfg.margin_max_frames - cfg.margin_step_frames
