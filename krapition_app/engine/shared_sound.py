"""Hearing every owner's collisions exactly once.

Every node simulates every body, so most impacts are heard at once from the local simulation (a
prediction). The owner's simulation is the truth, though: an impact the local copy missed (the copy
was a few millimetres off) must still be heard, and one both saw must not be heard twice. So:

* **Publishing.** Exactly one node publishes each impact as a ``CollisionDetected`` event: the
  owner of the pair's first URI (in string order; the static world has none). The loudest
  ``limit`` per tick go out; a pile settling does not flood the chain with ticks of gravel.
* **Matching.** Each node remembers the impacts it heard (by the unordered pair of URIs, with the
  time it heard them). An owner's event whose pair was heard within ``window`` seconds is matched
  to that prediction and dropped; one that was not is played now, for this node's own listener.

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


class ImpactMatcher:
    """Remembers recently heard impacts; decides whether an owner's event still needs playing."""

    def __init__(self, window: float = MATCH_WINDOW_S, capacity: int = 4096) -> None:
        if not window > 0:
            raise ValueError(f"window must be > 0 s, got {window!r}")
        self.window = window
        self.capacity = capacity
        self._heard: dict[Pair, deque[float]] = {}
        self._order: deque[HeardImpact] = deque()
        self.matched = 0
        self.played_late = 0

    def heard(self, pair: Pair, time: float) -> None:
        """A local impact of ``pair`` was played at ``time``."""
        self._forget_before(time - self.window)
        self._heard.setdefault(pair, deque()).append(time)
        self._order.append(HeardImpact(pair, time))
        while len(self._order) > self.capacity:
            self._drop_oldest()

    def should_play(self, pair: Pair, time: float) -> bool:
        """An owner's impact of ``pair`` arrived at ``time``: False when a local prediction of it was
        heard within the window (that prediction is used up), True when it must be played now."""
        self._forget_before(time - self.window)
        times = self._heard.get(pair)
        if times:
            times.popleft()
            if not times:
                del self._heard[pair]
            self.matched += 1
            return False
        self.played_late += 1
        return True

    def _forget_before(self, horizon: float) -> None:
        while self._order and self._order[0].time < horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        old = self._order.popleft()
        times = self._heard.get(old.pair)
        if times:
            # the pair's times are in order; the oldest entry of ``_order`` is its oldest unless a
            # match already used it up
            if times[0] <= old.time:
                times.popleft()
            if not times:
                del self._heard[old.pair]


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
