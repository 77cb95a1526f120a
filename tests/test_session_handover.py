"""The LAN session, hand-over: a node hands its bodies to its peers (new URIs there, tombstones that
point to them here) chosen by a load-balancing strategy; no world ever holds a body twice; a
tombstone no one adopts is recovered."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np
import pytest
from test_session import loopback_config, position, wait_until

from krapition_app.engine.world import World
from krapition_app.model.events import ObjectDeleted
from krapition_app.model.scene import BodySpec, Scene
from krapition_app.model.uri import KrapitionURI
from krapition_app.p2p.node import Node
from krapition_app.session import Session, local_name

pytestmark = pytest.mark.timeout(240)
BOXES = tuple(BodySpec(name=f"box-{i}", shape="box", half_extents=(0.1, 0.1, 0.1), material="wood",
                       position=(-1.25 + 0.5 * i, 0.0, 0.1)) for i in range(6))
NAMES = [b.name for b in BOXES]


@pytest.fixture
def three(tmp_path) -> Iterator[list[tuple[Session, World]]]:
    """Three sessions on loopback; the first owns six boxes resting on the ground."""
    World.warm_up()
    passphrase = secrets.token_hex(8)
    out: list[tuple[Session, World]] = []
    try:
        for name, bodies in (("a", BOXES), ("b", ()), ("c", ())):
            session = Session(Node(loopback_config(tmp_path, name, passphrase)), rate_hz=30)
            session.start()
            world = World(Scene(name=name, bodies=bodies))
            world.start()
            session.attach(world)
            out.append((session, world))
        a, b, c = (s for s, _ in out)
        assert wait_until(lambda: all(len(s.peers()) == 2 for s in (a, b, c)), 30.0), "no connection"
        copies = {local_name(n, a.node.public_key) for n in NAMES}
        assert wait_until(lambda: all(copies <= set(w.names) for _, w in out[1:]), 30.0), [
            (w.names, s._spawning, s._dirty, w.errors[:2], len(s.remote)) for s, w in out]
        yield out
    finally:
        for session, world in out:
            session.stop()
            world.stop()


def _places(world: World) -> dict[str, np.ndarray]:
    snap = world.snapshot()
    return {n: snap.position[snap.index(n)].copy() for n in NAMES}


def _where(sessions: dict[str, Session], moved: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per session: body -> the name its one copy must have in that world."""
    keys = {s.authority: s.node.public_key for s in sessions.values()}
    out: dict[str, dict[str, str]] = {}
    for label, session in sessions.items():
        names = {}
        for body, uri in moved.items():
            parsed = KrapitionURI.parse(uri)
            owner = str(parsed.authority)
            names[body] = parsed.name if owner == session.authority else local_name(parsed.name, keys[owner])
        out[label] = names
    return out


def _each_once(world: World, wanted: dict[str, str]) -> bool:
    names = world.names
    return len(names) == len(wanted) and set(wanted.values()) == set(names)


def _near(world: World, wanted: dict[str, str], places: dict[str, np.ndarray], tolerance: float) -> bool:
    return all(np.linalg.norm(position(world, local) - places[body]) < tolerance
               for body, local in wanted.items())


def _tombstones(session: Session) -> dict[str, str]:
    return {e.uri: e.payload.moved_to for e in list(session.node.recent_events)
            if e.author == session.node.public_key and isinstance(e.payload, ObjectDeleted)
            and e.payload.moved_to is not None}


def _settled(world: World) -> bool:
    snap = world.snapshot()
    return bool(np.abs(snap.velocity).max(initial=0.0) < 0.01)


