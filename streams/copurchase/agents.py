"""Thin agent: apply each batch's co-purchase deltas to the product table, one write per key.

A message on the deltas topic is a JSON list of product deltas, all for products of the
partition it was sent to.

IDEMPOTENT APPLICATION. Each product state records the (partition, offset) of the last
delta message applied to it, and a message at or below it is skipped. Exactly-once makes a
batch's table writes and its consumed offsets commit together, but the crash-recovery test
caught a committed product write whose delta message was applied again after a `kill -9`
(the group's committed offset for that deltas partition was behind the committed state).
Orders were never counted twice: their path was already idempotent (a profile or session
remembers the event ids it has seen). With the position kept in the state, the deltas path
no longer depends on Faust's offset bookkeeping either. A product always maps to one deltas
partition (changing the partition count means rebuilding state, as Faust requires anyway).

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
from typing import Any

import orjson
from faust.types import EventT

from schemas.eventtime import iso_utc, latest_allowed_ts, wall_clock_ms
from streams import metrics
from streams.app import app
from streams.copurchase.model import CopurchaseConfig, ProductDelta, ProductState
from streams.copurchase.topics import deltas_topic, products_table
from streams.decodedcache import DecodedCache
from streams.eventcontext import acting_for, commit_gate
from streams.settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()
config = CopurchaseConfig(
    half_life_days=settings.decay_half_life_days,
    cross_order_weight=settings.cross_order_weight,
    cross_order_days=settings.cross_order_days,
    neighbours_k=settings.neighbours_k,
    max_paired_products=settings.max_paired_products,
)


def decode_product_state(raw: bytes) -> ProductState:
    """A product state from its stored JSON."""
    return ProductState.from_dict(orjson.loads(raw))


# Popular products are updated in most batches: decoded once while their bytes stay equal.
decoded_products = DecodedCache(decode_product_state, settings.product_cache_size)


def load_product(product_id: str) -> ProductState:
    """The stored state of a product (call inside `acting_for`)."""
    raw = products_table.get(product_id)
    return decoded_products.get(product_id, raw) if raw else ProductState.empty(product_id)


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


async def apply_delta_batch(events: list[EventT]) -> None:
    """Apply a batch's deltas: per product, skip those already applied, merge, write once."""
    by_product: dict[str, list[tuple[int, ProductDelta]]] = {}
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
            by_product.setdefault(delta.product_id, []).append((offset, delta))
            last_event[delta.product_id] = event
    if refused:
        report_refused_deltas(refused, latest_allowed)
    written = skipped = 0
    for product_id, deltas in by_product.items():
        event = last_event[product_id]
        partition = event.message.partition
        with acting_for(event):
            state = load_product(product_id)
            fresh = [d for offset, d in deltas if not state.already_applied(partition, offset)]
            skipped += len(deltas) - len(fresh)
            if not fresh:
                continue
            merged = fresh[0]
            for delta in fresh[1:]:
                merged = merged.merge(delta, config.half_life_days)
            state = state.apply(merged, config).with_applied_through(
                partition, max(offset for offset, _ in deltas)
            )
            raw = orjson.dumps(state.to_dict())
            products_table[product_id] = raw
            decoded_products.remember(product_id, raw, state)
            written += 1
    metrics.PRODUCT_UPDATES.inc(written)
    if skipped:
        metrics.DELTAS_SKIPPED.inc(skipped)


@app.agent(deltas_topic, name="basketlift.copurchase.apply")
async def apply_deltas(stream: Any) -> None:
    """Consume product-keyed deltas in batches."""
    async for events in stream.take_events(
        settings.batch_max, within=settings.batch_within_seconds
    ):
        await commit_gate.start_batch()
        try:
            await apply_delta_batch(list(events))
        finally:
            commit_gate.end_batch()
