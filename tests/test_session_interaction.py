"""The LAN session, interaction: dragging another node's body through its owner (first grab wins),
impacts heard once on every node, and a departed owner's bodies marked stale."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np
import pytest
from test_session import loopback_config, position, wait_until

from krapition_app.engine.contacts import IMPACT
from krapition_app.engine.world import Drag, Release, World
from krapition_app.model.scene import BodySpec, Scene
from krapition_app.p2p.node import Node
from krapition_app.session import Session, local_name

pytestmark = pytest.mark.timeout(180)
BALL = BodySpec(name="ball", shape="sphere", radius=0.1, material="rubber", position=(0.0, 0.0, 0.1))


def _world_for(session: Session, scene: Scene) -> World:
    """A world whose contacts go through the session each step (as the window's controller does)."""
    built: list[World] = []
    world = World(scene, on_contacts=lambda events: session.local_contacts(events, built[0]))
    built.append(world)
    return world


@pytest.fixture
def three(tmp_path) -> Iterator[list[tuple[Session, World]]]:
    """Three sessions on loopback; the first owns a ball resting on the ground."""
    World.warm_up()
    passphrase = secrets.token_hex(8)
    out: list[tuple[Session, World]] = []
    try:
        for name, bodies in (("a", (BALL,)), ("b", ()), ("c", ())):
            session = Session(Node(loopback_config(tmp_path, name, passphrase)), rate_hz=30)
            session.start()
            world = _world_for(session, Scene(name=name, bodies=bodies))
            world.start()
            session.attach(world)
            out.append((session, world))
        yield out
    finally:
        for session, world in out:
            session.stop()
            world.stop()


def _connected(sessions: list[Session]) -> bool:
    return all(len(s.peers()) == len(sessions) - 1 for s in sessions)


def test_a_drag_of_anothers_body_moves_it_at_its_owner_and_everywhere(three) -> None:
    (a, world_a), (b, world_b), (c, world_c) = three
    assert wait_until(lambda: _connected([a, b, c])), "the nodes did not connect"
    copy = local_name("ball", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names and copy in world_c.names)
    notices: list[str] = []
    c.on_notice = notices.append
    # B grabs A's ball and pulls it up and aside; C tries to grab it too and is told no
    b.local_drag(Drag("mouse", copy, (0.0, 0.0, 0.1), (0.0, 0.0, 0.1)))
    assert wait_until(lambda: a.arbiter.holder(a.uri_of("ball")) == b.node.public_key.hex())
    c.local_drag(Drag("mouse", copy, (0.0, 0.0, 0.1), (0.0, 0.0, 0.1)))
    target = (0.5, 0.0, 0.8)
    for _ in range(40):  # the mouse keeps moving: sent at the input rate, the newest position wins
        b.local_drag(Drag("mouse", copy, (0.0, 0.0, 0.1), target))
        world_b.submit(Drag("mouse", copy, (0.0, 0.0, 0.1), target))  # B's prediction, as the window does
        if np.linalg.norm(position(world_a, "ball") - target) < 0.15:
            break
        wait_until(lambda: False, 0.1)
    assert np.linalg.norm(position(world_a, "ball") - target) < 0.15, "the owner did not apply B's drag"
    assert wait_until(lambda: np.linalg.norm(position(world_c, copy) - position(world_a, "ball")) < 0.05)
    assert wait_until(lambda: any("already dragging" in n for n in notices)), notices
    assert a.arbiter.refused >= 1
    # B lets go: the owner releases it, it falls back to the ground everywhere
    b.local_drag(Release("mouse"))
    world_b.submit(Release("mouse"))
    assert wait_until(lambda: a.arbiter.holder(a.uri_of("ball")) is None)
    assert wait_until(lambda: position(world_a, "ball")[2] < 0.12 and position(world_b, copy)[2] < 0.13)


def test_an_impact_is_published_once_and_heard_everywhere_once(three) -> None:
    (a, world_a), (b, world_b), (c, world_c) = three
    assert wait_until(lambda: _connected([a, b, c]))
    copy = local_name("ball", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names and copy in world_c.names)
    wait_until(lambda: False, 1.0)  # the ball's first touch of the ground is heard and over
    m = b.matcher
    base, base_late = m.matched_remote + m.played_late, m.played_late
    heard_b: list = []
    b.on_remote_impacts = lambda contacts, world: heard_b.append(len(contacts))
    published: list = []
    b.on_events = lambda events: published.extend(
        e for e in events if type(e.payload).__name__ == "CollisionDetected")
    # A drops its ball from 1 m: A's world hits the ground, A publishes the impact
    from krapition_app.engine.world import SetState

    world_a.submit(SetState("ball", position=(0.0, 0.0, 1.0), velocity=(0.0, 0.0, 0.0)))
    assert wait_until(lambda: len(published) >= 1, 10.0), "A did not publish the impact"
    assert all(e.author == a.node.public_key for e in published)  # one publisher: the owner
    # B hears each once: its own copy's impact matched A's event, or A's event is played (late)
    wait_until(lambda: False, 2.0)  # the ball bounces and settles; the pumps deliver what came
    counts = lambda: (m.matched_local, m.matched_remote, m.played_late, base, len(published))  # noqa: E731
    assert wait_until(lambda: m.matched_remote + m.played_late - base == len(published), 5.0), counts()
    assert wait_until(lambda: sum(heard_b) == m.played_late - base_late, 2.0)  # played late: heard
    # B's own copy hit the ground too: each of its impacts matched one of A's (whichever came first)
    assert m.matched >= 1


def test_local_contacts_drop_impacts_an_owner_already_played(three) -> None:
    (a, _), (b, world_b), (c, _) = three
    assert wait_until(lambda: _connected([a, b, c]))
    copy = local_name("ball", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names)
    from krapition_app.engine.contacts import ContactEvents
    from krapition_app.engine.shared_sound import pair_key

    b.matcher.remote(pair_key(b.uri_of(copy), None), b.clock())  # A's event came first
    contacts = ContactEvents.empty(2)
    row = world_b.names.index(copy)
    contacts.body_a[:] = row
    contacts.body_b[:] = -1
    contacts.kind[:] = IMPACT
    contacts.normal_impulse[:] = 0.5
    kept = b.local_contacts(contacts, world_b)
    assert len(kept) == 1  # the first was the owner's impact already played; the second is new


def test_a_departed_owners_bodies_are_stale_for_the_others(three) -> None:
    (a, _), (b, world_b), (c, _) = three
    assert wait_until(lambda: _connected([a, b, c]))
    copy = local_name("ball", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names)
    assert wait_until(lambda: not b.is_stale(copy))  # the peer table reaches the session a moment later
    a.stop()
    assert wait_until(lambda: b.is_stale(copy) and c.is_stale(copy), 20.0)
    assert copy in world_b.names  # frozen where it was left, not removed
    rest = position(world_b, copy).copy()
    wait_until(lambda: False, 0.5)
    assert np.linalg.norm(position(world_b, copy) - rest) < 0.005


def test_a_copy_that_diverged_is_resynchronised_from_the_owner(three) -> None:
    """Heartbeats carry each owner's hash of its bodies at a chain seq; a copy that lost a body (here:
    removed behind the session's back) is found out at the next heartbeat and rebuilt."""
    (a, world_a), (b, world_b), (c, _) = three
    assert wait_until(lambda: _connected([a, b, c]))
    copy = local_name("ball", a.node.public_key)
    assert wait_until(lambda: copy in world_b.names)
    assert wait_until(lambda: b.desync.checked >= 1, 10.0), "no heartbeat hash was checked"
    assert b.desync.mismatches == 0 and b.resyncs == 0  # in sync: nothing to do
    notices: list[str] = []
    b.on_notice = notices.append
    from krapition_app.engine.world import Delete

    world_b.submit(Delete(copy))  # B's world loses A's ball; B's session still thinks it is there
    assert wait_until(lambda: copy not in world_b.names)
    assert wait_until(lambda: b.resyncs >= 1, 15.0), (b.desync.checked, b.desync.mismatches)
    assert wait_until(lambda: copy in world_b.names, 10.0), "the lost body did not come back"
    assert any("out of sync" in n for n in notices)
    assert np.linalg.norm(position(world_b, copy) - position(world_a, "ball")) < 0.01


def test_bodies_of_different_owners_collide_without_passing_through(three) -> None:
    """A's ball rolls into B's box: each owner applies the impulse to its own body (B's world sees A's
    copy hit B's box); they never pass through each other in any world and end up agreeing."""
    (a, world_a), (b, world_b), (c, world_c) = three
    assert wait_until(lambda: _connected([a, b, c]))
    from krapition_app.engine.world import SetState, Spawn

    # a box: it slides to a stop (a ball on the plane would roll on for ever)
    world_b.submit(Spawn(BodySpec(name="target", shape="box", half_extents=(0.1, 0.1, 0.1), material="wood",
                                  position=(0.6, 0.0, 0.1))))
    a_copy, b_copy = local_name("ball", a.node.public_key), local_name("target", b.node.public_key)
    assert wait_until(lambda: b_copy in world_a.names and a_copy in world_b.names and b_copy in world_c.names)
    wait_until(lambda: False, 0.5)
    world_a.submit(SetState("ball", velocity=(3.0, 0.0, 0.0)))
    closest = {w: 1.0 for w in ("a", "b", "c")}
    pairs = {"a": (world_a, "ball", b_copy), "b": (world_b, a_copy, "target"), "c": (world_c, a_copy, b_copy)}
    deadline = 60
    while deadline:
        for key, (world, first, second) in pairs.items():
            d = float(np.linalg.norm(position(world, first) - position(world, second)))
            closest[key] = min(closest[key], d)
        wait_until(lambda: False, 0.02)
        deadline -= 1
    # they met (0.2 m apart at contact) and never overlapped by more than a few millimetres
    assert all(0.19 < d < 0.25 for d in closest.values()), closest
    # B's box was pushed on by the hit, by its owner
    assert wait_until(lambda: position(world_b, "target")[0] > 0.65, 5.0)
    # at rest, every world agrees with the owners
    def agreed() -> bool:
        return (np.linalg.norm(position(world_a, b_copy) - position(world_b, "target")) < 0.01
                and np.linalg.norm(position(world_b, a_copy) - position(world_a, "ball")) < 0.01
                and np.linalg.norm(position(world_c, b_copy) - position(world_b, "target")) < 0.01)
    state = lambda: {k: (position(w, f).round(3).tolist(), position(w, g).round(3).tolist())  # noqa: E731
                     for k, (w, f, g) in pairs.items()}
    assert wait_until(agreed, 20.0), state()
