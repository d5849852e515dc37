"""Thin agent: apply each batch's co-purchase deltas to the product table, one write per key.

A message on the deltas topic is a JSON list of product deltas, all for products of the
partition it was sent to.

IDEMPOTENT APPLICATION. Each product state records the (partition, offset) of the last
delta message applied to it (`applied_through`), and a message at or below it is skipped.
Exactly-once commits a batch's table writes with its consumed offsets, but after a crash
the group's committed offset for a deltas partition can be behind the committed product
state, and the message would be applied again. With the position kept in the state, a
product absorbs each delta message at most once whatever Faust's offset bookkeeping says,
as orders are counted once by their event ids (streams.ingest.dedupe). A product always
maps to one deltas partition (changing the partition count means rebuilding state, as
Faust requires anyway).

NO DELTA FROM THE FUTURE. A product state's `as_of_ts` only moves forward, so one delta
far ahead would decay the product to nothing and keep it there. A delta whose `as_of_ts` is
more than BASKETLIFT_MAX_FUTURE_SKEW_SECONDS past this worker's wall clock is therefore not
applied (counted in basketlift_event_times_refused_total{clock="product_delta"} and logged).
Deltas are made only from orders the boundary accepted, whose ts was at most the skew past
the accepting worker's wall clock when it read them, and the wall clock has only moved on
since. So the guard drops data only for events this worker's boundary would reject now: in
practice, when the accepting worker's clock runs ahead of this one's by more than the time
between accepting the order and applying its delta, for an order stamped within that margin
of the limit, or after the skew setting was lowered between the two.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson
from faust.types import EventT

from schemas.eventtime import iso_utc, latest_allowed_ts, wall_clock_ms
from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.app import commit_gate, configs, settings
from streams.copurchase.model import ProductDelta, ProductState
from streams.copurchase.step import PositionedDelta, absorb_new
from streams.copurchase.topics import products_table
from streams.ops import metrics
from streams.runtime.batch import BatchContext
from streams.runtime.decodedcache import DecodedCache
from streams.runtime.loop import run_batches

log = logging.getLogger(__name__)
config = configs.copurchase


def decode_product_state(raw: bytes) -> ProductState:
    """A product state from its stored JSON."""
    return ProductState.from_dict(orjson.loads(raw))


# Popular products are updated in most batches: decoded once while their bytes stay equal.
decoded_products = DecodedCache(decode_product_state, settings.product_cache_size)


def stored_product(product_id: str, raw: bytes | None) -> ProductState:
    """A product's state from its stored bytes (an empty state when there are none)."""
    return decoded_products.get(product_id, raw) if raw else ProductState.empty(product_id)


def load_product(product_id: str) -> ProductState:
    """The stored state of a product (call inside `acting_for`)."""
    return stored_product(product_id, products_table.get(product_id))


def report_refused_deltas(refused: list[tuple[EventT, ProductDelta]], latest_allowed: int) -> None:
    """Count the deltas refused as too far ahead and log one line for the batch."""
    metrics.EVENT_TIMES_REFUSED.labels(clock="product_delta").inc(len(refused))
    event, delta = refused[0]
    message = event.message
    log.warning(
        "refused %d co-purchase delta(s) more than %g s ahead of the wall clock (latest"
        " allowed %s); not applied; first: product %r as of %s from %s[%d]@%d",
        len(refused),
        settings.max_future_skew_ms / 1000,
        iso_utc(latest_allowed),
        delta.product_id,
        iso_utc(delta.as_of_ts),
        message.topic,
        message.partition,
        message.offset,
    )


async def apply_delta_batch(events: Sequence[EventT]) -> None:
    """Apply a batch's deltas: per product, skip those already applied, merge, write once."""
    by_product: dict[str, list[PositionedDelta]] = {}
    last_event: dict[str, EventT] = {}
    latest_allowed = latest_allowed_ts(wall_clock_ms(), settings.max_future_skew_ms)
    refused: list[tuple[EventT, ProductDelta]] = []
    for event in events:
        offset = event.message.offset
        for data in orjson.loads(event.message.value or b"[]"):
            delta = ProductDelta.from_dict(data)
            if delta.as_of_ts > latest_allowed:
                refused.append((event, delta))
                continue
            by_product.setdefault(delta.product_id, []).append(PositionedDelta(offset, delta))
            last_event[delta.product_id] = event
    if refused:
        report_refused_deltas(refused, latest_allowed)
    batch = BatchContext(MAX_KAFKA_MESSAGE_BYTES)
    written = skipped = 0
    for product_id, deltas in by_product.items():
        event = last_event[product_id]
        stored = batch.get(products_table, product_id, event)
        state = (
            decoded_products.get(product_id, stored) if stored else ProductState.empty(product_id)
        )
        absorbed = absorb_new(state, deltas, event.message.partition, config)
        skipped += absorbed.skipped
        if absorbed.state is None:
            continue
        raw = orjson.dumps(absorbed.state.to_dict())
        batch.put(products_table, product_id, raw, event)
        batch.after_apply(partial(decoded_products.remember, product_id, raw, absorbed.state))
        written += 1
    batch.after_apply(partial(metrics.PRODUCT_UPDATES.inc, written))
    if skipped:
        batch.after_apply(partial(metrics.DELTAS_SKIPPED.inc, skipped))
    await batch.apply()


async def apply_deltas(stream: Any) -> None:
    """The product agent: consume product-keyed deltas in batches (registered in
    streams.topology)."""
    await run_batches(
        stream,
        apply_delta_batch,
        gate=commit_gate,
        batch_max=settings.batch_max,
        within_seconds=settings.batch_within_seconds,
        handover=settings.batch_handover,
    )
