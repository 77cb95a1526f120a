"""Hypothesis stateful test: appends, cleanups, replication, restarts and replays on three nodes
keep every invariant of the chain, the store and the projection."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from krapition_app.model.events import BodyState, ObjectDeleted, ObjectMoved
from krapition_app.p2p.chain import ZERO_HASH, decode_trusted
from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.data import DataManager
from krapition_app.p2p.errors import DataNotFoundError, DuplicateEventError
from krapition_app.p2p.ledger import EventLedger, RetentionPolicy
from krapition_app.p2p.testing import ball, object_uri, seeded_identity
from krapition_app.store import Store

NODES = ("a", "b", "c")
NAMES = ("n0", "n1", "n2", "n3")
node = st.sampled_from(NODES)


class ChainMachine(RuleBasedStateMachine):
    @initialize()
    def open_nodes(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="krapition-stateful-"))
        self.clock = MockClock()
        self.ledgers: dict[str, EventLedger] = {}
        for name in NODES:
            self._open(name)
            self.ledgers[name].start(name)

    def _open(self, name: str) -> None:
        store = Store.open(self.folder / f"{name}.sqlite3")
        self.ledgers[name] = EventLedger(store, seeded_identity(f"stateful-{name}"), f"{name}.local:9000",
                                         clock=self.clock, retention=RetentionPolicy(max_events=4))

    def teardown(self) -> None:
        for ledger in getattr(self, "ledgers", {}).values():
            ledger.store.close()
        if hasattr(self, "folder"):
            shutil.rmtree(self.folder, ignore_errors=True)

    @rule(who=node, name=st.sampled_from(NAMES), x=st.floats(-5, 5, allow_nan=False))
    def set_value(self, who: str, name: str, x: float) -> None:
        ledger = self.ledgers[who]
        DataManager(ledger).set_data(object_uri(ledger.authority, name), ball(name, x=x))
        self.clock.advance(0.001)

    @rule(who=node, name=st.sampled_from(NAMES))
    def delete_value(self, who: str, name: str) -> None:
        ledger = self.ledgers[who]
        with contextlib.suppress(DataNotFoundError):
            DataManager(ledger).delete_data(object_uri(ledger.authority, name))

    @rule(who=node, names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
          z=st.floats(0, 3, allow_nan=False))
    def move(self, who: str, names: list[str], z: float) -> None:
        ledger = self.ledgers[who]
        bodies = tuple(BodyState(name=n, position=(0.0, 0.0, z)) for n in names)
        ledger.append_many([(ledger.node_uri, ObjectMoved(tick=ledger.next_seq, bodies=bodies)),
                            (object_uri(ledger.authority, "gone"), ObjectDeleted())])

    @rule(who=node)
    def cleanup(self, who: str) -> None:
        self.ledgers[who].compact()

    @rule(who=node)
    def cleanup_in_sync(self, who: str) -> None:
        """Peers hold the whole chain when the owner cuts it: they follow its checkpoint."""
        for other in NODES:
            self.replicate(who, other)
        self.ledgers[who].compact()
        for other in NODES:
            self.replicate(who, other)

    @rule(src=node, dst=node)
    def replicate(self, src: str, dst: str) -> None:
        if src == dst:
            return
        source, target = self.ledgers[src], self.ledgers[dst]
        known = target.state.author(source.author)
        start = 0 if known is None else known.next_seq
        snapshot = source.store.snapshot(source.author)
        if snapshot is not None and start <= snapshot.horizon_seq:
            return  # behind the source's horizon: a snapshot transfer (a later issue) is needed
        raws = list(source.store.raw_events(source.author, max(0, start - 2)))  # with two resends
        result = target.receive_many(raws)
        assert all(isinstance(err, DuplicateEventError) for _, err in result.rejected), result.rejected

    @precondition(lambda self: hasattr(self, "ledgers"))
    @rule(who=node)
    def restart(self, who: str) -> None:
        self.ledgers[who].store.close()
        self._open(who)

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def chains_link_and_streams_match_the_store(self) -> None:
        for ledger in self.ledgers.values():
            for row in ledger.store.authors():
                events = ledger.store.event_rows(row.author)
                snapshot = ledger.store.snapshot(row.author)
                prev = ZERO_HASH if snapshot is None else snapshot.horizon_id
                first = 0 if snapshot is None else snapshot.horizon_seq + 1
                assert [e.seq for e in events] == list(range(first, first + len(events)))
                for e in events:
                    event = decode_trusted(e.raw)
                    assert event.prev == prev and event.id == e.id
                    prev = e.id
                assert events[-1].id == row.head_id and events[-1].seq == row.head_seq
                stream = ledger.processor.stream(row.author)
                assert [e.id for e in stream] == [e.id for e in events]
                assert stream.head == row.head_id and stream.tail == events[0].id
                if stream.tail is not None:
                    assert stream.node(stream.tail).previous_node_id is None
                state = ledger.state.author(row.author)
                assert state is not None
                assert state.next_seq == row.head_seq + 1 and state.head_id == row.head_id

    @invariant()
    def projection_equals_replay(self) -> None:
        for ledger in self.ledgers.values():
            for row in ledger.store.authors():
                assert ledger.replay(row.author).values == ledger.stored_projection(row.author)

    @invariant()
    def caught_up_replicas_equal_the_owner(self) -> None:
        for source in self.ledgers.values():
            for target in self.ledgers.values():
                known = target.state.author(source.author)
                if target is source or known is None or known.head_id != source.state.author(
                        source.author).head_id:  # type: ignore[union-attr]
                    continue
                assert target.store.cached(source.author) == source.store.objects()

    @invariant()
    def retention_is_kept_after_cleanup(self) -> None:
        for ledger in self.ledgers.values():
            stream = ledger.processor.stream(ledger.author)
            if stream.checkpoint is not None and stream.retention_horizon(self.clock()) is None:
                assert len(stream) <= ledger.retention.max_events


TestChainMachine = ChainMachine.TestCase
TestChainMachine.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
