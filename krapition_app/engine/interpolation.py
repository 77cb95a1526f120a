"""Snapshot interpolation of remote bodies (pure: numpy and an injectable clock; no world, no network).

Every remote body (a *slot*) has a small jitter buffer of states stamped with its owner's
simulation time. Each owner (a *source*) has a render clock that runs ``delay`` behind the newest
state we could have from it: the delay adapts to the measured spacing and jitter of its packets
(about two publishing ticks by default). At the render time a body is shown

- between two buffered states: Hermite in position (from both velocities), a spin-aware slerp in
  orientation (each end turned by its own angular velocity, then blended). Where the velocity jumps
  more than the accelerations explain (a bounce, a kick), on the two states' arcs meeting at a
  corner instead (Hermite would round it off by centimetres). Where states are several packets
  apart (the owner sent none while our extrapolation held), extrapolated until one packet spacing
  before the later state and interpolated from there;
- past its newest state: extrapolated with its velocity (and gravity, for states the owner marked
  ballistic) for up to ``max_extrapolation``, then held still;
- before its oldest state: at the oldest.

A state older than (or as old as) a body's newest is ignored: late, duplicate and out-of-order
samples change nothing. When a new state changes where a body is shown (it was extrapolated and
the owner's news disagree), the difference becomes a correction offset that decays with
``correction_time``: no pops. A jump too large to be motion (a teleport) snaps instead: neither
the offset nor the interpolation sweeps a body through the world.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

EMPTY, INTERPOLATE, EXTRAPOLATE, HOLD = 0, 1, 2, 3
_ARRIVALS = 256
_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


@dataclass(frozen=True)
class InterpolationSettings:
    #: render delay (s) before anything is measured: two ticks at 30 Hz
    default_delay: float = 2.0 / 30.0
    min_delay: float = 0.02
    max_delay: float = 0.25
    #: added to packet spacing + jitter (p95) to make the delay
    margin: float = 0.004
    #: seconds of arrivals the clock offset and the jitter are measured over
    window: float = 1.5
    max_extrapolation: float = 0.25
    #: time constant (s) of the correction offset's decay
    correction_time: float = 0.1
    #: two states whose velocities differ by more than this (m/s) beyond their accelerations met
    #: something between them (a bounce): shown as two arcs meeting at a corner, not one curve
    kink_speed: float = 0.5
    #: a correction or a step between two states larger than this (m, rad) snaps
    snap_distance: float = 1.0
    snap_angle: float = 1.0
    #: states buffered per body
    capacity: int = 8
    #: how fast (s) a render clock closes its distance to where it should be; beyond ``resync`` it jumps
    catch_up: float = 0.3
    resync: float = 1.0
    #: a state this much older (s) than its owner's newest: the owner's clock restarted (a new world)
    restart: float = 2.0


@dataclass(frozen=True)
class Sampled:
    """The state to show for every slot (rows whose ``mode`` is EMPTY mean nothing)."""

    mode: np.ndarray
    position: np.ndarray
    orientation: np.ndarray
    velocity: np.ndarray
    angular_velocity: np.ndarray
    #: the slot's shown state is new news to apply even though it holds (a snap, the start of a hold)
    fresh: np.ndarray


class _Source:
    """One owner's timing: clock offset, packet spacing, jitter, delay, and its render clock."""

    def __init__(self, settings: InterpolationSettings) -> None:
        self.s = settings
        self.restart()

    def restart(self) -> None:
        # the newest arrivals: (local time, lag); a ring, so measuring costs no Python per arrival
        self.arrived = np.full(_ARRIVALS, -np.inf)
        self.lags = np.zeros(_ARRIVALS)
        self.count = 0
        self.gaps: deque[float] = deque(maxlen=32)
        self.newest: float | None = None
        self.base: float | None = None
        self.jitter = 0.0
        self.render: float | None = None
        self.last_now: float | None = None

    def observe(self, owner_time: float, now: float) -> None:
        i = self.count % _ARRIVALS
        self.arrived[i], self.lags[i] = now, now - owner_time  # clock offset + this packet's delay
        self.count += 1
        recent = self.lags[self.arrived >= now - self.s.window]
        self.base = float(recent.min())
        self.jitter = float(np.percentile(recent - self.base, 95)) if len(recent) > 2 else 0.0
        if self.newest is not None and owner_time > self.newest:
            self.gaps.append(min(owner_time - self.newest, self.s.max_delay))
        self.newest = owner_time if self.newest is None else max(self.newest, owner_time)

    @property
    def spacing(self) -> float:
        """The owner's usual time between two packets (half the default delay until measured)."""
        if len(self.gaps) < 3:
            return self.s.default_delay / 2
        return float(np.median(np.fromiter(self.gaps, dtype=np.float64)))

    @property
    def delay(self) -> float:
        if len(self.gaps) < 3:
            return self.s.default_delay
        return min(self.s.max_delay, max(self.s.min_delay, self.spacing + self.jitter + self.s.margin))

    def advance(self, now: float) -> float | None:
        """Moves the render clock to ``now`` (never backwards unless it is off by ``resync``)."""
        if self.base is None:
            return self.render
        target = now - self.base - self.delay
        if self.render is None or self.last_now is None:
            self.render = target
        else:
            elapsed = max(0.0, now - self.last_now)
            # run at 0..2x the clock's rate: where it would be at 1x, pulled toward the target
            rate = min(2.0, max(0.0, 1.0 + (target - self.render - elapsed) / self.s.catch_up))
            self.render += elapsed * rate
            if abs(target - self.render) > self.s.resync:
                self.render = target
        self.last_now = now
        return self.render


