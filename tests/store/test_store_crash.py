"""Crash safety: a child appending events is killed with SIGKILL at random points, 50 times.

After each kill the database passes ``PRAGMA integrity_check``, every append that returned (the
child reported it) is stored, the chain links verify, and a sequence number never names two
different events. Forking (rather than starting a new interpreter) keeps the 50 rounds fast.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from krapition_app.model.events import ObjectCreated
from krapition_app.p2p.chain import ZERO_HASH, decode_trusted
from krapition_app.p2p.ledger import EventLedger
from krapition_app.p2p.testing import ball, object_uri, seeded_identity
from krapition_app.store import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")

AUTHORITY = "crash.local:9000"
ROUNDS = 50


def _child(path: Path, out: int, seed: int) -> None:
    rng = random.Random(seed)
    ledger = EventLedger(Store.open(path), seeded_identity("crash"), AUTHORITY, clock=time.time_ns)
    if ledger.next_seq == 0:
        event = ledger.start()
        os.write(out, f"{event.seq}:{event.id.hex()}\n".encode())
    while True:
        names = [f"b{rng.randrange(50)}" for _ in range(rng.randint(1, 6))]
        events = ledger.append_many([(object_uri(AUTHORITY, n), ObjectCreated(body=ball(n, x=rng.random())))
                                     for n in names])
        os.write(out, "".join(f"{e.seq}:{e.id.hex()}\n" for e in events).encode())


def _run_and_kill(path: Path, rng: random.Random) -> list[tuple[int, str]]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(read_fd)
        try:
            _child(path, write_fd, rng.randrange(2**32))
        finally:
            os._exit(1)
    os.close(write_fd)
    wanted = rng.randint(1, 12)
    buffer = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while buffer.count(b"\n") < wanted:
            chunk = pipe.read(4096)
            if not chunk:
                break
            buffer += chunk
        time.sleep(rng.random() * 0.004)  # land the kill anywhere in the next transaction
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        while chunk := pipe.read(4096):  # lines written before the kill were acknowledged too
            buffer += chunk
    acked = []
    for line in buffer.decode().splitlines():
        seq, hexid = line.split(":")
        acked.append((int(seq), hexid))
    return acked


def test_sigkill_50_times(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    rng = random.Random(20260601)
    known: dict[int, str] = {}
    author = seeded_identity("crash").public_key
    for _ in range(ROUNDS):
        acked = _run_and_kill(path, rng)
        for seq, hexid in acked:
            assert known.setdefault(seq, hexid) == hexid, f"seq {seq} was reused for another event"
        with Store.open(path) as store:
            assert store.integrity_check() == "ok"
            rows = store.event_rows(author)
            assert [r.seq for r in rows] == list(range(len(rows)))
            stored = {r.seq: r.id.hex() for r in rows}
            for seq, hexid in known.items():
                assert stored.get(seq) == hexid, f"acknowledged seq {seq} is missing or changed"
            prev = ZERO_HASH
            for r in rows:
                event = decode_trusted(r.raw)
                assert event.id == r.id and event.prev == prev
                prev = r.id
            head = store.author(author)
            assert head is not None and head.head_seq == len(rows) - 1
            # events stored but not acknowledged (killed between commit and report) keep their seq
            for seq, hexid in stored.items():
                known.setdefault(seq, hexid)
    assert len(known) > ROUNDS
