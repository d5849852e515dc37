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

from faust.types import EventT

from streams.kafka.faustcompat import current_event_var

__all__ = ["acting_for"]


@contextmanager
def acting_for(event: EventT | None) -> Iterator[None]:
    """Make `event` Faust's current event for the table reads, writes and sends in this block."""
    current_event = current_event_var()
    token = current_event.set(weakref.ref(event) if event is not None else None)
    try:
        yield
    finally:
        current_event.reset(token)
