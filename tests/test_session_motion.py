"""The session's motion publisher: what goes out each tick, within a budget that follows the peers."""

from __future__ import annotations

import numpy as np

from krapition_app.model.motion import MotionDecoder
from krapition_app.session_motion import MotionPublisher, MotionSettings

TICK = 1 / 30
G = np.array([0.0, 0.0, -9.81])


class Bodies:
    """n bodies' state arrays, as a world snapshot gives them."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.names = tuple(f"b{i}" for i in range(n))
        self.pos = rng.uniform(-5, 5, (n, 3)) + np.array([0, 0, 20])
        self.quat = np.tile([1.0, 0, 0, 0], (n, 1))
        self.vel = np.zeros((n, 3))
        self.ang = np.zeros((n, 3))
        self.static = np.zeros(n, dtype=bool)
        self.sleeping = np.zeros(n, dtype=bool)
        self.lever = np.full(n, 0.1)

    def fly(self, dt: float) -> None:
        self.pos = self.pos + self.vel * dt + 0.5 * G * dt * dt
        self.vel = self.vel + G * dt

    def tick(self, pub: MotionPublisher, t: float, *, peers: int = 2, fresh=None):
        return pub.tick(t, self.names, self.pos, self.quat, self.vel, self.ang, self.static, self.sleeping,
                        self.lever, gravity=tuple(G), rate_hz=30.0, peers=peers, fresh=fresh)


def test_resting_bodies_cost_nothing() -> None:
    bodies = Bodies(50)
    pub = MotionPublisher()
    out = bodies.tick(pub, 0.0, fresh=np.ones(50, dtype=bool))  # just created: peers hold them as they are
    assert out.motion == b"" and out.exact == () and out.naive_bytes == 0
    for k in range(1, 30):
        out = bodies.tick(pub, k * TICK)
        assert out.motion == b"" and out.exact == () and out.sent == 0


def test_a_body_coming_to_rest_is_sent_at_rest_once_then_its_exact_state() -> None:
    bodies = Bodies(3)
    pub = MotionPublisher(MotionSettings(exact_after_ticks=5))
    decoder = MotionDecoder()
    bodies.vel[:] = [1.0, 0.0, 0.0]
    t = 0.0
    for _ in range(5):  # moving sideways (no gravity in this world)
        bodies.pos = bodies.pos + bodies.vel * TICK
        t += TICK
        out = bodies.tick(pub, t)
        if out.motion:
            assert not decoder.decode(out.motion).rest.any()
    bodies.vel[:] = 0.0  # stops
    rested, exact = [], []
    for _ in range(12):
        t += TICK
        out = bodies.tick(pub, t)
        if out.motion:
            frame = decoder.decode(out.motion)
            rested += [decoder.name(int(i)) for i in frame.ids[frame.rest]]
            assert not frame.velocity[frame.rest].any()
        exact += out.exact
    assert sorted(rested) == ["b0", "b1", "b2"]  # once each
    assert sorted(s.name for s in exact) == ["b0", "b1", "b2"]  # then exactly, once each
    assert all(s.position == tuple(bodies.pos[int(s.name[1:])].tolist()) for s in exact)


def test_well_predicted_flight_is_only_refreshed() -> None:
    bodies = Bodies(40)
    bodies.vel = np.random.default_rng(1).uniform(-2, 2, (40, 3))
    pub = MotionPublisher(MotionSettings(refresh_ticks=4))
    sent = []
    for k in range(1, 25):
        bodies.fly(TICK)
        sent.append(bodies.tick(pub, k * TICK).sent)
    assert sent[0] == 40  # the first time: every body
    assert sum(sent[1:]) <= 40 * (len(sent) - 1) / 4 + 40  # then about every fourth tick each


def test_over_budget_the_largest_errors_go_first_and_the_rest_follow() -> None:
    n = 200
    bodies = Bodies(n)
    bodies.vel[:] = [1.0, 0.0, 0.0]  # sliding along, no gravity here: perfectly predicted
    pub = MotionPublisher(MotionSettings(chain_kbit_s=100.0, refresh_ticks=1000, stale_s=1000.0))
    decoder = MotionDecoder()
    t = 0.0

    def step() -> list[int]:
        nonlocal t
        t += TICK
        bodies.pos = bodies.pos + bodies.vel * TICK
        out = bodies.tick(pub, t)
        if not out.motion:
            return []
        frame = decoder.decode(out.motion)
        return [int(decoder.name(int(i))[1:]) for i in frame.ids]

    known: set[int] = set()
    for _ in range(100):  # the first time every body is sent whole: a few ticks' budget
        known |= set(step())
        if len(known) == n:
            break
    assert len(known) == n
    assert step() == []  # all well predicted now: nothing to send
    pushes = np.random.default_rng(3).uniform(0.01, 1.0, n)  # every body pushed, by a different amount
    bodies.pos[:, 0] += pushes
    first = step()
    assert 8 <= len(first) < n / 3  # the budget held
    rest = np.setdiff1d(np.arange(n), first)
    assert pushes[first].min() >= pushes[rest].max() - 1e-9  # the largest errors first
    sent = set(first)
    for _ in range(50):
        sent |= set(step())
    assert len(sent) == n  # and the rest followed, tick after tick


def test_the_budget_follows_the_number_of_peers() -> None:
    def sent_with(peers: int) -> int:
        bodies = Bodies(600, seed=4)
        pub = MotionPublisher(MotionSettings(chain_kbit_s=450.0, upload_kbit_s=900.0))
        bodies.vel = np.random.default_rng(5).uniform(-3, 3, (600, 3))
        total = 0
        for k in range(1, 15):
            bodies.pos = bodies.pos + np.random.default_rng(k).normal(0, 0.05, bodies.pos.shape)  # erratic
            total += bodies.tick(pub, k * TICK, peers=peers).sent
        return total

    assert sent_with(6) < 0.6 * sent_with(2)  # 900/6 = 150 kbit/s a copy against 450


def test_a_reset_starts_a_new_stream_that_peers_can_join() -> None:
    bodies = Bodies(5)
    bodies.vel[:] = [0.5, 0, 0]
    pub = MotionPublisher()
    bodies.fly(TICK)
    first = MotionDecoder().decode(bodies.tick(pub, TICK).motion)
    pub.reset()
    bodies.fly(TICK)
    late = MotionDecoder()
    frame = late.decode(bodies.tick(pub, 2 * TICK).motion)
    assert frame.stream != first.stream and frame.skipped == 0 and len(frame.ids) == 5
