"""A worker killed with SIGKILL in the middle of a replay loses nothing and counts nothing twice.

Under exactly-once (the default) a batch's table writes, its co-purchase deltas and its
consumed offsets commit in one Kafka transaction; a worker killed between commits leaves an
open transaction that its successor aborts, and the successor reprocesses from the last
committed offsets. The restarted worker must then serve exactly the offline state, with its
local table stores kept or wiped (rebuilt from the changelogs alone).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.kafka.producer import make_producer
from tests.integration.replay_support import (
    STATE_ENV,
    metric_total,
    offline_state,
    replay_records,
    sample_slice,
    state_mismatches,
)
from tests.support.kafka import Deployment, WorkerProcess, produce_records, start_worker

pytestmark = pytest.mark.integration

ORDERS = 250
KILL_AT = 0.4
"""Kill once the worker has taken this share of the orders and written some product states."""
WORKER_ENV = {
    **STATE_ENV,
    "BASKETLIFT_LOG_LEVEL": "info",
    "BASKETLIFT_DECISION_LOG_LEVEL": "debug",
    "BASKETLIFT_STALL_CHECK_SECONDS": "5",
}
"""Info logs (assignments, recovery, commits) and frequent stall checks, so that a failure
here can be explained."""
HOLD_AT = 0.7
"""Stop sending at this share until product states appear (the first commit is slow)."""
AHEAD = 25
"""At most this many orders are sent beyond what the worker has taken, so it never finishes
before the kill however fast or slow the machine is, and always has work in flight."""
CHUNK, PACE = 2, 0.1
"""Orders per send, and the least time between sends: about 20 orders/s, so that the first
transactions commit (and products appear) while most orders are still to come."""


@dataclass
class KillPoint:
    """What the worker had done when it was killed."""

    orders_taken: float
    product_updates: float
    orders_sent: int


def progress(worker: WorkerProcess, orders_topic: str) -> tuple[float, float]:
    """(orders taken at the boundary, product states written) from the worker's /metrics."""
    text = worker.metrics_text()
    return (
        metric_total(text, "basketlift_events_total", topic=orders_topic),
        metric_total(text, "basketlift_product_updates_total"),
    )


async def send_orders_and_kill(
    worker: WorkerProcess,
    records: list[tuple[str, bytes | None, bytes | None]],
    orders_topic: str,
    timeout: float = 300,
) -> KillPoint:
    """Send the orders a few at a time, SIGKILL the worker mid-stream, then send the rest."""
    producer = make_producer(worker.deployment.access)
    await producer.start()
    try:
        sent = 0
        last_send = 0.0
        killed: KillPoint | None = None
        deadline = time.monotonic() + timeout
        while sent < len(records):
            if killed is None:
                assert time.monotonic() < deadline, "the worker did not take the orders in time"
                assert worker.alive(), "worker died before the kill\n" + worker.log_tail()
                taken, updates = await asyncio.to_thread(progress, worker, orders_topic)
                if taken >= KILL_AT * len(records) and updates > 0:
                    # The worker runs in its own session: kill its whole process group.
                    os.killpg(worker.process.pid, signal.SIGKILL)
                    killed = KillPoint(taken, updates, sent)
                    continue
                hold = (
                    sent - taken >= AHEAD
                    or (sent >= HOLD_AT * len(records) and updates == 0)
                    or time.monotonic() - last_send < PACE
                )
                if hold:
                    await asyncio.sleep(0.02)
                    continue
            chunk = records[sent : sent + CHUNK]
            futures = [await producer.send(topic, value, key=key) for topic, key, value in chunk]
            for future in futures:
                await future
            sent += len(chunk)
            last_send = time.monotonic()
        assert killed is not None, "every order was sent before the worker was killed"
        return killed
    finally:
        await producer.stop()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("wipe_data", [False, True], ids=["data-kept", "data-wiped"])
def test_sigkill_mid_replay_then_restart_gives_exactly_the_offline_state(
    deployment: Deployment, tmp_path: Path, wipe_data: bool
) -> None:
    log = sample_slice(ORDERS)
    purchases, weights, shoppers = offline_state(log)
    records = replay_records(deployment, log)
    orders_topic = deployment.topic("orders")
    orders = [record for record in records if record[0] == orders_topic]
    others = [record for record in records if record[0] != orders_topic]
    assert len(orders) == ORDERS

    first = start_worker(deployment, tmp_path, **WORKER_ENV)
    second: WorkerProcess | None = None
    try:
        first.wait_healthy(timeout=180)
        asyncio.run(produce_records(deployment.access, others))  # the catalog
        point = asyncio.run(send_orders_and_kill(first, orders, orders_topic))
        first.process.wait(60)
        assert first.process.returncode == -signal.SIGKILL
        # The kill really happened mid-stream: the worker had taken part of the orders (and
        # written product states), and orders were still being sent.
        assert 0.2 * ORDERS <= point.orders_taken <= 0.8 * ORDERS, point
        assert point.product_updates > 0, point
        assert point.orders_sent < ORDERS, point

        if wipe_data:
            shutil.rmtree(tmp_path / "data")
        with first.log_path.open("a") as worker_log:  # the new worker appends to the same log
            worker_log.write(f"\n----- SIGKILL at {point}; restarting -----\n")
        second = start_worker(deployment, tmp_path, **WORKER_ENV)
        second.wait_healthy(timeout=300)
        wrong = state_mismatches(second, purchases, weights, shoppers)
        assert not wrong, (point, wrong[:10], second.log_problems(), second.log_tail())
        assert second.alive(), second.log_tail()
    finally:
        first.stop()
        if second is not None:
            second.stop()
