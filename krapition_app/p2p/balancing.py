"""Which peer takes a body handed over: load-balancing strategies (pure: no I/O, no clock).

A node that leaves (or sheds bodies) hands each of its bodies to one peer. Which one follows a
strategy setting, as the seed asks:

- ``round_robin``: in turn over the alive peers (ordered by node id), carrying on where the last
  hand-over stopped; n bodies over k peers: every peer gets n // k or n // k + 1.
- ``least_loaded``: each body to the peer whose load (its heartbeat's ``load``, 0..1) plus what this
  hand-over already gave it (``body_cost`` per body) is lowest: many bodies spread, the idle peer
  first.
- ``weighted``: at random in proportion to a weight per peer (by node id or authority; 1 if not
  set), from a seeded generator: the same seed and peers give the same choice.
- ``adaptive``: like least loaded on a score of load and round trip, ``load + rtt_ms /
  rtt_budget_ms``, with hysteresis: a peer's score moves only when a new measurement differs by
  more than ``hysteresis``, so noisy round trips do not reshuffle the order.

Only alive peers that were seen (a heartbeat or the peer table) are ever chosen, and never one whose
heartbeat says it does not adopt bodies (a headless node without a world: the body would come back
after the adoption window); with none, no body is assigned (the caller keeps its bodies).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Strategy(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    WEIGHTED = "weighted"
    ADAPTIVE = "adaptive"


STRATEGIES: tuple[str, ...] = tuple(s.value for s in Strategy)
DEFAULT_STRATEGY = Strategy.LEAST_LOADED


def parse_strategy(value: str | Strategy | None) -> Strategy:
    """A strategy from a setting's text ("least-loaded", "Least Loaded" too); the default for none."""
    if value is None or value == "":
        return DEFAULT_STRATEGY
    if isinstance(value, Strategy):
        return value
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Strategy(text)
    except ValueError:
        known = ", ".join(STRATEGIES)
        raise ValueError(f"unknown load-balancing strategy {value!r}; one of {known}") from None


@dataclass
class PeerLoad:
    """What the balancer knows of one peer."""

    node_id: str
    authority: str = ""
    alive: bool = True
    #: 0..1, from the peer's newest heartbeat
    load: float = 0.0
    #: round trip, ms (None: not measured yet)
    rtt_ms: float | None = None
    #: whether it adopts bodies handed over (a world to simulate them in); None: not heard yet
    adopts: bool | None = None
    #: adaptive: the score the order follows (moves only past the hysteresis)
    score: float | None = None


@dataclass
class BalancerSettings:
    #: what one body adds to a peer's load within one hand-over (spreads many bodies)
    body_cost: float = 0.02
    #: adaptive: a round trip this long counts as much as a full load
    rtt_budget_ms: float = 50.0
    #: adaptive: a peer's score changes only when a new one differs by more than this
    hysteresis: float = 0.05
    #: weighted: node id or authority -> weight (>= 0; 1 for peers not named)
    weights: Mapping[str, float] = field(default_factory=dict)
    #: weighted: the seed of the generator (deterministic choices)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.body_cost < 0 or self.rtt_budget_ms <= 0 or self.hysteresis < 0:
            raise ValueError("body_cost and hysteresis must be >= 0, rtt_budget_ms > 0")
        for key, weight in self.weights.items():
            if not weight >= 0:  # also NaN
                raise ValueError(f"the weight of {key!r} must be >= 0, got {weight!r}")


