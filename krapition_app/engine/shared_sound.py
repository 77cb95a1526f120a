"""Hearing every owner's collisions exactly once.

Every node simulates every body, so most impacts are heard at once from the local simulation (a
prediction). The owner's simulation is the truth, though: an impact the local copy missed (the copy
was a few millimetres off) must still be heard, and one both saw must not be heard twice. So:

* **Publishing.** Exactly one node publishes each impact as a ``CollisionDetected`` event: the
  owner of the pair's first URI (in string order; the static world has none). The loudest
  ``limit`` per tick go out; a pile settling does not flood the chain with ticks of gravel.
* **Matching.** Each node remembers the impacts it played (by the unordered pair of URIs, with the
  time, and whether they came from its own simulation or from an owner's event). An impact of the
  same pair from the other source within ``window`` seconds is the same impact and is dropped: an
  owner's event after our prediction, or our copy's impact after the owner's event (a remote body
  is shown a little in the past). An owner's event nothing matched is played now, for this node's
  own listener.

Pure bookkeeping on URIs and seconds: the session supplies the names and the clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..model.events import CollisionDetected
from .contacts import IMPACT, KIND_NAMES, ContactEvents

#: seconds within which a local impact and an owner's event of the same pair are one impact: the
#: owner's event arrives one publishing tick, a replication hop and the interpolation delay later
MATCH_WINDOW_S = 0.4
#: impacts an owner publishes per publishing tick, loudest first
PUBLISH_LIMIT = 24
#: impacts softer than this (N*s) are not worth a signed event (they are still heard locally)
AUDIBLE_IMPULSE = 1e-3

Pair = tuple[str, str | None]


def pair_key(uri_a: str, uri_b: str | None) -> Pair:
    """The unordered pair as one key: the smaller URI first, the static world (None) last."""
    if uri_b is None or uri_a <= uri_b:
        return uri_a, uri_b
    return uri_b, uri_a


def publisher_of(uri_a: str, uri_b: str | None) -> str:
    """The URI whose owner publishes this pair's impacts (the first of the pair)."""
    return pair_key(uri_a, uri_b)[0]


@dataclass(frozen=True, slots=True)
class HeardImpact:
    pair: Pair
    time: float


class _Heard:
    """Impacts heard from one source, by pair, for ``window`` seconds (at most ``capacity``)."""

    def __init__(self, window: float, capacity: int) -> None:
        self.window = window
        self.capacity = capacity
        self.by_pair: dict[Pair, deque[float]] = {}
        self.order: deque[HeardImpact] = deque()

    def add(self, pair: Pair, time: float) -> None:
        self.forget_before(time - self.window)
        self.by_pair.setdefault(pair, deque()).append(time)
        self.order.append(HeardImpact(pair, time))
        while len(self.order) > self.capacity:
            self._drop_oldest()

    def take(self, pair: Pair, time: float) -> bool:
        """Uses up one impact of ``pair`` heard within the window; False if there is none."""
        self.forget_before(time - self.window)
        times = self.by_pair.get(pair)
        if not times:
            return False
        times.popleft()
        if not times:
            del self.by_pair[pair]
        return True

    def forget_before(self, horizon: float) -> None:
        while self.order and self.order[0].time < horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        old = self.order.popleft()
        times = self.by_pair.get(old.pair)
        if times:
            # a pair's times are in order; its oldest is this entry unless a match used it up
            if times[0] <= old.time:
                times.popleft()
            if not times:
                del self.by_pair[old.pair]


