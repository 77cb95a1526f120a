"""What of our bodies' motion goes on our chain each publishing tick (pure: numpy, no I/O, no Qt).

Per tick, :meth:`MotionPublisher.tick` sorts our dynamic bodies:

- coming to rest (asleep, or slow and still since the previous tick): sent once in the motion
  packet with the codec's REST flag (zero velocity: peers hold it there, within 0.2 mm); a little
  later, once it sleeps or has rested for ``exact_after_ticks``, its exact float64 state goes out
  in ``ObjectMoved.bodies`` (a few per tick), for the store's projection and late joiners. Then it
  costs nothing until it leaves that state;
- moving and well predicted: peers extrapolate it (the codec's prediction: velocity, gravity,
  spin) within ``tolerance``; refreshed every ``refresh_ticks`` only;
- moving and off: sent, the largest error first, as many as the tick's byte budget holds; the rest
  wait for the next tick (their error, and so their priority, grows meanwhile). A body not sent for
  ``stale_s`` goes first: peers stop extrapolating after ~250 ms.

The budget adapts to peers and bodies: one copy of our chain may take ``chain_kbit_s``, and all
copies together (one per peer) ``upload_kbit_s``; a tick holds ``min(chain, upload / peers) / rate``
of that, and how many bodies that is follows the measured bytes per entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .model.events import BodyState
from .model.motion import MotionEncoder, dequantise

#: moved this far (m), turned this much (quaternion component) or changed velocity this much (m/s):
#: a resting body moves again; between two ticks: a body is not still
POSITION_EPS = 5e-4
ORIENTATION_EPS = 1e-3
VELOCITY_EPS = 1e-2
#: slower than this (m/s, rad/s) and still since the previous tick: at rest
REST_SPEED = 0.02
REST_SPIN = 0.05
#: bytes of one ObjectMoved event beyond its motion bytes (envelope, signature, URI, keys)
EVENT_OVERHEAD = 260
#: bytes of one exact state in ``ObjectMoved.bodies`` (name, 13 float64 in msgpack)
EXACT_STATE_BYTES = 150


@dataclass(frozen=True)
class MotionSettings:
    #: what one copy of our chain may take for motion (kbit/s) ...
    chain_kbit_s: float = 450.0
    #: ... and all copies together, one per peer
    upload_kbit_s: float = 2000.0
    #: peers may extrapolate a body this far off (m, at the body's rim for turns) before it is sent
    tolerance: float = 0.001
    #: a moving body is sent at least every this many ticks, however well it is predicted ...
    refresh_ticks: int = 4
    #: ... and before all others once it was not sent for this long (s)
    stale_s: float = 0.2
    #: every moving body is sent whole (a keyframe) at least every this many packets
    keyframe_every: int = 90
    #: at least this many bodies per tick, whatever the budget
    min_entries: int = 8
    #: exact rest states per tick, and how long a body rests (ticks) before its exact state goes
    #: out if it does not fall asleep first
    exact_per_tick: int = 16
    exact_after_ticks: int = 15


@dataclass(frozen=True)
class Publication:
    """One tick's output: the motion packet (b"" if none) and exact rest states."""

    motion: bytes
    exact: tuple[BodyState, ...]
    #: bodies in the packet (of which come to rest), bodies that wanted to be in it
    sent: int
    resting: int
    due: int
    #: what this tick would cost as full float64 state (13 values) of every body that moved
    naive_bytes: int


def _beyond(delta: np.ndarray) -> np.ndarray:
    """Rows of state differences (n, 13) beyond the eps of position, orientation or velocity."""
    d = np.abs(delta)
    return ((d[:, :3].max(axis=1, initial=0) > POSITION_EPS)
            | (d[:, 3:7].max(axis=1, initial=0) > ORIENTATION_EPS)
            | (d[:, 7:].max(axis=1, initial=0) > VELOCITY_EPS))


