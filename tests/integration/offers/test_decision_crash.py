"""A worker killed with SIGKILL while carts stream in: no cart ends without a decision, and
none with two different ones.

Decisions are published outside the exactly-once transaction (visible at once to a
read_committed reader), so when the worker dies, decisions of batches whose offsets were
never committed are already on the offers topic. Its successor processes those carts again
and must keep the decisions already published (same id, same content), not make new ones:
re-made decisions would differ at least in their `ts` (the time taken to decide).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.kafka.producer import make_producer
from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import STATE_ENV, metric_total, sample_slice, send_events
from tests.support.kafka import Deployment, WorkerProcess, decisions_by_trigger, start_worker

pytestmark = pytest.mark.integration

CARTS = 600
PER_SECOND = 60
KILL_AFTER_DECISIONS = 200
WORKER_ENV = {
    **STATE_ENV,
    "BASKETLIFT_LOG_LEVEL": "info",
    # A long commit interval: when the worker dies, many published decisions belong to
    # batches that were never committed.
    "BASKETLIFT_COMMIT_INTERVAL_SECONDS": "5",
}


def carts_from_sample() -> list[tuple[str, str, dict[str, Any]]]:
    """CARTS cart events from the real sample's orders (all lines but the last), unique ids."""
    log = sample_slice(CARTS)
    carts = []
    for number, order in enumerate(log.orders[:CARTS]):
        event = order_event(order)
        items = event["items"][:-1] or event["items"]
        cart = {
            "event_id": f"crash-cart-{number}",
            "ts": int(time.time() * 1000),
            "shopper_id": event["shopper_id"],
            "session_id": event["session_id"],
            "cart_id": f"k-{number}",
            "currency": "GBP",
            "items": items[:20],
        }
        carts.append(("carts", event_key(order), cart))
    return carts


async def send_and_kill(
    worker: WorkerProcess, carts: list[tuple[str, str, dict[str, Any]]], timeout: float = 180
) -> int:
    """Send the carts at PER_SECOND; SIGKILL the worker once it has made
    KILL_AFTER_DECISIONS decisions; send the rest. How many carts were sent before the kill."""
    producer = make_producer(worker.deployment.access)
    await producer.start()
    topic = worker.deployment.topic("carts")
    killed_at: int | None = None
    deadline = time.monotonic() + timeout
    try:
        started = time.monotonic()
        for sent, (_logical, key, cart) in enumerate(carts):
            if killed_at is None:
                assert time.monotonic() < deadline, "the worker made too few decisions in time"
                assert worker.alive(), "the worker died before the kill\n" + worker.log_tail()
                if sent % 20 == 0:
                    text = await asyncio.to_thread(worker.metrics_text)
                    if metric_total(text, "basketlift_decisions_total") >= KILL_AFTER_DECISIONS:
                        os.killpg(worker.process.pid, signal.SIGKILL)
                        killed_at = sent
            cart = {**cart, "ts": int(time.time() * 1000)}
            await producer.send(topic, orjson.dumps(cart), key=key.encode())
            pause = started + (sent + 1) / PER_SECOND - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await producer.flush()
    finally:
        await producer.stop()
    assert killed_at is not None, "every cart was sent before the kill"
    return killed_at


@pytest.mark.timeout(600)
def test_sigkill_while_deciding_leaves_one_decision_per_cart(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(CARTS)
    carts = carts_from_sample()
    first = start_worker(deployment, tmp_path, **WORKER_ENV)
    second: WorkerProcess | None = None
    try:
        first.wait_healthy(timeout=180)
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog_events(log)])
        killed_at = asyncio.run(send_and_kill(first, carts))
        first.process.wait(60)
        assert first.process.returncode == -signal.SIGKILL
        assert killed_at < CARTS

        with first.log_path.open("a") as worker_log:
            worker_log.write(f"\n----- SIGKILL after {killed_at} carts; restarting -----\n")
        second = start_worker(deployment, tmp_path, **WORKER_ENV)
        second.wait_healthy(timeout=300)
        found = decisions_by_trigger(deployment, [cart["event_id"] for _l, _k, cart in carts])
        recovered = metric_total(second.metrics_text(), "basketlift_decisions_recovered_total")

        missing = [cart["event_id"] for _l, _k, cart in carts if cart["event_id"] not in found]
        assert not missing, (len(missing), missing[:5], second.log_tail())
        different = {t: v for t, v in found.items() if len(set(v)) > 1}
        assert not different, (len(different), list(different.items())[:2])
        # The kill did leave published decisions of uncommitted batches behind, and the
        # successor kept them instead of deciding again.
        assert recovered > 0, second.log_tail()
        assert second.alive(), second.log_tail()
    finally:
        first.stop()
        if second is not None:
            second.stop()
