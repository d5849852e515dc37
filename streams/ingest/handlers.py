"""What a step of the pipeline is: a coroutine that receives a batch of validated events.

The steps of each inbound topic, in order, are listed in `streams.topology`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pydantic import BaseModel

from schemas import CatalogTombstone
from streams.ingest.boundary import RawRecord
from streams.runtime.batch import BatchContext

ValidEvent = tuple[RawRecord, BaseModel | CatalogTombstone]
EventHandler = Callable[[Sequence[ValidEvent], BatchContext], Awaitable[None]]
"""Receives a batch's events and stages what it writes and sends in the BatchContext."""
BatchPreparation = Callable[[Sequence[ValidEvent]], Awaitable[None]]
"""Runs before a batch's steps, before anything of the batch reads a table: it may wait
(for the broker) without another batch changing what this one is about to read."""
