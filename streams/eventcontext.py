"""Writing Faust tables from batches: each key is written in the context of its own event.

Faust places a table write (its RocksDB partition and its changelog partition) by the
"current event". When an agent processes a batch taken with `stream.take_events`, there is
no single current event, so every write names the event it belongs to. Because ingest
routes every event to the partition of its key, that event's partition is the key's.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from faust.streams import _current_event  # faust-streaming 0.15.3; the one place it is used
from faust.types import EventT


@contextmanager
def acting_for(event: EventT | None) -> Iterator[None]:
    """Make `event` Faust's current event for the table reads, writes and sends in this block."""
    token = _current_event.set(weakref.ref(event) if event is not None else None)
    try:
        yield
    finally:
        _current_event.reset(token)


class EventClock:
    """The latest event time (`ts`) this worker has processed: "now" for event-time logic."""

    def __init__(self) -> None:
        self.now_ms = 0

    def observe(self, ts_ms: int) -> None:
        """Advance the clock to `ts_ms` if it is later."""
        if ts_ms > self.now_ms:
            self.now_ms = ts_ms


event_clock = EventClock()


def event_time_now() -> int:
    """The latest event time seen by this worker (0 before any event)."""
    return event_clock.now_ms
