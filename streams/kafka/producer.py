"""Producing contract events to Kafka from the command line tools (not used by the worker)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.limits import MAX_KAFKA_MESSAGE_BYTES
from streams.kafka.security import KafkaAccess, KafkaUnreachable

__all__ = [
    "KafkaUnreachable",
    "event_key",
    "infer_logical_topic",
    "make_producer",
    "running_producer",
]

CLICK_ACTIONS = frozenset(
    {"view", "click", "add_to_cart", "offer_impression", "offer_click", "offer_dismiss"}
)
PRIVACY_ACTIONS = frozenset({"grant", "revoke", "erase"})


def make_producer(access: KafkaAccess) -> AIOKafkaProducer:
    """An idempotent, batching producer sized for the contract's largest messages."""
    return AIOKafkaProducer(
        **access.client_options(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_KAFKA_MESSAGE_BYTES,
    )


class HeldRecords(logging.Handler):
    """Keeps log records instead of printing them, to report or replay them later."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


@asynccontextmanager
async def running_producer(access: KafkaAccess) -> AsyncIterator[AIOKafkaProducer]:
    """A started `make_producer` producer, stopped on the way out even when it fails to start.

    Raises KafkaUnreachable with one line (aiokafka's last complaint, e.g. the refused
    connection) when it cannot start; aiokafka's own log lines of a failed start are not
    printed besides. Those of a start that succeeds go to the log as usual.
    """
    producer = make_producer(access)
    aiokafka_log = logging.getLogger("aiokafka")
    held, propagated = HeldRecords(), aiokafka_log.propagate
    aiokafka_log.addHandler(held)
    aiokafka_log.propagate = False
    try:
        await producer.start()
    except KafkaError as error:
        await producer.stop()
        reason = held.records[-1].getMessage() if held.records else str(error)
        raise KafkaUnreachable(
            f"cannot reach Kafka at {access.bootstrap_servers}: {reason}"
        ) from None
    except BaseException:
        await producer.stop()
        raise
    finally:
        aiokafka_log.removeHandler(held)
        aiokafka_log.propagate = propagated
    for record in held.records:
        aiokafka_log.handle(record)
    try:
        yield producer
    finally:
        await producer.stop()


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
