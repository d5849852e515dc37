"""SIGTERM: the worker commits its offsets and transactions and exits cleanly, and a worker
started afterwards has nothing left to reprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.tools.replay.events import catalog_events, event_key, order_event
from tests.integration.replay_support import (
    metric_total,
    sample_slice,
    send_events,
    wait_for_metric,
)
from tests.support.kafka import Deployment, read_all, start_worker

pytestmark = pytest.mark.integration

ORDERS = 60


async def committed_offsets(deployment: Deployment, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(**deployment.access.client_options())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(deployment.app_id)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def test_sigterm_commits_everything_and_a_restart_reprocesses_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    log = sample_slice(ORDERS)
    orders_topic = deployment.topic("orders")
    first = start_worker(deployment, tmp_path)
    try:
        first.wait_healthy()
        send_events(deployment, [("catalog", e["product_id"], e) for e in catalog_events(log)])
        send_events(deployment, [("orders", event_key(o), order_event(o)) for o in log.orders])
        wait_for_metric(first, "basketlift_decisions_total", ORDERS)
    finally:
        code = first.stop(timeout=60)
    text = first.log_path.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Error while stopping" not in text, text[-3000:]
    assert "Not in the middle of a transaction" not in text

    # Every consumed order's offset was committed: the group is at the end of the topic.
    records = asyncio.run(read_all(deployment.access, orders_topic))
    ends: dict[int, int] = {}
    for _key, _value, partition, offset in records:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    committed = asyncio.run(committed_offsets(deployment, orders_topic))
    for partition, end in ends.items():
        # Under exactly-once a commit marker follows the last record: committed may pass it.
        assert committed.get(partition, -1) >= end, (
            TopicPartition(orders_topic, partition),
            committed,
            ends,
        )

    decisions_before = len(asyncio.run(read_all(deployment.access, deployment.topic("offers"))))
    assert decisions_before == ORDERS
    second = start_worker(deployment, tmp_path)
    try:
        second.wait_healthy()
        assert (
            metric_total(second.metrics_text(), "basketlift_events_total", topic=orders_topic) == 0
        )
        decisions_after = asyncio.run(read_all(deployment.access, deployment.topic("offers")))
        assert len(decisions_after) == ORDERS
    finally:
        second.stop()