class MotionPublisher:
    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self.encoder = MotionEncoder(keyframe_every=self.settings.keyframe_every)
        self._names: tuple[str, ...] = ()
        self._ids = np.zeros(0, dtype=np.int64)
        self._resting = np.zeros(0, dtype=bool)
        self._rest = np.zeros((0, 13))
        self._previous = np.zeros((0, 13))
        self._last_sent = np.zeros(0, dtype=np.int64)
        self._rest_since = np.zeros(0, dtype=np.int64)
        self._exact_due = np.zeros(0, dtype=bool)
        self._tick = 0
        self._entry_bytes = 4.0  # measured: bytes per entry of recent packets

    def reset(self) -> None:
        """Our chain did not take a packet (or a new world): a new stream. Peers start again from
        keyframes, and every resting body is sent at rest once more."""
        self.encoder.reset()
        self._names = ()
        self._ids = np.zeros(0, dtype=np.int64)
        self._resting = np.zeros(0, dtype=bool)

    def retire(self, names: Sequence[str]) -> None:
        """Bodies that are gone from our chain."""
        self.encoder.retire(names)

    def _align(self, names: tuple[str, ...], state: np.ndarray) -> None:
        """Per-body arrays follow the bodies when the names change (per-body Python only then)."""
        if names == self._names:
            return
        old = {n: i for i, n in enumerate(self._names)}
        index = np.array([old.get(n, -1) for n in names], dtype=np.int64)
        had = index >= 0
        n = len(names)
        # a new body moves until shown otherwise (after a reset: every body, sent at rest at once)
        arrays = {"_resting": np.zeros(n, dtype=bool), "_rest": state.copy(), "_previous": state.copy(),
                  "_last_sent": np.zeros(n, dtype=np.int64), "_rest_since": np.zeros(n, dtype=np.int64),
                  "_exact_due": np.zeros(n, dtype=bool)}
        for attr, new in arrays.items():
            old_values = getattr(self, attr)
            if len(old_values):
                new[had] = old_values[index[had]]
            setattr(self, attr, new)
        self._names, self._ids = names, self.encoder.ids(names)

    def tick(self, time: float, names: tuple[str, ...], position: np.ndarray, orientation: np.ndarray,
             velocity: np.ndarray, angular_velocity: np.ndarray, static: np.ndarray, sleeping: np.ndarray,
             lever: np.ndarray, *, gravity: Sequence[float], rate_hz: float, peers: int,
             fresh: np.ndarray | None = None) -> Publication:
        """One publishing tick over our bodies (arrays aligned with ``names``). ``fresh``: bodies
        just published whole (ObjectCreated with this state): peers hold them as they are."""
        s = self.settings
        self._tick += 1
        tick = self._tick
        state = np.concatenate([position, orientation, velocity, angular_velocity], axis=1)
        self._align(names, state)
        if fresh is not None and fresh.any():
            self._resting[fresh], self._rest[fresh], self._exact_due[fresh] = True, state[fresh], False
        dynamic = ~static
        # at rest -> moving: left the rest state
        left = self._resting & _beyond(state - self._rest) & dynamic & ~sleeping
        self._resting &= ~left
        self._exact_due &= ~left
        # moving -> at rest: asleep, or slow and still since the previous tick
        changed = _beyond(state - self._previous) & dynamic & ~sleeping
        slow = ((np.einsum("ij,ij->i", velocity, velocity) < REST_SPEED**2)
                & (np.einsum("ij,ij->i", angular_velocity, angular_velocity) < REST_SPIN**2))
        settling = ~self._resting & dynamic & (sleeping | (slow & ~changed))
        self._previous = state
        naive = int(changed.sum()) * 13 * 8  # the naive way: every body that changed, whole, every tick
        exact = self._exact(names, state, sleeping, s.exact_per_tick)
        moving = np.flatnonzero(~self._resting & dynamic)
        if not len(moving):
            return Publication(b"", exact, 0, 0, 0, naive)
        ids = self._ids[moving]
        known, held = self.encoder.held(ids, time)
        error = self._error(held, position[moving], orientation[moving], velocity[moving],
                            angular_velocity[moving], lever[moving], rate_hz)
        age = tick - self._last_sent[moving]
        stale = age >= max(s.refresh_ticks, math.floor(s.stale_s * rate_hz))
        settles = settling[moving]
        due = ~known | settles | (error > s.tolerance) | (age >= s.refresh_ticks)
        candidates = np.flatnonzero(due)
        kbit = min(s.chain_kbit_s, s.upload_kbit_s / max(1, peers))
        budget = kbit * 1000.0 / 8.0 / max(rate_hz, 1e-3) - EVENT_OVERHEAD - EXACT_STATE_BYTES * len(exact)
        room = max(s.min_entries, int(budget / self._entry_bytes))
        if len(candidates) > room:
            # first: never sent, coming to rest, about to be held still by peers; then the largest
            # error in tolerances plus staleness in refreshes
            first = ~known | settles | stale
            priority = np.where(first, 1e9 + age, error / s.tolerance + age / s.refresh_ticks)[candidates]
            candidates = candidates[np.argpartition(-priority, room - 1)[:room]]
        chosen = np.zeros(len(moving), dtype=bool)
        chosen[candidates] = True
        rows = moving[candidates]
        still = settles[candidates]
        # a body comes to rest only once peers were told (else it tries again next tick)
        rested = moving[settles & chosen]
        self._resting[rested], self._rest[rested] = True, state[rested]
        self._rest_since[rested], self._exact_due[rested] = tick, True
        motion = b""
        if len(rows):
            motion = self.encoder.encode(time, self._ids[rows], position[rows], orientation[rows],
                                         velocity[rows], angular_velocity[rows], gravity, rest=still)
            self._entry_bytes = 0.8 * self._entry_bytes + 0.2 * max(0.5, len(motion) / len(rows))
            self._last_sent[rows] = tick
        return Publication(motion, exact, len(rows), len(rested), int(due.sum()), naive)

    def _exact(self, names: tuple[str, ...], state: np.ndarray, sleeping: np.ndarray,
               limit: int) -> tuple[BodyState, ...]:
        """Exact states of bodies at rest that peers hold only quantised: those asleep or resting
        for a while, a few per tick."""
        ready = self._exact_due & self._resting & (sleeping | (self._tick - self._rest_since
                                                               >= self.settings.exact_after_ticks))
        rows = np.flatnonzero(ready)[:limit]
        self._exact_due[rows] = False
        out = []
        for i in rows.tolist():
            s = state[i]
            q = s[3:7] / math.sqrt(float(s[3:7] @ s[3:7]))
            try:
                out.append(BodyState(name=names[i], position=tuple(s[:3].tolist()),
                                     orientation=tuple(q.tolist()), velocity=tuple(s[7:10].tolist()),
                                     angular_velocity=tuple(s[10:13].tolist())))
            except ValueError:  # beyond the bounds a state may have: not published
                continue
        return tuple(out)

    @staticmethod
    def _error(held: np.ndarray, position: np.ndarray, orientation: np.ndarray, velocity: np.ndarray,
               angular_velocity: np.ndarray, lever: np.ndarray, rate_hz: float) -> np.ndarray:
        """How far off (m) peers' extrapolation of each body is now, and will be by the next tick."""
        pos, quat, vel, ang = dequantise(held)
        dot = np.abs(np.einsum("ij,ij->i", quat, orientation / np.linalg.norm(orientation, axis=1)[:, None]))
        turn = 2.0 * np.sqrt(np.maximum(0.0, 1.0 - np.minimum(dot, 1.0) ** 2))  # ~ angle, rad
        ahead = 1.0 / max(rate_hz, 1e-3)
        return (np.linalg.norm(pos - position, axis=1) + turn * lever
                + ahead * (np.linalg.norm(vel - velocity, axis=1)
                           + lever * np.linalg.norm(ang - angular_velocity, axis=1)))