@pytest.mark.parametrize("strategy", ["round_robin", "least_loaded"])
def test_a_hands_its_bodies_to_b_and_c_each_lives_on_once_where_it_was(three, strategy) -> None:
    (a, world_a), (b, world_b), (c, world_c) = three
    assert wait_until(lambda: _settled(world_a))
    wait_until(lambda: False, 0.5)  # the rest states reach the peers
    places = _places(world_a)
    moved = a.hand_over(strategy=strategy)
    assert sorted(moved) == NAMES
    owners = [str(KrapitionURI.parse(uri).authority) for uri in moved.values()]
    assert set(owners) <= {b.authority, c.authority}
    if strategy == "round_robin":
        assert owners.count(b.authority) == owners.count(c.authority) == 3
    sessions = {"a": a, "b": b, "c": c}
    worlds = {"a": world_a, "b": world_b, "c": world_c}
    where = _where(sessions, moved)
    # every world ends with each body exactly once, and it never holds two at a time
    for _ in range(400):
        for label, world in worlds.items():
            names = world.names
            for body, local in where[label].items():
                old = body if label == "a" else local_name(body, a.node.public_key)
                assert not (old in names and local in names and old != local), (label, body, names)
        if all(_each_once(worlds[k], where[k]) for k in worlds):
            break
        wait_until(lambda: False, 0.05)
    assert all(_each_once(worlds[k], where[k]) for k in worlds), {k: w.names for k, w in worlds.items()}
    # the old URIs hold tombstones that point to the new ones; the new owners hold them as theirs
    assert wait_until(lambda: _tombstones(a) == {a.node.uri_for(n): moved[n] for n in NAMES})
    assert wait_until(lambda: not a.pending_hand_overs())
    assert b.adopted + c.adopted == 6
    for name, uri in moved.items():
        assert a.node.read_local(a.node.uri_for(name)) is None
        owner = b if str(KrapitionURI.parse(uri).authority) == b.authority else c
        assert wait_until(lambda o=owner, u=uri: o.node.read_local(u) is not None)
    # where they were, and they stay there: nothing exploded
    for _ in range(20):
        for label, world in worlds.items():
            assert _near(world, where[label], places, 0.01), (label, {b: position(world, n) for b, n in
                                                                       where[label].items()})
        wait_until(lambda: False, 0.05)
    assert a.owned_counts()[a.authority] == 0


def test_leave_hands_the_bodies_over_and_waits_for_their_adoption(three) -> None:
    (a, world_a), (b, world_b), (c, world_c) = three
    assert wait_until(lambda: _settled(world_a))
    wait_until(lambda: False, 0.5)
    places = _places(world_a)
    a.strategy = a.strategy.__class__("least_loaded")
    moved = a.leave()  # returns within its bound (3 s of waiting), then A is gone
    assert sorted(moved) == NAMES
    assert not a.pending_hand_overs()  # every adoption was seen before A stopped
    sessions = {"b": b, "c": c}
    where = _where({"a": a, **sessions}, moved)
    for label, world in (("b", world_b), ("c", world_c)):
        assert wait_until(lambda w=world, k=label: _each_once(w, where[k])), world.names
        assert _near(world, where[label], places, 0.01)
    assert not any(n in world_a.names for n in NAMES)  # A kept none of them


def test_a_tombstone_pointing_to_a_node_that_is_gone_is_taken_back(three) -> None:
    (a, world_a), (b, world_b), (c, _) = three
    assert wait_until(lambda: _settled(world_a))
    gone = c.authority
    c.stop()
    assert wait_until(lambda: len(a.peers()) == 1 and len(b.peers()) == 1, 30.0)
    place = _places(world_a)["box-0"]
    moved = a.hand_over(["box-0"], target=gone)
    assert moved == {"box-0": a.node.uri_for("box-0").replace(a.authority, gone)}
    # no one adopts it: A takes it back under its old URI; B shows it again, once
    assert wait_until(lambda: a.reclaimed == 1 and "box-0" in world_a.names, 20.0)
    copy = local_name("box-0", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names and len(world_b.names) == 6, 20.0)
    assert len(world_a.names) == 6
    assert np.linalg.norm(position(world_a, "box-0") - place) < 0.01
    assert wait_until(lambda: np.linalg.norm(position(world_b, copy) - place) < 0.01)


