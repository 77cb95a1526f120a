"""The LAN session (issue 9, first slice): two nodes on loopback, two worlds, one shared set of bodies."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from krapition_app.engine.world import Delete, Spawn, World
from krapition_app.model.scene import BodySpec, Scene
from krapition_app.p2p.node import Node, NodeConfig
from krapition_app.session import Session, local_name

pytestmark = pytest.mark.timeout(120)


def wait_until(predicate: Callable[[], bool], limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def loopback_config(tmp, name: str, passphrase: str, peers: tuple[str, ...] = ()) -> NodeConfig:
    return NodeConfig(data_dir=tmp / name, name=name, interface="127.0.0.1",
                      discovery_interfaces=("127.0.0.1",), passphrase=passphrase, peers=peers,
                      compact_every_s=0)


@pytest.fixture
def two_sessions(tmp_path) -> Iterator[tuple[Session, World, Session, World]]:
    World.warm_up()
    passphrase = secrets.token_hex(8)  # outsiders on the same loopback get no answer
    a = Session(Node(loopback_config(tmp_path, "a", passphrase)), rate_hz=30)
    a.start()
    # discovery only (as the app): dialling by address as well makes both dial at once, a race the
    # node does not always survive yet (see the report of issue 9's first slice)
    b = Session(Node(loopback_config(tmp_path, "b", passphrase)), rate_hz=30)
    b.start()
    world_a = World(Scene(name="a", bodies=(
        BodySpec(name="floor-a", shape="box", half_extents=(1, 1, 0.05), position=(5, 5, 0), static=True),)))
    world_b = World(Scene(name="b"))
    world_a.start()
    world_b.start()
    a.attach(world_a)
    b.attach(world_b)
    try:
        yield a, world_a, b, world_b
    finally:
        for s in (a, b):
            s.stop()
        world_a.stop()
        world_b.stop()


def diagnose(*sessions: Session) -> str:
    """What each node knows, for a failure message."""
    out = []
    for s in sessions:
        node = s.node
        heads = node.submit(lambda n=node: n.replicator.heads()).result(5)
        out.append(f"{node.authority}: heads {heads} caught_up {sorted(node.replicator.caught_up)} "
                   f"remote {sorted(s.remote)} published {sorted(s._published)}")
    return "\n".join(out)


def position(world: World, name: str):
    snap = world.snapshot()
    return snap.position[snap.index(name)]


def test_bodies_of_a_appear_in_b_follow_its_motion_and_go_when_deleted(two_sessions) -> None:
    a, world_a, b, world_b = two_sessions
    assert wait_until(lambda: len(a.peers()) == 1 and len(b.peers()) == 1), "the nodes did not connect"
    author = a.node.public_key
    floor = local_name("floor-a", author)
    assert wait_until(lambda: floor in world_b.snapshot().names), diagnose(a, b)

    world_a.submit(Spawn(BodySpec(name="ball", shape="sphere", radius=0.1, position=(0.0, 0.0, 3.0))))
    ball = local_name("ball", author)
    assert wait_until(lambda: ball in world_b.snapshot().names), "the spawned body never reached B"
    assert b.is_remote(ball) and b.uri_of(ball) == a.node.uri_for("ball")
    # B follows A's fall (B's copy is kept at A's newest state) and both come to rest on the ground
    assert wait_until(lambda: position(world_a, "ball")[2] < 0.5, 10)
    assert wait_until(lambda: abs(position(world_b, ball)[2] - position(world_a, "ball")[2]) < 0.01
                      and position(world_b, ball)[2] < 0.5, 10)
    # A does not take B's copies for its own, B does not publish A's bodies
    assert not any("~" in n for n in world_a.snapshot().names)
    assert wait_until(lambda: a.owned_counts().get(a.authority) == 2)
    assert b.owned_counts().get(a.authority) == 2 and b.owned_counts().get(b.authority) == 0

    world_a.submit(Delete("ball"))
    assert wait_until(lambda: ball not in world_b.snapshot().names), "the delete never reached B"
    assert floor in world_b.snapshot().names


def test_a_new_world_keeps_the_remote_bodies_and_republishes_its_own(two_sessions) -> None:
    a, world_a, b, world_b = two_sessions
    floor = local_name("floor-a", a.node.public_key)
    assert wait_until(lambda: floor in world_b.snapshot().names)
    # B opens another scene: A's bodies come into the new world, B's new bodies reach A
    fresh = World(Scene(name="b2", bodies=(BodySpec(name="crate", shape="box", half_extents=(0.2, 0.2, 0.2),
                                                     position=(0, 0, 0.2)),)))
    fresh.start()
    try:
        b.attach(fresh)
        world_b.stop()
        assert wait_until(lambda: floor in fresh.snapshot().names)
        crate = local_name("crate", b.node.public_key)
        assert wait_until(lambda: crate in world_a.snapshot().names)
    finally:
        b.attach(None)
        fresh.stop()


def test_the_app_node_listens_and_discovers_where_it_is_told(tmp_path) -> None:
    from krapition_app.app import node_config
    from krapition_app.cli import build_parser
    from krapition_app.paths import AppPaths

    paths = AppPaths(tmp_path / "data", tmp_path / "config", tmp_path / "cache", tmp_path / "logs")
    secret = tmp_path / "secret"
    secret.write_text("sesame\n")
    one = node_config(build_parser().parse_args(["--interface", "127.0.0.1", "--port", "7001",
                                                 "--passphrase-file", str(secret)]), paths)
    assert (one.interface, one.discovery_interfaces, one.port, one.passphrase) == (
        "127.0.0.1", ("127.0.0.1",), 7001, "sesame")
    assert one.data_dir == tmp_path / "data" / "node" and one.api_port is None
    two = node_config(build_parser().parse_args(["--interface", "127.0.0.1,127.0.0.2", "--interface",
                                                 "127.0.0.3"]), paths)
    assert two.interface == "0.0.0.0" and two.discovery_interfaces == ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    lan = node_config(build_parser().parse_args([]), paths)
    assert lan.interface == "0.0.0.0" and lan.discovery_interfaces is None
    assert build_parser().parse_args(["--offline"]).offline
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--interface", "not-an-address"])


class FakeNode:
    """What the session uses of a node, recording the calls (no network)."""

    authority = "10.0.0.1:9000"
    public_key = b"\x01" * 32

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.on_events = self.on_peers = self.on_snapshot = None

    def submit(self, fn, *args):
        import concurrent.futures

        self.calls.append((fn.__name__, args))
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.set_result(None)
        return future

    def set_body(self, body): ...
    def delete_body(self, name): ...

    def peers(self) -> tuple:
        return ()

    def uri_for(self, name: str) -> str:
        return f"krapition://{self.authority}/physics/objects/{name}"


class FakeEvent:
    _seq = 0

    def __init__(self, author: bytes, uri: str, payload) -> None:
        self.author, self.uri, self.payload = author, uri, payload
        FakeEvent._seq += 1
        self.seq = FakeEvent._seq


def test_remote_events_drive_the_world_and_are_never_published() -> None:
    from krapition_app.model.events import BodyState, ObjectCreated, ObjectDeleted, ObjectMoved
    from krapition_app.model.motion import MotionDecoder

    node = FakeNode()
    session = Session(node)  # type: ignore[arg-type]
    world = World(Scene(name="w"))
    session.attach(world)
    other = b"\x02" * 32
    base = "krapition://10.0.0.2:9000"
    ball = BodySpec(name="x", shape="sphere", radius=0.1, position=(0, 0, 1))

    def send(uri: str, payload) -> None:
        node.on_events([FakeEvent(other, uri, payload)])

    def step() -> None:
        session.pump()
        world.step()

    send(f"{base}/physics/objects/x", ObjectCreated(body=ball))
    send(f"{base}/physics/objects/x", ObjectDeleted())  # before its Spawn reached the world
    for _ in range(3):
        step()
    assert world.snapshot().names == ()
    send(f"{base}/physics/objects/y", ObjectCreated(body=ball.__class__(name="y", shape="box",
                                                                         half_extents=(0.1, 0.1, 0.1))))
    step()
    step()
    y = local_name("y", other)
    assert world.snapshot().names == (y,)
    send(f"{base}/system/nodes/abc", ObjectMoved(tick=1, bodies=(BodyState(name="y", position=(1, 2, 3)),)))
    session.pump()
    world.drain_commands()  # the SetState, without a step after it
    assert tuple(world.sim.bodies.pos[world.row(y)]) == (1.0, 2.0, 3.0)
    world.submit(Spawn(BodySpec(name="mine", shape="sphere", radius=0.1, position=(0, 0, 2))))
    for _ in range(6):  # spawned; published whole; then its fall as motion
        for _ in range(8):
            world.step()
        session.pump()
    published = [c for c in node.calls if c[0] in ("set_body", "delete_body")]
    assert [(c[0], c[1][0].name) for c in published] == [("set_body", "mine")]
    # its fall went out as motion packets (the codec's keyframe names it), nothing of y's
    decoder = MotionDecoder()
    payloads = [c[1][1] for c in node.calls if c[0] == "publish_moved"]
    moved = [n for p in payloads for n in decoder.decode(p.motion).names.values()]
    moved += [b.name for p in payloads for b in p.bodies]
    assert moved and set(moved) == {"mine"}
    assert session.uri_of(y) == f"{base}/physics/objects/y" and session.is_remote(y)
    assert not session.is_remote("mine")


class LinkedNode(FakeNode):
    """A FakeNode whose chain goes to a peer: what the session publishes becomes events for the peer."""

    def __init__(self, authority: str, key: bytes) -> None:
        super().__init__()
        self.authority, self.public_key = authority, key
        self.outbox: list[FakeEvent] = []

    def submit(self, fn, *args):
        from krapition_app.model.events import ObjectCreated, ObjectDeleted

        if fn.__name__ == "set_body":
            created = ObjectCreated(body=args[0])
            self.outbox.append(FakeEvent(self.public_key, self.uri_for(args[0].name), created))
        elif fn.__name__ == "delete_body":
            self.outbox.append(FakeEvent(self.public_key, self.uri_for(args[0]), ObjectDeleted()))
        elif fn.__name__ == "publish_moved":
            self.outbox.append(FakeEvent(self.public_key, f"krapition://{self.authority}/system/nodes/n",
                                         args[1]))
        return super().submit(fn, *args)


def test_remote_copies_follow_their_owner_through_the_codec_and_the_interpolator() -> None:
    """Two sessions in lockstep (no network, one fake clock): B's copies of A's bouncing, tumbling
    bodies stay on A's path at the time B shows, and end within a millimetre of A at rest."""
    import numpy as np

    now = [0.0]
    node_a, node_b = LinkedNode("10.0.0.1:9000", b"\x01" * 32), LinkedNode("10.0.0.2:9000", b"\x02" * 32)
    a = Session(node_a, clock=lambda: now[0])  # type: ignore[arg-type]
    b = Session(node_b, clock=lambda: now[0])  # type: ignore[arg-type]
    # spheres bounce straight up and down (they would roll for ever), boxes tumble
    bodies = tuple(BodySpec(name=f"body-{i}", shape="sphere", radius=0.1, material="wood",
                            position=(2.0 * i, 0.0, 1.0 + 0.3 * i), velocity=(0.0, 0.0, 2.0))
                   if i % 2 else
                   BodySpec(name=f"body-{i}", shape="box", half_extents=(0.1, 0.08, 0.06), material="wood",
                            position=(2.0 * i, 0.0, 1.0 + 0.3 * i), velocity=(0.3, 0.0, 2.0),
                            angular_velocity=(0.0, 3.0, 1.0)) for i in range(6))
    world_a, world_b = World(Scene(name="a", bodies=bodies)), World(Scene(name="b"))
    a.attach(world_a)
    b.attach(world_b)
    author = node_a.public_key
    moving_errors, rest_errors = [], []
    truth: list[tuple[float, np.ndarray]] = []
    for tick in range(240):  # 8 s at 30 Hz, physics at 60 Hz
        for _ in range(2):
            world_a.step()
            world_b.step()
            snap = world_a.snapshot()
            truth.append((snap.time, snap.position.copy()))
        now[0] = world_a.snapshot().time
        a.pump(now[0])
        node_b.on_events(node_a.outbox)  # B's node hands it A's events as they come
        node_a.outbox.clear()
        b.pump(now[0])
        r = b.interpolator.render_time(author)
        copies = b.remote
        spawned = len(copies) == len(bodies) and all(c.local in world_b.names for c in copies.values())
        if r is None or not spawned:
            continue
        times = np.array([t for t, _ in truth])
        i = int(np.clip(np.searchsorted(times, r), 1, len(times) - 1))
        x = (r - times[i - 1]) / (times[i] - times[i - 1])
        owner = truth[i - 1][1] * (1 - x) + truth[i][1] * x  # A's bodies at the time B shows
        shown = np.array([world_b.sim.bodies.pos[world_b.row(local_name(s.name, author))] for s in bodies])
        err = np.linalg.norm(shown - owner, axis=1)
        (rest_errors if tick >= 225 else moving_errors).append(err)
    assert moving_errors and rest_errors
    # while moving, on the owner's path (bounces cost most: 30 Hz samples round a bounce's corner)
    assert np.median(np.concatenate(moving_errors)) < 0.001
    assert np.percentile(np.concatenate(moving_errors), 99) < 0.02
    assert np.max(np.concatenate(rest_errors)) < 0.001  # at rest: within a millimetre
    assert np.abs(world_a.snapshot().velocity).max() < 0.03  # (at rest, or as good as)
    # B never published A's bodies
    assert not node_b.outbox


