"""Token buckets, per-address admission, the rate-limited peer logger (issue 7)."""

from __future__ import annotations

import logging

import pytest

from krapition_app.p2p.limits import AddressLimiter, AddressLimits, TokenBucket
from krapition_app.p2p.ratelog import PeerLogger, clip


def test_token_bucket_rate_and_debt() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=0.0)
    assert all(bucket.try_take(0.0) for _ in range(5))
    assert not bucket.try_take(0.0)
    assert bucket.try_take(0.1)
    assert bucket.charge(0.1, 10) == pytest.approx(1.0)
    assert bucket.charge(1.1, 0) == 0.0


def test_attempts_from_one_address_are_limited_but_not_others() -> None:
    limiter = AddressLimiter(AddressLimits(attempts_per_s=1, attempts_burst=3, pending_per_address=100))
    results = [limiter.admit("10.0.0.9", 0.0) for _ in range(10)]
    assert results[:3] == [None] * 3 and all(r is not None for r in results[3:])
    assert limiter.admit("10.0.0.8", 0.0) is None
    assert limiter.refused("10.0.0.9") == 7


def test_pending_handshakes_per_address_and_in_all() -> None:
    limiter = AddressLimiter(AddressLimits(attempts_per_s=1000, attempts_burst=1000, pending_per_address=2,
                                           pending_total=3))
    assert limiter.admit("a", 0.0) is None and limiter.admit("a", 0.0) is None
    assert "this address" in (limiter.admit("a", 0.0) or "")
    assert limiter.admit("b", 0.0) is None
    assert "in all" in (limiter.admit("c", 0.0) or "")
    limiter.release("a")
    assert limiter.admit("c", 0.0) is None
    limiter.release("zzz")  # unknown: harmless
    assert limiter.pending_total == 3


def test_address_table_memory_is_capped() -> None:
    limiter = AddressLimiter(AddressLimits(max_addresses=50))
    for i in range(1000):
        limiter.admit(f"10.1.{i // 256}.{i % 256}", 0.0)
        limiter.release(f"10.1.{i // 256}.{i % 256}")
    assert len(limiter) <= 50


def test_peer_logger_logs_once_per_kind_and_caps_lines(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("krapition.test.ratelog")
    plog = PeerLogger(logger, max_kinds=10, lines_per_s=0.001, burst=5)
    with caplog.at_level(logging.WARNING, logger="krapition.test.ratelog"):
        for _ in range(100):
            plog.log(logging.WARNING, ("bad-tag", "10.0.0.1"), "bad frame from %s", "10.0.0.1")
        for i in range(1000):
            plog.log(logging.WARNING, ("bad-tag", f"10.0.{i // 256}.{i % 256}"), "bad frame %d", i)
    assert len(caplog.records) <= 5
    assert len(plog._seen) <= 10
    assert plog.suppressed > 0


def test_clip_makes_peer_text_one_short_line() -> None:
    text = clip("evil\nline" * 100)
    assert "\n" not in text and len(text) <= 124
