"""Snapshot bytes (the projection at a checkpoint's horizon): canonical, order-independent, checked
against the signed state hash; anything else is refused with InvalidSnapshotError."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krapition_app.model.encoding import encode
from krapition_app.store import InvalidSnapshotError, Projection, Value
from krapition_app.store.projection import encode_snapshot, state_hash, verify_snapshot

AUTHORITY = "10.0.0.1:9000"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda n: n[0].isalnum())
uris = st.builds(lambda kind, name: f"krapition://{AUTHORITY}/physics/{kind}/{name}",
                 st.sampled_from(["objects", "constraints"]), names)
values = st.builds(Value, st.sampled_from(["body", "constraint"]), st.binary(max_size=64))
#: uri -> (value, seq of the event that set it)
states = st.dictionaries(uris, st.tuples(values, st.integers(min_value=0, max_value=10_000)), max_size=30)


def projection_of(state: dict[str, tuple[Value, int]], order: list[str]) -> Projection:
    return Projection({u: state[u][0] for u in order}, {u: state[u][1] for u in order})


@given(states, st.randoms(use_true_random=False))
def test_snapshot_round_trips_and_is_canonical(state: dict[str, tuple[Value, int]],
                                               rnd: random.Random) -> None:
    order = list(state)
    shuffled = order[:]
    rnd.shuffle(shuffled)
    first, second = projection_of(state, order), projection_of(state, shuffled)
    # the insertion order does not matter: one byte string, one hash per state
    assert first.snapshot() == second.snapshot()
    assert first.state_hash() == second.state_hash()
    assert state_hash([(u, v) for u, (v, _) in reversed(list(state.items()))]) == first.state_hash()
    data = first.snapshot()
    assert data == encode_snapshot((u, v, s) for u, (v, s) in state.items())
    back = Projection.from_snapshot(data)
    assert back.values == first.values and back.seqs == first.seqs
    checked = verify_snapshot(data, first.state_hash(), max_seq=10_000)
    assert checked.values == first.values and checked.seqs == first.seqs
    assert checked.snapshot() == data


@given(states)
def test_the_hash_covers_the_values_not_the_seqs(state: dict[str, tuple[Value, int]]) -> None:
    projection = projection_of(state, list(state))
    other = Projection(projection.values, {u: s + 1 for u, s in projection.seqs.items()})
    assert other.state_hash() == projection.state_hash()  # what a checkpoint signs: values only
    assert other.snapshot() != projection.snapshot() or not state


@given(states.filter(bool), st.data())
def test_one_changed_value_is_a_hash_mismatch(state: dict[str, tuple[Value, int]],
                                              data: st.DataObject) -> None:
    projection = projection_of(state, list(state))
    signed = projection.state_hash()
    uri = data.draw(st.sampled_from(sorted(state)))
    value = projection.values[uri]
    projection.values[uri] = Value(value.kind, value.data + b"!")
    with pytest.raises(InvalidSnapshotError) as caught:
        verify_snapshot(projection.snapshot(), signed)
    assert caught.value.code == "hash-mismatch"


@given(st.binary(max_size=200))
def test_garbage_is_refused_as_an_invalid_snapshot(data: bytes) -> None:
    try:
        projection = verify_snapshot(data, bytes(32))
    except InvalidSnapshotError:
        return
    # bytes that happen to be a valid snapshot must still match the (impossible) hash
    raise AssertionError(f"accepted {projection.values!r}")


def test_non_canonical_rows_are_refused() -> None:
    a, b = f"krapition://{AUTHORITY}/physics/objects/a", f"krapition://{AUTHORITY}/physics/objects/b"
    body = Value("body", b"x")
    good = Projection({a: body, b: body}, {a: 1, b: 2})
    signed = good.state_hash()
    unsorted = encode([[b, "body", b"x", 2], [a, "body", b"x", 1]])
    duplicated = encode([[a, "body", b"x", 1], [a, "body", b"x", 1], [b, "body", b"x", 2]])
    for data in (unsorted, duplicated):
        with pytest.raises(InvalidSnapshotError) as caught:
            verify_snapshot(data, signed)
        assert caught.value.code == "not-canonical"
    with pytest.raises(InvalidSnapshotError, match="past its horizon"):
        verify_snapshot(good.snapshot(), signed, max_seq=1)
    with pytest.raises(InvalidSnapshotError, match="unknown kind"):
        verify_snapshot(encode([[a, "sound", b"x", 1]]), signed)
    with pytest.raises(InvalidSnapshotError, match="not under"):
        verify_snapshot(good.snapshot(), signed, authority_of=lambda u: u.split("/")[2], authority="x:1")
    assert verify_snapshot(good.snapshot(), signed, authority_of=lambda u: u.split("/")[2],
                           authority=AUTHORITY, max_seq=2) == good
