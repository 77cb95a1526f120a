"""The seed's ``EventStreamProcessor``: per-type handlers, subscriptions, and the circular streams.

Every event that is committed to the store (our own, or a peer's that passed verification) goes
through :meth:`EventStreamProcessor.process_event`: the handler registered for its type runs, it
joins its author's :class:`~.chain.CircularEventStream`, then subscribers see it (the projections
of the UI and, in a later issue, the replication to peers). The event is already durable when this
runs, so a failing handler or subscriber is logged and never undoes or blocks the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..model.events import ChainCheckpoint, EventType
from ..model.uri import URIPattern
from .chain import CircularEventStream, SignedEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[SignedEvent], None]


@dataclass(eq=False)
class Subscription:
    callback: EventHandler
    types: frozenset[EventType] | None = None
    pattern: URIPattern | None = None
    authors: frozenset[bytes] | None = None
    _processor: EventStreamProcessor | None = field(default=None, repr=False)

    def wants(self, event: SignedEvent) -> bool:
        return (
            (self.types is None or event.type in self.types)
            and (self.authors is None or event.author in self.authors)
            and (self.pattern is None or self.pattern.matches(event.uri))
        )

    def cancel(self) -> None:
        if self._processor is not None:
            self._processor._subscriptions.remove(self)
            self._processor = None


class EventStreamProcessor:
    def __init__(self, *, max_size: int = 10_000, max_age_ns: int | None = None) -> None:
        self.max_size = max_size
        self.max_age_ns = max_age_ns
        self.streams: dict[bytes, CircularEventStream] = {}
        self._handlers: dict[EventType, list[EventHandler]] = {}
        self._subscriptions: list[Subscription] = []

    def stream(self, author: bytes) -> CircularEventStream:
        stream = self.streams.get(author)
        if stream is None:
            stream = self.streams[author] = CircularEventStream(author, self.max_size, self.max_age_ns)
        return stream

    def register(self, event_type: EventType, handler: EventHandler) -> None:
        """Runs ``handler`` for every processed event of ``event_type`` (in registration order)."""
        self._handlers.setdefault(EventType(event_type), []).append(handler)

    def subscribe(self, callback: EventHandler, *, types: Iterable[EventType] | None = None,
                  pattern: URIPattern | str | None = None,
                  authors: Iterable[bytes] | None = None) -> Subscription:
        """Calls ``callback`` for every processed event that matches all given filters."""
        if isinstance(pattern, str):
            pattern = URIPattern.parse(pattern)
        sub = Subscription(
            callback,
            None if types is None else frozenset(EventType(t) for t in types),
            pattern,
            None if authors is None else frozenset(authors),
            self,
        )
        self._subscriptions.append(sub)
        return sub

    def restore(self, event: SignedEvent) -> None:
        """Puts a stored event back into its stream on start (oldest first), without running handlers."""
        self.stream(event.author).add_event(event)

    def process_event(self, event: SignedEvent) -> None:
        for handler in self._handlers.get(event.type, ()):
            self._call(handler, event, "handler")
        self._add(event)
        for sub in list(self._subscriptions):
            if sub.wants(event):
                self._call(sub.callback, event, "subscriber")

    def process_events(self, events: Iterable[SignedEvent]) -> None:
        """:meth:`process_event` of each event, in order."""
        if self._handlers or self._subscriptions:
            for event in events:
                self.process_event(event)
        else:  # nobody listens yet: the events only join their streams, a run of one author at once
            events = events if isinstance(events, list) else list(events)
            start = 0
            while start < len(events):
                author = events[start].envelope.author
                stream = self.streams.get(author)
                if stream is None or stream.head is None:  # a new stream may start from a checkpoint
                    self._add(events[start])
                    start += 1
                    continue
                end = start + 1
                while end < len(events) and events[end].envelope.author == author:
                    end += 1
                stream.add_events(events[start:end])
                start = end

    def _add(self, event: SignedEvent) -> None:
        author = event.envelope.author
        stream = self.streams.get(author)
        if stream is None:
            stream = self.stream(author)
        if stream.head is None and stream.checkpoint is None:
            payload = event.payload
            if isinstance(payload, ChainCheckpoint) and event.seq > payload.horizon_seq + 1:
                stream.start_from(event)  # a late join: the tail follows
                return
        stream.add_event(event)

    @staticmethod
    def _call(callback: EventHandler, event: SignedEvent, what: str) -> None:
        try:
            callback(event)
        except Exception:
            log.exception("event %s %r failed on %r", what, callback, event)
