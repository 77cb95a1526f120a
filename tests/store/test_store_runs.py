"""Runs of events in one row (schema v4): the row bytes round-trip, runs split where they must,
reads and compaction see single events, a stored event is never replaced, and a version 3 file
keeps every event and checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_files import bind_author, old_version_file

from krapition_app.model.events import ChainCheckpoint, ObjectCreated
from krapition_app.p2p.testing import ball, build_chain, node_uri, object_uri, seeded_identity, start_payload
from krapition_app.store import DB_FILE_NAME, EventRow, Snapshot, Store, StoreIntegrityError
from krapition_app.store.runs import RUN_MAX, consecutive, key_of, pack, runs, unpack
from krapition_app.store.schema import SCHEMA_VERSION

ID, PEER = seeded_identity("runs-own"), seeded_identity("runs-peer")
AUTH, PEER_AUTH = "runs.local:9000", "runs-peer.local:9000"


@given(st.lists(st.binary(max_size=300), max_size=80))
def test_row_bytes_round_trip(raws: list[bytes]) -> None:
    assert unpack(pack(raws)) == raws


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=10), st.data())
def test_damaged_row_bytes_are_refused_not_misread(raws: list[bytes], data: st.DataObject) -> None:
    blob = pack(raws)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(ValueError):
        unpack(blob[:cut])
    with pytest.raises(ValueError):
        unpack(blob + b"\x00")


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 200)), max_size=300))
def test_runs_hold_consecutive_seqs_of_one_chain_and_lose_nothing(events: list[tuple[int, int]]) -> None:
    items = [(chain, seq, f"{chain}:{seq}:{i}".encode()) for i, (chain, seq) in enumerate(events)]
    out = list(runs(items))
    back = []
    for key, n, blob in out:
        chunk = unpack(blob)
        assert len(chunk) == n and 1 <= n <= RUN_MAX
        chain, first = key >> 40, key & ((1 << 40) - 1)
        back += [(chain, first + i, raw) for i, raw in enumerate(chunk)]
    assert back == items  # in order, each event exactly once, at its own chain and seq


def test_consecutive_is_runs_of_one_chain() -> None:
    raws = [bytes([i]) * (i + 1) for i in range(150)]
    assert consecutive(2, 7, raws) == list(runs((2, 7 + i, raw) for i, raw in enumerate(raws)))
    assert [n for _, n, _ in consecutive(2, 7, raws)] == [64, 64, 22]
    assert consecutive(2, 7, raws)[1][0] == key_of(2, 7 + 64)


def _rows(identity, authority: str, n: int, first_seq: int = 0, prev: bytes | None = None) -> list:  # type: ignore[no-untyped-def]
    items: list = [] if first_seq else [(node_uri(identity, authority), start_payload(authority))]
    items += [(object_uri(authority, f"b{first_seq + i}"), ObjectCreated(body=ball(f"b{first_seq + i}")))
              for i in range(n)]
    kwargs = {} if not first_seq else {"first_seq": first_seq, "prev": prev}
    return [(EventRow(e.id, e.author, e.seq, e.prev, e.timestamp_ns, str(e.type), e.uri, e.raw), e.envelope)
            for e in build_chain(identity, authority, items, **kwargs)]


def test_reads_and_compaction_see_single_events_across_runs(tmp_path: Path) -> None:
    rows = _rows(ID, AUTH, 199)  # 200 events: rows of 64, 64, 64, 8
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        store.append(rows, own=True, new_authors={ID.public_key: AUTH})
        sizes = store.conn.execute("SELECT n FROM events ORDER BY key").fetchall()
        assert sizes == [(64,), (64,), (64,), (8,)]
        assert store.count_events(ID.public_key) == 200
        assert list(store.raw_events(ID.public_key, 60, 70)) == [r.raw for r, _ in rows[60:71]]
        assert store.event_id_at(ID.public_key, 130) == rows[130][0].id
        assert store.event_rows(ID.public_key) == [r for r, _ in rows]
        # the horizon falls inside the second run: it keeps the events after it, under a new key
        horizon = 100
        dropped = store.compact(ID.public_key, Snapshot(horizon, rows[horizon][0].id, b"state", bytes(32)),
                                rows[horizon][0].id)
        assert dropped == 101
        assert store.first_seq(ID.public_key) == 101 and store.count_events(ID.public_key) == 99
        assert list(store.raw_events(ID.public_key)) == [r.raw for r, _ in rows[101:]]
        assert store.integrity_check() == "ok"


def test_a_stored_event_is_never_replaced_even_inside_a_run(tmp_path: Path) -> None:
    rows = _rows(PEER, PEER_AUTH, 99)
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        store.append(rows[:80], own=False, new_authors={PEER.public_key: PEER_AUTH})
        for again in (rows[30:31], rows[70:90], rows[79:81]):  # inside the first run, across, at the end
            with pytest.raises(StoreIntegrityError, match="already stored"):
                store.append(again, own=False)
        with pytest.raises(StoreIntegrityError, match="already stored"):
            store.append(rows[85:87] + rows[86:88], own=False)  # two new runs that overlap
        assert store.event_rows(PEER.public_key) == [r for r, _ in rows[:80]]
        store.append(rows[80:], own=False)
        assert store.count_events(PEER.public_key) == 100


def test_a_chain_with_a_hole_reads_around_it(tmp_path: Path) -> None:
    rows = _rows(PEER, PEER_AUTH, 149)
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        store.append(rows[100:], own=False, new_authors={PEER.public_key: PEER_AUTH})  # a late joiner
        store.append(rows[:10], own=False)
        assert [r.seq for r in store.event_rows(PEER.public_key)] == [*range(10), *range(100, 150)]
        expected = [r.raw for r, _ in [*rows[5:10], *rows[100:121]]]
        assert list(store.raw_events(PEER.public_key, 5, 120)) == expected
        assert store.event_id_at(PEER.public_key, 50) is None


def test_checkpoints_are_found_by_type_newest_first(tmp_path: Path) -> None:
    rows = _rows(ID, AUTH, 70)
    head = rows[-1][0]
    checkpoint = build_chain(ID, AUTH, [(f"krapition://{AUTH}/system/checkpoints/c", ChainCheckpoint(
        horizon_seq=50, horizon_id=rows[50][0].id, state_hash=bytes(32), authority=AUTH))],
        first_seq=head.seq + 1, prev=head.id)[0]
    more = _rows(ID, AUTH, 3, first_seq=checkpoint.seq + 1, prev=checkpoint.id)
    cp_row = (EventRow(checkpoint.id, checkpoint.author, checkpoint.seq, checkpoint.envelope.prev,
                       checkpoint.envelope.timestamp_ns, str(checkpoint.type), checkpoint.envelope.uri,
                       checkpoint.raw), checkpoint.envelope)
    with Store.open(tmp_path / DB_FILE_NAME) as store:
        store.append([*rows, cp_row, *more], own=True, new_authors={ID.public_key: AUTH})
        assert list(store.raw_events_of_type(ID.public_key, "ChainCheckpoint")) == [checkpoint.raw]
        created = list(store.raw_events_of_type(ID.public_key, "ObjectCreated", newest_first=False))
        assert created == [r.raw for r, _ in rows[1:]] + [r.raw for r, _ in more]


def test_a_version_3_database_keeps_every_event_and_checkpoint_in_runs(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE_NAME
    conn = old_version_file(path, 3)
    own, peer = _rows(ID, AUTH, 140), _rows(PEER, PEER_AUTH, 5)
    for chain, (author, authority, rows) in enumerate(((PEER.public_key, PEER_AUTH, peer),
                                                       (ID.public_key, AUTH, own)), start=1):
        bind_author(conn, author, authority, rows, own=author == ID.public_key, chain=chain)
        conn.executemany("INSERT INTO events(chain, seq, id, type, raw) VALUES (?, ?, ?, ?, ?)",
                         [(chain, r.seq, r.id, "ChainCheckpoint" if r.seq == 3 else r.type, r.raw)
                          for r, _ in rows])
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
        assert store.event_rows(ID.public_key) == [r for r, _ in own]
        assert store.event_rows(PEER.public_key) == [r for r, _ in peer]
        sizes = store.conn.execute("SELECT n FROM events ORDER BY key").fetchall()
        assert sizes == [(6,), (64,), (64,), (13,)]
        assert store.conn.execute("SELECT key FROM checkpoints ORDER BY key").fetchall() == [
            (key_of(1, 3),), (key_of(2, 3),)]
        assert store.integrity_check() == "ok"
