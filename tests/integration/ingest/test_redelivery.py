"""Redelivered carts and orders on a real broker: no second decision, every metric counts the
event once, and the duplicate is counted as one."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import OfferDecision, decode_event
from tests.integration.replay_support import metric_total
from tests.support.kafka import Deployment, produce_records, read_all, start_worker

pytestmark = pytest.mark.integration


def cart(event_id: str, ts: int, products: list[str]) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts": ts,
        "shopper_id": "s-redelivered",
        "session_id": None,
        "cart_id": "k-1",
        "currency": "GBP",
        "items": [
            {"product_id": p, "quantity": 1, "unit_price": 4.0, "category": "c"} for p in products
        ],
    }


def order(event_id: str, ts: int, products: list[str]) -> dict[str, Any]:
    event = {**cart(event_id, ts, products), "order_id": f"ord-{event_id}", "shipping_fee": 0.0}
    del event["cart_id"]
    return event


def decisions_by_trigger(deployment: Deployment, expected: set[str]) -> Counter[str]:
    """Decisions per trigger event id, once every id in `expected` has one (or 120 s)."""
    deadline = time.monotonic() + 120
    while True:
        records = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
        counts = Counter(
            decode_event(OfferDecision, v).trigger_event_id for _k, v, _p, _o in records
        )
        if expected <= set(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def test_redelivered_carts_and_orders_get_one_decision_and_count_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    now = int(time.time() * 1000) - 60_000
    first_cart = orjson.dumps(cart("c-1", now, ["a", "b"]))
    first_order = orjson.dumps(order("o-1", now + 1000, ["a", "b"]))
    sentinel = orjson.dumps(cart("c-after", now + 2000, ["a"]))
    key = b"s-redelivered"
    worker = start_worker(deployment, tmp_path)
    try:
        worker.wait_healthy()
        carts, orders = deployment.topic("carts"), deployment.topic("orders")
        # Redelivered in the same batch and in a later one (a producer retry after a timeout).
        asyncio.run(
            produce_records(
                deployment.access,
                [(carts, key, first_cart), (carts, key, first_cart), (orders, key, first_order)],
            )
        )
        assert decisions_by_trigger(deployment, {"c-1", "o-1"}).keys() >= {"c-1", "o-1"}
        asyncio.run(
            produce_records(
                deployment.access,
                [(carts, key, first_cart), (orders, key, first_order), (carts, key, sentinel)],
            )
        )
        counts = decisions_by_trigger(deployment, {"c-1", "o-1", "c-after"})
        assert counts == Counter({"c-1": 1, "o-1": 1, "c-after": 1})

        text = worker.metrics_text()
        duplicates = "basketlift_events_duplicate_total"
        assert metric_total(text, duplicates, topic=carts) == 2
        assert metric_total(text, duplicates, topic=orders) == 1
        assert metric_total(text, "basketlift_decisions_total", placement="cart") == 2
        assert metric_total(text, "basketlift_decisions_total", placement="confirmation") == 1
        assert metric_total(text, "basketlift_order_value_count") == 1
        status = worker.health()
        assert status == 200
        body = asyncio.run(read_all(deployment.access, deployment.topic("deadletter")))
        assert body == []
    finally:
        worker.stop()
