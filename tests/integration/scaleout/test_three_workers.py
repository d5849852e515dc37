"""Three workers share eight partitions through Kafka's consumer group; one is killed with
SIGKILL and restarted while orders and carts stream in. The end state equals the offline
recomputation of a single worker, and every cart and order has exactly one decision.

Nothing but the consumer group coordinates the workers: each partition has one owner at a
time, and each owner's writes, co-purchase deltas and offsets commit in one transaction.
The killed worker's open transaction is aborted by the partitions' next owner, which
processes those records again; the survivors commit what they processed before each
rebalance and start every partition they keep again from there (see the exactly-once
patches in streams.kafka.faustcompat). A count applied twice or lost shows up as a state
that differs from the offline one. Decisions are published outside the transaction: the next
owner reads back those already on the offers topic and keeps them, so a trigger processed
twice still has a single distinct decision (a re-made one would differ, in its `ts` at
least).
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
from streams.tools.replay.events import catalog_events, replay_events
from tests.integration.replay_support import (
    STATE_ENV,
    metric_total,
    offline_state,
    owned_partitions,
    product_mismatches,
    sample_slice,
    send_events,
    state_mismatches,
    wait_all_serving,
)
from tests.support.kafka import Deployment, WorkerProcess, decisions_by_trigger, start_worker

pytestmark = pytest.mark.integration

DEPLOYMENT_PARTITIONS = 8
"""Read by the `deployment` fixture: every topic of the test has eight partitions."""
ORDERS = 150
"""Real sample orders; each is streamed as its final cart, then the order (two triggers)."""
PER_SECOND = 10
"""Triggers sent per second: the stream lasts about 30 s, longer than a kill, the session
timeout (10 s) and the restart together."""
KILL_AT, RESTART_AT = 1 / 3, 2 / 3
"""Shares of the stream sent when the victim is killed and when it is started again."""
WORKER_ENV = {
    **STATE_ENV,
    "BASKETLIFT_LOG_LEVEL": "info",
    "BASKETLIFT_COMMIT_INTERVAL_SECONDS": "1",
}
"""Info logs (assignments, recovery, commits) to explain a failure; commits every second, so
that the end state and decisions settle soon after the stream ends."""

Trigger = tuple[str, str | None, dict[str, Any]]


def triggers_of(orders: int) -> list[Trigger]:
    """(logical topic, key, event) per trigger: each order's final cart, then the order."""
    return [t for t in replay_events(sample_slice(orders), cart_steps=1) if t[0] != "catalog"]


async def stream_kill_restart(
    workers: list[WorkerProcess], victim: int, triggers: list[Trigger], workdir: Path
) -> WorkerProcess:
    """Send the triggers at PER_SECOND; SIGKILL workers[victim] at KILL_AT of the stream
    (holding the stream until it has made a decision, so that it dies with work done) and
    start it again, same data dir and port, at RESTART_AT. Return the restarted worker."""
    deployment = workers[0].deployment
    doomed = workers[victim]
    kill_at, restart_at = round(len(triggers) * KILL_AT), round(len(triggers) * RESTART_AT)
    restarted: WorkerProcess | None = None
    producer = make_producer(deployment.access)
    await producer.start()
    try:
        started = time.monotonic()
        for sent, (logical, key, event) in enumerate(triggers):
            if sent == kill_at:
                deadline = time.monotonic() + 120
                while (
                    metric_total(
                        await asyncio.to_thread(doomed.metrics_text), "basketlift_decisions_total"
                    )
                    < 1
                ):
                    assert time.monotonic() < deadline, "the victim made no decision\n" + (
                        doomed.log_tail()
                    )
                    await asyncio.sleep(0.5)
                os.killpg(doomed.process.pid, signal.SIGKILL)
                await asyncio.to_thread(doomed.process.wait, 60)
                with doomed.log_path.open("a") as log:
                    log.write(f"\n----- SIGKILL after {sent} triggers; restart follows -----\n")
            if sent == restart_at:
                restarted = start_worker(doomed.deployment, workdir, **WORKER_ENV)
            await producer.send(
                deployment.topic(logical), orjson.dumps(event), key=key.encode() if key else None
            )
            pause = started + (sent + 1) / PER_SECOND - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await producer.flush()
    finally:
        await producer.stop()
    assert restarted is not None
    return restarted


@pytest.mark.timeout(900)
def test_three_workers_one_killed_and_restarted_end_with_the_offline_state(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(ORDERS)
    purchases, weights, shoppers = offline_state(log)
    triggers = triggers_of(ORDERS)
    trigger_ids = {event["event_id"] for _logical, _key, event in triggers}
    assert len(trigger_ids) == len(triggers) == 2 * ORDERS

    dirs = [tmp_path / f"w{n}" for n in range(3)]
    for directory in dirs:
        directory.mkdir()
    workers = [
        start_worker(deployment if n == 0 else deployment.sibling(), dirs[n], **WORKER_ENV)
        for n in range(3)
    ]
    restarted: WorkerProcess | None = None
    try:
        wait_all_serving(workers)
        orders_topic = deployment.topic("orders")
        assert all(owned_partitions(w, orders_topic) for w in workers)
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog_events(log)])
        restarted = asyncio.run(stream_kill_restart(workers, 1, triggers, dirs[1]))
        assert workers[1].process.returncode == -signal.SIGKILL
        survivors = [workers[0], restarted, workers[2]]
        wait_all_serving(survivors)

        # A record repeating a decision (same decision_id, same content) is one decision:
        # the contract's consumers dedupe by decision_id (docs/contract.md 1.2).
        found = decisions_by_trigger(deployment, trigger_ids, timeout=240)
        missing = sorted(trigger_ids - found.keys())
        assert not missing, (len(missing), missing[:5], restarted.log_problems())
        different = {t: set(v) for t, v in found.items() if len(set(v)) > 1}
        assert not different, (len(different), list(different.items())[:2])
        assert found.keys() == trigger_ids

        # The restarted worker rejoined the group: the eight partitions are split among
        # the three, each holding some and none twice.
        owned = [owned_partitions(w, orders_topic) for w in survivors]
        assert all(owned), owned
        assert sorted(p for parts in owned for p in parts) == list(range(8)), owned

        wrong = state_mismatches(workers[0], purchases, weights, shoppers)
        assert not wrong, (wrong[:10], workers[0].log_problems())
        wrong = product_mismatches(restarted, purchases, weights)
        assert not wrong, (wrong[:10], restarted.log_problems())
    finally:
        for worker in [*workers, *([restarted] if restarted else [])]:
            worker.stop()
