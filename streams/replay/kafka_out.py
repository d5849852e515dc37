"""Producing contract events to Kafka from the command line tools (not used by the worker)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.app import MAX_MESSAGE_BYTES

CLICK_ACTIONS = frozenset(
    {"view", "click", "add_to_cart", "offer_impression", "offer_click", "offer_dismiss"}
)
PRIVACY_ACTIONS = frozenset({"grant", "revoke", "erase"})


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    """An idempotent, batching producer sized for the contract's largest messages."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_MESSAGE_BYTES,
    )


def infer_logical_topic(event: Mapping[str, Any]) -> str | None:
    """Guess which inbound topic a bare event belongs to from its fields."""
    action = event.get("action")
    if action in PRIVACY_ACTIONS:
        return "privacy"
    if action in CLICK_ACTIONS:
        return "clicks"
    if "order_id" in event and "items" in event:
        return "orders"
    if "cart_id" in event or "items" in event:
        return "carts"
    if "in_stock" in event:
        return "catalog"
    return None


def event_key(logical: str, event: Mapping[str, Any]) -> str | None:
    """The key producers should use: shopper, else session (catalog: product)."""
    if logical == "catalog":
        value = event.get("product_id")
    else:
        value = event.get("shopper_id") or event.get("session_id")
    return value if isinstance(value, str) and value else None
