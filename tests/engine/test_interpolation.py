"""Snapshot interpolation with a fake clock: smooth, never backwards, extrapolates then holds on loss,
ignores stale news, blends corrections and snaps teleports."""

from __future__ import annotations

import numpy as np
import pytest

from krapition_app.engine.interpolation import (
    EMPTY,
    EXTRAPOLATE,
    HOLD,
    INTERPOLATE,
    InterpolationSettings,
    Interpolator,
)

TICK = 1 / 30
G = np.array([0.0, 0.0, -9.81])
IDENTITY = np.array([[1.0, 0.0, 0.0, 0.0]])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0  # local time: any offset from the owner's clock

    def __call__(self) -> float:
        return self.now


def one(v) -> np.ndarray:
    return np.asarray(v, dtype=float).reshape(1, -1)


def push(ip: Interpolator, slot: int, t: float, p, v=(0, 0, 0), *, a=None, q=IDENTITY, w=(0, 0, 0),
         source: str = "owner", arrival: float | None = None) -> bool:
    taken = ip.push(source, np.array([slot]), t, one(p), one(q), one(v), one(w),
                    None if a is None else one(a), arrival=arrival)
    return bool(taken[0])


def ballistic(t: float) -> tuple[np.ndarray, np.ndarray]:
    p0, v0 = np.array([0.0, 0.0, 10.0]), np.array([1.0, 0.5, 3.0])
    return p0 + v0 * t + 0.5 * G * t * t, v0 + G * t


def test_a_steady_stream_is_shown_on_its_path_a_little_in_the_past() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    errors, delays = [], []
    for k in range(90):
        t = k * TICK
        p, v = ballistic(t)
        push(ip, slot, t, p, v, arrival=clock.now + 0.005)  # 5 ms on the way
        for sub in range(4):  # shown at 120 Hz
            clock.now += TICK / 4
            out = ip.sample()
            r = ip.render_time("owner")
            if k > 10:
                assert out.mode[slot] == INTERPOLATE
                errors.append(np.linalg.norm(out.position[slot] - ballistic(r)[0]))
                delays.append((t + (sub + 1) * TICK / 4) - r)
    assert max(errors) < 1e-6  # Hermite with both velocities is exact for a parabola
    # shown about spacing + margin behind the newest state (+ the 5 ms on the way)
    assert 0.03 < np.median(delays) < 0.06 and max(delays) < 0.1


def test_jittered_arrivals_never_move_a_body_backwards() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    rng = np.random.default_rng(7)
    queue: list[tuple[float, float]] = []  # (arrival, owner time)
    shown = []
    for k in range(150):
        t = k * TICK
        queue.append((clock.now + 0.005 + rng.uniform(0, 0.03), t))  # up to 30 ms of jitter
        for _ in range(4):
            clock.now += TICK / 4
            for arrival, owner in sorted(q for q in queue if q[0] <= clock.now):
                push(ip, slot, owner, (owner, 0, 0), (1, 0, 0), arrival=arrival)
            queue = [q for q in queue if q[0] > clock.now]
            out = ip.sample()
            if out.mode[slot] != EMPTY:
                shown.append(out.position[slot, 0])
    steps = np.diff(shown)
    assert (steps >= -1e-9).all(), steps.min()
    assert np.all(steps <= 2 * TICK / 4 + 1e-9)  # and never runs ahead either


def test_on_loss_it_extrapolates_with_velocity_then_holds_still() -> None:
    clock = FakeClock()
    ip = Interpolator(InterpolationSettings(max_extrapolation=0.25), clock=clock)
    slot = ip.add("owner")
    for k in range(30):
        push(ip, slot, k * TICK, (k * TICK * 2.0, 0, 1), (2, 0, 0), arrival=clock.now)
        clock.now += TICK
        ip.sample()
    last = 29 * TICK
    seen = []
    for _ in range(40):  # the owner falls silent
        clock.now += TICK
        out = ip.sample()
        r = ip.render_time("owner")
        seen.append((r - last, int(out.mode[slot]), out.position[slot, 0], out.velocity[slot, 0]))
    for dt, mode, x, vx in seen:
        if 0 < dt <= 0.25:
            assert mode == EXTRAPOLATE and x == pytest.approx(2.0 * (last + dt)) and vx == 2.0
        elif dt > 0.25 + 1e-9:
            assert mode == HOLD and x == pytest.approx(2.0 * (last + 0.25)) and vx == 0.0
    assert seen[-1][1] == HOLD
    fresh = [ip.sample().fresh[slot] for _ in range(3)]
    assert fresh == [False, False, False]  # the start of the hold was news once, not every time


