"""The co-purchase domain's topics and table (partitioned by product)."""

from __future__ import annotations

from streams.app import app, raw_table, settings

# Per batch of orders and source partition, one message per destination partition: a JSON
# list of the deltas of that partition's products.
deltas_topic = app.topic(
    f"{settings.app_id}-copurchase-deltas",
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.partitions,
    internal=True,
)

# product_id -> ProductState as JSON (orjson). Its compacted changelog doubles as the global
# view of every product's neighbours (streams.copurchase.view).
products_table = raw_table("copurchase-products", settings.partitions)
