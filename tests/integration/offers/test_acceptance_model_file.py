"""A worker started with BASKETLIFT_ACCEPTANCE_MODEL_FILE ranks with that model, on a real
broker: the file is read at start-up and every decision's p_accept is the model's.

The model file holds a fitted model whose weights are all 0: its p_accept is the same for
every candidate (sigmoid of its intercept, calibration the identity), a value the
hand-built model, which blends each candidate's own evidence, does not give to every offer
of 20 real carts. So the test fails when the worker ignores the file.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from schemas import OfferDecision, decode_event
from streams.offers.ranking import FEATURE_NAMES, AcceptanceModel
from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import (
    STATE_ENV,
    offline_state,
    probe_cart,
    sample_slice,
    send_events,
    wait_for_index,
    wait_for_products,
)
from tests.support.kafka import Deployment, read_all, start_worker

pytestmark = pytest.mark.integration

HISTORY = 150
"""Real orders that build the state before the probes."""
PROBES = 20
"""Later real orders with 2+ products, each sent as a cart (all but its last line)."""
MODEL_P = 0.2345
"""The model file's p_accept for every candidate."""


def constant_model_file(path: Path) -> Path:
    """A model file whose p_accept is MODEL_P for every candidate (all weights 0)."""
    n = len(FEATURE_NAMES)
    model = AcceptanceModel(
        means=(0.0,) * n,
        scales=(1.0,) * n,
        weights=(0.0,) * n,
        intercept=math.log(MODEL_P / (1 - MODEL_P)),
        price_exponent=1.0,
        version="constant-test-model",
    )
    return model.write(path)


def test_a_worker_ranks_with_the_acceptance_model_file_it_is_given(
    deployment: Deployment, tmp_path: Path
) -> None:
    full = sample_slice(HISTORY + 3 * PROBES)
    history = full.head(HISTORY)
    probes = [o for o in full.orders[HISTORY:] if len({line.product_id for line in o.lines}) >= 2]
    probes = probes[:PROBES]
    assert len(probes) == PROBES
    purchases, weights, _ = offline_state(history)
    model_file = constant_model_file(tmp_path / "model.json")

    worker = start_worker(
        deployment,
        tmp_path,
        BASKETLIFT_ACCEPTANCE_MODEL_FILE=str(model_file),
        BASKETLIFT_HOLDOUT_FRACTION="0",
        # The worker's own observed acceptance (its decisions count as showings) moves p by
        # (p x strength + accepted) / (strength + shown): held to under 1e-9 here.
        BASKETLIFT_ACCEPTANCE_PRIOR_STRENGTH="1e12",
        BASKETLIFT_INDEX_REFRESH_SECONDS="0.5",
        **STATE_ENV,
    )
    try:
        worker.wait_healthy()
        catalog = catalog_events(full)
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog])
        send_events(deployment, [("orders", event_key(o), order_event(o)) for o in history.orders])
        assert not wait_for_products(worker, purchases, weights)
        wait_for_index(worker, time.time())
        carts = [probe_cart(order) for order in probes]
        send_events(deployment, carts)
        cart_ids = {event["event_id"] for _topic, _key, event in carts}
        deadline = time.monotonic() + 120
        while True:
            records = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
            decisions = [decode_event(OfferDecision, value) for _k, value, _p, _o in records]
            probed = [d for d in decisions if d.trigger_event_id in cart_ids]
            if len(probed) == PROBES or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        worker.stop()

    assert len(probed) == PROBES
    offers = [offer for decision in probed for offer in decision.offers]
    assert len(offers) >= PROBES, "the real state gives most carts offers"
    assert {offer.p_accept for offer in offers} == {MODEL_P}, sorted(
        {offer.p_accept for offer in offers}
    )[:10]
    for offer in offers:
        assert offer.expected_revenue == pytest.approx(MODEL_P * offer.offer_price, abs=1e-6)
    assert "acceptance model: constant-test-model from" in worker.log_path.read_text()
