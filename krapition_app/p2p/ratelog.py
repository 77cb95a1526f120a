"""Logging for lines a peer can cause, so a hostile peer cannot fill the disk (as python-zeroconf's
``QuietLogger``): the first line of each kind (per reason and address) is logged at its level, the
following ones at DEBUG; the memory of kinds is capped; and a token bucket caps all such lines
together, counting what it drops and saying so when it logs again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from .limits import TokenBucket


class PeerLogger:
    def __init__(self, logger: logging.Logger, *, max_kinds: int = 256, lines_per_s: float = 2.0,
                 burst: float = 20.0) -> None:
        self.logger = logger
        self.max_kinds = max_kinds
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._bucket = TokenBucket(lines_per_s, burst, time.monotonic())
        self.suppressed = 0

    def log(self, level: int, key: tuple[str, str], msg: str, *args: object, exc_info: bool = False) -> None:
        """Logs ``msg % args`` for the kind ``key`` (reason code, address): once loudly, then quietly."""
        count = self._seen.get(key)
        if count is None:
            self._seen[key] = 1
            if len(self._seen) > self.max_kinds:
                self._seen.popitem(last=False)
        else:
            self._seen[key] = count + 1
            self._seen.move_to_end(key)
            level = logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        if not self._bucket.try_take(time.monotonic()):
            self.suppressed += 1
            return
        if self.suppressed:
            msg = msg + " (%d similar lines suppressed)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.log(level, msg, *args, exc_info=exc_info)


def clip(text: object, limit: int = 120) -> str:
    """A peer-supplied value made safe for one log line: repr'd (no newlines) and cut short."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."