class Balancer:
    """Keeps each peer's newest load and round trip; assigns bodies to peers by a strategy.

    Feed it from the node: :meth:`observe_heartbeat` (``node.on_heartbeat``) and
    :meth:`observe_peers` (``node.peers()``: liveness, authority, round trip). Not thread-safe: one
    owner (the session's pump) calls it, or the caller locks.
    """

    def __init__(self, settings: BalancerSettings | None = None) -> None:
        self.settings = settings or BalancerSettings()
        self.peers: dict[str, PeerLoad] = {}
        self._cursor = 0
        self._random = random.Random(self.settings.seed)

    # ---- what the node tells ----------------------------------------------------------------

    def observe_heartbeat(self, node_id: str, load: float, rtt_ms: float | None = None, *,
                          adopts: bool | None = None) -> None:
        peer = self.peers.setdefault(node_id, PeerLoad(node_id))
        if adopts is not None:
            peer.adopts = bool(adopts)
        peer.load = min(1.0, max(0.0, float(load))) if load == load else peer.load
        if rtt_ms is not None:
            peer.rtt_ms = float(rtt_ms)
        self._rescore(peer)

    def observe_peers(self, snapshots: Iterable[Any]) -> None:
        """The peer table (``PeerSnapshot``-like: node_id, authority, liveness, rtt_ms_median); a
        peer missing from it is not alive."""
        seen = set()
        for snap in snapshots:
            node_id = str(snap.node_id)
            seen.add(node_id)
            peer = self.peers.setdefault(node_id, PeerLoad(node_id))
            peer.authority = str(getattr(snap, "authority", peer.authority) or peer.authority)
            liveness = getattr(snap, "liveness", "alive")
            peer.alive = str(getattr(liveness, "value", liveness)) != "dead"
            rtt = getattr(snap, "rtt_ms_median", None)
            if rtt is None:
                rtt = getattr(snap, "rtt_ms_last", None)
            if rtt is not None:
                peer.rtt_ms = float(rtt)
            self._rescore(peer)
        for node_id, peer in self.peers.items():
            if node_id not in seen:
                peer.alive = False

    def forget(self, node_id: str) -> None:
        self.peers.pop(node_id, None)

    def alive(self, exclude: Iterable[str] = ()) -> list[PeerLoad]:
        """The alive peers that may adopt bodies, by node id."""
        skip = set(exclude)
        return sorted((p for p in self.peers.values()
                       if p.alive and p.adopts is not False and p.node_id not in skip),
                      key=lambda p: p.node_id)

    def _raw_score(self, peer: PeerLoad) -> float:
        rtt = peer.rtt_ms if peer.rtt_ms is not None else 0.0
        return peer.load + max(0.0, rtt) / self.settings.rtt_budget_ms

    def _rescore(self, peer: PeerLoad) -> None:
        raw = self._raw_score(peer)
        if peer.score is None or abs(raw - peer.score) > self.settings.hysteresis:
            peer.score = raw

    # ---- choosing ---------------------------------------------------------------------------

    def assign(self, bodies: Sequence[str], strategy: str | Strategy = DEFAULT_STRATEGY, *,
               exclude: Iterable[str] = ()) -> dict[str, str]:
        """body -> node id of the alive peer that takes it (every body exactly one; none when no
        peer is alive). ``exclude``: node ids never to choose (ourselves, a peer leaving too)."""
        strategy = parse_strategy(strategy)
        candidates = self.alive(exclude)
        if not candidates or not bodies:
            return {}
        if strategy is Strategy.ROUND_ROBIN:
            out = {}
            for body in bodies:
                out[body] = candidates[self._cursor % len(candidates)].node_id
                self._cursor += 1
            return out
        if strategy is Strategy.WEIGHTED:
            weights = [self._weight(p) for p in candidates]
            if not any(weights):
                weights = [1.0] * len(candidates)
            return {body: self._random.choices(candidates, weights)[0].node_id for body in bodies}
        if strategy is Strategy.LEAST_LOADED:
            base = [p.load for p in candidates]
        else:  # adaptive
            base = [p.score if p.score is not None else self._raw_score(p) for p in candidates]
        cost = self.settings.body_cost
        given = [0] * len(candidates)
        out = {}
        for body in bodies:
            best = min(range(len(candidates)), key=lambda i: (base[i] + given[i] * cost, given[i], i))
            given[best] += 1
            out[body] = candidates[best].node_id
        return out

    def _weight(self, peer: PeerLoad) -> float:
        weights = self.settings.weights
        if peer.node_id in weights:
            return float(weights[peer.node_id])
        if peer.authority in weights:
            return float(weights[peer.authority])
        return 1.0


def parse_weights(text: str) -> dict[str, float]:
    """Weights from a setting's text: ``"host:port=2, other:port=0.5"`` (node ids work too)."""
    out: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.rpartition("=")
        if not sep or not key.strip():
            raise ValueError(f"a weight is written key=number, not {part!r}")
        weight = float(value)
        if not weight >= 0:
            raise ValueError(f"the weight of {key.strip()!r} must be >= 0")
        out[key.strip()] = weight
    return out
