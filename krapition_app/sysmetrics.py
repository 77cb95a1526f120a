"""CPU and memory of this process (psutil), for the metrics dashboard and, later, /metrics."""

from __future__ import annotations

import psutil


class ProcessMetrics:
    """Samples this process. ``cpu_percent`` is over the time since the previous sample, in % of
    one core (so two busy threads read 200 %)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement

    def sample(self) -> dict[str, float]:
        return {
            "cpu_percent": self._process.cpu_percent(None),
            "memory_mb": self._process.memory_info().rss / 2**20,
        }
