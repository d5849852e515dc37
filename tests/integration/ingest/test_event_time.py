"""Event-time sanity on a real broker: impossible times are dead-lettered and move no clock.

One order stamped in 2984 used to pin its products' state (and the worker's event clock) to
2984: every later order decayed to nothing and every shopper showed as lapsed. One stamped
in epoch seconds was read as 1970. Both must go to the dead-letter topic, and the state the
worker serves must hold only the real orders, as of their own time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import DeadLetter
from tests.integration.ingest.test_agents import metric_by
from tests.integration.replay_support import product_mismatches, wait_until_empty
from tests.support.kafka import Deployment, produce_records, read_topic, start_worker

pytestmark = pytest.mark.integration

YEAR_2984_MS = 31_998_758_400_000  # 2984-01-01T00:00:00Z


def order(event_id: str, shopper_id: str, ts: int, *products: str) -> dict[str, Any]:
    """An order of one unit of each product at 2.50."""
    return {
        "event_id": event_id,
        "ts": ts,
        "shopper_id": shopper_id,
        "order_id": f"ord-{event_id}",
        "currency": "GBP",
        "items": [
            {"product_id": p, "quantity": 1, "unit_price": 2.5, "category": "test"}
            for p in products
        ],
    }


def test_orders_from_2984_and_in_epoch_seconds_are_dead_lettered_and_leave_state_alone(
    deployment: Deployment, tmp_path: Path
) -> None:
    # Decay off: the served sums are exact, and an order wrongly counted shows as an
    # over-count at once instead of as a value that never arrives.
    worker = start_worker(deployment, tmp_path, BASKETLIFT_DECAY_HALF_LIFE_DAYS="0")
    try:
        worker.wait_healthy()
        tag = uuid.uuid4().hex[:8]
        a, b = f"p-{tag}-a", f"p-{tag}-b"
        now_ms = int(time.time() * 1000)
        real_ts = now_ms - 60_000  # a minute ago: within every window, never in the future
        real = [order(f"{tag}-{n}", f"s-{tag}-{n}", real_ts, a, b) for n in range(4)]
        future = order(f"{tag}-2984", f"s-{tag}-future", YEAR_2984_MS, a, b)
        seconds = order(f"{tag}-secs", f"s-{tag}-secs", real_ts // 1000, a)
        events = [real[0], real[1], future, seconds, real[2], real[3]]
        topic = deployment.topic("orders")
        placed = asyncio.run(
            produce_records(
                deployment.access,
                [(topic, e["shopper_id"].encode(), orjson.dumps(e)) for e in events],
            )
        )
        expected_letters = {
            (placed[2][1], placed[2][2]): "ts_in_future",
            (placed[3][1], placed[3][2]): "ts_implausible",
        }
        worker.wait_consumed({topic: len(events)})

        raw_letters = asyncio.run(read_topic(deployment.access, deployment.topic("deadletter"), 2))
        letters = [DeadLetter.model_validate_json(value) for _k, value, _p, _o in raw_letters]
        assert {(x.partition, x.offset): x.reason for x in letters} == expected_letters
        assert {x.source_topic for x in letters} == {topic}

        wrong = wait_until_empty(
            lambda: product_mismatches(worker, {a: 4, b: 4}, {a: {b: 4}, b: {a: 4}}), [worker]
        )
        assert wrong == [], wrong
        status, state = worker.api_get(f"/state/products/{a}")
        assert status == 200
        assert state["as_of_ts"] == real_ts

        status, shopper = worker.api_get(f"/state/shoppers/{real[0]['shopper_id']}")
        assert status == 200, shopper
        assert "lapsed" not in shopper["segments"]
        assert shopper["trailing_365d_spend"] == 5.0

        text = worker.metrics_text()
        invalid = metric_by(text, "basketlift_events_invalid_total", "topic", "reason")
        assert invalid[(topic, "ts_in_future")] == 1
        assert invalid[(topic, "ts_implausible")] == 1
        # The boundary stopped both: no shared clock had to refuse anything.
        assert sum(metric_by(text, "basketlift_event_times_refused_total", "clock").values()) == 0
        assert worker.alive()
    finally:
        worker.stop()
