"""The LAN session: this app's node joined with its world (no Qt; part of the composition, as app.py).

Per-URI authority: the bodies of our world that we own (loaded from the scene, spawned here) are
published on our chain: created -> ``set_body``, gone -> ``delete_body``, and their motion as one
``ObjectMoved`` batch per publishing tick (``rate_hz``, 25-30 Hz, not per physics step). What goes
in it is :class:`~krapition_app.session_motion.MotionPublisher`'s choice: the motion codec's packet
(quantised, delta coded; only bodies whose peers' extrapolation is off, within a byte budget that
follows the number of peers; bodies coming to rest flagged so), plus, a little later, the exact
state of bodies at rest (for the store's projection and late joiners). Resting bodies cost nothing.

The bodies of other authors are spawned in our world under a local name that cannot clash with ours
(``<name>~<first 8 hex of the author's key>``) and shown a little in the past by an
:class:`~krapition_app.engine.interpolation.Interpolator` (a jitter buffer per body, extrapolation
on loss, corrections blended in): every pump its states go into the world with their velocities,
so our physics keeps them moving between pumps. They are never published by us.

Threads: the node calls ``on_events``/``on_peers`` on its own thread; the session only queues what
it gets there (with the time it came). One pump thread (``start``) does all the work at
``rate_hz``: it applies the queued remote events to the world and publishes our changes (through
``node.submit``, onto the node's loop). ``pump()`` is the same step, callable by tests.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from msgspec.structs import replace

from .engine.batch import set_states
from .engine.bodies import body_from_snapshot
from .engine.contacts import IMPACT, ContactEvents
from .engine.interpolation import EXTRAPOLATE, HOLD, INTERPOLATE, InterpolationSettings, Interpolator
from .engine.physics import PhysicsError
from .engine.remote_drag import DragArbiter, DragSender
from .engine.shared_sound import ImpactMatcher, contacts_from_collisions, impacts_to_publish, pair_key
from .engine.world import Delete, Drag, Release, Spawn, SpawnMany, World
from .model.encoding import decode
from .model.errors import InvalidURIError
from .model.events import (
    BodyState,
    CollisionDetected,
    ObjectCreated,
    ObjectDeleted,
    ObjectMoved,
    UserAction,
    UserCommand,
)
from .model.messages import Heartbeat
from .model.motion import MotionDecodeError, MotionDecoder
from .model.scene import BodySpec
from .model.uri import MAX_NAME_LENGTH, KrapitionURI
from .p2p.balancing import DEFAULT_STRATEGY, Balancer, Strategy, parse_strategy
from .p2p.chain import SignedEvent
from .p2p.identity import node_id_of
from .p2p.node import Node
from .p2p.peers import PeerSnapshot
from .p2p.transport import HeartbeatContent
from .session_handover import (
    ADOPT_WINDOW_S,
    ADOPTED,
    FORGET_S,
    HANDED_OVER,
    HOLD_BACK_S,
    LEAVE_WAIT_S,
    ORPHAN_S,
    RECLAIM_S,
    TARGET_GONE_S,
    Handoff,
    orphan_adopter,
    unique_name,
)
from .session_motion import MotionPublisher, MotionSettings
from .session_sync import DesyncMonitor, bodies_hash
from .store.projection import BODY

log = logging.getLogger(__name__)

#: publishing ticks per second (25-30 Hz)
RATE_HZ = 30.0
MIN_RATE_HZ, MAX_RATE_HZ = 1.0, 120.0
SUFFIX_HEX = 8
#: impacts of our bodies published per pump at most (the loudest): a pile settling is not a flood
IMPACTS_PER_PUMP = 8
#: the UserCommand an owner answers a refused grab with (params: to, holder)
DRAG_REFUSED = "drag-refused"
_INBOX_TYPES = (ObjectCreated, ObjectDeleted, ObjectMoved, UserAction, UserCommand, CollisionDetected)
_CONTACT_FIELDS = ("body_a", "body_b", "point", "normal", "normal_impulse", "normal_speed",
                   "tangential_speed", "kind")
#: a held remote body whose copy in our world strayed this far is put back: moved (m), or turned
#: (1 - |q1.q2|; 1e-6 is about 3 mrad)
HOLD_POSITION_TOLERANCE = 5e-4
HOLD_TURN_TOLERANCE = 1e-6
#: owned bodies that make a full load (the heartbeat's ``load`` is the larger of this share and the
#: share of real time our physics steps take)
LOAD_CAPACITY_BODIES = 2000


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
    #: its interpolator slot
    slot: int = -1
    #: the owner's newest exact state (a rest state; None: as in ``spec``), for spawning it
    state: BodyState | None = None


@dataclass
class SessionStats:
    """Counters of what the session sent and received (for benchmarks and diagnostics)."""

    ticks: int = 0
    #: ObjectMoved events published, their signed bytes, the motion codec's bytes in them
    events: int = 0
    event_bytes: int = 0
    motion_bytes: int = 0
    #: bodies sent coming to rest (in the packets), exact rest states (in ``bodies``)
    rest_states: int = 0
    exact_states: int = 0
    #: bodies in the packets, bodies that wanted to be in them
    bodies_sent: int = 0
    bodies_due: int = 0
    #: the same ticks as full float64 state of every body that moved
    naive_bytes: int = 0
    publish_failures: int = 0
    packets_in: int = 0
    decode_errors: int = 0
    #: deltas we held no reference for (joined mid-stream)
    skipped: int = 0
    #: remote states put into the world
    applied: int = 0


class Session:
    def __init__(self, node: Node, *, rate_hz: float = RATE_HZ, clock: Callable[[], float] = time.monotonic,
                 motion: MotionSettings | None = None,
                 interpolation: InterpolationSettings | None = None) -> None:
        if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
            raise ValueError(f"rate_hz must be within {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g}, got {rate_hz!r}")
        self.node = node
        self.rate_hz = rate_hz
        self.clock = clock
        #: called on the node's thread with every event (all authors) and with the peer table
        self.on_events: Callable[[list[SignedEvent]], None] | None = None
        self.on_peers: Callable[[tuple[PeerSnapshot, ...]], None] | None = None
        self._inbox: queue.SimpleQueue[tuple[SignedEvent, float]] = queue.SimpleQueue()
        self._world: World | None = None
        self._attached: World | None = None  # the world the pump has caught up with
        self._lock = threading.Lock()  # one pump at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick = 0
        #: remote bodies by URI, and local name -> URI
        self.remote: dict[str, RemoteBody] = {}
        self._by_local: dict[str, str] = {}
        #: URIs of remote bodies that may have to be spawned in the world
        self._dirty: set[str] = set()
        #: local names of remote bodies deleted but maybe still in the world's newest snapshot
        #: (-> whether their Delete was handed to the world)
        self._dying: dict[str, bool] = {}
        #: local names spawned in the world but not yet in its snapshot
        self._spawning: set[str] = set()
        #: names of owned bodies our chain holds
        self._published: set[str] = set()
        self._republish_all = False
        #: the owned rows of the last snapshot's names, while neither changes
        self._rows_key: tuple[tuple[str, ...], int] | None = None
        self._owned_rows: list[int] = []
        self._owned_set: set[str] = set()
        self._logged_counts = (0, 0)
        self._remote_version = 0
        # motion: ours out through the publisher, theirs in through decoders and the interpolator
        self.publisher = MotionPublisher(motion)
        self._publish_failed = False
        self.interpolator = Interpolator(interpolation, clock=clock)
        self._decoders: dict[bytes, MotionDecoder] = {}
        self._streams: dict[bytes, int] = {}
        #: per author: stream id -> interpolator slot (-1: none)
        self._slot_of_id: dict[bytes, np.ndarray] = {}
        #: per slot: the remote body's local name (None: free)
        self._slot_local: list[str | None] = []
        #: the snapshot index of every slot, while the snapshot's names and the remote set stay
        self._slot_index_key: tuple[tuple[str, ...], int] | None = None
        self._slot_index = np.zeros(0, dtype=np.int64)
        self._peer_count = (0.0, 1)
        self.stats = SessionStats()
        self._stats_lock = threading.Lock()
        # drags: of our bodies by others (the arbiter decides), of others' bodies by us (sent)
        self.arbiter = DragArbiter()
        self._drag_commands: list[Drag | Release] = []
        self._sender = DragSender()
        self._sender_lock = threading.Lock()
        #: the remote body our user drags: our copy follows the mouse, not its owner, until released
        self._predicting: str | None = None
        #: called (any thread) with a line for the user: a refused grab, a peer that went away
        self.on_notice: Callable[[str], None] | None = None
        # collisions: ours published (one publisher per impact), others' heard once
        self.matcher = ImpactMatcher()
        self._matcher_lock = threading.Lock()
        self._impacts: list[CollisionDetected] = []
        self._late_impacts: list[CollisionDetected] = []
        #: called on the pump thread with owners' impacts our world did not hear itself, as contact
        #: rows of our world (the app hands them to its audio engine)
        self.on_remote_impacts: Callable[[ContactEvents, World], None] | None = None
        # stale: remote bodies whose owner is not connected (frozen where their owner left them)
        self._connected: frozenset[str] | None = None
        self.stale_authors: frozenset[bytes] = frozenset()
        self._stale_key: tuple[frozenset[str], int] | None = None
        #: (author, [(uri, body)]) of objects that came as a snapshot behind a checkpoint
        self._snapshots: queue.SimpleQueue[tuple[bytes, list[tuple[str, BodySpec]]]] = queue.SimpleQueue()
        # hand-over: bodies given to other nodes (new URIs there, tombstones here), and adopted
        #: the load-balancing strategy a hand-over follows (a setting), and the balancer it uses
        self.strategy: Strategy = DEFAULT_STRATEGY
        self.balancer = Balancer()
        #: the newest heartbeat load of each peer (node id -> 0..1), written on the node's thread
        #: node id -> (load, adopts bodies) from its newest heartbeat
        self._peer_loads: dict[str, tuple[float, bool]] = {}
        #: tombstones that point to a new URI, not adopted yet (old URI -> hand-over)
        self.handoffs: dict[str, Handoff] = {}
        #: hand-overs for us to adopt (old URI), checked every pump
        self._to_adopt: list[str] = []
        #: new URI -> (old URI, when the adoption was told): the new copy waits for the old one to go
        self._moved_into: dict[str, tuple[str, float]] = {}
        #: names of our bodies handed over whose Delete our world has not done yet
        self._leaving: set[str] = set()
        #: counters: bodies handed over, adopted, taken back
        self.handed_over = 0
        self.adopted = 0
        self.reclaimed = 0
        self.node.on_events = self._node_events
        self.node.on_peers = self._node_peers
        self.node.on_snapshot = self._node_snapshot
        # desync detection: the shape (set of bodies) of our chain, announced in heartbeats; the
        # announcements of others, checked against our copies at the same chain seq
        self.desync = DesyncMonitor()
        self._own_shape: set[str] = set()
        self._own_shape_at: tuple[dict[str, bytes], int] = ({}, 0)
        #: author -> seq of the newest create/delete of it we applied
        self._shape_seq: dict[bytes, int] = {}
        self.resyncs = 0
        self.node.heartbeat_content = self._heartbeat_content
        self.node.on_heartbeat = self._on_heartbeat

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, *, node: bool = True, pump: bool = True) -> None:
        """Starts the node (unless it runs already: ``node=False``), reads what its cache knows of
        other authors' bodies, and starts the pump thread (``pump=False``: the caller calls
        :meth:`pump`, as a benchmark stepping its worlds in lockstep)."""
        if node:
            self.node.start()
        self._load_cache()
        self._stop.clear()
        if pump:
            self._thread = threading.Thread(target=self._run, name="krapition-session", daemon=True)
            self._thread.start()

    def stop(self, hand_over: bool = False, *, strategy: str | Strategy | None = None,
             wait: float = LEAVE_WAIT_S) -> None:
        """Stops the pump and the node. ``hand_over``: first hand our bodies to the connected peers
        (see :meth:`leave`) instead of leaving them frozen and stale on theirs."""
        if hand_over:
            self.leave(strategy=strategy, wait=wait)
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self.node.on_events = None
        self.node.on_peers = None
        self.node.on_snapshot = None
        self.node.heartbeat_content = None
        self.node.on_heartbeat = None
        self.node.stop()

    def leave(self, *, strategy: str | Strategy | None = None, wait: float = LEAVE_WAIT_S) -> dict[str, str]:
        """Leaves the session handing our bodies over: each goes to a connected peer chosen by the
        strategy (default: :attr:`strategy`); waits (at most ``wait`` seconds) until the new owners
        adopted them, then stops. A body no one adopted in that time (a peer without a world, one
        that went away) is taken back first: it stays ours, frozen for the others as before.
        Returns name -> new URI of what was handed over and adopted."""
        moved: dict[str, str] = {}
        try:
            moved = self.hand_over(strategy=strategy) if self._world is not None else {}
            deadline = time.monotonic() + max(0.0, wait)
            while self.pending_hand_overs() and time.monotonic() < deadline:
                if self._thread is None:
                    self.pump()
                time.sleep(0.02)
            pending = self.pending_hand_overs()
            if pending:
                log.warning("session: bodies handed over were not adopted: taken back",
                            extra={"pending": len(pending)})
                back = self._take_back(pending)
                moved = {n: u for n, u in moved.items() if self.node.uri_for(n) not in pending}
                deadline = time.monotonic() + 1.5  # on our chain again before the node stops
                while not back <= self._published and time.monotonic() < deadline:
                    if self._thread is None:
                        self.pump()
                    time.sleep(0.02)
        finally:
            self.stop()
        return moved

    def _take_back(self, old_uris: list[str]) -> set[str]:
        """Our bodies handed over but not adopted are ours again (in our world, at their old URI)."""
        back = set()
        with self._lock:
            world = self._world
            if world is None:
                return back
            names = set(world.snapshot().names)
            for uri in old_uris:
                h = self.handoffs.get(uri)
                if h is not None:
                    name = self._reclaim(world, names, h)
                    if name is not None:
                        back.add(name)
                        names.add(name)
        return back

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
        now = self.clock()  # when it came: the interpolator measures delay and jitter from it
        for event in events:
            if event.author != own:
                if isinstance(event.payload, _INBOX_TYPES):
                    self._inbox.put((event, now))
            elif isinstance(event.payload, ObjectCreated | ObjectDeleted):
                self._own_shape_changed(event)
        if self.on_events is not None:
            self.on_events(events)

    def _node_snapshot(self, author: bytes, projection: Any) -> None:
        """An author's objects behind a checkpoint arrived (a late join: no event announces them). Their
        current values (the snapshot plus the tail after it) join our world at the next pump."""
        self._snapshots.put((author, list(self._cached_bodies(author).items())))

    def _node_peers(self, peers: tuple[PeerSnapshot, ...]) -> None:
        self._connected = frozenset(p.node_id for p in peers if str(getattr(p.liveness, "value", p.liveness))
                                    != "dead")
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
            # our chain's shape as stored; its seq is unknown here, so nothing is announced (a seq
            # of -1 is never confirmed) until our next create or delete
            self._own_shape = set(own)
            self._own_shape_at = ({self.node.public_key.hex(): bodies_hash(own)}, -1)
            by_author: dict[bytes, list[tuple[str, BodySpec]]] = {}
            for uri, result in known:
                if result is None or result.body is None:
                    continue
                author = authors.get(str(KrapitionURI.parse(uri).authority))
                if author is not None:
                    by_author.setdefault(author, []).append((uri, result.body))
            for author, items in by_author.items():
                self._remote_created_many(author, items)

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

    def pump(self, now: float | None = None) -> None:
        """One publishing tick: remote events into the world, our changes onto our chain. ``now``:
        the clock's time at which remote bodies are shown (default: the clock's now; a benchmark
        that steps worlds in lockstep passes the worlds' time)."""
        with self._lock:
            self._take_inbox()
            world = self._world
            if world is None:
                return
            if world is not self._attached:
                self._attached = world
                self.publisher.reset()  # a new world: a new stream, keyframes for all
                self._dirty = set(self.remote)
                self._dying = dict.fromkeys(self._dying, False)
                self._spawning.clear()
                self._republish_all = True
                self._slot_index_key = None
            self._update_stale()
            self._apply_drags(world)
            self._apply_remote(world, now)
            if self.handoffs:
                self._adopt(world)
            self._publish(world)
            self._publish_interaction(world)
            self._check_desync(world)

    def _take_inbox(self) -> None:
        while True:
            try:
                author, bodies = self._snapshots.get_nowait()
            except queue.Empty:
                break
            self._remote_created_many(author, [(uri, spec) for uri, spec in bodies if uri not in self.remote])
        created: list[tuple[str, BodySpec]] = []  # a run of one author's creations: one batch
        created_by = b""
        while True:
            try:
                event, arrival = self._inbox.get_nowait()
            except queue.Empty:
                event = None
            payload = None if event is None else event.payload
            if created and (not isinstance(payload, ObjectCreated) or event.author != created_by):
                self._remote_created_many(created_by, created)
                created = []
            if event is None:
                return
            try:
                if isinstance(payload, ObjectCreated | ObjectDeleted):
                    self._shape_seq[event.author] = event.seq
                if isinstance(payload, ObjectCreated):
                    created.append((event.uri, payload.body))
                    created_by = event.author
                elif isinstance(payload, ObjectDeleted):
                    self._remote_deleted(event.uri, payload, event, arrival)
                elif isinstance(payload, ObjectMoved):
                    self._remote_moved(event.uri, event.author, payload, arrival)
                elif isinstance(payload, UserAction):
                    self._remote_action(event.author, payload, arrival)
                elif isinstance(payload, UserCommand):
                    if payload.command == ADOPTED:
                        self._remote_adopted(event, payload, arrival)
                    else:
                        self._remote_command(event.author, payload)
                elif isinstance(payload, CollisionDetected):
                    self._remote_impact(payload, arrival)
            except (ValueError, TypeError) as exc:
                log.warning("remote event skipped: %s", exc)

    def _remote_created_many(self, author: bytes, items: list[tuple[str, BodySpec]]) -> None:
        """``author``'s bodies ``(uri, spec)`` join our copy of the world (spawned at the next pump),
        shown where their specs put them. One batch for all: a late joiner takes thousands at once,
        and the per-body Python here is the dictionaries only. A URI created twice in the batch (a
        hand-over rewrites a body's last state) takes the newer spec."""
        bodies = []
        for uri, spec in {uri: spec for uri, spec in items}.items():
            try:
                parsed = KrapitionURI.parse(uri)
            except InvalidURIError as exc:  # a verified event has a valid URI; a cache row might not
                log.warning("remote body skipped: %s", exc)
                continue
            if (parsed.kind, parsed.collection) != ("physics", "objects"):
                continue
            name = local_name(spec.name, author)
            if self.handoffs:
                self.handoffs.pop(uri, None)  # handed over, then taken back by its owner: nothing to adopt
            old = self.remote.get(uri)
            body = RemoteBody(uri=uri, author=author, local=name, spec=replace(spec, name=name),
                              slot=-1 if old is None else old.slot)
            self.remote[uri] = body
            if old is not None and old.local != name:
                self._by_local.pop(old.local, None)
                self._dying[old.local] = False
            self._by_local[name] = uri
            self._dying.pop(name, None)
            self._dirty.add(uri)
            bodies.append(body)
        if not bodies:
            return
        new = [b for b in bodies if b.slot < 0]
        if new:
            for body, slot in zip(new, self.interpolator.add_many(author, len(new)).tolist(), strict=True):
                body.slot = slot
        top = max(b.slot for b in bodies)
        if len(self._slot_local) <= top:
            self._slot_local.extend([None] * (top + 1 - len(self._slot_local)))
        for body in bodies:
            self._slot_local[body.slot] = body.local
        specs = [b.spec for b in bodies]
        pos, quat, vel, ang = (np.array([getattr(s, f) for s in specs], dtype=np.float64)
                               for f in ("position", "orientation", "velocity", "angular_velocity"))
        self.interpolator.snap(np.array([b.slot for b in bodies]), pos, quat, vel, ang)
        self._remote_version += 1

    def _remote_deleted(self, uri: str, payload: ObjectDeleted | None = None,
                        event: SignedEvent | None = None, arrival: float = 0.0) -> None:
        if payload is not None and payload.moved_to is not None and event is not None:
            self._tombstone(uri, payload.moved_to, event, arrival)
        body = self.remote.pop(uri, None)
        self._dirty.discard(uri)
        if body is not None:
            self._by_local.pop(body.local, None)
            self._dying[body.local] = False
            self.interpolator.remove(body.slot)
            self._slot_local[body.slot] = None
            ids = self._slot_of_id.get(body.author)
            if ids is not None:
                ids[ids == body.slot] = -1
            self._remote_version += 1

    def _snap(self, body: RemoteBody, s: BodySpec | BodyState) -> None:
        """Shows ``body`` in state ``s`` at once (a state without a time: creation, an old author)."""
        self.interpolator.snap(np.array([body.slot]), np.array([s.position]), np.array([s.orientation]),
                               np.array([s.velocity]), np.array([s.angular_velocity]))

    def _remote_moved(self, uri: str, author: bytes, payload: ObjectMoved, arrival: float) -> None:
        authority = KrapitionURI.parse(uri).authority
        frame = None
        if payload.motion:
            decoder = self._decoders.setdefault(author, MotionDecoder())
            try:
                frame = decoder.decode(payload.motion)
            except MotionDecodeError as exc:
                self.stats.decode_errors += 1
                log.warning("motion of %s skipped: %s", authority, exc)
        slots = np.zeros(0, dtype=np.int64)
        if frame is not None:
            self.stats.packets_in += 1
            self.stats.skipped += frame.skipped
            if self._streams.get(author, frame.stream) != frame.stream:
                self.interpolator.restart(author)  # a new stream: the owner's clock may restart
            self._streams[author] = frame.stream
            slots = self._slots_of(author, authority, frame)
        exact = [(body, state) for state in payload.bodies
                 if (body := self.remote.get(_object_uri(authority, state.name)))]
        for body, state in exact:
            body.state = state  # to spawn it from, should it have to be spawned again
        if frame is None:  # an author without the codec: its states are shown as they come
            for body, state in exact:
                self._snap(body, state)
            return
        # one push per packet: the moving bodies, and the exact states of resting ones (held still)
        take = slots >= 0
        fall = np.where((frame.ballistic & ~frame.rest)[take, None], frame.gravity[None, :], 0.0)
        parts = [(slots[take], frame.position[take], frame.orientation[take], frame.velocity[take],
                  frame.angular_velocity[take], fall)]
        if exact:
            zero = np.zeros((len(exact), 3))
            parts.append((np.array([b.slot for b, _ in exact]), np.array([st.position for _, st in exact]),
                          np.array([st.orientation for _, st in exact]), zero, zero, zero))
        slot, pos, quat, vel, ang, acc = (np.concatenate(column) for column in zip(*parts, strict=True))
        if len(slot):
            keep = _last_of_each(slot)  # an exact state (after the packet's entries) wins
            self.interpolator.push(author, slot[keep], frame.time, pos[keep], quat[keep], vel[keep],
                                   ang[keep], acc[keep], arrival=arrival)

    def _slots_of(self, author: bytes, authority: Any, frame: Any) -> np.ndarray:
        """The interpolator slot of every entry of ``frame`` (-1: not a body we know)."""
        ids = self._slot_of_id.get(author)
        if ids is None or frame.reset:
            ids = np.full(max(64, int(frame.ids.max(initial=0)) + 1), -1, dtype=np.int64)
        for ident, name in frame.names.items():  # keyframes: per body only when its name comes
            body = self.remote.get(_object_uri(authority, name))
            if ident >= len(ids):
                ids = np.concatenate([ids, np.full(max(ident + 1 - len(ids), len(ids)), -1, np.int64)])
            ids[ident] = -1 if body is None else body.slot
        self._slot_of_id[author] = ids
        inside = frame.ids < len(ids)
        return np.where(inside, ids[np.minimum(frame.ids, len(ids) - 1)], -1)

    def _apply_remote(self, world: World, now: float | None = None) -> None:
        snap = world.snapshot()
        names = set(snap.names)
        self._spawning -= names
        for name, sent in list(self._dying.items()):
            if name in self._spawning:
                continue  # deleted while its Spawn is still queued: deleted once it is in
            if name not in names:
                del self._dying[name]
                self._remote_version += 1
            elif not sent and self._submit(world, Delete(name)):
                self._dying[name] = True
        spawns: dict[str, BodySpec] = {}
        for uri in list(self._dirty):
            body = self.remote[uri]
            if body.local in self._spawning:
                continue  # its Spawn is queued
            if uri in self._moved_into and self._held_back(uri, names):
                continue  # a body handed over: its old copy must go first
            if body.local in names:
                self._dirty.discard(uri)
                continue
            spec = body.spec
            if body.state is not None:
                s = body.state
                spec = replace(spec, position=s.position, orientation=s.orientation,
                               velocity=s.velocity, angular_velocity=s.angular_velocity)
            spawns[uri] = spec
        if spawns:  # one command for all (thousands for a late joiner)
            specs = tuple(spawns.values())
            if self._submit(world, Spawn(specs[0]) if len(specs) == 1 else SpawnMany(specs)):
                self._dirty.difference_update(spawns)
                self._spawning.update(spec.name for spec in specs)
        self._show_remote(world, snap, now)

    def _show_remote(self, world: World, snap: Any, now: float | None = None) -> None:
        """The interpolator's states into the world: moving bodies every pump, held ones when they
        are new news or their copy strayed (our physics moves them between pumps)."""
        shown = self.interpolator.sample(now)
        key = (snap.names, self._remote_version)
        if key != self._slot_index_key:  # per-body Python only when the bodies change
            self._slot_index_key = key
            where = {n: i for i, n in enumerate(snap.names)}
            self._slot_index = np.array([-1 if n is None else where.get(n, -1) for n in self._slot_local],
                                        dtype=np.int64)
        n = min(len(self._slot_index), len(shown.mode))
        mode, index = shown.mode[:n], self._slot_index[:n]
        apply = (mode == INTERPOLATE) | (mode == EXTRAPOLATE) | ((mode == HOLD) & shown.fresh[:n])
        predicted = self._predicting
        if predicted is not None and predicted in self._by_local:  # our user drags it: ours to show
            slot = self.remote[self._by_local[predicted]].slot
            if slot < n:
                apply[slot] = False
                index = index.copy()
                index[slot] = -1
        held = np.flatnonzero((mode == HOLD) & ~apply & (index >= 0))
        if len(held):
            rows = index[held]
            moved = np.abs(snap.position[rows] - shown.position[held]).max(axis=1)
            turned = 1.0 - np.abs(np.einsum("ij,ij->i", snap.orientation[rows], shown.orientation[held]))
            strayed = (moved > HOLD_POSITION_TOLERANCE) | (turned > HOLD_TURN_TOLERANCE)
            apply[held[strayed]] = True
        slots = np.flatnonzero(apply)
        if not len(slots):
            return
        local = [self._slot_local[i] or "" for i in slots.tolist()]
        self.stats.applied += set_states(world, local, shown.position[slots], shown.orientation[slots],
                                         shown.velocity[slots], shown.angular_velocity[slots])

    @staticmethod
    def _submit(world: World, command: Any) -> bool:
        try:
            world.submit(command)
            return True
        except PhysicsError as exc:  # a spawn still queued, a full queue: the next tick tries again
            log.debug("session command not taken: %s", exc)
            return False

    # ---- drags of remote bodies, and ours by others ---------------------------------------------

    def local_drag(self, command: Drag | Release) -> None:
        """(any thread) The user's drag on our world. A drag of another node's body also goes to its
        owner, which applies it (first grab wins); our copy follows the mouse meanwhile (prediction)
        and rejoins the owner's motion once released."""
        now = self.clock()
        with self._sender_lock:
            action = None
            if isinstance(command, Release):
                action = self._sender.release()
                self._predicting = None
            elif self.is_remote(command.name):
                uri = self.uri_of(command.name)
                if self._sender.dragging != uri:
                    action = self._sender.grab(uri, command.grab_point, now)
                    self._predicting = command.name
                else:
                    action = self._sender.move(command.target, now)
            elif self._sender.dragging is not None:  # now dragging one of ours
                action = self._sender.release()
                self._predicting = None
        if action is not None:
            self._send(action)

    def _send(self, payload: UserAction | UserCommand | CollisionDetected) -> None:
        if self.node.loop is not None:
            self.node.submit(self.node.publish, payload).add_done_callback(_log_failure)

    def _notice(self, text: str) -> None:
        log.info("session notice", extra={"notice": text})
        if self.on_notice is not None:
            self.on_notice(text)

    def _remote_action(self, author: bytes, action: UserAction, arrival: float) -> None:
        """(pump) Another node's drag: of one of our bodies, ours to apply or refuse."""
        if action.target is None or not self.node.owns(action.target):
            return
        name = KrapitionURI.parse(action.target).name
        world = self._world
        local = name if world is not None and name in self._owned_set else None
        commands, refusal = self.arbiter.on_action(author.hex(), action, local, arrival)
        self._drag_commands += commands
        if refusal is not None:
            self._send(UserCommand(command=DRAG_REFUSED, target=refusal.target,
                                   params={"to": refusal.author, "holder": refusal.holder}))

    def _remote_command(self, author: bytes, command: UserCommand) -> None:
        """(pump) An owner refused our grab: someone else holds that body."""
        if command.command != DRAG_REFUSED or command.params.get("to") != self.node.public_key.hex():
            return
        with self._sender_lock:
            if self._sender.dragging == command.target:
                self._sender.release()
                self._predicting = None
        holder = str(command.params.get("holder", ""))
        self._notice(f"{self._peer_name(holder)} is already dragging that body")

    def _peer_name(self, key_hex: str) -> str:
        try:
            wanted = node_id_of(bytes.fromhex(key_hex))
        except ValueError:
            return "another node"
        for peer in self.node.peers():
            if peer.node_id == wanted:
                return f"{peer.name} ({peer.authority})"
        return "another node"

    def _apply_drags(self, world: World) -> None:
        commands, self._drag_commands = self._drag_commands, []
        commands += self.arbiter.expire(self.clock())
        for command in commands:
            self._submit(world, command)
        with self._sender_lock:
            action = self._sender.flush(self.clock())
        if action is not None:
            self._send(action)

    # ---- collisions: ours published once, everyone's heard once --------------------------------

    def local_contacts(self, contacts: ContactEvents, world: World) -> ContactEvents:
        """(the simulation thread, every step) Our world's contacts, less the impacts an owner's event
        already played; the impacts this node publishes (see ``engine.shared_sound``) are queued."""
        impacts = np.flatnonzero(contacts.kind == IMPACT)
        if not len(impacts):
            return contacts
        names = world.names
        now = self.clock()

        def uri_of_row(row: int) -> str | None:
            return self.uri_of(names[row]) if 0 <= row < len(names) else None

        keep = np.ones(len(contacts), dtype=bool)
        with self._matcher_lock:
            for row in impacts.tolist():
                uri_a = uri_of_row(int(contacts.body_a[row]))
                if uri_a is None:
                    continue
                b = int(contacts.body_b[row])
                pair = pair_key(uri_a, uri_of_row(b) if b >= 0 else None)
                keep[row] = self.matcher.local(pair, now)
        published = impacts_to_publish(contacts, uri_of_row, self.node.owns, tick=self._tick)
        if published:
            with self._matcher_lock:
                self._impacts = (self._impacts + published)[-4 * IMPACTS_PER_PUMP:]
        if keep.all():
            return contacts
        return ContactEvents(**{name: getattr(contacts, name)[keep] for name in _CONTACT_FIELDS})

    def _remote_impact(self, event: CollisionDetected, arrival: float) -> None:
        with self._matcher_lock:
            play = self.matcher.remote(pair_key(event.body_a, event.body_b), arrival)
        if play:
            self._late_impacts.append(event)

    def _publish_interaction(self, world: World) -> None:
        """Our queued impacts onto our chain (the loudest few per pump); owners' impacts our world
        did not hear to the app's audio."""
        with self._matcher_lock:
            impacts, self._impacts = self._impacts, []
        if len(impacts) > IMPACTS_PER_PUMP:
            impacts = sorted(impacts, key=lambda e: -e.impulse)[:IMPACTS_PER_PUMP]
        for event in impacts:
            self._send(event)
        late, self._late_impacts = self._late_impacts, []
        if late and self.on_remote_impacts is not None:
            rows = {name: i for i, name in enumerate(world.snapshot().names)}

            def row_of_uri(uri: str) -> int | None:
                remote = self.remote.get(uri)
                if remote is not None:
                    return rows.get(remote.local)
                return rows.get(KrapitionURI.parse(uri).name) if self.node.owns(uri) else None

            contacts = contacts_from_collisions(late, row_of_uri)
            if len(contacts):
                self.on_remote_impacts(contacts, world)

    # ---- stale: bodies whose owner is gone --------------------------------------------------------

    def _update_stale(self) -> None:
        connected = self._connected
        # per-body Python only when the peers or the remote bodies change, not every pump
        if connected is None or (connected, self._remote_version) == self._stale_key:
            return
        authors = {body.author for body in self.remote.values()}
        stale = frozenset(a for a in authors if node_id_of(a) not in connected)
        if stale != self.stale_authors:
            for author in stale - self.stale_authors:
                self._notice(f"the bodies of node {node_id_of(author)[:8]} are stale: it left or went silent")
            self.stale_authors = stale
            self._remote_version += 1
        self._stale_key = (connected, self._remote_version)

    def is_stale(self, name: str) -> bool:
        """True for a remote body whose owner is not connected (frozen where it was left)."""
        author = self.owner_of(name)
        return author is not None and author in self.stale_authors

    # ---- hand-over: our bodies to other nodes, theirs to us (see session_handover) ---------------

    def hand_over(self, names: list[str] | tuple[str, ...] | set[str] | None = None, *,
                  strategy: str | Strategy | None = None, target: str | None = None) -> dict[str, str]:
        """(any thread but the node's) Hands our bodies (``names``; all by default) to connected
        peers: each to the peer the load-balancing ``strategy`` (default :attr:`strategy`) picks, or
        to the peer of authority ``target``. Each leaves our world now and lives on under a new URI
        of its new owner; our chain gets a tombstone pointing there. Returns name -> new URI (empty
        when no peer is connected)."""
        chosen = parse_strategy(strategy) if strategy is not None else self.strategy
        with self._lock:
            world = self._world
            if world is None:
                return {}
            snap = world.snapshot()
            wanted = set(snap.names) if names is None else set(names)
            mine = sorted(n for n in snap.names
                          if n in wanted and not self.is_remote(n) and n not in self._leaving)
            if not mine:
                return {}
            peers = self.node.peers()
            authorities = {p.node_id: p.authority for p in peers}
            if target is not None:
                if target == self.node.authority:
                    raise ValueError("a body cannot be handed to its own owner")
                assignment = dict.fromkeys(mine, target)
            else:
                self._feed_balancer(peers)
                by_node = self.balancer.assign(mine, chosen, exclude=(self.node.node_id,))
                assignment = {n: authorities[i] for n, i in by_node.items() if authorities.get(i)}
            moved: dict[str, str] = {}
            now = self.clock()
            for name, authority in assignment.items():
                new_name = unique_name(name, lambda n, a=authority: _object_uri(a, n) in self.remote
                                       or any(h.new_uri == _object_uri(a, n) for h in self.handoffs.values()))
                new_uri = _object_uri(authority, new_name)
                spec = body_from_snapshot(snap, name)
                if not self._submit(world, Delete(name)):
                    continue  # the world is behind: this body stays ours
                old_uri = self.node.uri_for(name)
                self._leaving.add(name)
                self._published.discard(name)
                self.handoffs[old_uri] = Handoff(old_uri, new_uri, self.node.public_key, spec, now,
                                                 time.time_ns())
                self.node.submit(_write_tombstone, self.node, old_uri, spec, new_uri).add_done_callback(
                    _log_failure)
                moved[name] = new_uri
            if moved:
                self.publisher.retire(sorted(moved))
                self.handed_over += len(moved)
                self._remote_version += 1
        if moved:
            counts: dict[str, int] = {}
            for uri in moved.values():
                authority = str(KrapitionURI.parse(uri).authority)
                counts[authority] = counts.get(authority, 0) + 1
            spread = ", ".join(f"{n} to {a}" for a, n in sorted(counts.items()))
            self._notice(f"handed {len(moved)} bodies over ({chosen.value.replace('_', ' ')}): {spread}")
        return moved

    def pending_hand_overs(self) -> list[str]:
        """Old URIs of our bodies handed over whose adoption we have not seen yet."""
        own = self.node.public_key
        return [uri for uri, h in list(self.handoffs.items()) if h.author == own]

    def _feed_balancer(self, peers: tuple[PeerSnapshot, ...]) -> None:
        self.balancer.observe_peers(peers)
        for node_id, (load, adopts) in list(self._peer_loads.items()):
            if node_id in self.balancer.peers:
                self.balancer.observe_heartbeat(node_id, load, adopts=adopts)

    def _tombstone(self, uri: str, moved_to: str, event: SignedEvent, arrival: float) -> None:
        """(pump) A peer handed its body ``uri`` over to ``moved_to``: remember it (to adopt it when
        it names us, to see it adopted, to recover it if no one does)."""
        old = KrapitionURI.parse(uri)
        body = self.remote.get(uri)
        if body is None or (old.kind, old.collection) != ("physics", "objects"):
            return  # not a body we hold: nothing to move
        # the spec is the owner's last word on it: the exact state it wrote just before the tombstone
        spec = replace(body.spec, name=old.name)
        self.handoffs[uri] = Handoff(uri, moved_to, event.author, spec, arrival, event.timestamp_ns)
        if self.node.owns(moved_to):
            self._to_adopt.append(uri)

    def _held_back(self, uri: str, names: set[str]) -> bool:
        """A new copy of a body handed over waits while the old copy is still in our world."""
        old_uri, since = self._moved_into[uri]
        old = self.remote.get(old_uri)
        present = old_uri in self.remote or (old is not None and old.local in names)
        if present and self.clock() - since < HOLD_BACK_S:
            return True
        del self._moved_into[uri]
        return False

    def _remote_adopted(self, event: SignedEvent, command: UserCommand, arrival: float) -> None:
        """(pump) A node adopted a body handed over: the hand-over is done; its new copy may have to
        wait for the old one to go (the two come on different chains)."""
        moved_from = command.params.get("moved_from")
        if command.target is None or not isinstance(moved_from, str):
            return
        if KrapitionURI.parse(command.target).authority != KrapitionURI.parse(event.uri).authority:
            return  # only the owner of the new URI may say it adopted
        self._moved_into[command.target] = (moved_from, arrival)
        self._moved_into = dict(list(self._moved_into.items())[-4096:])
        self.handoffs.pop(moved_from, None)

    def _adopt(self, world: World) -> None:
        """(pump) Bodies handed to us are spawned as ours; hand-overs no one adopted are recovered."""
        now = self.clock()
        snap = world.snapshot()
        names = set(snap.names)
        to_adopt, self._to_adopt = self._to_adopt, []
        offsets = {p.node_id: p.clock_offset_ms for p in self.node.peers()} if to_adopt else {}
        for old_uri in to_adopt:
            h = self.handoffs.get(old_uri)
            if h is None or old_uri in self.remote:
                continue  # adopted already, or its old owner took it back (a late catch-up)
            # the tombstone's age on our clock: its author's clock may run ahead or behind ours
            ahead_ns = (offsets.get(node_id_of(h.author)) or 0.0) * 1e6
            if abs(time.time_ns() - (h.timestamp_ns - ahead_ns)) > ADOPT_WINDOW_S * 1e9:
                log.info("session: a hand-over too old to adopt", extra={"uri": old_uri})
                continue  # its old owner takes it back, or did
            if not self._adopt_one(world, names, h, KrapitionURI.parse(h.new_uri).name):
                self._to_adopt.append(old_uri)  # its old copy is still going: the next pump
        if not self.handoffs:
            return
        own = self.node.public_key
        connected = {p.authority: p.node_id for p in self.node.peers()
                     if str(getattr(p.liveness, "value", p.liveness)) != "dead"}
        for old_uri, h in list(self.handoffs.items()):
            age = now - h.since
            if age > FORGET_S:
                del self.handoffs[old_uri]
                continue
            target = str(KrapitionURI.parse(h.new_uri).authority)
            if target == self.node.authority:
                continue  # ours to adopt (above)
            target_here = target in connected
            if h.author == own:
                if age > RECLAIM_S or (not target_here and age > TARGET_GONE_S):
                    self._reclaim(world, names, h)
                continue
            old_owner = str(KrapitionURI.parse(old_uri).authority)
            if old_owner in connected or target_here or age < ORPHAN_S:
                continue
            exclude = [node_id_of(h.author)]
            if orphan_adopter(self.node.node_id, connected.values(), exclude):
                name = KrapitionURI.parse(h.new_uri).name
                self._adopt_one(world, names, h, name)

    def _adopt_one(self, world: World, names: set[str], h: Handoff, wanted: str) -> bool:
        """Spawns the body of hand-over ``h`` as ours (once its old copy is gone from our world or
        its Delete is queued ahead), tells the session, and forgets the hand-over."""
        if h.old_uri in self.remote:
            return False
        old_local = local_name(KrapitionURI.parse(h.old_uri).name, h.author)
        if old_local in names and not self._dying.get(old_local, False):
            return False  # the old copy's Delete is not queued ahead yet
        taken = names | self._published | self._spawning
        name = unique_name(wanted, lambda n: n in taken or n in self._by_local)
        new_uri = self.node.uri_for(name)
        if not self._submit(world, Spawn(replace(h.spec, name=name))):
            return False
        self._spawning.add(name)
        self.handoffs.pop(h.old_uri, None)
        self._send(UserCommand(command=ADOPTED, target=new_uri, params={"moved_from": h.old_uri}))
        self.adopted += 1
        log.info("session: adopted a body", extra={"from": h.old_uri, "uri": new_uri})
        return True

    def _reclaim(self, world: World, names: set[str], h: Handoff) -> str | None:
        """Our body handed over was not adopted: it is ours again, at its old URI if its name is
        free (its old state; the new owner never had it)."""
        name = unique_name(KrapitionURI.parse(h.old_uri).name,
                           lambda n: n in names or n in self._published or n in self._by_local)
        if not self._submit(world, Spawn(replace(h.spec, name=name))):
            return None
        self._spawning.add(name)
        self.handoffs.pop(h.old_uri, None)
        self.reclaimed += 1
        self._notice(f"{name} was not adopted by {KrapitionURI.parse(h.new_uri).authority}: it is ours again")
        return name

    # ---- heartbeats: our load out, the peers' in --------------------------------------------------

    def load(self) -> float:
        """0..1: how busy this node is, for the peers' load balancing: the larger of the share of real
        time our physics steps take and our bodies against :data:`LOAD_CAPACITY_BODIES`."""
        world = self._world
        if world is None:
            return 0.0
        try:
            step = float(world.step_ms) / 1000.0 / float(world.sim.settings.dt)
        except (AttributeError, TypeError, ZeroDivisionError):
            step = 0.0
        owned = len(self._owned_rows)
        value = max(step, owned / LOAD_CAPACITY_BODIES)
        return min(1.0, max(0.0, value)) if value == value else 0.0

    def state_hashes(self) -> tuple[dict[str, bytes], int]:
        """Our per-owner state hash for heartbeats: the hash of the set of bodies on our chain, and the
        seq of the create/delete that made it so (the confirmed tick); nothing while that seq is not
        known (after a restart, until our next create or delete)."""
        hashes, seq = self._own_shape_at
        return (hashes, seq) if seq >= 0 else ({}, 0)

    def _own_shape_changed(self, event: SignedEvent) -> None:
        """(the node's thread) One of our creates/deletes is on our chain: our announced shape moves."""
        parsed = KrapitionURI.parse(event.uri)
        if (parsed.kind, parsed.collection) != ("physics", "objects"):
            return
        if isinstance(event.payload, ObjectCreated):
            self._own_shape.add(parsed.name)
        else:
            self._own_shape.discard(parsed.name)
        self._own_shape_at = ({self.node.public_key.hex(): bodies_hash(self._own_shape)}, event.seq)

    def _heartbeat_content(self) -> HeartbeatContent:
        """(the node's thread) What our heartbeats carry."""
        hashes, tick = self.state_hashes()
        return self.load(), hashes, tick, self._world is not None

    def _on_heartbeat(self, node_id: str, heartbeat: Heartbeat) -> None:
        """(the node's thread) A peer's heartbeat: its load (load balancing) and its own state hash
        (desync detection, checked at the next pump)."""
        self._peer_loads[node_id] = (float(heartbeat.load), bool(heartbeat.adopts))
        for author_hex, digest in heartbeat.state_hashes.items():
            try:
                if node_id_of(bytes.fromhex(author_hex)) != node_id:
                    continue  # a node speaks for its own bodies only
            except ValueError:
                continue
            self.desync.announced(author_hex, heartbeat.confirmed_tick, digest)

    def _check_desync(self, world: World) -> None:
        """(pump) Our copy of each owner's bodies against the shape it announced at the same seq; a
        copy that diverged is resynchronised from the replicated store."""
        if not self.desync.pending:
            return
        busy = {self.remote[u].author for u in self._dirty if u in self.remote}
        busy |= {self.remote[self._by_local[n]].author for n in self._spawning if n in self._by_local}
        now = self.clock()
        moving = any(now - since < HOLD_BACK_S for _uri, since in self._moved_into.values())
        if self._dying or self.handoffs or moving:
            return  # bodies in flight: wait for a quiet moment (the next heartbeat)
        in_world = set(world.snapshot().names)
        for author_hex in list(self.desync.pending):
            author = bytes.fromhex(author_hex)
            if author in busy:
                continue
            names = [KrapitionURI.parse(b.uri).name for b in self.remote.values()
                     if b.author == author and b.local in in_world]
            seq = self._shape_seq.get(author, -1)
            if not self._base_complete(author, seq):
                continue  # its snapshot is on its way: our copy is not complete yet, not diverged
            verdict = self.desync.check(author_hex, seq, names)
            if verdict is False:
                self._resync(author)

    def _base_complete(self, author: bytes, seq: int) -> bool:
        """Whether our copy of ``author``'s bodies can be compared at ``seq``: not while the node's
        replica starts after seq 0 with no snapshot reaching it (a late join gets the tail's
        creations before the checkpoint's snapshot) or while a snapshot waits for the next pump.
        Asked of the node only when a check is due (once a heartbeat)."""
        announced = self.desync.pending.get(author.hex())
        if announced is None or announced[0] != seq:
            return True

        def replica_complete() -> bool:  # (the node's thread) its events from seq 0, or a snapshot to them
            first = self.node.store.first_seq(author)
            if not first:
                return True
            held = self.node.store.snapshot(author)
            return held is not None and held.horizon_seq + 1 >= first

        try:
            complete = bool(self.node.submit(replica_complete).result(10.0))
        except Exception:
            log.exception("could not ask the node about the replica of %s", author.hex()[:16])
            return False
        # asked after the node's answer: a snapshot installed before it is queued by now
        return complete and self._snapshots.empty()

    def _resync(self, author: bytes) -> None:
        """Rebuilds our copy of ``author``'s bodies from the node's replicated store (the owner's
        chain as verified): missing bodies spawned, extra ones removed; logged and shown."""
        try:
            truth = self.node.submit(self._cached_bodies, author).result(10.0)
        except Exception:
            log.exception("resync of %s failed", author.hex()[:16])
            return
        ours = {uri for uri, body in self.remote.items() if body.author == author}
        for uri in sorted(ours - set(truth)):
            self._remote_deleted(uri)
        self._remote_created_many(author, [(u, spec) for u, spec in truth.items() if u not in self.remote])
        self._dirty.update(uri for uri in truth if uri in self.remote)  # respawned if our world lost it
        self.resyncs += 1
        log.warning("desync: resynchronised the bodies of %s", node_id_of(author)[:8],
                    extra={"author": author.hex(), "bodies": len(truth)})
        self._notice(f"the bodies of node {node_id_of(author)[:8]} were out of sync: resynchronised")

    def _cached_bodies(self, author: bytes) -> dict[str, BodySpec]:
        """(the node's thread) ``author``'s bodies as the store holds them: one query for all (10,000
        single reads took a second)."""
        return {uri: decode(value.data, BodySpec) for uri, value in self.node.store.cached(author).items()
                if value.kind == BODY}

    # ---- publishing ---------------------------------------------------------------------------

    def _peers(self) -> int:
        """How many peers get a copy of our chain (asked once a second)."""
        at, count = self._peer_count
        now = self.clock()
        if now - at > 1.0 or now < at:
            count = len(self.node.peers())
            self._peer_count = (now, count)
        return count

    def _publish(self, world: World) -> None:
        snap = world.snapshot()
        key = (snap.names, self._remote_version)
        if key != self._rows_key:  # per-body Python only when the bodies change
            self._rows_key = key
            if self._leaving:
                self._leaving &= set(snap.names)  # handed over: gone from our world at last
            leaving = self._leaving
            self._owned_rows = [i for i, n in enumerate(snap.names)
                                if not self.is_remote(n) and n not in leaving]
            self._owned_set = {snap.names[i] for i in self._owned_rows}
            counts = (len(snap.names), len(snap.names) - len(self._owned_rows))
            if counts != self._logged_counts:
                self._logged_counts = counts
                log.info("session world", extra={"bodies": counts[0], "remote_bodies": counts[1],
                                                 "authority": self.node.authority})
        owned_rows, owned = self._owned_rows, self._owned_set
        republish = self._republish_all
        self._republish_all = False
        if self._publish_failed:  # our chain missed a packet: peers' references are not ours
            self._publish_failed = False
            self.publisher.reset()
        node = self.node
        new = owned if republish else owned - self._published
        gone = sorted(self._published - owned)
        for name in gone:
            node.submit(node.delete_body, name).add_done_callback(_log_failure)
        self.publisher.retire(gone)
        for name in sorted(new):
            spec = body_from_snapshot(snap, name)
            node.submit(node.set_body, spec).add_done_callback(_log_failure)
        self._published = set(owned)
        self.stats.ticks += 1
        if not owned_rows:
            return
        rows = np.asarray(owned_rows)
        names = tuple(snap.names[i] for i in owned_rows)
        fresh = np.fromiter((n in new for n in names), dtype=bool, count=len(names)) if new else None
        out = self.publisher.tick(
            snap.time, names, snap.position[rows], snap.orientation[rows], snap.velocity[rows],
            snap.angular_velocity[rows], snap.static[rows], snap.sleeping[rows],
            snap.half_extents[rows].max(axis=1), gravity=tuple(world.sim.gravity), rate_hz=self.rate_hz,
            peers=self._peers(), fresh=fresh)
        stats = self.stats
        stats.naive_bytes += out.naive_bytes
        stats.bodies_sent += out.sent
        stats.bodies_due += out.due
        stats.rest_states += out.resting
        if not out.motion and not out.exact:
            return
        self._tick += 1
        stats.events += 1
        stats.motion_bytes += len(out.motion)
        stats.exact_states += len(out.exact)
        payload = ObjectMoved(tick=self._tick, bodies=out.exact, motion=out.motion)
        node.submit(publish_moved, node, payload).add_done_callback(self._published_motion)

    def _published_motion(self, future: Any) -> None:
        """(the node's thread) A motion event is on our chain, or it is not: then peers' references
        and ours part, and the publisher starts a new stream."""
        exc = future.exception()
        if exc is not None:
            self._publish_failed = True
            self.stats.publish_failures += 1
            log.warning("session: the node refused our motion: %s", exc)
            return
        event = future.result()
        raw = getattr(event, "raw", None)
        if raw is not None:
            with self._stats_lock:
                self.stats.event_bytes += len(raw)


def _object_uri(authority: Any, name: str) -> str:
    return str(KrapitionURI.build(authority, "physics", "objects", name))


def _last_of_each(values: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of each value, in order."""
    return np.sort(len(values) - 1 - np.unique(values[::-1], return_index=True)[1])


def publish_moved(node: Node, payload: ObjectMoved) -> SignedEvent:
    """(the node's thread) ``node.publish_motion`` for a whole ``ObjectMoved`` (with its packed
    motion): appends it to our chain, which signs, stores and sends it."""
    assert node.ledger is not None
    return node.ledger.append(node.ledger.node_uri, payload)


def _write_tombstone(node: Node, uri: str, spec: BodySpec, moved_to: str) -> SignedEvent:
    """(the node's thread) A body handed over: its exact last state, then its tombstone pointing to
    its new URI, one after the other on our chain."""
    assert node.ledger is not None
    node.apply_local(uri, spec)
    return node.ledger.append(uri, ObjectDeleted(reason=HANDED_OVER, moved_to=moved_to))


def _log_failure(future: Any) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("session: the node refused a change: %s", exc)
