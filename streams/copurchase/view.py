"""Every product's co-purchase state on every worker, read from the product table's changelog."""

from __future__ import annotations

import orjson

from streams.app import app, kafka
from streams.copurchase.model import PackedProductState, ProductState
from streams.copurchase.topics import products_table
from streams.kafka.replicated import ReplicatedTopicView


def decode_product(value: bytes) -> PackedProductState | None:
    """A product state from its changelog record, packed (compact, and not tracked by the
    garbage collector: the view holds every product's state on every worker)."""
    try:
        return ProductState.from_dict(orjson.loads(value), frozen=True).packed()
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


products_view: ReplicatedTopicView[PackedProductState, ProductState] = ReplicatedTopicView(
    products_table.changelog_topic.get_topic_name(),
    kafka,
    decode_product,
    ProductState.from_packed,
    # Faust creates changelog topics lazily; the view may start first.
    declare=products_table.changelog_topic.maybe_declare,
)


async def start_products_view() -> None:
    """Run the view as part of the app (stopped with it)."""
    await app.add_runtime_dependency(products_view)
