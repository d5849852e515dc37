"""The boundary: raw Kafka records in, validated contract events or rejections out (no Faust)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from schemas import CatalogEvent, CatalogTombstone, InvalidEvent, check_not_in_future, decode_event
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


def event_time(event: BaseModel) -> int:
    """An inbound event's `ts`: every inbound model has one (its range is the decoder's)."""
    ts = getattr(event, "ts", None)
    if not isinstance(ts, int):
        raise TypeError(f"{type(event).__name__} has no integer ts")
    return ts


def sort_batch(
    model: type[BaseModel],
    records: Iterable[RawRecord],
    *,
    partitions: int,
    check_routing: bool,
    now_ms: int,
    max_future_skew_ms: int,
) -> SortedBatch:
    """Validate each record; with `check_routing`, set aside events on the wrong partition.

    An event whose `ts` is more than `max_future_skew_ms` after `now_ms` (the worker's wall
    clock) is rejected as `ts_in_future`, so no accepted event can move a clock shared by
    later events (the worker's event clock, a product's as-of time) further ahead than that.
    """
    batch = SortedBatch()
    for record in records:
        if record.value is None and model is CatalogEvent and record.key:
            # Compaction's delete marker: legitimate on shop.catalog, not a bad event.
            batch.accepted.append((record, CatalogTombstone(record.key.decode("utf-8", "replace"))))
            continue
        try:
            event = decode_event(model, record.value)
            check_not_in_future(
                event_time(event), now_ms=now_ms, max_future_skew_ms=max_future_skew_ms
            )
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
