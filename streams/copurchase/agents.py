"""Thin agent: apply each batch's co-purchase deltas to the product table, one write per key.

A message on the deltas topic is a JSON list of product deltas, all for products of the
partition it was sent to.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.types import EventT

from streams import metrics
from streams.app import app
from streams.copurchase.model import CopurchaseConfig, ProductDelta, ProductState
from streams.copurchase.topics import deltas_topic, products_table
from streams.eventcontext import acting_for, commit_gate
from streams.settings import get_settings

settings = get_settings()
config = CopurchaseConfig(
    half_life_days=settings.decay_half_life_days,
    cross_order_weight=settings.cross_order_weight,
    cross_order_days=settings.cross_order_days,
    neighbours_k=settings.neighbours_k,
)


def load_product(product_id: str) -> ProductState:
    """The stored state of a product (call inside `acting_for`)."""
    raw = products_table.get(product_id)
    return ProductState.from_dict(orjson.loads(raw)) if raw else ProductState.empty(product_id)


async def apply_delta_batch(events: list[EventT]) -> None:
    """Merge a batch's deltas per product, then read and write each product once."""
    merged: dict[str, tuple[ProductDelta, EventT]] = {}
    for event in events:
        for data in orjson.loads(event.message.value or b"[]"):
            delta = ProductDelta.from_dict(data)
            previous = merged.get(delta.product_id)
            if previous is not None:
                delta = previous[0].merge(delta, config.half_life_days)
            merged[delta.product_id] = (delta, event)
    for product_id, (delta, event) in merged.items():
        with acting_for(event):
            state = load_product(product_id).apply(delta, config)
            products_table[product_id] = orjson.dumps(state.to_dict())
    metrics.PRODUCT_UPDATES.inc(len(merged))


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