def test_a_tombstone_whose_old_owner_and_target_are_gone_is_adopted_by_another(three) -> None:
    (a, world_a), (b, world_b), (c, _) = three
    assert wait_until(lambda: _settled(world_a))
    wait_until(lambda: False, 0.5)
    gone = c.authority
    c.stop()
    assert wait_until(lambda: len(a.peers()) == 1 and len(b.peers()) == 1, 30.0)
    place = _places(world_a)["box-1"]
    a.hand_over(["box-1"], target=gone)
    a.stop()  # A leaves at once: neither it nor C can adopt or take back box-1
    assert wait_until(lambda: b.adopted == 1 and "box-1" in world_b.names, 30.0), world_b.names
    assert local_name("box-1", a.node.public_key) not in world_b.names
    assert len(world_b.names) == 6  # A's other five, stale, and box-1, now B's
    assert wait_until(lambda: b.node.read_local(b.node.uri_for("box-1")) is not None)
    assert np.linalg.norm(position(world_b, "box-1") - place) < 0.01


def test_a_peer_without_a_world_is_never_chosen_and_what_it_is_given_comes_back(tmp_path) -> None:
    World.warm_up()
    passphrase = secrets.token_hex(8)
    plain = Node(loopback_config(tmp_path, "plain", passphrase))  # a node that runs no world
    plain.start()
    a = Session(Node(loopback_config(tmp_path, "a", passphrase)), rate_hz=30)
    world = World(Scene(name="a", bodies=BOXES[:2]))
    try:
        a.start()
        world.start()
        a.attach(world)
        assert wait_until(lambda: len(a.peers()) == 1, 30.0)
        uris = [a.node.uri_for(n) for n in NAMES[:2]]
        assert wait_until(lambda: all(plain.read_local(u) is not None for u in uris))
        # its heartbeats say it adopts no bodies: the balancer never picks it
        assert wait_until(lambda: plain.node_id in a._peer_loads, 10.0)
        assert a._peer_loads[plain.node_id][1] is False
        assert a.hand_over() == {} and sorted(world.names) == NAMES[:2]
        # handed to it by name all the same: nothing adopts them, so they come back after the window
        assert len(a.hand_over(target=plain.authority)) == 2
        assert wait_until(lambda: a.reclaimed == 2 and sorted(world.names) == NAMES[:2], 20.0)
        assert wait_until(lambda: all(plain.read_local(u) is not None for u in uris))  # ours again
        assert a.leave() == {} and a.handed_over == 2  # leaving: nobody to hand them to
    finally:
        a.stop()
        world.stop()
        plain.stop()


def test_a_hand_over_is_adopted_when_the_old_owners_clock_runs_behind(three) -> None:
    """Adoption takes fresh tombstones only, by their timestamp: read through the old owner's clock
    offset measured from heartbeats, so a LAN machine whose clock is seconds behind still hands over."""
    import time

    (a, world_a), (b, world_b), _ = three

    def behind() -> int:
        return time.time_ns() - 4_000_000_000  # more than the adoption window

    a.node.ledger.clock = behind  # type: ignore[union-attr]
    a.node.transport.clock = behind  # type: ignore[union-attr]
    a_id = a.node.node_id

    def measured() -> bool:
        peer = next((p for p in b.node.peers() if p.node_id == a_id), None)
        return peer is not None and peer.clock_offset_ms is not None and peer.clock_offset_ms < -3500

    assert wait_until(measured, 15.0), [(p.node_id[:8], p.clock_offset_ms) for p in b.node.peers()]
    offset = next(p.clock_offset_ms for p in b.node.peers() if p.node_id == a_id)
    assert offset == pytest.approx(-4000, abs=200)
    moved = a.hand_over(["box-0"], target=b.authority)
    assert list(moved) == ["box-0"]
    new_name = KrapitionURI.parse(moved["box-0"]).name
    assert wait_until(lambda: b.adopted == 1 and new_name in world_b.names, 10.0), (b.adopted, world_b.names)
    assert a.reclaimed == 0 and "box-0" not in world_a.names
