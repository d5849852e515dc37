"""A worker whose batches hold records without processing them reports it: /live goes 503.

A 2-minute batch window (`window` handover) with room for every record keeps the orders
fetched but unprocessed, which is what a stuck agent looks like from outside: the committed
offsets stand still while records are pending. /health stays 200 (the worker is assigned
and recovered) and only the watchdog tells.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.integration.replay_support import (
    get_json,
    metric_total,
    replay_records,
    sample_slice,
)
from tests.support.kafka import Deployment, produce_records, start_worker

pytestmark = pytest.mark.integration


def test_records_held_without_progress_make_the_worker_not_live(
    deployment: Deployment, tmp_path: Path
) -> None:
    worker = start_worker(
        deployment,
        tmp_path,
        # The batch is handed over only when full or after the window (Faust's take_events):
        # it holds every record for 2 minutes, as a stuck agent would.
        BASKETLIFT_BATCH_HANDOVER="window",
        BASKETLIFT_BATCH_MAX="100000",
        BASKETLIFT_BATCH_WITHIN_SECONDS="120",
        BASKETLIFT_STALL_CHECK_SECONDS="1",
        BASKETLIFT_STALL_LIVENESS_CHECKS="3",
    )
    try:
        worker.wait_healthy(timeout=180)
        time.sleep(4)  # several checks with nothing pending
        status, body = get_json(f"{worker.base_url}/live")
        assert (status, body["status"]) == (200, "ok"), body

        orders_topic = deployment.topic("orders")
        records = replay_records(deployment, sample_slice(200))
        orders = [record for record in records if record[0] == orders_topic]
        asyncio.run(produce_records(deployment.access, orders))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body = get_json(f"{worker.base_url}/live")
            if status == 503:
                break
            time.sleep(0.5)
        assert status == 503, (body, worker.log_tail())
        assert body["status"] == "stalled"
        assert orders_topic in body["problem"]
        assert worker.health() == 200  # ready to serve: only the watchdog sees the stall
        text = worker.metrics_text()
        assert metric_total(text, "basketlift_stalled_partitions") >= 1
        assert (
            metric_total(text, "basketlift_consumer_lag", topic=deployment.topic("orders")) == 200
        )
        assert "no progress for 1s on" in worker.log_problems()
    finally:
        worker.stop()


def test_an_idle_worker_after_traffic_has_no_lag_and_is_live(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Internal topics are written in transactions: their last offsets are commit markers,
    # which are never delivered. Lag counted from the committed offset stayed at 1-4 there.
    worker = start_worker(deployment, tmp_path, BASKETLIFT_STALL_CHECK_SECONDS="3")
    try:
        worker.wait_healthy(timeout=180)
        orders_topic = deployment.topic("orders")
        records = replay_records(deployment, sample_slice(200))
        orders = [record for record in records if record[0] == orders_topic]
        asyncio.run(produce_records(deployment.access, orders))
        worker.wait_consumed({orders_topic: len(orders)})
        deadline = time.monotonic() + 60
        lagging: list[str] = ["not checked"]
        while lagging and time.monotonic() < deadline:
            time.sleep(1)
            lagging = [
                line
                for line in worker.metrics_text().splitlines()
                if line.startswith("basketlift_consumer_lag{") and not line.endswith(" 0.0")
            ]
        assert not lagging, lagging
        internal = [
            line
            for line in worker.metrics_text().splitlines()
            if line.startswith("basketlift_consumer_lag{")
            and f"{deployment.app_id}-copurchase-deltas" in line
        ]
        assert len(internal) == deployment.partitions  # the deltas topic is measured too
        time.sleep(7)  # two more checks while idle
        status, body = get_json(f"{worker.base_url}/live")
        assert (status, body["status"]) == (200, "ok"), body
        assert metric_total(worker.metrics_text(), "basketlift_stalled_partitions") == 0
    finally:
        worker.stop()