def test_bodies_behind_a_checkpoint_join_the_world_when_their_snapshot_arrives() -> None:
    """A late joiner learns an author's older objects from a snapshot, not from events: the node's
    on_snapshot brings their current values into the world."""
    from types import SimpleNamespace

    node = FakeNode()
    other = b"\x03" * 32
    uri = "krapition://10.0.0.3:9000/physics/objects/old-ball"
    spec = BodySpec(name="old-ball", shape="sphere", radius=0.1, position=(0.5, 0, 0.1))
    from krapition_app.model.encoding import encode
    from krapition_app.store.projection import BODY, Value

    cache = {other: {uri: Value(BODY, encode(spec)), "krapition://10.0.0.3:9000/x/y/z": Value("x", b"")}}
    node.store = SimpleNamespace(cached=lambda author: cache.get(author, {}))  # type: ignore[attr-defined]
    session = Session(node)  # type: ignore[arg-type]
    world = World(Scene(name="w"))
    session.attach(world)
    node.on_snapshot(other, SimpleNamespace(values={uri: None, "krapition://10.0.0.3:9000/x/y/z": None}))
    for _ in range(2):
        session.pump()
        world.step()
    name = local_name("old-ball", other)
    assert world.snapshot().names == (name,) and session.owner_of(name) == other
    assert tuple(position(world, name)[:2]) == pytest.approx((0.5, 0.0), abs=1e-3)


