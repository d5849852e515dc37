"""The catalog as a global in-memory view of `shop.catalog`, started with the worker: each
product's ``CatalogFacts`` (the validated event, compacted)."""

from __future__ import annotations

from schemas import CatalogEvent, InvalidEvent, check_not_in_future, decode_event
from schemas.eventtime import wall_clock_ms
from streams.app import app, kafka, settings
from streams.catalog.facts import CatalogFacts, PackedCatalogFacts, packed_unit_price
from streams.kafka.replicated import ReplicatedTopicView


def decode_catalog(value: bytes) -> PackedCatalogFacts | None:
    """The facts of a valid catalog event, packed, or None (the ingest agent dead-letters
    invalid ones).

    Like the boundary, the view refuses an event stamped more than the allowed skew ahead
    of the wall clock, so it does not serve a record the ingest agent dead-letters.
    """
    try:
        event = decode_event(CatalogEvent, value)
        check_not_in_future(
            event.ts, now_ms=wall_clock_ms(), max_future_skew_ms=settings.max_future_skew_ms
        )
    except InvalidEvent:
        return None
    return CatalogFacts.of(event).packed()


catalog_view: ReplicatedTopicView[PackedCatalogFacts, CatalogFacts] = ReplicatedTopicView(
    settings.topic_catalog, kafka, decode_catalog, CatalogFacts.from_packed
)


def list_price(product_id: str) -> float | None:
    """The catalog price of a product, if the catalog has it."""
    packed = catalog_view.data.get(product_id)
    return packed_unit_price(packed) if packed is not None else None


async def start_catalog_view() -> None:
    """Run the view as part of the app (stopped with it)."""
    await app.add_runtime_dependency(catalog_view)
