"""Replaying real orders builds exactly the state an independent offline recomputation gives."""

from __future__ import annotations

import asyncio
import math
import time
import urllib.error
import urllib.request
from collections import defaultdict
from itertools import permutations
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.replay.events import replay_events
from streams.replay.orderlog import OrderLog, read_orders_file
from tests.support.kafka import Deployment, WorkerProcess, produce_records, start_worker

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[3] / "data" / "sample" / "online_retail_sample.parquet"
DAY_MS = 86_400_000
CROSS_WEIGHT = 0.5
CROSS_DAYS = 30


def sample_slice(orders: int) -> OrderLog:
    """The first `orders` orders of the shipped real sample (derived from ../shared/data)."""
    return read_orders_file(SAMPLE).head(orders)


def offline_state(
    log: OrderLog,
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, tuple[int, float]]]:
    """Purchases, neighbour weights and (order count, spend) per shopper, by plain loops."""
    purchases: dict[str, float] = defaultdict(float)
    weights: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    shoppers: dict[str, tuple[int, float]] = {}
    bought: dict[str, dict[str, int]] = defaultdict(dict)  # shopper -> product -> last ts
    for order in sorted(log.orders, key=lambda o: (o.ts_ms, o.order_id)):
        products = sorted({line.product_id for line in order.lines})
        for product in products:
            purchases[product] += 1
        for a, b in permutations(products, 2):
            weights[a][b] += 1
        if order.shopper_id is None:
            continue
        shopper = f"c-{order.shopper_id}"
        history = bought[shopper]
        earlier = [
            p
            for p, ts in history.items()
            if 0 < order.ts_ms - ts <= CROSS_DAYS * DAY_MS and p not in products
        ]
        for new in products:
            for old in earlier:
                weights[new][old] += CROSS_WEIGHT
                weights[old][new] += CROSS_WEIGHT
        for product in products:
            history[product] = order.ts_ms
        count, spend = shoppers.get(shopper, (0, 0.0))
        value = sum(line.quantity * line.unit_price for line in order.lines)
        shoppers[shopper] = (count + 1, spend + value)
    return dict(purchases), {p: dict(n) for p, n in weights.items()}, shoppers


def get_json(url: str) -> tuple[int, Any]:
    """GET a JSON endpoint: (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read() or b"null")


def send_replay(deployment: Deployment, log: OrderLog) -> int:
    """Produce the replay's events to the deployment's topics; return how many."""
    records = [
        (deployment.topic(logical), key.encode() if key else None, orjson.dumps(event))
        for logical, key, event in replay_events(log, carts=False)
    ]
    asyncio.run(produce_records(deployment.bootstrap, records))
    return len(records)


def product_mismatches(
    worker: WorkerProcess, purchases: dict[str, float], weights: dict[str, dict[str, float]]
) -> list[str]:
    """Products whose served state differs from the offline one (empty when all equal)."""
    wrong = []
    for product, expected in purchases.items():
        status, body = get_json(f"{worker.base_url}/state/products/{product}")
        if status != 200:
            wrong.append(f"{product}: HTTP {status}")
            continue
        served = {n["product_id"]: n["weight"] for n in body["neighbours"]}
        if body["purchases"] != expected or served != weights.get(product, {}):
            wrong.append(f"{product}: purchases {body['purchases']} vs {expected}")
    return wrong


def wait_for_products(
    worker: WorkerProcess,
    purchases: dict[str, float],
    weights: dict[str, dict[str, float]],
    timeout: float = 120,
) -> list[str]:
    """Poll until every product matches or time runs out; return the last mismatches."""
    deadline = time.monotonic() + timeout
    wrong = ["not checked"]
    while time.monotonic() < deadline:
        wrong = product_mismatches(worker, purchases, weights)
        if not wrong:
            return []
        assert worker.alive(), worker.log_tail()
        time.sleep(1)
    return wrong


STATE_ENV = {
    "BASKETLIFT_DECAY_HALF_LIFE_DAYS": "0",
    "BASKETLIFT_NEIGHBOURS_K": "100000",
    "BASKETLIFT_CROSS_ORDER_WEIGHT": str(CROSS_WEIGHT),
    "BASKETLIFT_CROSS_ORDER_DAYS": str(CROSS_DAYS),
}


def test_replayed_orders_give_exactly_the_offline_counts(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(250)
    purchases, weights, shoppers = offline_state(log)
    assert any(w == CROSS_WEIGHT for n in weights.values() for w in n.values()), (
        "the slice should contain cross-order pairs"
    )
    worker = start_worker(deployment, tmp_path, **STATE_ENV)
    try:
        worker.wait_healthy()
        send_replay(deployment, log)
        wrong = wait_for_products(worker, purchases, weights)
        assert not wrong, wrong[:10]
        for shopper, (count, spend) in shoppers.items():
            status, body = get_json(f"{worker.base_url}/state/shoppers/{shopper}")
            assert status == 200, (shopper, body)
            assert body["order_count"] == count, shopper
            # The API shows money in cents.
            assert math.isclose(body["lifetime_spend"], round(spend, 2), abs_tol=0.005), shopper
        status, _ = get_json(f"{worker.base_url}/state/shoppers/c-does-not-exist")
        assert status == 404
    finally:
        worker.stop()
