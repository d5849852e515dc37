"""Where domain packages plug in: per inbound topic, the handlers that receive validated events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from pydantic import BaseModel

from schemas import CatalogTombstone
from streams.ingest.boundary import RawRecord
from streams.runtime.batch import BatchContext

ValidEvent = tuple[RawRecord, BaseModel | CatalogTombstone]
EventHandler = Callable[[Sequence[ValidEvent], BatchContext], Awaitable[None]]
"""Receives a batch's events and stages what it writes and sends in the BatchContext."""

HANDLERS: defaultdict[str, list[EventHandler]] = defaultdict(list)


def handles(logical_topic: str) -> Callable[[EventHandler], EventHandler]:
    """Register a coroutine to receive each batch of valid events of one inbound topic."""

    def register(handler: EventHandler) -> EventHandler:
        HANDLERS[logical_topic].append(handler)
        return handler

    return register
