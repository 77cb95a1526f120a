"""The clock the chain reads, injected everywhere so tests (and replays) control time.

A clock is any ``Callable[[], int]`` returning nanoseconds since the Unix epoch. Pure code never
calls it; it takes ``now_ns`` as an argument instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def system_clock() -> int:
    return time.time_ns()


class MockClock:
    """A clock that moves only when told to (as Trio's ``MockClock``)."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a mock clock never goes back")
        self.now_ns += int(seconds * 1e9)