class Interpolator:
    def __init__(self, settings: InterpolationSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.s = settings or InterpolationSettings()
        self.clock = clock
        self._sources: dict[Hashable, int] = {}
        self._source_list: list[_Source] = []
        k = self.s.capacity
        self._k = k
        self._used = np.zeros(0, dtype=bool)
        self._src = np.zeros(0, dtype=np.int64)
        self._t = np.zeros((0, k))
        self._p = np.zeros((0, k, 3))
        self._q = np.zeros((0, k, 4))
        self._v = np.zeros((0, k, 3))
        self._w = np.zeros((0, k, 3))
        self._a = np.zeros((0, k, 3))
        self._pinned = np.zeros(0, dtype=bool)
        self._pin = np.zeros((0, 13))
        self._fresh = np.zeros(0, dtype=bool)
        self._off_p = np.zeros((0, 3))
        self._off_q = np.zeros((0, 4))
        self._offset = np.zeros(0, dtype=bool)  # the slot has a correction offset
        self._shown = np.zeros(0, dtype=bool)
        self._shown_p = np.zeros((0, 3))
        self._shown_q = np.zeros((0, 4))
        self._shown_r = np.zeros(0)
        self._mode = np.zeros(0, dtype=np.int8)
        self._free: list[int] = []
        self._last_now: float | None = None
        self.ignored = 0

    # ---- sources and slots ------------------------------------------------------------------

    def _source(self, key: Hashable) -> int:
        index = self._sources.get(key)
        if index is None:
            index = self._sources[key] = len(self._source_list)
            self._source_list.append(_Source(self.s))
        return index

    def delay(self, source: Hashable) -> float:
        index = self._sources.get(source)
        return self.s.default_delay if index is None else self._source_list[index].delay

    def render_time(self, source: Hashable) -> float | None:
        """The owner time at which ``source``'s bodies were last shown (None: not yet)."""
        index = self._sources.get(source)
        return None if index is None else self._source_list[index].render

    def add(self, source: Hashable) -> int:
        """A new slot (a remote body) of ``source``."""
        return int(self.add_many(source, 1)[0])

    def add_many(self, source: Hashable, count: int) -> np.ndarray:
        """``count`` new slots of ``source`` at once (a late joiner's thousands of bodies)."""
        taken: list[int] = []
        while len(taken) < count:  # the slots ``count`` calls of :meth:`add` would give, in order
            if not self._free:
                self._grow()
            k = min(count - len(taken), len(self._free))
            taken.extend(reversed(self._free[-k:]))
            del self._free[-k:]
        slots = np.array(taken, dtype=np.int64)
        self._used[slots] = True
        self._src[slots] = self._source(source)
        self._clear(slots)
        return slots

    def restart(self, source: Hashable) -> None:
        """``source`` started over (a new world, a new clock): its timed states and its timing are
        dropped (untimed ones from :meth:`snap` stay: they hold whatever the clock)."""
        index = self._sources.get(source)
        if index is not None:
            self._clear(np.flatnonzero(self._used & (self._src == index) & ~self._pinned))
            self._source_list[index].restart()

    def remove(self, slot: int) -> None:
        if self._used[slot]:
            self._used[slot] = False
            self._free.append(slot)

    def _grow(self) -> None:
        old = len(self._used)
        new = max(64, 2 * old)
        pad = new - old

        def more(a: np.ndarray, fill: float = 0.0) -> np.ndarray:
            return np.concatenate([a, np.full((pad, *a.shape[1:]), fill, dtype=a.dtype)])

        self._used, self._src, self._t = more(self._used), more(self._src), more(self._t, -np.inf)
        self._p, self._q, self._v, self._w, self._a = (more(self._p), more(self._q), more(self._v),
                                                       more(self._w), more(self._a))
        self._pinned, self._pin, self._fresh = more(self._pinned), more(self._pin), more(self._fresh)
        self._off_p, self._off_q, self._offset = more(self._off_p), more(self._off_q), more(self._offset)
        self._shown, self._shown_p = more(self._shown), more(self._shown_p)
        self._shown_q = more(self._shown_q)
        self._shown_r, self._mode = more(self._shown_r), more(self._mode)
        self._q[old:] = _IDENTITY
        self._off_q[old:] = _IDENTITY
        self._free.extend(range(new - 1, old - 1, -1))

    def _clear(self, slots: np.ndarray) -> None:
        self._t[slots] = -np.inf
        self._pinned[slots] = False
        self._fresh[slots] = False
        self._off_p[slots] = 0.0
        self._off_q[slots] = _IDENTITY
        self._offset[slots] = False
        self._shown[slots] = False
        self._mode[slots] = EMPTY

    # ---- input -------------------------------------------------------------------------------

    def push(self, source: Hashable, slots: np.ndarray, owner_time: float, position: np.ndarray,
             orientation: np.ndarray, velocity: np.ndarray, angular_velocity: np.ndarray,
             acceleration: np.ndarray | None = None, *, arrival: float | None = None) -> np.ndarray:
        """States of ``slots`` at ``owner_time`` (one packet of ``source``, arrived at ``arrival``,
        the clock's now by default). Returns which were taken (late/duplicate ones are not)."""
        slots = np.asarray(slots, dtype=np.int64)
        index = self._source(source)
        src = self._source_list[index]
        if src.newest is not None and owner_time < src.newest - self.s.restart:
            self.restart(source)  # the owner's clock went back: it started over
        src.observe(owner_time, self.clock() if arrival is None else arrival)
        ok = self._used[slots] & (self._src[slots] == index) & (owner_time > self._t[slots, -1])
        self.ignored += int((~ok).sum())
        take = slots[ok]
        if not len(take):
            return ok
        pinned = take[self._pinned[take]]
        if len(pinned):  # shown still as pinned until now: that starts the body's timeline
            since = owner_time - self.s.max_delay - src.spacing
            self._t[pinned, -1] = since if src.render is None else min(src.render, since + self.s.max_delay)
            pin = self._pin[pinned]
            self._p[pinned, -1], self._q[pinned, -1] = pin[:, :3], pin[:, 3:7]
            self._v[pinned, -1], self._w[pinned, -1], self._a[pinned, -1] = 0.0, 0.0, 0.0
        # a new state changes where a body is shown only if it was shown past its newest state
        before = self._shown[take] & ~self._pinned[take] & (self._shown_r[take] >= self._t[take, -1])
        shown_p, shown_q = self._shown_p[take], self._shown_q[take]
        for a in (self._t, self._p, self._q, self._v, self._w, self._a):
            a[take, :-1] = a[take, 1:]
        self._t[take, -1] = owner_time
        self._p[take, -1] = position[ok]
        self._q[take, -1] = _normalised(np.asarray(orientation, dtype=np.float64)[ok])
        self._v[take, -1] = velocity[ok]
        self._w[take, -1] = angular_velocity[ok]
        self._a[take, -1] = 0.0 if acceleration is None else np.asarray(acceleration)[ok]
        self._pinned[take] = False
        if before.any():  # the news moved where the body is shown: blend the difference away
            again = take[before]
            _, p, q, _, _ = self._evaluate(again, self._shown_r[again])
            off_p = shown_p[before] - p
            off_q = _qmul(shown_q[before], _qconj(q))
            jump = ((np.linalg.norm(off_p, axis=1) > self.s.snap_distance)
                    | (_angle(off_q) > self.s.snap_angle))
            self._off_p[again] = np.where(jump[:, None], 0.0, off_p)
            self._off_q[again] = np.where(jump[:, None], _IDENTITY, _positive(off_q))
            self._offset[again] = ~jump
        return ok

    def snap(self, slots: np.ndarray, position: np.ndarray, orientation: np.ndarray,
             velocity: np.ndarray, angular_velocity: np.ndarray) -> None:
        """Untimed states (an owner that sends no times): shown as they are, at once, until news."""
        slots = np.asarray(slots, dtype=np.int64)
        self._clear(slots)
        self._pinned[slots] = True
        self._fresh[slots] = True
        self._pin[slots] = np.concatenate([position, _normalised(np.asarray(orientation, dtype=np.float64)),
                                           velocity, angular_velocity], axis=1)

    # ---- output ------------------------------------------------------------------------------

    def sample(self, now: float | None = None) -> Sampled:
        """Where every slot is to be shown now."""
        now = self.clock() if now is None else now
        elapsed = 0.0 if self._last_now is None else max(0.0, now - self._last_now)
        self._last_now = now
        renders = np.array([np.nan if (r := s.advance(now)) is None else r for s in self._source_list])
        n = len(self._used)
        mode = np.zeros(n, dtype=np.int8)
        pos, vel, ang = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))
        quat = np.tile(_IDENTITY, (n, 1))
        r = renders[self._src] if len(renders) else np.full(n, np.nan)
        live = np.flatnonzero(self._used & ~self._pinned & (self._t[:, -1] > -np.inf) & ~np.isnan(r))
        if len(live):
            m, p, q, v, w = self._evaluate(live, r[live])
            corrected = self._offset[live]
            if corrected.any():  # the correction offsets decay, and are added
                c = live[corrected]
                decay = math.exp(-elapsed / self.s.correction_time) if self.s.correction_time > 0 else 0.0
                self._off_p[c] *= decay
                self._off_q[c] = _nlerp(np.broadcast_to(_IDENTITY, (len(c), 4)), self._off_q[c], decay)
                p[corrected] += self._off_p[c]
                q[corrected] = _qmul(self._off_q[c], q[corrected])
                self._offset[c] = ((np.abs(self._off_p[c]).max(axis=1) > 1e-6)
                                   | (self._off_q[c, 0] < 1.0 - 1e-12))
            mode[live], pos[live], quat[live], vel[live], ang[live] = m, p, q, v, w
            self._shown[live] = True
            self._shown_p[live], self._shown_q[live], self._shown_r[live] = p, q, r[live]
        pinned = np.flatnonzero(self._used & self._pinned)
        if len(pinned):
            pin = self._pin[pinned]
            mode[pinned] = HOLD
            pos[pinned], quat[pinned] = pin[:, :3], pin[:, 3:7]
            vel[pinned], ang[pinned] = pin[:, 7:10], pin[:, 10:]
        fresh = self._fresh | ((mode == HOLD) & (self._mode != HOLD))
        self._fresh[:] = False
        self._mode = mode
        return Sampled(mode, pos, quat, vel, ang, fresh)

    def _evaluate(self, slots: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
        """(mode, position, orientation, velocity, angular velocity) of ``slots`` at owner times ``r``
        from their buffers alone (no correction offset)."""
        s, k = self.s, self._k
        t = self._t[slots]
        rows = np.arange(len(slots))
        count = (t > -np.inf).sum(axis=1)
        first = k - count
        i = (t <= r[:, None]).sum(axis=1) - 1
        early = i < first  # before the oldest state: the oldest
        i = np.where(early, first, i)
        j = np.minimum(i + 1, k - 1)
        newest = (i == k - 1) & ~early
        t0, t1 = t[rows, i], t[rows, j]
        p0, p1 = self._p[slots, i], self._p[slots, j]
        v0, v1 = self._v[slots, i], self._v[slots, j]
        q0, q1 = self._q[slots, i], self._q[slots, j]
        w0, w1 = self._w[slots, i], self._w[slots, j]
        a0 = self._a[slots, i]
        h = np.where(newest, 1.0, t1 - t0)
        # a step no motion explains (a teleport): shown as the earlier state until the later one
        reach = 2.0 * np.maximum(np.linalg.norm(v0, axis=1), np.linalg.norm(v1, axis=1)) * h + 0.1
        teleport = ~newest & ~early & (np.linalg.norm(p1 - p0, axis=1) > np.maximum(reach, s.snap_distance))
        # a gap of several packets: the owner did not send the body because our extrapolation of the
        # earlier state held until its previous packet, so it is extrapolated until one spacing
        # before the later state and interpolated from there (not bent over the whole gap)
        spacing = np.array([src.spacing for src in self._source_list])[self._src[slots]]
        start = np.where(~newest & ~early & (h > 1.5 * spacing), t1 - spacing, t0)
        coasting = ~newest & ~early & ~teleport & (r < start)
        between = ~newest & ~early & ~teleport & ~coasting
        # past the newest state (or a teleport's earlier one): extrapolated, then held
        dt = np.where(early, 0.0, np.clip(r - t0, 0.0, None))
        dt = np.where(teleport, np.minimum(dt, h), dt)
        hold = newest & (dt > s.max_extrapolation)
        dt = np.minimum(dt, s.max_extrapolation)
        pos = p0 + v0 * dt[:, None] + 0.5 * a0 * (dt * dt)[:, None]
        vel = v0 + a0 * dt[:, None]
        quat = _turn(q0, w0, dt)
        ang = w0.copy()
        if between.any():
            b = between
            lead = np.minimum(start[b] - t0[b], s.max_extrapolation)[:, None]  # 0 unless a gap
            pa = p0[b] + v0[b] * lead + 0.5 * a0[b] * lead * lead
            va = v0[b] + a0[b] * lead
            qa0 = _turn(q0[b], w0[b], lead[:, 0])
            hh = t1[b] - start[b]
            hb = hh[:, None]
            x = np.clip((r[b] - start[b]) / hh, 0.0, 1.0)[:, None]
            x2, x3 = x * x, x * x * x
            pos[b] = ((2 * x3 - 3 * x2 + 1) * pa + (x3 - 2 * x2 + x) * hb * va
                      + (-2 * x3 + 3 * x2) * p1[b] + (x3 - x2) * hb * v1[b])
            vel[b] = ((6 * x2 - 6 * x) * pa + (3 * x2 - 4 * x + 1) * hb * va
                      + (-6 * x2 + 6 * x) * p1[b] + (3 * x2 - 2 * x) * hb * v1[b]) / hb
            qa = _turn(qa0, w0[b], x[:, 0] * hh)
            qb = _turn(q1[b], w1[b], (x[:, 0] - 1.0) * hh)
            quat[b] = _slerp(qa, qb, x[:, 0])
            ang[b] = w0[b] + (w1[b] - w0[b]) * x
            a1 = self._a[slots, j][b]
            kink = _kinks(pa, va, a0[b], p1[b], v1[b], a1, hh, r[b] - start[b], s.kink_speed)
            if kink is not None:
                bent, kpos, kvel = kink
                rows_b = np.flatnonzero(b)[bent]
                pos[rows_b], vel[rows_b] = kpos, kvel
        vel[hold] = 0.0
        ang[hold] = 0.0
        mode = np.where(hold, HOLD, np.where(between | early | coasting, INTERPOLATE, EXTRAPOLATE))
        return mode.astype(np.int8), pos, quat, vel, ang


def _kinks(p0: np.ndarray, v0: np.ndarray, a0: np.ndarray, p1: np.ndarray, v1: np.ndarray, a1: np.ndarray,
           h: np.ndarray, tau: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Intervals whose velocity jumps by more than ``speed`` beyond what their accelerations explain
    (a bounce, a kick): Hermite would round the corner off (by centimetres at 30 Hz). Their path is
    the earlier state's arc until the two arcs meet and the later state's arc after, the mismatch of
    the two spread over both, so the path still runs through both states without a jump.
    Returns (which rows, their positions and velocities at ``tau`` into the interval) or None."""
    jump = v0 + a1 * h[:, None] - v1  # the relative velocity of the two arcs
    bent = np.einsum("ij,ij->i", jump, jump) > speed * speed
    if not bent.any():
        return None
    p0, v0, a0, p1, v1, a1, h, tau, jump = (x[bent] for x in (p0, v0, a0, p1, v1, a1, h, tau, jump))
    # the arcs: forward from the earlier state, backward from the later one
    back0 = p1 - v1 * h[:, None] + 0.5 * a1 * (h * h)[:, None]
    d0 = p0 - back0  # forward minus backward arc at the start (their gap closes at ~ jump)
    meet = -np.einsum("ij,ij->i", d0, jump) / np.einsum("ij,ij->i", jump, jump)  # s into the interval
    meet = np.clip(meet, 1e-3 * h, (1 - 1e-3) * h)
    m = meet[:, None]
    mismatch = d0 + jump * m + 0.5 * (a0 - a1) * m * m  # forward minus backward arc where they meet
    t, u = tau[:, None], (tau - h)[:, None]
    early = (tau < meet)[:, None]
    fwd = p0 + v0 * t + 0.5 * a0 * t * t - 0.5 * mismatch * t / meet[:, None]
    bwd = p1 + v1 * u + 0.5 * a1 * u * u + 0.5 * mismatch * -u / (h - meet)[:, None]
    pos = np.where(early, fwd, bwd)
    vel = np.where(early, v0 + a0 * t, v1 + a1 * u)
    return bent, pos, vel


# ---- quaternions (w, x, y, z), vectorised ----------------------------------------------------------


def _normalised(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    n = np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(n > 0, q / np.where(n > 0, n, 1.0), _IDENTITY)


def _positive(q: np.ndarray) -> np.ndarray:
    return np.where(q[:, :1] < 0, -q, q)


def _qconj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aw, ax, ay, az = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bw, bx, by, bz = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], axis=1)


def _angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle (rad, 0..pi) of unit quaternions."""
    return 2.0 * np.arctan2(np.linalg.norm(q[:, 1:], axis=1), np.abs(q[:, 0]))


def _turn(q: np.ndarray, w: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``q`` turned by the world-frame angular velocity ``w`` for ``dt`` s (negative: backwards)."""
    v = w * dt[:, None]
    angle = np.linalg.norm(v, axis=1)
    half = 0.5 * angle
    scale = np.where(angle > 1e-12, np.sin(half) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    d = np.concatenate([np.cos(half)[:, None], v * scale[:, None]], axis=1)
    return _normalised(_qmul(d, q))


def _nlerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    b = np.where((np.einsum("ij,ij->i", a, b) < 0)[:, None], -b, b)
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1) if np.ndim(t) else t
    return _normalised(a + (b - a) * t)


def _slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    dot = np.einsum("ij,ij->i", a, b)
    b = np.where((dot < 0)[:, None], -b, b)
    dot = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    near = sin < 1e-6
    safe = np.where(near, 1.0, sin)
    wa = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(near, t, np.sin(t * theta) / safe)
    return _normalised(a * wa[:, None] + b * wb[:, None])