def test_a_late_joiner_checks_its_copy_only_once_the_snapshot_is_in() -> None:
    """Joining after a checkpoint, the tail's creations come before the checkpoint's snapshot. The
    owner's heartbeat hash (all its bodies, at its newest creation) must not be checked against the
    tail's bodies alone: that would 'resync' every late join. Once the snapshot is in, it is checked
    and agrees."""
    import concurrent.futures
    from types import SimpleNamespace

    from krapition_app.model.encoding import encode
    from krapition_app.model.events import ObjectCreated
    from krapition_app.session_sync import bodies_hash
    from krapition_app.store.projection import BODY, Value

    class RunningNode(FakeNode):
        def submit(self, fn, *args):
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result(fn(*args))
            return future

    node = RunningNode()
    other = b"\x04" * 32
    specs = [BodySpec(name=f"b{i}", shape="sphere", radius=0.05, position=(0.3 * i, 0, 0.05))
             for i in range(6)]
    uris = [f"krapition://10.0.0.4:9000/physics/objects/{s.name}" for s in specs]
    held = {"snapshot": None}  # the replica: events from seq 5 on (a tail), no snapshot yet
    values = {u: Value(BODY, encode(s)) for u, s in zip(uris, specs, strict=True)}
    node.store = SimpleNamespace(first_seq=lambda author: 5, snapshot=lambda author: held["snapshot"],
                                 cached=lambda author: values)
    session = Session(node)  # type: ignore[arg-type]
    world = World(Scene(name="w"))
    session.attach(world)
    tail = [FakeEvent(other, uris[i], ObjectCreated(body=specs[i])) for i in (4, 5)]
    for seq, event in zip((5, 6), tail, strict=True):
        event.seq = seq
    node.on_events(tail)
    session.desync.announced(other.hex(), 6, bodies_hash(s.name for s in specs))
    for _ in range(3):
        session.pump()
        world.step()
    assert len(world.snapshot().names) == 2
    assert session.resyncs == 0 and session.desync.checked == 0  # not comparable yet: still pending
    held["snapshot"] = SimpleNamespace(horizon_seq=4)
    node.on_snapshot(other, None)
    for _ in range(3):
        session.pump()
        world.step()
    assert sorted(world.snapshot().names) == sorted(local_name(s.name, other) for s in specs)
    assert session.desync.checked == 1 and session.desync.mismatches == 0 and session.resyncs == 0


def test_a_run_of_creations_is_one_batch_and_a_uri_created_twice_takes_the_newer_state() -> None:
    from krapition_app.model.events import ObjectCreated

    node = FakeNode()
    session = Session(node)  # type: ignore[arg-type]
    world = World(Scene(name="w"))
    session.attach(world)
    other = b"\x05" * 32
    base = "krapition://10.0.0.5:9000/physics/objects"
    specs = [BodySpec(name=f"s{i}", shape="sphere", radius=0.05, position=(0.2 * i, 0, 0.05))
             for i in range(50)]
    moved = BodySpec(name="s7", shape="sphere", radius=0.05, position=(3.0, 3.0, 0.05))
    node.on_events([FakeEvent(other, f"{base}/{s.name}", ObjectCreated(body=s)) for s in specs]
                   + [FakeEvent(other, f"{base}/s7", ObjectCreated(body=moved))])
    session.pump()
    world.step()
    assert len(world.snapshot().names) == 50 and len(session.remote) == 50
    assert int(session.interpolator._used.sum()) == 50  # one slot a body: none left behind
    assert tuple(position(world, local_name("s7", other))[:2]) == pytest.approx((3.0, 3.0), abs=1e-3)
