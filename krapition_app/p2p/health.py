"""Failure detection: the phi-accrual detector (Hayashibara et al., as Akka and Cassandra use it),
round-trip time statistics and the peer's clock offset.

Pure and clock-free: ``now`` is passed in (seconds on any monotonic origin). ``phi`` measures how
unlikely the current silence is given the heartbeat intervals seen so far: ``phi = -log10(P(a
heartbeat arrives later than now))``, the intervals modelled as a normal distribution (with a floor
on its deviation and an acceptable pause added to its mean, as Akka does). ``phi = 1`` means a 10 %
chance of a false suspicion, ``phi = 8`` one in 10^8. A hard ``max_silence_s`` bounds the time to
"dead" whatever the history.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass


class Liveness(enum.StrEnum):
    ALIVE = "alive"
    SUSPECT = "suspect"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    heartbeat_interval_s: float = 1.0
    suspect_phi: float = 3.0
    dead_phi: float = 8.0
    min_std_s: float = 0.3
    acceptable_pause_s: float = 1.0
    window: int = 100
    #: silence after which a peer is dead whatever phi says (after long pauses the learned
    #: distribution is wide, and phi alone would wait longer)
    max_silence_s: float = 4.5


class PhiAccrualDetector:
    def __init__(self, config: DetectorConfig | None = None, now: float | None = None) -> None:
        self.config = config or DetectorConfig()
        self._intervals: deque[float] = deque(maxlen=self.config.window)
        # start with the expected interval so a peer that never beats still goes suspect and dead
        first = self.config.heartbeat_interval_s
        self._intervals.extend((first, first))
        self._sum = 2 * first
        self._sum_sq = 2 * first * first
        self.last: float | None = now

    def heartbeat(self, now: float) -> None:
        if self.last is not None:
            interval = max(0.0, now - self.last)
            if len(self._intervals) == self._intervals.maxlen:
                old = self._intervals[0]
                self._sum -= old
                self._sum_sq -= old * old
            self._intervals.append(interval)
            self._sum += interval
            self._sum_sq += interval * interval
        self.last = now

    @property
    def mean(self) -> float:
        return self._sum / len(self._intervals)

    @property
    def std(self) -> float:
        n = len(self._intervals)
        var = max(0.0, self._sum_sq / n - self.mean**2)
        return max(math.sqrt(var), self.config.min_std_s)

    def phi(self, now: float) -> float:
        if self.last is None:
            return 0.0
        elapsed = now - self.last
        mean = self.mean + self.config.acceptable_pause_s
        y = (elapsed - mean) / self.std
        # logistic approximation of the normal tail (as Akka): P(later) = 1 / (1 + exp(x))
        x = y * (1.5976 + 0.070566 * y * y)
        if x < -30:
            return 0.0
        if x > 50:  # log10(1 + e^x) without overflow
            return x / math.log(10)
        return math.log10(1.0 + math.exp(x))

    def liveness(self, now: float) -> Liveness:
        phi = self.phi(now)
        silent_s = now - self.last if self.last is not None else 0.0
        if phi >= self.config.dead_phi or silent_s >= self.config.max_silence_s:
            return Liveness.DEAD
        if phi >= self.config.suspect_phi:
            return Liveness.SUSPECT
        return Liveness.ALIVE


class RttStats:
    """The newest round-trip times of one peer (seconds), bounded."""

    def __init__(self, window: int = 512) -> None:
        self.samples: deque[float] = deque(maxlen=window)

    def add(self, rtt_s: float) -> None:
        if rtt_s >= 0:
            self.samples.append(rtt_s)

    @property
    def last(self) -> float | None:
        return self.samples[-1] if self.samples else None

    def quantile(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[index]

    @property
    def median(self) -> float | None:
        return self.quantile(0.5)


class ClockOffset:
    """How far a peer's wall clock is ahead of ours (ns; negative: behind), from heartbeat round
    trips as NTP does: the peer stamped its answer at about the middle of the round trip, and the
    sample with the shortest round trip of the newest ``window`` is the best one (queueing delay
    only ever adds error). Each sample bounds the true offset to within half its round trip; a new
    sample whose bounds miss the best one's means a clock was set (a step, not noise): the older
    samples are dropped."""

    #: slack on the bounds (ns): timestamps are taken a little apart from the wire
    SLACK_NS = 1_000_000

    def __init__(self, window: int = 32) -> None:
        self.samples: deque[tuple[float, int]] = deque(maxlen=window)

    def add(self, rtt_s: float, their_ns: int, our_ns_at_answer: int) -> None:
        """A heartbeat answered: its round trip, the answer's timestamp (their clock) and our clock
        when the answer arrived."""
        if rtt_s < 0:
            return
        offset = int(their_ns) - (int(our_ns_at_answer) - int(rtt_s * 5e8))
        if self.samples:
            best_rtt, best = min(self.samples)
            if abs(offset - best) > (rtt_s + best_rtt) * 5e8 + self.SLACK_NS:
                self.samples.clear()  # a clock was set: what came before says nothing now
        self.samples.append((rtt_s, offset))

    @property
    def ns(self) -> int | None:
        return min(self.samples)[1] if self.samples else None

