"""The GIL-free paths: the excitation kernel against its numpy reference, the one-call block render,
and the real-time scheduling request (always faked here: the test process keeps its own scheduling)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from acoustic_helpers import avalanche_bodies, avalanche_step, impact, one_body
from numpy_excite import numpy_excite

from krapition_app.engine.acoustics import BodyTable, Mixer, MixerConfig, RoomSettings, excite, rtsched
from krapition_app.engine.acoustics.excitation import Excitations
from krapition_app.engine.acoustics.mixer import FULL_SCALE_PA
from krapition_app.engine.acoustics.ring import UNDERRUNS, WRITE, FrameRing, callback_play
from krapition_app.engine.contacts import ROLLING, SLIDING


def _mixed_bodies(n: int = 300) -> BodyTable:
    """Spheres, bars and plates of every material, some with a given mass."""
    rng = np.random.default_rng(11)
    shapes = ["sphere" if i % 3 else "box" for i in range(n)]
    he = np.column_stack([rng.uniform(0.01, 0.4, n), rng.uniform(0.005, 0.2, n), rng.uniform(0.003, 0.1, n)])
    return BodyTable.build(
        shape=shapes,
        material=[int(m) for m in rng.integers(0, 6, n)],
        position=np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-2, 2, n), rng.uniform(0.05, 1.5, n)]),
        radius=[rng.uniform(0.02, 0.15) if s == "sphere" else 0.0 for s in shapes],
        half_extents=[h if s == "box" else (0.0, 0.0, 0.0) for s, h in zip(shapes, he, strict=True)],
        mass=[0.0 if i % 5 else 0.3 for i in range(n)],
    )


def _same(kernel: Excitations, reference: Excitations) -> None:
    for name in Excitations.__slots__:
        got, want = getattr(kernel, name), getattr(reference, name)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if name in ("body", "contact", "time", "position"):
            np.testing.assert_array_equal(got, want, err_msg=name)  # same rows, same order
        else:  # the last bit may differ where numpy's SIMD exp/log/power round differently
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0.0, err_msg=name)


@pytest.mark.parametrize("bodies", [avalanche_bodies(2000), _mixed_bodies()], ids=["spheres", "mixed"])
def test_excite_kernel_matches_the_numpy_reference(bodies: BodyTable) -> None:
    rng = np.random.default_rng(7)
    for i in range(12):
        contacts = avalanche_step(bodies, rng, 300 if i % 2 else 5)  # merges, ground, sliding, rolling
        options = {"max_rows": (None, 256, 17)[i % 3], "static_material": ("stone", "wood", "metal")[i % 3]}
        t = 2.5 + i
        _same(excite(contacts, bodies, t, **options), numpy_excite(contacts, bodies, t, **options))


def test_excite_kernel_single_contacts() -> None:
    for shape, extents in (("sphere", None), ("box", (0.3, 0.03, 0.01)), ("box", (0.2, 0.15, 0.1))):
        bodies = one_body(shape, "metal", half_extents=extents or (0.2, 0.05, 0.02))
        for contact in (impact(), impact(kind=SLIDING, tangential=1.0), impact(kind=ROLLING, tangential=0.3)):
            _same(excite(contact, bodies, 0.0), numpy_excite(contact, bodies, 0.0))


def test_the_callback_plays_what_the_offline_render_returns() -> None:
    """The real-time engine renders the mix into the ring in one call per block and its callback applies
    the master section: together they play what render() returns, bit for bit."""
    bodies = avalanche_bodies(200)
    rng = np.random.default_rng(1)
    rows = excite(avalanche_step(bodies, rng, 60), bodies, 0.0, max_rows=256)
    a, b = Mixer(MixerConfig(), RoomSettings()), Mixer(MixerConfig(), RoomSettings())
    ring = FrameRing(1024)
    ring.set_gain(1.0 / FULL_SCALE_PA, ramp=False)
    out_a, out_b = np.zeros((256, 2), np.float32), np.zeros((256, 2), np.float32)
    played = np.zeros((256, 2), np.float32)
    for mixer in (a, b):
        mixer.schedule(np.full(len(rows), 100, np.int64), rows)
    for _ in range(3):
        a.render(out_a)
        b.render(out_b, np.zeros(256, np.float32), ring)
        r = ring
        written = r.index[WRITE]
        callback_play(played, r.data, r.index, written, r.monitor, False, r.timing, 0.0, 0.0, False, r.master)
        np.testing.assert_array_equal(played, out_a)
        # the ring holds the mix before the master section: here (under the limiter's ceiling) the gain alone
        np.testing.assert_array_equal(played, out_b * np.float32(1.0 / FULL_SCALE_PA))
    assert ring.written == ring.read == 768 and ring.index[UNDERRUNS] == 0
    assert np.abs(out_a).max() > 0


def test_promote_falls_back_quietly_when_not_permitted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def refuse(tid, policy, param):
        calls.append((tid, param.sched_priority))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_getscheduler", lambda tid: os.SCHED_OTHER, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    monkeypatch.setattr(rtsched, "_rtprio_limit", lambda: 5)  # an unprivileged user's lower limit is tried
    line = rtsched.promote(1234, 10)
    assert line == "normal scheduling (real-time priority not permitted: Operation not permitted)"
    assert calls == [(1234, 10), (1234, 5)]


def test_promote_grants_and_leaves_realtime_threads_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = {"now": os.SCHED_OTHER}
    monkeypatch.setattr(os, "sched_getscheduler", lambda tid: policy["now"], raising=False)
    monkeypatch.setattr(os, "sched_getparam", lambda tid: os.sched_param(70), raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", lambda tid, p, param: policy.update(now=p), raising=False)
    assert rtsched.promote(1234, 10) == "SCHED_FIFO priority 10"
    assert rtsched.promote(1234, 11) == "SCHED_FIFO priority 70"  # already real-time: untouched


def test_promote_without_realtime_scheduling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_setscheduler", raising=False)
    assert rtsched.promote(1234) == "normal scheduling (no real-time scheduling on this platform)"
