"""An order at the contract's item limit, among small orders of the same partition, on a real
broker: every order of the batch is counted, nothing is dead-lettered or lost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.events import MAX_ITEMS
from streams.ingest.routing import partition_for_key
from tests.integration.replay_support import metric_total, send_events
from tests.support.kafka import Deployment, WorkerProcess, read_all, start_worker

pytestmark = pytest.mark.integration


NEIGHBOURS_K = 100
"""K of the worker under test: fewer than the 1,000 priciest products that pair."""


def order(order_id: str, shopper: str, ts: int, items: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "event_id": f"e-{order_id}",
        "ts": ts,
        "shopper_id": shopper,
        "session_id": None,
        "order_id": order_id,
        "currency": "GBP",
        "shipping_fee": 0.0,
        "items": [
            {"product_id": pid, "quantity": 1, "unit_price": price, "category": "c"}
            for pid, price in items
        ],
    }


def shoppers_on_one_partition(partitions: int, count: int) -> list[str]:
    """`count` shopper ids whose events all land on the same partition."""
    home = partition_for_key(b"big-0", partitions)
    found = [
        f"big-{n}"
        for n in range(10_000)
        if partition_for_key(f"big-{n}".encode(), partitions) == home
    ]
    return found[:count]


def product_state(worker: WorkerProcess, product_id: str) -> dict[str, Any] | None:
    status, body = worker.api_get(f"/state/products/{product_id}")
    return body if status == 200 else None


def test_an_order_of_ten_thousand_products_loses_nothing_of_its_batch(
    deployment: Deployment, tmp_path: Path
) -> None:
    ts = int(time.time() * 1000) - 60_000
    shoppers = shoppers_on_one_partition(deployment.partitions, 7)
    big_items = [(f"b{i:05d}", float(1 + i % 50)) for i in range(MAX_ITEMS)]
    small = [
        order(f"small-{n}", shopper, ts, [(f"s{n}-a", 2.0), (f"s{n}-b", 3.0)])
        for n, shopper in enumerate(shoppers[:3] + shoppers[4:])
    ]
    big = order("big", shoppers[3], ts, big_items)
    batch = [*small[:3], big, *small[3:]]

    # The batch's orders must share one batch (the failure this guards against lost every
    # order of the batch): a 2 s window, handed over only when it ends, keeps them together.
    worker = start_worker(
        deployment,
        tmp_path,
        BASKETLIFT_BATCH_HANDOVER="window",
        BASKETLIFT_BATCH_WITHIN_SECONDS="2",
        BASKETLIFT_NEIGHBOURS_K=str(NEIGHBOURS_K),
    )
    try:
        worker.wait_healthy()
        send_events(deployment, [("orders", e["shopper_id"], e) for e in batch])

        deadline = time.monotonic() + 240
        missing: list[str] = ["not checked"]
        while missing and time.monotonic() < deadline:
            assert worker.alive(), worker.log_tail()
            missing = [
                pid
                for n in range(6)
                for pid in (f"s{n}-a", f"s{n}-b")
                if product_state(worker, pid) is None
            ] + [pid for pid in ("b00000", "b09999") if product_state(worker, pid) is None]
            time.sleep(1)
        assert not missing, f"never served: {missing}\n{worker.log_problems()}"

        for n in range(6):
            state = product_state(worker, f"s{n}-a")
            assert state is not None
            assert state["purchases"] == 1
            assert state["neighbours"] == [{"product_id": f"s{n}-b", "weight": 1}]
        # Every product of the big order counts its purchase; only the highest-priced
        # (the 1,000 at prices 46 to 50) pair, and only with each other (K strongest kept).
        cheapest = product_state(worker, "b00000")
        priciest = product_state(worker, "b00049")
        assert cheapest is not None and priciest is not None
        assert cheapest["purchases"] == 1 and cheapest["neighbours"] == []
        assert priciest["purchases"] == 1
        assert len(priciest["neighbours"]) == NEIGHBOURS_K
        assert all(int(n["product_id"][1:]) % 50 >= 45 for n in priciest["neighbours"])

        text = worker.metrics_text()
        assert metric_total(text, "basketlift_processing_errors_total") == 0
        assert metric_total(text, "basketlift_events_duplicate_total") == 0
        letters = asyncio.run(read_all(deployment.access, deployment.topic("deadletter")))
        assert letters == []
        status, profile = worker.api_get(f"/state/shoppers/{shoppers[3]}")
        assert status == 200 and profile["order_count"] == 1
    finally:
        worker.stop()
