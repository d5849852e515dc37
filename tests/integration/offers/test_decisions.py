"""Carts and orders in, decisions out, on a real broker: one per trigger, contract-valid,
keyed like the input, and filtered (never in the cart or order, never out of stock, never
bought in the last 30 days after an order)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import OfferDecision, decode_event
from streams.experiment import cohort_for
from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import (
    STATE_ENV,
    metric_total,
    offline_state,
    probe_cart,
    sample_slice,
    send_events,
    wait_for_index,
    wait_for_products,
)
from tests.support.kafka import Deployment, read_all, start_worker

pytestmark = pytest.mark.integration

HISTORY = 250
"""Real orders that build the state before the probes."""
PROBES = 40
"""Later real orders, each sent as a cart (all but its last line) and then as the order."""
DAY_MS = 86_400_000  # written out: the expected exclusions must not lean on the code


def read_decisions(deployment: Deployment, expected: int, timeout: float = 120) -> list[Any]:
    """Every committed record of the offers topic, once at least `expected` have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        records = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        time.sleep(1)


def test_every_cart_and_order_gets_one_valid_filtered_decision(
    deployment: Deployment, tmp_path: Path
) -> None:
    full = sample_slice(HISTORY + PROBES)
    history = full.head(HISTORY)
    probes = [o for o in full.orders[HISTORY:] if len({line.product_id for line in o.lines}) >= 2]
    assert len(probes) >= 20
    purchases, weights, _ = offline_state(history)

    # The most purchased product of the history goes out of stock: the ranker would
    # otherwise offer it often (it is a strong neighbour of many carts).
    sold_out = max(purchases, key=lambda p: (purchases[p], p))
    catalog = catalog_events(full)
    for event in catalog:
        if event["product_id"] == sold_out:
            event["in_stock"] = False

    worker = start_worker(deployment, tmp_path, BASKETLIFT_INDEX_REFRESH_SECONDS="0.5", **STATE_ENV)
    try:
        worker.wait_healthy()
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog])
        send_events(deployment, [("orders", event_key(o), order_event(o)) for o in history.orders])
        assert not wait_for_products(worker, purchases, weights)
        wait_for_index(worker, time.time())

        triggers: list[tuple[str, str, dict[str, Any]]] = []
        for order in probes:
            event = order_event(order)
            triggers.append(probe_cart(order))
            triggers.append(("orders", event_key(order), event))
        send_events(deployment, triggers)

        expected = HISTORY + len(triggers)
        records = read_decisions(deployment, expected)
        decisions = [decode_event(OfferDecision, value) for _key, value, _p, _o in records]
        per_trigger = Counter(d.trigger_event_id for d in decisions)
        assert len(records) == expected, (len(records), expected)
        assert all(n == 1 for n in per_trigger.values()), per_trigger.most_common(3)
        for key, value, _partition, _offset in records:
            decision = decode_event(OfferDecision, value)
            assert key == decision.routing_key.encode()

        by_trigger = {d.trigger_event_id: d for d in decisions}
        history_products: dict[str, dict[str, int]] = defaultdict(dict)
        for order in history.orders:
            if order.shopper_id is not None:
                for line in order.lines:
                    history_products[f"c-{order.shopper_id}"][line.product_id] = order.ts_ms
        offered = holdouts = 0
        for logical, _key, event in triggers:
            decision = by_trigger[event["event_id"]]
            in_basket = {item["product_id"] for item in event["items"]}
            products = [offer.product_id for offer in decision.offers]
            offered += len(products)
            unit = event["shopper_id"] or event["session_id"]
            assert decision.cohort == cohort_for(unit, "basketlift-1", 0.1)  # the defaults
            if decision.cohort == "holdout":
                assert not decision.offers and not decision.nudges
                holdouts += 1
            assert len(products) == len(set(products)) <= 3
            assert not in_basket & set(products), (event["event_id"], products)
            assert sold_out not in products
            if logical == "carts":
                assert decision.placement == "cart"
                assert decision.cart_id == event["cart_id"]
                assert {o.kind for o in decision.offers} <= {"cross_sell"}
            else:
                assert decision.placement == "confirmation"
                assert decision.order_id == event["order_id"]
                assert {o.kind for o in decision.offers} <= {"post_purchase"}
                recent = {
                    p
                    for p, ts in history_products.get(event["shopper_id"] or "", {}).items()
                    if event["ts"] - ts <= 30 * DAY_MS
                }
                assert not recent & set(products), (event["event_id"], recent & set(products))
            for offer in decision.offers:
                assert offer.offer_id.startswith(decision.decision_id + ":")
                assert offer.expected_revenue == pytest.approx(
                    offer.p_accept * offer.offer_price, rel=1e-3, abs=1e-6
                )
                assert offer.reason
        assert offered >= len(triggers), "most probes should get offers from the real state"
        assert holdouts < len(triggers) / 2

        # The pull API serves each shopper's latest decision.
        # The newest decision by decision time (cart and order decisions of one shopper come
        # from different agents, so topic order alone does not say which is newer).
        latest: dict[str, OfferDecision] = {}
        for decision in decisions:
            shopper_id = decision.shopper_id
            if shopper_id is not None and (
                shopper_id not in latest or decision.ts >= latest[shopper_id].ts
            ):
                latest[shopper_id] = decision
        shopper = next(e["shopper_id"] for _l, _k, e in triggers if e["shopper_id"])
        status, body = worker.api_get(f"/offers/{shopper}")
        assert status == 200
        assert body == orjson.loads(latest[shopper].model_dump_json())
        status, _ = worker.api_get("/offers/c-never-seen")
        assert status == 404

        text = worker.metrics_text()
        assert metric_total(text, "basketlift_decisions_total", placement="cart") == len(probes)
        assert metric_total(
            text, "basketlift_decisions_total", placement="confirmation"
        ) == HISTORY + len(probes)
        assert metric_total(text, "basketlift_decision_latency_seconds_count") == expected
    finally:
        worker.stop()
