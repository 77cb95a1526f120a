"""Protection against floods: token buckets, per-address limits before authentication.

Pure and clock-free: every method takes ``now`` (seconds, any monotonic origin), so tests drive
them with a mock clock. Memory is capped: the per-address table forgets the least recently seen
addresses beyond ``max_addresses``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored; may go into debt with :meth:`charge`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be > 0")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def try_take(self, now: float, amount: float = 1.0) -> bool:
        """Takes ``amount`` if there is that much; False (and takes nothing) otherwise."""
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def charge(self, now: float, amount: float) -> float:
        """Takes ``amount`` even into debt; returns the seconds until the bucket is out of debt."""
        self._refill(now)
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


@dataclass(frozen=True, slots=True)
class AddressLimits:
    #: new connections per second from one address (and the burst allowed)
    attempts_per_s: float = 5.0
    attempts_burst: float = 20.0
    #: unauthenticated connections (handshake not finished) at once from one address, and in all
    pending_per_address: int = 8
    pending_total: int = 128
    #: how many addresses are remembered at most
    max_addresses: int = 4096


class _AddressState:
    __slots__ = ("bucket", "pending", "refused")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.pending = 0
        self.refused = 0


class AddressLimiter:
    """Decides, before reading a byte, whether a new connection from ``address`` is served."""

    def __init__(self, limits: AddressLimits | None = None) -> None:
        self.limits = limits or AddressLimits()
        self._table: OrderedDict[str, _AddressState] = OrderedDict()
        self.pending_total = 0
        self.refused_total = 0

    def _state(self, address: str, now: float) -> _AddressState:
        state = self._table.get(address)
        if state is None:
            state = _AddressState(TokenBucket(self.limits.attempts_per_s, self.limits.attempts_burst, now))
            self._table[address] = state
            while len(self._table) > self.limits.max_addresses:
                oldest, old = next(iter(self._table.items()))
                if old.pending:  # an address with a live handshake is never forgotten
                    self._table.move_to_end(oldest)
                    if all(s.pending for s in self._table.values()):
                        break
                    continue
                del self._table[oldest]
        else:
            self._table.move_to_end(address)
        return state

    def admit(self, address: str, now: float) -> str | None:
        """Reserves a pending-handshake slot; returns None, or why the connection is refused."""
        state = self._state(address, now)
        reason = None
        if self.pending_total >= self.limits.pending_total:
            reason = "too many pending handshakes in all"
        elif state.pending >= self.limits.pending_per_address:
            reason = "too many pending handshakes from this address"
        elif not state.bucket.try_take(now):
            reason = "too many connection attempts from this address"
        if reason is not None:
            state.refused += 1
            self.refused_total += 1
            return reason
        state.pending += 1
        self.pending_total += 1
        return None

    def release(self, address: str) -> None:
        """The handshake ended (either way): frees the slot taken by :meth:`admit`."""
        state = self._table.get(address)
        if state is not None and state.pending > 0:
            state.pending -= 1
            self.pending_total -= 1

    def refused(self, address: str) -> int:
        state = self._table.get(address)
        return state.refused if state else 0

    def __len__(self) -> int:
        return len(self._table)


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """Per authenticated peer: what it may send us, and how long it may leave our queue full."""

    messages_per_s: float = 5_000.0
    messages_burst: float = 20_000.0
    bytes_per_s: float = 32 * 1024 * 1024
    bytes_burst: float = 64 * 1024 * 1024
    #: a peer in debt by more than this many seconds of its rate is disconnected as a flood
    max_debt_s: float = 10.0
    #: outbound queue length (messages); a full queue makes senders wait (backpressure)
    outbound_queue: int = 4096
    #: a peer whose outbound queue stays full (or whose socket does not drain) this long is dropped
    slow_peer_timeout_s: float = 5.0
