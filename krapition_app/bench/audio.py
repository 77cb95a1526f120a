"""``krapition bench audio``: the modal bank against plain numpy, image sources, and the real-time latency.

- modal bank: ``voices`` x ``modes_per_voice`` complex one-pole resonators for one second of audio,
  numba kernel vs a plain numpy implementation of the same bank (block-wise powers and one batched
  matrix product), in the same run; ``core_fraction`` = seconds of CPU per second of audio;
- full synthesis: the whole per-block kernel (modes, room paths, reverb send) for ``voices`` voices;
- image sources: order-3 paths for one source (ms per call), with pyroomacoustics side by side;
- latency through a JACK dummy device: event timestamp to the DAC time of the impact's first sample
  (from the callback's own time stamps), median and p99, and underruns; beside it the fixed offset
  term by term (``latency_budget_ms``: device buffering, block, reaction guard, submit margin), how
  far ahead of the callback the mix is rendered (``render_ahead_ms``; impacts are added into frames
  already rendered, so it costs no latency) and how early the blocks were ready
  (``render_slack_ms_*``); the scheduling the audio threads got
  (``realtime_scheduling``: SCHED_FIFO where the OS allows it; ``--normal-scheduling`` to compare);
  and how often the machine itself stalled meanwhile (``machine_stalls``: late wake-ups of at least
  3 ms of the real-time probe processes, one per CPU, :mod:`krapition_app.engine.acoustics.stalls`),
  which the ring's lead covers only up to its length.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

DESCRIPTION = "modal synthesis vs numpy, image sources, collision-to-output latency (JACK dummy)"
FS = 48_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (the default; accepted for scripts)")
    parser.add_argument("--voices", type=int, default=256)
    parser.add_argument("--modes", type=int, default=32, help="modes per voice")
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=6.0,
        help="how long to strike the JACK dummy device (0: skip the latency run)",
    )
    parser.add_argument(
        "--normal-scheduling",
        action="store_true",
        help="do not ask for real-time scheduling for the audio threads (to compare)",
    )
    parser.add_argument(
        "--jack-mode",
        choices=("sync", "async"),
        default="sync",
        help="JACK server mode: sync (-S, one period of playback latency) or jackd2's default async (two)",
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    result: dict[str, Any] = {"voices": args.voices, "modes_per_voice": args.modes, "sample_rate": FS}
    result.update(_modal_bank(np, args.voices, args.modes))
    result.update(_full_synthesis(np, args.voices))
    result.update(_image_sources(np))
    if args.latency_seconds > 0:
        result.update(
            _latency(np, args.latency_seconds, args.jack_mode == "sync", not args.normal_scheduling)
        )
    return result


def _bank(np: Any, voices: int, modes: int) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(0)
    f = rng.uniform(100.0, 8000.0, (voices, modes))
    d = rng.uniform(1.0, 30.0, (voices, modes))
    r = np.exp(-d / FS)
    w = 2 * np.pi * f / FS
    pr = (r * np.cos(w)).astype(np.float32)
    pi = (r * np.sin(w)).astype(np.float32)
    zr = rng.uniform(-1.0, 1.0, (voices, modes)).astype(np.float32)
    zi = np.zeros((voices, modes), np.float32)
    return pr, pi, zr, zi


def _modal_bank(np: Any, voices: int, modes: int, block: int = 256) -> dict[str, Any]:
    from krapition_app.engine.acoustics.synth import modal_bank

    blocks = FS // block
    pr, pi, zr, zi = _bank(np, voices, modes)
    out = np.zeros((voices, block), np.float32)
    modal_bank(block, pr, pi, zr.copy(), zi.copy(), out)  # compile / load from the cache
    zr_n, zi_n = zr.copy(), zi.copy()
    t0 = time.process_time()
    for _ in range(blocks):
        modal_bank(block, pr, pi, zr_n, zi_n, out)
    numba_s = time.process_time() - t0
    first_numba = np.zeros((voices, block), np.float32)
    modal_bank(block, pr, pi, zr.copy(), zi.copy(), first_numba)

    # numpy peer: z[n] = z0 p^(n+1); out[v, n] = sum_k Im(z0_vk p_vk^(n+1)) as one batched matmul per block
    p = (pr + 1j * pi).astype(np.complex64)
    powers = p[:, :, None] ** np.arange(1, block + 1)[None, None, :]  # (V, M, N), fixed per bank
    step = powers[:, :, -1]
    z = (zr + 1j * zi).astype(np.complex64)
    first_numpy = np.matmul(z[:, None, :], powers)[:, 0, :].imag
    t0 = time.process_time()
    for _ in range(blocks):
        out_np = np.matmul(z[:, None, :], powers)[:, 0, :].imag
        z = z * step
    numpy_s = time.process_time() - t0
    del out_np
    return {
        "core_fraction": round(numba_s, 4),
        "numpy_core_fraction": round(numpy_s, 4),
        "ratio_vs_numpy": round(numpy_s / max(numba_s, 1e-9), 2),
        "max_abs_difference_vs_numpy": float(np.abs(first_numba - first_numpy).max()),
        "goal_core_fraction": 0.20,
    }


def _full_synthesis(np: Any, voices: int) -> dict[str, Any]:
    from krapition_app.engine.acoustics.mixer import Mixer, MixerConfig

    out: dict[str, Any] = {}
    for paths in (8, 63):
        mixer = Mixer(MixerConfig(max_voices=voices, spare_voices=0, paths_per_voice=paths))
        v = mixer.voices
        pr, pi, zr, zi = _bank(np, v.capacity, v.pr.shape[1])
        v.pr[:], v.pi[:], v.zr[:], v.zi[:] = pr, pi, zr, zi
        rng = np.random.default_rng(1)
        v.state[:] = 1
        v.npaths[:] = paths
        v.pdelay[:] = rng.integers(100, 5000, v.pdelay.shape)
        v.pgain[:] = 0.01
        v.direct_gain[:] = 1.0
        v.direct_delay[:] = 100
        out[f"full_synthesis_core_fraction_{paths}_paths"] = round(_time_render(np, v), 4)
    return out


def _time_render(np: Any, v: Any, block: int = 64) -> float:
    """CPU seconds to render one second of every voice in ``v`` (a VoiceBank), block by block."""
    from krapition_app.engine.acoustics.synth import render_block

    buf = np.zeros((block, 2), np.float32)
    rev = np.zeros(block, np.float32)
    args = (v.state, v.pr, v.pi, v.zr, v.zi, v.exc, v.exc_off, v.nin, v.noise_env, v.rng, v.fade, v.npaths,
            v.pdelay, v.pgain, v.direct_gain, v.direct_delay, v.loud, v.acc, v.rev_acc, buf, rev)
    render_block(0, block, float(FS), *args)
    t0 = time.process_time()
    for k in range(1, FS // block + 1):
        render_block(k * block, block, float(FS), *args)
    return time.process_time() - t0


def _image_sources(np: Any, calls: int = 2000) -> dict[str, Any]:
    from krapition_app.engine.acoustics.paths import STEREO, ImageSourceScratch, compute_paths

    size = np.array([6.0, 5.0, 3.0])
    beta = np.sqrt(1 - np.array([0.1, 0.2, 0.3, 0.4, 0.25, 0.6]))
    src, lis = np.array([1.2, 1.7, 1.1]), np.array([4.1, 3.3, 1.6])
    s = ImageSourceScratch(3)
    delay = np.zeros((64, 2), np.int64)
    gain = np.zeros((64, 2), np.float32)
    args = (
        lis,
        np.array([1.0, 0.0, 0.0]),
        size,
        beta,
        3,
        STEREO,
        float(FS),
        1e9,
        64,
        s.pos,
        s.gain,
        s.order,
        s.index,
        delay,
        gain,
    )
    compute_paths(src, *args)
    t0 = time.perf_counter()
    for _ in range(calls):
        compute_paths(src, *args)
    ours = (time.perf_counter() - t0) / calls * 1000
    out: dict[str, Any] = {"image_source_ms": round(ours, 5), "image_source_order": 3}
    try:
        import pyroomacoustics as pra
    except ImportError:
        return out
    room = pra.ShoeBox(size.tolist(), fs=FS, materials=pra.Material(0.2), max_order=3, air_absorption=False)
    room.add_source(src.tolist())
    room.add_microphone(lis.tolist())
    t0 = time.perf_counter()
    runs = 50
    for _ in range(runs):
        room.image_source_model()
    theirs = (time.perf_counter() - t0) / runs * 1000
    out["pyroomacoustics_image_source_ms"] = round(theirs, 4)
    out["image_source_ratio_vs_pyroomacoustics"] = round(theirs / max(ours, 1e-9), 1)
    return out


def _latency(np: Any, seconds: float, sync: bool = True, realtime: bool = True) -> dict[str, Any]:
    import os
    import sys

    from krapition_app.engine.acoustics import AudioEngine, BodyTable, EngineConfig
    from krapition_app.engine.acoustics.jack_dummy import JACK_PRIORITY, jack_dummy_server, jackd_command
    from krapition_app.engine.acoustics.rtsched import realtime_permitted
    from krapition_app.engine.acoustics.stalls import StallProbe
    from krapition_app.engine.contacts import IMPACT, ContactEvents

    jack_rt = realtime and realtime_permitted(JACK_PRIORITY)  # --normal-scheduling: the server too
    with jack_dummy_server(sync=sync, realtime=jack_rt) as name:
        if name is None:
            return {
                "latency_ms_median": None,
                "latency_ms_p99": None,
                "underruns": None,
                "latency_note": "jackd is not installed: no JACK dummy device",
            }
        engine = AudioEngine(EngineConfig(realtime=realtime))
        status = engine.start()
        if not status.running:
            return {
                "latency_ms_median": None,
                "latency_ms_p99": None,
                "underruns": None,
                "latency_note": status.reason,
            }
        try:
            deadline = time.monotonic() + 5.0
            while engine.status.scheduled_latency <= 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            bodies = BodyTable.build(
                shape=["box"],
                material=["wood"],
                position=[[0.0, 0.0, 0.5]],
                half_extents=[[0.25, 0.04, 0.02]],
            )
            contacts = ContactEvents.empty(1)
            contacts.body_b[:] = -1
            contacts.normal[:, 2] = 1.0
            contacts.normal_impulse[:] = 1.0
            contacts.normal_speed[:] = 2.0
            contacts.kind[:] = IMPACT
            before = engine.stats()
            blocks_before = engine._blocks_ready
            rng = np.random.default_rng(2)
            with StallProbe() as probe:
                start = time.monotonic()
                end = start + seconds
                while time.monotonic() < end:
                    engine.submit(contacts, bodies)
                    time.sleep(float(rng.uniform(0.02, 0.05)))  # not locked to the block clock
                time.sleep(0.2)
                after = engine.stats()
            stalls = [s.late_s * 1000.0 for s in probe.stalls(since=start) if s.late_s >= 0.003]
            placed = engine.placements()
            played = engine.play_time(placed[:, 1])
            ok = np.isfinite(played)
            latency = (played[ok] - placed[ok, 0]) * 1000.0
            slack = engine.render_slack()[-(engine._blocks_ready - blocks_before):] * 1000.0
            slack = slack[np.isfinite(slack)]
            return {
                "latency_ms_median": round(float(np.median(latency)), 3),
                "latency_ms_p99": round(float(np.percentile(latency, 99)), 3),
                "latency_ms_min": round(float(latency.min()), 3),
                "latency_jitter_ms_p99_minus_median": round(
                    float(np.percentile(latency, 99) - np.median(latency)), 3
                ),
                "scheduled_latency_ms": round(engine.status.scheduled_latency * 1000, 3),
                "latency_budget_ms": engine.latency_budget(),
                "dac_latency_ms": round(engine._dac * 1000, 3),
                "render_slack_ms_min": round(float(slack.min()), 3) if len(slack) else None,
                "render_slack_ms_p1": round(float(np.percentile(slack, 1)), 3) if len(slack) else None,
                "render_ahead_ms": after["render_ahead_ms"],
                "realtime_scheduling": engine.status.realtime,
                "callback_scheduling": engine.status.callback_realtime,
                "switch_interval_ms": round(sys.getswitchinterval() * 1000, 3),
                "jack_server": " ".join(jackd_command("jackd", "NAME", sync=sync, realtime=jack_rt)).replace(
                    " -n NAME", ""
                ),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "impacts": int(ok.sum()),
                "underruns": after["underruns"] - before["underruns"],
                "underruns_including_start": after["underruns"],
                "jack_xruns": after["portaudio_underflows"] - before["portaudio_underflows"],
                "late_rows": after["late"] - before["late"],
                "late_placements": after["late_placements"] - before["late_placements"],
                "machine_stalls": len(stalls) if probe.scheduling.startswith("SCHED_") else None,
                "machine_stall_max_ms": round(max(stalls, default=0.0), 3),
                "stall_probe": probe.scheduling,
                "goal_latency_ms_median": 20.0,
                "goal_latency_ms_p99": 30.0,
            }
        finally:
            engine.stop()


