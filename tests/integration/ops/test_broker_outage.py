"""A worker cut off from Kafka is not ready (/health 503 `broker_unreachable`), and is ready
again by itself once the broker is back.

The test runs its own broker (own ports and data dir) so that it can stop it; the broker the
suite shares is never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.replay_support import get_json, metric_total
from tests.support.kafka import (
    StoppableBroker,
    WorkerProcess,
    new_deployment,
    start_worker,
    stoppable_broker,
)

pytestmark = pytest.mark.integration

UNREACHABLE_SECONDS = 5
"""BASKETLIFT_BROKER_UNREACHABLE_SECONDS of the worker: below the 15 s metadata refresh, so
that only fetch responses keep an idle worker in contact."""


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[StoppableBroker]:
    """A running broker of this test's own; stopped afterwards."""
    broker = stoppable_broker(tmp_path / "kafka")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


def poll_health(worker: WorkerProcess, until: Any, timeout: float) -> tuple[int, Any]:
    """GET /health until `until(status, body)` holds or `timeout` passes; the last answer."""
    deadline = time.monotonic() + timeout
    status, body = get_json(f"{worker.base_url}/health")
    while not until(status, body) and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = get_json(f"{worker.base_url}/health")
    return status, body


def unreachable(status: int, body: Any) -> bool:
    """A 503 that names the broker."""
    return status == 503 and any(p.startswith("broker_unreachable") for p in body["problems"])


@pytest.mark.timeout(900)
def test_a_broker_outage_makes_the_worker_unready_until_the_broker_is_back(
    own_broker: StoppableBroker, tmp_path: Path
) -> None:
    deployment = new_deployment(own_broker.bootstrap)
    asyncio.run(deployment.create_topics())
    worker = start_worker(
        deployment, tmp_path, BASKETLIFT_BROKER_UNREACHABLE_SECONDS=str(UNREACHABLE_SECONDS)
    )
    try:
        worker.wait_healthy(timeout=240)
        # Idle and connected across more than a metadata refresh (15 s): never reported
        # unreachable (a rebalance right after start-up, when the group settles on the
        # internal topics, may still make it briefly unready for other reasons).
        answers = []
        watch_until = time.monotonic() + 20
        while time.monotonic() < watch_until:
            answers.append(get_json(f"{worker.base_url}/health"))
            time.sleep(0.5)
        assert [a for a in answers if unreachable(*a)] == [], worker.log_tail()
        age = metric_total(worker.metrics_text(), "basketlift_broker_last_contact_age_seconds")
        assert age < UNREACHABLE_SECONDS

        own_broker.stop()
        status, body = poll_health(worker, unreachable, timeout=UNREACHABLE_SECONDS + 60)
        assert unreachable(status, body), (status, body, worker.log_tail())
        assert body["status"] == "unavailable"
        age = metric_total(worker.metrics_text(), "basketlift_broker_last_contact_age_seconds")
        assert age > UNREACHABLE_SECONDS
        assert worker.alive(), worker.log_tail()

        own_broker.start()
        status, body = poll_health(worker, lambda s, _: s == 200, timeout=240)
        assert (status, body["problems"]) == (200, []), (body, worker.log_tail())
        age = metric_total(worker.metrics_text(), "basketlift_broker_last_contact_age_seconds")
        assert age < UNREACHABLE_SECONDS
    finally:
        worker.stop()
