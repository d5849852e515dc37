"""The boundary: raw Kafka records in, validated contract events or rejections out (no Faust)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from schemas import CatalogEvent, CatalogTombstone, InvalidEvent, decode_event
from streams.ingest.routing import partition_for_key


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as consumed: where it came from and its undecoded bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The Faust event it came in (opaque here): table writes are made in its context.
    source: Any = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class SortedBatch:
    """A batch split into events to handle here, events to re-key, and rejections."""

    accepted: list[tuple[RawRecord, BaseModel | CatalogTombstone]] = field(default_factory=list)
    misrouted: list[tuple[RawRecord, BaseModel, bytes]] = field(default_factory=list)
    rejected: list[tuple[RawRecord, InvalidEvent]] = field(default_factory=list)


def routing_key(event: BaseModel | CatalogTombstone) -> str:
    """The key that decides an event's partition: shopper, else session, else product."""
    key = getattr(event, "routing_key", None) or getattr(event, "shopper_id", None)
    if not key:
        raise ValueError(f"{type(event).__name__} has no routing key")
    return str(key)


def sort_batch(
    model: type[BaseModel],
    records: Iterable[RawRecord],
    *,
    partitions: int,
    check_routing: bool,
) -> SortedBatch:
    """Validate each record; with `check_routing`, set aside events on the wrong partition."""
    batch = SortedBatch()
    for record in records:
        if record.value is None and model is CatalogEvent and record.key:
            # Compaction's delete marker: legitimate on shop.catalog, not a bad event.
            batch.accepted.append((record, CatalogTombstone(record.key.decode("utf-8", "replace"))))
            continue
        try:
            event = decode_event(model, record.value)
        except InvalidEvent as error:
            batch.rejected.append((record, error))
            continue
        if check_routing:
            key = routing_key(event).encode()
            if partition_for_key(key, partitions) != record.partition:
                batch.misrouted.append((record, event, key))
                continue
        batch.accepted.append((record, event))
    return batch
