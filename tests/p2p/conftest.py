from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from krapition_app.p2p.clock import MockClock
from krapition_app.p2p.ledger import EventLedger, RetentionPolicy
from krapition_app.p2p.testing import seeded_identity
from krapition_app.paths import AppPaths
from krapition_app.store import Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppPaths:
    monkeypatch.setenv("KRAPITION_HOME", str(tmp_path / "home"))
    return AppPaths.default()


@pytest.fixture
def clock() -> MockClock:
    return MockClock()


LedgerFactory = Callable[..., EventLedger]


@pytest.fixture
def make_ledger(tmp_path: Path, clock: MockClock) -> Iterator[LedgerFactory]:
    """``make_ledger("a")``: a started ledger of node ``a`` at ``a.local:9000`` in its own file."""
    opened: list[Store] = []

    def make(name: str, *, start: bool = True, retention: RetentionPolicy | None = None,
             authority: str | None = None) -> EventLedger:
        store = Store.open(tmp_path / f"{name}.sqlite3")
        opened.append(store)
        ledger = EventLedger(store, seeded_identity(name), authority or f"{name}.local:9000", clock=clock,
                             retention=retention)
        if start and ledger.next_seq == 0:
            ledger.start(name)
        return ledger

    yield make
    for store in opened:
        store.close()
