"""Every owner's impacts heard once, everywhere: publishing, matching, and two listeners' renders."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from krapition_app.engine.acoustics import ListenerPose, RoomSettings, render_steps
from krapition_app.engine.contacts import IMPACT, SLIDING, ContactEvents
from krapition_app.engine.shared_sound import (
    ImpactMatcher,
    contacts_from_collisions,
    impacts_to_publish,
    pair_key,
    publisher_of,
)
from krapition_app.engine.sounding import body_table
from krapition_app.engine.world import World
from krapition_app.model.encoding import decode, encode
from krapition_app.model.events import CollisionDetected
from krapition_app.model.scene import BodySpec, Scene

SPEED_OF_SOUND = 343.0
FS = 48000


def uri(authority: str, name: str) -> str:
    return f"krapition://{authority}/physics/objects/{name}"


authorities = st.sampled_from(["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"])
names = st.from_regex(r"[a-z]{1,6}-[0-9]{1,3}", fullmatch=True)


@given(authorities, names, st.one_of(st.none(), st.tuples(authorities, names)))
def test_exactly_one_owner_publishes_each_pair(auth_a, name_a, other):
    a = uri(auth_a, name_a)
    b = None if other is None else uri(*other)
    assert pair_key(a, b) == (pair_key(b, a) if b is not None else (a, None))
    owners = {auth_a} | ({other[0]} if other else set())
    publishers = [o for o in owners if publisher_of(a, b).startswith(f"krapition://{o}/")]
    assert len(publishers) == 1


def test_a_predicted_impact_is_not_heard_again():
    m = ImpactMatcher(window=0.4)
    pair = pair_key(uri("h:1", "a-1"), None)
    assert m.local(pair, 10.0)  # our simulation: played at once
    assert not m.remote(pair, 10.2)  # the owner's event of the same impact: matched
    assert m.remote(pair, 10.25)  # a second impact the local copy never had: played late
    assert (m.matched, m.played_late) == (1, 1)


def test_an_owners_event_before_our_copy_hits_is_heard_once():
    m = ImpactMatcher(window=0.4)
    pair = pair_key(uri("h:1", "a-1"), uri("h:2", "b-1"))
    assert m.remote(pair, 5.0)  # the owner's event first: our copy is shown ~50 ms in the past
    assert not m.local(pair, 5.05)  # then our copy hits: the same impact
    assert m.local(pair, 5.06)


def test_matching_is_per_pair_and_within_the_window():
    m = ImpactMatcher(window=0.4)
    p, q = pair_key(uri("h:1", "a-1"), uri("h:2", "b-1")), pair_key(uri("h:1", "a-2"), None)
    m.local(p, 1.0)
    m.local(p, 1.1)
    assert m.remote(q, 1.2)  # another pair
    assert not m.remote(p, 1.3)
    assert not m.remote(p, 1.35)
    assert m.remote(p, 1.36)  # both predictions used up
    m.local(p, 2.0)
    assert m.remote(p, 2.5)  # heard too long ago to be this impact


def test_the_matcher_stays_bounded():
    m = ImpactMatcher(window=1000.0, capacity=100)
    for k in range(1000):
        m.local(pair_key(uri("h:1", f"a-{k}"), None), float(k) * 1e-3)
    heard = m._local
    assert len(heard.order) == 100 and sum(len(t) for t in heard.by_pair.values()) == 100
    assert not m.remote(pair_key(uri("h:1", "a-999"), None), 1.0)
    assert m.remote(pair_key(uri("h:1", "a-0"), None), 1.0)  # forgotten: beyond the capacity


def _contacts(rows):
    out = ContactEvents.empty(len(rows))
    for k, (a, b, impulse, kind) in enumerate(rows):
        out.body_a[k], out.body_b[k], out.normal_impulse[k], out.kind[k] = a, b, impulse, kind
        out.normal[k] = (0.0, 0.0, -1.0)
        out.point[k] = (float(k), 0.0, 0.0)
        out.normal_speed[k] = 2.0
    return out


def test_the_owner_publishes_its_loudest_impacts_only():
    uris = [uri("mine:1", "a-1"), uri("zz:9", "b-1"), uri("aa:1", "c-1"), uri("mine:1", "d-1")]
    contacts = _contacts([
        (0, -1, 0.5, IMPACT),  # ours against the ground: ours
        (0, 1, 0.9, IMPACT),  # ours first in URI order: ours
        (0, 2, 0.7, IMPACT),  # aa:1 sorts first: theirs to publish
        (3, -1, 0.6, SLIDING),  # not an impact
        (3, -1, 0.2, IMPACT),
    ])
    events = impacts_to_publish(contacts, lambda r: uris[r], lambda u: u.startswith("krapition://mine:1/"),
                                tick=7, limit=2)
    got = [(e.body_a, e.body_b, e.impulse) for e in events]
    assert got == [(uris[0], None, 0.5), (uris[0], uris[1], 0.9)]
    assert all(e.tick == 7 and e.kind == "impact" for e in events)


def test_owner_events_become_contact_rows_of_this_world():
    uris = {uri("h:1", "a-1"): 4, uri("h:2", "b-1"): 2}
    events = [
        CollisionDetected(body_a=uri("h:1", "a-1"), body_b=uri("h:2", "b-1"), point=(1.0, 2.0, 3.0),
                          normal=(0.0, 0.0, 1.0), impulse=0.3, normal_speed=1.5, tangential_speed=0.1),
        CollisionDetected(body_a=uri("h:9", "gone-1"), body_b=None, point=(0.0, 0.0, 0.0),
                          normal=(0.0, 0.0, 1.0), impulse=0.3, normal_speed=1.5, tangential_speed=0.0),
        CollisionDetected(body_a=uri("h:2", "b-1"), body_b=uri("h:9", "gone-1"), point=(0.0, 0.0, 0.0),
                          normal=(0.0, 0.0, 1.0), impulse=0.2, normal_speed=1.0, tangential_speed=0.0),
    ]
    rows = contacts_from_collisions(events, uris.get)
    assert list(rows.body_a) == [4, 2] and list(rows.body_b) == [2, -1]
    assert list(rows.point[0]) == [1.0, 2.0, 3.0] and rows.normal_impulse[0] == 0.3
    assert list(rows.kind) == [IMPACT, IMPACT]


# ---- one scripted collision, heard by two nodes ---------------------------------------------------
BALL = BodySpec(name="ball", shape="sphere", radius=0.08, material="metal", position=(0.0, 0.0, 0.5))
OWNER = "127.0.0.1:7400"
BALL_URI = uri(OWNER, "ball")
#: direct sound only: 1/r and the propagation delay are then exact
ANECHOIC = RoomSettings(size=(40.0, 40.0, 20.0), absorption=(1.0,) * 6, max_order=0, reverb=False)
SECONDS = 0.6


def _owner_steps():
    """The owner's world: its local steps, and the CollisionDetected events it publishes."""
    world = World.from_scene(Scene(bodies=(BALL,)))
    dt = world.sim.settings.dt
    steps, published = [], []
    for k in range(1, round(SECONDS / dt)):
        contacts = world.step()
        steps.append((k * dt, contacts, body_table(world)))
        for event in impacts_to_publish(contacts, lambda r: BALL_URI, lambda u: u == BALL_URI, tick=k):
            published.append((k * dt, decode(encode(event), CollisionDetected)))  # as on the wire
    return steps, published


