"""A simulated store on a real broker: treatment shoppers accept the first offer with a known
probability; `basketlift report` must recover the planted AOV lift within its interval, and
the holdout must never receive an offer or a nudge."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas import OfferDecision, decode_event
from streams.experiment import cohort_for
from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import (
    sample_slice,
    send_events,
    wait_for_index,
    wait_for_metric,
)
from tests.support.kafka import Deployment, read_all, start_worker

pytestmark = pytest.mark.integration

HISTORY = 400
SHOPPERS = 300
ACCEPT = 0.8
"""Probability that a treatment shopper adds the first offered product to the order."""
SALT = "sim-1"
HOLDOUT = 0.5


def decisions_for(deployment: Deployment, triggers: set[str], timeout: float = 180) -> dict:
    """The committed decisions of these trigger event ids, once all have arrived."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        records = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
        found = {}
        for _key, value, _p, _o in records:
            decision = decode_event(OfferDecision, value)
            if decision.trigger_event_id in triggers:
                found[decision.trigger_event_id] = decision
        if len(found) == len(triggers) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_report_recovers_a_planted_lift_and_the_holdout_gets_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    rng = random.Random(7)
    full = sample_slice(3001)
    history = full.head(HISTORY)
    # Small baskets (as in a consumer shop), so that one accepted offer moves AOV visibly.
    pool = [
        o
        for o in full.orders[HISTORY:]
        if len({line.product_id for line in o.lines}) >= 2 and 5 <= o.total <= 60
    ]
    assert len(pool) >= 50
    env = {
        "BASKETLIFT_HOLDOUT_FRACTION": str(HOLDOUT),
        "BASKETLIFT_HOLDOUT_SALT": SALT,
        "BASKETLIFT_INDEX_REFRESH_SECONDS": "0.5",
    }
    worker = start_worker(deployment, tmp_path, **env)
    try:
        worker.wait_healthy()
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog_events(full)])
        send_events(deployment, [("orders", event_key(o), order_event(o)) for o in history.orders])
        wait_for_metric(
            worker, "basketlift_events_total", HISTORY, topic=deployment.topic("orders")
        )
        wait_for_metric(worker, "basketlift_decisions_total", HISTORY)
        time.sleep(2)  # the product view follows the committed product table
        wait_for_index(worker, time.time())

        # Simulated shoppers, one basket each from real later orders; timed after the history.
        start_ts = max(o.ts_ms for o in history.orders) + 86_400_000
        baskets: list[dict[str, Any]] = []
        carts = []
        for n in range(SHOPPERS):
            order = rng.choice(pool)
            event = order_event(order)
            shopper = f"sim-{n}"
            ts = start_ts + n * 60_000
            basket = {
                "shopper": shopper,
                "items": event["items"],
                "ts": ts,
                "cohort": cohort_for(shopper, SALT, HOLDOUT),
            }
            baskets.append(basket)
            carts.append(
                (
                    "carts",
                    shopper,
                    {
                        "event_id": f"sim-cart-{n}",
                        "ts": ts,
                        "shopper_id": shopper,
                        "session_id": f"w-sim-{n}",
                        "cart_id": f"k-sim-{n}",
                        "currency": "GBP",
                        "items": event["items"],
                    },
                )
            )
        send_events(deployment, carts)
        cart_decisions = decisions_for(deployment, {c[2]["event_id"] for c in carts})
        assert len(cart_decisions) == SHOPPERS

        orders = []
        offer_prices: list[float] = []
        for n, basket in enumerate(baskets):
            decision = cart_decisions[f"sim-cart-{n}"]
            assert decision.cohort == basket["cohort"]
            items = list(basket["items"])
            if decision.cohort == "holdout":
                assert not decision.offers and not decision.nudges
            elif decision.offers:
                first = decision.offers[0]
                offer_prices.append(first.offer_price)
                if rng.random() < ACCEPT:
                    items.append(
                        {
                            "product_id": first.product_id,
                            "quantity": 1,
                            "unit_price": first.offer_price,
                            "offer_id": first.offer_id,
                        }
                    )
            orders.append(
                (
                    "orders",
                    basket["shopper"],
                    {
                        "event_id": f"sim-order-{n}",
                        "ts": basket["ts"] + 30_000,
                        "shopper_id": basket["shopper"],
                        "session_id": f"w-sim-{n}",
                        "order_id": f"ord-sim-{n}",
                        "currency": "GBP",
                        "shipping_fee": 0.0,
                        "items": items,
                    },
                )
            )
        send_events(deployment, orders)
        confirmations = decisions_for(deployment, {o[2]["event_id"] for o in orders})
        assert len(confirmations) == SHOPPERS
        assert all(
            not d.offers and not d.nudges for d in confirmations.values() if d.cohort == "holdout"
        )

        # The planted lift, in expectation: both cohorts draw baskets from the same pool;
        # treatment adds the first offer's price with probability ACCEPT.
        pool_mean = sum(
            sum(i["quantity"] * i["unit_price"] for i in order_event(o)["items"]) for o in pool
        ) / len(pool)
        treated = [b for b in baskets if b["cohort"] == "treatment"]
        offered_share = len(offer_prices) / len(treated)
        mean_offer = sum(offer_prices) / len(offer_prices)
        planted = ACCEPT * offered_share * mean_offer / pool_mean

        since = datetime.fromtimestamp(start_ts / 1000, tz=UTC).isoformat()
        result = subprocess.run(
            [sys.executable, "-m", "streams.cli", "report", "--json", "--since", since],
            env=deployment.env(tmp_path / "data", **env),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        cohorts = report["cohorts"]
        sim_holdout = sum(1 for b in baskets if b["cohort"] == "holdout")
        assert cohorts["holdout"]["orders"] == sim_holdout  # --since leaves the history out
        assert cohorts["treatment"]["orders"] == SHOPPERS - sim_holdout
        assert cohorts["unassigned"]["orders"] == 0
        assert report["holdout_decisions_with_offers"] == 0
        lift = report["lift"]
        assert lift is not None
        assert lift["ci_low"] <= planted <= lift["ci_high"], (planted, lift)
        assert lift["ci_low"] > 0, ("the planted lift should be detected", planted, lift)
        accepted_cart = report["placements"]["cart"]["accepted"]
        explicit = sum(1 for _t, _k, o in orders if any("offer_id" in i for i in o["items"]))
        assert accepted_cart >= explicit

        status, body = worker.api_get("/offers/sim-0")
        assert status == 200 and body["trigger_event_id"] == "sim-order-0"
    finally:
        worker.stop()
