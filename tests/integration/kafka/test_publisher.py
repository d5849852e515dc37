"""streams.kafka.publisher and reader.read_partition_tails on a real broker: what was
published outside any transaction is acknowledged, tracked per partition, and read back."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.kafka.publisher import DirectPublisher
from streams.kafka.reader import read_partition_tails
from tests.support.kafka import Deployment

pytestmark = pytest.mark.integration


async def publish_and_read(deployment: Deployment) -> None:
    topic = deployment.topic("offers")
    publisher = DirectPublisher(deployment.access)
    before_ms = int(time.time() * 1000) - 60_000
    try:
        assert publisher.delivered_end(topic, 1) is None
        for number in range(3):
            await publisher.publish(topic, 1, b"s-1", f"d-{number}".encode())
        await publisher.delivered()
        assert publisher.pending == 0
        assert publisher.delivered_end(topic, 1) == 3
        assert publisher.delivered_end(topic, 0) is None
    finally:
        await publisher.stop()

    tails = await read_partition_tails(
        deployment.access, topic, {1: 1, 0: None}, since_ms=before_ms
    )
    assert tails == {1: [b"d-1", b"d-2"], 0: []}
    by_time = await read_partition_tails(deployment.access, topic, {1: None}, since_ms=before_ms)
    assert by_time == {1: [b"d-0", b"d-1", b"d-2"]}
    future = await read_partition_tails(
        deployment.access, topic, {1: None}, since_ms=int(time.time() * 1000) + 60_000
    )
    assert future == {1: []}, "nothing was published after a time still to come"


def test_published_records_are_acknowledged_tracked_and_read_back(deployment: Deployment) -> None:
    asyncio.run(publish_and_read(deployment))