class ImpactMatcher:
    """One impact, two sources: our own simulation (a prediction, heard at once) and the owner's
    event (the truth, a little later; or, for a body shown in the past, a little earlier). Whichever
    comes first is played and remembered; the other, within the window, is the same impact and is
    dropped."""

    def __init__(self, window: float = MATCH_WINDOW_S, capacity: int = 4096) -> None:
        if not window > 0:
            raise ValueError(f"window must be > 0 s, got {window!r}")
        self.window = window
        self._local = _Heard(window, capacity)
        self._remote = _Heard(window, capacity)
        #: local impacts dropped (the owner's event came first), owner events dropped (our
        #: simulation came first), owner events played (our world missed the impact)
        self.matched_local = 0
        self.matched_remote = 0
        self.played_late = 0

    @property
    def matched(self) -> int:
        return self.matched_local + self.matched_remote

    def local(self, pair: Pair, time: float) -> bool:
        """Our simulation reports an impact of ``pair``: True if it is to be played."""
        if self._remote.take(pair, time):
            self.matched_local += 1
            return False
        self._local.add(pair, time)
        return True

    def remote(self, pair: Pair, time: float) -> bool:
        """An owner's event of an impact of ``pair`` arrived: True if it is to be played (our world
        did not hear it)."""
        if self._local.take(pair, time):
            self.matched_remote += 1
            return False
        self._remote.add(pair, time)
        self.played_late += 1
        return True


def impacts_to_publish(
    contacts: ContactEvents,
    uri_of_row: Callable[[int], str | None],
    owns: Callable[[str], bool],
    tick: int,
    limit: int = PUBLISH_LIMIT,
) -> list[CollisionDetected]:
    """The impacts of one step that this node publishes: impact rows whose publisher URI (see
    :func:`publisher_of`) we own, loudest ``limit`` first. ``uri_of_row`` maps a body row to its URI
    (None: a body with no URI, such as the static world)."""
    rows = np.nonzero((contacts.kind == IMPACT) & (contacts.normal_impulse >= AUDIBLE_IMPULSE))[0]
    candidates: list[tuple[float, int, str, str | None]] = []
    for row in rows.tolist():
        uri_a = uri_of_row(int(contacts.body_a[row]))
        if uri_a is None:
            continue
        b = int(contacts.body_b[row])
        uri_b = uri_of_row(b) if b >= 0 else None
        if owns(publisher_of(uri_a, uri_b)):
            candidates.append((float(contacts.normal_impulse[row]), row, uri_a, uri_b))
    loudest = heapq.nlargest(limit, candidates, key=lambda c: (c[0], -c[1]))
    loudest.sort(key=lambda c: c[1])  # step order: deterministic and as the solver reported them
    return [
        CollisionDetected(
            body_a=uri_a,
            body_b=uri_b,
            point=tuple(float(x) for x in contacts.point[row]),
            normal=tuple(float(x) for x in contacts.normal[row]),
            impulse=impulse,
            normal_speed=float(contacts.normal_speed[row]),
            tangential_speed=float(contacts.tangential_speed[row]),
            kind=KIND_NAMES[IMPACT],
            tick=tick,
        )
        for impulse, row, uri_a, uri_b in loudest
    ]


def contacts_from_collisions(
    collisions: Sequence[CollisionDetected], row_of_uri: Callable[[str], int | None]
) -> ContactEvents:
    """Owner events as contact rows of this node's world (for the audio engine). A collision whose
    first body is not in our world is skipped; an unknown second body becomes the static world."""
    picked: list[tuple[CollisionDetected, int, int]] = []
    for event in collisions:
        a = row_of_uri(event.body_a)
        if a is None:
            continue
        b = row_of_uri(event.body_b) if event.body_b is not None else None
        picked.append((event, a, -1 if b is None else b))
    out = ContactEvents.empty(len(picked))
    for k, (event, a, b) in enumerate(picked):
        out.body_a[k] = a
        out.body_b[k] = b
        out.point[k] = event.point
        out.normal[k] = event.normal
        out.normal_impulse[k] = event.impulse
        out.normal_speed[k] = event.normal_speed
        out.tangential_speed[k] = event.tangential_speed
        out.kind[k] = KIND_NAMES.index(event.kind)
    return out
