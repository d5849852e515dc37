"""Replaying real orders builds exactly the state an independent offline recomputation gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.replay_support import (
    CROSS_WEIGHT,
    STATE_ENV,
    offline_state,
    sample_slice,
    send_replay,
    shopper_mismatches,
    wait_for_products,
)
from tests.support.kafka import Deployment, start_worker

pytestmark = pytest.mark.integration


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
        wrong = shopper_mismatches(worker, shoppers)
        assert not wrong, wrong[:10]
        status, _ = worker.api_get("/state/shoppers/c-does-not-exist")
        assert status == 404
    finally:
        worker.stop()
