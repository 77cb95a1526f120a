"""Phi-accrual failure detection and RTT statistics (issue 7), on a mock clock."""

from __future__ import annotations

from krapition_app.p2p.health import ClockOffset, DetectorConfig, Liveness, PhiAccrualDetector, RttStats


def beating(seconds: int, interval: float = 1.0) -> PhiAccrualDetector:
    detector = PhiAccrualDetector(DetectorConfig(heartbeat_interval_s=interval), now=0.0)
    for i in range(1, seconds + 1):
        detector.heartbeat(i * interval)
    return detector


def test_regular_heartbeats_stay_alive() -> None:
    detector = beating(30)
    for dt in (0.0, 0.5, 1.0, 1.5, 2.0):
        assert detector.liveness(30 + dt) is Liveness.ALIVE


def test_silence_goes_suspect_then_dead_within_five_seconds() -> None:
    detector = beating(30)
    states = [detector.liveness(30 + dt / 10) for dt in range(0, 51)]
    assert Liveness.SUSPECT in states
    assert states[-1] is Liveness.DEAD
    first_suspect = states.index(Liveness.SUSPECT)
    first_dead = states.index(Liveness.DEAD)
    assert first_suspect < first_dead <= 50
    phis = [detector.phi(30 + dt / 10) for dt in range(0, 51)]
    assert phis == sorted(phis)  # phi only grows with silence


def test_a_peer_that_never_beats_still_dies() -> None:
    detector = PhiAccrualDetector(now=0.0)
    assert detector.liveness(0.5) is Liveness.ALIVE
    assert detector.liveness(5.0) is Liveness.DEAD


def test_recovers_after_a_pause() -> None:
    detector = beating(30)
    assert detector.liveness(33.3) is not Liveness.ALIVE
    detector.heartbeat(33.3)
    assert detector.liveness(33.4) is Liveness.ALIVE


def test_phi_is_finite_for_huge_silences() -> None:
    detector = beating(5)
    assert 0 < detector.phi(1e9) < float("inf")
    assert detector.phi(-1e9) == 0.0


def test_rtt_quantiles_are_bounded() -> None:
    stats = RttStats(window=100)
    assert stats.median is None
    for i in range(1000):
        stats.add(i / 1000)
    assert len(stats.samples) == 100
    assert stats.median == 0.949 and stats.quantile(0.99) == 0.998 and stats.last == 0.999


def test_clock_offset_trusts_the_quickest_round_trip() -> None:
    offset = ClockOffset(window=4)
    assert offset.ns is None
    ours = 1_000_000_000_000
    # the peer runs 3 s ahead; it stamped its answer half way through each round trip
    offset.add(0.010, ours + 3_000_000_000 - 5_000_000, ours)
    assert offset.ns == 3_000_000_000
    offset.add(0.200, ours + 3_000_000_000 - 20_000_000, ours)  # queued on the way back: off by 80 ms
    assert offset.ns == 3_000_000_000  # the 10 ms round trip still wins
    offset.add(0.300, ours + 3_000_000_000 - 50_000_000, ours)  # 100 ms off, within its round trip: kept
    assert len(offset.samples) == 3 and offset.ns == 3_000_000_000
    # the peer's clock was set back 4 s: the first answer after it is out of every bound seen
    offset.add(0.050, ours - 1_000_000_000 - 25_000_000, ours)
    assert offset.ns == -1_000_000_000 and len(offset.samples) == 1
    for _ in range(4):  # the window forgets old samples
        offset.add(0.002, ours - 1_000_000_000 - 1_000_000, ours)
    assert offset.ns == -1_000_000_000 and len(offset.samples) == 4
    offset.add(-1.0, 0, ours)  # a clock that went back: ignored
    assert offset.ns == -1_000_000_000