def test_late_duplicate_and_out_of_order_states_are_ignored() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    assert push(ip, slot, 1.0, (1, 0, 0), arrival=clock.now)
    assert push(ip, slot, 1.1, (1.1, 0, 0), arrival=clock.now)
    assert not push(ip, slot, 1.1, (50, 0, 0), arrival=clock.now)  # duplicate
    assert not push(ip, slot, 1.05, (50, 0, 0), arrival=clock.now)  # out of order
    assert not push(ip, slot, 0.5, (50, 0, 0), arrival=clock.now)  # late
    assert not push(ip, slot, 1.2, (50, 0, 0), source="somebody else", arrival=clock.now)  # not its owner
    assert ip.ignored == 4
    for _ in range(10):
        clock.now += TICK
        assert ip.sample().position[slot, 0] < 1.2


def test_a_teleport_snaps_instead_of_sweeping_through_the_world() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    xs = []
    for k in range(60):
        x = 0.0 if k < 30 else 100.0  # moved 100 m between two ticks of a slow body
        push(ip, slot, k * TICK, (x + 0.01 * k, 0, 0), (0.3, 0, 0), arrival=clock.now)
        for _ in range(3):
            clock.now += TICK / 3
            out = ip.sample()
            if out.mode[slot] != EMPTY:
                xs.append(out.position[slot, 0])
    xs = np.array(xs)
    assert ((xs < 2.0) | (xs > 99.0)).all()  # never anywhere in between
    assert xs[-1] > 99.0


def test_news_that_disagree_with_the_extrapolation_are_blended_in_without_a_pop() -> None:
    clock = FakeClock()
    ip = Interpolator(InterpolationSettings(correction_time=0.1), clock=clock)
    slot = ip.add("owner")
    for k in range(20):
        push(ip, slot, k * TICK, (k * TICK, 0, 0), (1, 0, 0), arrival=clock.now)
        clock.now += TICK
        ip.sample()
    # silence, while the body is shown extrapolated at 1 m/s ...
    for _ in range(6):
        clock.now += TICK
        before = ip.sample().position[slot, 0]
    # ... but it had stopped: the owner says so
    push(ip, slot, 25 * TICK, (20 * TICK, 0, 0), (0, 0, 0), arrival=clock.now)
    shown = [before]
    for _ in range(30):
        clock.now += TICK
        shown.append(ip.sample().position[slot, 0])
    jumps = np.abs(np.diff(shown))
    correction = abs(before - 20 * TICK)
    assert correction > 0.15
    # no pop: each frame closes about a tick's share (1 - e^(-tick / 0.1 s)) of what is left
    assert jumps.max() < 0.35 * correction and (np.diff(jumps) <= 1e-9).all()
    assert shown[-1] == pytest.approx(20 * TICK, abs=1e-3)  # the correction has decayed


def test_an_untimed_state_is_shown_at_once_and_a_restarted_owner_starts_over() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    ip.snap(np.array([slot]), one((1, 2, 3)), IDENTITY, one((0, 0, 0)), one((0, 0, 0)))
    out = ip.sample()
    assert out.mode[slot] == HOLD and out.fresh[slot] and out.position[slot].tolist() == [1, 2, 3]
    assert not ip.sample().fresh[slot]
    for k in range(10):
        push(ip, slot, 50 + k * TICK, (k, 0, 0), arrival=clock.now)
        clock.now += TICK
    assert push(ip, slot, 1.0, (7, 7, 7), arrival=clock.now)  # a clock 49 s back: a new world
    clock.now += 0.5
    assert ip.sample().position[slot].tolist() == [7, 7, 7]
    # a restart keeps what was snapped since (untimed: it holds whatever the owner's clock)
    other = ip.add("owner")
    ip.snap(np.array([other]), one((5, 5, 5)), IDENTITY, one((0, 0, 0)), one((0, 0, 0)))
    ip.restart("owner")
    out = ip.sample()
    assert out.mode[slot] == EMPTY and out.position[other].tolist() == [5, 5, 5]


