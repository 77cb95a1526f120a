"""The ledger's side of snapshots: a replica started from a checkpoint knows what it lacks, the
snapshot any full replica makes hashes to what the checkpoint signed, and only that one installs."""

from __future__ import annotations

import pytest

from krapition_app.model.encoding import encode
from krapition_app.model.events import BodyState as Moved
from krapition_app.model.events import ObjectCreated, ObjectMoved
from krapition_app.p2p.ledger import RetentionPolicy
from krapition_app.p2p.testing import ball
from krapition_app.store import InvalidSnapshotError, Projection, Value
from krapition_app.store.projection import verify_snapshot

from .conftest import LedgerFactory


def test_snapshot_matches_the_signed_state_hash_and_installs_on_a_late_replica(
        make_ledger: LedgerFactory) -> None:
    a = make_ledger("a", retention=RetentionPolicy(max_events=10))
    uri = lambda name: f"krapition://a.local:9000/physics/objects/{name}"  # noqa: E731
    for i in range(4):
        a.append(uri(f"ball-{i}"), ObjectCreated(body=ball(f"ball-{i}", x=float(i))))
    for i in range(12):  # pushes the balls behind the horizon
        a.append(uri("churn"), ObjectCreated(body=ball("churn", x=float(i))))
    checkpoint = a.compact()
    assert checkpoint is not None
    horizon = checkpoint.payload.horizon_seq  # type: ignore[union-attr]
    a.append(a.node_uri, ObjectMoved(tick=1, bodies=(Moved(name="ball-1", position=(3.0, 3.0, 1.0)),)))
    # the author's own snapshot, and what a full replica derives, hash to the signed state hash
    data = a.snapshot_at(a.author, horizon)
    assert data is not None
    assert data == a.store.snapshot(a.author).state  # type: ignore[union-attr]
    verify_snapshot(data, checkpoint.payload.state_hash)  # type: ignore[union-attr]
    assert a.snapshot_at(a.author, horizon - 1) is None  # cut: no longer derivable here
    assert a.snapshot_at(a.author, horizon + 1) is None  # derivable, but no checkpoint names it

    b = make_ledger("b")
    tail = [raw for raw in a.store.raw_events(a.author) if raw != checkpoint.raw]
    result = b.receive_many([checkpoint.raw, *tail])
    assert not result.rejected
    assert b.missing_base(a.author) == checkpoint
    assert b.missing_base(b.author) is None
    assert sorted(b.store.cached(a.author)) == [uri("churn")]  # the balls behind the cut are unknown

    forged = Projection.from_snapshot(data)
    forged.values[uri("ball-0")] = Value("body", encode(ball("ball-0", x=-1.0)))
    with pytest.raises(InvalidSnapshotError) as caught:
        b.install_snapshot(checkpoint, forged.snapshot())
    assert caught.value.code == "hash-mismatch"
    assert b.store.snapshot(a.author) is None and b.missing_base(a.author) == checkpoint

    projection = b.install_snapshot(checkpoint, data)
    assert projection is not None
    assert b.store.cached(a.author) == a.store.objects()
    assert projection.state_hash() == a.replay().state_hash()
    assert b.missing_base(a.author) is None
    assert b.install_snapshot(checkpoint, data) is None  # held already
    # and B serves it on: a relay makes the same bytes
    assert b.snapshot_at(a.author, horizon) == data
    assert b.replay(a.author).state_hash() == a.replay().state_hash()