def _onset(x: np.ndarray) -> int:
    level = np.abs(x).sum(axis=1)
    return int(np.argmax(level > 0.02 * level.max()))


def test_two_listeners_hear_the_owners_collision_with_their_own_delay_and_level():
    steps, published = _owner_steps()
    assert published, "the dropped ball hits the ground and the owner publishes it"
    near = ListenerPose(position=(0.0, -1.0, 0.0), forward=(0.0, 1.0, 0.0))
    far = ListenerPose(position=(0.0, -4.0, 0.0), forward=(0.0, 1.0, 0.0))
    # node A (the owner) hears its own simulation
    a, _ = render_steps(steps, SECONDS, room=ANECHOIC, listener=near)
    # node B hears the owner's events, as rows of its own copy of the world, from its own place
    world_b = World.from_scene(Scene(bodies=(BALL,)))
    table_b = body_table(world_b)
    b_steps = [(t, contacts_from_collisions([event], {BALL_URI: 0}.get), table_b) for t, event in published]
    b, _ = render_steps(b_steps, SECONDS, room=ANECHOIC, listener=far)
    assert np.abs(a).max() > 0.01 and np.abs(b).max() > 0.01
    point = np.array(published[0][1].point)
    d_near = np.linalg.norm(point - near.position)
    d_far = np.linalg.norm(point - far.position)
    # later by the extra distance at the speed of sound (within a few samples) ...
    assert _onset(b) - _onset(a) == pytest.approx((d_far - d_near) / SPEED_OF_SOUND * FS, abs=6)
    # ... and quieter as 1/r (air absorption and the ears' placement add a little)
    assert np.abs(b).max() / np.abs(a).max() == pytest.approx(d_near / d_far, rel=0.2)


def test_node_b_hears_a_predicted_impact_once():
    steps, published = _owner_steps()
    # node B simulated the same drop itself (its prediction) and then gets the owner's event
    matcher = ImpactMatcher()
    heard_local = [t for t, contacts, _ in steps if (contacts.kind == IMPACT).any()]
    for t in heard_local:
        assert matcher.local(pair_key(BALL_URI, None), t)
    late = [event for t, event in published if matcher.remote(pair_key(event.body_a, event.body_b), t)]
    assert late == [] and matcher.matched == len(published)
