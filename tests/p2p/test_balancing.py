"""Load-balancing strategies for handing bodies over (pure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krapition_app.p2p.balancing import (
    STRATEGIES,
    Balancer,
    BalancerSettings,
    Strategy,
    parse_strategy,
    parse_weights,
)


@dataclass
class Snap:
    node_id: str
    authority: str
    liveness: str = "alive"
    rtt_ms_median: float | None = None


def _balancer(loads: dict[str, float], dead: tuple[str, ...] = (), rtt: dict[str, float] | None = None,
              **settings) -> Balancer:
    b = Balancer(BalancerSettings(**settings))
    b.observe_peers([Snap(n, f"{n}.lan:7000", "dead" if n in dead else "alive", (rtt or {}).get(n))
                     for n in loads])
    for n, load in loads.items():
        b.observe_heartbeat(n, load)
    return b


BODIES = [f"ball-{i}" for i in range(12)]


def test_round_robin_takes_turns_and_carries_on() -> None:
    b = _balancer({"b": 0.0, "c": 0.9, "d": 0.5})
    first = b.assign(BODIES[:4], "round_robin")
    assert list(first.values()) == ["b", "c", "d", "b"]
    assert list(b.assign(BODIES[:2], "round_robin").values()) == ["c", "d"]


def test_least_loaded_fills_the_idle_peer_first_then_spreads() -> None:
    b = _balancer({"b": 0.5, "c": 0.0}, body_cost=0.1)
    counts = Counter(b.assign(BODIES[:6], Strategy.LEAST_LOADED).values())
    # c takes bodies until its load plus theirs reaches b's, then they alternate
    assert counts == {"c": 5, "b": 1}
    even = Counter(_balancer({"b": 0.0, "c": 0.0}).assign(BODIES[:6], "least_loaded").values())
    assert even == {"b": 3, "c": 3}


def test_weighted_follows_the_weights_and_the_seed() -> None:
    weights = {"b": 3.0, "c.lan:7000": 1.0, "d": 0.0}  # by node id or by authority
    b = _balancer({"b": 0.0, "c": 0.0, "d": 0.0}, weights=weights, seed=7)
    bodies = [f"x{i}" for i in range(2000)]
    counts = Counter(b.assign(bodies, "weighted").values())
    assert counts["d"] == 0 and 2.5 < counts["b"] / counts["c"] < 3.6
    again = _balancer({"b": 0.0, "c": 0.0, "d": 0.0}, weights=weights, seed=7)
    assert again.assign(bodies[:50], "weighted") == _balancer(
        {"b": 0.0, "c": 0.0, "d": 0.0}, weights=weights, seed=7).assign(bodies[:50], "weighted")


def test_adaptive_weighs_round_trip_with_load_and_ignores_noise() -> None:
    b = _balancer({"b": 0.1, "c": 0.1}, rtt={"b": 40.0, "c": 2.0}, rtt_budget_ms=50.0, body_cost=0.0)
    assert set(b.assign(BODIES[:3], "adaptive").values()) == {"c"}
    # a small wobble (within the hysteresis) does not move the score; a real change does
    score = b.peers["c"].score
    b.observe_heartbeat("c", 0.12)
    assert b.peers["c"].score == score
    b.observe_heartbeat("c", 0.9)
    assert b.peers["c"].score != score
    assert set(b.assign(BODIES[:3], "adaptive").values()) == {"b"}


def test_no_alive_peer_no_assignment_and_dead_or_excluded_are_never_chosen() -> None:
    assert Balancer().assign(BODIES, "round_robin") == {}
    b = _balancer({"b": 0.0, "c": 0.0}, dead=("c",))
    assert set(b.assign(BODIES, "least_loaded").values()) == {"b"}
    assert b.assign(BODIES, "least_loaded", exclude=("b",)) == {}
    b.observe_peers([Snap("c", "c.lan:7000")])  # b left the table: not alive any more
    assert set(b.assign(BODIES, "round_robin").values()) == {"c"}


def test_a_peer_that_adopts_no_bodies_is_never_chosen() -> None:
    b = _balancer({"b": 0.9, "c": 0.0})
    b.observe_heartbeat("c", 0.0, adopts=False)  # idle, but no world to simulate them in
    for strategy in STRATEGIES:
        assert set(b.assign(BODIES, strategy).values()) == {"b"}
    b.observe_heartbeat("b", 0.9, adopts=False)
    assert b.assign(BODIES, "least_loaded") == {}
    b.observe_heartbeat("c", 0.0, adopts=True)  # a world now
    assert set(b.assign(BODIES, "round_robin").values()) == {"c"}


def test_settings_text() -> None:
    assert parse_strategy("Least Loaded") is Strategy.LEAST_LOADED
    assert parse_strategy("round-robin") is Strategy.ROUND_ROBIN
    assert parse_strategy(None) is Strategy.LEAST_LOADED
    with pytest.raises(ValueError, match="unknown"):
        parse_strategy("fastest")
    assert parse_weights("a:1=2, b = 0.5;") == {"a:1": 2.0, "b": 0.5}
    with pytest.raises(ValueError):
        parse_weights("a:1=-1")
    with pytest.raises(ValueError):
        BalancerSettings(weights={"a": float("nan")})


peers_st = st.dictionaries(st.sampled_from("bcdefgh"), st.tuples(st.floats(0, 1), st.booleans(),
                                                                 st.none() | st.floats(0, 500)),
                           max_size=7)


@given(peers=peers_st, n=st.integers(0, 60), strategy=st.sampled_from(STRATEGIES),
       unknown=st.sets(st.sampled_from("xyz")), seed=st.integers(0, 2**16))
def test_every_body_gets_exactly_one_alive_known_peer(peers, n, strategy, unknown, seed) -> None:
    b = Balancer(BalancerSettings(seed=seed, weights={"c": 0.0, "d": 2.5}))
    b.observe_peers([Snap(k, f"{k}:1", "alive" if alive else "dead", rtt)
                     for k, (_, alive, rtt) in peers.items()])
    for k, (load, _, _) in peers.items():
        b.observe_heartbeat(k, load)
    bodies = [f"body-{i}" for i in range(n)]
    out = b.assign(bodies, strategy, exclude=unknown)
    alive = {k for k, (_, ok, _) in peers.items() if ok}
    if not alive or not n:
        assert out == {}
        return
    assert sorted(out) == sorted(bodies)  # each body exactly once
    assert set(out.values()) <= alive  # never a dead or unknown peer
    if strategy == "round_robin":
        counts = Counter(out.values())
        assert max(counts.values()) - min(counts.get(k, 0) for k in alive) <= 1