def test_slots_are_reused_and_ballistic_states_extrapolate_with_gravity() -> None:
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    a = ip.add("owner")
    ip.remove(a)
    b = ip.add("owner")
    assert a == b and ip.sample().mode[b] == EMPTY
    for k in range(10):
        p, v = ballistic(k * TICK)
        push(ip, b, k * TICK, p, v, a=G, arrival=clock.now)
        clock.now += TICK
        ip.sample()
    clock.now += 0.1
    out = ip.sample()
    r = ip.render_time("owner")
    assert out.mode[b] == EXTRAPOLATE
    assert np.allclose(out.position[b], ballistic(r)[0], atol=1e-9)


def test_many_slots_at_once_are_the_slots_one_at_a_time() -> None:
    one, many = Interpolator(clock=FakeClock()), Interpolator(clock=FakeClock())
    singles = [one.add("owner") for _ in range(100)]
    one.remove(singles[7])
    many_slots = many.add_many("owner", 100)
    many.remove(int(many_slots[7]))
    assert many_slots.tolist() == singles
    assert one.add_many("other", 3).tolist() == many.add_many("other", 3).tolist()  # reuses slot 7 first
    assert one.sample().mode.tolist() == many.sample().mode.tolist()


def test_spin_is_interpolated_the_way_it_turns() -> None:
    """Between two states 0.9 turns apart (a fast spin), the body turns with its angular velocity,
    not back the short way."""
    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    w = 2 * np.pi * 0.9 / 0.1  # 0.9 turns per 100 ms, about z

    def quat(t: float) -> np.ndarray:
        return np.array([[np.cos(w * t / 2), 0, 0, np.sin(w * t / 2)]])

    for k in range(10):
        push(ip, slot, k * 0.1, (0, 0, 0), q=quat(k * 0.1), w=(0, 0, w), arrival=clock.now)
        for _ in range(5):
            clock.now += 0.02
            out = ip.sample()
            r = ip.render_time("owner")
            if out.mode[slot] == INTERPOLATE and r >= 0.0:
                assert abs(float(np.dot(out.orientation[slot], quat(r)[0]))) > 0.999


def test_a_bounce_between_two_states_is_shown_as_a_corner_not_rounded_off() -> None:
    """Falling at 3 m/s, bouncing at 80 %: between the state before and the one after the bounce the
    body is shown on the two arcs (off by a little at the corner only), not on one smooth curve that
    misses the ground by centimetres."""
    bounce, z0, v0 = 0.05, 0.5, -3.0

    ground = z0 + v0 * bounce - 4.905 * bounce * bounce

    def truth(t: float) -> tuple[float, float]:
        if t < bounce:
            return z0 + v0 * t - 4.905 * t * t, v0 - 9.81 * t
        up = -0.8 * (v0 - 9.81 * bounce)
        u = t - bounce
        return ground + up * u - 4.905 * u * u, up - 9.81 * u

    clock = FakeClock()
    ip = Interpolator(clock=clock)
    slot = ip.add("owner")
    errors = []
    for k in range(8):
        z, vz = truth(k * TICK)
        push(ip, slot, k * TICK, (0, 0, z), (0, 0, vz), a=G, arrival=clock.now)
        for _ in range(8):
            clock.now += TICK / 8
            out = ip.sample()
            r = ip.render_time("owner")
            if out.mode[slot] == INTERPOLATE and 0 <= r <= 3 * TICK:
                errors.append(abs(out.position[slot, 2] - truth(r)[0]))
    assert len(errors) > 10
    assert max(errors) < 0.004  # Hermite through the same two states: ~2 cm off
