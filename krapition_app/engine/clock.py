"""The simulation clock: real time that can be paused, slowed down and stepped.

The World reads time from a clock and runs as many fixed steps as that time covers, so pausing
the clock pauses the world, a rate of 0.25 plays it in slow motion, and advancing a paused clock
by one step's duration runs exactly one step. Thread-safe: the GUI sets it, the simulation reads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SimulationClock:
    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._sim = 0.0
        self._last = source()
        self._rate = 1.0
        self._paused = False

    def __call__(self) -> float:
        """Simulated seconds since the clock was made."""
        with self._lock:
            self._catch_up()
            return self._sim

    def _catch_up(self) -> None:
        now = self._source()
        if not self._paused:
            self._sim += (now - self._last) * self._rate
        self._last = now

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def rate(self) -> float:
        return self._rate

    def pause(self) -> None:
        with self._lock:
            self._catch_up()
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._catch_up()
            self._paused = False

    def set_rate(self, rate: float) -> None:
        """1.0 is real time; 0.25 is slow motion. Rates outside (0, 4] are refused."""
        if not 0.0 < rate <= 4.0:
            raise ValueError(f"the simulation rate must be in (0, 4], got {rate!r}")
        with self._lock:
            self._catch_up()
            self._rate = float(rate)

    def advance(self, seconds: float) -> None:
        """Moves simulated time on by ``seconds`` (single-stepping while paused)."""
        if not seconds >= 0.0:
            raise ValueError(f"cannot advance by {seconds!r} seconds")
        with self._lock:
            self._catch_up()
            self._sim += seconds
