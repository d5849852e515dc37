"""Shared pieces of the state integration tests: the real sample, an independent offline
recomputation of the state a replay must build, and helpers that read a worker's state.

The sample's path, producing events, reading metrics and waiting for the ranker index come
from the benchmarks' harness (``bench.harness``) and are re-exported here."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import permutations
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import SAMPLE as SAMPLE
from bench.harness import Deployment, WorkerProcess, metric_total, produce_records
from bench.harness import get_json as get_json
from bench.harness import send_events as send_events
from bench.harness import wait_all_serving as wait_all_serving
from bench.harness import wait_for_index as wait_for_index
from streams.tools.replay.events import event_key, order_event, replay_events
from streams.tools.replay.orderlog import Order, OrderLog, read_orders_file

DAY_MS = 86_400_000  # written out: the offline recomputation must not lean on the code
CROSS_WEIGHT = 0.5
CROSS_DAYS = 30

# Decay off and K large: the served state must equal the offline sums exactly.
STATE_ENV = {
    "BASKETLIFT_DECAY_HALF_LIFE_DAYS": "0",
    "BASKETLIFT_NEIGHBOURS_K": "100000",
    "BASKETLIFT_CROSS_ORDER_WEIGHT": str(CROSS_WEIGHT),
    "BASKETLIFT_CROSS_ORDER_DAYS": str(CROSS_DAYS),
}

OVER = "over-counted: "
"""Prefix of a mismatch that waiting cannot fix (a value above the offline one)."""

Purchases = dict[str, float]
Weights = dict[str, dict[str, float]]
Shoppers = dict[str, tuple[int, float]]


def sample_slice(orders: int) -> OrderLog:
    """The first `orders` orders of the shipped real sample (UCI Online Retail orders)."""
    return read_orders_file(SAMPLE).head(orders)


def probe_cart(order: Order) -> tuple[str, str, dict[str, Any]]:
    """A real order sent as its cart a minute before it: every line but the last, keyed
    like the order ("carts", key, event)."""
    event = order_event(order)
    return (
        "carts",
        event_key(order),
        {
            "event_id": f"probe-cart-{order.order_id}",
            "ts": order.ts_ms - 60_000,
            "shopper_id": event["shopper_id"],
            "session_id": event["session_id"],
            "cart_id": f"k-{order.order_id}",
            "currency": "GBP",
            "items": event["items"][:-1],
        },
    )


def offline_state(log: OrderLog) -> tuple[Purchases, Weights, Shoppers]:
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


def replay_records(
    deployment: Deployment, log: OrderLog
) -> list[tuple[str, bytes | None, bytes | None]]:
    """The replay's (topic, key, value) records for the deployment's topics, in order."""
    return [
        (deployment.topic(logical), key.encode() if key else None, orjson.dumps(event))
        for logical, key, event in replay_events(log, carts=False)
    ]


def send_replay(deployment: Deployment, log: OrderLog) -> int:
    """Produce the replay's events to the deployment's topics; return how many."""
    records = replay_records(deployment, log)
    asyncio.run(produce_records(deployment.access, records))
    return len(records)


def product_mismatches(worker: WorkerProcess, purchases: Purchases, weights: Weights) -> list[str]:
    """Products whose served state differs from the offline one (empty when all equal)."""
    wrong = []
    for product, expected in purchases.items():
        status, body = worker.api_get(f"/state/products/{product}")
        if status != 200:
            wrong.append(f"{product}: HTTP {status}")
            continue
        served = {n["product_id"]: n["weight"] for n in body["neighbours"]}
        expected_weights = weights.get(product, {})
        if body["purchases"] != expected or served != expected_weights:
            differing = {
                p: (served.get(p), expected_weights.get(p))
                for p in sorted(served.keys() | expected_weights.keys())
                if served.get(p) != expected_weights.get(p)
            }
            # Without decay or pruning every value only grows: one above the offline value
            # will never come back down.
            over = body["purchases"] > expected or any(
                s is not None and (e is None or s > e) for s, e in differing.values()
            )
            wrong.append(
                f"{OVER if over else ''}{product}: purchases {body['purchases']} "
                f"(expected {expected}), "
                f"{len(differing)} neighbours differ (served, expected): "
                f"{dict(list(differing.items())[:4])}"
            )
    return wrong


def shopper_mismatches(worker: WorkerProcess, shoppers: Shoppers) -> list[str]:
    """Shoppers whose served order count or spend differs from the offline one."""
    wrong = []
    for shopper, (count, spend) in shoppers.items():
        status, body = worker.api_get(f"/state/shoppers/{shopper}")
        if status != 200:
            wrong.append(f"{shopper}: HTTP {status} {body}")
            continue
        # The API shows money in cents.
        if body["order_count"] != count or not math.isclose(
            body["lifetime_spend"], round(spend, 2), abs_tol=0.005
        ):
            over = body["order_count"] > count
            wrong.append(
                f"{OVER if over else ''}{shopper}: order_count {body['order_count']} vs {count}, "
                f"lifetime_spend {body['lifetime_spend']} vs {round(spend, 2)}"
            )
    return wrong


def wait_until_empty(
    check: Callable[[], list[str]],
    workers: Iterable[WorkerProcess],
    timeout: float = 180,
    pause: float = 1.0,
) -> list[str]:
    """Poll `check` until it finds nothing wrong, something that cannot heal (an over-count) or
    time runs out; return the last findings (over-counts first)."""
    deadline = time.monotonic() + timeout
    wrong = ["not checked"]
    while time.monotonic() < deadline:
        wrong = check()
        if not wrong or any(w.startswith(OVER) for w in wrong):
            return sorted(wrong, key=lambda w: not w.startswith(OVER))
        for worker in workers:
            assert worker.alive(), "worker died\n" + worker.log_tail()
        time.sleep(pause)
    return wrong


def wait_for_products(
    worker: WorkerProcess, purchases: Purchases, weights: Weights, timeout: float = 180
) -> list[str]:
    """Poll until every product matches or time runs out; return the last mismatches."""
    return wait_until_empty(
        lambda: product_mismatches(worker, purchases, weights), [worker], timeout
    )


def wait_for_shoppers(worker: WorkerProcess, shoppers: Shoppers, timeout: float = 180) -> list[str]:
    """Poll until every shopper matches or time runs out; return the last mismatches."""
    return wait_until_empty(lambda: shopper_mismatches(worker, shoppers), [worker], timeout)


def wait_for_metric(
    worker: WorkerProcess, name: str, at_least: float, timeout: float = 120, **labels: str
) -> float:
    """Block until a metric reaches `at_least`; return its value."""
    deadline = time.monotonic() + timeout
    value = 0.0
    while time.monotonic() < deadline:
        value = metric_total(worker.metrics_text(), name, **labels)
        if value >= at_least:
            return value
        assert worker.alive(), "worker died\n" + worker.log_tail()
        time.sleep(0.3)
    raise AssertionError(
        f"{name}{labels} is {value}, expected at least {at_least}\n" + worker.log_tail()
    )


def summary(wrong: list[str]) -> str:
    """How many mismatches, and how many of them over-counts."""
    over = sum(w.startswith(OVER) for w in wrong)
    if not over:
        return str(len(wrong))
    return (
        f"{len(wrong)} (stopped at the first over-count, {over} over-counted; the others may"
        " still have been in progress)"
    )


def state_mismatches(
    worker: WorkerProcess,
    purchases: Purchases,
    weights: Weights,
    shoppers: Shoppers,
    timeout: float = 300,
    settle: float = 5.0,
) -> list[str]:
    """Wait until every product and shopper matches, then check once more after `settle`
    seconds (a late duplicate would show up there); return what differs (empty when equal)."""
    wrong = wait_for_products(worker, purchases, weights, timeout)
    if wrong:
        return [f"{summary(wrong)} of {len(purchases)} products differ:", *wrong]
    wrong = wait_for_shoppers(worker, shoppers, timeout)
    if wrong:
        return [f"{summary(wrong)} of {len(shoppers)} shoppers differ:", *wrong]
    time.sleep(settle)
    wrong = product_mismatches(worker, purchases, weights) + shopper_mismatches(worker, shoppers)
    return ["changed after matching:", *wrong] if wrong else []


def owned_partitions(worker: WorkerProcess, topic: str) -> set[int]:
    """Partitions of `topic` this worker consumes, from its per-partition consumer lag (Faust's
    /router views, which would tell directly, are off). A shopper's profile partition is the
    partition ingest puts their events on."""
    text = worker.metrics_text()
    return {
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "basketlift_consumer_lag" and sample.labels.get("topic") == topic
    }
