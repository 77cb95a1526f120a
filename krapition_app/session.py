"""The LAN session: this app's node joined with its world (no Qt; part of the composition, as app.py).

Per-URI authority: the bodies of our world that we own (loaded from the scene, spawned here) are
published on our chain: created -> ``set_body``, gone -> ``delete_body``, and their motion as one
``ObjectMoved`` batch per publishing tick (about 25 Hz, not per physics step) holding only the bodies
that changed beyond a small threshold since we last published them: resting bodies cost nothing.

The bodies of other authors are spawned in our world under a local name that cannot clash with ours
(``<name>~<first 8 hex of the author's key>``) and kept at their owner's newest state with
``SetState``. They are never published by us.

Threads: the node calls ``on_events``/``on_peers`` on its own thread; the session only queues what
it gets there. One pump thread (``start``) does all the work at ``rate_hz``: it applies the queued
remote events to the world (through the world's thread-safe command queue) and publishes our changes
(through ``node.submit``, onto the node's loop). ``pump()`` is the same step, callable by tests.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from msgspec.structs import replace

from .engine.bodies import body_from_snapshot
from .engine.physics import PhysicsError
from .engine.world import Delete, SetState, Spawn, World
from .model.events import BodyState, ObjectCreated, ObjectDeleted, ObjectMoved
from .model.scene import BodySpec
from .model.uri import MAX_NAME_LENGTH, KrapitionURI
from .p2p.chain import SignedEvent
from .p2p.node import Node
from .p2p.peers import PeerSnapshot

log = logging.getLogger(__name__)

#: publishing ticks per second
RATE_HZ = 25.0
#: a body is published again once it moved this far (m), turned this much (quaternion component)
#: or changed its velocity this much (m/s) since it was last published
POSITION_EPS = 5e-4
ORIENTATION_EPS = 1e-3
VELOCITY_EPS = 1e-2
SUFFIX_HEX = 8


def local_name(name: str, author: bytes) -> str:
    """The name a remote body gets in our world: valid, and never one of ours (ours have no such
    suffix unless a user typed it; see :meth:`Session.is_remote`)."""
    suffix = "~" + author.hex()[:SUFFIX_HEX]
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


@dataclass
class RemoteBody:
    uri: str
    author: bytes
    local: str
    spec: BodySpec
    #: the owner's newest motion state (None: as in ``spec``)
    state: BodyState | None = None


class Session:
    def __init__(self, node: Node, *, rate_hz: float = RATE_HZ) -> None:
        self.node = node
        self.rate_hz = rate_hz
        #: called on the node's thread with every event (all authors) and with the peer table
        self.on_events: Callable[[list[SignedEvent]], None] | None = None
        self.on_peers: Callable[[tuple[PeerSnapshot, ...]], None] | None = None
        self._inbox: queue.SimpleQueue[SignedEvent] = queue.SimpleQueue()
        self._world: World | None = None
        self._attached: World | None = None  # the world the pump has caught up with
        self._lock = threading.Lock()  # one pump at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick = 0
        #: remote bodies by URI, and local name -> URI
        self.remote: dict[str, RemoteBody] = {}
        self._by_local: dict[str, str] = {}
        #: URIs of remote bodies whose newest state has not been handed to the world yet
        self._dirty: set[str] = set()
        #: local names of remote bodies deleted but maybe still in the world's newest snapshot
        #: (-> whether their Delete was handed to the world)
        self._dying: dict[str, bool] = {}
        #: local names spawned in the world but not yet in its snapshot
        self._spawning: set[str] = set()
        #: names of owned bodies our chain holds
        self._published: set[str] = set()
        self._pub_names: tuple[str, ...] = ()
        self._pub_state: np.ndarray = np.zeros((0, 10))
        self._republish_all = False
        #: the owned rows of the last snapshot's names, while neither changes
        self._rows_key: tuple[tuple[str, ...], int] | None = None
        self._owned_rows: list[int] = []
        self._owned_set: set[str] = set()
        self._logged_counts = (0, 0)
        self._remote_version = 0
        self.node.on_events = self._node_events
        self.node.on_peers = self._node_peers

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, *, node: bool = True) -> None:
        """Starts the node (unless it runs already: ``node=False``), reads what its cache knows of
        other authors' bodies, and starts the pump thread."""
        if node:
            self.node.start()
        self._load_cache()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="krapition-session", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.node.on_events = None
        self.node.on_peers = None
        self.node.stop()

    def attach(self, world: World | None) -> None:
        """The world to join (any thread; a new one replaces the old, e.g. another scene opened)."""
        self._world = world

    @property
    def authority(self) -> str:
        return self.node.authority

    def connect(self, host: str, port: int, timeout: float = 10.0) -> str:
        """Dials a peer by address (blocking, any thread but the node's); its authority."""
        peer = self.node.call(self.node.connect, host, port, timeout=timeout)
        return str(peer.authority)

    def peers(self) -> tuple[PeerSnapshot, ...]:
        return self.node.peers()

    def is_remote(self, name: str) -> bool:
        return name in self._by_local or name in self._dying

    @property
    def remote_version(self) -> int:
        """Changes whenever the set of remote bodies changes (for caches keyed on it)."""
        return self._remote_version

    def owner_of(self, name: str) -> bytes | None:
        """The public key of the node that owns the body ``name`` of our world, None if it is ours."""
        uri = self._by_local.get(name)
        body = self.remote.get(uri) if uri is not None else None
        return None if body is None else body.author

    def uri_of(self, name: str) -> str:
        """The URI of a body of our world, ours or a remote one."""
        uri = self._by_local.get(name)
        return uri if uri is not None else self.node.uri_for(name)

    def owned_counts(self) -> dict[str, int]:
        """Bodies per owner's authority (ours included), as our world knows them."""
        counts: dict[str, int] = {}
        with self._lock:  # the pump changes them
            uris = list(self.remote)
            published = len(self._published)
        for uri in uris:
            authority = str(KrapitionURI.parse(uri).authority)
            counts[authority] = counts.get(authority, 0) + 1
        counts[self.node.authority] = published
        return counts

    # ---- the node's thread --------------------------------------------------------------------

    def _node_events(self, events: list[SignedEvent]) -> None:
        own = self.node.public_key
        for event in events:
            if event.author != own and isinstance(event.payload, ObjectCreated | ObjectDeleted | ObjectMoved):
                self._inbox.put(event)
        if self.on_events is not None:
            self.on_events(events)

    def _node_peers(self, peers: tuple[PeerSnapshot, ...]) -> None:
        if self.on_peers is not None:
            self.on_peers(peers)

    def _load_cache(self) -> None:
        """Other authors' bodies the node knew before we started (its cache of remote objects)."""
        try:
            uris = self.node.submit(self.node.list_uris).result(10.0)
            known = self.node.submit(lambda: [(u, self.node.read_local(u)) for u in uris
                                              if not self.node.owns(u)]).result(10.0)
            own = self.node.submit(lambda: [KrapitionURI.parse(u).name for u in uris
                                            if self.node.owns(u)]).result(10.0)
        except Exception:
            log.exception("could not read the node's cache")
            return
        authors = self.node.submit(self._authors).result(10.0)
        with self._lock:
            self._published = set(own)
            for uri, result in known:
                if result is None or result.body is None:
                    continue
                author = authors.get(str(KrapitionURI.parse(uri).authority))
                if author is not None:
                    self._remote_created(uri, author, result.body)

    def _authors(self) -> dict[str, bytes]:
        """authority -> author key, of every chain the node holds."""
        assert self.node.ledger is not None
        return dict(self.node.ledger.state.owners)

    # ---- the pump -----------------------------------------------------------------------------

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.wait(period):
            try:
                self.pump()
            except Exception:
                log.exception("session pump failed")

    def pump(self) -> None:
        """One publishing tick: remote events into the world, our changes onto our chain."""
        with self._lock:
            self._take_inbox()
            world = self._world
            if world is None:
                return
            if world is not self._attached:
                self._attached = world
                self._pub_names, self._pub_state = (), np.zeros((0, 10))
                self._dirty = set(self.remote)
                self._dying = dict.fromkeys(self._dying, False)
                self._spawning.clear()
                self._republish_all = True
            self._apply_remote(world)
            self._publish(world)

    def _take_inbox(self) -> None:
        while True:
            try:
                event = self._inbox.get_nowait()
            except queue.Empty:
                return
            payload = event.payload
            try:
                if isinstance(payload, ObjectCreated):
                    self._remote_created(event.uri, event.author, payload.body)
                elif isinstance(payload, ObjectDeleted):
                    self._remote_deleted(event.uri)
                elif isinstance(payload, ObjectMoved):
                    authority = KrapitionURI.parse(event.uri).authority
                    for state in payload.bodies:
                        uri = str(KrapitionURI.build(authority, "physics", "objects", state.name))
                        body = self.remote.get(uri)
                        if body is not None:
                            body.state = state
                            self._dirty.add(uri)
            except (ValueError, TypeError) as exc:
                log.warning("remote event skipped: %s", exc)

    def _remote_created(self, uri: str, author: bytes, spec: BodySpec) -> None:
        parsed = KrapitionURI.parse(uri)
        if (parsed.kind, parsed.collection) != ("physics", "objects"):
            return
        name = local_name(spec.name, author)
        old = self.remote.get(uri)
        self.remote[uri] = RemoteBody(uri=uri, author=author, local=name, spec=replace(spec, name=name))
        if old is not None and old.local != name:
            self._by_local.pop(old.local, None)
            self._dying[old.local] = False
        self._by_local[name] = uri
        self._dying.pop(name, None)
        self._dirty.add(uri)
        self._remote_version += 1

    def _remote_deleted(self, uri: str) -> None:
        body = self.remote.pop(uri, None)
        self._dirty.discard(uri)
        if body is not None:
            self._by_local.pop(body.local, None)
            self._dying[body.local] = False
            self._remote_version += 1

    def _apply_remote(self, world: World) -> None:
        names = set(world.snapshot().names)
        self._spawning -= names
        for name, sent in list(self._dying.items()):
            if name in self._spawning:
                continue  # deleted while its Spawn is still queued: deleted once it is in
            if name not in names:
                del self._dying[name]
                self._remote_version += 1
            elif not sent and self._submit(world, Delete(name)):
                self._dying[name] = True
        for uri in list(self._dirty):
            body = self.remote[uri]
            if body.local in self._spawning:
                continue  # its Spawn is queued: the state goes after it, next tick
            if body.local not in names:
                spec = body.spec
                if body.state is not None:
                    s = body.state
                    spec = replace(spec, position=s.position, orientation=s.orientation,
                                   velocity=s.velocity, angular_velocity=s.angular_velocity)
                if self._submit(world, Spawn(spec)):
                    self._dirty.discard(uri)
                    self._spawning.add(spec.name)
                continue
            s = body.state or BodyState(name=body.local, position=body.spec.position,
                                        orientation=body.spec.orientation, velocity=body.spec.velocity,
                                        angular_velocity=body.spec.angular_velocity)
            if self._submit(world, SetState(body.local, position=s.position, orientation=s.orientation,
                                            velocity=s.velocity, angular_velocity=s.angular_velocity)):
                self._dirty.discard(uri)

    @staticmethod
    def _submit(world: World, command: Any) -> bool:
        try:
            world.submit(command)
            return True
        except PhysicsError as exc:  # a spawn still queued, a full queue: the next tick tries again
            log.debug("session command not taken: %s", exc)
            return False

    # ---- publishing ---------------------------------------------------------------------------

    def _publish(self, world: World) -> None:
        snap = world.snapshot()
        key = (snap.names, self._remote_version)
        if key != self._rows_key:  # per-body Python only when the bodies change
            self._rows_key = key
            self._owned_rows = [i for i, n in enumerate(snap.names) if not self.is_remote(n)]
            self._owned_set = {snap.names[i] for i in self._owned_rows}
            counts = (len(snap.names), len(snap.names) - len(self._owned_rows))
            if counts != self._logged_counts:
                self._logged_counts = counts
                log.info("session world", extra={"bodies": counts[0], "remote_bodies": counts[1],
                                                 "authority": self.node.authority})
        owned_rows, owned = self._owned_rows, self._owned_set
        republish = self._republish_all
        self._republish_all = False
        node = self.node
        new = owned if republish else owned - self._published
        for name in sorted(self._published - owned):
            node.submit(node.delete_body, name).add_done_callback(_log_failure)
        for name in sorted(new):
            spec = body_from_snapshot(snap, name)
            node.submit(node.set_body, spec).add_done_callback(_log_failure)
        self._published = set(owned)
        if not owned_rows:
            return
        rows = np.asarray(owned_rows)
        names = tuple(snap.names[i] for i in owned_rows)
        state = np.concatenate([snap.position[rows], snap.orientation[rows], snap.velocity[rows]], axis=1)
        if names != self._pub_names:
            previous = {n: i for i, n in enumerate(self._pub_names)}
            old = np.full_like(state, np.inf)
            for j, n in enumerate(names):
                i = previous.get(n)
                if i is not None:
                    old[j] = self._pub_state[i]
            self._pub_names, self._pub_state = names, old
        delta = np.abs(state - self._pub_state)
        moved = ((delta[:, :3].max(axis=1) > POSITION_EPS) | (delta[:, 3:7].max(axis=1) > ORIENTATION_EPS)
                 | (delta[:, 7:].max(axis=1) > VELOCITY_EPS)) & ~snap.static[rows]
        if new:  # published whole (set_body): their state is the one published
            fresh = np.fromiter((n in new for n in names), dtype=bool, count=len(names))
            self._pub_state[fresh] = state[fresh]
            moved &= ~fresh
        moved_idx = np.flatnonzero(moved)
        if not len(moved_idx):
            return
        batch = []
        for j in moved_idx:
            i = owned_rows[j]
            q = snap.orientation[i] / np.linalg.norm(snap.orientation[i])
            try:
                batch.append(BodyState(
                    name=names[j], position=tuple(snap.position[i].tolist()), orientation=tuple(q.tolist()),
                    velocity=tuple(snap.velocity[i].tolist()),
                    angular_velocity=tuple(snap.angular_velocity[i].tolist())))
            except ValueError:  # outside the bounds a state may have: not published
                continue
            self._pub_state[j] = state[j]
        if batch:
            self._tick += 1
            node.submit(node.publish_motion, self._tick, batch).add_done_callback(_log_failure)


def _log_failure(future: Any) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("session: the node refused a change: %s", exc)
